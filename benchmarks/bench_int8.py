"""int8 post-training quantization, measured: accuracy and speed of
pyconv.quantize beside pyconv's own float32 and beside ONNX Runtime's
quantize_static on the same models with the same weights, in one run.

For LeNet-5 and the Keras MNIST CNN (benchmarks/models.py), trained here on
MNIST (the 10,000 real digits on this machine, split 8,000 to train and
2,000 to test: pyconv.datasets.mnist.load_sample) and on Fashion-MNIST
(60,000 / 10,000, when Debian's dataset-fashion-mnist is installed):
  - test accuracy of the float model, of pyconv's int8 model (calibrated on
    1,000 training images, min/max), and of ONNX Runtime's static int8 model
    (QDQ, per-channel int8 weights, uint8 activations, the same 1,000 images,
    min/max), and the drops in points;
  - batch-1 and batch-256 inference times, float and int8, pyconv and ONNX
    Runtime, interleaved (timing.compare), medians, with ratios;
  - with PYCONV_LITERT_PYTHON set to a Python that has tensorflow-cpu and
    ai-edge-litert (optional: see benchmarks/README.md), the same for LiteRT's
    full-integer model of the same weights (litert_int8.py, in that Python;
    its times are its own medians, not interleaved); where that Python has
    tflite-micro too, TensorFlow Lite Micro on the same .tflite: its arena
    beside pyconv's micro runtime's, and its batch-1 time on this CPU;
  - with PYCONV_NCNN_PYTHON set to a Python that has ncnn and pnnx, and
    PYCONV_NCNN_TOOLS to a folder with ncnn's ncnn2table and ncnn2int8
    (optional: see benchmarks/README.md), the same for ncnn's int8 model of
    the ONNX file ONNX Runtime runs (ncnn_int8.py, in that Python; its own
    medians too).

    python benchmarks/bench_int8.py [--quick] [--threads 2]
"""

import argparse
import json
import logging
import os
import shutil
import subprocess
import tempfile
import warnings

import numpy as np

import pyconv
import models
from bench_infer import _export
from timing import Settings, apply_threads, compare, load_ort, load_torch, ms, ort_session

CALIBRATION = 1000
GOAL_DROP = 0.3    # accuracy points
GOAL_SPEEDUP = 2.0  # int8 vs float32, pyconv


def datasets():
    (x, y), (xt, yt) = pyconv.datasets.mnist.load_sample(num_test=2000)
    yield "MNIST", x, y, xt, yt
    try:
        (x, y), (xt, yt) = pyconv.datasets.fashion_mnist.load_data()
        yield "Fashion-MNIST", x, y, xt, yt
    except OSError as exc:
        print(f"Fashion-MNIST skipped: {str(exc).splitlines()[0]}")


def images(x):
    return (x.astype(np.float32) / 255.0).reshape(-1, 28, 28, 1)


def train(name, x, y, epochs):
    pyconv.set_seed(0)
    model = models.pyconv_model(name)
    model.compile("adam", "sparse_categorical_crossentropy")
    model.fit(x, y, batch_size=128, epochs=epochs, verbose=0)
    return model


class Ort:
    """ONNX Runtime float and int8 sessions of a pyconv model's PyTorch twin."""

    def __init__(self, torch, ort, model, name, calibration, tmpdir, threads):
        from onnxruntime.quantization import (CalibrationDataReader, CalibrationMethod, QuantFormat,
                                              QuantType, quantize_static)
        net = models.with_softmax(torch, models.torch_model(torch, name))
        models.copy_weights(torch, model, net[0])
        net.eval()
        float_path = os.path.join(tmpdir, f"{name}.onnx")
        int8_path = os.path.join(tmpdir, f"{name}_int8.onnx")
        _export(torch, net, float_path)
        nchw = calibration.transpose(0, 3, 1, 2)

        class Reader(CalibrationDataReader):
            def __init__(self):
                self.batches = iter([{"x": nchw[i:i + 1]} for i in range(len(nchw))])

            def get_next(self):
                return next(self.batches, None)

        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            quantize_static(float_path, int8_path, Reader(), quant_format=QuantFormat.QDQ,
                            per_channel=True, activation_type=QuantType.QUInt8,
                            weight_type=QuantType.QInt8, calibrate_method=CalibrationMethod.MinMax)
        self.float = ort_session(ort, float_path, threads)
        self.int8 = ort_session(ort, int8_path, threads)

    @staticmethod
    def run(session, x):
        return session.run(None, {"x": np.ascontiguousarray(x.transpose(0, 3, 1, 2))})[0]


def save_for_litert(folder, name, model, calibration, xt):
    """What litert_int8.py needs to rebuild and convert the model."""
    os.makedirs(folder, exist_ok=True)
    weights = model.get_weights()
    np.savez(os.path.join(folder, f"{name}.npz"), name=name, count=len(weights),
             calibration=calibration, test=xt, **{f"w{i}": w for i, w in enumerate(weights)})


def run_script(what, python, script, *args):
    """{model name: results} from one of the scripts that run another runtime
    in its own Python (a JSON line per model), or {} and a note."""
    script = os.path.join(os.path.dirname(os.path.abspath(__file__)), script)
    result = subprocess.run([python, script, *map(str, args)], capture_output=True, text=True)
    if result.returncode != 0:
        print(f"{what} skipped: {result.stderr.strip().splitlines()[-1:]}")
        return {}
    lines = [line for line in result.stdout.splitlines() if line.startswith("{")]  # TF prints too
    return {r["name"]: r for r in map(json.loads, lines)}


def run_litert(python, folder, threads):
    """{model name: LiteRT's results} from litert_int8.py."""
    return run_script("LiteRT", python, "litert_int8.py", folder, threads)


def merge(results, key, rows, data_name, yt, kept):
    """Another runtime's test accuracy (int8 and float) into the rows of
    data_name, as key_int8 and key_float; MNIST's results kept for timing."""
    for name, r in results.items():
        row = next(row for row in rows if row["data"] == data_name and row["model"] == models.NAMES[name])
        row[f"{key}_int8"] = 100.0 * float(np.mean(np.array(r["classes"]) == yt))
        row[f"{key}_float"] = 100.0 * float(np.mean(np.array(r["float_classes"]) == yt))
        if data_name == "MNIST":
            kept[name] = r


def save_for_ncnn(folder, name, tmpdir, calibration, xt):
    """What ncnn_int8.py needs: the float ONNX file ONNX Runtime runs, and the images (NCHW)."""
    os.makedirs(folder, exist_ok=True)
    shutil.copy(os.path.join(tmpdir, f"{name}.onnx"), os.path.join(folder, f"{name}.onnx"))
    np.save(os.path.join(folder, f"{name}_calibration.npy"), calibration.transpose(0, 3, 1, 2))
    np.save(os.path.join(folder, f"{name}_test.npy"), xt.transpose(0, 3, 1, 2))


def run_ncnn(python, tools, folder, threads):
    """{model name: ncnn's results} from ncnn_int8.py."""
    return run_script("ncnn", python, "ncnn_int8.py", folder, tools, threads)


def print_tflm(litert, timed, int8_b1):
    """TensorFlow Lite Micro (from litert_int8.py) beside pyconv's micro runtime."""
    rows = {name: r["tflm"] for name, r in litert.items() if r.get("tflm")}
    if not rows:
        return
    print("\nTensorFlow Lite Micro (tflite-micro's interpreter, reference kernels) on LiteRT's .tflite, "
          "beside pyconv's micro runtime")
    print(f"{'model':<16} {'TFLM arena':>10} {'pyconv arena':>12} {'TFLM b1 (ms)':>12} "
          f"{'pyconv int8 b1':>14} {'pyconv/TFLM':>11} {'TFLM = LiteRT class':>19}")
    for name, m in rows.items():
        arena = timed[name][1]._core.arena_bytes()
        print(f"{models.NAMES[name]:<16} {m['arena']:>10,} {arena:>12,} {ms(m['b1']):>12} "
              f"{ms(int8_b1[name]):>14} {int8_b1[name] / m['b1']:10.3f}x {m['agree']:>9} of {m['checked']}")
    print("(TFLM's arena holds its tensors and its interpreter's own structures; pyconv's, the largest "
          "input and output of any one op: its ops and weights are constants, and the vector kernels' "
          "padded copies of an input live outside it)")


def accuracy(predict, x, y, batch=1000):
    right = 0
    for i in range(0, len(x), batch):
        right += int(np.sum(predict(x[i:i + batch]).argmax(1) == y[i:i + batch]))
    return 100.0 * right / len(x)


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="fewer epochs and timed calls")
    parser.add_argument("--threads", type=int, default=2)
    args = parser.parse_args()
    settings = Settings.make(args.quick, args.threads)
    torch, torch_note = load_torch()
    ort, ort_note = load_ort()
    logging.getLogger().setLevel(logging.ERROR)  # quantize_static's advice on pre-processing
    apply_threads(args.threads, torch)
    print(f"pyconv {pyconv.__version__} (kernels {pyconv.kernel_isa()}), {torch_note}, {ort_note}, "
          f"{args.threads} threads\n")
    timed, int8_b1 = {}, {}
    rows = []
    litert_python = os.environ.get("PYCONV_LITERT_PYTHON")
    litert = {}
    ncnn_python, ncnn_tools = os.environ.get("PYCONV_NCNN_PYTHON"), os.environ.get("PYCONV_NCNN_TOOLS")
    ncnn = {}
    with tempfile.TemporaryDirectory() as tmpdir:
        for data_name, x, y, xt, yt in datasets():
            x, xt = images(x), images(xt)
            epochs = 1 if args.quick else (3 if len(x) < 20_000 else 2)
            for name in ("lenet5", "keras_cnn"):
                model = train(name, x, y, epochs)
                calibration = x[:CALIBRATION]
                q = pyconv.quantize(model, calibration)
                row = {"data": data_name, "model": models.NAMES[name],
                       "float": accuracy(lambda b: model.predict(b, verbose=0), xt, yt),
                       "int8": accuracy(q.predict, xt, yt)}
                onnx = None
                if torch is not None and ort is not None:
                    onnx = Ort(torch, ort, model, name, calibration, tmpdir, args.threads)
                    row["ort_float"] = accuracy(lambda b: Ort.run(onnx.float, b), xt, yt)
                    row["ort_int8"] = accuracy(lambda b: Ort.run(onnx.int8, b), xt, yt)
                rows.append(row)
                if litert_python:
                    save_for_litert(os.path.join(tmpdir, data_name), name, model, calibration, xt)
                if ncnn_python and ncnn_tools and onnx is not None:
                    save_for_ncnn(os.path.join(tmpdir, "ncnn", data_name), name, tmpdir, calibration, xt)
                if data_name == "MNIST":
                    timed[name] = (model, q, onnx, xt)
            if litert_python:
                merge(run_litert(litert_python, os.path.join(tmpdir, data_name), args.threads),
                      "litert", rows, data_name, yt, litert)
            if ncnn_python and ncnn_tools and os.path.isdir(os.path.join(tmpdir, "ncnn", data_name)):
                merge(run_ncnn(ncnn_python, ncnn_tools, os.path.join(tmpdir, "ncnn", data_name), args.threads),
                      "ncnn", rows, data_name, yt, ncnn)

        print(f"Accuracy on the test sets (%; calibration: {CALIBRATION} training images)")
        print(f"{'data':<14} {'model':<16} {'float':>7} {'int8':>7} {'drop':>6} {'goal':>6} | "
              f"{'ORT f32':>7} {'ORT int8':>8} {'drop':>6} | {'LiteRT int8':>11} {'drop':>6} | "
              f"{'ncnn f32':>8} {'ncnn int8':>9} {'drop':>6}")
        for r in rows:
            drop = r["float"] - r["int8"]
            ort_cols = (f"{r['ort_float']:7.2f} {r['ort_int8']:8.2f} {r['ort_float'] - r['ort_int8']:6.2f}"
                        if "ort_int8" in r else f"{'-':>7} {'-':>8} {'-':>6}")
            lite = (f"{r['litert_int8']:11.2f} {r['litert_float'] - r['litert_int8']:6.2f}"
                    if "litert_int8" in r else f"{'-':>11} {'-':>6}")
            nc = (f"{r['ncnn_float']:8.2f} {r['ncnn_int8']:9.2f} {r['ncnn_float'] - r['ncnn_int8']:6.2f}"
                  if "ncnn_int8" in r else f"{'-':>8} {'-':>9} {'-':>6}")
            print(f"{r['data']:<14} {r['model']:<16} {r['float']:7.2f} {r['int8']:7.2f} {drop:6.2f} "
                  f"{'PASS' if drop <= GOAL_DROP else 'MISS':>6} | {ort_cols} | {lite} | {nc}")

        print(f"\nInference time, median (ms): pyconv int8 / float and ONNX Runtime's interleaved; LiteRT's "
              f"and ncnn's from their own processes")
        print(f"{'model':<16} {'batch':>5} {'pyconv f32':>10} {'pyconv int8':>11} {'int8/f32':>8} "
              f"{'goal':>5} | {'ORT f32':>8} {'ORT int8':>8} {'pyconv int8/ORT int8':>20} | "
              f"{'LiteRT int8':>11} {'pyconv int8/LiteRT':>18} | {'ncnn int8':>9} {'pyconv int8/ncnn':>16}")
        for name, (model, q, onnx, xt) in timed.items():
            for batch in (1, 256):
                xb = np.ascontiguousarray(xt[:batch])
                cases = {"float": lambda: model.predict_on_batch(xb), "int8": lambda: q.predict(xb)}
                if onnx is not None:
                    cases["ort_float"] = lambda: Ort.run(onnx.float, xb)
                    cases["ort_int8"] = lambda: Ort.run(onnx.int8, xb)
                t = {k: v.median for k, v in compare(cases, settings).items()}
                if batch == 1:
                    int8_b1[name] = t["int8"]
                speedup = t["float"] / t["int8"]
                ort_cols = (f"{ms(t['ort_float']):>8} {ms(t['ort_int8']):>8} "
                            f"{t['int8'] / t['ort_int8']:19.2f}x" if onnx else "")
                lite = nc = ""
                if name in litert:
                    lt = litert[name][f"b{batch}"]
                    lite = f" | {ms(lt):>11} {t['int8'] / lt:17.2f}x"
                if name in ncnn:
                    lt = ncnn[name][f"b{batch}"]
                    nc = f" | {ms(lt):>9} {t['int8'] / lt:15.2f}x"
                print(f"{models.NAMES[name]:<16} {batch:>5} {ms(t['float']):>10} {ms(t['int8']):>11} "
                      f"{1 / speedup:7.2f}x {'PASS' if speedup >= GOAL_SPEEDUP else 'MISS':>5} | {ort_cols}"
                      f"{lite}{nc}")
        for name, r in litert.items():
            print(f"LiteRT {models.NAMES[name]}: {r['bytes']:,}-byte .tflite ({r['version']})")
        for name, r in ncnn.items():
            print(f"ncnn {models.NAMES[name]}: {r['bytes']:,}-byte int8 .param + .bin ({r['version']})")
        print_tflm(litert, timed, int8_b1)
        print(f"\nint8/f32 below 1/{GOAL_SPEEDUP:g} = {1 / GOAL_SPEEDUP:.2f}x meets the goal "
              f"(int8 at least {GOAL_SPEEDUP:g}x faster than pyconv's float32)")


if __name__ == "__main__":
    main()

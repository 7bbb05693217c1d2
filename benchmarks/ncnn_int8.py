"""ncnn int8 beside pyconv's: run by bench_int8.py with a Python that has
ncnn and pnnx from PyPI (optional benchmark dependencies), and ncnn's own
quantization tools, ncnn2table and ncnn2int8, built from its source (PyPI's
ncnn has no int8 tools; see benchmarks/README.md), in its own process.

    python ncnn_int8.py DIR TOOLS THREADS   # DIR/<model>.onnx etc. from bench_int8.py

Each DIR/<model>.onnx is the float model with pyconv's trained weights (the
same file ONNX Runtime runs: its PyTorch twin, exported, NCHW, softmax at
the end), beside DIR/<model>_calibration.npy (the 1,000 calibration images)
and DIR/<model>_test.npy (the test images). For each, pnnx converts the
ONNX file to an ncnn model, ncnn2table calibrates it on the same images
(ncnn's KL divergence method, per-channel int8 weights), ncnn2int8 writes
the int8 model, and the script prints one JSON line: the int8 and float
models' test classes, int8 batch-1 and batch-256 medians (ncnn runs one
image per call: a batch is a loop), and the int8 model's size.
"""

import glob
import json
import os
import subprocess
import sys
import tempfile

import numpy as np

from timing import median_seconds
import ncnn


def run(cmd):
    result = subprocess.run(cmd, capture_output=True, text=True)
    if result.returncode != 0:
        raise RuntimeError(f"{os.path.basename(cmd[0])} failed: {(result.stderr or result.stdout)[-400:]}")


def convert(folder, name, tools, threads):
    """(float param, float bin, int8 param, int8 bin) of the model in folder."""
    onnx = os.path.join(folder, f"{name}.onnx")
    pnnx = os.path.join(os.path.dirname(sys.executable), "pnnx")
    run([pnnx, onnx, "inputshape=[1,1,28,28]"])  # writes <name>.ncnn.param / .bin beside it
    param, weights = os.path.join(folder, f"{name}.ncnn.param"), os.path.join(folder, f"{name}.ncnn.bin")
    images = np.load(os.path.join(folder, f"{name}_calibration.npy"))
    with tempfile.TemporaryDirectory() as tmp:
        paths = []
        for i, image in enumerate(images):  # one (1, 28, 28) float file each, as ncnn2table reads them
            paths.append(os.path.join(tmp, f"{i}.npy"))
            np.save(paths[-1], np.ascontiguousarray(image, dtype=np.float32))
        listing = os.path.join(tmp, "list.txt")
        with open(listing, "w") as f:
            f.write("\n".join(paths) + "\n")
        table = os.path.join(folder, f"{name}.table")
        run([os.path.join(tools, "ncnn2table"), param, weights, listing, table, "shape=[28,28,1]", "type=1",
             "method=kl", f"thread={threads}"])
    param8, weights8 = os.path.join(folder, f"{name}_int8.param"), os.path.join(folder, f"{name}_int8.bin")
    run([os.path.join(tools, "ncnn2int8"), param, weights, param8, weights8, table])
    return param, weights, param8, weights8


def load(param, weights, threads):
    net = ncnn.Net()
    net.opt.num_threads = threads
    net.opt.use_int8_inference = True
    if net.load_param(param) or net.load_model(weights):
        raise RuntimeError(f"ncnn could not load {param}")
    return net


def outputs(net, x):
    """The outputs of images x (N, 1, 28, 28), one extractor call each. Each
    goes in as a 3-D Mat (one channel): a 2-D one (28, 28) gives the float
    model wrong classes (10-17% right, against 85% as 3-D)."""
    out = []
    for image in x:
        ex = net.create_extractor()
        ex.input("in0", ncnn.Mat(image))
        out.append(ex.extract("out0")[1])
    return out


def classes(net, x):
    return [int(np.argmax(np.array(y))) for y in outputs(net, x)]


def main():
    folder, tools, threads = sys.argv[1], sys.argv[2], int(sys.argv[3])
    for onnx in sorted(glob.glob(os.path.join(folder, "*.onnx"))):
        name = os.path.basename(onnx)[:-len(".onnx")]
        param, weights, param8, weights8 = convert(folder, name, tools, threads)
        test = np.ascontiguousarray(np.load(os.path.join(folder, f"{name}_test.npy")), dtype=np.float32)
        float_net, int8_net = load(param, weights, threads), load(param8, weights8, threads)
        print(json.dumps({
            "name": name,
            "classes": classes(int8_net, test),
            "float_classes": classes(float_net, test),
            "b1": median_seconds(lambda: outputs(int8_net, test[:1]), 2000),
            "b256": median_seconds(lambda: outputs(int8_net, test[:256]), 20),
            "bytes": os.path.getsize(param8) + os.path.getsize(weights8),
            "version": f"ncnn {ncnn.__version__}",
        }), flush=True)


if __name__ == "__main__":
    main()

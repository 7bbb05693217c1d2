"""The examples under examples/python, run as a user would (small settings):
each must finish and show that its model learned."""

import os
import subprocess
import sys
from pathlib import Path

import pytest

import pyconv

EXAMPLES = Path(__file__).resolve().parents[2] / "examples" / "python"


def _run(script, *args):
    env = dict(os.environ, OMP_NUM_THREADS="2")
    result = subprocess.run([sys.executable, str(EXAMPLES / script), *args], env=env,
                            capture_output=True, text=True, timeout=600)
    assert result.returncode == 0, result.stderr[-2000:]
    return result.stdout


def test_the_segmentation_example_learns_to_find_the_threes():
    out = _run("segment_waldo.py", "--epochs", "12", "--canvases", "1500", "--models", "fcn8s")
    found = float(out.split("target IoU")[1].split()[0])
    assert found > 0.2, out  # predicting nothing scores 0


def test_the_detector_example_lights_up_on_a_three(tmp_path):
    picture = tmp_path / "waldo.png"
    out = _run("waldo_detector.py", "--epochs", "3", "--out", str(picture))
    assert picture.stat().st_size > 1000
    accuracy = float(out.split("digit classifier:")[1].split()[0])
    assert accuracy > 0.95, out
    assert "heat map (22, 22)" in out
    # The hottest window is on the 3: far more of it is 3-strokes than of the canvas.
    window = float(out.split("that window is")[1].split("%")[0])
    canvas = float(out.split("the canvas as a whole")[1].split("%")[0])
    assert window > 5 * canvas, out


def test_the_classic_lenet5_learns_with_the_euclidean_loss(tmp_path):
    out = _run("lenet5_classic.py", "--epochs", "3", "--plot", str(tmp_path))
    accuracy = float(out.split("test accuracy")[1].split()[0])
    assert accuracy > 0.9, out
    assert (tmp_path / "filters.png").stat().st_size > 1000


def test_the_siamese_example_learns_with_one_shared_encoder():
    out = _run("siamese_digits.py", "--epochs", "1", "--pairs", "3000")
    assert out.count("conv2d") >= 2 and "Total params: 30,465" in out, out
    accuracy = float(out.split("accuracy")[-1].split()[0])
    assert accuracy > 0.6, out  # guessing scores 0.5


def test_the_inception_example_trains_both_heads():
    out = _run("inception_aux.py", "--epochs", "1", "--train-samples", "2000")
    keys = out.split("History keys: ")[1].splitlines()[0].split(", ")
    assert {"loss", "output_loss", "aux_output_loss"} <= set(keys)
    assert keys == sorted(keys)  # as Keras 3 orders its logs
    aux = float(out.split("auxiliary classifier: test accuracy")[1].split()[0])
    assert aux > 0.3, out  # guessing scores 0.1


def test_the_fashion_example_trains_saves_and_reloads():
    try:
        pyconv.datasets.fashion_mnist.load_data(download=False)
    except pyconv.datasets.DatasetNotFoundError as e:
        pytest.skip(f"Fashion-MNIST is not installed here: {e}")
    out = _run("classify_fashion.py", "--model", "lenet5", "--epochs", "1",
               "--train-samples", "4000")
    accuracy = float(out.split("test accuracy")[1].split()[0])
    assert accuracy > 0.6, out
    assert "the loaded model predicts the same" in out


@pytest.mark.parametrize("backend", ["dask", "ray"])
def test_distributed_inference_on_a_local_two_worker_cluster_matches_a_local_run(backend):
    pytest.importorskip({"dask": "distributed", "ray": "ray"}[backend])
    out = _run("distributed_inference.py", "--backend", backend, "--workers", "2", "--copies", "2")
    assert "2 local workers" in out
    assert "same class as a local run for 100.00% of the images" in out, out
    assert float(out.split("largest probability difference")[1].split()[0]) <= 1e-5, out


@pytest.mark.parametrize("backend", ["dask", "ray"])
def test_distributed_sweep_saves_the_best_model_and_matches_a_local_run(backend, tmp_path):
    pytest.importorskip({"dask": "distributed", "ray": "ray"}[backend])
    best = tmp_path / "best.pcv"
    out = _run("distributed_sweep.py", "--backend", backend, "--workers", "2",
               "--learning-rates", "0.001,0.003", "--filters", "4", "--out", str(best))
    assert out.count("val accuracy") == 3, out  # two runs and the local rerun
    assert "identical weights" in out, out
    assert pyconv.models.load_model(str(best)).count_params() > 0

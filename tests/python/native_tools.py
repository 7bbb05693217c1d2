"""Runs the installed `pyconv-run` on a model file, as a user would."""

import shutil
import subprocess

import numpy as np


def pyconv_run_outputs(model_path, x, tmp_path):
    """pyconv-run's outputs for the inputs x (saved as x.npy in tmp_path)."""
    tool = shutil.which("pyconv-run")
    assert tool, "pyconv-run is not on PATH; pip install . puts it there"
    np.save(tmp_path / "x.npy", x)
    result = subprocess.run([tool, str(model_path), str(tmp_path / "x.npy"), "-o",
                             str(tmp_path / "out.npy"), "--quiet"], capture_output=True,
                            text=True, timeout=60)
    assert result.returncode == 0, result.stderr
    return np.load(tmp_path / "out.npy")

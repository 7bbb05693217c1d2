"""The C/C++ package that ships inside the Python package (wheel or editable)."""

import os
import subprocess
import sys

import pyconv


def test_get_include_has_the_c_header():
    assert os.path.isfile(os.path.join(pyconv.get_include(), "pyconv", "pyconv.h"))


def test_get_cmake_dir_has_the_config():
    d = pyconv.get_cmake_dir()
    assert os.path.isfile(os.path.join(d, "pyconvConfig.cmake"))
    assert os.path.isfile(os.path.join(d, "pyconvConfigVersion.cmake"))


def test_main_prints_the_paths():
    def run(flag):
        out = subprocess.run([sys.executable, "-m", "pyconv", flag], check=True,
                             capture_output=True, text=True, timeout=120)
        return out.stdout.strip()

    assert run("--cmake-dir") == pyconv.get_cmake_dir()
    assert run("--include-dir") == pyconv.get_include()
    assert run("--version") == pyconv.__version__


def test_main_help_names_every_command():
    out = subprocess.run([sys.executable, "-m", "pyconv", "--help"], check=True,
                         capture_output=True, text=True, timeout=120).stdout
    assert "--cmake-dir" in out and "export-c" in out and "microcontroller" in out


def test_main_without_a_flag_is_a_usage_error():
    out = subprocess.run([sys.executable, "-m", "pyconv"], capture_output=True, text=True, timeout=120)
    assert out.returncode == 2 and "usage" in out.stderr

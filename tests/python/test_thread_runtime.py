"""The thread runtime: pyconv's own pool (no OpenMP), a default thread count
that follows the CPU affinity mask and a container's CPU quota (and says so
in show_config), and forked children that get a working pool of their own."""

import os
import subprocess
import sys
import textwrap
import uuid

import numpy as np
import pytest

import pyconv
from pyconv import applications, layers
from threaded_calls import single_samples_from_threads


THREAD_VARIABLES = ("PYCONV_NUM_THREADS", "OMP_NUM_THREADS")


def python_in_child(code, preexec_fn=None, env=None, timeout=60):
    """Runs code in a fresh interpreter, with PYCONV_NUM_THREADS and
    OMP_NUM_THREADS only as `env` sets them (they would decide the default)."""
    clean = {k: v for k, v in os.environ.items() if k not in THREAD_VARIABLES}
    return subprocess.run([sys.executable, "-c", textwrap.dedent(code)], capture_output=True,
                          text=True, timeout=timeout, preexec_fn=preexec_fn,
                          env={**clean, **(env or {})})


REPORT = """
    import pyconv
    info = pyconv.show_config(print_fn=lambda line: None)
    print(pyconv.get_num_threads())
    print(info["threads_default_from"])
"""


@pytest.mark.skipif(not hasattr(os, "sched_setaffinity"), reason="needs Linux CPU affinity")
def test_default_threads_follow_the_affinity_mask():
    one_cpu = {min(os.sched_getaffinity(0))}
    result = python_in_child(REPORT, preexec_fn=lambda: os.sched_setaffinity(0, one_cpu))
    assert result.returncode == 0, result.stderr
    threads, source = result.stdout.splitlines()
    assert threads == "1"
    assert source == "CPU affinity mask (1 CPUs)"


def _read(path):
    try:
        with open(path) as f:
            return f.read()
    except OSError:
        return ""


def _writable_cpu_cgroup():
    """(a cgroup directory to create children in, "v1" or "v2") where this
    process may give a new cgroup a CPU quota (as root), else (None, None)."""
    for parent in ("/sys/fs/cgroup/cpu", "/sys/fs/cgroup/cpu,cpuacct"):
        if os.path.exists(os.path.join(parent, "cpu.cfs_quota_us")) and os.access(parent, os.W_OK):
            return parent, "v1"
    parent = "/sys/fs/cgroup"
    if "cpu" in _read(os.path.join(parent, "cgroup.subtree_control")).split() \
            and os.access(parent, os.W_OK):
        return parent, "v2"
    return None, None


def test_default_threads_follow_a_cgroup_cpu_quota():
    # A container limited to one core (docker --cpus=1) must not start a
    # thread per host core: a real cgroup with a one-core quota.
    parent, kind = _writable_cpu_cgroup()
    if parent is None or len(os.sched_getaffinity(0)) < 2:
        pytest.skip("needs 2+ cores and a cgroup this process may create (root)")
    group = os.path.join(parent, f"pyconv-test-{uuid.uuid4().hex[:8]}")
    try:
        os.mkdir(group)
    except OSError as exc:
        pytest.skip(f"cannot create a cgroup here: {exc}")
    try:
        if kind == "v1":
            with open(os.path.join(group, "cpu.cfs_period_us"), "w") as f:
                f.write("100000")
            with open(os.path.join(group, "cpu.cfs_quota_us"), "w") as f:
                f.write("100000")
        else:
            with open(os.path.join(group, "cpu.max"), "w") as f:
                f.write("100000 100000")

        def enter():
            with open(os.path.join(group, "cgroup.procs"), "w") as f:
                f.write(str(os.getpid()))

        result = python_in_child(REPORT, preexec_fn=enter)
        assert result.returncode == 0, result.stderr
        threads, source = result.stdout.splitlines()
        assert threads == "1"
        assert source.startswith("cgroup CPU quota in ") and group in source
    finally:
        os.rmdir(group)


def test_show_config_says_where_the_thread_count_came_from():
    info = pyconv.show_config(print_fn=lambda line: None)
    assert info["threads_default_from"] == pyconv._core.default_threads_source()
    assert pyconv._core.usable_cores() >= 1


def _model():
    from pyconv import layers
    pyconv.set_seed(5)
    return pyconv.Sequential([pyconv.Input((28, 28, 1)), layers.Conv2D(16, 3, activation="relu"),
                              layers.MaxPooling2D(2), layers.Flatten(),
                              layers.Dense(10, activation="softmax")])


def test_two_threads_use_the_pool_and_match_one_thread():
    model = _model()
    x = np.random.default_rng(1).random((64, 28, 28, 1), dtype=np.float32)
    old = pyconv.get_num_threads()
    try:
        pyconv.set_num_threads(1)
        one = model.predict(x, verbose=0)
        pyconv.set_num_threads(2)
        two = model.predict(x, verbose=0)
    finally:
        pyconv.set_num_threads(old)
    np.testing.assert_allclose(two, one, rtol=1e-5, atol=1e-6)
    assert pyconv._core.pool_threads() >= 1


ZOO = {**applications.CLASSIFIERS, **applications.SEGMENTERS}


@pytest.mark.parametrize("name", sorted(ZOO))
def test_inference_is_bit_identical_on_any_thread_count(name):
    # Each context times its inference calls and runs them on one thread
    # where that is faster (core/team_choice.h): that is only sound because
    # no op's result depends on how many threads ran it.
    pyconv.set_seed(3)
    model = ZOO[name](input_shape=(32, 32, 3),
                           num_classes=10 if name in applications.CLASSIFIERS else 2)
    rng = np.random.default_rng(4)
    old = pyconv.get_num_threads()
    try:
        for batch in (1, 5):
            x = rng.standard_normal((batch, 32, 32, 3)).astype(np.float32)
            pyconv.set_num_threads(1)
            one = model.predict_on_batch(x)
            for threads in (2, 3):
                pyconv.set_num_threads(threads)
                np.testing.assert_array_equal(model.predict_on_batch(x), one)
    finally:
        pyconv.set_num_threads(old)


@pytest.mark.parametrize("pooling", ["AveragePooling2D", "MaxPooling2D"])
def test_one_digit_in_bands_of_rows_gives_the_bytes_of_one_thread(pooling):
    # Batch-1 inference on several threads runs LeNet-5's convolutions and
    # poolings in bands of rows, each band on a thread (core/row_bands.h):
    # the same sums in the same kernels, so the same bytes. (A max pooling
    # after a ReLU convolution runs inside it instead, and bands stop there.)
    pyconv.set_seed(5)
    pool = getattr(layers, pooling)
    model = pyconv.Sequential([
        pyconv.Input((28, 28, 1)),
        layers.Conv2D(6, 5, padding="same", activation="tanh"), pool(2),
        layers.Conv2D(16, 5, activation="relu"), layers.Activation("swish"), pool(2),
        layers.Flatten(), layers.Dense(120, activation="relu"), layers.Dense(10, activation="softmax")])
    (x, _), _ = pyconv.datasets.mnist.load_sample(num_test=1)
    digits = (x[:20, ..., None] / 255).astype(np.float32)
    old = pyconv.get_num_threads()
    try:
        pyconv.set_num_threads(1)
        one = [model.predict_on_batch(d[None]) for d in digits]
        for threads in (2, 3, 4):
            pyconv.set_num_threads(threads)
            for d, expected in zip(digits, one):
                np.testing.assert_array_equal(model.predict_on_batch(d[None]), expected)
    finally:
        pyconv.set_num_threads(old)


def test_python_threads_sharing_a_model_at_batch_1_get_its_bytes():
    # Batch-1 calls from 4 Python threads at once on one model (the GIL is
    # released): each call's bands of rows run in buffers of their own thread,
    # and a call that finds the pool busy runs its bands one after the other.
    pyconv.set_seed(6)
    model = pyconv.Sequential([
        pyconv.Input((28, 28, 1)), layers.Conv2D(6, 5, padding="same", activation="relu"),
        layers.AveragePooling2D(2), layers.Conv2D(16, 5, activation="relu"), layers.AveragePooling2D(2),
        layers.Flatten(), layers.Dense(10, activation="softmax")])
    x = np.random.default_rng(7).random((40, 28, 28, 1), dtype=np.float32)
    old = pyconv.get_num_threads()
    try:
        pyconv.set_num_threads(1)
        want = np.concatenate([model.predict_on_batch(x[i:i + 1]) for i in range(40)])
        pyconv.set_num_threads(2)
        got = single_samples_from_threads(model.predict_on_batch, x)
    finally:
        pyconv.set_num_threads(old)
    for t in range(4):
        np.testing.assert_array_equal(got[t], np.tile(want[t::4], (5, 1)))


def _busy_model(call):
    """A script's start: model m called (predict or fit) over and over by a
    daemon thread, 0.3 s in."""
    return textwrap.dedent(f"""
        import threading, time, numpy as np, pyconv
        L = pyconv.layers
        m = pyconv.Sequential([L.Input((16, 16, 1)), L.Conv2D(8, 3), L.Flatten(), L.Dense(10)])
        m.compile("adam", "mse")
        x, y = np.random.rand(256, 16, 16, 1).astype(np.float32), np.zeros((256, 10), np.float32)
        def busy():
            while True:
                m.predict(x, verbose=0) if "{call}" == "predict" else m.fit(x, y, verbose=0)
        threading.Thread(target=busy, daemon=True).start()
        time.sleep(0.3)
    """)


@pytest.mark.parametrize("call", ["predict", "fit"])
def test_a_daemon_thread_inside_a_call_does_not_stop_the_interpreter_exiting(call):
    # Python 3.11 ends such a thread with pthread_exit when it takes the GIL
    # back; unwound through pybind11's noexcept GIL guard, that aborted the
    # process (status 134, "terminate called without an active exception").
    script = _busy_model(call)
    for _ in range(3):
        result = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True,
                                timeout=120)
        assert result.returncode == 0, result.stderr[-500:]


def test_a_forked_child_may_use_threads_again():
    # The child starts on one thread (as PyTorch's do); set_num_threads there
    # counts, and the child's fresh pool runs its jobs (no hang, same results).
    result = python_in_child("""
        import os, numpy as np, pyconv
        from pyconv import layers
        pyconv.set_num_threads(2)
        model = pyconv.Sequential([pyconv.Input((28, 28, 1)), layers.Conv2D(32, 3, activation="relu"),
            layers.Flatten(), layers.Dense(10, activation="softmax")])
        x = np.random.default_rng(0).random((128, 28, 28, 1), dtype=np.float32)
        expected = model.predict(x, verbose=0)
        assert pyconv._core.pool_threads() >= 1
        pid = os.fork()
        if pid == 0:
            code = 4 if pyconv.get_num_threads() != 1 else 0
            # (show_config named the affinity mask as where that 1 came from)
            source = pyconv.show_config(print_fn=lambda line: None)["threads_default_from"]
            code = code or (0 if "forked child" in source else 6)
            pyconv.set_num_threads(2)
            out = model.predict(x, verbose=0)
            code = code or (0 if np.allclose(out, expected, atol=1e-5) else 3)
            code = code or (0 if pyconv._core.pool_threads() >= 1 else 5)
            os._exit(code)
        _, status = os.waitpid(pid, 0)
        print("child", os.waitstatus_to_exitcode(status))
    """)
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == "child 0"


@pytest.mark.parametrize("busy, child", [("predict", "fit"), ("fit", "predict")])
def test_a_child_forked_while_another_thread_is_inside_a_call_can_use_the_model(busy, child):
    # The model's weights lock or trainer flag stayed as the parent's other
    # thread had them at the fork: children hung, or were told that the model
    # "is being trained in another thread", one that does not exist there.
    result = python_in_child(_busy_model(busy) + textwrap.dedent(f"""
        import os, signal, warnings
        warnings.simplefilter("ignore", DeprecationWarning)  # (fork with threads)
        codes = []
        for _ in range(12):
            pid = os.fork()
            if pid == 0:
                signal.alarm(20)  # a hung child ends, and counts as failed
                try:
                    m.fit(x[:32], y[:32], verbose=0) if "{child}" == "fit" else m.predict(x[:1], verbose=0)
                except Exception:
                    os._exit(1)
                os._exit(0)
            codes.append(os.waitstatus_to_exitcode(os.waitpid(pid, 0)[1]))
        print("children", codes.count(0), "of", len(codes))
        os._exit(0)
    """))
    assert result.stdout.strip() == "children 12 of 12", result.stdout + result.stderr


@pytest.mark.parametrize("env, threads, source", [
    ({"PYCONV_NUM_THREADS": "3"}, "3", "PYCONV_NUM_THREADS=3"),
    ({"OMP_NUM_THREADS": "1"}, "1", "OMP_NUM_THREADS=1"),
    ({"PYCONV_NUM_THREADS": "1", "OMP_NUM_THREADS": "2"}, "1", "PYCONV_NUM_THREADS=1"),
    ({"OMP_NUM_THREADS": "not a number"}, None, "CPU affinity mask"),
    ({"OMP_NUM_THREADS": "100000"}, str(4 * pyconv._core.usable_cores()), "OMP_NUM_THREADS"),
    # A trailing space was refused where a leading one was taken; OpenMP's
    # nested list was ignored, and values not understood silently so.
    ({"PYCONV_NUM_THREADS": "1 "}, "1", "PYCONV_NUM_THREADS=1 "),
    ({"OMP_NUM_THREADS": "1,2"}, "1", "OMP_NUM_THREADS=1,2"),
    ({"PYCONV_NUM_THREADS": "-1"}, None, "CPU affinity mask"),
])
def test_environment_variables_set_the_default(env, threads, source):
    # Dask's and Ray's workers set OMP_NUM_THREADS for the libraries they host.
    result = python_in_child(REPORT, env=env)
    assert result.returncode == 0, result.stderr
    got_threads, got_source = result.stdout.splitlines()
    if threads is not None:
        assert got_threads == threads
    assert got_source.startswith(source)
    for var, value in env.items():  # one not used says it was ignored
        if not got_source.startswith(var) and not got_source.startswith("PYCONV"):
            assert f"{var}='{value}' ignored" in got_source

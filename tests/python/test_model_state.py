"""The model and its runs: many threads on one model, one trainer at a time,
frozen layers, non-finite steps refused, memory given back, a forked child.
Each test here reproduces something found by trying the library as a user."""

import os
import signal
import subprocess
import sys
import textwrap
import threading

import numpy as np
import pytest

import pyconv
from pyconv import layers


def small_cnn(seed=0, dropout=False):
    pyconv.set_seed(seed)
    stack = [pyconv.Input((12, 12, 1)),
             layers.Conv2D(16, 3, activation="relu"),
             layers.Conv2D(16, 3, activation="relu"),  # 16 -> 16 channels, 3x3: Winograd
             layers.MaxPooling2D(2),
             layers.Flatten()]
    if dropout:
        stack.append(layers.Dropout(0.3))
    stack.append(layers.Dense(10, activation="softmax"))
    model = pyconv.Sequential(stack)
    model.compile("adam", "sparse_categorical_crossentropy", metrics=["accuracy"])
    return model


def data(n, seed=1):
    rng = np.random.default_rng(seed)
    return rng.random((n, 12, 12, 1), dtype=np.float32), rng.integers(0, 10, n)


def run_python(code, timeout=60):
    """Runs code in a fresh interpreter: a crash or hang there cannot take the
    test run with it (a hung forked child is killed with its parent)."""
    with subprocess.Popen([sys.executable, "-c", textwrap.dedent(code)], text=True,
                          stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                          start_new_session=True) as proc:
        try:
            out, err = proc.communicate(timeout=timeout)
        except subprocess.TimeoutExpired:
            os.killpg(proc.pid, signal.SIGKILL)
            proc.communicate()
            raise
    return subprocess.CompletedProcess(proc.args, proc.returncode, out, err)


def test_threads_predicting_on_one_model_match_serial_results():
    # Found: 4 threads predicting different batches disagreed with serial
    # results in 482-565 of 640 outputs (activations lived on the model).
    model = small_cnn()
    batches = [data(16, seed)[0] for seed in range(4)]
    serial = [model.predict(b, batch_size=16, verbose=0) for b in batches]
    results = [[] for _ in batches]

    def work(i):
        for _ in range(20):
            results[i].append(model.predict(batches[i], batch_size=16, verbose=0))

    threads = [threading.Thread(target=work, args=(i,)) for i in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    for i, runs in enumerate(results):
        for r in runs:
            np.testing.assert_array_equal(r, serial[i])


def test_fit_in_one_thread_while_others_predict():
    # Found: SIGSEGV or "free(): invalid next size" in 8 of 8 runs. Three readers
    # predicting back to back also check that training is not starved by them.
    result = run_python("""
        import threading, numpy as np, pyconv
        from pyconv import layers
        pyconv.set_num_threads(2)
        model = pyconv.Sequential([pyconv.Input((12, 12, 1)),
            layers.Conv2D(16, 3, activation="relu"), layers.Conv2D(16, 3, activation="relu"),
            layers.MaxPooling2D(2), layers.Flatten(), layers.Dropout(0.2),
            layers.Dense(10, activation="softmax")])
        model.compile("adam", "sparse_categorical_crossentropy")
        rng = np.random.default_rng(0)
        x = rng.random((256, 12, 12, 1), dtype=np.float32); y = rng.integers(0, 10, 256)
        done = threading.Event()
        outputs = []
        def predict():
            while not done.is_set():
                outputs.append(model.predict(x[:8], verbose=0))
        readers = [threading.Thread(target=predict) for _ in range(3)]
        for t in readers: t.start()
        model.fit(x, y, batch_size=16, epochs=3, verbose=0)
        done.set()
        for t in readers: t.join()
        assert all(np.isfinite(o).all() and o.shape == (8, 10) for o in outputs)
        print("ok", len(outputs))
    """)
    assert result.returncode == 0, result.stderr
    assert result.stdout.startswith("ok")


def test_a_second_trainer_gets_a_clear_error():
    # Found: two fit calls on one model in two threads crashed with SIGSEGV.
    result = run_python("""
        import threading, numpy as np, pyconv
        from pyconv import layers
        model = pyconv.Sequential([pyconv.Input((12, 12, 1)), layers.Conv2D(8, 3),
                                   layers.Flatten(), layers.Dense(10, activation="softmax")])
        model.compile("sgd", "sparse_categorical_crossentropy")
        x = np.random.default_rng(0).random((512, 12, 12, 1), dtype=np.float32)
        y = np.arange(512) % 10
        errors = []
        def train():
            try:
                model.fit(x, y, batch_size=8, epochs=4, verbose=0)
            except RuntimeError as e:
                errors.append(str(e))
        threads = [threading.Thread(target=train) for _ in range(2)]
        for t in threads: t.start()
        for t in threads: t.join()
        print(len(errors), errors[0] if errors else "")
    """)
    assert result.returncode == 0, result.stderr
    count, _, message = result.stdout.partition(" ")
    assert count == "1", result.stdout
    assert "trained in another thread" in message


def test_set_weights_while_another_thread_trains_raises():
    model = small_cnn()
    x, y = data(64)
    started = threading.Event()

    class Signal(pyconv.callbacks.Callback):
        def on_train_batch_end(self, batch, logs=None):
            started.set()

    trainer = threading.Thread(target=model.fit, args=(x, y),
                               kwargs=dict(batch_size=4, epochs=40, verbose=0,
                                           callbacks=[Signal()]))
    trainer.start()
    started.wait()
    try:
        weights = model.get_weights()
        with pytest.raises(RuntimeError, match="another thread trains"):
            model.set_weights(weights)
        with pytest.raises(RuntimeError, match="trained in another thread"):
            model.train_on_batch(x[:4], y[:4])
        # pop and add were taken: fit went on training another architecture.
        layers_before = list(model.layers)
        with pytest.raises(RuntimeError, match="trained in another thread"):
            model.pop()
        with pytest.raises(RuntimeError, match="trained in another thread"):
            model.add(layers.Dense(2))
        assert model.layers == layers_before
    finally:
        model.stop_training = True
        trainer.join()
    model.set_weights(weights)  # allowed once training is over
    model.pop()


def test_the_trainer_itself_may_set_weights_from_a_callback():
    model = small_cnn()
    x, y = data(32)
    first = model.get_weights()

    class Restore(pyconv.callbacks.Callback):
        def on_epoch_end(self, epoch, logs=None):
            self.model.set_weights(first)

    model.fit(x, y, batch_size=8, epochs=1, verbose=0, callbacks=[Restore()])
    for a, b in zip(model.get_weights(), first):
        np.testing.assert_array_equal(a, b)


def test_forked_child_can_predict_after_threaded_training():
    # Found: after a 2-thread fit, os.fork() and predict in the child hung forever.
    result = run_python("""
        import os, numpy as np, pyconv
        from pyconv import layers
        pyconv.set_num_threads(2)
        model = pyconv.Sequential([pyconv.Input((28, 28, 1)),
            layers.Conv2D(32, 3, activation="relu"), layers.Conv2D(32, 3, activation="relu"),
            layers.Flatten(), layers.Dense(10, activation="softmax")])
        model.compile("adam", "sparse_categorical_crossentropy")
        x = np.random.default_rng(0).random((256, 28, 28, 1), dtype=np.float32)
        model.fit(x, np.arange(256) % 10, batch_size=64, epochs=1, verbose=0)
        expected = model.predict(x[:64], verbose=0)
        pid = os.fork()
        if pid == 0:
            out = model.predict(x[:64], verbose=0)
            os._exit(0 if np.allclose(out, expected, atol=1e-5) else 3)
        _, status = os.waitpid(pid, 0)
        print("child", os.waitstatus_to_exitcode(status))
    """, timeout=60)
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == "child 0"


def test_huge_inputs_raise_naming_the_layer_and_keep_the_weights():
    # Found: fit(x * 1e30, y) returned normally and left every conv weight NaN.
    model = small_cnn()
    x, y = data(32)
    before = model.get_weights()
    with pytest.raises(ValueError, match=r"(conv2d|dense)\S*.*not updated|loss is"):
        model.fit(x * 1e30, y, batch_size=32, epochs=1, verbose=0)
    for a, b in zip(model.get_weights(), before):
        np.testing.assert_array_equal(a, b)
    assert all(np.isfinite(w).all() for w in model.get_weights())


def test_a_step_that_would_overflow_the_weights_is_refused():
    pyconv.set_seed(3)
    model = pyconv.Sequential([pyconv.Input((4,)), layers.Dense(3)])
    model.compile(pyconv.optimizers.SGD(learning_rate=1e36), "mse")
    before = model.get_weights()
    x = np.full((2, 4), 1e3, np.float32)
    with pytest.raises(ValueError, match=r"dense\S*: weight 'kernel' would become NaN or infinite"):
        model.train_on_batch(x, np.ones((2, 3), np.float32))
    for a, b in zip(model.get_weights(), before):
        np.testing.assert_array_equal(a, b)
    assert model.optimizer.iterations == 0  # the optimizer's state did not move either


@pytest.mark.parametrize("batch", [1, 2, 3, 4, 8])
def test_non_finite_weights_are_refused(batch):
    # Found: NaN weights set by set_weights were hidden by ReLU (identical finite
    # predictions for every input), and a Dense layer on batches of 1-4 returned
    # -inf instead of NaN.
    pyconv.set_seed(0)
    model = pyconv.Sequential([pyconv.Input((6,)), layers.Dense(5, activation="relu"),
                               layers.Dense(3)])
    before = model.get_weights()
    for bad in (np.nan, np.inf, -np.inf):
        weights = [w.copy() for w in before]
        weights[2][1, 1] = bad
        with pytest.raises(ValueError, match=r"expected finite values for weight 0 \('kernel'\)"):
            model.set_weights(weights)
        with pytest.raises(ValueError, match="finite"):
            model.layers[1].set_weights(weights[2:])
    for a, b in zip(model.get_weights(), before):
        np.testing.assert_array_equal(a, b)
    x = np.random.default_rng(batch).random((batch, 6), dtype=np.float32)
    assert np.isfinite(model.predict(x, verbose=0)).all()


def test_dense_layer_passes_nan_on_at_every_batch_size():
    # Found: finite inputs whose first layer overflows to +inf in two units,
    # which the next layer subtracts (inf - inf = NaN): batches of 1-4 gave
    # -inf there, larger batches NaN.
    model = pyconv.Sequential([pyconv.Input((1,)), layers.Dense(2), layers.Dense(1)])
    model.set_weights([np.array([[4, 4]], np.float32), np.zeros(2, np.float32),
                       np.array([[1], [-1]], np.float32), np.zeros(1, np.float32)])
    for batch in (1, 2, 3, 4, 8):
        out = model.predict_on_batch(np.full((batch, 1), 3e38, np.float32))
        assert np.isnan(out).all(), (batch, out)


def test_frozen_layer_keeps_its_weights_and_summary_counts_it():
    # Found: trainable = False was ignored and summary() always said 0 non-trainable.
    model = small_cnn()
    frozen = model.layers[0]
    frozen.trainable = False
    kept = frozen.get_weights()
    other = model.layers[1].get_weights()
    x, y = data(64)
    model.fit(x, y, batch_size=16, epochs=2, verbose=0)
    for a, b in zip(frozen.get_weights(), kept):
        np.testing.assert_array_equal(a, b)
    assert not np.array_equal(model.layers[1].get_weights()[0], other[0])
    lines = []
    model.summary(print_fn=lines.append)
    frozen_count = sum(w.size for w in kept)
    total = model.count_params()
    assert f"Non-trainable params: {frozen_count:,}" in lines
    assert f"Trainable params: {total - frozen_count:,}" in lines
    frozen.trainable = True
    model.fit(x, y, batch_size=16, epochs=1, verbose=0)
    assert not np.array_equal(frozen.get_weights()[0], kept[0])


def test_layer_frozen_before_build_stays_frozen():
    pyconv.set_seed(0)
    dense = layers.Dense(3, trainable=False)
    model = pyconv.Sequential([pyconv.Input((4,)), dense, layers.Dense(2)])
    model.compile("sgd", "mse")
    kept = dense.get_weights()
    model.fit(np.ones((8, 4), np.float32), np.ones((8, 2), np.float32), verbose=0)
    np.testing.assert_array_equal(dense.get_weights()[0], kept[0])
    lines = []
    model.summary(print_fn=lines.append)
    assert "Non-trainable params: 15" in lines


def test_a_layer_cannot_join_a_second_model():
    # Found: a layer object used in two models returned the other model's weights.
    shared = layers.Dense(3)
    first = pyconv.Sequential([pyconv.Input((4,)), shared])
    first.build()
    weights = shared.get_weights()
    with pytest.raises(ValueError, match="already belongs to model"):
        pyconv.Sequential([pyconv.Input((4,)), shared])  # built at once, as Keras builds it
    np.testing.assert_array_equal(shared.get_weights()[0], weights[0])
    assert shared.get_weights()[0] is not None and first.get_weights()[0].shape == (4, 3)


def resident_bytes():
    with open("/proc/self/statm") as f:
        return int(f.read().split()[1]) * os.sysconf("SC_PAGE_SIZE")


def test_memory_of_a_huge_batch_is_given_back():
    # Found: one predict on 60,000 images kept about 3.7 GB for the model's lifetime.
    model = small_cnn()
    x = np.random.default_rng(0).random((60000, 12, 12, 1), dtype=np.float32)
    model.predict(x[:32], batch_size=32, verbose=0)
    before = resident_bytes()
    out = model.predict(x, batch_size=len(x), verbose=0)  # about 0.6 GB of activations
    del out
    assert resident_bytes() - before < 100 << 20
    assert model._graph.held_bytes < 64 << 20
    small = model.predict(x[:32], batch_size=32, verbose=0)  # small batches keep their buffers
    assert 0 < model._graph.held_bytes < 8 << 20
    np.testing.assert_array_equal(small, model.predict(x[:32], batch_size=32, verbose=0))


class Endless:
    """Sequence-like: __getitem__ never raises IndexError."""

    def __len__(self):
        return 4

    def __getitem__(self, i):
        return np.zeros((12, 12, 1), np.float32)


def test_sequence_like_object_is_refused_not_walked_forever():
    # Found: an object with __len__/__getitem__ passed to fit exhausted all memory.
    model = small_cnn()
    with pytest.raises(TypeError, match="must be a NumPy array"):
        model.fit(Endless(), np.zeros(4), verbose=0)
    with pytest.raises(TypeError, match="must be a NumPy array"):
        model.predict(Endless(), verbose=0)


def test_dag_gradients_are_summed_where_a_tensor_feeds_two_nodes():
    # A residual block, out = dense2(relu(h)) + h with h = dense1(x): h feeds two
    # nodes, so its gradient is the sum of both paths. One SGD step with
    # learning rate 1 moves each weight by minus its gradient.
    nodes = [({"type": "Dense", "name": "d1", "units": 4}, [-1]),
             ({"type": "Activation", "name": "act", "activation": "relu"}, [0]),
             ({"type": "Dense", "name": "d2", "units": 4}, [1]),
             ({"type": "Add", "name": "add"}, [2, 0])]
    graph = pyconv._core.Graph.dag(nodes, (3,), 7)
    graph.compile({"type": "mse"}, {"type": "sgd", "learning_rate": 1.0})
    rng = np.random.default_rng(0)
    x = rng.standard_normal((5, 3)).astype(np.float32)
    t = rng.standard_normal((5, 4)).astype(np.float32)
    (w1, b1), (w2, b2) = graph.get_weights(0), graph.get_weights(2)
    b1 += rng.standard_normal(4).astype(np.float32)  # make some relu units active, some not
    graph.set_weights(0, [w1, b1])
    h = x.astype(np.float64) @ w1 + b1
    a = np.maximum(h, 0)
    out = a @ w2 + b2 + h
    np.testing.assert_allclose(graph.predict(x), out, rtol=1e-5, atol=1e-5)
    g = 2 * (out - t) / out.size
    dh = (g @ w2.T) * (h > 0) + g
    graph.train_step(x, t)
    np.testing.assert_allclose(w2 - graph.get_weights(2)[0], a.T @ g, rtol=1e-4, atol=1e-6)
    np.testing.assert_allclose(b2 - graph.get_weights(2)[1], g.sum(0), rtol=1e-4, atol=1e-6)
    np.testing.assert_allclose(w1 - graph.get_weights(0)[0], x.T @ dh, rtol=1e-4, atol=1e-6)
    np.testing.assert_allclose(b1 - graph.get_weights(0)[1], dh.sum(0), rtol=1e-4, atol=1e-6)


def test_dag_nodes_must_be_in_topological_order():
    nodes = [({"type": "Dense", "name": "d1", "units": 4}, [1]),
             ({"type": "Dense", "name": "d2", "units": 4}, [-1])]
    with pytest.raises(ValueError, match="topological order"):
        pyconv._core.Graph.dag(nodes, (3,), 0)
    with pytest.raises(pyconv.ShapeError, match="one shape"):
        pyconv._core.Graph.dag([({"type": "Dense", "name": "d", "units": 4}, [-1]),
                                ({"type": "Add", "name": "add"}, [0, -1])], (3,), 0)


def test_a_training_step_over_256_mib_keeps_its_buffers_between_calls():
    # Found: ResNet-20's training context at batch 64 (260 MiB then) was given
    # back after every train_on_batch and allocated again: 55% slower steps.
    # Buffers are now shared within the step, so batch 256 takes it past 256 MiB.
    pyconv.set_seed(0)
    model = pyconv.applications.resnet20(input_shape=(28, 28, 1), num_classes=10)
    model.compile("sgd", "sparse_categorical_crossentropy")
    x = np.random.default_rng(0).random((256, 28, 28, 1), dtype=np.float32)
    model.train_on_batch(x, np.arange(256) % 10)
    assert model._graph.held_bytes > 256 << 20


def test_a_training_step_shares_buffers_no_later_step_reads():
    # Each node's output gradient lives only from its reader's backward to its
    # own, and an output that no backward reads (batch normalization's, which
    # the ReLU after it does not need) only until its last reader's forward:
    # of the 3 outputs per block of Dense -> BatchNormalization -> ReLU, 2
    # are kept for backward, and the gradients take about two buffers.
    layers = [pyconv.Input((256,))]
    for _ in range(8):
        layers += [pyconv.layers.Dense(256), pyconv.layers.BatchNormalization(),
                   pyconv.layers.Activation("relu")]
    model = pyconv.Sequential(layers + [pyconv.layers.Dense(10)])
    model.compile("sgd", "sparse_categorical_crossentropy")
    x = np.random.default_rng(0).random((1024, 256), dtype=np.float32)
    model.train_on_batch(x, np.arange(1024) % 10)
    one_output = 1024 * 256 * 4
    kept = 16 * one_output  # the Dense and ReLU outputs
    assert kept < model._graph.held_bytes < kept + 4 * one_output

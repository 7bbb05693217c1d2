"""Sequential end to end: learning on real MNIST digits, the Keras-style script shapes,
fit/evaluate/predict and their return values, weights and their layouts, summary,
configs, callbacks, determinism, the progress bar, and package-level helpers."""

import io
import os
import re
import subprocess
import sys

import numpy as np
import pytest

import pyconv
from pyconv import layers as L
from pyconv.callbacks import Callback, EarlyStopping, History
from pyconv.progress import ProgressBar


@pytest.fixture
def single_thread():
    """One thread for bit-exact runs; the default (all cores) restored afterwards."""
    pyconv.set_num_threads(1)
    try:
        yield
    finally:
        pyconv.set_num_threads(0)


def blobs(n=60, features=4, classes=3, seed=0):
    """Well separated Gaussian clusters: a problem any working model learns quickly."""
    rng = np.random.default_rng(seed)
    centres = rng.normal(0.0, 3.0, (classes, features))
    y = rng.integers(0, classes, n)
    x = centres[y] + rng.normal(0.0, 0.5, (n, features))
    return x.astype(np.float32), y


def small_images(n=24, size=6, channels=1, classes=3, seed=0):
    rng = np.random.default_rng(seed)
    x = rng.random((n, size, size, channels)).astype(np.float32)
    return x, rng.integers(0, classes, n)


def small_cnn(size=6, channels=1, classes=3, last="softmax"):
    return pyconv.Sequential([
        pyconv.Input((size, size, channels)),
        L.Conv2D(2, 3, activation="relu"),
        L.Flatten(),
        L.Dense(classes, activation=last),
    ])


def dense_classifier(features=4, classes=3, last="softmax"):
    return pyconv.Sequential([pyconv.Input((features,)), L.Dense(8, activation="relu"),
                              L.Dense(classes, activation=last)])


def sparse_ce(probs, y):
    return float(np.mean(-np.log(probs[np.arange(len(y)), y])))


# --- learning ----------------------------------------------------------------------------


def test_cnn_learns_mnist_sample():
    (x_train, y_train), (x_test, y_test) = pyconv.datasets.mnist.load_sample()
    assert x_train.shape[1:] == (28, 28) and len(x_test) == 2000
    x_train = pyconv.data.normalize(x_train[:3000])
    y_train = y_train[:3000]
    x_test = pyconv.data.normalize(x_test)
    pyconv.set_seed(1)
    model = pyconv.Sequential([
        pyconv.Input((28, 28, 1)),
        L.Conv2D(8, 3, activation="relu"),
        L.MaxPooling2D(),
        L.Flatten(),
        L.Dense(10, activation="softmax"),
    ])
    model.compile(pyconv.optimizers.Adam(learning_rate=0.005),
                  "sparse_categorical_crossentropy", metrics=["accuracy"])
    history = model.fit(x_train, y_train, batch_size=32, epochs=1, verbose=0)
    loss, accuracy = model.evaluate(x_test, y_test, verbose=0)
    assert accuracy > 0.85, f"held-out accuracy {accuracy} (chance is 0.1)"
    assert loss < history.history["loss"][0] < np.log(10)


def test_to_categorical_with_categorical_crossentropy():
    x, y = blobs()
    y_onehot = pyconv.utils.to_categorical(y, 3)
    assert y_onehot.shape == (60, 3) and y_onehot.dtype == np.float32
    with pytest.raises(ValueError, match="below 2\\*\\*31"):  # numpy's "negative dimensions" before
        pyconv.utils.to_categorical([1e20])
    pyconv.set_seed(0)
    model = dense_classifier()
    model.compile(pyconv.optimizers.Adam(0.05), "categorical_crossentropy", metrics=["accuracy"])
    history = model.fit(x, y_onehot, batch_size=16, epochs=10, verbose=0)
    assert history.history["loss"][-1] < history.history["loss"][0]
    assert history.history["accuracy"][-1] > 0.9
    probs = model.predict(x, verbose=0)
    loss, accuracy = model.evaluate(x, y_onehot, verbose=0)
    assert loss == pytest.approx(sparse_ce(probs, y), rel=1e-4)
    assert accuracy == pytest.approx(np.mean(probs.argmax(1) == y))


def test_loss_object_from_logits_with_linear_output():
    x, y = blobs()
    pyconv.set_seed(0)
    model = dense_classifier(last=None)
    model.compile(pyconv.optimizers.Adam(0.05),
                  pyconv.losses.SparseCategoricalCrossentropy(from_logits=True),
                  metrics=["accuracy"])
    history = model.fit(x, y, batch_size=16, epochs=10, verbose=0)
    assert history.history["accuracy"][-1] > 0.9
    logits = model.predict(x, verbose=0)  # a linear layer: logits, not probabilities
    assert not np.allclose(logits.sum(1), 1.0)
    z = logits - logits.max(1, keepdims=True)
    probs = np.exp(z) / np.exp(z).sum(1, keepdims=True)
    assert model.evaluate(x, y, verbose=0)[0] == pytest.approx(sparse_ce(probs, y), rel=1e-4)


def test_grayscale_batch_feeds_a_single_channel_model():
    x, y = small_images(size=28)
    pyconv.set_seed(0)
    model = small_cnn(size=28)
    model.compile("adam", "sparse_categorical_crossentropy")
    model.fit(x[..., 0], y, epochs=1, verbose=0)  # (N, 28, 28) for Input((28, 28, 1))
    out = model.predict(x[..., 0], verbose=0)
    assert out.shape == (24, 3)
    np.testing.assert_array_equal(out, model.predict(x, verbose=0))


def test_model_built_lazily_from_the_first_fit():
    x, y = small_images(size=7)
    model = pyconv.Sequential([L.Conv2D(2, 3), L.Flatten(), L.Dense(3, activation="softmax")])
    model.compile("sgd", "sparse_categorical_crossentropy")
    assert not model.built and model.input_shape is None
    model.fit(x[..., 0], y, epochs=1, verbose=0)  # grayscale: a channel axis is added
    assert model.built
    assert model.input_shape == (None, 7, 7, 1)
    assert model.output_shape == (None, 3)
    assert [w.shape for w in model.get_weights()] == [(3, 3, 1, 2), (2,), (50, 3), (3,)]

    dense = pyconv.Sequential([L.Dense(3)])
    dense.compile("sgd", "mse")
    dense.fit(np.ones((4, 5), np.float32), np.zeros((4, 3), np.float32), verbose=0)
    assert dense.input_shape == (None, 5)


def test_input_shape_on_the_first_layer():
    model = pyconv.Sequential([L.Dense(4, activation="relu", input_shape=(5,)), L.Dense(2)])
    assert model.input_shape == (None, 5)
    assert model.output_shape == (None, 2)
    model.compile("sgd", "mse")
    assert model.built
    assert model.predict(np.zeros((3, 5), np.float32), verbose=0).shape == (3, 2)


def test_build_with_batch_axis():
    model = pyconv.Sequential([L.Conv2D(3, 2), L.GlobalAveragePooling2D()])
    model.build((None, 5, 5, 2))
    assert model.built and model.output_shape == (None, 3)
    assert model.predict(np.zeros((2, 5, 5, 2), np.float32), verbose=0).shape == (2, 3)


# --- fit / evaluate / predict -----------------------------------------------------------


def test_fit_history_with_validation_split():
    x, y = small_images(n=20)
    pyconv.set_seed(0)
    model = small_cnn()
    model.compile("adam", "sparse_categorical_crossentropy", metrics=["accuracy"])
    history = model.fit(x, y, batch_size=8, epochs=3, validation_split=0.25, verbose=0)
    assert isinstance(history, History) and model.history is history
    assert history.epoch == [0, 1, 2]
    assert set(history.history) == {"loss", "accuracy", "val_loss", "val_accuracy"}
    assert all(len(v) == 3 for v in history.history.values())
    # Keras: the validation part is the last 25% of the data, before shuffling, and it is
    # evaluated with the weights at the end of each epoch.
    val_loss, val_acc = model.evaluate(x[15:], y[15:], verbose=0)
    assert history.history["val_loss"][-1] == pytest.approx(val_loss, rel=1e-6)
    assert history.history["val_accuracy"][-1] == pytest.approx(val_acc)


def test_fit_history_with_validation_data():
    x, y = small_images(n=20)
    x_val, y_val = small_images(n=7, seed=1)
    pyconv.set_seed(0)
    model = small_cnn()
    model.compile("adam", "sparse_categorical_crossentropy", metrics=["accuracy"])
    history = model.fit(x, y, batch_size=8, epochs=2, validation_data=(x_val, y_val),
                        verbose=0)
    assert list(history.history) == ["accuracy", "loss", "val_accuracy", "val_loss"]  # Keras 3
    assert history.history["val_loss"][-1] == pytest.approx(
        model.evaluate(x_val, y_val, verbose=0)[0], rel=1e-6)


def test_fit_without_validation_or_metrics():
    x, y = small_images(n=10)
    model = small_cnn()
    model.compile("sgd", "sparse_categorical_crossentropy")
    history = model.fit(x, y, epochs=2, verbose=0)
    assert list(history.history) == ["loss"]


def test_evaluate_return_forms():
    x, y = small_images(n=10)
    model = small_cnn()
    model.compile("sgd", "sparse_categorical_crossentropy", metrics=["accuracy"])
    result = model.evaluate(x, y, verbose=0)
    assert isinstance(result, list) and len(result) == 2
    probs = model.predict(x, verbose=0)
    assert result[0] == pytest.approx(sparse_ce(probs, y), rel=1e-5)
    assert result[1] == pytest.approx(np.mean(probs.argmax(1) == y))
    as_dict = model.evaluate(x, y, verbose=0, return_dict=True)
    assert as_dict == {"loss": pytest.approx(result[0]), "accuracy": pytest.approx(result[1])}
    # batch_size does not change the result (the mean is over samples, not batches)
    assert model.evaluate(x, y, batch_size=3, verbose=0)[0] == pytest.approx(result[0],
                                                                             rel=1e-6)

    model.compile("sgd", "sparse_categorical_crossentropy")  # no metrics: a scalar
    scalar = model.evaluate(x, y, verbose=0)
    assert isinstance(scalar, float) and scalar == pytest.approx(result[0])
    assert model.evaluate(x, y, verbose=0, return_dict=True) == {
        "loss": pytest.approx(result[0])}


def test_predict_shapes_and_softmax_rows_sum_to_one():
    x, y = small_images(n=13)
    model = small_cnn()
    model.compile("adam", "sparse_categorical_crossentropy")
    model.fit(x, y, epochs=1, verbose=0)  # trained with softmax fused into the loss
    full = model.predict(x, verbose=0)
    assert full.shape == (13, 3) and full.dtype == np.float32
    assert (full >= 0).all()
    np.testing.assert_allclose(full.sum(axis=1), 1.0, rtol=0, atol=1e-6)
    chunked = model.predict(x, batch_size=5, verbose=0)  # 5 + 5 + 3
    np.testing.assert_allclose(chunked, full, rtol=1e-6, atol=1e-7)
    np.testing.assert_allclose(model.predict_on_batch(x), full, rtol=1e-6, atol=1e-7)
    assert model.predict(x[:1], verbose=0).shape == (1, 3)


def test_predict_accepts_other_numeric_dtypes():
    model = small_cnn()
    model.compile("sgd", "sparse_categorical_crossentropy")
    x = np.random.default_rng(0).integers(0, 256, (4, 6, 6, 1)).astype(np.uint8)
    want = model.predict(x.astype(np.float32), verbose=0)
    for dtype in (np.uint8, np.float64, np.int32):
        np.testing.assert_allclose(model.predict(x.astype(dtype), verbose=0), want,
                                   rtol=1e-6)


def test_predict_on_batch_takes_every_array_form(capsys):
    # Its fast path (the graph's own checks, one call) takes only a C-contiguous
    # float32 ndarray of the input shape; every other form is converted first,
    # silently (it printed predict's progress bar).
    model = small_cnn()
    x = np.random.default_rng(1).random((3, 6, 6, 1), dtype=np.float32)
    want = model.predict_on_batch(x)

    class Sub(np.ndarray):
        pass

    readonly = x.copy()
    readonly.flags.writeable = False
    wide = np.zeros((3, 6, 6, 2), np.float32)
    wide[..., :1] = x
    for form in (x.astype(np.float64), np.asfortranarray(x), wide[..., :1], x.view(Sub),
                 readonly, x.astype(">f4"), x.tolist()):
        out = model.predict_on_batch(form)
        assert type(out) is np.ndarray and out.dtype == np.float32
        np.testing.assert_array_equal(out, want)
        np.testing.assert_array_equal(model(form), want)
    assert capsys.readouterr().out == ""
    for bad in (np.zeros((0, 6, 6, 1), np.float32), np.float32(1.0)):
        with pytest.raises(ValueError, match="at least one sample"):
            model.predict_on_batch(bad)
    with pytest.raises(ValueError, match=r"expected input of shape \(None, 6, 6, 1\)"):
        model.predict_on_batch(np.zeros((2, 6, 6, 2), np.float32))


def test_predict_before_compile():
    model = pyconv.Sequential([pyconv.Input((3,)), L.Dense(2)])
    assert model.predict(np.ones((4, 3), np.float32), verbose=0).shape == (4, 2)


def test_on_batch_methods():
    x, y = small_images(n=8)
    model = small_cnn()
    model.compile(pyconv.optimizers.SGD(0.01), "sparse_categorical_crossentropy",
                  metrics=["accuracy"])
    before = model.test_on_batch(x, y)
    assert isinstance(before, list) and len(before) == 2
    trained = model.train_on_batch(x, y)  # the loss of the forward pass, before the update
    assert trained[0] == pytest.approx(before[0], rel=1e-6)
    after = model.test_on_batch(x, y, return_dict=True)
    assert set(after) == {"loss", "accuracy"}
    assert after["loss"] < before[0]
    assert model.predict_on_batch(x).shape == (8, 3)


def test_one_step_lowers_the_loss():
    x, y = blobs(n=16)
    pyconv.set_seed(3)
    model = dense_classifier()
    model.compile(pyconv.optimizers.SGD(learning_rate=0.01), "sparse_categorical_crossentropy")
    loss_before = model.test_on_batch(x, y)
    weights_before = model.get_weights()
    assert model.train_on_batch(x, y) == pytest.approx(loss_before, rel=1e-6)
    assert model.test_on_batch(x, y) < loss_before
    assert any(not np.array_equal(a, b) for a, b in zip(weights_before, model.get_weights()))


# --- weights, summary, configs -----------------------------------------------------------


def summary_model():
    return pyconv.Sequential([
        pyconv.Input((8, 8, 1)),
        L.Conv2D(4, 3, activation="relu", name="c1"),
        L.MaxPooling2D(name="p1"),
        L.Flatten(name="f1"),
        L.Dropout(0.5, name="d1"),
        L.Dense(5, activation="softmax", name="out"),
    ], name="tiny")


def test_summary_lists_layers_shapes_and_counts():
    model = summary_model()
    lines = []
    model.summary(print_fn=lines.append)
    text = "\n".join(lines)
    assert 'Model: "tiny"' in text
    conv = 3 * 3 * 1 * 4 + 4          # 40
    dense = (3 * 3 * 4) * 5 + 5       # 185
    expected = [("c1 (Conv2D)", "(None, 6, 6, 4)", conv),
                ("p1 (MaxPooling2D)", "(None, 3, 3, 4)", 0),
                ("f1 (Flatten)", "(None, 36)", 0),
                ("d1 (Dropout)", "(None, 36)", 0),
                ("out (Dense)", "(None, 5)", dense)]
    for name, shape, count in expected:
        row = [line for line in lines if line.startswith(name)]
        assert len(row) == 1, f"no summary row for {name}:\n{text}"
        assert shape in row[0] and row[0].split()[-1] == f"{count:,}", row[0]
    assert f"Total params: {conv + dense:,}" in text
    assert f"Trainable params: {conv + dense:,}" in text
    assert model.count_params() == conv + dense


def test_summary_prints_to_stdout_by_default(capsys):
    summary_model().summary()
    assert "Total params: 225" in capsys.readouterr().out


def test_get_weights_layouts_and_round_trip():
    model = summary_model()
    weights = model.get_weights()
    assert [w.shape for w in weights] == [(3, 3, 1, 4), (4,), (36, 5), (5,)]
    assert all(w.dtype == np.float32 for w in weights)
    assert model.count_params() == sum(w.size for w in weights)
    assert model.layers[0].weights_names == ["kernel", "bias"]

    rng = np.random.default_rng(0)
    new = [rng.normal(size=w.shape).astype(np.float32) for w in weights]
    model.set_weights(new)
    for got, want in zip(model.get_weights(), new):
        np.testing.assert_array_equal(got, want)
    got = model.get_weights()
    got[0][...] = 0.0  # get_weights returns copies
    np.testing.assert_array_equal(model.get_weights()[0], new[0])

    x = rng.random((3, 8, 8, 1)).astype(np.float32)
    other = pyconv.Sequential([pyconv.Input((8, 8, 1)), L.Conv2D(4, 3, activation="relu"),
                               L.MaxPooling2D(), L.Flatten(), L.Dropout(0.5),
                               L.Dense(5, activation="softmax")])
    other.set_weights(model.get_weights())
    np.testing.assert_array_equal(other.predict(x, verbose=0), model.predict(x, verbose=0))


def test_layer_weights_follow_keras_layouts():
    """Kernels are read the Keras way: Dense (in, units), Conv2D (kh, kw, cin, filters)."""
    rng = np.random.default_rng(1)
    dense = pyconv.Sequential([pyconv.Input((3,)), L.Dense(2)])
    kernel = rng.normal(size=(3, 2)).astype(np.float32)
    bias = np.array([0.5, -1.0], np.float32)
    dense.set_weights([kernel, bias])
    x = rng.normal(size=(4, 3)).astype(np.float32)
    dense.compile("sgd", "mse")
    np.testing.assert_allclose(dense.predict(x, verbose=0), x @ kernel + bias, rtol=1e-5,
                               atol=1e-6)

    conv = pyconv.Sequential([pyconv.Input((4, 5, 3)), L.Conv2D(2, (2, 3))])
    kernel = rng.normal(size=(2, 3, 3, 2)).astype(np.float32)
    bias = np.array([0.25, -0.75], np.float32)
    conv.set_weights([kernel, bias])
    conv.compile("sgd", "mse")
    x = rng.normal(size=(2, 4, 5, 3)).astype(np.float32)
    want = np.zeros((2, 3, 3, 2))
    for i in range(3):
        for j in range(3):
            want[:, i, j, :] = np.einsum("nhwc,hwcf->nf", x[:, i:i + 2, j:j + 3, :], kernel)
    np.testing.assert_allclose(conv.predict(x, verbose=0), want + bias, rtol=1e-5, atol=1e-5)
    assert conv.layers[0].get_weights()[0].shape == (2, 3, 3, 2)


LAYER_CASES = [
    (L.Conv2D, dict(filters=3, kernel_size=(3, 2), strides=2, padding="same", activation="tanh",
                    use_bias=False, name="conv_cfg"), (7, 7, 2)),
    (L.Conv2D, dict(filters=4, kernel_size=3, dilation_rate=2, groups=2, name="conv_grp"),
     (9, 9, 2)),
    (L.Dense, dict(units=4, activation="sigmoid", name="dense_cfg", input_shape=(6,)), (6,)),
    (L.Dropout, dict(rate=0.3, seed=5, name="drop_cfg"), (6,)),
    (L.Flatten, dict(name="flat_cfg"), (3, 3, 2)),
    (L.MaxPooling2D, dict(pool_size=3, strides=1, padding="same", name="max_cfg"), (5, 5, 2)),
    (L.AveragePooling2D, dict(pool_size=(2, 3), name="avg_cfg"), (6, 6, 2)),
    (L.GlobalAveragePooling2D, dict(name="gap_cfg"), (4, 4, 3)),
    (L.Activation, dict(activation="relu", name="act_cfg"), (5,)),
    (L.ReLU, dict(name="relu_cfg"), (5,)),
    (L.Softmax, dict(name="softmax_cfg"), (5,)),
]


@pytest.mark.parametrize("cls,kwargs,input_shape", LAYER_CASES,
                         ids=[kw["name"] for _, kw, _ in LAYER_CASES])
def test_layer_config_round_trip(cls, kwargs, input_shape):
    layer = cls(**kwargs)
    config = layer.get_config()
    assert config["name"] == kwargs["name"]
    clone = cls.from_config(config)
    assert type(clone) is cls
    assert clone.get_config() == config
    batch_shape = (None,) + input_shape
    assert clone.compute_output_shape(batch_shape) == layer.compute_output_shape(batch_shape)
    assert clone.count_params(input_shape) == layer.count_params(input_shape)


def test_model_get_config_lists_layers():
    config = summary_model().get_config()
    assert config["name"] == "tiny"
    assert [c["class_name"] for c in config["layers"]] == [
        "Conv2D", "MaxPooling2D", "Flatten", "Dropout", "Dense"]
    rebuilt = pyconv.Sequential(
        [pyconv.Input((8, 8, 1))]
        + [getattr(L, c["class_name"]).from_config(c["config"]) for c in config["layers"]],
        name=config["name"])
    assert rebuilt.get_config() == config
    assert rebuilt.count_params() == 225


def test_layer_names_are_unique_and_snake_case():
    a, b = L.Conv2D(1, 1), L.Conv2D(1, 1)
    assert a.name.startswith("conv2d") and b.name.startswith("conv2d") and a.name != b.name
    assert L.MaxPooling2D().name.startswith("max_pooling2d")


# --- callbacks ---------------------------------------------------------------------------


def diverging_model(lr=1.5):
    """loss(w) = w**2 for a single weight; SGD with lr 1.5 maps w -> -2w: the loss grows
    4x per step, 1, 4, 16, ..."""
    model = pyconv.Sequential([pyconv.Input((1,)), L.Dense(1, use_bias=False)])
    model.compile(pyconv.optimizers.SGD(learning_rate=lr), "mse")
    model.set_weights([np.ones((1, 1), np.float32)])
    return model, np.ones((1, 1), np.float32), np.zeros((1, 1), np.float32)


def test_early_stopping_stops_when_the_loss_rises():
    model, x, y = diverging_model()
    stopper = EarlyStopping(monitor="loss", patience=0)
    history = model.fit(x, y, epochs=10, callbacks=[stopper], verbose=0)
    assert history.history["loss"] == pytest.approx([1.0, 4.0])
    assert stopper.stopped_epoch == 1
    assert model.stop_training
    assert model.get_weights()[0].item() == pytest.approx(4.0)  # 1 -> -2 -> 4


def test_early_stopping_restores_best_weights_on_stop():
    model, x, y = diverging_model()
    stopper = EarlyStopping(monitor="loss", patience=0, restore_best_weights=True)
    history = model.fit(x, y, epochs=10, callbacks=[stopper], verbose=0)
    assert history.history["loss"] == pytest.approx([1.0, 4.0])
    # the weights saved at the end of the best epoch (epoch 0): w = -2, not 4
    assert model.get_weights()[0].item() == pytest.approx(-2.0)


def test_early_stopping_patience_counts_epochs_without_improvement():
    model, x, y = diverging_model()
    stopper = EarlyStopping(monitor="loss", patience=2)
    history = model.fit(x, y, epochs=10, callbacks=[stopper], verbose=0)
    # epoch 0 is the best; epochs 1 and 2 do not improve: stop after epoch 2
    assert history.history["loss"] == pytest.approx([1.0, 4.0, 16.0])
    assert stopper.stopped_epoch == 2


def test_early_stopping_restores_best_weights_at_train_end():
    model, x, y = diverging_model()
    stopper = EarlyStopping(monitor="loss", patience=5, restore_best_weights=True)
    history = model.fit(x, y, epochs=3, callbacks=[stopper], verbose=0)
    assert len(history.history["loss"]) == 3  # never stopped
    assert model.get_weights()[0].item() == pytest.approx(-2.0)  # end of epoch 0


def test_early_stopping_runs_all_epochs_while_improving():
    model, x, y = diverging_model(lr=0.25)  # w -> w / 2: the loss falls
    stopper = EarlyStopping(monitor="loss", patience=0)
    history = model.fit(x, y, epochs=4, callbacks=[stopper], verbose=0)
    assert len(history.history["loss"]) == 4
    assert not model.stop_training


class Recorder(Callback):
    def __init__(self):
        super().__init__()
        self.events = []

    def on_train_begin(self, logs=None):
        self.events.append(("train_begin",))

    def on_train_end(self, logs=None):
        self.events.append(("train_end",))

    def on_epoch_begin(self, epoch, logs=None):
        self.events.append(("epoch_begin", epoch))

    def on_epoch_end(self, epoch, logs=None):
        self.events.append(("epoch_end", epoch, dict(logs)))

    def on_train_batch_begin(self, batch, logs=None):
        self.events.append(("batch_begin", batch))

    def on_train_batch_end(self, batch, logs=None):
        self.events.append(("batch_end", batch, dict(logs)))


def test_custom_callback_hooks_in_order():
    x, y = small_images(n=10)
    model = small_cnn()
    model.compile("sgd", "sparse_categorical_crossentropy", metrics=["accuracy"])
    recorder = Recorder()
    history = model.fit(x, y, batch_size=4, epochs=2, validation_split=0.2,
                        callbacks=[recorder], verbose=0)
    assert recorder.model is model
    assert recorder.params == {"epochs": 2, "steps": 2, "verbose": 0}  # 8 samples / 4
    names = [(e[0],) + tuple(e[1:2]) for e in recorder.events]
    per_epoch = lambda k: [("epoch_begin", k), ("batch_begin", 0), ("batch_end", 0),
                           ("batch_begin", 1), ("batch_end", 1), ("epoch_end", k)]
    assert names == [("train_begin",)] + per_epoch(0) + per_epoch(1) + [("train_end",)]
    epoch_logs = [e[2] for e in recorder.events if e[0] == "epoch_end"]
    assert all(set(logs) == {"loss", "accuracy", "val_loss", "val_accuracy"}
               for logs in epoch_logs)
    assert [logs["loss"] for logs in epoch_logs] == history.history["loss"]
    batch_logs = [e[2] for e in recorder.events if e[0] == "batch_end"]
    assert all(set(logs) == {"loss", "accuracy"} for logs in batch_logs)


class StopAfterEpoch(Callback):
    def on_epoch_end(self, epoch, logs=None):
        if epoch == 1:
            self.model.stop_training = True


def test_callback_sets_stop_training():
    x, y = small_images(n=8)
    model = small_cnn()
    model.compile("sgd", "sparse_categorical_crossentropy")
    history = model.fit(x, y, epochs=5, callbacks=[StopAfterEpoch()], verbose=0)
    assert history.epoch == [0, 1]
    # a later fit starts afresh
    assert len(model.fit(x, y, epochs=1, verbose=0).history["loss"]) == 1


class StopAfterBatch(Recorder):
    def on_train_batch_end(self, batch, logs=None):
        super().on_train_batch_end(batch, logs)
        if batch == 0:
            self.model.stop_training = True


def test_stop_training_from_a_batch_hook_stops_the_epoch():
    x, y = small_images(n=12)
    model = small_cnn()
    model.compile("sgd", "sparse_categorical_crossentropy")
    recorder = StopAfterBatch()
    model.fit(x, y, batch_size=4, epochs=3, callbacks=[recorder], verbose=0)
    assert [e[:2] for e in recorder.events if e[0] == "batch_end"] == [("batch_end", 0)]


def test_initial_epoch():
    x, y = small_images(n=8)
    model = small_cnn()
    model.compile("sgd", "sparse_categorical_crossentropy")
    history = model.fit(x, y, epochs=3, initial_epoch=1, verbose=0)
    assert history.epoch == [1, 2]


# --- determinism -------------------------------------------------------------------------


def _train_with_dropout(seed):
    x, y = small_images(n=40, size=8, classes=4, seed=11)
    pyconv.set_seed(seed)
    model = pyconv.Sequential([pyconv.Input((8, 8, 1)), L.Conv2D(4, 3, activation="relu"),
                               L.Dropout(0.5), L.Flatten(), L.Dense(4, activation="softmax")])
    model.compile("adam", "sparse_categorical_crossentropy")
    model.fit(x, y, batch_size=8, epochs=1, verbose=0)  # 5 shuffled batches
    return model.get_weights()


def test_same_seed_gives_bit_identical_training(single_thread):
    first, second = _train_with_dropout(7), _train_with_dropout(7)
    assert all(np.array_equal(a, b) for a, b in zip(first, second))


def test_different_seeds_give_different_weights(single_thread):
    first, other = _train_with_dropout(7), _train_with_dropout(8)
    assert any(not np.array_equal(a, b) for a, b in zip(first, other))


def test_set_seed_rejects_bad_values():
    for bad in (-1, 1.5, "7", True):
        with pytest.raises(ValueError, match="seed"):
            pyconv.set_seed(bad)


# --- progress output ---------------------------------------------------------------------


def _fit_small(verbose):
    x, y = small_images(n=10)
    model = small_cnn()
    model.compile("sgd", "sparse_categorical_crossentropy", metrics=["accuracy"])
    model.fit(x, y, batch_size=4, epochs=2, verbose=verbose)
    return model, x, y


def test_verbose_1_prints_one_bar_per_epoch_to_a_pipe(capsys):
    _fit_small(1)
    out = capsys.readouterr().out
    assert "\r" not in out and "\033[" not in out
    lines = out.splitlines()
    assert lines[0] == "Epoch 1/2" and lines[2] == "Epoch 2/2" and len(lines) == 4
    for line in (lines[1], lines[3]):  # as Keras 3 writes it, the logs by name
        assert re.match(r"3/3 \u2501{20} \d+s \d+(us|ms)/step - accuracy: \d+\.\d{4} - "
                        r"loss: \d+\.\d{4}$", line), line


def test_verbose_2_prints_one_line_per_epoch(capsys):
    _fit_small(2)
    lines = capsys.readouterr().out.splitlines()
    assert lines[0::2] == ["Epoch 1/2", "Epoch 2/2"] and len(lines) == 4
    for line in lines[1::2]:
        assert re.match(r"3/3 - \d+s - \d+(us|ms)/step - accuracy: \d+\.\d{4} - "
                        r"loss: \d+\.\d{4}$", line), line


def test_verbose_0_prints_nothing(capsys):
    model, x, y = _fit_small(0)
    model.evaluate(x, y, verbose=0)
    model.predict(x, verbose=0)
    assert capsys.readouterr().out == ""


def test_evaluate_and_predict_show_keras_progress_by_default(capsys):
    model, x, y = _fit_small(0)
    model.evaluate(x, y, batch_size=4)  # verbose="auto": a bar, as Keras 3 shows
    step = r"\d+s \d+(us|ms)/step"
    assert re.match(rf"3/3 \u2501{{20}} {step} - accuracy: \d+\.\d{{4}} - loss: \d+\.\d{{4}}$",
                    capsys.readouterr().out.strip())
    model.evaluate(x, y, batch_size=4, verbose=2)
    assert re.match(r"3/3 - \d+s - \d+(us|ms)/step - accuracy: \d+\.\d{4} - loss: \d+\.\d{4}$",
                    capsys.readouterr().out.strip())
    model.predict(x)  # one batch, the fast path: its bar too
    assert re.match(rf"1/1 \u2501{{20}} {step}$", capsys.readouterr().out.strip())
    model.predict(x, batch_size=4)
    assert re.match(rf"3/3 \u2501{{20}} {step}$", capsys.readouterr().out.strip())
    model.predict_on_batch(x)  # as in Keras, never a bar
    assert capsys.readouterr().out == ""


class FakeTerminal(io.StringIO):
    def isatty(self):
        return True


def test_progress_bar_live_mode_on_a_terminal():
    stream = FakeTerminal()
    bar = ProgressBar(4, stream=stream, interval=0.0)
    for step in range(1, 5):
        bar.update(step, {"loss": 1.0 / step})
    bar.finish({"loss": 0.25})
    out = stream.getvalue()
    assert out.count("\r") == 5 and out.endswith("\n") and out.count("\n") == 1
    bar = "\u2501" * 20  # Keras 3's bar, 20 wide
    assert "1/4 " + "\u2501" * 5 + "\u2500" * 15 + " 0s - loss: 1.0000" in out  # ETA 0s
    assert f"4/4 {bar} " in out
    assert "loss: 0.5000" in out and re.search(r"\d+(us|ms)/step - loss: 0\.2500", out)


def test_progress_bar_to_a_pipe_prints_only_the_final_line():
    stream = io.StringIO()
    bar = ProgressBar(4, stream=stream, interval=0.0)
    for step in range(1, 5):
        bar.update(step, {"loss": 1.0})
    bar.finish({"loss": 1.0})
    out = stream.getvalue()
    assert "\r" not in out and out.count("\n") == 1
    assert out.startswith("4/4 " + "\u2501" * 20 + " 0s ")


# --- package -----------------------------------------------------------------------------


def test_num_threads(single_thread):
    assert pyconv.get_num_threads() == 1
    pyconv.set_num_threads(2)
    assert pyconv.get_num_threads() == 2
    pyconv.set_num_threads(0)
    assert pyconv.get_num_threads() >= 1
    for bad in ("2", 1.0, True, None):
        with pytest.raises(TypeError, match="integer"):
            pyconv.set_num_threads(bad)


def test_show_config():
    lines = []
    info = pyconv.show_config(print_fn=lines.append)
    assert info["version"] == pyconv.__version__
    assert info["threads"] == pyconv.get_num_threads()
    assert "CPU affinity mask" in info["threads_default_from"]
    assert f"version: {pyconv.__version__}" in lines


def test_version():
    assert isinstance(pyconv.__version__, str)
    assert re.fullmatch(r"\d+\.\d+\.\d+", pyconv.__version__)
    from importlib.metadata import version
    assert version("pyconv") == pyconv.__version__


def test_import_from_another_directory(tmp_path):
    code = "import pyconv; print(pyconv.__version__, pyconv.Sequential.__name__)"
    env = {k: v for k, v in os.environ.items() if k != "PYTHONPATH"}
    result = subprocess.run([sys.executable, "-W", "error", "-c", code], cwd=tmp_path,
                            env=env, capture_output=True, text=True, timeout=60)
    assert result.returncode == 0, result.stderr
    assert result.stdout.split() == [pyconv.__version__, "Sequential"]

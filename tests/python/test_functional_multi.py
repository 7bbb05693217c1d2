"""The functional API with several inputs and outputs, per-output losses and
loss_weights, and shared layers (one layer called on two tensors)."""

import numpy as np
import pytest

import pyconv
from pyconv import layers as L
from gradcheck import check_model_grads


def _two_headed(seed=0):
    """Image + side vector in; a class (softmax) and a value (linear) out."""
    pyconv.set_seed(seed)
    image = pyconv.Input(shape=(6, 6, 1), name="image")
    side = pyconv.Input(shape=(3,), name="side")
    x = L.Flatten()(L.Conv2D(4, 3, activation="tanh")(image))
    x = L.Concatenate()([x, L.Dense(4, activation="tanh")(side)])
    label = L.Dense(3, activation="softmax", name="label")(x)
    value = L.Dense(2, name="value")(x)
    return pyconv.Model([image, side], [label, value])


def _data(n=24, seed=1):
    rng = np.random.default_rng(seed)
    return (rng.standard_normal((n, 6, 6, 1)).astype(np.float32),
            rng.standard_normal((n, 3)).astype(np.float32),
            rng.integers(0, 3, n).astype(np.float32),
            rng.standard_normal((n, 2)).astype(np.float32))


def _cross_entropy(p, labels):
    return float(np.mean(-np.log(p[np.arange(len(labels)), labels.astype(int)])))


def test_two_inputs_two_outputs_losses_are_weighted_and_logged_per_output():
    model = _two_headed()
    model.compile("sgd", loss=["sparse_categorical_crossentropy", "mse"],
                  loss_weights=[0.5, 2.0], metrics=[["accuracy"], []])
    image, side, labels, values = _data()
    probs, pred = model.predict([image, side])
    assert probs.shape == (24, 3) and pred.shape == (24, 2)
    ce, mse = _cross_entropy(probs, labels), float(np.mean((pred - values) ** 2))
    logs = model.evaluate([image, side], [labels, values], return_dict=True, verbose=0)
    assert list(logs) == ["label_accuracy", "label_loss", "loss", "value_loss"]  # Keras 3's order
    assert model.metrics_names == ["loss", "label_loss", "value_loss", "label_accuracy"]
    assert model.evaluate([image, side], [labels, values], verbose=0) == pytest.approx(
        [logs[k] for k in model.metrics_names])  # the list: loss first, as Keras
    np.testing.assert_allclose(logs["label_loss"], ce, rtol=1e-5)
    np.testing.assert_allclose(logs["value_loss"], mse, rtol=1e-5)
    np.testing.assert_allclose(logs["loss"], 0.5 * ce + 2.0 * mse, rtol=1e-5)
    accuracy = np.mean(probs.argmax(1) == labels)
    np.testing.assert_allclose(logs["label_accuracy"], accuracy)
    history = model.fit([image, side], [labels, values], epochs=2, batch_size=8, verbose=0)
    assert set(history.history) == {"loss", "label_loss", "value_loss", "label_accuracy"}


def test_dicts_by_name_and_lists_train_the_same():
    image, side, labels, values = _data()
    results = []
    for as_dicts in (False, True):
        model = _two_headed(seed=3)
        if as_dicts:
            model.compile(pyconv.optimizers.SGD(0.1),
                          loss={"value": "mse", "label": "sparse_categorical_crossentropy"},
                          loss_weights={"label": 1.0, "value": 0.25})
            model.fit({"side": side, "image": image}, {"label": labels, "value": values},
                      epochs=1, batch_size=6, shuffle=False, verbose=0)
        else:
            model.compile(pyconv.optimizers.SGD(0.1),
                          loss=["sparse_categorical_crossentropy", "mse"], loss_weights=[1, 0.25])
            model.fit([image, side], [labels, values], epochs=1, batch_size=6, shuffle=False,
                      verbose=0)
        results.append(model.get_weights())
    for a, b in zip(*results):
        np.testing.assert_array_equal(a, b)


def test_the_gradient_of_a_weighted_two_output_loss_matches_finite_differences():
    model = _two_headed(seed=5)
    model.compile("sgd", loss=["sparse_categorical_crossentropy", "mse"], loss_weights=[0.7, 1.5])
    image, side, labels, values = _data(n=5)
    check_model_grads(model._graph, [image, side], [labels, values])


def _siamese(seed=0):
    """One encoder (Dense) called on two inputs: the weights are shared."""
    pyconv.set_seed(seed)
    a, b = pyconv.Input(shape=(5,)), pyconv.Input(shape=(5,))
    encoder = L.Dense(4, activation="tanh", name="encoder")
    distance = L.Subtract()([encoder(a), encoder(b)])
    out = L.Dense(1, activation="sigmoid", name="same")(distance)
    return pyconv.Model([a, b], out), encoder


def test_a_shared_layer_has_one_set_of_weights():
    model, encoder = _siamese()
    assert [l.name for l in model.layers].count("encoder") == 1
    assert model.count_params() == (5 * 4 + 4) + (4 + 1)
    lines = []
    model.summary(print_fn=lines.append)
    assert sum(line.startswith("encoder") for line in lines) == 1
    assert "Total params: 29" in "\n".join(lines)
    # Both calls compute with the same kernel: equal inputs give distance 0.
    x = np.random.default_rng(0).standard_normal((3, 5)).astype(np.float32)
    kernel, bias = encoder.get_weights()
    same_w, same_b = model.get_layer("same").get_weights()
    expected = 1 / (1 + np.exp(-(same_b)))  # sigmoid(0 @ w + b)
    np.testing.assert_allclose(model.predict([x, x]), np.tile(expected, (3, 1)), rtol=1e-6)


def test_a_sequential_encoder_called_on_two_inputs_shares_its_layers(tmp_path):
    # Keras's Siamese pattern: the second call raised "was nested in another model".
    encoder = pyconv.Sequential([pyconv.Input((5,)), L.Dense(3, activation="relu"), L.Dense(2)])
    a, b = pyconv.Input((5,)), pyconv.Input((5,))
    model = pyconv.Model([a, b], L.Dense(1)(L.Concatenate()([encoder(a), encoder(b)])))
    assert model.count_params() == (5 * 3 + 3) + (3 * 2 + 2) + (4 + 1)
    rng = np.random.default_rng(0)
    x1, x2 = rng.random((4, 5), dtype=np.float32), rng.random((4, 5), dtype=np.float32)
    k1, b1, k2, b2, k3, b3 = model.get_weights()
    encode = lambda x: np.maximum(x @ k1 + b1, 0) @ k2 + b2  # noqa: E731
    np.testing.assert_allclose(model.predict([x1, x2], verbose=0),
                               np.concatenate([encode(x1), encode(x2)], 1) @ k3 + b3, atol=1e-5)
    model.compile("adam", "mse")
    model.fit([x1, x2], np.zeros((4, 1), np.float32), verbose=0)
    model.save(tmp_path / "siamese.pcv")
    np.testing.assert_array_equal(pyconv.models.load_model(tmp_path / "siamese.pcv").predict(
        [x1, x2], verbose=0), model.predict([x1, x2], verbose=0))
    # Unnamed models are numbered, as Keras numbers them, so messages name the right one.
    assert pyconv.Sequential().name != pyconv.Sequential().name


def test_a_shared_layer_sums_the_gradients_of_its_calls():
    model, encoder = _siamese(seed=2)
    model.compile("sgd", "binary_crossentropy")
    rng = np.random.default_rng(4)
    a, b = (rng.standard_normal((6, 5)).astype(np.float32) for _ in range(2))
    y = rng.integers(0, 2, (6, 1)).astype(np.float32)
    check_model_grads(model._graph, [a, b], [y])
    # Against NumPy: the kernel's gradient is the sum over both calls.
    kernel, bias = encoder.get_weights()
    w, c = model.get_layer("same").get_weights()
    ha, hb = np.tanh(a @ kernel + bias), np.tanh(b @ kernel + bias)
    p = 1 / (1 + np.exp(-((ha - hb) @ w + c)))
    dz = (p - y) / len(y)                      # d mean BCE / d logit
    dd = dz @ w.T                              # d / d distance
    da, db = dd * (1 - ha ** 2), -dd * (1 - hb ** 2)
    grad = a.T @ da + b.T @ db
    model.compile(pyconv.optimizers.SGD(1.0), "binary_crossentropy")
    model.train_on_batch([a, b], y)
    np.testing.assert_allclose(kernel - encoder.get_weights()[0], grad, rtol=1e-4, atol=1e-6)


def test_a_dropout_layer_called_twice_draws_a_mask_per_call(tmp_path):
    # Found: calling one Dropout layer twice raised "layer names must be
    # unique" (building it adds the seed it drew to its attributes).
    x = pyconv.Input((256,))
    drop = L.Dropout(0.5)
    model = pyconv.Model(x, L.Subtract()([drop(x), drop(x)]))
    model.compile(pyconv.optimizers.SGD(0.1), "mse")
    ones, zeros = np.ones((4, 256), np.float32), np.zeros((4, 256), np.float32)
    # y = (m1 - m2) * 2 per element: 0 where both masks agree, +-2 elsewhere,
    # so the mean square is 4 * (fraction where they differ), about 4 * 0.5.
    loss = model.train_on_batch(ones, zeros)
    assert 1.5 < loss < 2.5
    # Saved and loaded, the second call is still the same layer, masks and all.
    path = tmp_path / "twice.pcv"
    model.save(path)
    loaded = pyconv.models.load_model(path)
    assert [l.name for l in loaded.layers].count(drop.name) == 1
    np.testing.assert_array_equal(loaded.predict(ones, verbose=0), zeros)  # inference: no dropout


def test_multi_io_and_shared_models_save_load_and_keep_training_alike(tmp_path):
    image, side, labels, values = _data()
    model = _two_headed(seed=7)
    model.compile("adam", loss=["sparse_categorical_crossentropy", "mse"], loss_weights=[1, 0.5],
                  metrics=["accuracy"])
    model.fit([image, side], [labels, values], epochs=1, batch_size=8, verbose=0)
    model.save(tmp_path / "two.pcv")
    loaded = pyconv.models.load_model(tmp_path / "two.pcv")
    for a, b in zip(model.predict([image, side]), loaded.predict([image, side])):
        np.testing.assert_array_equal(a, b)
    assert loaded.output_names == ["label", "value"]
    assert [l.name for l in loaded.layers] == [l.name for l in model.layers]
    for m in (model, loaded):
        m.fit([image, side], [labels, values], epochs=1, batch_size=8, verbose=0)
    for a, b in zip(model.get_weights(), loaded.get_weights()):
        np.testing.assert_array_equal(a, b)
    assert loaded.evaluate([image, side], [labels, values], verbose=0) == \
        model.evaluate([image, side], [labels, values], verbose=0)

    siamese, _ = _siamese(seed=8)
    siamese.save(tmp_path / "siamese.pcv")
    again = pyconv.models.load_model(tmp_path / "siamese.pcv")
    assert again.count_params() == siamese.count_params() == 29
    x = np.random.default_rng(1).standard_normal((4, 5)).astype(np.float32)
    y = x[::-1].copy()
    np.testing.assert_array_equal(again.predict([x, y]), siamese.predict([x, y]))
    shared = again.get_layer("encoder")
    assert len(shared._calls) == 2 and shared.output is shared._calls[0]


def test_the_c_api_refuses_a_model_of_several_inputs_clearly(tmp_path):
    from test_native_runtime import _library
    import ctypes

    lib = _library()
    _two_headed().save(tmp_path / "two.pcv")
    model = ctypes.c_void_p()
    status = lib.pcv_model_load(str(tmp_path / "two.pcv").encode(), ctypes.byref(model))
    assert status != 0 and not model.value
    assert b"2 input(s) and 2 output(s)" in lib.pcv_last_error()


@pytest.mark.parametrize("compile_args, message", [
    ({"loss": ["mse"]}, "one entry per output"),
    ({"loss": {"labels": "mse", "value": "mse"}}, "no output named 'labels'"),
    ({"loss": "mse", "loss_weights": [1.0, -1.0]}, "finite numbers >= 0"),
    ({"loss": "mse", "metrics": [["accuracy"]]}, "one entry per output"),
])
def test_bad_per_output_compile_arguments_are_refused(compile_args, message):
    model = _two_headed()
    with pytest.raises(ValueError, match=message):
        model.compile("sgd", **compile_args)
    assert model.optimizer is None  # nothing changed


def test_bad_multi_io_data_is_refused_before_any_step():
    model = _two_headed()
    model.compile("sgd", loss=["sparse_categorical_crossentropy", "mse"])
    image, side, labels, values = _data()
    before = model.get_weights()
    with pytest.raises(ValueError, match="expected a list of 2 arrays"):
        model.fit(image, [labels, values], verbose=0)
    with pytest.raises(ValueError, match="keyed by"):
        model.fit({"image": image, "sides": side}, [labels, values], verbose=0)
    with pytest.raises(ValueError, match="same number of samples"):
        model.fit([image, side[:10]], [labels, values], verbose=0)
    with pytest.raises(ValueError, match="same number of samples"):
        model.fit([image, side], [labels, values[:3]], verbose=0)
    with pytest.raises(pyconv.ShapeError, match="input 1 of shape"):
        model.predict([image, side[:, :2]])
    with pytest.raises(ValueError, match=r"y\[0\] \(output 'label'\): .*integer labels"):
        model.fit([image, side], [labels + 5, values], verbose=0)
    for a, b in zip(before, model.get_weights()):
        np.testing.assert_array_equal(a, b)


def test_an_output_read_by_another_layer_still_gets_its_own_loss():
    """An output that also feeds a later layer (deep supervision): its
    gradient is its loss's plus what flows back from the layer after it;
    and its softmax must not be moved into the loss."""
    pyconv.set_seed(0)
    inp = pyconv.Input(shape=(4,))
    aux = L.Dense(3, activation="softmax", name="aux")(inp)
    main = L.Dense(2, name="main")(aux)
    model = pyconv.Model(inp, [aux, main])
    model.compile("sgd", loss=["sparse_categorical_crossentropy", "mse"])
    rng = np.random.default_rng(0)
    x = rng.standard_normal((5, 4)).astype(np.float32)
    y = [rng.integers(0, 3, 5).astype(np.float32), rng.standard_normal((5, 2)).astype(np.float32)]
    probs, _ = model.predict(x)
    np.testing.assert_allclose(probs.sum(1), 1, rtol=1e-6)
    check_model_grads(model._graph, [x], y)

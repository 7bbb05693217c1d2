"""The Keras model surface that scripts use besides fit: weights as
variables, model(x), pop and add on a built model, Dense(input_dim=),
count_params(), configs and JSON, clone_model, set_random_seed, and
mnist.load_data reading Keras's own downloaded file."""

import json
import os

import numpy as np
import pytest

import pyconv
from pyconv import layers as L


def mlp():
    return pyconv.Sequential([pyconv.Input((4,)), L.Dense(3, activation="relu", name="hidden"),
                              L.BatchNormalization(), L.Dense(2, name="out")])


def test_weights_are_variables_that_read_and_assign():
    m = mlp()  # built at once: the input shape is known
    hidden = m.get_layer("hidden")
    assert [v.path for v in hidden.weights] == ["hidden/kernel", "hidden/bias"]
    assert hidden.kernel.shape == (4, 3) and hidden.bias.shape == (3,)
    np.testing.assert_array_equal(np.asarray(hidden.kernel), hidden.get_weights()[0])
    hidden.bias.assign(np.arange(3, dtype=np.float32))
    np.testing.assert_array_equal(hidden.get_weights()[1], [0, 1, 2])
    with pytest.raises(ValueError, match="shape"):
        hidden.kernel.assign(np.zeros((3, 4)))
    # batch normalization's moving statistics are non-trainable, as in Keras
    assert len(m.trainable_weights) == 6 and len(m.non_trainable_weights) == 2
    assert len(m.weights) == 8
    hidden.trainable = False
    assert len(m.trainable_weights) == 4
    assert hidden.count_params() == 15 and m.count_params() == 15 + 12 + 8
    with pytest.raises(ValueError, match="isn't built"):
        L.Dense(2).count_params()
    with pytest.raises(AttributeError, match="no weight 'kernel'"):
        m.layers[1].kernel


def test_calling_a_model_on_arrays():
    m = mlp()
    x = np.random.default_rng(0).random((5, 4), dtype=np.float32)
    np.testing.assert_array_equal(m(x), m.predict(x))
    np.testing.assert_array_equal(m(x, training=False), m.predict(x))
    with pytest.raises(ValueError, match="training=True"):
        m(x, training=True)


def test_pop_and_add_keep_the_other_weights():
    m = mlp()
    before = m.get_layer("hidden").get_weights()
    last = m.pop()
    assert last.name == "out" and m.output_shape == (None, 3)
    m.add(L.Dense(5))
    assert m.output_shape == (None, 5)
    for a, b in zip(m.get_layer("hidden").get_weights(), before):
        np.testing.assert_array_equal(a, b)
    with pytest.raises(TypeError, match="no layers"):
        pyconv.Sequential().pop()


def test_dense_input_dim():
    m = pyconv.Sequential([L.Dense(3, input_dim=7)])
    assert m.input_shape == (None, 7) and len(m.weights) == 2
    with pytest.raises(ValueError, match="not both"):
        L.Dense(3, input_dim=7, input_shape=(7,))


def test_configs_json_and_clones_rebuild_the_architecture():
    m = mlp()
    m.compile("adam", "mse")
    x = np.random.default_rng(1).random((6, 4), dtype=np.float32)
    for copy in (pyconv.Sequential.from_config(m.get_config()),
                 pyconv.models.model_from_json(m.to_json()), pyconv.models.clone_model(m)):
        assert [type(l).__name__ for l in copy.layers] == [type(l).__name__ for l in m.layers]
        assert copy.output_shape == m.output_shape
        copy.set_weights(m.get_weights())
        np.testing.assert_array_equal(copy.predict(x), m.predict(x))
    assert json.loads(m.to_json())["class_name"] == "Sequential"
    # a functional model with a shared layer and two inputs
    a, b = pyconv.Input((4,)), pyconv.Input((4,))
    shared = L.Dense(3)
    f = pyconv.Model([a, b], L.Add()([shared(a), shared(b)]))
    g = pyconv.models.model_from_json(f.to_json())
    g.set_weights(f.get_weights())
    np.testing.assert_array_equal(g.predict([x, x[::-1]]), f.predict([x, x[::-1]]))
    with pytest.raises(ValueError, match="class_name"):
        pyconv.models.model_from_json('{"class_name": "Something"}')
    small = pyconv.models.clone_model(m, clone_function=lambda layer: type(layer).from_config(
        {**layer.get_config(), "name": layer.name + "_copy"}))
    assert [l.name for l in small.layers] == [l.name + "_copy" for l in m.layers]


def test_set_random_seed_seeds_everything():
    def run():
        pyconv.utils.set_random_seed(42)
        return mlp().get_weights()[0], np.random.random(), __import__("random").random()
    first, second = run(), run()
    np.testing.assert_array_equal(first[0], second[0])
    assert first[1:] == second[1:]


def test_mnist_reads_keras_own_download(tmp_path, monkeypatch):
    (x, y), (xt, yt) = pyconv.datasets.mnist.load_sample(num_test=100)
    folder = tmp_path / "keras" / "datasets"
    folder.mkdir(parents=True)
    np.savez(folder / "mnist.npz", x_train=x[:50], y_train=y[:50], x_test=xt, y_test=yt)
    monkeypatch.setenv("KERAS_HOME", str(tmp_path / "keras"))
    monkeypatch.setenv("PYCONV_DATA", str(tmp_path / "nothing"))
    monkeypatch.setenv("HOME", str(tmp_path))  # no ~/.pyconv cache
    monkeypatch.setattr(pyconv.datasets.mnist, "SYSTEM_DIRS", ())
    (gx, gy), (gxt, gyt) = pyconv.datasets.mnist.load_data(download=False)
    np.testing.assert_array_equal(gx, x[:50])
    np.testing.assert_array_equal(gyt, yt)
    np.savez(folder / "mnist.npz", x_train=x[:50].astype(np.float32), y_train=y[:50],
             x_test=xt, y_test=yt)
    with pytest.raises(Exception, match="uint8"):
        pyconv.datasets.mnist.load_data(download=False)


def test_a_sequential_nests_in_another_model_as_keras_guides_write_it():
    """The data-augmentation idiom (a Sequential called on a tensor or listed
    as a layer) and transfer learning (a trained model, frozen, inside a new one)."""
    rng = np.random.default_rng(1)
    x, y = rng.random((16, 8, 8, 1), dtype=np.float32), rng.integers(0, 3, 16)
    augment = pyconv.Sequential([L.RandomFlip("horizontal"), L.RandomRotation(0.1)])
    inputs = pyconv.Input((8, 8, 1))
    h = augment(inputs)
    h = L.Flatten()(L.Conv2D(4, 3, activation="relu")(L.Rescaling(1 / 255)(h)))
    model = pyconv.Model(inputs, L.Dense(3, activation="softmax")(h))
    assert [type(l).__name__ for l in model.layers[:2]] == ["RandomFlip", "RandomRotation"]
    model.compile("adam", "sparse_categorical_crossentropy")
    model.fit(x, y, epochs=1, verbose=0)
    listed = pyconv.Sequential([pyconv.Input((8, 8, 1)), pyconv.Sequential(
        [L.RandomFlip("horizontal")]), L.Flatten(), L.Dense(3)])
    assert [type(l).__name__ for l in listed.layers] == ["RandomFlip", "Flatten", "Dense"]
    with pytest.raises(RuntimeError, match="nested in another model"):
        augment.predict(x)

    base = pyconv.Sequential([pyconv.Input((8, 8, 1)), L.Conv2D(4, 3, name="features"),
                              L.Flatten()])
    trained = base.get_weights()
    base.trainable = False
    head = pyconv.Sequential([base, L.Dense(3, activation="softmax")])
    for a, b in zip(head.get_weights()[:2], trained):  # the weights came along
        np.testing.assert_array_equal(a, b)
    head.compile("adam", "sparse_categorical_crossentropy")
    head.fit(x, y, epochs=2, verbose=0)
    np.testing.assert_array_equal(head.get_layer("features").get_weights()[0], trained[0])
    assert not head.get_layer("features").trainable and head.layers[-1].trainable
    with pytest.raises(TypeError, match="functional model"):
        pyconv.Sequential([model])
    with pytest.raises(TypeError, match=r"called on a ndarray of shape \(2, 8\)"):
        L.Dense(2)(np.zeros((2, 8)))


def test_a_feature_extractor_from_a_models_tensors():
    """keras.Model(model.inputs, model.layers[k].output): pyconv copies the
    layers with their weights (it does not share weights between models)."""
    inputs = pyconv.Input((6,))
    hidden = L.Dense(4, activation="relu", name="hidden")(inputs)
    model = pyconv.Model(inputs, L.Dense(2, name="out")(hidden))
    x = np.random.default_rng(2).random((3, 6), dtype=np.float32)
    with pytest.warns(UserWarning, match="copies 1 layer"):
        features = pyconv.Model(model.inputs, model.get_layer("hidden").output)
    kernel, bias = model.get_layer("hidden").get_weights()
    np.testing.assert_allclose(features.predict(x, verbose=0), np.maximum(x @ kernel + bias, 0),
                               rtol=1e-6, atol=1e-7)
    assert features.get_layer("hidden") is not model.get_layer("hidden")


def test_fine_tuning_a_nested_base_as_the_transfer_learning_guide_does():
    """base(inputs, training=False) keeps its batch normalization in inference
    mode, also once unfrozen; base.trainable acts on its layers in the outer model."""
    rng = np.random.default_rng(3)
    x, y = rng.random((32, 6), dtype=np.float32), rng.integers(0, 2, 32)
    base = pyconv.Sequential([pyconv.Input((6,)), L.Dense(8, name="d"),
                              L.BatchNormalization(name="bn"), L.Dropout(0.5, name="drop")])
    base.trainable = False
    inputs = pyconv.Input((6,))
    outputs = L.Dense(2, activation="softmax")(base(inputs, training=False))
    model = pyconv.Model(inputs, outputs)
    assert not model.get_layer("d").trainable and base.trainable is False
    base.trainable = True  # unfreeze: the layers in the outer model follow
    assert model.get_layer("d").trainable and model.get_layer("bn").trainable
    model.compile(pyconv.optimizers.Adam(1e-2), "sparse_categorical_crossentropy")
    gamma, beta, mean, variance = model.get_layer("bn").get_weights()
    model.fit(x, y, epochs=2, batch_size=8, verbose=0)
    new_gamma, new_beta, new_mean, new_variance = model.get_layer("bn").get_weights()
    np.testing.assert_array_equal(new_mean, mean)  # inference mode: statistics kept
    np.testing.assert_array_equal(new_variance, variance)
    assert not np.array_equal(new_gamma, gamma) and not np.array_equal(new_beta, beta)
    # ... and dropout does nothing: a training step's loss is the evaluated one
    loss = model.evaluate(x, y, verbose=0)
    assert model.test_on_batch(x, y) == pytest.approx(loss)
    assert model.get_layer("bn").get_config()["inference_mode"] is True
    assert model.get_layer("d").output.shape == (None, 8)
    assert model.get_layer("d").input is inputs  # its call in the outer model
    assert len(base.get_weights()) == 6  # read from the outer model


def test_more_of_the_keras_guides_surface(tmp_path, capsys):
    x = np.ones((3, 3), np.float32)
    unbuilt = pyconv.Sequential([L.Dense(2), L.Dense(4)])
    assert unbuilt(x).shape == (3, 4)  # built by its first call, as in Keras
    seq = pyconv.Sequential([pyconv.Input((3,)), L.Dense(2, name="a"), L.Dense(4, name="b")])
    with pytest.warns(UserWarning, match="copies"):
        extractor = pyconv.Model(seq.inputs, [layer.output for layer in seq.layers])
    features = extractor.predict(x, verbose=0)
    np.testing.assert_allclose(features[1], seq.predict(x, verbose=0), rtol=1e-6)
    assert pyconv.Input((3,)).dtype == "float32"
    seq.compile("adam", "mse", metrics=["mae"])
    assert seq.metrics_names == ["loss", "mae"]
    assert dict(zip(seq.metrics_names, seq.evaluate(x, np.ones((3, 4)), verbose=0))).keys() == {
        "loss", "mae"}
    seq.summary(show_trainable=True)
    assert "Trainable" in capsys.readouterr().out
    classifier = pyconv.Sequential([pyconv.Input((6, 6, 3)), L.Conv2D(4, 3),
                                    L.GlobalAveragePooling2D(), L.Dense(3, activation="softmax")])
    classifier.compile("adam", "sparse_categorical_crossentropy")
    classifier.pop()
    classifier.pop()  # feature maps: the loss no longer fits, so compile again, as in Keras
    images = np.ones((2, 6, 6, 3), np.float32)
    with pytest.raises(RuntimeError, match="compiled"):
        classifier.fit(images, np.ones((2, 4, 4, 4)), verbose=0)
    classifier.compile("adam", "mse")
    classifier.fit(images, np.ones((2, 4, 4, 4)), verbose=0)
    with pytest.raises(ValueError, match=".pcv"):
        seq.save(tmp_path / "m.keras")
    with pytest.raises(ValueError, match="unknown size"):
        pyconv.Input((None, 10))
    with pytest.raises(AttributeError, match="pyconv.layers has no 'CenterCrop'; its layers"):
        L.CenterCrop
    with pytest.raises(ValueError, match="made with its model"):
        L.Dense(2).build((None, 4))
    with pytest.raises(TypeError, match="every output needs a loss"):
        seq.compile("adam", [None])

    class Own(L.Layer):
        def call(self, inputs):
            return inputs
    with pytest.raises(TypeError, match="Layer subclass with its own call"):
        Own()

    class OwnLoss(pyconv.losses.Loss):
        def call(self, y_true, y_pred):
            return 0
    with pytest.raises(TypeError, match="Loss subclass with its own call"):
        OwnLoss()
    pyconv.callbacks.TensorBoard(log_dir=tmp_path, histogram_freq=0, embeddings_freq=0,
                                 update_freq="epoch")
    with pytest.raises(TypeError, match="histogram_freq=1"):
        pyconv.callbacks.TensorBoard(log_dir=tmp_path, histogram_freq=1)


def test_a_metric_of_your_own_as_the_keras_guide_writes_it():
    class CategoricalTruePositives(pyconv.metrics.Metric):
        def __init__(self, name="categorical_true_positives", **kwargs):
            super().__init__(name=name, **kwargs)
            self.true_positives = self.add_variable(shape=(), name="ctp", initializer="zeros")

        def update_state(self, y_true, y_pred, sample_weight=None):
            values = (np.argmax(y_pred, axis=1) == np.asarray(y_true).reshape(-1)).astype(float)
            if sample_weight is not None:
                values = values * np.asarray(sample_weight).reshape(-1)
            self.true_positives.assign_add(values.sum())

        def result(self):
            return self.true_positives

        def reset_state(self):
            self.true_positives.assign(0.0)
    rng = np.random.default_rng(5)
    x, y = rng.random((20, 4), dtype=np.float32), rng.integers(0, 3, 20)
    model = pyconv.Sequential([pyconv.Input((4,)), L.Dense(3, activation="softmax")])
    model.compile("adam", "sparse_categorical_crossentropy", metrics=[CategoricalTruePositives()])
    history = model.fit(x, y, batch_size=5, epochs=1, verbose=0)
    logs = model.evaluate(x, y, return_dict=True, verbose=0)
    assert logs["categorical_true_positives"] == float(
        (model.predict(x, verbose=0).argmax(1) == y).sum())
    assert "categorical_true_positives" in history.history

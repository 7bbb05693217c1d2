"""fit, evaluate and predict take Keras's arguments: sample_weight (weighted
in the C++ loss, as Keras weighs: the sum of weight * loss over the batch
size), class_weight, validation_data with weights, steps_per_epoch,
validation_steps, validation_freq, validation_batch_size, steps, and a
progress bar for predict."""

import numpy as np
import pytest

import pyconv
from pyconv import callbacks as C
from pyconv import layers as L


def regression(seed=0, lr=0.1):
    pyconv.set_seed(seed)
    m = pyconv.Sequential([pyconv.Input((3,)), L.Dense(2)])
    m.compile(pyconv.optimizers.SGD(learning_rate=lr), "mse")
    return m


def data(n=12, seed=1):
    rng = np.random.default_rng(seed)
    return rng.random((n, 3), dtype=np.float32), rng.random((n, 2), dtype=np.float32)


def test_sample_weight_weighs_each_sample_as_keras_does():
    m = regression()
    x, y = data()
    w = np.linspace(0.0, 2.0, len(x)).astype(np.float32)
    per_sample = ((m.predict(x) - y) ** 2).mean(axis=1)
    assert m.evaluate(x, y, sample_weight=w, verbose=0) == pytest.approx(
        float((w * per_sample).sum() / len(x)), rel=1e-5)
    # a weight of 0 removes a sample from the gradient; the mean still
    # divides by the batch size (2), which a doubled learning rate undoes
    a, b = regression(lr=0.2), regression(lr=0.1)
    a.train_on_batch(x[:2], y[:2], sample_weight=[1.0, 0.0])
    b.train_on_batch(x[:1], y[:1])
    for wa, wb in zip(a.get_weights(), b.get_weights()):
        np.testing.assert_allclose(wa, wb, rtol=1e-6, atol=1e-7)


def test_class_weight_is_sample_weight_by_label():
    rng = np.random.default_rng(2)
    x, labels = rng.random((16, 3), dtype=np.float32), rng.integers(0, 3, 16)

    def classifier():
        pyconv.set_seed(3)
        m = pyconv.Sequential([pyconv.Input((3,)), L.Dense(3, activation="softmax")])
        m.compile("sgd", "sparse_categorical_crossentropy")
        return m
    a, b = classifier(), classifier()
    a.fit(x, labels, batch_size=4, epochs=2, shuffle=False, verbose=0, class_weight={0: 3.0, 2: 0.5})
    b.fit(x, labels, batch_size=4, epochs=2, shuffle=False, verbose=0,
          sample_weight=np.select([labels == 0, labels == 2], [3.0, 0.5], 1.0))
    for wa, wb in zip(a.get_weights(), b.get_weights()):
        np.testing.assert_array_equal(wa, wb)
    with pytest.raises(ValueError, match="at the same time"):
        a.fit(x, labels, class_weight={0: 1.0}, sample_weight=np.ones(16), verbose=0)


def test_bad_sample_weights_are_refused():
    m = regression()
    x, y = data()
    for bad, match in ((np.ones(5), "one weight per sample"), (-np.ones(12), ">= 0"),
                       (np.full(12, np.nan), "finite"), (np.array(["a"] * 12), "numeric"),
                       # Keras's per-output form ("received object of shape ()" before)
                       ({"out": np.ones(12)}, "per-output sample weights"),
                       ([np.ones(12)], "per-output sample weights")):
        with pytest.raises(ValueError, match=match):
            m.fit(x, y, sample_weight=bad, verbose=0)


def test_validation_arguments():
    m = regression()
    x, y = data(20)
    count = C.LambdaCallback(on_test_batch_end=lambda batch, logs: seen.append(batch),
                             on_train_batch_end=lambda batch, logs: trained.append(batch))
    seen, trained = [], []
    with pytest.warns(UserWarning, match="ran out of data"):
        history = m.fit(x, y, batch_size=4, epochs=4, verbose=0, callbacks=[count],
                        validation_data=(x[:6], y[:6], np.ones(6)), validation_freq=2,
                        validation_batch_size=2, validation_steps=2, steps_per_epoch=3)
    assert len(history.history["loss"]) == 4 and len(history.history["val_loss"]) == 2
    # As Keras 3: with steps_per_epoch an epoch goes on from where the last
    # one stopped in the data (5 batches: 3, then the last 2, then again).
    assert trained == [0, 1, 2, 0, 1] * 2
    assert seen == [0, 1, 0]  # 2 validations of the 3 batches: 2, then the one left
    with pytest.warns(UserWarning, match="steps_per_epoch"):
        m.fit(x, y, batch_size=10, epochs=1, steps_per_epoch=5, verbose=0)
    with pytest.raises(ValueError, match="validation_freq"):
        m.fit(x, y, validation_freq=0, verbose=0)
    with pytest.raises(ValueError, match="validation_data"):
        m.fit(x, y, validation_data=(x, y, None, None), verbose=0)


def test_evaluate_and_predict_steps_and_progress(capsys):
    m = regression()
    x, y = data(10)
    first = m.evaluate(x[:4], y[:4], verbose=0)
    assert m.evaluate(x, y, batch_size=4, steps=1, verbose=0) == pytest.approx(first)
    assert m.predict(x, batch_size=4, steps=2).shape == (8, 2)
    m.predict(x, batch_size=4, verbose=1)
    assert "3/3" in capsys.readouterr().out
    with pytest.raises(ValueError, match="steps"):
        m.predict(x, steps=0)


def test_compile_takes_keras_3_arguments_and_weighted_metrics(tmp_path):
    pyconv.set_seed(3)
    rng = np.random.default_rng(4)
    x, labels = rng.random((30, 4), dtype=np.float32), rng.integers(0, 3, 30)
    m = pyconv.Sequential([pyconv.Input((4,)), L.Dense(3, activation="softmax")])
    m.compile("adam", "sparse_categorical_crossentropy", metrics=["accuracy"],
              weighted_metrics=["accuracy", "sparse_top_k_categorical_accuracy"],
              run_eagerly=False, jit_compile=False,
              steps_per_execution=1, auto_scale_loss=True)
    w = np.where(labels == 0, 5.0, 0.5)
    history = m.fit(x, labels, class_weight={0: 5.0, 1: 0.5, 2: 0.5}, epochs=1, verbose=0,
                    validation_data=(x, labels, w))
    top_k = "sparse_top_k_categorical_accuracy"
    assert list(history.history) == ["accuracy", "loss", top_k, "weighted_accuracy",
                                      "val_accuracy", "val_loss", "val_" + top_k,
                                      "val_weighted_accuracy"]  # by name, as Keras 3
    right = (m.predict(x, verbose=0).argmax(1) == labels).astype(float)
    logs = m.evaluate(x, labels, sample_weight=w, return_dict=True, verbose=0)
    assert logs["accuracy"] == pytest.approx(right.mean())
    assert logs["weighted_accuracy"] == pytest.approx((w * right).sum() / w.sum())
    m.save(tmp_path / "m.pcv")  # the weighted metrics travel with the model
    loaded = pyconv.models.load_model(tmp_path / "m.pcv")
    assert loaded.evaluate(x, labels, sample_weight=w, return_dict=True, verbose=0) == \
        pytest.approx(logs)
    with pytest.raises(ValueError, match="steps_per_execution"):
        m.compile("adam", "sparse_categorical_crossentropy", steps_per_execution=8)

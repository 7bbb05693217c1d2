"""Bad input at the model level: each case raises an exception whose message says what
was expected, and a training call that fails leaves the weights (and the optimizer's step
count) exactly as they were."""

import numpy as np
import pytest

import pyconv
from pyconv import layers as L

N, CLASSES = 6, 10


def classifier(loss="sparse_categorical_crossentropy"):
    pyconv.set_seed(0)
    model = pyconv.Sequential([pyconv.Input((5, 5, 1)), L.Conv2D(2, 3, activation="relu"),
                               L.Flatten(), L.Dense(CLASSES, activation="softmax")])
    model.compile(pyconv.optimizers.SGD(0.1), loss, metrics=["accuracy"])
    return model


def good_data():
    rng = np.random.default_rng(0)
    return rng.random((N, 5, 5, 1)).astype(np.float32), rng.integers(0, CLASSES, N)


class Unchanged:
    """Snapshot of a model's weights and step count, to compare after a failed call."""

    def __init__(self, model):
        self.model = model
        self.weights = [w.copy() for w in model.get_weights()]
        self.iterations = model.optimizer.iterations if model.optimizer else 0

    def check(self):
        after = self.model.get_weights()
        assert len(after) == len(self.weights)
        for now, before in zip(after, self.weights):
            np.testing.assert_array_equal(now, before)
        if self.model.optimizer:
            assert self.model.optimizer.iterations == self.iterations


def each_training_call(model, x, y):
    """The calls that check (x, y): three that would train and one that would not."""
    return [
        lambda: model.fit(x, y, epochs=1, verbose=0),
        lambda: model.train_on_batch(x, y),
        lambda: model.evaluate(x, y, verbose=0),
        lambda: model.test_on_batch(x, y),
    ]


def assert_all_raise(model, x, y, exc, match):
    snapshot = Unchanged(model)
    for call in each_training_call(model, x, y):
        with pytest.raises(exc, match=match):
            call()
        snapshot.check()


# --- x -------------------------------------------------------------------------------------


@pytest.mark.parametrize("shape", [(N, 5, 5, 1, 1), (N, 25), (5, 5, 1)],
                         ids=["rank5", "rank2", "no_batch_axis"])
def test_x_of_the_wrong_rank(shape):
    model = classifier()
    _, y = good_data()
    x = np.zeros(shape, np.float32)
    y = y[:len(x)]
    assert_all_raise(model, x, y, pyconv.ShapeError, r"expected input of shape \(None, 5, 5, 1\)")


@pytest.mark.parametrize("shape", [(N, 6, 5, 1), (N, 5, 5, 3), (N, 4, 4)])
def test_x_of_the_wrong_shape(shape):
    model = classifier()
    _, y = good_data()
    x = np.zeros(shape, np.float32)
    assert_all_raise(model, x, y, ValueError, r"expected input of shape \(None, 5, 5, 1\)")
    with pytest.raises(pyconv.ShapeError, match="received"):
        model.predict(x, verbose=0)


def test_shape_error_is_a_value_error():
    assert issubclass(pyconv.ShapeError, ValueError)


@pytest.mark.parametrize("x", [
    np.full((N, 5, 5, 1), "a"),
    np.full((N, 5, 5, 1), None, dtype=object),
    np.ones((N, 5, 5, 1), dtype=object),
    np.ones((N, 5, 5, 1), dtype=np.complex64),
], ids=["str", "object_none", "object_numbers", "complex"])
def test_x_of_a_non_numeric_dtype(x):
    model = classifier()
    _, y = good_data()
    assert_all_raise(model, x, y, TypeError, "x must be a numeric array, received dtype")
    with pytest.raises(TypeError, match="numeric"):
        model.predict(x, verbose=0)


@pytest.mark.parametrize("value", [np.nan, np.inf, -np.inf])
@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_non_finite_x(value, dtype):
    model = classifier()
    x, y = good_data()
    x = x.astype(dtype)
    x[3, 2, 1, 0] = value
    assert_all_raise(model, x, y, ValueError, r"x must hold finite values; found .* at index "
                     r"\(3, 2, 1, 0\)")
    with pytest.raises(ValueError, match="finite"):
        model.predict(x, verbose=0)


def test_x_beyond_float32_range():
    model = classifier()
    x, y = good_data()
    x = x.astype(np.float64)
    x[0, 0, 0, 0] = 1e39
    with pytest.raises(ValueError, match="finite|range"):
        model.train_on_batch(x, y)


@pytest.mark.parametrize("x", [np.zeros((0, 5, 5, 1), np.float32), np.float32(1.0)],
                         ids=["empty", "scalar"])
def test_x_without_samples(x):
    model = classifier()
    assert_all_raise(model, x, np.zeros(0), ValueError, "x must hold at least one sample")
    with pytest.raises(ValueError, match="at least one sample"):
        model.predict(x, verbose=0)


def test_missing_x_or_y():
    model = classifier()
    x, y = good_data()
    snapshot = Unchanged(model)
    with pytest.raises(ValueError, match="y is required"):
        model.fit(x, None, verbose=0)
    with pytest.raises(ValueError, match="x is required"):
        model.fit(None, y, verbose=0)
    snapshot.check()


# --- y -------------------------------------------------------------------------------------


@pytest.mark.parametrize("value", [np.nan, np.inf])
def test_non_finite_y(value):
    model = classifier(loss="mse")
    x, _ = good_data()
    y = np.zeros((N, CLASSES), np.float32)
    y[2, 4] = value
    assert_all_raise(model, x, y, ValueError, "y must hold finite values")


@pytest.mark.parametrize("bad,shown", [(10, "10"), (-1, "-1"), (2.5, "2.5"), (np.nan, None)])
def test_sparse_labels_out_of_range_or_not_integers(bad, shown):
    model = classifier()
    x, y = good_data()
    y = y.astype(np.float64)
    y[4] = bad
    if shown is None:
        assert_all_raise(model, x, y, ValueError, "finite")
        return
    assert_all_raise(model, x, y, ValueError,
                     rf"expected integer labels in \[0, 10\), received {shown} at index 4")


def test_sparse_labels_as_one_hot_rows():
    model = classifier()
    x, y = good_data()
    y = pyconv.utils.to_categorical(y, CLASSES)
    assert_all_raise(model, x, y, ValueError,
                     r"expected integer labels of shape \(6,\).*use categorical_crossentropy")


def test_sparse_labels_as_a_column_are_accepted():
    model = classifier()
    x, y = good_data()
    assert model.evaluate(x, y[:, None], verbose=0)[0] == pytest.approx(
        model.evaluate(x, y, verbose=0)[0])


@pytest.mark.parametrize("length", [N - 1, N + 3])
def test_labels_of_the_wrong_length(length):
    model = classifier()
    x, _ = good_data()
    y = np.zeros(length)
    assert_all_raise(model, x, y, ValueError,
                     rf"x and y must hold the same number of samples, received {N} and "
                     rf"{length}")


def test_empty_labels():
    model = classifier()
    x, _ = good_data()
    assert_all_raise(model, x, np.zeros(0), ValueError, "y must hold at least one sample")


@pytest.mark.parametrize("width", [CLASSES - 1, CLASSES + 1])
def test_one_hot_targets_of_the_wrong_width(width):
    model = classifier(loss="categorical_crossentropy")
    x, y = good_data()
    y = pyconv.utils.to_categorical(y % width, width)
    assert_all_raise(model, x, y, ValueError,
                     rf"expected one-hot targets of shape \(6, 10\), received \(6, {width}\)")


def test_integer_labels_for_categorical_crossentropy():
    model = classifier(loss="categorical_crossentropy")
    x, y = good_data()
    assert_all_raise(model, x, y, ValueError, "use sparse_categorical_crossentropy")


def test_mse_targets_of_the_wrong_shape():
    model = classifier(loss="mse")
    x, _ = good_data()
    assert_all_raise(model, x, np.zeros((N, 3)), ValueError,
                     r"expected targets of shape \(6, 10\), received \(6, 3\)")


@pytest.mark.parametrize("y", [np.full(N, "1"), np.full(N, None, dtype=object)],
                         ids=["str", "object"])
def test_labels_of_a_non_numeric_dtype(y):
    model = classifier()
    x, _ = good_data()
    assert_all_raise(model, x, y, TypeError, "y must be a numeric array")


# --- validation data -----------------------------------------------------------------------


@pytest.mark.parametrize("split", [-0.1, 1.0, 1.5])
def test_validation_split_outside_unit_interval(split):
    model = classifier()
    x, y = good_data()
    snapshot = Unchanged(model)
    with pytest.raises(ValueError, match=r"validation_split must be in \[0, 1\)"):
        model.fit(x, y, validation_split=split, verbose=0)
    snapshot.check()


def test_validation_split_leaving_no_samples():
    model = classifier()
    x, y = good_data()
    snapshot = Unchanged(model)
    with pytest.raises(ValueError, match="leaves no samples"):
        model.fit(x, y, validation_split=0.95, verbose=0)
    snapshot.check()


def test_bad_validation_data_is_caught_before_training():
    model = classifier()
    x, y = good_data()
    snapshot = Unchanged(model)
    with pytest.raises(ValueError, match=r"validation_data must be a tuple \(x_val, y_val\)"):
        model.fit(x, y, validation_data=x, verbose=0)
    with pytest.raises(ValueError, match=r"expected integer labels in \[0, 10\)"):
        model.fit(x, y, validation_data=(x, y + 10), verbose=0)
    with pytest.raises(ValueError, match="expected input of shape"):
        model.fit(x, y, validation_data=(x[..., :0], y), verbose=0)
    snapshot.check()


# --- batch size ----------------------------------------------------------------------------


@pytest.mark.parametrize("batch_size", [0, -1, 2.5, "8", True])
def test_bad_batch_size(batch_size):
    model = classifier()
    x, y = good_data()
    snapshot = Unchanged(model)
    match = "batch_size must be a positive integer"
    with pytest.raises(ValueError, match=match):
        model.fit(x, y, batch_size=batch_size, verbose=0)
    with pytest.raises(ValueError, match=match):
        model.evaluate(x, y, batch_size=batch_size, verbose=0)
    with pytest.raises(ValueError, match=match):
        model.predict(x, batch_size=batch_size, verbose=0)
    snapshot.check()


# --- names ---------------------------------------------------------------------------------


@pytest.mark.parametrize("make", [
    lambda: L.Dense(3, activation="relu7"),
    lambda: L.Conv2D(3, 3, activation="swishy"),
    lambda: L.Activation("gelu_fast"),
], ids=["Dense", "Conv2D", "Activation"])
def test_unknown_activation(make):
    with pytest.raises(ValueError, match=r"unknown activation '\w+'; expected one of .*'relu'"):
        make()


@pytest.mark.parametrize("kwargs,match", [
    (dict(loss="cross_entropy"), r"unknown loss 'cross_entropy'; expected one of .*'mse'"),
    (dict(loss="mse", optimizer="adagrd"), r"unknown optimizer 'adagrd'; expected one of"),
    (dict(loss="mse", metrics=["auroc"]), r"unknown metric 'auroc'; expected .*'accuracy'"),
    (dict(loss="mse", metrics=[42]), r"unknown metric 42"),
    (dict(), r"compile\(\) needs a loss"),
])
def test_unknown_names_at_compile(kwargs, match):
    model = pyconv.Sequential([pyconv.Input((3,)), L.Dense(2)])
    with pytest.raises(ValueError, match=match):
        model.compile(**kwargs)
    with pytest.raises(RuntimeError, match="compile"):  # still not compiled
        model.train_on_batch(np.ones((2, 3), np.float32), np.zeros((2, 2), np.float32))


def test_loss_of_the_wrong_type():
    model = pyconv.Sequential([pyconv.Input((3,)), L.Dense(2)])
    with pytest.raises(TypeError, match="loss must be a name"):
        model.compile("sgd", loss=3)


def test_failed_recompile_leaves_the_model_as_it_was():
    model = classifier()
    optimizer, loss = model.optimizer, model.loss
    with pytest.raises(ValueError, match="unknown loss"):
        model.compile("adam", "nope")
    with pytest.raises(ValueError, match="unknown metric"):
        model.compile("adam", "mse", metrics=["auroc"])
    assert model.optimizer is optimizer and model.loss is loss


# --- order of calls ------------------------------------------------------------------------


def test_training_before_compile():
    model = pyconv.Sequential([pyconv.Input((5, 5, 1)), L.Flatten(), L.Dense(CLASSES)])
    x, y = good_data()
    for call in each_training_call(model, x, y):
        with pytest.raises(RuntimeError, match=r"must be compiled.*model\.compile"):
            call()


def test_summary_of_an_unbuilt_model():
    model = pyconv.Sequential([L.Dense(3), L.Dense(2)])
    with pytest.raises(ValueError, match=r"not built yet.*Input\(shape=\.\.\.\)"):
        model.summary(print_fn=lambda line: None)
    with pytest.raises(ValueError, match="not built yet"):
        model.get_weights()
    with pytest.raises(ValueError, match="not built yet"):
        model.count_params()


def test_layer_weights_before_the_model_is_built():
    layer = L.Dense(2)
    assert layer.get_weights() == []
    with pytest.raises(RuntimeError, match="has no weights until its model is built"):
        layer.set_weights([np.zeros((3, 2)), np.zeros(2)])


def test_add_after_build_keeps_the_weights():
    model = pyconv.Sequential([pyconv.Input((3,)), L.Dense(2)])
    before = model.get_weights()
    model.add(L.Dense(4))  # as Keras: the model is built again
    assert model.output_shape == (None, 4)
    for a, b in zip(model.layers[0].get_weights(), before):
        np.testing.assert_array_equal(a, b)


# --- model structure -----------------------------------------------------------------------


def test_conv_kernel_larger_than_the_input():
    model = pyconv.Sequential([pyconv.Input((4, 4, 1))])
    with pytest.raises(pyconv.ShapeError,
                       match=r"Conv2D 'too_big': the height of the input \(4.*kernel"):
        model.add(L.Conv2D(2, 5, name="too_big"))
    assert model.layers == []
    with pytest.raises(pyconv.ShapeError, match="'too_wide'"):
        pyconv.Sequential([pyconv.Input((8, 4, 1)), L.Conv2D(2, (3, 5), name="too_wide")])


def test_pool_larger_than_the_input():
    with pytest.raises(pyconv.ShapeError, match="'big_pool'"):
        pyconv.Sequential([pyconv.Input((3, 3, 1)), L.MaxPooling2D(4, name="big_pool")])


def test_dense_after_a_4d_output_suggests_flatten():
    # As in Keras, a Dense applies to the last axis of any input; a classifier
    # that forgot its Flatten is caught when the cross-entropy is compiled.
    model = pyconv.Sequential([pyconv.Input((6, 6, 1)), L.Conv2D(2, 3), L.Dense(3, name="head")])
    assert model.output_shape == (None, 4, 4, 3)
    with pytest.raises(pyconv.ShapeError, match=r"\(N, classes\).*add a Flatten"):
        model.compile("adam", "sparse_categorical_crossentropy")


def test_duplicate_layer_names():
    with pytest.raises(ValueError, match="unique names; 'twin' is used twice"):
        pyconv.Sequential([pyconv.Input((3,)), L.Dense(2, name="twin"), L.Dense(2, name="twin")])


def test_input_not_first():
    model = pyconv.Sequential([L.Dense(2)])
    with pytest.raises(ValueError, match="Input must be the first"):
        model.add(pyconv.Input((3,)))


def test_add_something_that_is_not_a_layer():
    with pytest.raises(TypeError, match="expected a pyconv layer"):
        pyconv.Sequential([pyconv.Input((3,)), "dense"])


# --- set_weights ---------------------------------------------------------------------------


def two_dense():
    model = pyconv.Sequential([pyconv.Input((3,)), L.Dense(4), L.Dense(2)])
    model.compile("sgd", "mse")
    return model


def test_set_weights_with_the_wrong_count():
    model = two_dense()
    weights = model.get_weights()
    snapshot = Unchanged(model)
    with pytest.raises(ValueError, match="expected a list of 4 weight arrays, received 3"):
        model.set_weights([w + 1 for w in weights[:3]])
    with pytest.raises(ValueError, match="expected a list of 4 weight arrays, received 5"):
        model.set_weights([w + 1 for w in weights] + [weights[0]])
    snapshot.check()


def test_set_weights_with_a_wrong_shape_in_one_layer():
    model = two_dense()
    weights = model.get_weights()
    snapshot = Unchanged(model)
    bad = [weights[0] + 1, weights[1] + 1, np.zeros((4, 3), np.float32), weights[3]]
    with pytest.raises(ValueError, match=r"expected weight 0 \('kernel'\) of shape \(4, 2\), "
                       r"received \(4, 3\)"):
        model.layers[1].set_weights(bad[2:])
    snapshot.check()
    bad = [np.zeros((4, 3), np.float32)] + weights[1:]
    with pytest.raises(ValueError, match=r"of shape \(3, 4\), received \(4, 3\)"):
        model.set_weights(bad)
    snapshot.check()


def test_set_weights_error_in_a_later_layer_changes_nothing():
    model = two_dense()
    weights = model.get_weights()
    snapshot = Unchanged(model)
    bad = [weights[0] + 1, weights[1] + 1, np.zeros((4, 3), np.float32), weights[3]]
    with pytest.raises(ValueError, match="of shape"):
        model.set_weights(bad)
    snapshot.check()


def test_set_weights_with_non_numeric_arrays():
    model = two_dense()
    weights = model.get_weights()
    snapshot = Unchanged(model)
    with pytest.raises(TypeError, match="not a numeric array"):
        model.layers[0].set_weights([np.full((3, 4), "x"), weights[1]])
    snapshot.check()


# --- a step whose loss is not finite -------------------------------------------------------


def overflowing_model():
    """Finite inputs (~1e30) times a finite kernel (1e9) overflow float32: the predictions
    and so the loss are infinite."""
    model = pyconv.Sequential([pyconv.Input((3,)), L.Dense(2)])
    model.compile(pyconv.optimizers.SGD(0.01), "mse")
    model.set_weights([np.full((3, 2), 1e9, np.float32), np.zeros(2, np.float32)])
    x = np.full((4, 3), 1e30, np.float32)
    return model, x, np.zeros((4, 2), np.float32)


def test_non_finite_loss_stops_the_step():
    model, x, y = overflowing_model()
    snapshot = Unchanged(model)
    with pytest.raises(ValueError, match=r"the loss is (inf|nan); the weights were not updated"):
        model.train_on_batch(x, y)
    snapshot.check()
    with pytest.raises(ValueError, match="the loss is"):
        model.fit(x, y, epochs=2, verbose=0)
    snapshot.check()
    assert model.optimizer.iterations == 0
    # evaluation only reports it
    assert not np.isfinite(model.evaluate(x, y, verbose=0))


def test_training_diverges_then_stops_cleanly():
    """A huge learning rate blows the weights up step by step until the loss (or
    a step's weights) would overflow; from then on every step fails without
    touching the weights."""
    model = pyconv.Sequential([pyconv.Input((3,)), L.Dense(2)])
    model.compile(pyconv.optimizers.SGD(1e3), "mse")
    rng = np.random.default_rng(0)
    x = rng.normal(size=(8, 3)).astype(np.float32)
    y = rng.normal(size=(8, 2)).astype(np.float32)
    overflow = "the loss is|would become NaN or infinite"
    with pytest.raises(ValueError, match=overflow):
        for _ in range(50):
            model.train_on_batch(x, y)
    steps = model.optimizer.iterations
    assert 0 < steps < 50
    snapshot = Unchanged(model)
    with pytest.raises(ValueError, match=overflow):
        model.train_on_batch(x, y)
    snapshot.check()

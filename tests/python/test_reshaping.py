"""ZeroPadding2D, Cropping2D, UpSampling2D, Reshape and Permute through
_core.LayerRunner against NumPy, with finite-difference gradients."""

import pickle

import numpy as np
import pytest

import pyconv
from gradcheck import assert_close_to_reference, check_layer_grads
from pyconv import _core
from pyconv import layers as L

RNG = np.random.default_rng(0)


def _run(layer, shape, batch=2):
    """The layer's core runner for per-sample `shape`, and a random batch."""
    runner = _core.LayerRunner(layer.core_config(), shape)
    return runner, RNG.standard_normal((batch,) + shape).astype(np.float32)


@pytest.mark.parametrize("padding, pads", [(1, (1, 1, 1, 1)), ((2, 0), (2, 2, 0, 0)),
                                           (((0, 3), (1, 2)), (0, 3, 1, 2))])
def test_zero_padding(padding, pads):
    runner, x = _run(L.ZeroPadding2D(padding), (3, 4, 2))
    t, b, l, r = pads
    expected = np.pad(x, ((0, 0), (t, b), (l, r), (0, 0)))
    np.testing.assert_array_equal(runner.forward(x), expected)
    check_layer_grads(runner, x)


@pytest.mark.parametrize("cropping, crops", [(1, (1, 1, 1, 1)), (((0, 2), (1, 0)), (0, 2, 1, 0))])
def test_cropping(cropping, crops):
    runner, x = _run(L.Cropping2D(cropping), (5, 4, 3))
    t, b, l, r = crops
    np.testing.assert_array_equal(runner.forward(x), x[:, t:5 - b, l:4 - r])
    check_layer_grads(runner, x)


def test_padding_and_cropping_survive_every_way_a_model_is_restored(tmp_path):
    # get_config gave the core's flat (top, bottom, left, right), which the
    # constructors refused: no such model could be loaded, unpickled or cloned.
    model = pyconv.Sequential([pyconv.Input((5, 6, 2)), L.ZeroPadding2D(((1, 2), (0, 3))),
                               L.Cropping2D(((2, 0), (1, 1))), L.Flatten(), L.Dense(3)])
    assert model.layers[0].get_config()["padding"] == ((1, 2), (0, 3))
    assert model.layers[1].get_config()["cropping"] == ((2, 0), (1, 1))
    x = np.random.default_rng(0).standard_normal((4, 5, 6, 2)).astype(np.float32)
    expected = model.predict(x, verbose=0)
    model.save(tmp_path / "m.pcv")
    restored = [pyconv.models.load_model(tmp_path / "m.pcv"), pickle.loads(pickle.dumps(model))]
    for rebuilt in (pyconv.models.clone_model(model), pyconv.models.model_from_json(model.to_json())):
        rebuilt.set_weights(model.get_weights())  # the architecture alone: weights fresh
        restored.append(rebuilt)
    for other in restored:
        np.testing.assert_array_equal(other.predict(x, verbose=0), expected)
    for layer in model.layers[:2]:
        assert type(layer).from_config(layer.get_config()).get_config() == layer.get_config()


def test_cropping_everything_away_is_refused_when_called():
    with pytest.raises(pyconv.ShapeError, match="leaves nothing"):
        L.Cropping2D(2)(pyconv.Input((4, 6, 1)))


@pytest.mark.parametrize("size", [(2, 2), (3, 1), (1, 2)])
def test_nearest_upsampling_repeats_pixels(size):
    runner, x = _run(L.UpSampling2D(size), (3, 4, 2))
    expected = np.repeat(np.repeat(x, size[0], axis=1), size[1], axis=2)
    np.testing.assert_array_equal(runner.forward(x), expected)
    check_layer_grads(runner, x)


def numpy_bilinear(x, sh, sw):
    """Half-pixel-centre bilinear resize (Keras; PyTorch align_corners=False)."""
    n, h, w, c = x.shape
    out = np.zeros((n, h * sh, w * sw, c))

    def taps(o, s, size):
        pos = max(0.0, (o + 0.5) / s - 0.5)
        lo = min(int(np.floor(pos)), size - 1)
        return lo, min(lo + 1, size - 1), pos - lo

    for oh in range(h * sh):
        h0, h1, fh = taps(oh, sh, h)
        for ow in range(w * sw):
            w0, w1, fw = taps(ow, sw, w)
            out[:, oh, ow] = ((1 - fh) * (1 - fw) * x[:, h0, w0] + (1 - fh) * fw * x[:, h0, w1]
                              + fh * (1 - fw) * x[:, h1, w0] + fh * fw * x[:, h1, w1])
    return out


@pytest.mark.parametrize("size", [(2, 2), (3, 2), (1, 4)])
def test_bilinear_upsampling(size):
    runner, x = _run(L.UpSampling2D(size, interpolation="bilinear"), (3, 5, 2))
    expected = numpy_bilinear(x.astype(np.float64), *size)
    assert_close_to_reference(runner.forward(x), expected, rtol=1e-5, atol_rel=1e-6)
    check_layer_grads(runner, x)


def test_bilinear_upsampling_matches_pytorch():
    torch = pytest.importorskip("torch")
    runner, x = _run(L.UpSampling2D((2, 3), interpolation="bilinear"), (4, 3, 2))
    t = torch.nn.functional.interpolate(torch.from_numpy(x).permute(0, 3, 1, 2),
                                        scale_factor=(2, 3), mode="bilinear",
                                        align_corners=False)
    np.testing.assert_allclose(runner.forward(x), t.permute(0, 2, 3, 1).numpy(),
                               rtol=1e-5, atol=1e-6)


@pytest.mark.parametrize("target", [(6, 4), (-1, 2), (24,), (2, 3, -1)])
def test_reshape(target):
    runner, x = _run(L.Reshape(target), (3, 4, 2))
    np.testing.assert_array_equal(runner.forward(x), x.reshape((2,) + target))
    check_layer_grads(runner, x)


def test_reshape_refuses_sizes_that_do_not_fit():
    inp = pyconv.Input((3, 4, 2))
    with pytest.raises(pyconv.ShapeError, match="cannot reshape"):
        L.Reshape((5, -1))(inp)
    with pytest.raises(pyconv.ShapeError, match="cannot reshape"):
        L.Reshape((5, 5))(inp)
    with pytest.raises(ValueError, match="at most one -1"):
        L.Reshape((-1, -1))(inp)


@pytest.mark.parametrize("dims", [(2, 1, 3), (3, 1, 2), (1, 2, 3)])
def test_permute(dims):
    runner, x = _run(L.Permute(dims), (3, 4, 2))
    np.testing.assert_array_equal(runner.forward(x), x.transpose((0,) + dims))
    check_layer_grads(runner, x)


def test_permute_needs_a_permutation():
    with pytest.raises(ValueError, match="permutation of 1..3"):
        L.Permute((1, 1, 2))(pyconv.Input((3, 4, 2)))


def test_a_small_encoder_decoder_trains():
    # Pad, pool, upsample, crop back and reshape: shapes line up and it learns.
    pyconv.set_seed(1)
    inp = pyconv.Input((6, 6, 1))
    x = L.ZeroPadding2D(1)(inp)
    x = L.Conv2D(4, 3, activation="relu")(x)
    x = L.MaxPooling2D()(x)
    x = L.UpSampling2D(interpolation="bilinear")(x)
    x = L.Conv2D(1, 3, padding="same")(L.Cropping2D(0)(x))
    out = L.Reshape((36,))(L.Permute((2, 1, 3))(x))
    model = pyconv.Model(inp, out)
    model.compile("adam", "mse")
    data = RNG.random((32, 6, 6, 1), dtype=np.float32)
    target = data.transpose(0, 2, 1, 3).reshape(32, 36)
    history = model.fit(data, target, epochs=30, batch_size=8, verbose=0)
    assert history.history["loss"][-1] < 0.5 * history.history["loss"][0]

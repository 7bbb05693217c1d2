"""Keras's preprocessing layers: Rescaling, Normalization, Resizing and the
random augmentations, against NumPy and SciPy (map_coordinates is the
resampling oracle), with finite-difference gradients; active only in training
(and in Keras's model(x) / layer(x) on arrays); saved with the model and run
by the native runtime."""

import pickle

import numpy as np
import pytest
from scipy import ndimage

import pyconv
from gradcheck import assert_close_to_reference, check_layer_grads
from native_tools import pyconv_run_outputs
from pyconv import _core
from pyconv import layers as L

RNG = np.random.default_rng(0)
# SciPy's names for Keras's fill modes.
SCIPY_MODE = {"reflect": "reflect", "wrap": "grid-wrap", "nearest": "nearest",
              "constant": "grid-constant"}


def _runner(layer, shape):
    return _core.LayerRunner(layer.core_config(), shape)


def _images(shape, batch=3):
    return RNG.standard_normal((batch,) + shape).astype(np.float32)


def resample_reference(x, coords_of, out_hw, order, mode, cval=0.0):
    """Each output pixel (r, c) of image n reads x[n] at coords_of(r, c):
    SciPy's map_coordinates, channel by channel, in float64."""
    oh, ow = out_hw
    rows, cols = np.meshgrid(np.arange(oh, dtype=np.float64), np.arange(ow, dtype=np.float64),
                             indexing="ij")
    y, x_ = coords_of(rows, cols)
    out = np.empty((len(x), oh, ow, x.shape[3]))
    for n in range(len(x)):
        for c in range(x.shape[3]):
            out[n, ..., c] = ndimage.map_coordinates(x[n, ..., c].astype(np.float64), [y, x_],
                                                     order=order, mode=SCIPY_MODE[mode],
                                                     cval=cval, prefilter=False)
    return out


# ----- Rescaling and Normalization ----------------------------------------------------

@pytest.mark.parametrize("shape", [(4, 5, 2), (28, 28, 1), (3, 3, 70)])
def test_rescaling(shape):
    # Grey images and many channels: the values are processed in rows of at
    # least 64, with a tail shorter than that.
    x = _images(shape)
    runner = _runner(L.Rescaling(1 / 255, offset=-0.5), shape)
    assert_close_to_reference(runner.forward(x), x / 255.0 - 0.5)
    check_layer_grads(runner, x)


def test_rescaling_refuses_per_channel_lists():
    with pytest.raises(ValueError, match="Normalization"):
        L.Rescaling([1.0, 2.0])


def test_an_adapted_normalization_knows_its_statistics_after_loading(tmp_path):
    # predict used them, but layer.mean was None and layer(x) on arrays
    # returned the input unchanged.
    x = (np.random.default_rng(0).random((4, 6, 5, 3)) * 10 + 5).astype(np.float32)
    layer = L.Normalization()
    layer.adapt(x)
    pyconv.Sequential([pyconv.Input((6, 5, 3)), layer]).save(tmp_path / "m.pcv")
    loaded = pyconv.models.load_model(tmp_path / "m.pcv")
    np.testing.assert_allclose(loaded.layers[0].mean, layer.mean, rtol=1e-6)
    np.testing.assert_allclose(loaded.layers[0](x), loaded.predict(x, verbose=0), atol=1e-6)
    fresh = L.Normalization()
    pyconv.Sequential([pyconv.Input((6, 5, 3)), fresh])
    assert fresh.mean is None  # unadapted stays unknown


def test_normalization_statistics_set_by_set_weights_survive_save_and_pickle(tmp_path):
    # Given mean and variance, then new ones by set_weights: the model file
    # and pickles were rebuilt from the constructor's values, silently.
    model = pyconv.Sequential([pyconv.Input((3,)),
                               L.Normalization(mean=[0.0, 0.0, 0.0], variance=[1.0, 1.0, 1.0])])
    model.set_weights([np.array([1.0, 2.0, 3.0], np.float32), np.array([4.0, 4.0, 4.0], np.float32)])
    x = np.ones((2, 3), np.float32)
    expected = model.predict(x, verbose=0)
    np.testing.assert_allclose(expected[0], [0.0, -0.5, -1.0])
    model.save(tmp_path / "m.pcv")
    for other in (pyconv.models.load_model(tmp_path / "m.pcv"), pickle.loads(pickle.dumps(model))):
        np.testing.assert_array_equal(other.predict(x, verbose=0), expected)
        np.testing.assert_array_equal(other.layers[0].mean, [1.0, 2.0, 3.0])
    layer = L.Normalization(axis=None, mean=0.0, variance=1.0)
    pyconv.Sequential([pyconv.Input((2,)), layer])
    layer.set_weights([np.array([5.0], np.float32), np.array([9.0], np.float32)])
    assert layer.get_config()["mean"] == [5.0] and layer.get_config()["variance"] == [9.0]


@pytest.mark.parametrize("axis", [-1, None])
def test_normalization_adapts_to_the_data(axis):
    x = (RNG.standard_normal((50, 3, 4, 3)) * [1, 5, 0.1] + [2, -3, 7]).astype(np.float32)
    norm = L.Normalization(axis=axis)
    norm.adapt(x, batch_size=7)  # several batches, combined exactly
    y = norm(x)
    reduce = (0, 1, 2) if axis == -1 else None
    mean = x.astype(np.float64).mean(axis=reduce)
    std = x.astype(np.float64).std(axis=reduce)
    assert_close_to_reference(y, (x - mean) / std)
    np.testing.assert_allclose(y.mean(axis=reduce), 0, atol=1e-5)
    np.testing.assert_allclose(y.std(axis=reduce), 1, atol=1e-4)
    # Its statistics, as Keras's standalone layer shows them.
    np.testing.assert_allclose(norm.mean, np.atleast_1d(mean), rtol=1e-6)
    np.testing.assert_allclose(norm.variance, np.atleast_1d(std ** 2), rtol=1e-6)
    assert [w.shape for w in norm.get_weights()] == [norm.mean.shape, norm.variance.shape]
    assert L.Normalization().mean is None and L.Normalization().get_weights() == []


def test_normalization_adapts_to_a_py_dataset_and_a_generator():
    x = RNG.standard_normal((40, 6)).astype(np.float32) * 3 + 1

    class Batches(pyconv.utils.PyDataset):
        def __len__(self):
            return 4

        def __getitem__(self, i):
            return x[i * 10:(i + 1) * 10], np.zeros(10)

    expected = (x - x.astype(np.float64).mean(0)) / x.astype(np.float64).std(0)
    for data in (Batches(), (x[i:i + 8] for i in range(0, 40, 8))):
        norm = L.Normalization()
        norm.adapt(data)
        assert_close_to_reference(norm(x), expected)


def test_normalization_with_given_statistics_and_invert():
    x = _images((3, 3, 2))
    mean, variance = [1.0, -2.0], [4.0, 0.25]
    norm = L.Normalization(mean=mean, variance=variance)
    expected = (x - np.array(mean)) / np.sqrt(variance)
    assert_close_to_reference(norm(x), expected)
    back = L.Normalization(mean=mean, variance=variance, invert=True)
    assert_close_to_reference(back(norm(x)), x)
    runner = _runner(norm, (3, 3, 2))
    runner.set_params([np.float32(mean), np.float32(variance)])
    check_layer_grads(runner, x)


def test_a_constant_channel_is_not_divided_by_zero():
    x = np.ones((4, 2, 2, 1), np.float32) * 3
    norm = L.Normalization()
    norm.adapt(x)
    np.testing.assert_array_equal(norm(x), 0.0)


def test_normalization_in_a_model_is_adapted_saved_and_loaded(tmp_path):
    x = (RNG.standard_normal((64, 4)) * 10 + 5).astype(np.float32)
    norm = L.Normalization()
    model = pyconv.Sequential([pyconv.Input((4,)), norm, L.Dense(2)])
    norm.adapt(x)  # after the model is built: its weights change
    mean, variance = norm.get_weights()
    np.testing.assert_allclose(mean, x.astype(np.float64).mean(0), rtol=1e-6)
    np.testing.assert_allclose(variance, x.astype(np.float64).var(0), rtol=1e-5)
    assert [w.name for w in norm.non_trainable_weights] == ["mean", "variance"]
    assert norm.trainable_weights == []
    model.compile("adam", "mse")
    model.fit(x, x[:, :2], epochs=1, verbose=0)
    np.testing.assert_array_equal(norm.get_weights()[0], mean)  # state: fit leaves it
    model.save(tmp_path / "m.pcv")
    loaded = pyconv.models.load_model(tmp_path / "m.pcv")
    np.testing.assert_array_equal(loaded.layers[0].get_weights()[0], mean)
    np.testing.assert_array_equal(loaded.predict(x), model.predict(x))
    # Adapted before the model exists: the model starts with those statistics.
    early = L.Normalization()
    early.adapt(x)
    model2 = pyconv.Sequential([pyconv.Input((4,)), early])
    np.testing.assert_allclose(model2.predict(x), norm(x), rtol=1e-6)


@pytest.mark.parametrize("make, error, match", [
    (lambda: L.Normalization(axis=1), ValueError, "axis=-1"),
    (lambda: L.Normalization(mean=[0.0]), ValueError, "both mean and variance"),
    (lambda: L.Normalization(mean=[0.0], variance=[-1.0]), ValueError, "non-negative"),
    (lambda: L.Normalization(mean=[0.0, 1.0], variance=[1.0]), ValueError, "same"),
])
def test_normalization_arguments_are_checked(make, error, match):
    with pytest.raises(error, match=match):
        make()


def test_adapt_refuses_bad_data():
    with pytest.raises(ValueError, match="finite"):
        L.Normalization().adapt(np.array([[1.0], [np.nan]]))
    with pytest.raises(ValueError, match="scalar"):
        L.Normalization().adapt(3.0)
    with pytest.raises(ValueError, match="no data"):
        L.Normalization().adapt(np.zeros((0, 3)))
    with pytest.raises(ValueError, match="given mean and variance"):
        L.Normalization(mean=0.0, variance=1.0).adapt(np.zeros((4, 1)))


def test_a_negative_variance_set_later_is_refused_when_run():
    model = pyconv.Sequential([pyconv.Input((2,)), L.Normalization()])
    model.layers[0].set_weights([np.zeros(2, np.float32), np.float32([1, -1])])
    with pytest.raises(ValueError, match="variance must be finite and non-negative"):
        model.predict(np.zeros((1, 2), np.float32))


# ----- Resizing -------------------------------------------------------------------------

def _resize_coords(in_hw, out_hw, window=None):
    """Half-pixel-centre coordinates of a resize of `window` (top, height, left,
    width; default the whole image) to out_hw."""
    top, height, left, width = window or (0, in_hw[0], 0, in_hw[1])
    sy, sx = height / out_hw[0], width / out_hw[1]

    def coords(r, c):
        # A resize reads inside its window (TensorFlow's and Keras's clamp).
        y = np.clip(top + (r + 0.5) * sy - 0.5, top, top + height - 1)
        x = np.clip(left + (c + 0.5) * sx - 0.5, left, left + width - 1)
        return y, x
    return coords


@pytest.mark.parametrize("in_hw, out_hw", [((5, 7), (9, 4)), ((6, 6), (3, 3)), ((1, 4), (3, 2)),
                                           ((4, 5), (4, 5))])
@pytest.mark.parametrize("interpolation", ["bilinear", "nearest"])
def test_resizing(in_hw, out_hw, interpolation):
    x = _images(in_hw + (2,))
    runner = _runner(L.Resizing(*out_hw, interpolation=interpolation), in_hw + (2,))
    if interpolation == "bilinear":
        expected = resample_reference(x, _resize_coords(in_hw, out_hw), out_hw, 1, "nearest")
    else:  # the pixel whose cell holds the output pixel's centre
        rows = np.minimum(((np.arange(out_hw[0]) + 0.5) * in_hw[0] / out_hw[0]).astype(int),
                          in_hw[0] - 1)
        cols = np.minimum(((np.arange(out_hw[1]) + 0.5) * in_hw[1] / out_hw[1]).astype(int),
                          in_hw[1] - 1)
        expected = x[:, rows][:, :, cols]
    assert_close_to_reference(runner.forward(x), expected, rtol=1e-5, atol_rel=1e-5)
    check_layer_grads(runner, x)


def test_resizing_matches_pytorch():
    torch = pytest.importorskip("torch")
    x = _images((7, 5, 3))
    for out_hw, mode in (((10, 12), "bilinear"), ((3, 4), "bilinear"), ((11, 3), "nearest-exact")):
        ours = L.Resizing(*out_hw, interpolation="bilinear" if mode == "bilinear"
                          else "nearest")(x)
        theirs = torch.nn.functional.interpolate(
            torch.from_numpy(x).permute(0, 3, 1, 2), size=out_hw, mode=mode,
            **({"align_corners": False} if mode == "bilinear" else {}))
        np.testing.assert_allclose(ours, theirs.permute(0, 2, 3, 1).numpy(), rtol=1e-5,
                                   atol=1e-5)


def test_resizing_can_crop_or_pad_to_the_aspect_ratio():
    x = _images((6, 10, 1))
    # Crop: the centred 6x6 window (columns 2..7), then resized.
    cropped = L.Resizing(3, 3, crop_to_aspect_ratio=True)(x)
    np.testing.assert_allclose(cropped, L.Resizing(3, 3)(x[:, :, 2:8]), rtol=1e-6, atol=1e-6)
    # Pad: a 10x10 picture with 2 rows of fill above and below, then resized.
    padded = L.Resizing(5, 5, pad_to_aspect_ratio=True, fill_value=0.5)(x)
    picture = np.pad(x, ((0, 0), (2, 2), (0, 0), (0, 0)), constant_values=0.5)
    np.testing.assert_allclose(padded, L.Resizing(5, 5)(picture), rtol=1e-6, atol=1e-6)
    runner = _runner(L.Resizing(5, 4, pad_to_aspect_ratio=True), (6, 10, 1))
    check_layer_grads(runner, x)


@pytest.mark.parametrize("make, match", [
    (lambda: L.Resizing(0, 3), "height must be a positive"),
    (lambda: L.Resizing(3, 3, interpolation="bicubic"), "'bilinear' or 'nearest'"),
    (lambda: L.Resizing(3, 3, antialias=True), "antialias"),
    (lambda: L.Resizing(3, 3, crop_to_aspect_ratio=True, pad_to_aspect_ratio=True), "both"),
    (lambda: L.Resizing(3, 3, fill_mode="reflect"), "'constant'"),
    (lambda: L.Resizing(2**40, 3), "at most"),
])
def test_resizing_arguments_are_checked(make, match):
    with pytest.raises(ValueError, match=match):
        make()


def test_image_layers_need_images():
    for layer in (L.Resizing(2, 2), L.RandomFlip(), L.RandomContrast(0.1), L.RandomCrop(1, 1)):
        with pytest.raises(pyconv.ShapeError, match=r"\(N, H, W, C\)"):
            layer(pyconv.Input((4, 4)))


# ----- the random spatial layers, with a fixed draw ----------------------------------

def _centre(h, w):
    return (h - 1) / 2.0, (w - 1) / 2.0


@pytest.mark.parametrize("mode", ["reflect", "wrap", "nearest", "constant"])
@pytest.mark.parametrize("interpolation, order", [("bilinear", 1), ("nearest", 0)])
def test_rotation_by_a_fixed_angle(mode, interpolation, order):
    h, w = 7, 9
    turns = 0.1  # 36 degrees, counter-clockwise
    layer = L.RandomRotation((turns, turns), fill_mode=mode, interpolation=interpolation,
                             fill_value=0.25)
    x = _images((h, w, 2))
    cy, cx = _centre(h, w)
    c, s = np.cos(2 * np.pi * turns), np.sin(2 * np.pi * turns)

    def coords(r, col):
        return cy + s * (col - cx) + c * (r - cy), cx + c * (col - cx) - s * (r - cy)

    expected = resample_reference(x, coords, (h, w), order, mode, 0.25)
    runner = _runner(layer, (h, w, 2))
    assert_close_to_reference(runner.forward(x, training=True), expected, rtol=1e-4,
                              atol_rel=1e-4)
    np.testing.assert_array_equal(runner.forward(x), x)  # inference: untouched
    if order == 1:
        check_layer_grads(runner, x, training=True)


def test_rotation_turns_counter_clockwise():
    x = np.zeros((1, 5, 5, 1), np.float32)
    x[0, 0, 4] = 1  # top right
    out = L.RandomRotation((0.25, 0.25), fill_mode="constant")(x)  # a quarter turn
    assert out[0, 0, 0, 0] == pytest.approx(1)  # now top left
    assert out.sum() == pytest.approx(1)


@pytest.mark.parametrize("mode", ["reflect", "wrap", "nearest", "constant"])
def test_translation_by_a_fixed_shift(mode):
    h, w = 6, 8
    layer = L.RandomTranslation((0.3, 0.3), (-0.45, -0.45), fill_mode=mode, fill_value=-1)
    x = _images((h, w, 1))
    dy, dx = 0.3 * h, -0.45 * w  # down and left

    expected = resample_reference(x, lambda r, c: (r - dy, c - dx), (h, w), 1, mode, -1)
    runner = _runner(layer, (h, w, 1))
    assert_close_to_reference(runner.forward(x, training=True), expected, rtol=1e-5,
                              atol_rel=1e-5)
    check_layer_grads(runner, x, training=True)


@pytest.mark.parametrize("height, width", [((0.5, 0.5), None), ((-0.3, -0.3), (0.2, 0.2))])
def test_zoom_by_a_fixed_factor(height, width):
    h, w = 8, 7
    layer = L.RandomZoom(height, width, fill_mode="reflect")
    x = _images((h, w, 2))
    zy = 1 + height[0]
    zx = zy if width is None else 1 + width[0]
    cy, cx = _centre(h, w)
    expected = resample_reference(x, lambda r, c: (cy + (r - cy) * zy, cx + (c - cx) * zx),
                                  (h, w), 1, "reflect")
    runner = _runner(layer, (h, w, 2))
    assert_close_to_reference(runner.forward(x, training=True), expected, rtol=1e-5,
                              atol_rel=1e-5)
    check_layer_grads(runner, x, training=True)


def test_a_positive_zoom_factor_zooms_out():
    x = np.zeros((1, 9, 9, 1), np.float32)
    x[0, 2:7, 2:7] = 1  # a 5x5 square
    out = L.RandomZoom((1.0, 1.0), fill_mode="constant")(x)  # twice as far: smaller
    assert 4 <= out.sum() < 25 / 2


# ----- the random draws -------------------------------------------------------------------

def _point_positions(layer, size=21, batch=200):
    """Where one bright centre pixel lands in each image of a batch."""
    x = np.zeros((batch, size, size, 1), np.float32)
    x[:, size // 2, size // 2] = 1
    out = layer(x)[..., 0]
    return [np.unravel_index(np.argmax(o), o.shape) for o in out]


def test_translation_draws_each_image_its_own_shift_within_the_range():
    layer = L.RandomTranslation((-0.2, 0.1), 0.3, interpolation="nearest",
                                fill_mode="constant", seed=5)
    size = 21
    shifts = np.array(_point_positions(layer, size)) - size // 2
    assert shifts[:, 0].min() >= np.floor(-0.2 * size) and shifts[:, 0].max() <= 0.1 * size + 1
    assert np.abs(shifts[:, 1]).max() <= 0.3 * size + 1
    assert len({tuple(s) for s in shifts}) > 30  # many different shifts
    assert shifts[:, 1].min() < -3 and shifts[:, 1].max() > 3  # both ways


def test_flip_flips_each_image_with_probability_one_half():
    x = _images((3, 4, 2), batch=400)
    for mode, candidates in (
            ("horizontal", lambda im: [im, im[:, ::-1]]),
            ("vertical", lambda im: [im, im[::-1]]),
            ("horizontal_and_vertical", lambda im: [im, im[::-1], im[:, ::-1], im[::-1, ::-1]])):
        out = L.RandomFlip(mode)(x)
        seen = [next(k for k, c in enumerate(candidates(im)) if np.array_equal(o, c))
                for o, im in zip(out, x)]
        counts = np.bincount(seen, minlength=len(candidates(x[0])))
        expected = len(x) / len(counts)
        assert np.all(np.abs(counts - expected) < 5 * np.sqrt(expected)), (mode, counts)
    runner = _runner(L.RandomFlip(seed=2), (3, 4, 2))
    check_layer_grads(runner, _images((3, 4, 2), batch=6), training=True)


def test_crop_takes_a_random_window_in_training_and_the_centre_at_inference():
    x = _images((7, 9, 2), batch=100)
    layer = L.RandomCrop(4, 5, seed=1)
    out = layer(x)
    offsets = set()
    for o, im in zip(out, x):
        found = [(i, j) for i in range(4) for j in range(5)
                 if np.array_equal(im[i:i + 4, j:j + 5], o)]
        assert found, "an output that is not a window of its image"
        offsets.add(found[0])
    assert len(offsets) > 10 and {0, 3} <= {i for i, _ in offsets}
    centre = layer(x, training=False)
    np.testing.assert_allclose(centre, L.Resizing(4, 5, crop_to_aspect_ratio=True)(x),
                               rtol=1e-6, atol=1e-6)
    # An image smaller than the crop is resized in training too.
    small = _images((3, 3, 1))
    np.testing.assert_allclose(L.RandomCrop(4, 5)(small),
                               L.Resizing(4, 5, crop_to_aspect_ratio=True)(small), rtol=1e-6)
    check_layer_grads(_runner(layer, (7, 9, 2)), x[:3], training=True)


def test_contrast_scales_each_image_about_its_channel_means():
    x = RNG.uniform(0, 1, (300, 5, 6, 2)).astype(np.float32)
    out = L.RandomContrast((0.4, 0.2), value_range=(-10, 10))(x)
    mean = x.mean(axis=(1, 2), keepdims=True)
    # out - mean = f * (x - mean): one f per image, for both channels.
    f = ((out - mean) * (x - mean)).sum(axis=(1, 2, 3)) / ((x - mean) ** 2).sum(axis=(1, 2, 3))
    np.testing.assert_allclose(out, (x - mean) * f[:, None, None, None] + mean, atol=1e-5)
    assert f.min() >= 0.6 - 1e-5 and f.max() <= 1.2 + 1e-5
    assert f.min() < 0.7 and f.max() > 1.1
    clipped = L.RandomContrast((0.0, 5.0), value_range=(0, 1), seed=3)(x)
    assert clipped.min() >= 0 and clipped.max() <= 1 and np.any(clipped == 1)
    runner = _runner(L.RandomContrast(0.5, value_range=(-1, 1), seed=4), (5, 6, 2))
    check_layer_grads(runner, x[:3] - 0.5, training=True)


@pytest.mark.parametrize("make, match", [
    (lambda: L.RandomRotation((0.2, 0.1)), "lower <= upper"),
    (lambda: L.RandomRotation(-0.1), "lower <= upper"),
    (lambda: L.RandomRotation(0.1, fill_mode="mirror"), "fill_mode must be"),
    (lambda: L.RandomRotation(0.1, interpolation="bicubic"), "interpolation must be"),
    (lambda: L.RandomTranslation(1.5, 0.1), r"within \[-1, 1\]"),
    (lambda: L.RandomZoom((-1.0, 0.5)), "greater than -1"),
    (lambda: L.RandomContrast(1.5), "lower <= 1"),
    (lambda: L.RandomContrast(0.2, value_range=(1, 0)), "low < high"),
    (lambda: L.RandomFlip("diagonal"), "mode must be"),
    (lambda: L.RandomCrop(0, 2), "positive"),
    (lambda: L.RandomRotation(float("nan")), "finite"),
    (lambda: L.RandomFlip(seed=-1), "seed"),
])
def test_random_layer_arguments_are_checked(make, match):
    with pytest.raises(ValueError, match=match):
        make()


# ----- in models ------------------------------------------------------------------------

def _augmenting_model(seed=None):
    return pyconv.Sequential([
        pyconv.Input((12, 12, 1)), L.Rescaling(1 / 255),
        L.RandomFlip("horizontal", seed=seed), L.RandomRotation(0.1, seed=seed),
        L.RandomTranslation(0.1, 0.1, seed=seed), L.RandomZoom(0.1, seed=seed),
        L.RandomContrast(0.2, value_range=(0, 1), seed=seed),
        L.Conv2D(4, 3, activation="relu"), L.Flatten(), L.Dense(3, activation="softmax")])


def _digits(n=64):
    x = RNG.uniform(0, 255, (n, 12, 12, 1)).astype(np.float32)
    return x, RNG.integers(0, 3, n)


def test_augmentation_acts_in_training_only():
    pyconv.set_seed(1)
    model = _augmenting_model()
    x, y = _digits()
    plain = pyconv.Sequential([pyconv.Input((12, 12, 1)), L.Rescaling(1 / 255),
                               L.Conv2D(4, 3, activation="relu"), L.Flatten(),
                               L.Dense(3, activation="softmax")])
    plain.set_weights(model.get_weights())
    np.testing.assert_array_equal(model.predict(x), plain.predict(x))
    model.compile("sgd", "sparse_categorical_crossentropy")
    plain.compile("sgd", "sparse_categorical_crossentropy")
    np.testing.assert_array_equal(model.evaluate(x, y, verbose=0),
                                  plain.evaluate(x, y, verbose=0))
    # A training step sees augmented images: its loss differs from the plain model's.
    assert model.train_on_batch(x, y) != plain.train_on_batch(x, y)


def test_a_seeded_augmentation_on_arrays_draws_from_its_seed():
    # As Keras's seeded layers: a new layer (or model) with the same seeds makes
    # the same draws; its draws went through pyconv's global generator instead.
    x = np.random.default_rng(0).random((2, 8, 8, 1)).astype(np.float32)
    first, again = L.RandomRotation(0.2, seed=3), L.RandomRotation(0.2, seed=3)
    np.testing.assert_array_equal(first(x), again(x))
    assert not np.array_equal(first(x), first(x))  # each call draws anew

    def model():
        return pyconv.Sequential([pyconv.Input((8, 8, 1)), L.RandomFlip(seed=1),
                                  L.RandomZoom(0.3, seed=2)])
    a, b = model(), model()
    np.testing.assert_array_equal(a(x), b(x))
    np.testing.assert_array_equal(a(x), b(x))


def test_model_call_augments_unless_training_is_false():
    aug = pyconv.Sequential([pyconv.Input((8, 8, 1)), L.RandomFlip(), L.RandomRotation(0.2)])
    x = _images((8, 8, 1), batch=8)
    first, second = aug(x), aug(x)
    assert not np.array_equal(first, x) and not np.array_equal(first, second)
    np.testing.assert_array_equal(aug(x, training=False), x)
    np.testing.assert_array_equal(aug.predict(x), x)
    assert not np.array_equal(aug(x, training=True), x)
    with_dropout = pyconv.Sequential([pyconv.Input((8, 8, 1)), L.RandomFlip(), L.Dropout(0.5)])
    with pytest.raises(ValueError, match="dropout or batch normalization"):
        with_dropout(x, training=True)


def test_draws_are_reproducible_and_independent_of_the_thread_count():
    x = _images((16, 16, 3), batch=32)
    outputs = []
    for threads in (1, 2):
        pyconv.set_num_threads(threads)
        try:
            runner = _runner(L.RandomRotation(0.3, seed=7), (16, 16, 3))
            outputs.append(runner.forward(x, training=True))
        finally:
            pyconv.set_num_threads(0)
    np.testing.assert_array_equal(outputs[0], outputs[1])


def test_training_with_augmentation_is_reproducible_and_resumes_from_a_file(tmp_path):
    x, y = _digits()

    def trained(epochs_before_save):
        pyconv.set_seed(4)
        model = _augmenting_model()
        model.compile("adam", "sparse_categorical_crossentropy")
        model.fit(x, y, batch_size=16, epochs=epochs_before_save, verbose=0, shuffle=False)
        return model

    whole = trained(2)
    half = trained(1)
    half.save(tmp_path / "half.pcv")
    resumed = pyconv.models.load_model(tmp_path / "half.pcv")
    resumed.fit(x, y, batch_size=16, epochs=1, verbose=0, shuffle=False)
    for a, b in zip(whole.get_weights(), resumed.get_weights()):
        np.testing.assert_array_equal(a, b)


def test_configs_round_trip():
    for layer in (L.Rescaling(0.5, 1.0), L.Normalization(axis=None, mean=2.0, variance=9.0),
                  L.Resizing(4, 6, interpolation="nearest", crop_to_aspect_ratio=True),
                  L.RandomCrop(3, 3, seed=1), L.RandomFlip("vertical"),
                  L.RandomRotation((-0.1, 0.3), fill_mode="wrap", fill_value=1.0),
                  L.RandomTranslation(0.2, (0.0, 0.1), interpolation="nearest"),
                  L.RandomZoom(0.2, 0.3), L.RandomContrast(0.3, value_range=(0, 1))):
        config = layer.get_config()
        copy = type(layer).from_config(config)
        assert copy.get_config() == config
        assert copy.core_config() == layer.core_config()


def test_a_model_with_preprocessing_is_saved_and_run_by_pyconv_run(tmp_path):
    pyconv.set_seed(2)
    x = RNG.uniform(0, 255, (16, 10, 10, 1)).astype(np.float32)
    norm = L.Normalization()
    model = pyconv.Sequential([pyconv.Input((10, 10, 1)), L.Rescaling(1 / 255), norm,
                               L.RandomFlip(), L.RandomRotation(0.1), L.Resizing(8, 8),
                               L.RandomCrop(6, 6), L.Conv2D(3, 3), L.Flatten(), L.Dense(2)])
    norm.adapt(x / 255)
    path = tmp_path / "prep.pcv"
    model.save(path)
    expected = model.predict(x)
    loaded = pyconv.models.load_model(path)
    assert [type(l).__name__ for l in loaded.layers[:6]] == [
        "Rescaling", "Normalization", "RandomFlip", "RandomRotation", "Resizing", "RandomCrop"]
    np.testing.assert_array_equal(loaded.predict(x), expected)
    np.testing.assert_array_equal(pyconv_run_outputs(path, x, tmp_path), expected)

"""DepthwiseConv2D, SeparableConv2D, Conv1D and Conv2DTranspose through
_core.LayerRunner: forward against NumPy references (reference.conv2d, and an
explicit scatter loop for the transposed convolution), gradients against
finite differences, Keras's weight shapes and output sizes."""

import numpy as np
import pytest

import pyconv
import reference as ref
from gradcheck import assert_close_to_reference, check_layer_grads, randomize_params
from pyconv import _core
from pyconv import layers as L

RNG = np.random.default_rng(0)


def _runner(layer, shape):
    runner = _core.LayerRunner(layer.core_config(), shape)
    params = randomize_params(runner, RNG)
    return runner, params


DEPTHWISE = [
    dict(kernel_size=3, depth_multiplier=1),
    dict(kernel_size=3, depth_multiplier=2, padding="same"),
    dict(kernel_size=(3, 2), strides=2, depth_multiplier=3),
    dict(kernel_size=3, dilation_rate=2, padding="same"),
]


@pytest.mark.parametrize("args", DEPTHWISE, ids=str)
@pytest.mark.parametrize("batch", [1, 2])
def test_depthwise(args, batch):
    runner, (kernel, bias) = _runner(L.DepthwiseConv2D(**args), (7, 6, 3))
    kh, kw, c, m = kernel.shape
    assert c == 3 and m == args.get("depth_multiplier", 1)
    x = RNG.standard_normal((batch, 7, 6, 3)).astype(np.float32)
    expected = ref.conv2d(x, kernel.reshape(kh, kw, 1, c * m), bias, groups=c,
                          strides=args.get("strides", 1), padding=args.get("padding", "valid"),
                          dilation_rate=args.get("dilation_rate", 1))
    assert_close_to_reference(runner.forward(x), expected)
    check_layer_grads(runner, x)


@pytest.mark.parametrize("args", [dict(filters=4, kernel_size=3),
                                  dict(filters=5, kernel_size=3, strides=2, padding="same",
                                       depth_multiplier=2)], ids=str)
def test_separable(args):
    runner, (depthwise, pointwise, bias) = _runner(L.SeparableConv2D(**args), (6, 7, 3))
    assert pointwise.shape == (1, 1, 3 * args.get("depth_multiplier", 1), args["filters"])
    x = RNG.standard_normal((2, 6, 7, 3)).astype(np.float32)
    kh, kw, c, m = depthwise.shape
    mid = ref.conv2d(x, depthwise.reshape(kh, kw, 1, c * m), groups=c,
                     strides=args.get("strides", 1), padding=args.get("padding", "valid"))
    expected = ref.conv2d(mid, pointwise, bias)
    assert_close_to_reference(runner.forward(x), expected)
    check_layer_grads(runner, x, training=True)


@pytest.mark.parametrize("args", [dict(kernel_size=3), dict(kernel_size=3, padding="same"),
                                  dict(kernel_size=3, padding="causal", dilation_rate=2),
                                  dict(kernel_size=2, strides=2), dict(kernel_size=3, groups=2)],
                         ids=str)
def test_conv1d(args):
    runner, (kernel, bias) = _runner(L.Conv1D(4, **args), (9, 2))
    k = args["kernel_size"]
    assert kernel.shape == (k, 2 // args.get("groups", 1), 4)
    x = RNG.standard_normal((2, 9, 2)).astype(np.float32)
    padding = args.get("padding", "valid")
    d = args.get("dilation_rate", 1)
    if padding == "causal":
        padding = (0, 0, d * (k - 1), 0)
    expected = ref.conv2d(x[:, None], kernel[None], bias, strides=(1, args.get("strides", 1)),
                          padding=padding, dilation_rate=(1, d), groups=args.get("groups", 1))
    assert_close_to_reference(runner.forward(x), expected[:, 0])
    check_layer_grads(runner, x)


def test_causal_conv1d_never_looks_ahead():
    runner, _ = _runner(L.Conv1D(3, 4, padding="causal"), (10, 1))
    x = RNG.standard_normal((1, 10, 1)).astype(np.float32)
    changed = x.copy()
    changed[0, 6:] += 5.0  # the future of step 5
    np.testing.assert_array_equal(runner.forward(changed)[0, :6], runner.forward(x)[0, :6])


def numpy_conv_transpose(x, kernel, bias, strides, dilation, out_hw, pad_before):
    """Each input pixel scatters kernel[kh, kw, :, c] * x into the output."""
    n, h, w, c = x.shape
    kh_n, kw_n, f, _ = kernel.shape
    y = np.zeros((n,) + tuple(out_hw) + (f,))
    for i in range(h):
        for j in range(w):
            for kh in range(kh_n):
                for kw in range(kw_n):
                    oh = i * strides[0] - pad_before[0] + kh * dilation[0]
                    ow = j * strides[1] - pad_before[1] + kw * dilation[1]
                    if 0 <= oh < out_hw[0] and 0 <= ow < out_hw[1]:
                        y[:, oh, ow] += x[:, i, j].astype(np.float64) @ kernel[kh, kw].T
    return y + bias


TRANSPOSED = [  # args, output (h, w) for a (4, 5) input, padding before
    (dict(kernel_size=3), (6, 7), (0, 0)),
    (dict(kernel_size=3, strides=2), (9, 11), (0, 0)),
    (dict(kernel_size=3, strides=2, padding="same"), (8, 10), (0, 0)),
    (dict(kernel_size=4, strides=2, padding="same"), (8, 10), (1, 1)),
    (dict(kernel_size=2, strides=3), (12, 15), (0, 0)),
    (dict(kernel_size=3, strides=2, output_padding=1), (10, 12), (0, 0)),
    (dict(kernel_size=3, strides=2, padding="same", output_padding=1), (8, 10), (1, 1)),
    (dict(kernel_size=3, dilation_rate=2), (8, 9), (0, 0)),
    (dict(kernel_size=1), (4, 5), (0, 0)),
]


@pytest.mark.parametrize("args, out_hw, pad", TRANSPOSED, ids=lambda v: str(v))
@pytest.mark.parametrize("batch", [1, 2])
def test_conv2d_transpose(args, out_hw, pad, batch):
    runner, (kernel, bias) = _runner(L.Conv2DTranspose(3, **args), (4, 5, 2))
    assert kernel.shape == (args["kernel_size"],) * 2 + (3, 2)
    assert tuple(runner.output_shape) == out_hw + (3,)
    x = RNG.standard_normal((batch, 4, 5, 2)).astype(np.float32)
    s = args.get("strides", 1)
    d = args.get("dilation_rate", 1)
    expected = numpy_conv_transpose(x, kernel, bias, (s, s), (d, d), out_hw, pad)
    assert_close_to_reference(runner.forward(x), expected)
    check_layer_grads(runner, x)


def test_conv2d_transpose_matches_pytorch():
    torch = pytest.importorskip("torch")
    runner, (kernel, bias) = _runner(L.Conv2DTranspose(3, 3, strides=2), (4, 5, 2))
    x = RNG.standard_normal((2, 4, 5, 2)).astype(np.float32)
    t = torch.nn.functional.conv_transpose2d(
        torch.from_numpy(x).permute(0, 3, 1, 2),
        torch.from_numpy(np.ascontiguousarray(kernel.transpose(3, 2, 0, 1))),
        torch.from_numpy(bias), stride=2)
    np.testing.assert_allclose(runner.forward(x), t.permute(0, 2, 3, 1).numpy(), rtol=1e-4,
                               atol=1e-5)


def test_arguments_are_checked():
    with pytest.raises(ValueError, match="output_padding must be"):
        L.Conv2DTranspose(2, 3, strides=2, output_padding=2)
    with pytest.raises(ValueError, match="'valid', 'same' or 'causal'"):
        L.Conv1D(2, 3, padding="full")
    with pytest.raises(ValueError, match="depth_multiplier must be positive"):
        L.DepthwiseConv2D(3, depth_multiplier=0)
    with pytest.raises(pyconv.ShapeError, match="steps, channels"):
        L.Conv1D(2, 3)(pyconv.Input((4, 4, 1)))


def test_param_counts_match_keras():
    # Keras: DepthwiseConv2D(3, depth_multiplier=2) on 8 channels: 3*3*8*2 + 16 = 160;
    # SeparableConv2D(16, 3) on 8: 72 + 128 + 16 = 216; Conv1D(8, 5) on 3: 128;
    # Conv2DTranspose(4, 3) on 6: 3*3*4*6 + 4 = 220.
    counts = [L.DepthwiseConv2D(3, depth_multiplier=2).count_params((10, 10, 8)),
              L.SeparableConv2D(16, 3).count_params((10, 10, 8)),
              L.Conv1D(8, 5).count_params((20, 3)),
              L.Conv2DTranspose(4, 3).count_params((5, 5, 6))]
    assert counts == [160, 216, 128, 220]


def test_an_fcn_style_model_trains_and_runs_natively(tmp_path):
    # Depthwise-separable features, a strided transposed convolution back up,
    # and a 1-D convolution over the rows.
    pyconv.set_seed(2)
    inp = pyconv.Input((8, 8, 1))
    x = L.Conv2D(4, 3, padding="same", activation="relu")(inp)
    x = L.DepthwiseConv2D(3, padding="same", depth_multiplier=2, activation="relu")(x)
    x = L.SeparableConv2D(6, 3, strides=2, padding="same", activation="relu")(x)
    x = L.Conv2DTranspose(4, 3, strides=2, padding="same", activation="relu")(x)
    x = L.Reshape((8, 32))(x)
    out = L.Reshape((64,))(L.Conv1D(8, 3, padding="causal")(x))
    model = pyconv.Model(inp, out)
    model.compile("adam", "mse")
    data = RNG.random((32, 8, 8, 1), dtype=np.float32)
    target = np.repeat(data.reshape(32, 64, 1)[:, ::8], 8, axis=1)[..., 0]
    history = model.fit(data, target, epochs=20, batch_size=8, verbose=0)
    assert history.history["loss"][-1] < 0.5 * history.history["loss"][0]
    from test_native_runtime import _library, assert_c_api_matches_python
    assert_c_api_matches_python(_library(), model, data[:5], tmp_path / "fcn.pcv")

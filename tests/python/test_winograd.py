"""The Winograd F(4x4, 3x3) path: 3x3, stride-1, ungrouped convolutions
(dilated ones too, as interleaved undilated ones) with at least 16 input and
16 output channels take it, for the
forward pass, the input gradient (as a convolution of dy with the flipped
kernel) and the kernel gradient (sums of transformed dy x transformed input
over tiles). Checked against the numpy reference and finite differences on
odd sizes, every padding form, dilations that do and do not divide the
output, ReLU, batch 1 and an image smaller than one tile."""

import numpy as np
import pytest

from pyconv import _core

import gradcheck
import kernel_cases
import reference

# (H, W, C, F, padding, activation, dilation) from tests/data/kernel_cases.txt.
CASES = [shape + (c["filters"], c["padding"], c["activation"], tuple(c["dilation_rate"]))
         for shape, c in kernel_cases.layers("winograd")]


def case_id(c):
    dilation = "" if c[6] == (1, 1) else f"-d{c[6][0]}{c[6][1]}"
    return f"{c[0]}x{c[1]}x{c[2]}to{c[3]}-{c[4]}{dilation}"


def make_runner(case, rng):
    h, w, c, f, padding, activation, dilation = case
    runner = _core.LayerRunner({"type": "Conv2D", "filters": f, "kernel_size": [3, 3],
                                "padding": padding, "activation": activation,
                                "dilation_rate": list(dilation)}, (h, w, c))
    return runner, gradcheck.randomize_params(runner, rng)


@pytest.mark.parametrize("case", CASES, ids=case_id)
@pytest.mark.parametrize("batch", [1, 3])
def test_winograd_forward_matches_reference(case, batch):
    rng = np.random.default_rng(batch)
    runner, (kernel, bias) = make_runner(case, rng)
    x = rng.standard_normal((batch,) + case[:3]).astype(np.float32)
    expected = reference.conv2d(x.astype(np.float64), kernel.astype(np.float64),
                                bias.astype(np.float64), padding=case[4],
                                dilation_rate=case[6], activation_name=case[5])
    gradcheck.assert_close_to_reference(runner.forward(x), expected)


@pytest.mark.parametrize("case", [c for c in CASES if c[5] == "linear"],
                         ids=case_id)
def test_winograd_backward_matches_finite_differences(case):
    rng = np.random.default_rng(7)
    runner, _ = make_runner(case, rng)
    x = rng.standard_normal((2,) + case[:3]).astype(np.float32)
    gradcheck.check_layer_grads(runner, x, seed=3)


@pytest.mark.parametrize("case", CASES, ids=case_id)
@pytest.mark.parametrize("batch", [1, 3])
def test_winograd_backward_matches_reference(case, batch):
    rng = np.random.default_rng(10 + batch)
    runner, (kernel, bias) = make_runner(case, rng)
    x = rng.standard_normal((batch,) + case[:3]).astype(np.float32)
    y = runner.forward(x, training=True)
    dy = rng.standard_normal(y.shape).astype(np.float32)
    dx, (dkernel, dbias) = runner.backward(dy)
    dy_pre = reference.activation_backward(case[5], y.astype(np.float64), dy.astype(np.float64))
    want_dx, want_dkernel, want_dbias = reference.conv2d_backward(
        x, kernel, dy_pre, padding=case[4], dilation_rate=case[6])
    gradcheck.assert_close_to_reference(dx, want_dx)
    gradcheck.assert_close_to_reference(dkernel, want_dkernel)
    gradcheck.assert_close_to_reference(dbias, want_dbias)


def test_transformed_kernel_follows_weight_changes():
    # The transformed kernel is kept between calls: set_weights and training
    # steps must both be seen by the next forward pass.
    import pyconv

    rng = np.random.default_rng(5)
    model = pyconv.Sequential([pyconv.Input((8, 8, 16)),
                               pyconv.layers.Conv2D(16, 3, padding="same")])
    model.compile(optimizer="sgd", loss="mse")
    x = rng.standard_normal((2, 8, 8, 16)).astype(np.float32)

    def expected():
        kernel, bias = model.get_weights()
        return reference.conv2d(x, kernel, bias, padding="same")

    gradcheck.assert_close_to_reference(model.predict(x, verbose=0), expected())
    kernel, bias = model.get_weights()
    model.set_weights([kernel * -2.0, bias + 1.0])
    gradcheck.assert_close_to_reference(model.predict(x, verbose=0), expected())
    model.train_on_batch(x, rng.standard_normal((2, 8, 8, 16)).astype(np.float32))
    gradcheck.assert_close_to_reference(model.predict(x, verbose=0), expected())

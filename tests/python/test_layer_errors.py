"""Bad configs, bad inputs and bad params raise ValueError/TypeError with a
message that names the layer and what was expected."""

import re
import subprocess
import sys
import textwrap

import numpy as np
import pytest

from pyconv import _core

DROP = object()  # marks a key to remove from a base config


def with_changes(base, **changes):
    cfg = dict(base)
    for key, value in changes.items():
        if value is DROP:
            cfg.pop(key, None)
        else:
            cfg[key] = value
    return cfg


CONV = {
    "type": "Conv2D",
    "name": "bad_conv",
    "filters": 4,
    "kernel_size": [3, 3],
    "strides": [1, 1],
    "padding": "valid",
    "dilation_rate": [1, 1],
    "groups": 1,
    "activation": "linear",
    "use_bias": True,
}
DENSE = {"type": "Dense", "name": "bad_dense", "units": 3, "activation": "linear", "use_bias": True}
POOL = {
    "type": "MaxPooling2D",
    "name": "bad_pool",
    "pool_size": [2, 2],
    "strides": [2, 2],
    "padding": "valid",
}
AVGPOOL = dict(POOL, type="AveragePooling2D", name="bad_avgpool")
DROPOUT = {"type": "Dropout", "name": "bad_dropout", "rate": 0.5, "seed": 1}
ACT = {"type": "Activation", "name": "bad_act", "activation": "relu"}
GAP = {"type": "GlobalAveragePooling2D", "name": "bad_gap"}
FLATTEN = {"type": "Flatten", "name": "bad_flatten"}

IMG = (6, 6, 4)

# (id, config, input_shape, regex the message must match)
CONFIG_ERRORS = [
    ("unknown_type", {"type": "Conv3D", "name": "bad_layer"}, IMG, r"(?i)Conv3D|type"),
    ("missing_type", {"name": "bad_layer", "filters": 3}, IMG, r"type"),
    ("conv_unknown_activation", with_changes(CONV, activation="swishy"), IMG, r"(?i)swishy|activation"),
    ("dense_unknown_activation", with_changes(DENSE, activation="swishy"), (5,), r"(?i)swishy|activation"),
    ("act_unknown_activation", with_changes(ACT, activation="swishy"), (5,), r"(?i)swishy|activation"),
    ("conv_filters_zero", with_changes(CONV, filters=0), IMG, r"filters"),
    ("conv_filters_negative", with_changes(CONV, filters=-3), IMG, r"filters"),
    ("conv_kernel_zero", with_changes(CONV, kernel_size=[0, 3]), IMG, r"kernel"),
    ("conv_kernel_negative", with_changes(CONV, kernel_size=[3, -1]), IMG, r"kernel"),
    ("conv_strides_zero", with_changes(CONV, strides=[1, 0]), IMG, r"stride"),
    ("conv_strides_negative", with_changes(CONV, strides=[-2, 1]), IMG, r"stride"),
    ("conv_dilation_zero", with_changes(CONV, dilation_rate=[0, 1]), IMG, r"dilation"),
    ("conv_groups_zero", with_changes(CONV, groups=0), IMG, r"groups"),
    ("conv_channels_not_divisible", with_changes(CONV, groups=3), IMG, r"groups"),
    ("conv_filters_not_divisible", with_changes(CONV, groups=2, filters=5), IMG, r"groups|filters"),
    ("conv_kernel_larger_than_input", with_changes(CONV, kernel_size=[7, 3]), IMG, r"(?i)kernel|input"),
    ("conv_dilated_kernel_too_large", with_changes(CONV, dilation_rate=[1, 3]), IMG, r"(?i)kernel|input"),
    (
        "conv_explicit_padding_too_small",
        with_changes(CONV, kernel_size=[9, 3], padding=[1, 1, 0, 0]),
        IMG,
        r"(?i)kernel|input",
    ),
    ("conv_missing_filters", with_changes(CONV, filters=DROP), IMG, r"filters"),
    ("conv_missing_kernel_size", with_changes(CONV, kernel_size=DROP), IMG, r"kernel_size"),
    ("conv_bad_padding_name", with_changes(CONV, padding="full"), IMG, r"padding"),
    ("conv_bad_padding_list", with_changes(CONV, padding=[1, 1, 1]), IMG, r"padding"),
    ("conv_negative_padding", with_changes(CONV, padding=[-1, 0, 0, 0]), IMG, r"padding"),
    ("conv_input_rank", CONV, (6, 6), r"(?i)expected|rank"),
    ("dense_units_zero", with_changes(DENSE, units=0), (5,), r"units"),
    ("dense_units_negative", with_changes(DENSE, units=-1), (5,), r"units"),
    ("dense_missing_units", with_changes(DENSE, units=DROP), (5,), r"units"),
    ("dense_input_scalar", DENSE, (), r"(?i)expected input of shape \(N, features\)"),
    ("maxpool_pool_zero", with_changes(POOL, pool_size=[0, 2]), IMG, r"pool"),
    ("maxpool_strides_zero", with_changes(POOL, strides=[2, 0]), IMG, r"stride"),
    ("maxpool_bad_padding", with_changes(POOL, padding="full"), IMG, r"padding"),
    ("maxpool_larger_than_input", with_changes(POOL, pool_size=[7, 2]), IMG, r"(?i)pool|input"),
    ("avgpool_pool_negative", with_changes(AVGPOOL, pool_size=[2, -2]), IMG, r"pool"),
    ("gap_input_rank", GAP, (5,), r"(?i)expected|rank"),
    ("dropout_rate_one", with_changes(DROPOUT, rate=1.0), (5,), r"rate"),
    ("dropout_rate_negative", with_changes(DROPOUT, rate=-0.1), (5,), r"rate"),
    ("dropout_rate_above_one", with_changes(DROPOUT, rate=1.5), (5,), r"rate"),
    ("dropout_missing_rate", with_changes(DROPOUT, rate=DROP), (5,), r"rate"),
    ("act_missing_activation", with_changes(ACT, activation=DROP), (5,), r"activation"),
]


def _params(table):
    return [pytest.param(*row[1:], id=row[0]) for row in table]


@pytest.mark.parametrize("config, input_shape, pattern", _params(CONFIG_ERRORS))
def test_bad_config(config, input_shape, pattern):
    with pytest.raises(ValueError, match=pattern) as info:
        _core.LayerRunner(config, tuple(input_shape))
    assert config["name"] in str(info.value), f"message does not name the layer: {info.value}"


@pytest.mark.parametrize(
    "config, key, value",
    [
        pytest.param(CONV, "filters", "8", id="conv_filters_str"),
        pytest.param(CONV, "kernel_size", "3", id="conv_kernel_size_str"),
        pytest.param(DENSE, "units", "3", id="dense_units_str"),
        pytest.param(DROPOUT, "rate", "0.5", id="dropout_rate_str"),
    ],
)
def test_wrong_attribute_type(config, key, value):
    cfg = with_changes(config, **{key: value})
    shape = (5,) if config["type"] in ("Dense", "Dropout") else IMG
    with pytest.raises(TypeError, match=key) as info:
        _core.LayerRunner(cfg, shape)
    assert cfg["name"] in str(info.value)


def test_config_without_name_still_errors():
    cfg = with_changes(CONV, filters=0, name=DROP)
    with pytest.raises(ValueError, match="filters"):
        _core.LayerRunner(cfg, IMG)


# --- forward / backward with the wrong input shape -------------------------------

SHAPE_ERRORS = [
    ("conv_channels", CONV, IMG, (2, 6, 6, 3)),
    ("conv_height", CONV, IMG, (2, 7, 6, 4)),
    ("conv_no_batch", CONV, IMG, (6, 6, 4)),
    ("conv_rank5", CONV, IMG, (1, 2, 6, 6, 4)),
    ("dense_features", DENSE, (5,), (2, 6)),
    ("dense_rank3", DENSE, (5,), (2, 5, 1)),
    ("dense_no_batch", DENSE, (5,), (5,)),
    ("maxpool_width", POOL, IMG, (2, 6, 5, 4)),
    ("avgpool_channels", AVGPOOL, IMG, (2, 6, 6, 5)),
    ("gap_channels", GAP, IMG, (2, 6, 6, 1)),
    ("flatten_shape", FLATTEN, IMG, (2, 6, 4, 6)),
    ("activation_shape", ACT, (5,), (2, 4)),
    ("dropout_shape", DROPOUT, (5,), (2, 5, 5)),
]


@pytest.mark.parametrize("config, input_shape, x_shape", _params(SHAPE_ERRORS))
def test_forward_wrong_shape(config, input_shape, x_shape):
    runner = _core.LayerRunner(config, tuple(input_shape))
    x = np.zeros(x_shape, np.float32)
    with pytest.raises(ValueError, match=r"(?i)expected") as info:
        runner.forward(x)
    assert isinstance(info.value, _core.ShapeError), type(info.value)
    # The message names the received shape: its dims, in order, after "received".
    received = r"(?i)received\D*" + r"\D+".join(str(d) for d in x_shape)
    assert re.search(received, str(info.value)), str(info.value)


def test_backward_wrong_shape():
    runner = _core.LayerRunner(CONV, IMG)
    y = runner.forward(np.zeros((2,) + IMG, np.float32))
    with pytest.raises(ValueError, match=r"(?i)expected"):
        runner.backward(np.zeros((y.shape[0], y.shape[1], y.shape[2], y.shape[3] + 1), np.float32))
    with pytest.raises(ValueError, match=r"(?i)expected"):
        runner.backward(np.zeros((3,) + y.shape[1:], np.float32))


def test_backward_before_forward():
    # Run in a child process: if the core crashes here instead of raising, only
    # this test fails rather than the whole pytest process.
    code = textwrap.dedent(
        """
        import numpy as np
        from pyconv import _core
        runner = _core.LayerRunner({"type": "Dense", "name": "d", "units": 3}, (5,))
        try:
            runner.backward(np.zeros((2, 3), np.float32))
        except (RuntimeError, ValueError) as e:
            assert "forward" in str(e).lower(), str(e)
            print("raised", type(e).__name__)
        else:
            raise SystemExit("backward() before forward() did not raise")
        """
    )
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60)
    assert proc.returncode == 0, f"exit code {proc.returncode}\n{proc.stdout}\n{proc.stderr}"
    assert "raised" in proc.stdout


def test_shape_error_class():
    assert issubclass(_core.ShapeError, ValueError)
    import pyconv

    assert pyconv.ShapeError is _core.ShapeError


# --- params ----------------------------------------------------------------------


def test_set_params_wrong_shape():
    runner = _core.LayerRunner(CONV, IMG)
    kernel, bias = runner.get_params()
    with pytest.raises(ValueError, match=r"(?i)expected|shape|kernel"):
        runner.set_params([np.zeros((3, 3, 4, 5), np.float32), bias])
    with pytest.raises(ValueError, match=r"(?i)expected|shape|bias"):
        runner.set_params([kernel, np.zeros((5,), np.float32)])
    # A failed set_params leaves the params unchanged.
    np.testing.assert_array_equal(runner.get_params()[0], kernel)


def test_set_params_wrong_count():
    runner = _core.LayerRunner(DENSE, (5,))
    kernel, bias = runner.get_params()
    with pytest.raises(ValueError, match=r"(?i)expected|param"):
        runner.set_params([kernel])
    with pytest.raises(ValueError, match=r"(?i)expected|param"):
        runner.set_params([kernel, bias, bias])


# --- losses ------------------------------------------------------------------------

SCE = {"type": "sparse_categorical_crossentropy", "from_logits": True}
CCE_LOGITS = {"type": "categorical_crossentropy", "from_logits": True}


@pytest.mark.parametrize("label", [10.0, -1.0, 2.5, 100.0])
def test_sparse_label_out_of_range(label):
    pred = np.zeros((3, 10), np.float32)
    target = np.array([0.0, label, 1.0], np.float32)
    with pytest.raises(ValueError, match=r"(?i)label|class|target|range"):
        _core.loss_and_grad(SCE, pred, target)


@pytest.mark.parametrize(
    "config, pred_shape, target_shape",
    [
        pytest.param(SCE, (2, 3), (3,), id="sparse_batch"),
        pytest.param(SCE, (2, 3), (2, 2), id="sparse_target_2d"),
        pytest.param(CCE_LOGITS, (2, 3), (2, 4), id="categorical_classes"),
        pytest.param(dict(CCE_LOGITS, from_logits=False), (2, 3), (3, 3), id="categorical_batch"),
        pytest.param({"type": "mse"}, (2, 3), (3, 2), id="mse_transposed"),
        pytest.param({"type": "hinge"}, (2, 3), (2, 1), id="hinge"),
    ],
)
def test_loss_shape_mismatch(config, pred_shape, target_shape):
    pred = np.full(pred_shape, 0.25, np.float32)
    target = np.zeros(target_shape, np.float32)
    with pytest.raises(ValueError, match=r"(?i)expected|shape|match"):
        _core.loss_and_grad(config, pred, target)


def test_unknown_loss():
    with pytest.raises(ValueError, match=r"(?i)huber_x|loss|type"):
        _core.loss_and_grad({"type": "huber_x"}, np.zeros((2, 2), np.float32), np.zeros((2, 2), np.float32))

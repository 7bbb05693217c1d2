"""BatchNormalization folded into the convolution or dense layer before it at
inference (and a following Activation into its output stores): predict and
evaluate run the folded layer, node_outputs and training run every node, so
the one is checked against the other."""

import numpy as np
import pytest

import pyconv
from pyconv import layers as L


def _randomize_norms(model, rng):
    """Moving statistics and scales far from their initial 0/1, so that a
    fold that left any of them out would show."""
    for layer in model.layers:
        if isinstance(layer, L.BatchNormalization):
            weights = layer.get_weights()
            c = weights[-1].shape
            new = [rng.uniform(0.5, 1.5, c).astype(np.float32) if i == 0 and layer._args["scale"]
                   else rng.uniform(-0.5, 0.5, c).astype(np.float32) for i in range(len(weights) - 2)]
            new += [rng.uniform(-0.5, 0.5, c).astype(np.float32),
                    rng.uniform(0.3, 2.0, c).astype(np.float32)]
            layer.set_weights(new)


def _unfolded(model, x):
    """The output computed node by node (node_outputs folds nothing). A
    compiled model's softmax runs inside its loss, so it is applied here."""
    (out,) = model._graph.node_outputs([x], [model._graph.outputs[0]])
    if model.layers[-1]._args.get("activation") == "softmax" and model._metrics is not None:
        e = np.exp(out - out.max(axis=1, keepdims=True))
        out = e / e.sum(axis=1, keepdims=True)
    return out


def _check(model, x, folds):
    assert len(model._graph.inference_folds) == folds
    np.testing.assert_allclose(model.predict(x), _unfolded(model, x), rtol=2e-5, atol=2e-5)


@pytest.mark.parametrize("make, shape", [
    (lambda: L.Conv2D(6, 3, padding="same", use_bias=False), (7, 7, 3)),
    (lambda: L.Conv2D(5, 3, strides=2, use_bias=True), (9, 8, 2)),
    (lambda: L.DepthwiseConv2D(3, depth_multiplier=2, use_bias=False), (6, 6, 3)),
    (lambda: L.SeparableConv2D(4, 3, depth_multiplier=2, padding="same"), (6, 5, 3)),
    (lambda: L.Conv1D(4, 3, use_bias=False), (9, 3)),
    (lambda: L.Dense(7), (5,)),
])
@pytest.mark.parametrize("activation", [None, "relu", "swish"])
def test_each_foldable_layer_with_and_without_an_activation(make, shape, activation):
    pyconv.set_seed(1)
    inp = pyconv.Input(shape=shape)
    x = L.BatchNormalization(epsilon=1e-2)(make()(inp))
    if activation:
        x = L.Activation(activation)(x)
    out = L.Dense(3)(L.Flatten()(x))
    model = pyconv.Model(inp, out)
    _randomize_norms(model, np.random.default_rng(0))
    x = np.random.default_rng(2).standard_normal((4,) + shape).astype(np.float32)
    _check(model, x, folds=1)
    last = model._graph.inference_folds[0][2]
    assert isinstance(model._node_layers[last], L.Activation if activation else
                      L.BatchNormalization)


def test_the_fold_follows_training_and_set_weights():
    pyconv.set_seed(0)
    model = pyconv.Sequential([pyconv.Input((8, 8, 1)), L.Conv2D(4, 3, use_bias=False),
                               L.BatchNormalization(momentum=0.5), L.Activation("relu"),
                               L.Flatten(), L.Dense(3, activation="softmax")])
    model.compile(pyconv.optimizers.Adam(0.05), "sparse_categorical_crossentropy")
    rng = np.random.default_rng(0)
    x = rng.standard_normal((16, 8, 8, 1)).astype(np.float32)
    y = rng.integers(0, 3, 16)
    before = model.predict(x)
    model.fit(x, y, epochs=2, batch_size=4, verbose=0)  # weights and moving statistics move
    after = model.predict(x)
    assert not np.allclose(before, after)
    _check(model, x, folds=1)
    _randomize_norms(model, rng)
    _check(model, x, folds=1)
    # evaluate (inference) agrees with the loss of the node-by-node output
    probs = _unfolded(model, x)
    loss = np.mean(-np.log(probs[np.arange(16), y]))
    np.testing.assert_allclose(model.evaluate(x, y, verbose=0), loss, rtol=1e-4)


def test_chains_that_cannot_fold_run_node_by_node():
    pyconv.set_seed(0)
    inp = pyconv.Input(shape=(6, 6, 2))
    a = L.Conv2D(3, 3, activation="relu")(inp)         # an activation of its own
    a = L.BatchNormalization()(a)
    b = L.Conv2D(3, 3)(inp)
    nb = L.BatchNormalization()(b)
    b2 = L.Activation("relu")(b)                        # b is read twice
    out = L.Flatten()(L.Concatenate()([a, nb, b2]))
    model = pyconv.Model(inp, L.Dense(2)(out))
    _randomize_norms(model, np.random.default_rng(1))
    x = np.random.default_rng(3).standard_normal((3, 6, 6, 2)).astype(np.float32)
    _check(model, x, folds=0)


def test_a_normalization_that_is_an_output_folds_but_keeps_its_activation_apart():
    pyconv.set_seed(0)
    inp = pyconv.Input(shape=(5,))
    hidden = L.BatchNormalization()(L.Dense(4)(inp))
    out = L.Activation("softmax")(hidden)
    model = pyconv.Model(inp, [hidden, out])
    _randomize_norms(model, np.random.default_rng(1))
    x = np.random.default_rng(0).standard_normal((3, 5)).astype(np.float32)
    assert [f[2] for f in model._graph.inference_folds] == [1]  # the activation stays
    h, p = model.predict(x)
    (h_ref, p_ref) = model._graph.node_outputs([x], [1, 2])
    np.testing.assert_allclose(h, h_ref, rtol=2e-5, atol=2e-5)
    np.testing.assert_allclose(p, p_ref, rtol=2e-5, atol=2e-5)


def test_a_saved_resnet_folds_in_python_and_in_the_c_api(tmp_path):
    from test_native_runtime import _library, assert_c_api_matches_python

    pyconv.set_seed(0)
    model = pyconv.applications.resnet20(input_shape=(12, 12, 1), num_classes=4)
    _randomize_norms(model, np.random.default_rng(0))
    assert len(model._graph.inference_folds) >= 19  # every conv of ResNet-20 has its norm
    x = np.random.default_rng(1).standard_normal((2, 12, 12, 1)).astype(np.float32)
    _check(model, x, folds=len(model._graph.inference_folds))
    assert_c_api_matches_python(_library(), model, x, tmp_path / "r.pcv")

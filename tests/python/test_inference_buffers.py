"""Inference reuses buffers: a node's output shares memory with outputs that
every reader has finished with (skip connections keep theirs alive), so a
deep model holds a few layers' activations, not all of them."""

import numpy as np

import pyconv
from pyconv import layers as L


def _resnet_like():
    pyconv.set_seed(0)
    inp = pyconv.Input((12, 12, 4))
    x = L.Conv2D(8, 3, padding="same", activation="relu")(inp)
    for _ in range(6):  # residual blocks: the skip is read long after it is made
        y = L.Conv2D(8, 3, padding="same", activation="relu")(x)
        y = L.Conv2D(8, 3, padding="same")(y)
        x = L.Activation("relu")(L.Add()([x, y]))
    side = L.Dense(3, name="side")(L.Flatten()(x))
    out = L.Dense(5, activation="softmax")(L.GlobalAveragePooling2D()(x))
    return pyconv.Model(inp, [out, side])


def test_shared_buffers_give_the_node_by_node_results():
    model = _resnet_like()
    x = np.random.default_rng(0).standard_normal((7, 12, 12, 4)).astype(np.float32)
    graph = model._graph
    last = list(graph.outputs)
    reference = graph.node_outputs([x], last)       # every node its own buffer
    for _ in range(2):  # the same pooled context, switching between the two ways
        for got, want in zip(model.predict(x), reference):
            np.testing.assert_array_equal(got, want)
        for got, want in zip(graph.node_outputs([x], last), reference):
            np.testing.assert_array_equal(got, want)
    small = model.predict(x[:2])  # a smaller batch in the same buffers
    for got, want in zip(small, graph.node_outputs([x[:2]], last)):
        np.testing.assert_array_equal(got, want)


def test_a_deep_model_holds_a_few_layers_of_activations_at_inference():
    model = _resnet_like()
    x = np.random.default_rng(0).standard_normal((64, 12, 12, 4)).astype(np.float32)
    model.predict(x)
    held = model._graph.held_bytes
    one_map = 64 * 12 * 12 * 8 * 4  # bytes of one conv output
    layers = model._graph.num_layers
    assert held < 6 * one_map, (held, one_map)   # not one buffer per layer
    assert layers > 20

"""Element-wise layers (activations, BatchNormalization, Dropout, Flatten,
Reshape) write their input's gradient over their output's in a training
step, and a sum hands its output's gradient to its first input: one buffer
for a chain of them, and the same gradients as apart."""

import numpy as np
import pytest

import pyconv
from pyconv import layers as L

from gradcheck import _coords, assert_grad_close, check_model_grads, numeric_grad

RNG = np.random.default_rng(11)


def _chain_model(acts, shape=(16, 16, 8)):
    inp = pyconv.Input(shape)
    h = L.Conv2D(shape[-1], 1)(inp)
    for a in acts:
        h = L.Activation(a)(h)
    model = pyconv.Model(inp, L.Dense(2)(L.Flatten()(h)))
    model.compile("sgd", "mse")
    return model


def test_a_chain_of_element_wise_layers_holds_one_gradient_buffer():
    model = _chain_model(["tanh"] * 3)
    x = RNG.standard_normal((32, 16, 16, 8)).astype(np.float32)
    model.train_on_batch(x, np.zeros((32, 2), np.float32))
    one_map = x.nbytes
    # Backward reads the three tanh outputs and Flatten's (Dense's input):
    # four maps; the gradients of all five layers after the convolution
    # pass through one more (two alternating buffers before).
    assert model._graph.held_bytes < 5.01 * one_map, model._graph.held_bytes / one_map


# (Smooth activations: finite differences across ReLU's kink would not match.)
@pytest.mark.parametrize("acts", [["tanh", "sigmoid"], ["softplus", "linear", "gelu"],
                                  ["swish", "softmax"]])
def test_gradients_through_a_chain_match_finite_differences(acts):
    inp = pyconv.Input((3, 3, 4))
    h = L.Conv2D(4, 1)(inp)
    for a in acts:
        h = L.Activation(a)(h)
    h = L.ELU()(L.Reshape((9, 4))(h))
    model = pyconv.Model(inp, L.Dense(3)(L.Flatten()(h)))
    model.compile("sgd", "mse")
    check_model_grads(model._graph, RNG.standard_normal((5, 3, 3, 4)).astype(np.float32),
                      RNG.standard_normal((5, 3)).astype(np.float32))


@pytest.mark.parametrize("later", ["sum", "product"])
def test_a_tensor_read_by_an_in_place_layer_and_a_merge_gets_both_gradients(later):
    # The convolution's output feeds tanh and a later merge, whose backward
    # writes its gradient first: tanh's share is added to it, and tanh's
    # output gradient (which the product writes too) is not that buffer.
    inp = pyconv.Input((3, 3, 2))
    a = L.Conv2D(2, 1)(inp)
    b = L.Activation("tanh")(a)
    if later == "sum":
        c = L.Activation("sigmoid")(L.Conv2D(2, 1)(inp))
        merged = L.Add()([a, L.Multiply()([b, c])])
    else:
        merged = L.Multiply()([b, a])
    model = pyconv.Model(inp, L.Dense(3)(L.Flatten()(L.Activation("tanh")(merged))))
    model.compile("sgd", "mse")
    check_model_grads(model._graph, RNG.standard_normal((4, 3, 3, 2)).astype(np.float32),
                      RNG.standard_normal((4, 3)).astype(np.float32))


@pytest.mark.parametrize("merge", ["add", "add_self", "subtract", "add_broadcast", "add_three"])
def test_a_sum_passes_its_output_gradient_to_its_first_input_in_place(merge):
    # Add's and Subtract's first input takes dout itself; the other inputs'
    # gradients must be read from it before anything else writes there.
    inp = pyconv.Input((3, 3, 2))
    a = L.Activation("tanh")(L.Conv2D(2, 1)(inp))
    b = L.Conv2D(2, 1)(inp)
    if merge == "add":
        merged = L.Add()([a, b])
    elif merge == "add_self":
        merged = L.Add()([a, a])
    elif merge == "subtract":
        merged = L.Subtract()([a, b])
    elif merge == "add_broadcast":
        merged = L.Add()([a, L.GlobalAveragePooling2D(keepdims=True)(b)])
    else:
        merged = L.Add()([a, b, L.Activation("sigmoid")(a)])
    model = pyconv.Model(inp, L.Dense(3)(L.Flatten()(L.Activation("tanh")(merged))))
    model.compile("sgd", "mse")
    check_model_grads(model._graph, RNG.standard_normal((4, 3, 3, 2)).astype(np.float32),
                      RNG.standard_normal((4, 3)).astype(np.float32))


def test_batch_normalization_in_training_mode_matches_finite_differences():
    """Conv -> BN -> tanh -> Flatten -> Dense with the batch's statistics:
    the numeric loss is a training step's at learning rate 0 (the batch
    statistics, as in the step that gives the analytic gradient)."""
    inp = pyconv.Input((3, 3, 4))
    h = L.Activation("tanh")(L.BatchNormalization()(L.Conv2D(4, 1)(inp)))
    model = pyconv.Model(inp, L.Dense(2)(L.Flatten()(h)))
    model.compile("sgd", "mse")
    graph = model._graph
    x = RNG.standard_normal((6, 3, 3, 4)).astype(np.float32)
    y = RNG.standard_normal((6, 2)).astype(np.float32)
    layers = range(graph.num_layers)
    before = [[np.array(w) for w in graph.get_weights(i)] for i in layers]
    graph.compile(graph.loss_config, {"type": "sgd", "learning_rate": 1.0})
    graph.train_step(x, y)
    analytic = before[0][0] - np.array(graph.get_weights(0)[0])
    for i in layers:
        graph.set_weights(i, before[i])
    graph.compile(graph.loss_config, {"type": "sgd", "learning_rate": 0.0})

    def loss_at(kernel):
        graph.set_weights(0, [kernel, before[0][1]])
        return float(graph.train_step(x, y)[0])

    idx = _coords(before[0][0].size, 12, np.random.default_rng(0))
    numeric = numeric_grad(loss_at, before[0][0].copy(), idx, 1e-2)
    assert_grad_close(numeric, analytic.reshape(-1)[idx], "conv kernel")


def test_dropout_in_place_keeps_what_its_forward_kept():
    """Dense(W = ones) on the rows of the identity -> Dropout(0.5) -> a
    fixed Dense(v): h = 1 everywhere, so W's gradient (row i, unit j) is
    dL/dh_ij = (2 out_i / n) * 2 v_j where the backward kept unit j of
    sample i, and 0 elsewhere; the loss, the mean of out_i^2 with out_i =
    sum_j 2 v_j over the units the forward kept, must agree with it."""
    n = 64
    inp = pyconv.Input((n,))
    dense = L.Dense(n, use_bias=False, kernel_initializer="ones")
    head = L.Dense(1, use_bias=False, trainable=False)
    model = pyconv.Model(inp, head(L.Dropout(0.5, seed=3)(dense(inp))))
    v = RNG.uniform(0.5, 1.5, (n, 1)).astype(np.float32)
    head.set_weights([v])
    model.compile(pyconv.optimizers.SGD(1.0), "mse")
    x = np.eye(n, dtype=np.float32)
    loss = float(model.train_on_batch(x, np.zeros((n, 1), np.float32)))
    grad = 1.0 - dense.get_weights()[0].astype(np.float64)  # W was ones, lr 1
    kept = grad != 0
    assert 0.3 < kept.mean() < 0.7, kept.mean()
    out = 2.0 * (kept * v[:, 0]).sum(axis=1)
    np.testing.assert_allclose(loss, np.mean(out ** 2), rtol=1e-5)
    expected = np.where(kept, (2.0 / n) * out[:, None] * 2.0 * v[:, 0], 0.0)
    np.testing.assert_allclose(grad, expected, rtol=1e-4, atol=1e-6)

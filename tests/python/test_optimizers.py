"""Optimizer updates against Keras 3's formulas, recomputed here in numpy (float64).

Each test drives a real model, Input((3,)) -> Dense(2), compiled with "mse", through
`train_on_batch` and compares its weights after every step with the reference. The mse
gradient is written out by hand: loss = mean((pred - y)**2) over all N*2 elements, so
dL/dpred = 2 * (pred - y) / (N * 2), dL/dkernel = x.T @ dpred, dL/dbias = sum(dpred).
"""

import numpy as np
import pytest

import pyconv
from pyconv import optimizers

RTOL, ATOL = 1e-5, 2e-6

W0 = np.array([[0.5, -0.3], [0.2, 0.8], [-0.6, 0.1]])
B0 = np.array([0.05, -0.1])


def _batches(steps=3):
    """Batches whose gradients change size from step to step, with a tiny one in the
    middle, so that momentum, bias correction and AMSGrad's running maximum all matter."""
    rng = np.random.default_rng(42)
    out = []
    for scale in (1.0, 0.02, 0.5)[:steps]:
        x = rng.uniform(-1, 1, (4, 3))
        out.append((x, scale * rng.uniform(-2, 2, (4, 2))))
    return out


def _mse_grads(w, b, x, y):
    pred = x @ w + b
    dpred = 2.0 * (pred - y) / pred.size
    return x.T @ dpred, dpred.sum(axis=0)


def _model(optimizer):
    model = pyconv.Sequential([pyconv.Input((3,)), pyconv.layers.Dense(2, use_bias=True)])
    model.compile(optimizer=optimizer, loss="mse")
    model.set_weights([W0.astype(np.float32), B0.astype(np.float32)])
    return model


# --- reference updates (Keras 3), one function per optimizer ----------------------------
# Each takes (params, grads, state, t, lr) and returns new params; `state` is a dict of
# per-parameter slot lists, updated in place; t counts steps from 1.


def _decay(params, lr, weight_decay):
    """Keras 3's decoupled weight decay: w -= lr * wd * w, before the optimizer's update."""
    if not weight_decay:
        return params
    return [p - lr * weight_decay * p for p in params]


def sgd_ref(momentum=0.0, nesterov=False, weight_decay=None):
    def step(params, grads, state, t, lr):
        params = _decay(params, lr, weight_decay)
        out = []
        for i, (p, g) in enumerate(zip(params, grads)):
            if momentum == 0.0:
                out.append(p - lr * g)
                continue
            m = state.setdefault("m", [np.zeros_like(q) for q in params])
            m[i] = momentum * m[i] - lr * g
            out.append(p + momentum * m[i] - lr * g if nesterov else p + m[i])
        return out
    return step


def adam_ref(beta_1=0.9, beta_2=0.999, epsilon=1e-7, amsgrad=False, weight_decay=None):
    def step(params, grads, state, t, lr):
        params = _decay(params, lr, weight_decay)
        m = state.setdefault("m", [np.zeros_like(q) for q in params])
        v = state.setdefault("v", [np.zeros_like(q) for q in params])
        vhat = state.setdefault("vhat", [np.zeros_like(q) for q in params])
        lr_t = lr * np.sqrt(1 - beta_2 ** t) / (1 - beta_1 ** t)
        out = []
        for i, (p, g) in enumerate(zip(params, grads)):
            m[i] = beta_1 * m[i] + (1 - beta_1) * g
            v[i] = beta_2 * v[i] + (1 - beta_2) * g * g
            denom = v[i]
            if amsgrad:
                vhat[i] = np.maximum(vhat[i], v[i])
                denom = vhat[i]
            out.append(p - lr_t * m[i] / (np.sqrt(denom) + epsilon))
        return out
    return step


def rmsprop_ref(rho=0.9, momentum=0.0, epsilon=1e-7, centered=False, weight_decay=None):
    def step(params, grads, state, t, lr):
        params = _decay(params, lr, weight_decay)
        v = state.setdefault("v", [np.zeros_like(q) for q in params])
        mom = state.setdefault("mom", [np.zeros_like(q) for q in params])
        avg = state.setdefault("avg", [np.zeros_like(q) for q in params])
        out = []
        for i, (p, g) in enumerate(zip(params, grads)):
            v[i] = rho * v[i] + (1 - rho) * g * g
            if centered:
                avg[i] = rho * avg[i] + (1 - rho) * g
                denom = v[i] - avg[i] ** 2 + epsilon
            else:
                denom = v[i] + epsilon
            increment = lr * g / np.sqrt(denom)  # Keras 3: epsilon inside the square root
            if momentum > 0:
                mom[i] = momentum * mom[i] + increment
                out.append(p - mom[i])
            else:
                out.append(p - increment)
        return out
    return step


def _reference_run(ref_step, batches, lrs):
    params, state, trajectory = [W0.copy(), B0.copy()], {}, []
    for t, ((x, y), lr) in enumerate(zip(batches, lrs), start=1):
        grads = _mse_grads(params[0], params[1], x, y)
        params = ref_step(params, grads, state, t, lr)
        trajectory.append(params)
    return trajectory


def _check_against_reference(optimizer, ref_step, lr, steps=3):
    model = _model(optimizer)
    batches = _batches(steps)
    expected = _reference_run(ref_step, batches, [lr] * steps)
    for t, ((x, y), (w_ref, b_ref)) in enumerate(zip(batches, expected), start=1):
        model.train_on_batch(x.astype(np.float32), y.astype(np.float32))
        w, b = model.get_weights()
        np.testing.assert_allclose(w, w_ref, rtol=RTOL, atol=ATOL, err_msg=f"kernel, step {t}")
        np.testing.assert_allclose(b, b_ref, rtol=RTOL, atol=ATOL, err_msg=f"bias, step {t}")
    assert optimizer.iterations == steps


SGD_CASES = {
    "plain": dict(),
    "momentum": dict(momentum=0.9),
    "nesterov": dict(momentum=0.9, nesterov=True),
    "weight_decay": dict(weight_decay=0.5),
    "momentum_weight_decay": dict(momentum=0.5, weight_decay=0.5),
}


@pytest.mark.parametrize("kwargs", SGD_CASES.values(), ids=SGD_CASES.keys())
def test_sgd_matches_keras_formula(kwargs):
    lr = 0.1
    _check_against_reference(optimizers.SGD(learning_rate=lr, **kwargs), sgd_ref(**kwargs), lr)


ADAM_CASES = {
    "default": dict(),
    "amsgrad": dict(beta_2=0.5, amsgrad=True),
    "small_beta2": dict(beta_2=0.5),
    "large_epsilon": dict(epsilon=0.1),  # epsilon is added outside the square root
    "weight_decay": dict(weight_decay=0.5),
}


@pytest.mark.parametrize("kwargs", ADAM_CASES.values(), ids=ADAM_CASES.keys())
def test_adam_matches_keras_formula(kwargs):
    lr = 0.05
    _check_against_reference(optimizers.Adam(learning_rate=lr, **kwargs), adam_ref(**kwargs), lr)


def test_amsgrad_batches_exercise_the_running_maximum():
    # Guards the data above: with these batches AMSGrad must take a different path.
    batches = _batches()
    plain = _reference_run(adam_ref(beta_2=0.5), batches, [0.05] * 3)
    ams = _reference_run(adam_ref(beta_2=0.5, amsgrad=True), batches, [0.05] * 3)
    assert np.abs(plain[-1][0] - ams[-1][0]).max() > 1e-3


RMSPROP_CASES = {
    "plain": dict(),
    "momentum": dict(momentum=0.9),
    "centered": dict(centered=True),
    "centered_momentum": dict(centered=True, momentum=0.5),
    "weight_decay": dict(weight_decay=0.5),
}


@pytest.mark.parametrize("kwargs", RMSPROP_CASES.values(), ids=RMSPROP_CASES.keys())
def test_rmsprop_matches_keras_formula(kwargs):
    # A negligible epsilon isolates rho, momentum and centring from where epsilon is
    # added, which test_rmsprop_epsilon_inside_square_root checks (zero is refused).
    lr = 0.01
    kwargs = dict(kwargs, epsilon=1e-30)
    _check_against_reference(optimizers.RMSprop(learning_rate=lr, **kwargs),
                             rmsprop_ref(**kwargs), lr)


@pytest.mark.parametrize("kwargs", [dict(), dict(centered=True), dict(momentum=0.9),
                                    dict(epsilon=0.05)],
                         ids=["default", "centered", "momentum", "large_epsilon"])
def test_rmsprop_epsilon_inside_square_root(kwargs):
    lr = 0.01
    _check_against_reference(optimizers.RMSprop(learning_rate=lr, **kwargs),
                             rmsprop_ref(**kwargs), lr)


def test_default_hyperparameters_match_keras():
    assert optimizers.SGD().get_config() == {"name": "SGD", "learning_rate": 0.01,
                                             "momentum": 0.0, "nesterov": False}
    assert optimizers.Adam().get_config() == {"name": "adam", "learning_rate": 0.001,
                                              "beta_1": 0.9, "beta_2": 0.999, "epsilon": 1e-7,
                                              "amsgrad": False}
    assert optimizers.RMSprop().get_config() == {"name": "rmsprop", "learning_rate": 0.001,
                                                 "rho": 0.9, "momentum": 0.0, "epsilon": 1e-7,
                                                 "centered": False}


@pytest.mark.parametrize("name,cls", [("sgd", optimizers.SGD), ("adam", optimizers.Adam),
                                      ("RMSprop", optimizers.RMSprop)])
def test_optimizer_by_name(name, cls):
    model = _model(name)
    assert isinstance(model.optimizer, cls)
    assert model.optimizer.learning_rate == pytest.approx(cls().learning_rate)


# --- learning rate and iteration count ----------------------------------------------------


@pytest.mark.parametrize("make,ref", [
    (lambda: optimizers.SGD(learning_rate=0.1, momentum=0.9), sgd_ref(momentum=0.9)),
    (lambda: optimizers.Adam(learning_rate=0.1), adam_ref()),
], ids=["sgd_momentum", "adam"])
def test_learning_rate_setter_changes_the_live_rate(make, ref):
    optimizer = make()
    model = _model(optimizer)
    batches = _batches(2)
    expected = _reference_run(ref, batches, [0.1, 0.02])
    model.train_on_batch(*(a.astype(np.float32) for a in batches[0]))
    optimizer.learning_rate = 0.02
    assert optimizer.learning_rate == pytest.approx(0.02)
    assert model.optimizer.learning_rate == pytest.approx(0.02)
    model.train_on_batch(*(a.astype(np.float32) for a in batches[1]))
    for got, want in zip(model.get_weights(), expected[-1]):
        np.testing.assert_allclose(got, want, rtol=RTOL, atol=ATOL)


def test_learning_rate_zero_freezes_weights():
    optimizer = optimizers.SGD(learning_rate=0.1)
    model = _model(optimizer)
    optimizer.learning_rate = 0.0
    x, y = _batches(1)[0]
    model.train_on_batch(x.astype(np.float32), y.astype(np.float32))
    np.testing.assert_array_equal(model.get_weights()[0], W0.astype(np.float32))


def test_learning_rate_before_compile():
    optimizer = optimizers.Adam(learning_rate=0.01)
    assert optimizer.learning_rate == pytest.approx(0.01)
    optimizer.learning_rate = 0.3
    assert optimizer.learning_rate == pytest.approx(0.3)
    model = _model(optimizer)  # the value set before compile is the one used
    assert model.optimizer.learning_rate == pytest.approx(0.3)


def test_learning_rate_setter_rejects_negative_values():
    optimizer = optimizers.SGD(learning_rate=0.1)
    _model(optimizer)
    with pytest.raises(ValueError, match="non-negative"):
        optimizer.learning_rate = -0.5
    assert optimizer.learning_rate == pytest.approx(0.1)


def test_iterations_count_training_steps_only():
    optimizer = optimizers.SGD(learning_rate=0.01)
    assert optimizer.iterations == 0
    model = _model(optimizer)
    assert optimizer.iterations == 0
    x, y = (a.astype(np.float32) for a in _batches(1)[0])
    model.train_on_batch(x, y)
    model.train_on_batch(x, y)
    assert optimizer.iterations == 2
    model.test_on_batch(x, y)
    model.evaluate(x, y, verbose=0)
    model.predict(x, verbose=0)
    assert optimizer.iterations == 2
    xs = np.tile(x, (5, 1))  # 20 samples, batch_size 8 -> 3 steps per epoch
    ys = np.tile(y, (5, 1))
    model.fit(xs, ys, batch_size=8, epochs=2, verbose=0)
    assert optimizer.iterations == 2 + 6


# --- invalid arguments --------------------------------------------------------------------


@pytest.mark.parametrize("make,match", [
    (lambda: optimizers.SGD(learning_rate=-0.1), "learning_rate"),
    (lambda: optimizers.Adam(learning_rate=-1.0), "learning_rate"),
    (lambda: optimizers.RMSprop(learning_rate=-1e-3), "learning_rate"),
    (lambda: optimizers.SGD(learning_rate=float("nan")), "learning_rate"),
    (lambda: optimizers.SGD(momentum=1.0), "momentum"),
    (lambda: optimizers.SGD(momentum=1.5), "momentum"),
    (lambda: optimizers.SGD(momentum=-0.1), "momentum"),
    (lambda: optimizers.Adam(beta_1=1.0), "beta_1"),
    (lambda: optimizers.Adam(beta_2=1.0), "beta_2"),
    (lambda: optimizers.Adam(epsilon=-1e-7), "epsilon"),
    # Found: epsilon=0 and an infinite learning rate were accepted (0/0 and inf*g steps).
    (lambda: optimizers.Adam(epsilon=0), "epsilon must be a positive"),
    (lambda: optimizers.RMSprop(epsilon=0.0), "epsilon must be a positive"),
    (lambda: optimizers.Adam(learning_rate=float("inf")), "learning_rate"),
    (lambda: optimizers.SGD(learning_rate=float("inf")), "learning_rate"),
    (lambda: optimizers.RMSprop(rho=1.0), "rho"),
    (lambda: optimizers.RMSprop(momentum=1.0), "momentum"),
    (lambda: optimizers.SGD(weight_decay=-0.1), "weight_decay"),
    (lambda: optimizers.Adagrad(epsilon=0), "epsilon must be a positive"),
    (lambda: optimizers.Adagrad(initial_accumulator_value=-1), "initial_accumulator_value"),
    (lambda: optimizers.Adadelta(rho=1.0), "rho"),
    (lambda: optimizers.Adamax(beta_2=1.5), "beta_2"),
    (lambda: optimizers.Nadam(beta_1=1.0), "beta_1"),
    (lambda: optimizers.Lion(beta_1=2.0), "beta_1"),
    (lambda: optimizers.Lion(clipnorm=1.0, global_clipnorm=1.0), "only one of"),
])
def test_invalid_hyperparameters_raise(make, match):
    with pytest.raises(ValueError, match=match):
        make()


def test_unknown_optimizer_name_raises():
    with pytest.raises(ValueError, match=r"unknown optimizer 'adafactor'.*'sgd'"):
        optimizers.get("adafactor")
    model = pyconv.Sequential([pyconv.Input((3,)), pyconv.layers.Dense(2)])
    with pytest.raises(ValueError, match="unknown optimizer"):
        model.compile(optimizer="ftrl", loss="mse")


@pytest.mark.parametrize("bad", [42, None, 0.01])
def test_optimizer_of_the_wrong_type_raises(bad):
    model = pyconv.Sequential([pyconv.Input((3,)), pyconv.layers.Dense(2)])
    with pytest.raises(TypeError, match="optimizer must be a name"):
        model.compile(optimizer=bad, loss="mse")


@pytest.mark.parametrize("bad", [float("inf"), float("nan"), -1.0])
def test_live_learning_rate_must_be_finite_and_non_negative(bad):
    # Found: an infinite learning rate set on a compiled model's optimizer was accepted.
    model = pyconv.Sequential([pyconv.Input((3,)), pyconv.layers.Dense(2)])
    model.compile(optimizers.SGD(learning_rate=0.1), "mse")
    with pytest.raises(ValueError, match="learning_rate"):
        model.optimizer.learning_rate = bad
    assert model.optimizer.learning_rate == pytest.approx(0.1)
    with pytest.raises(ValueError, match="learning_rate"):
        model._graph.learning_rate = bad
    assert model._graph.learning_rate == pytest.approx(0.1)


# --- Adagrad, Adadelta, Adamax, Nadam, Lion (Keras 3's formulas) ------------------------

def _slots(state, name, params, value=0.0):
    return state.setdefault(name, [np.full_like(q, value) for q in params])


def adagrad_ref(initial_accumulator_value=0.1, epsilon=1e-7, weight_decay=None):
    def step(params, grads, state, t, lr):
        params = _decay(params, lr, weight_decay)
        acc = _slots(state, "acc", params, initial_accumulator_value)
        out = []
        for i, (p, g) in enumerate(zip(params, grads)):
            acc[i] = acc[i] + g * g
            out.append(p - lr * g / np.sqrt(acc[i] + epsilon))
        return out
    return step


def adadelta_ref(rho=0.95, epsilon=1e-7, weight_decay=None):
    def step(params, grads, state, t, lr):
        params = _decay(params, lr, weight_decay)
        ag, ad = _slots(state, "ag", params), _slots(state, "ad", params)
        out = []
        for i, (p, g) in enumerate(zip(params, grads)):
            ag[i] = rho * ag[i] + (1 - rho) * g * g
            delta = -np.sqrt(ad[i] + epsilon) * g / np.sqrt(ag[i] + epsilon)
            ad[i] = rho * ad[i] + (1 - rho) * delta * delta
            out.append(p + lr * delta)
        return out
    return step


def adamax_ref(beta_1=0.9, beta_2=0.999, epsilon=1e-7, weight_decay=None):
    def step(params, grads, state, t, lr):
        params = _decay(params, lr, weight_decay)
        m, u = _slots(state, "m", params), _slots(state, "u", params)
        out = []
        for i, (p, g) in enumerate(zip(params, grads)):
            m[i] = m[i] + (g - m[i]) * (1 - beta_1)
            u[i] = np.maximum(beta_2 * u[i], np.abs(g))
            out.append(p - lr / (1 - beta_1 ** t) * m[i] / (u[i] + epsilon))
        return out
    return step


def nadam_ref(beta_1=0.9, beta_2=0.999, epsilon=1e-7, weight_decay=None):
    def step(params, grads, state, t, lr):
        params = _decay(params, lr, weight_decay)
        m, v = _slots(state, "m", params), _slots(state, "v", params)
        u_t = beta_1 * (1 - 0.5 * 0.96 ** t)  # keras/src/optimizers/nadam.py
        u_next = beta_1 * (1 - 0.5 * 0.96 ** (t + 1))
        product = state.get("u_product", 1.0) * u_t
        state["u_product"] = product
        out = []
        for i, (p, g) in enumerate(zip(params, grads)):
            m[i] = m[i] + (g - m[i]) * (1 - beta_1)
            v[i] = v[i] + (g * g - v[i]) * (1 - beta_2)
            m_hat = u_next * m[i] / (1 - product * u_next) + (1 - u_t) * g / (1 - product)
            v_hat = v[i] / (1 - beta_2 ** t)
            out.append(p - m_hat * lr / (np.sqrt(v_hat) + epsilon))
        return out
    return step


def lion_ref(beta_1=0.9, beta_2=0.99, weight_decay=None):
    def step(params, grads, state, t, lr):
        params = _decay(params, lr, weight_decay)
        m = _slots(state, "m", params)
        out = []
        for i, (p, g) in enumerate(zip(params, grads)):
            out.append(p - lr * np.sign(beta_1 * m[i] + (1 - beta_1) * g))
            m[i] = beta_2 * m[i] + (1 - beta_2) * g
        return out
    return step


ADAPTIVE_CASES = {
    "adagrad": (optimizers.Adagrad, adagrad_ref, dict()),
    "adagrad_acc0": (optimizers.Adagrad, adagrad_ref, dict(initial_accumulator_value=0.0)),
    "adadelta": (optimizers.Adadelta, adadelta_ref, dict()),
    "adadelta_rho": (optimizers.Adadelta, adadelta_ref, dict(rho=0.5, epsilon=1e-3)),
    "adamax": (optimizers.Adamax, adamax_ref, dict()),
    "adamax_decay": (optimizers.Adamax, adamax_ref, dict(beta_1=0.5, weight_decay=0.1)),
    "nadam": (optimizers.Nadam, nadam_ref, dict()),
    "nadam_betas": (optimizers.Nadam, nadam_ref, dict(beta_1=0.5, beta_2=0.9)),
    "lion": (optimizers.Lion, lion_ref, dict()),
    "lion_decay": (optimizers.Lion, lion_ref, dict(beta_1=0.5, weight_decay=0.2)),
}


@pytest.mark.parametrize("case", ADAPTIVE_CASES)
def test_adaptive_optimizers_match_keras_formulas(case):
    make, ref, kwargs = ADAPTIVE_CASES[case]
    lr = 1.0 if make is optimizers.Adadelta else 0.05  # Adadelta's steps are tiny
    _check_against_reference(make(learning_rate=lr, **kwargs), ref(**kwargs), lr, steps=3)


def test_nadam_resumes_its_momentum_schedule_after_a_save(tmp_path):
    batches = _batches(3)
    expected = _reference_run(nadam_ref(), batches, [0.05] * 3)[-1]
    model = _model(optimizers.Nadam(learning_rate=0.05))
    for x, y in batches[:2]:
        model.train_on_batch(x.astype(np.float32), y.astype(np.float32))
    model.save(tmp_path / "nadam.pcv")
    loaded = pyconv.models.load_model(tmp_path / "nadam.pcv")
    loaded.train_on_batch(batches[2][0].astype(np.float32), batches[2][1].astype(np.float32))
    w, b = loaded.get_weights()
    np.testing.assert_allclose(w, expected[0], rtol=RTOL, atol=ATOL)
    np.testing.assert_allclose(b, expected[1], rtol=RTOL, atol=ATOL)
    assert type(loaded.optimizer).__name__ == "Nadam"


@pytest.mark.parametrize("name", ["adagrad", "adadelta", "adamax", "nadam", "lion"])
def test_adaptive_optimizers_by_name_and_arguments(name):
    model = _model(name)
    assert type(model.optimizer).__name__.lower() == name
    with pytest.raises(ValueError, match="learning_rate"):
        optimizers.get(name).__class__(learning_rate=-1.0)

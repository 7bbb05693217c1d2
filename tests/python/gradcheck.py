"""Central finite-difference gradient checks for LayerRunner and loss_and_grad.

The scalar checked for a layer is L = sum(forward(x) * R) with a fixed random R,
accumulated in float64; backward(R) must return dL/dx and dL/dparam.

Tolerance (why rtol = atol_rel = 1e-2 is enough and not too loose):
  * Truncation error of the central difference is eps^2/6 * |L'''|. For conv,
    dense, pooling (away from max ties), flatten and the linear activation, L
    is exactly linear in any single coordinate, so this term is 0. For
    tanh/sigmoid/softmax, |L'''| is O(|grad|) and eps = 1e-2 gives a relative
    error around 2e-5.
  * Rounding: the layer computes in float32 (unit roundoff u = 2^-24 = 6e-8).
    Outputs that do not depend on the perturbed coordinate are bit-identical in
    L(+eps) and L(-eps) and cancel; each of the A affected outputs carries an
    error of about sqrt(K) * u * |y| for a reduction of length K. The quotient
    error is then about sqrt(A) * sqrt(K) * u * max|y R| / eps; with our shapes
    (A <= ~500, K <= ~400, |y R| <= ~5, eps = 1e-2) that is <= 1e-3, against
    gradients of order 0.1 to 10.
  * The step actually taken is (x+eps)_f32 - (x-eps)_f32, which we divide by
    (not 2*eps), removing the float32 representation error of the step.
  So each checked coordinate must satisfy
      |numeric - analytic| <= rtol * |analytic| + atol_rel * rms(analytic)
  with 1e-2 for both: a 1% margin is ~10x the expected noise, while indexing,
  padding or accumulation bugs give errors of the order of the gradient itself.
"""

import numpy as np

N_COORDS = 30


def _coords(size, n_coords, rng):
    if size <= n_coords:
        return np.arange(size)
    return np.sort(rng.choice(size, n_coords, replace=False))


def numeric_grad(f, arr, coords, eps):
    """Central differences of the scalar f(arr) at the flat indices `coords`.

    `arr` is a float32 array that is perturbed in place and restored.
    """
    flat = arr.reshape(-1)
    assert np.shares_memory(flat, arr)
    out = np.empty(len(coords))
    for n, idx in enumerate(coords):
        orig = flat[idx]
        flat[idx] = orig + np.float32(eps)
        hi = np.float64(flat[idx])
        f_hi = f(arr)
        flat[idx] = orig - np.float32(eps)
        lo = np.float64(flat[idx])
        f_lo = f(arr)
        flat[idx] = orig
        out[n] = (f_hi - f_lo) / (hi - lo)
    return out


def assert_grad_close(numeric, analytic, what, rtol=1e-2, atol_rel=1e-2, atol_min=1e-6):
    numeric = np.asarray(numeric, np.float64)
    analytic = np.asarray(analytic, np.float64)
    assert np.all(np.isfinite(analytic)), f"{what}: non-finite analytic gradient"
    scale = float(np.sqrt(np.mean(analytic * analytic))) if analytic.size else 0.0
    atol = max(atol_rel * scale, atol_min)
    err = np.abs(numeric - analytic)
    bad = err > atol + rtol * np.abs(analytic)
    if np.any(bad):
        i = int(np.argmax(err - rtol * np.abs(analytic)))
        raise AssertionError(
            f"{what}: {int(bad.sum())}/{bad.size} coordinates differ; worst sample #{i}: "
            f"numeric={numeric[i]:.6g} analytic={analytic[i]:.6g} (atol={atol:.3g}, rtol={rtol})\n"
            f"numeric={np.array2string(numeric, precision=4)}\n"
            f"analytic={np.array2string(analytic, precision=4)}"
        )


def check_layer_grads(
    runner,
    x,
    *,
    seed=0,
    eps=1e-2,
    n_coords=N_COORDS,
    rtol=1e-2,
    atol_rel=1e-2,
    check_input=True,
    training=False,
):
    """Check runner.backward against finite differences for x and every param
    (non-trainable state has no gradient and is left out)."""
    rng = np.random.default_rng(seed)
    x = np.ascontiguousarray(x, dtype=np.float32).copy()
    y = runner.forward(x.copy(), training=training)
    r = rng.standard_normal(y.shape).astype(np.float32)
    r64 = r.astype(np.float64)
    dx, dparams = runner.backward(r)
    dparams = list(dparams)
    names = list(runner.param_names)
    params = [np.array(p, dtype=np.float32, copy=True) for p in runner.get_params()]
    assert len(dparams) == len(params) == len(names)
    assert dx.shape == x.shape, (dx.shape, x.shape)
    # State (moving statistics) has no gradient: a 0-d array stands for it.
    checked = [k for k, (p, dp) in enumerate(zip(params, dparams))
               if np.ndim(dp) or not np.ndim(p)]
    for k in checked:
        assert dparams[k].shape == params[k].shape, (names[k], dparams[k].shape, params[k].shape)

    def loss_at(xx):
        out = runner.forward(xx, training=training)
        return float(np.sum(np.asarray(out, np.float64) * r64))

    if check_input:
        idx = _coords(x.size, n_coords, rng)
        num = numeric_grad(loss_at, x, idx, eps)
        assert_grad_close(num, np.asarray(dx).reshape(-1)[idx], "d/d input", rtol, atol_rel)

    for k in checked:
        name, pk = names[k], params[k].copy()

        def loss_param(arr, k=k):
            ps = list(params)
            ps[k] = arr
            runner.set_params(ps)
            return loss_at(x)

        idx = _coords(pk.size, n_coords, rng)
        num = numeric_grad(loss_param, pk, idx, eps)
        runner.set_params(params)
        assert_grad_close(num, np.asarray(dparams[k]).reshape(-1)[idx], f"d/d {name}", rtol, atol_rel)


def check_loss_grad(
    core,
    config,
    pred,
    target,
    *,
    seed=0,
    eps=1e-3,
    n_coords=N_COORDS,
    rtol=1e-2,
    atol_rel=1e-2,
):
    """Check the grad returned by loss_and_grad against differences of its loss."""
    rng = np.random.default_rng(seed)
    pred = np.ascontiguousarray(pred, dtype=np.float32).copy()
    target = np.ascontiguousarray(target, dtype=np.float32)
    _, grad = core.loss_and_grad(config, pred.copy(), target)
    grad = np.asarray(grad)
    assert grad.shape == pred.shape

    def loss_at(p):
        return float(core.loss_and_grad(config, p, target)[0])

    idx = _coords(pred.size, n_coords, rng)
    num = numeric_grad(loss_at, pred, idx, eps)
    assert_grad_close(num, grad.reshape(-1)[idx], f"d loss/d pred ({config})", rtol, atol_rel)


def spaced_values(shape, rng, spacing=0.05):
    """Distinct values, at least `spacing` apart, in random order, centred on 0.

    For max-pool and ReLU: with eps well below spacing/2 no finite-difference
    step can swap the order of two elements or cross the ReLU kink.
    """
    n = int(np.prod(shape))
    vals = (np.arange(n) - n // 2 + 0.5) * spacing  # |v| >= spacing/2: never at the kink
    return rng.permutation(vals).reshape(shape).astype(np.float32)


def randomize_params(runner, rng, scale=0.5):
    """Replace every param by N(0, scale^2) values; returns the float32 list."""
    params = [(scale * rng.standard_normal(np.shape(p))).astype(np.float32) for p in runner.get_params()]
    runner.set_params(params)
    return params


def assert_close_to_reference(actual, expected, rtol=1e-4, atol_rel=1e-4):
    """float32 result vs float64 reference.

    float32 accumulation of K terms has an error of about sqrt(K) * 6e-8 times
    the term size; our reductions have K <= ~500, so 1e-4 of the output scale
    is a >50x margin while any indexing bug is of the order of the output.
    """
    actual = np.asarray(actual)
    expected = np.asarray(expected, np.float64)
    assert actual.shape == expected.shape, (actual.shape, expected.shape)
    assert actual.dtype == np.float32, actual.dtype
    scale = max(1.0, float(np.sqrt(np.mean(expected * expected))) if expected.size else 1.0)
    np.testing.assert_allclose(actual, expected, rtol=rtol, atol=atol_rel * scale)


def _steps(graph, x, target):
    """train(), loss() on one batch; lists of arrays for several inputs/outputs."""
    if isinstance(x, list):
        return (lambda: graph.train_step_multi(x, target),
                lambda: float(graph.test_step_multi(x, target)[0]))
    return lambda: graph.train_step(x, target), lambda: float(graph.test_step(x, target)[0])


def _owned_layers(graph):
    """Node indices that own their layer (a shared layer's later calls do not)."""
    return [i for i in range(graph.num_layers) if graph.layer_owner(i) == i]


def check_model_grads(graph, x, target, *, seed=0, eps=1e-2, n_coords=12, rtol=1e-2,
                      atol_rel=1e-2):
    """A whole-model gradient check: d loss / d every parameter of a compiled
    _core.Graph, numeric (central differences of test_step's loss) against
    analytic (what one SGD step with learning rate 1 subtracts), for every
    trainable weight. The graph is
    recompiled with that optimizer; its weights are left as they were."""
    loss_config = graph.loss_config
    graph.compile(loss_config, {"type": "sgd", "learning_rate": 1.0})
    train, test_loss = _steps(graph, x, target)
    rng = np.random.default_rng(seed)
    layers = _owned_layers(graph)
    before = {i: [np.array(w, np.float32) for w in graph.get_weights(i)] for i in layers}
    train()
    analytic = {i: [b - np.asarray(a) for b, a in zip(before[i], graph.get_weights(i))]
                for i in layers}
    for i in layers:
        graph.set_weights(i, before[i])
    for i in layers:
        for k, (name, _, trainable, _) in enumerate(graph.layer_param_info(i)):
            if not trainable:  # frozen weights and state: no step moves them
                continue
            p = before[i][k].copy()

            def loss_at(arr, i=i, k=k):
                ws = list(before[i])
                ws[k] = arr
                graph.set_weights(i, ws)
                return test_loss()

            idx = _coords(p.size, n_coords, rng)
            num = numeric_grad(loss_at, p, idx, eps)
            graph.set_weights(i, before[i])
            assert_grad_close(num, analytic[i][k].reshape(-1)[idx],
                              f"layer {i} {name}", rtol, atol_rel)


def check_model_grads_along_directions(graph, x, target, *, seed=0, eps=1e-2, directions=2,
                                       rtol=2e-2, only=None):
    """The whole-model check for deep networks: for each trainable weight,
    the loss's derivative along random unit directions v, numeric (central
    differences of test_step's loss at w +- eps v) against analytic (g . v,
    g from one SGD step with learning rate 1). A direction sums the whole
    tensor's gradient, so it stands out of float32 rounding where single
    coordinates of a deep network's first layers would not; a wrong gradient
    still shows in every direction. `only`: the layers to check (default all)."""
    graph.compile(graph.loss_config, {"type": "sgd", "learning_rate": 1.0})
    train, test_loss = _steps(graph, x, target)
    rng = np.random.default_rng(seed)
    layers = _owned_layers(graph)
    before = {i: [np.array(w, np.float32) for w in graph.get_weights(i)] for i in layers}
    train()
    analytic = {i: [b.astype(np.float64) - np.asarray(a, np.float64)
                    for b, a in zip(before[i], graph.get_weights(i))] for i in layers}
    for i in layers:
        graph.set_weights(i, before[i])
    loss = test_loss()
    for i in layers if only is None else only:
        for k, (name, _, trainable, _) in enumerate(graph.layer_param_info(i)):
            if not trainable:
                continue
            g = analytic[i][k]
            for _ in range(directions):
                v = rng.standard_normal(g.shape)
                v /= np.linalg.norm(v)

                def loss_at(sign, i=i, k=k, v=v):
                    ws = list(before[i])
                    ws[k] = (before[i][k] + sign * eps * v).astype(np.float32)
                    graph.set_weights(i, ws)
                    return test_loss()

                numeric = (loss_at(1) - loss_at(-1)) / (2 * eps)
                graph.set_weights(i, before[i])
                expected = float(np.sum(g * v))
                # The loss is a sum of float32 outputs: about 1e-6 of it is
                # rounding, which the difference quotient divides by 2 eps.
                noise = 1e-6 * max(1.0, abs(loss)) / eps
                tolerance = rtol * (abs(expected) + 0.05 * np.linalg.norm(g)) + noise
                assert abs(numeric - expected) <= tolerance, (
                    f"layer {i} {name}: derivative along a direction: numeric {numeric:.6g}, "
                    f"analytic {expected:.6g} (|g| = {np.linalg.norm(g):.3g})")

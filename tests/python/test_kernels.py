"""Every optimised kernel against the reference kernels ("ref"), on every ISA
this CPU runs: GEMM around the register-tile and block edges, and each
convolution path (im2col, pointwise, direct) forward and backward."""

import os
import subprocess
import sys

import numpy as np
import pytest

import kernel_cases
import pyconv
from pyconv import _core

FAST_ISAS = [isa for isa in _core.available_isas() if isa != "ref"]



def gemm_with(isa, a, b, c, alpha, beta, trans_a, trans_b):
    _core.set_kernel_isa(isa)
    out = c.copy()
    _core.gemm(a, b, out, alpha, beta, trans_a, trans_b)
    return out


def random_gemm_operands(rng, m, n, k, trans_a, trans_b=False, a_zeros=0.0):
    """A, B and C for C = alpha op(A) op(B) + beta C; a_zeros: the share of A set to 0."""
    a = rng.standard_normal((k, m) if trans_a else (m, k)).astype(np.float32)
    if a_zeros:
        a[rng.random(a.shape) < a_zeros] = 0.0
    b = rng.standard_normal((n, k) if trans_b else (k, n)).astype(np.float32)
    c = rng.standard_normal((m, n)).astype(np.float32)
    return a, b, c


def assert_gemm_matches_reference(isa, a, b, c, alpha, beta, trans_a, trans_b=False):
    k = a.shape[0] if trans_a else a.shape[1]
    expected = gemm_with("ref", a, b, c, alpha, beta, trans_a, trans_b)
    got = gemm_with(isa, a, b, c, alpha, beta, trans_a, trans_b)
    np.testing.assert_allclose(got, expected, rtol=1e-4, atol=1e-4 * np.sqrt(k))


# The shapes, and why each exercises a path: tests/data/kernel_cases.txt.
(GEMM_SIZES,) = kernel_cases.numbers("gemm_sizes")
(IN_CACHE_MN,) = kernel_cases.numbers("gemm_in_cache_mn")
(IN_CACHE_K,) = kernel_cases.numbers("gemm_in_cache_k")
(FEW_ROWS_N,) = kernel_cases.numbers("gemm_few_rows_n")
(FEW_ROWS_K,) = kernel_cases.numbers("gemm_few_rows_k")
THREAD_SIZES = kernel_cases.numbers("gemm_threads")
PREPACK_SIZES = kernel_cases.numbers("gemm_prepacked")


@pytest.mark.skipif(not FAST_ISAS, reason="this CPU runs only the reference kernels")
@pytest.mark.parametrize("isa", FAST_ISAS)
@pytest.mark.parametrize("seed", range(12))
def test_gemm_matches_reference(isa, seed, use_isa):
    rng = np.random.default_rng(seed)
    m, n, k = rng.choice(GEMM_SIZES, 3)
    trans_a, trans_b = bool(seed & 1), bool(seed & 2)
    alpha, beta = [(1.0, 0.0), (0.5, 1.0), (-2.0, 0.25)][seed % 3]
    a, b, c = random_gemm_operands(rng, m, n, k, trans_a, trans_b)
    assert_gemm_matches_reference(isa, a, b, c, alpha, beta, trans_a, trans_b)


@pytest.mark.skipif(not FAST_ISAS, reason="this CPU runs only the reference kernels")
@pytest.mark.parametrize("isa", FAST_ISAS)
@pytest.mark.parametrize("m,n,k", THREAD_SIZES, ids=[str(m) for m, _, _ in THREAD_SIZES])
@pytest.mark.parametrize("trans_a", [False, True])
def test_gemm_rows_shared_by_threads_matches_reference(isa, m, n, k, trans_a, use_isa):
    # Enough work for two threads, each taking whole 6-row tiles.
    rng = np.random.default_rng(m)
    a, b, c = random_gemm_operands(rng, m, n, k, trans_a)
    assert_gemm_matches_reference(isa, a, b, c, 1.0, 0.5, trans_a)


@pytest.mark.skipif(not FAST_ISAS, reason="this CPU runs only the reference kernels")
@pytest.mark.parametrize("isa", FAST_ISAS)
@pytest.mark.parametrize("seed", range(16))
def test_gemm_in_cache_matches_reference(isa, seed, use_isa):
    # Operands that fit in L2 are multiplied where they lie, without packing.
    rng = np.random.default_rng(100 + seed)
    m, n = rng.choice(IN_CACHE_MN, 2)
    k = rng.choice(IN_CACHE_K)
    trans_a = bool(seed & 1)
    alpha, beta = [(1.0, 0.0), (0.5, 1.0), (-2.0, 0.25), (1.0, 1.0)][seed % 4]
    a, b, c = random_gemm_operands(rng, m, n, k, trans_a)
    assert_gemm_matches_reference(isa, a, b, c, alpha, beta, trans_a)


@pytest.mark.skipif(not FAST_ISAS, reason="this CPU runs only the reference kernels")
@pytest.mark.parametrize("isa", FAST_ISAS)
@pytest.mark.parametrize("m", [1, 2, 3, 4])
@pytest.mark.parametrize("seed", range(6))
def test_gemm_few_rows_in_registers_matches_reference(isa, m, seed, use_isa):
    # One to four rows of C summed in registers, skipping zeros of a single
    # row of A: sizes around the panel widths, half the A values zero.
    rng = np.random.default_rng(200 + seed)
    n = FEW_ROWS_N[rng.integers(len(FEW_ROWS_N)) if seed else -1]
    k = FEW_ROWS_K[seed % len(FEW_ROWS_K)]
    trans_a = bool(seed & 1)
    alpha, beta = [(1.0, 0.0), (0.5, 1.0), (-2.0, 0.25)][seed % 3]
    a, b, c = random_gemm_operands(rng, m, n, k, trans_a, a_zeros=0.5)
    assert_gemm_matches_reference(isa, a, b, c, alpha, beta, trans_a)


@pytest.mark.skipif(not FAST_ISAS, reason="this CPU runs only the reference kernels")
@pytest.mark.parametrize("isa", FAST_ISAS)
@pytest.mark.parametrize("m,n,k", PREPACK_SIZES)
@pytest.mark.parametrize("trans_a,trans_b", [(False, False), (True, True)])
def test_gemm_prepacked_b_matches_reference(isa, m, n, k, trans_a, trans_b, use_isa):
    # B packed once beforehand, as a layer's weights are for inference: the
    # same bits as packing it during the call, and the reference's result.
    rng = np.random.default_rng(m * n + k)
    a, b, c = random_gemm_operands(rng, m, n, k, trans_a, trans_b)
    expected = gemm_with("ref", a, b, c, 0.5, 1.5, trans_a, trans_b)
    use_isa(isa)
    per_call, prepacked = c.copy(), c.copy()
    _core.gemm(a, b, per_call, 0.5, 1.5, trans_a, trans_b)
    _core.gemm(a, b, prepacked, 0.5, 1.5, trans_a, trans_b, prepack_b=True)
    np.testing.assert_array_equal(prepacked, per_call)
    np.testing.assert_allclose(prepacked, expected, rtol=1e-4, atol=1e-4 * np.sqrt(k))


@pytest.mark.skipif(not FAST_ISAS, reason="this CPU runs only the reference kernels")
@pytest.mark.parametrize("isa", FAST_ISAS)
def test_gemm_beta_zero_ignores_nan_in_c(isa, use_isa):
    # beta == 0 must overwrite C without reading it (C may be uninitialised).
    a = np.ones((7, 3), np.float32)
    b = np.ones((3, 17), np.float32)
    c = np.full((7, 17), np.nan, np.float32)
    use_isa(isa)
    _core.gemm(a, b, c, 1.0, 0.0)
    np.testing.assert_array_equal(c, np.full((7, 17), 3.0, np.float32))


def _conv_cases(section):
    """A section's Conv2D rows as (filters, kernel, strides, padding, dilation,
    groups, input shape) tuples."""
    return [(c["filters"], tuple(c["kernel_size"]), tuple(c["strides"]), c["padding"],
             tuple(c["dilation_rate"]), c["groups"], shape)
            for shape, c in kernel_cases.layers(section)]


CONV_CASES = _conv_cases("conv")  # one row per kernel path


def conv_id(case):
    return f"f{case[0]}k{case[1]}g{case[5]}c{case[6][2]}"


def conv_config(case, **extra):
    filters, kernel, strides, padding, dilation, groups, _ = case
    return {"type": "Conv2D", "filters": filters, "kernel_size": list(kernel),
            "strides": list(strides), "padding": padding, "dilation_rate": list(dilation),
            "groups": groups, **extra}


def run_conv(isa, case, x, dy, params):
    _core.set_kernel_isa(isa)
    runner = _core.LayerRunner(conv_config(case), x.shape[1:])
    runner.set_params(params)
    y = runner.forward(x, training=True)
    dx, grads = runner.backward(dy)
    return [y, dx] + list(grads)


@pytest.mark.skipif(not FAST_ISAS, reason="this CPU runs only the reference kernels")
@pytest.mark.parametrize("isa", FAST_ISAS)
@pytest.mark.parametrize("case", CONV_CASES, ids=conv_id)
@pytest.mark.parametrize("batch", [1, 3])
def test_conv_paths_match_reference(isa, case, batch, use_isa):
    rng = np.random.default_rng(batch)
    x = rng.standard_normal((batch,) + case[6]).astype(np.float32)
    probe = _core.LayerRunner(conv_config(case), x.shape[1:])
    params = [rng.standard_normal(p.shape).astype(np.float32) for p in probe.get_params()]
    dy = rng.standard_normal((batch,) + probe.output_shape).astype(np.float32)
    expected = run_conv("ref", case, x, dy, params)
    got = run_conv(isa, case, x, dy, params)
    for name, e, g in zip(["y", "dx", "dkernel", "dbias"], expected, got):
        np.testing.assert_allclose(g, e, rtol=1e-4, atol=1e-4, err_msg=name)


def test_unknown_isa_is_rejected():
    with pytest.raises(ValueError, match="not available"):
        _core.set_kernel_isa("avx9000")


def test_show_config_reports_the_isa():
    info = pyconv.show_config(print_fn=lambda *_: None)
    assert info["isa"] == pyconv.kernel_isa()
    assert info["isa"] in info["available_isas"]
    assert info["available_isas"][0] == "ref"


def _isa_in_subprocess(value):
    env = dict(os.environ, PYCONV_ISA=value)
    out = subprocess.run([sys.executable, "-c", "import pyconv; c = pyconv.show_config("
                          "print_fn=lambda *a: None); print(c['isa'], '|', c.get('note', ''))"],
                         env=env, capture_output=True, text=True, check=True)
    return out.stdout.strip()


def test_environment_forces_the_reference_kernels():
    assert _isa_in_subprocess("ref").startswith("ref |")


def test_environment_with_an_unknown_isa_falls_back_with_a_note():
    out = _isa_in_subprocess("avx9000")
    isa, note = out.split("|")
    assert isa.strip() == _core.available_isas()[-1]
    assert "PYCONV_ISA='avx9000' ignored" in note


POOL_CASES = kernel_cases.layers("pool")


@pytest.mark.skipif(not FAST_ISAS, reason="this CPU runs only the reference kernels")
@pytest.mark.parametrize("isa", FAST_ISAS)
@pytest.mark.parametrize("shape,config", POOL_CASES,  # ids as when channels had their own axis
                         ids=[f"{s[2]}-{c['type']}{tuple(c['pool_size'])}{c['padding']}"
                              for s, c in POOL_CASES])
def test_pooling_matches_reference(isa, shape, config, use_isa):
    rng = np.random.default_rng(shape[2])
    # Distinct values, so max-pooling has a single winner per window.
    x = rng.permutation(3 * np.prod(shape)).astype(np.float32).reshape((3,) + shape)
    results = []
    for which in ("ref", isa):
        use_isa(which)
        runner = _core.LayerRunner(config, x.shape[1:])
        y = runner.forward(x, training=True)
        dy = np.random.default_rng(0).standard_normal(y.shape).astype(np.float32)
        results.append((y, runner.backward(dy)[0]))
    np.testing.assert_allclose(results[1][0], results[0][0], rtol=1e-6, atol=1e-6)
    np.testing.assert_allclose(results[1][1], results[0][1], rtol=1e-6, atol=1e-6)


@pytest.mark.skipif(not FAST_ISAS, reason="this CPU runs only the reference kernels")
@pytest.mark.parametrize("isa", FAST_ISAS)
@pytest.mark.parametrize("m", [1, 2, 3, 4])
def test_dense_few_rows_matches_reference(isa, m, use_isa):
    # The few-row GEMM path, with bias and ReLU applied as it stores, via a Dense layer.
    [((inputs,), config)] = kernel_cases.layers("dense")
    units = config["units"]
    rng = np.random.default_rng(m)
    x = rng.standard_normal((m, inputs)).astype(np.float32)
    outputs = []
    for which in ("ref", isa):
        use_isa(which)
        runner = _core.LayerRunner(config, (inputs,))
        runner.set_params([np.linspace(-1, 1, inputs * units, dtype=np.float32).reshape(inputs, units),
                           np.linspace(-0.5, 0.5, units, dtype=np.float32)])
        outputs.append(runner.forward(x))
    np.testing.assert_allclose(outputs[1], outputs[0], rtol=1e-5, atol=1e-5)


@pytest.mark.skipif(not FAST_ISAS, reason="this CPU runs only the reference kernels")
@pytest.mark.parametrize("isa", FAST_ISAS)
@pytest.mark.parametrize("case", _conv_cases("conv_heavy_padding"), ids=lambda c: str(c[6][2]))
def test_conv_large_image_heavy_padding_matches_reference(isa, case, use_isa):
    # Enough output pixels (> 320) that the packed GEMM's depth blocks split
    # output rows, with padding wide enough that whole row segments fall
    # outside the image for some taps.
    rng = np.random.default_rng(case[6][2])
    x = rng.standard_normal((2,) + case[6]).astype(np.float32)
    probe = _core.LayerRunner(conv_config(case), x.shape[1:])
    params = [rng.standard_normal(p.shape).astype(np.float32) for p in probe.get_params()]
    dy = rng.standard_normal((2,) + probe.output_shape).astype(np.float32)
    expected = run_conv("ref", case, x, dy, params)
    got = run_conv(isa, case, x, dy, params)
    for name, e, g in zip(["y", "dx", "dkernel", "dbias"], expected, got):
        np.testing.assert_allclose(g, e, rtol=1e-4, atol=1e-4, err_msg=name)


def conv_runner(case, input_shape, params):
    runner = _core.LayerRunner(conv_config(case, activation="relu"), input_shape)
    if params is not None:
        runner.set_params(params)
    return runner


@pytest.mark.skipif(not FAST_ISAS, reason="this CPU runs only the reference kernels")
@pytest.mark.parametrize("isa", FAST_ISAS)
@pytest.mark.parametrize("case", CONV_CASES + _conv_cases("conv_inference"), ids=conv_id)
@pytest.mark.parametrize("batch", [1, 3])
def test_conv_inference_prepacked_kernel(isa, case, batch, use_isa):
    # Inference reads the kernel the layer packed once (Winograd transform,
    # direct panels, GEMM panels): the reference's result, the same bits as
    # training's forward (which packs per call), and new weights are used.
    rng = np.random.default_rng(batch)
    x = rng.standard_normal((batch,) + case[6]).astype(np.float32)
    shapes = [p.shape for p in conv_runner(case, x.shape[1:], None).get_params()]
    for weights in range(2):
        params = [rng.standard_normal(shape).astype(np.float32) for shape in shapes]
        use_isa("ref")
        expected = conv_runner(case, x.shape[1:], params).forward(x)
        use_isa(isa)
        if weights == 0:
            runner = conv_runner(case, x.shape[1:], params)
        else:
            runner.set_params(params)  # a new version: the packed kernel is rebuilt
        for _ in range(2):  # the second call reuses what the first packed
            got = runner.forward(x)
            np.testing.assert_allclose(got, expected, rtol=1e-4, atol=1e-4)
        np.testing.assert_array_equal(runner.forward(x, training=True), got)
    use_isa("ref")  # the cache is the other table's layout: rebuilt, not misread
    np.testing.assert_allclose(runner.forward(x), expected, rtol=1e-4, atol=1e-4)


@pytest.mark.skipif(not FAST_ISAS, reason="this CPU runs only the reference kernels")
@pytest.mark.parametrize("isa", FAST_ISAS)
@pytest.mark.parametrize("m", [1, 5, 7, 64, 130])
def test_dense_inference_prepacked_kernel(isa, m, use_isa):
    # Dense inference with the kernel packed once: the reference's result,
    # training's bits, and new weights are used.
    [((inputs,), config)] = kernel_cases.layers("dense_prepacked")
    units = config["units"]
    rng = np.random.default_rng(m)
    x = rng.standard_normal((m, inputs)).astype(np.float32)
    runner = None
    for _ in range(2):
        params = [rng.standard_normal((inputs, units)).astype(np.float32),
                  rng.standard_normal(units).astype(np.float32)]
        use_isa("ref")
        ref_runner = _core.LayerRunner(config, (inputs,))
        ref_runner.set_params(params)
        expected = ref_runner.forward(x)
        use_isa(isa)
        if runner is None:
            runner = _core.LayerRunner(config, (inputs,))
        runner.set_params(params)
        for _ in range(2):
            got = runner.forward(x)
            np.testing.assert_allclose(got, expected, rtol=1e-4, atol=1e-4)
        np.testing.assert_array_equal(runner.forward(x, training=True), got)

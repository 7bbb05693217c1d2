"""Single-precision matrix multiply C = A @ B (A: M x K, B: K x N, C-contiguous
float32): `pyconv._core.matmul` against NumPy (OpenBLAS) and `torch.mm`, at
2048^3 and at the skinny shapes a small CNN produces. The roofline is the best
GFLOP/s NumPy or PyTorch reaches at 2048^3 in the same run."""

import numpy as np

import pyconv
from timing import TORCH_INSTALL, compare, gflops, ms, ratio

SQUARE = (2048, 2048, 2048)
SHAPES = [  # (M, K, N, where a CNN meets it)
    SQUARE + ("square",),
    (64, 9216, 128, "MNIST CNN Dense(128), batch 64"),
    (64, 128, 10, "MNIST CNN Dense(10), batch 64"),
    (576, 288, 64, "Conv 32->64 3x3 on 26x26, one image (im2col)"),
    (4096, 64, 576, "im2col-sized product, 4096 rows"),
    (1, 400, 120, "LeNet-5 Dense(120), batch 1"),
    (1, 1600, 10, "Keras example Dense(10), batch 1"),
]
TARGET = 0.80  # of the roofline, at 2048^3


def run(settings, fw):
    torch = fw.torch
    matmul = getattr(pyconv._core, "matmul", None)
    notes = ["(M, K, N): A is M x K, B is K x N. ratio = pyconv time / other time.",
             "roofline = the best GFLOP/s of NumPy and PyTorch at 2048^3 in this run; "
             "% roof = GFLOP/s / roofline."]
    if matmul is None:
        notes.insert(0, "pyconv._core.matmul not available: pyconv columns left empty.")
    if torch is None:
        notes.insert(0, TORCH_INSTALL)

    rng = np.random.default_rng(0)
    results = []
    for m, k, n, where in SHAPES:
        a = rng.standard_normal((m, k), dtype=np.float32)
        b = rng.standard_normal((k, n), dtype=np.float32)
        flops = 2 * m * k * n
        row = {"shape": (m, k, n), "where": where, "flops": flops, "check": "-"}
        cases = {"numpy": lambda: a @ b}
        if torch is not None:
            ta, tb = torch.from_numpy(a), torch.from_numpy(b)
            cases["torch"] = lambda: torch.mm(ta, tb)
        if matmul is not None:
            c = matmul(a, b)
            ref = a.astype(np.float64) @ b.astype(np.float64)
            err = float(np.abs(c - ref).max() / np.abs(ref).max())
            row["check"] = "ok" if err < 1e-4 else f"DIFF {err:.1e}"
            cases["pyconv"] = lambda: matmul(a, b)
        row.update({name: r.median for name, r in compare(cases, settings).items()})
        results.append(row)

    square = results[0]
    roof = max(square["flops"] / square[name] for name in ("numpy", "torch") if name in square)

    def pct(row, name):
        return "-" if name not in row else f"{row['flops'] / row[name] / roof:.0%}"

    table_rows = []
    for row in results:
        mine = row.get("pyconv")
        table_rows.append([
            "x".join(map(str, row["shape"])), row["where"],
            ms(mine), ms(row["numpy"]), ms(row.get("torch")),
            ratio(mine, row["numpy"]), ratio(mine, row.get("torch")),
            gflops(row["flops"], mine), gflops(row["flops"], row["numpy"]),
            gflops(row["flops"], row.get("torch")),
            pct(row, "pyconv"), row["check"]])
    notes.append(f"roofline this run: {roof / 1e9:.1f} GFLOP/s.")

    if matmul is None:
        measured, ok = "pyconv._core.matmul not available", False
    else:
        share = square["flops"] / square["pyconv"] / roof
        measured = (f"{share:.0%} ({square['flops'] / square['pyconv'] / 1e9:.1f} of "
                    f"{roof / 1e9:.1f} GFLOP/s)")
        ok = share >= TARGET and square["check"] == "ok"
    return {
        "tables": [{"title": "GEMM, float32 (ms and GFLOP/s, median)",
                    "columns": ["M x K x N", "where", "pyconv ms", "numpy ms", "torch ms",
                                "vs numpy", "vs torch", "pyconv GF/s", "numpy GF/s",
                                "torch GF/s", "pyconv % roof", "check"],
                    "rows": table_rows, "notes": notes}],
        "targets": [{"name": "GEMM 2048^3", "goal": f">= {TARGET:.0%} of roofline",
                     "measured": measured, "ok": ok}],
    }

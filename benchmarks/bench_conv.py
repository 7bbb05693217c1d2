"""Convolution (forward, forward+backward) on nine shapes and 2x2 max-pooling,
pyconv against PyTorch on the same values and weights.

pyconv runs one layer through `pyconv._core.LayerRunner` on NHWC arrays (it
returns new NumPy arrays: the output and the weight gradients copied out of
the layer, dx written in place; the copies are timed too). PyTorch runs
`torch.nn.functional.conv2d` on NCHW tensors holding the same values. Before
timing, the outputs and all gradients are compared; a disagreement is reported
in the `check` column (it would mean a bug, not a timing problem).
"""

from dataclasses import dataclass

import numpy as np

import pyconv
from timing import TORCH_INSTALL, compare, gflops, ms, ratio

RTOL = 1e-3  # max |difference| / max |reference| accepted by the check


@dataclass
class ConvShape:
    key: str
    n: int
    c: int
    f: int
    h: int
    w: int
    k: int = 3
    stride: int = 1
    pad: int = 0
    dilation: int = 1
    groups: int = 1

    @property
    def out_hw(self):
        span = self.dilation * (self.k - 1) + 1
        return ((self.h + 2 * self.pad - span) // self.stride + 1,
                (self.w + 2 * self.pad - span) // self.stride + 1)

    @property
    def flops(self):
        """Forward multiply-adds x 2; forward+backward is 3x this."""
        oh, ow = self.out_hw
        return 2 * self.n * oh * ow * self.f * self.k * self.k * self.c // self.groups

    @property
    def label(self):
        extra = "".join(f" {name}{v}" for name, v, default in
                        (("s", self.stride, 1), ("p", self.pad, 0), ("d", self.dilation, 1))
                        if v != default)
        if self.groups == self.c and self.groups > 1:
            extra += " dw"
        elif self.groups > 1:
            extra += f" g{self.groups}"
        return (f"{self.key}: N{self.n} {self.c}->{self.f} {self.h}x{self.w} "
                f"{self.k}x{self.k}{extra}")


SHAPES = [
    ConvShape("a", 64, 1, 32, 28, 28),
    ConvShape("b", 64, 32, 64, 26, 26),
    ConvShape("c", 8, 64, 64, 56, 56, pad=1),
    ConvShape("d", 8, 128, 256, 28, 28, stride=2, pad=1),
    ConvShape("e", 8, 256, 256, 28, 28, k=1),
    ConvShape("f", 8, 256, 256, 28, 28, pad=1, groups=256),
    ConvShape("g", 4, 64, 64, 64, 64, pad=2, dilation=2),
    ConvShape("h", 64, 60, 12, 28, 28, pad=1),  # DenseNet's growth of 12 filters
    ConvShape("i", 64, 32, 32, 14, 14, k=5, pad=2),
]

POOL_SHAPE = (64, 32, 26, 26)  # N, C, H, W


def _rel_err(mine, ref):
    ref = np.asarray(ref)
    scale = float(np.abs(ref).max()) or 1.0
    return float(np.abs(np.asarray(mine) - ref).max()) / scale


def _check_text(errors):
    worst = max(errors)
    return "ok" if worst < RTOL else f"DIFF {worst:.1e}"


def _pyconv_conv(s):
    config = {"type": "Conv2D", "filters": s.f, "kernel_size": [s.k, s.k],
              "strides": [s.stride, s.stride], "padding": [s.pad] * 4,
              "dilation_rate": [s.dilation, s.dilation], "groups": s.groups, "use_bias": True}
    return pyconv._core.LayerRunner(config, (s.h, s.w, s.c))


def _bench_shape(s, settings, torch):
    rng = np.random.default_rng(0)
    oh, ow = s.out_hw
    x = rng.standard_normal((s.n, s.h, s.w, s.c), dtype=np.float32)
    dy = rng.standard_normal((s.n, oh, ow, s.f), dtype=np.float32)
    kernel = rng.standard_normal((s.k, s.k, s.c // s.groups, s.f), dtype=np.float32) * 0.1
    bias = rng.standard_normal(s.f, dtype=np.float32)

    runner = _pyconv_conv(s)
    runner.set_params([kernel, bias])

    def py_fwd():
        return runner.forward(x)

    def py_fwd_bwd():
        runner.forward(x, training=True)
        return runner.backward(dy)

    fwd, fwd_bwd = {"pyconv": py_fwd}, {"pyconv": py_fwd_bwd}
    checks = {"fwd": "-", "fwd+bwd": "-"}
    if torch is not None:
        F = torch.nn.functional
        xt = torch.from_numpy(x.transpose(0, 3, 1, 2).copy()).requires_grad_()
        wt = torch.from_numpy(kernel.transpose(3, 2, 0, 1).copy()).requires_grad_()
        bt = torch.from_numpy(bias.copy()).requires_grad_()
        dyt = torch.from_numpy(dy.transpose(0, 3, 1, 2).copy())
        args = dict(stride=s.stride, padding=s.pad, dilation=s.dilation, groups=s.groups)

        def clear():
            xt.grad = wt.grad = bt.grad = None

        def t_fwd():
            with torch.no_grad():
                return F.conv2d(xt, wt, bt, **args)

        def t_fwd_bwd():
            F.conv2d(xt, wt, bt, **args).backward(dyt)

        # Check outputs and gradients before timing.
        y_py = runner.forward(x, training=True)
        dx_py, (dk_py, db_py) = runner.backward(dy)
        clear()
        y_t = F.conv2d(xt, wt, bt, **args)
        y_t.backward(dyt)
        fwd_err = _rel_err(y_py, y_t.detach().numpy().transpose(0, 2, 3, 1))
        checks["fwd"] = _check_text([fwd_err])
        checks["fwd+bwd"] = _check_text([
            fwd_err,
            _rel_err(dx_py, xt.grad.numpy().transpose(0, 2, 3, 1)),
            _rel_err(dk_py, wt.grad.numpy().transpose(2, 3, 1, 0)),
            _rel_err(db_py, bt.grad.numpy())])
        clear()
        fwd["torch"], fwd_bwd["torch"] = t_fwd, (t_fwd_bwd, clear)

    out = {}
    for kind, cases in (("fwd", fwd), ("fwd+bwd", fwd_bwd)):
        res = compare(cases, settings)
        out[kind] = (res["pyconv"].median,
                     res["torch"].median if "torch" in res else None, checks[kind])
    return out


def _bench_pool(settings, torch):
    n, c, h, w = POOL_SHAPE
    rng = np.random.default_rng(1)
    x = rng.standard_normal((n, h, w, c), dtype=np.float32)
    dy = rng.standard_normal((n, h // 2, w // 2, c), dtype=np.float32)
    runner = pyconv._core.LayerRunner(
        {"type": "MaxPooling2D", "pool_size": [2, 2], "strides": [2, 2], "padding": "valid"},
        (h, w, c))

    def py_fwd_bwd():
        runner.forward(x, training=True)
        return runner.backward(dy)

    fwd = {"pyconv (NHWC)": lambda: runner.forward(x)}
    fwd_bwd = {"pyconv (NHWC)": py_fwd_bwd}
    checks = {"pyconv (NHWC)": "-"}
    if torch is not None:
        y_py = runner.forward(x, training=True)
        dx_py, _ = runner.backward(dy)
        for name, fmt in (("PyTorch NCHW", torch.contiguous_format),
                          ("PyTorch channels_last", torch.channels_last)):
            xt = torch.from_numpy(x.transpose(0, 3, 1, 2).copy()).contiguous(memory_format=fmt)
            xt.requires_grad_()
            dyt = torch.from_numpy(dy.transpose(0, 3, 1, 2).copy()).contiguous(
                memory_format=fmt)

            def clear(xt=xt):
                xt.grad = None

            def t_fwd(xt=xt):
                with torch.no_grad():
                    return torch.nn.functional.max_pool2d(xt, 2)

            def t_fwd_bwd(xt=xt, dyt=dyt):
                torch.nn.functional.max_pool2d(xt, 2).backward(dyt)

            t_fwd_bwd()
            checks[name] = _check_text([
                _rel_err(y_py, t_fwd().numpy().transpose(0, 2, 3, 1)),
                _rel_err(dx_py, xt.grad.numpy().transpose(0, 2, 3, 1))])
            clear()
            fwd[name], fwd_bwd[name] = t_fwd, (t_fwd_bwd, clear)
    res_f, res_b = compare(fwd, settings), compare(fwd_bwd, settings)
    return {name: (res_f[name].median, res_b[name].median, checks[name]) for name in fwd}


def run(settings, fw):
    torch = fw.torch
    conv_rows, targets = [], []
    for s in SHAPES:
        res = _bench_shape(s, settings, torch)
        for kind, mult in (("fwd", 1), ("fwd+bwd", 3)):
            mine, theirs, check = res[kind]
            conv_rows.append([s.label, kind, ms(mine), ms(theirs), ratio(mine, theirs),
                              gflops(mult * s.flops, mine), gflops(mult * s.flops, theirs),
                              check])
        mine, theirs, check = res["fwd+bwd"]
        ok = None if theirs is None else (mine < theirs and check == "ok")
        measured = (f"{ratio(mine, theirs)} ({ms(mine)} vs {ms(theirs)} ms)"
                    if theirs is not None else f"{ms(mine)} ms; {TORCH_INSTALL}")
        if check not in ("ok", "-"):
            measured += f", outputs {check}"
        targets.append({"name": f"conv fwd+bwd {s.label}", "goal": "< 1.00x PyTorch",
                        "measured": measured, "ok": ok})

    notes = ["ratio = pyconv time / PyTorch time (< 1: pyconv faster). GFLOP/s: forward "
             "2*N*OH*OW*F*KH*KW*C/groups, forward+backward 3x that.",
             "pyconv: LayerRunner on NHWC (y and the weight gradients copied into new "
             "NumPy arrays, dx written into one; timed); PyTorch: F.conv2d on NCHW, fwd "
             "under no_grad, fwd+bwd = conv2d + "
             "backward(dy) with grads for input, weight and bias.",
             f"check: outputs and gradients agree (max |diff| / max |ref| < {RTOL:g})."]
    if torch is None:
        notes.insert(0, TORCH_INSTALL)
    tables = [{"title": "Convolution (ms, median)",
               "columns": ["shape", "pass", "pyconv ms", "torch ms", "ratio",
                           "pyconv GFLOP/s", "torch GFLOP/s", "check"],
               "rows": conv_rows, "notes": notes}]

    pool = _bench_pool(settings, torch)
    mine_f, mine_b, _ = pool["pyconv (NHWC)"]
    pool_rows = []
    for name, (fwd, fwd_bwd, check) in pool.items():
        is_mine = name.startswith("pyconv")
        pool_rows.append([name, ms(fwd), "-" if is_mine else ratio(mine_f, fwd),
                          ms(fwd_bwd), "-" if is_mine else ratio(mine_b, fwd_bwd), check])
    n, c, h, w = POOL_SHAPE
    tables.append({"title": f"Max-pooling 2x2 on ({n}, {c}, {h}, {w}) (ms, median)",
                   "columns": ["implementation", "fwd ms", "fwd ratio", "fwd+bwd ms",
                               "fwd+bwd ratio", "check"],
                   "rows": pool_rows,
                   "notes": ["ratio = pyconv time / this row's time."]
                   + ([TORCH_INSTALL] if torch is None else [])})
    return {"tables": tables, "targets": targets}

"""Where does my step's time go? Per-layer times of a model's forward and
backward passes, and of the training steps' loss and weight update:

    with pyconv.profile(model) as report:
        model.fit(x, y, epochs=1)
    print(report)           # a table, largest first
    report.rows             # the same as dicts

The C++ core times each node of the graph while profiling is on (one clock
read before and after each layer; off, nothing). Layers folded into the one
before them at inference (BatchNormalization after a convolution) show no
forward time of their own there: it counts with that layer's. So do the
MaxPooling2D layers that run inside the convolution before them (their row
says "in" that layer). A single sample on several threads, which otherwise
runs its first layers in bands of rows (each band through all of them on
one thread), runs layer by layer while profiling, so that each layer has a
time of its own.
"""

__all__ = ["Profile", "profile"]


class Profile:
    """The times counted between entering and leaving `with profile(model)`."""

    def __init__(self, model):
        model._require_built()
        self._model = model
        self.rows = []
        self.step = {}

    def __enter__(self):
        graph = self._model._graph
        if graph.profiling:
            raise RuntimeError("this model is already being profiled")
        graph.reset_profile()
        graph.set_profiling(True)
        return self

    def __exit__(self, *exc):
        graph = self._model._graph
        graph.set_profiling(False)
        nodes, step = graph.profile_counts()
        layers = self._model._node_layers or self._model.layers
        fused_into = {pool: layers[conv].name for conv, pool in graph.pool_fusions}
        self.rows = [{"layer": layer.name, "type": type(layer).__name__,
                      "forward_ms": f_ns / 1e6, "forward_calls": f_calls,
                      "backward_ms": b_ns / 1e6, "backward_calls": b_calls,
                      "in": fused_into.get(k)}
                     for k, (layer, (f_ns, f_calls, b_ns, b_calls)) in enumerate(zip(layers, nodes))]
        self.step = {part: {"ms": ns / 1e6, "calls": calls}
                     for part, (ns, calls) in step.items()}
        return False

    @property
    def total_ms(self):
        """The whole time of the training steps, or (no step) of the layers."""
        if self.step.get("step", {}).get("calls"):
            return self.step["step"]["ms"]
        return sum(r["forward_ms"] + r["backward_ms"] for r in self.rows)

    def __str__(self):
        steps = self.step.get("step", {}).get("calls", 0)
        # (name, forward ms, backward ms, total ms): None where a part has no passes.
        parts = [(f"{r['layer']} ({r['type']}{', in ' + r['in'] if r.get('in') else ''})",
                  r["forward_ms"], r["backward_ms"], r["forward_ms"] + r["backward_ms"])
                 for r in self.rows]
        if steps:
            parts.append(("loss and metrics", None, None, self.step["loss"]["ms"]))
            parts.append(("weight update", None, None, self.step["update"]["ms"]))
        counted = sum(p[3] for p in parts)
        if steps:
            parts.append(("other (checks, bookkeeping)", None, None,
                          max(0.0, self.total_ms - counted)))
        # Forward passes outside the steps (validation, predict) count too.
        total = max(self.total_ms, counted) or float("nan")
        parts.sort(key=lambda p: p[3], reverse=True)
        scale = 1 / steps if steps else 1.0
        cell = lambda v: f"{v * scale:>10.3f}" if v is not None else f"{'-':>10}"
        lines = [f"Time (ms) {f'per training step, over {steps}' if steps else 'in all'}",
                 f"{'':<40} {'forward':>10} {'backward':>10} {'total':>10} {'%':>6}"]
        for name, f, b, both in parts:
            lines.append(f"{name[:40]:<40} {cell(f)} {cell(b)} {cell(both)} "
                         f"{100 * both / total:>6.1f}")
        return "\n".join(lines)


def profile(model):
    """A context manager timing `model`'s layers (see the module's docstring)."""
    return Profile(model)

"""A progress bar as Keras 3 draws it: live (step i/n, ETA, running metrics)
on a terminal, one line when done otherwise (logs, CI); verbose=2 writes only
that line, without the bar."""

import sys
import time


def _format_time(seconds):
    if seconds >= 3600:
        return f"{int(seconds // 3600)}:{int(seconds % 3600 // 60):02d}:{int(seconds % 60):02d}"
    if seconds >= 60:
        return f"{int(seconds // 60)}:{int(seconds % 60):02d}"
    return f"{seconds:.0f}s"


def _per_step(seconds):
    """Keras's time per step: 2s/step, 35ms/step or 410us/step."""
    if seconds >= 1 or seconds == 0:
        return f"{seconds:.0f}s/step"
    if seconds >= 1e-3:
        return f"{seconds * 1e3:.0f}ms/step"
    return f"{seconds * 1e6:.0f}us/step"


def format_logs(logs):
    return "".join(f" - {k}: {v:.4f}" if abs(v) > 1e-3 else f" - {k}: {v:.4e}"
                   for k, v in logs.items())


class ProgressBar:
    def __init__(self, steps, stream=None, width=20, interval=0.1, verbose=1):
        self.steps, self.width, self.interval, self.verbose = steps, width, interval, verbose
        self.stream = stream if stream is not None else sys.stdout
        self.live = verbose == 1 and hasattr(self.stream, "isatty") and self.stream.isatty()
        self.start = time.perf_counter()
        self._last_draw = 0.0

    def _bar(self, step):
        done = self.width * step // self.steps
        return "\u2501" * done + ("\u2500" * (self.width - done))

    def update(self, step, logs):
        """Redraw after `step` of `steps` (live mode only, at most every `interval` s)."""
        now = time.perf_counter()
        if not self.live or (now - self._last_draw < self.interval and step < self.steps):
            return
        self._last_draw = now
        elapsed = now - self.start
        eta = elapsed / step * (self.steps - step) if step else 0.0
        digits = len(str(self.steps))
        self.stream.write(f"\r{step:{digits}d}/{self.steps} {self._bar(step)} "
                          f"{_format_time(eta)}{format_logs(logs)}\033[K")
        self.stream.flush()

    def finish(self, logs, done=None):
        """The last line: `done` steps of `steps` (all by default)."""
        done = self.steps if done is None else done
        elapsed = time.perf_counter() - self.start
        per_step = _per_step(elapsed / max(done, 1))
        count = f"{done}/{self.steps}"
        if self.verbose == 2:
            line = f"{count} - {elapsed:.0f}s - {per_step}{format_logs(logs)}"
        else:
            line = f"{count} {self._bar(done)} {elapsed:.0f}s {per_step}{format_logs(logs)}"
        self.stream.write(("\r" if self.live else "") + line + ("\033[K" if self.live else "") + "\n")
        self.stream.flush()

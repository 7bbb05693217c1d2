"""A Keras-like progress bar: live (step i/n, ETA, running metrics) on a
terminal, one line per epoch otherwise (logs, CI)."""

import sys
import time


def _format_time(seconds):
    if seconds >= 3600:
        return f"{int(seconds // 3600)}:{int(seconds % 3600 // 60):02d}:{int(seconds % 60):02d}"
    if seconds >= 60:
        return f"{int(seconds // 60)}:{int(seconds % 60):02d}"
    return f"{seconds:.0f}s"


def format_logs(logs):
    return "".join(f" - {k}: {v:.4f}" for k, v in logs.items())


class ProgressBar:
    def __init__(self, steps, stream=None, width=30, interval=0.1):
        self.steps, self.width, self.interval = steps, width, interval
        self.stream = stream if stream is not None else sys.stdout
        self.live = hasattr(self.stream, "isatty") and self.stream.isatty()
        self.start = time.perf_counter()
        self._last_draw = 0.0

    def _bar(self, step):
        done = self.width * step // self.steps
        arrow = ">" if step < self.steps and done < self.width else ""
        return "[" + "=" * done + arrow + "." * (self.width - done - len(arrow)) + "]"

    def update(self, step, logs):
        """Redraw after `step` of `steps` (live mode only, at most every `interval` s)."""
        now = time.perf_counter()
        if not self.live or (now - self._last_draw < self.interval and step < self.steps):
            return
        self._last_draw = now
        elapsed = now - self.start
        eta = elapsed / step * (self.steps - step) if step else 0.0
        digits = len(str(self.steps))
        self.stream.write(f"\r{step:{digits}d}/{self.steps} {self._bar(step)} - ETA: "
                          f"{_format_time(eta)}{format_logs(logs)}\033[K")
        self.stream.flush()

    def finish(self, logs):
        elapsed = time.perf_counter() - self.start
        per_step = elapsed / max(self.steps, 1) * 1000
        line = (f"{self.steps}/{self.steps} {self._bar(self.steps)} - {_format_time(elapsed)} "
                f"{per_step:.0f}ms/step{format_logs(logs)}")
        self.stream.write(("\r" if self.live else "") + line + ("\033[K" if self.live else "") + "\n")
        self.stream.flush()

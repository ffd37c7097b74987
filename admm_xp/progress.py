"""Progress on long runs: a bar on a terminal, plain log lines otherwise (stderr, rank 0)."""
from __future__ import annotations

import sys
import time


class Progress:
    def __init__(self, total: int, label: str = "admm", stream=None, enabled: bool = True, log_lines: int = 20):
        self.total = max(1, int(total))
        self.label = label
        self.stream = stream or sys.stderr
        self.enabled = enabled
        self.tty = enabled and hasattr(self.stream, "isatty") and self.stream.isatty()
        self.every = max(1, self.total // max(1, log_lines))
        self.t0 = time.monotonic()
        self.last = 0.0

    def update(self, step: int, text: str, force: bool = False) -> None:
        if not self.enabled:
            return
        if self.tty:
            now = time.monotonic()
            if not force and now - self.last < 0.1 and step < self.total:
                return
            self.last = now
            frac = min(1.0, step / self.total)
            bar = "#" * int(24 * frac)
            self.stream.write(f"\r{self.label} {step:>5}/{self.total} [{bar:<24}] {text}\033[K")
            self.stream.flush()
        elif force or step == 1 or step % self.every == 0 or step >= self.total:
            self.stream.write(f"{self.label} {step}/{self.total} {text}\n")
            self.stream.flush()

    def close(self) -> None:
        if self.enabled and self.tty:
            self.stream.write("\n")
            self.stream.flush()

    def message(self, text: str) -> None:
        if self.enabled:
            if self.tty:
                self.stream.write("\r\033[K")
            self.stream.write(text + "\n")
            self.stream.flush()

"""SIGINT and SIGTERM during training: finish the iteration, checkpoint, report, exit non-zero.

Inside ``with StopOnSignal():`` the first SIGINT or SIGTERM only sets a flag,
which the training loop reads after each iteration (summed over ranks, so
one rank's signal stops all of them at the same iteration); a second signal
of either kind restores the default behaviour and interrupts at once.
"""
from __future__ import annotations

import signal

NAMES = {signal.SIGINT: "SIGINT", signal.SIGTERM: "SIGTERM"}


class StopOnSignal:
    def __init__(self):
        self.signum = 0
        self._old = {}

    def _handle(self, signum, frame):
        if self.signum:  # second signal: give up waiting for the iteration
            self.__exit__(None, None, None)
            raise KeyboardInterrupt
        self.signum = signum

    def __enter__(self):
        try:
            for sig in NAMES:
                self._old[sig] = signal.signal(sig, self._handle)
        except ValueError:  # not the main thread: leave signals alone
            self._old = {}
        return self

    def __exit__(self, *exc):
        for sig, old in self._old.items():
            signal.signal(sig, old)
        self._old = {}
        return False

    def exit_code(self, comm) -> int:
        """128 + the signal number (130 for SIGINT, 143 for SIGTERM); the same on every rank."""
        sig = int(comm.allreduce_max(float(self.signum)))
        return 128 + (sig or signal.SIGTERM)

    def name(self, comm) -> str:
        sig = int(comm.allreduce_max(float(self.signum)))
        return NAMES.get(sig, "a signal")

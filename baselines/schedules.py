"""Learning-rate schedules over a run of ``total`` mini-batch steps.

``constant``  eta_t = eta
``step``      eta_t = eta * 0.1^k, k = the number of the milestones 50% and 75% of the run already passed
              (the classic ImageNet/CIFAR schedule, He et al. 2016)
``cosine``    eta_t = eta (1 + cos(pi t / total)) / 2, annealing to 0 at the end (Loshchilov & Hutter 2017, no restarts)
"""
from __future__ import annotations

import math

SCHEDULES = ("constant", "step", "cosine")


def learning_rate(schedule: str, base: float, t: int, total: int) -> float:
    """eta_t for step t = 0, 1, ..., total - 1."""
    if schedule == "constant":
        return base
    frac = t / max(1, total)
    if schedule == "step":
        return base * 0.1 ** ((frac >= 0.5) + (frac >= 0.75))
    if schedule == "cosine":
        return base * 0.5 * (1.0 + math.cos(math.pi * frac))
    raise ValueError(f"unknown schedule {schedule!r}")

"""Adam (Kingma & Ba, ICLR 2015, Algorithm 1), optax style: pure ``init`` and ``update``.

    m_t = b1 m_{t-1} + (1 - b1) g_t
    v_t = b2 v_{t-1} + (1 - b2) g_t^2
    theta_t = theta_{t-1} - eta_t m_t / (1 - b1^t) / (sqrt(v_t / (1 - b2^t)) + eps)

with the paper's b1 = 0.9, b2 = 0.999, eps = 1e-8. g_t is the mini-batch
gradient of the objective, L2 term included (L2-regularised Adam, not AdamW's
decoupled decay); eta_t comes from :mod:`baselines.schedules`.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import array_api_compat as aac

B1, B2, EPS = 0.9, 0.999, 1e-8


@dataclass(frozen=True)
class AdamState:
    m: Any
    v: Any
    count: int = 0


def init(params) -> AdamState:
    xp = aac.array_namespace(params)
    return AdamState(m=xp.zeros_like(params), v=xp.zeros_like(params))


def update(grads, state: AdamState, params, *, lr: float, b1: float = B1, b2: float = B2, eps: float = EPS):
    """One step; returns ``(new_params, new_state)``."""
    xp = aac.array_namespace(params)
    t = state.count + 1
    m = b1 * state.m + (1.0 - b1) * grads
    v = b2 * state.v + (1.0 - b2) * (grads * grads)
    step = (lr / (1.0 - b1**t)) * m / (xp.sqrt(v / (1.0 - b2**t)) + eps)
    return params - step, AdamState(m=m, v=v, count=t)

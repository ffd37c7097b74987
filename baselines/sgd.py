"""Mini-batch SGD with momentum, optionally Nesterov's (optax style: pure ``init`` and ``update``).

    v_{t+1} = mu v_t + g_t
    theta_{t+1} = theta_t - eta_t (g_t + mu v_{t+1})     (Nesterov; Sutskever et al. 2013, in PyTorch's form)
    theta_{t+1} = theta_t - eta_t v_{t+1}                (heavy ball, Polyak 1964, with nesterov=False)

g_t is the gradient of the objective on the t-th mini-batch (L2 term
included), eta_t the learning rate of :mod:`baselines.schedules`, mu the
momentum (default 0.9).
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import array_api_compat as aac

MOMENTUM = 0.9


@dataclass(frozen=True)
class SGDState:
    velocity: Any
    count: int = 0


def init(params) -> SGDState:
    return SGDState(velocity=aac.array_namespace(params).zeros_like(params))


def update(grads, state: SGDState, params, *, lr: float, momentum: float = MOMENTUM, nesterov: bool = True):
    """One step; returns ``(new_params, new_state)``."""
    v = momentum * state.velocity + grads if momentum else grads
    direction = grads + momentum * v if nesterov and momentum else v
    return params - lr * direction, SGDState(velocity=v, count=state.count + 1)

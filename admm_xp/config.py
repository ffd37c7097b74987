"""Solver configuration: validated where it is made."""
from __future__ import annotations

import math
from dataclasses import asdict, dataclass, field, fields, replace
from typing import Sequence

from .errors import ConfigError

INITS = ("gaussian", "forward")


def _as_tuple(value, name: str) -> tuple[float, ...]:
    if isinstance(value, (int, float)):
        value = (value,)
    try:
        out = tuple(float(v) for v in value)
    except (TypeError, ValueError):
        raise ConfigError(f"{name} must be a number or a list of numbers, got {value!r}") from None
    if not out:
        raise ConfigError(f"{name} must not be empty")
    for v in out:
        if not (math.isfinite(v) and v > 0):
            raise ConfigError(f"{name} must be > 0 and finite, got {v!r}: penalties weight squared residuals")
    return out


@dataclass(frozen=True)
class ADMMConfig:
    """Settings of the ADMM solver (Taylor et al. 2016, Algorithm 1).

    hidden
        Widths of the hidden layers, e.g. ``(300,)`` or ``(100, 50)``.
    gamma
        Activation penalties gamma_l of the hidden layers (one value for all,
        or one per hidden layer).
    beta
        Pre-activation penalties beta_l of every layer including the output
        (one value for all, or one per layer).
    warm_start
        K: the first K iterations skip the multiplier update.
    multiplier
        Keep the output-layer Lagrange multiplier (the paper's Bregman
        iteration); ``False`` never updates it (it stays 0).
    bias
        Append a constant row to every layer's input so every layer has a bias.
    init
        ``"gaussian"`` (the paper: a, z i.i.d. N(0, 1)) or ``"forward"`` (random
        He-scaled weights, a and z from one forward pass).
    penalty_growth, penalty_max
        Multiply every gamma and beta by ``penalty_growth`` each iteration, up
        to ``penalty_max`` (1.0: fixed penalties, as in the paper).
    ridge
        Relative ridge added to each Gram matrix before its Cholesky factor
        (see :func:`admm_xp.linalg.regularised`).
    seed
        Seed of the counter-based initialisation (results do not depend on the
        number of ranks).
    dtype
        ``"float32"`` or ``"float64"`` for the iterates; small d x d solves run in float64.
    block_size
        Samples per column block in the fused passes (cache blocking only: the
        result does not depend on it beyond rounding).
    """

    hidden: tuple[int, ...] = (300,)
    gamma: tuple[float, ...] = (10.0,)
    beta: tuple[float, ...] = (1.0,)
    warm_start: int = 10
    multiplier: bool = True
    bias: bool = False
    init: str = "gaussian"
    penalty_growth: float = 1.0
    penalty_max: float = 1e4
    ridge: float = 1e-10
    seed: int = 0
    dtype: str = "float64"
    block_size: int = 2048
    preset: str = field(default="custom", compare=False)

    def __post_init__(self):
        try:
            hidden = tuple(int(h) for h in self.hidden)
        except (TypeError, ValueError):
            raise ConfigError(f"hidden widths must be integers, got {self.hidden!r}") from None
        if any(h < 1 for h in hidden):
            raise ConfigError(f"hidden widths must be >= 1, got {list(hidden)}: use e.g. --hidden 300 or --hidden 100,50")
        object.__setattr__(self, "hidden", hidden)
        gamma = _as_tuple(self.gamma, "gamma")
        beta = _as_tuple(self.beta, "beta")
        if len(gamma) not in (1, len(hidden)):
            raise ConfigError(f"gamma needs 1 or {len(hidden)} values (one per hidden layer), got {len(gamma)}")
        if len(beta) not in (1, len(hidden) + 1):
            raise ConfigError(f"beta needs 1 or {len(hidden) + 1} values (one per layer), got {len(beta)}")
        object.__setattr__(self, "gamma", gamma)
        object.__setattr__(self, "beta", beta)
        if not isinstance(self.warm_start, int) or isinstance(self.warm_start, bool) or self.warm_start < 0:
            raise ConfigError(f"warm_start must be an integer >= 0, got {self.warm_start!r}")
        if self.init not in INITS:
            raise ConfigError(f"init must be one of {', '.join(INITS)}, got {self.init!r}")
        g = float(self.penalty_growth)
        if not (math.isfinite(g) and g >= 1.0):
            raise ConfigError(f"penalty_growth must be >= 1 (1 = fixed penalties), got {self.penalty_growth!r}")
        pm = float(self.penalty_max)
        if not (math.isfinite(pm) and pm > 0):
            raise ConfigError(f"penalty_max must be > 0 and finite, got {self.penalty_max!r}")
        r = float(self.ridge)
        if not (math.isfinite(r) and 0 <= r < 1):
            raise ConfigError(f"ridge must be in [0, 1), got {self.ridge!r}")
        if self.dtype not in ("float32", "float64"):
            raise ConfigError(f"unknown dtype {self.dtype!r}: use float32 or float64")
        if not isinstance(self.block_size, int) or self.block_size < 1:
            raise ConfigError(f"block_size must be an integer >= 1, got {self.block_size!r}")
        if not isinstance(self.seed, int) or isinstance(self.seed, bool) or self.seed < 0:
            raise ConfigError(f"seed must be an integer >= 0, got {self.seed!r}")

    @property
    def n_layers(self) -> int:
        """L: hidden layers plus the output layer."""
        return len(self.hidden) + 1

    def gammas(self) -> tuple[float, ...]:
        """gamma_1 .. gamma_{L-1}."""
        return self.gamma * len(self.hidden) if len(self.gamma) == 1 else self.gamma

    def betas(self) -> tuple[float, ...]:
        """beta_1 .. beta_L."""
        return self.beta * self.n_layers if len(self.beta) == 1 else self.beta

    def penalties(self, iteration: int) -> "Penalties":
        """gamma_l and beta_l in force at ``iteration`` (0-based) under the growth schedule."""
        factor = float(self.penalty_growth) ** iteration if self.penalty_growth != 1.0 else 1.0
        cap = float(self.penalty_max)

        def grow(v):
            return v if factor == 1.0 else max(v, min(v * factor, cap))

        return Penalties(tuple(grow(v) for v in self.gammas()), tuple(grow(v) for v in self.betas()))

    def to_dict(self) -> dict:
        d = asdict(self)
        d["hidden"] = list(self.hidden)
        d["gamma"] = list(self.gamma)
        d["beta"] = list(self.beta)
        return d

    @classmethod
    def from_dict(cls, d: dict) -> "ADMMConfig":
        names = {f.name for f in fields(cls)}
        unknown = set(d) - names
        if unknown:
            raise ConfigError(f"unknown solver settings {sorted(unknown)}")
        return cls(**d)

    def replace(self, **changes) -> "ADMMConfig":
        return replace(self, **changes)


@dataclass(frozen=True)
class Penalties:
    gamma: Sequence[float]  # per hidden layer
    beta: Sequence[float]  # per layer

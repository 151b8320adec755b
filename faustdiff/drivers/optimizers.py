"""Optimisers, parameter normalisation, learning-rate schedules and stopping rules.

The clip and block trainers do not move raw slider values: they move a normalised
coordinate u in [0, 1] per parameter, where u = 0 is the slider's min and u = 1 its max
(on a log axis when the slider says `[scale:log]`). Why: one learning rate then suits a
cutoff in Hz and a gain in [0, 1] alike, a log-scaled frequency moves by ratios rather
than by Hz, and clamping to the slider's range is clamping u to [0, 1], which keeps a
filter inside the range its author declared stable.

The per-sample trainer (the original Faust scheme) moves raw values with plain SGD and
does not use this module's normalisation.
"""
from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import List, Optional, Sequence

import abc

import numpy as np

from faustdiff.errors import FaustRuntimeError

OPTIMIZERS = ("sgd", "adam")
SCHEDULES = ("constant", "exponential", "cosine")


# ----------------------------------------------------------------------------- normalisation

@dataclass
class ParameterSpace:
    """The map between raw values p and normalised u in [0, 1], per parameter.

    Linear: p = lo + u (hi - lo). Log: p = lo (hi / lo)^u, possible only when lo and hi are
    both positive; a log slider with another range falls back to linear (see `notes`).
    A parameter with lo == hi cannot move: its u stays 0 and its gradient is ignored.
    """

    lower: np.ndarray
    upper: np.ndarray
    log: np.ndarray                     # bool per parameter
    notes: List[str] = field(default_factory=list)

    @classmethod
    def of(cls, params: Sequence) -> "ParameterSpace":
        lower = np.array([min(p.min, p.max) for p in params], dtype=np.float64)
        upper = np.array([max(p.min, p.max) for p in params], dtype=np.float64)
        wants_log = [dict(getattr(p, "metadata", {}) or {}).get("scale") == "log"
                     for p in params]
        log, notes = [], []
        for p, wanted, lo, hi in zip(params, wants_log, lower, upper):
            ok = wanted and lo > 0 and hi > 0
            if wanted and not ok:
                notes.append(f"{p.label}: [scale:log] needs a positive range, got "
                             f"[{p.min:g}, {p.max:g}]; it is normalised linearly")
            log.append(ok)
        return cls(lower, upper, np.array(log, dtype=bool), notes)

    @property
    def movable(self) -> np.ndarray:
        return self.upper > self.lower

    def to_unit(self, values: np.ndarray) -> np.ndarray:
        values = np.clip(np.asarray(values, dtype=np.float64), self.lower, self.upper)
        span = np.where(self.movable, self.upper - self.lower, 1.0)
        u = (values - self.lower) / span
        with np.errstate(divide="ignore", invalid="ignore"):
            log_u = np.log(values / self.lower) / np.log(self.upper / self.lower)
        u = np.where(self.log & self.movable, log_u, u)
        return np.where(self.movable, np.clip(u, 0.0, 1.0), 0.0)

    def from_unit(self, u: np.ndarray) -> np.ndarray:
        linear = self.lower + u * (self.upper - self.lower)
        with np.errstate(divide="ignore", invalid="ignore"):
            logarithmic = self.lower * np.power(self.upper / self.lower, u)
        values = np.where(self.log, logarithmic, linear)
        # Exact ends: u = 1 must give the slider's max, not max * (1 ± 1 ulp).
        return np.clip(values, self.lower, self.upper)

    def gradient_to_unit(self, u: np.ndarray, gradient: np.ndarray) -> np.ndarray:
        """d loss / d u from d loss / d p: times dp/du (0 for a parameter that cannot move)."""
        dp_du = np.where(self.log, self.from_unit(u) * np.log(np.where(self.log, self.upper
                                                                        / self.lower, 1.0)),
                         self.upper - self.lower)
        return np.where(self.movable, gradient * dp_du, 0.0)


# ----------------------------------------------------------------------------- optimisers

class Optimizer(abc.ABC):
    """One update rule on a vector: `step(u, gradient, lr)` returns the next u."""

    name = "optimizer"

    @abc.abstractmethod
    def step(self, u: np.ndarray, gradient: np.ndarray, lr: float) -> np.ndarray:
        """The next u."""

    def reset(self) -> None:
        """Forget accumulated state (after a numerical back-off)."""


class SGD(Optimizer):
    name = "sgd"

    def step(self, u, gradient, lr):
        return u - lr * gradient


class Adam(Optimizer):
    """Adam (Kingma & Ba): steps of about lr per parameter, whatever the gradient's scale.

    That scale invariance is why it is the default: losses of quiet signals have tiny
    gradients, loud ones large, and Adam's first steps move u by lr either way.
    """

    name = "adam"

    def __init__(self, beta1: float = 0.9, beta2: float = 0.999):
        self.beta1, self.beta2 = beta1, beta2
        self.reset()

    def reset(self):
        self.m: Optional[np.ndarray] = None
        self.v: Optional[np.ndarray] = None
        self.t = 0

    def step(self, u, gradient, lr):
        if self.m is None:
            self.m, self.v = np.zeros_like(u), np.zeros_like(u)
        self.t += 1
        self.m = self.beta1 * self.m + (1 - self.beta1) * gradient
        self.v = self.beta2 * self.v + (1 - self.beta2) * gradient * gradient
        m_hat = self.m / (1 - self.beta1 ** self.t)
        v_hat = self.v / (1 - self.beta2 ** self.t)
        # No epsilon in the denominator: it would make steps depend on the gradient's scale
        # (a quiet signal's gradients can be 1e-12), which Adam is chosen to avoid. Only a
        # gradient that has been exactly 0 so far (v = 0) needs a guard: no step, not 0/0.
        direction = np.divide(m_hat, np.sqrt(v_hat), out=np.zeros_like(u), where=v_hat > 0)
        return u - lr * direction


def make_optimizer(name: str) -> Optimizer:
    if name == "sgd":
        return SGD()
    if name == "adam":
        return Adam()
    raise FaustRuntimeError(f"unknown optimizer {name!r} (choose {' or '.join(OPTIMIZERS)})")


# ----------------------------------------------------------------------------- schedules

def learning_rate_at(schedule: str, base: float, iteration: int, total: int,
                     final_fraction: float) -> float:
    """The learning rate of `iteration` (0-based) out of `total`.

    constant     base throughout;
    exponential  base · final_fraction^(iteration / total): falls geometrically to
                 base · final_fraction at the last iteration;
    cosine       from base down to base · final_fraction along half a cosine.
    """
    if schedule == "constant" or total <= 1:
        return base
    progress = min(iteration / (total - 1), 1.0)
    if schedule == "exponential":
        return base * final_fraction ** progress
    if schedule == "cosine":
        low = base * final_fraction
        return low + 0.5 * (base - low) * (1.0 + math.cos(math.pi * progress))
    raise FaustRuntimeError(f"unknown schedule {schedule!r} (choose {', '.join(SCHEDULES)})")


# ----------------------------------------------------------------------------- stopping

class Plateau:
    """True once the loss has not improved on its best by more than a fraction
    `min_delta` (relative) for `patience` consecutive iterations."""

    def __init__(self, patience: int, min_delta: float):
        self.patience, self.min_delta = patience, min_delta
        self.best = math.inf
        self.waited = 0

    def update(self, loss: float) -> bool:
        if loss < self.best * (1.0 - self.min_delta) or self.best == math.inf:
            self.best = loss
            self.waited = 0
        else:
            self.waited += 1
        return self.waited >= self.patience

    def restart(self) -> None:
        self.waited = 0

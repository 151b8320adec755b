"""Constants to twice the precision of a float, for the runtime helpers that compute a
power or a logarithm of another base through exp and log (runtime_helpers.fd_pow_base,
fd_log10). Pure Python: the renderer uses it without loading Numba."""
from __future__ import annotations

from decimal import Decimal, localcontext
from typing import Tuple

DoubleDouble = Tuple[float, float]  # (hi, lo): the constant is hi + lo to about 106 bits


def _split(value: Decimal) -> DoubleDouble:
    hi = float(value)
    return hi, float(value - Decimal(hi))


def log_of(base: float) -> DoubleDouble:
    with localcontext() as ctx:
        ctx.prec = 40
        return _split(Decimal(base).ln())


def inverse_log_of(base: float) -> DoubleDouble:
    with localcontext() as ctx:
        ctx.prec = 40
        return _split(1 / Decimal(base).ln())

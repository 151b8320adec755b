"""Constants to twice the precision of a float, for the runtime helpers that compute a
power or a logarithm of another base through exp and log (exp_log.fd_pow_base,
fd_log10). Pure Python: the renderer uses it without loading Numba."""
from __future__ import annotations

from decimal import Context, Decimal
from typing import Tuple

DoubleDouble = Tuple[float, float]  # (hi, lo): the constant is hi + lo to about 106 bits
EXACT = Context(prec=40)  # decimal digits, beyond the 32 that 106 bits need


def _split(value: Decimal) -> DoubleDouble:
    hi = float(value)
    return hi, float(EXACT.subtract(value, Decimal(hi)))


def log_of(base: float) -> DoubleDouble:
    return _split(EXACT.ln(Decimal(base)))


def inverse_log_of(base: float) -> DoubleDouble:
    return _split(EXACT.divide(1, EXACT.ln(Decimal(base))))

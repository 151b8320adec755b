"""Constants to twice the precision of a float, for the runtime helpers that compute a
power or a logarithm of another base through exp and log (runtime_helpers.fd_pow_base,
fd_log10). Pure Python: the renderer uses it without loading Numba."""
from __future__ import annotations

from decimal import Context, Decimal
from typing import Tuple

DoubleDouble = Tuple[float, float]  # (hi, lo): the constant is hi + lo to about 106 bits
_EXACT = Context(prec=40)  # decimal digits, beyond the 32 that 106 bits need


def _split(value: Decimal) -> DoubleDouble:
    hi = float(value)
    return hi, float(_EXACT.subtract(value, Decimal(hi)))


def log_of(base: float) -> DoubleDouble:
    return _split(_EXACT.ln(Decimal(base)))


def inverse_log_of(base: float) -> DoubleDouble:
    return _split(_EXACT.divide(1, _EXACT.ln(Decimal(base))))

"""Constants to twice the precision of a float, for the runtime helpers that compute a
power or a logarithm of another base through exp and log, and for exp's own argument
reduction (codegen/exp_log.py). Pure Python: the renderer uses it without loading Numba."""
from __future__ import annotations

import math
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


def log_with_short_high(base: float, zero_bits: int) -> DoubleDouble:
    """log(base) as hi + lo with the last `zero_bits` bits of hi's mantissa zero, so that
    k·hi is exact for every integer |k| < 2**zero_bits (exp's k·log 2)."""
    value = _EXACT.ln(Decimal(base))
    mantissa, exponent = math.frexp(float(value))
    kept = 53 - zero_bits
    hi = math.ldexp(math.trunc(math.ldexp(mantissa, kept)), exponent - kept)
    return hi, float(_EXACT.subtract(value, Decimal(hi)))

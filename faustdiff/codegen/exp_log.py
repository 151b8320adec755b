"""exp, log, log10 and powers of a constant base, as straight-line arithmetic the
kernels inline.

A call of the C library cannot be vectorized: a compressor's `log10` (`ba.linear2db`) and
`pow(10, x)` (`ba.db2linear`) cost about 25 cycles a sample each through glibc, most of
its render. Written here without a branch or a table, the loop that computes them
(a stage of its own, `fission.py`) runs eight samples per AVX-512 instruction.

- exp(x): x = k·log 2 + r with |r| <= log(2)/2 (log 2 split so that k·hi is exact),
  e^r = 1 + r + r²·T(r) with T the Taylor series to r^13 (its first dropped term is
  below 5e-18 there), 1 + r carried to twice the precision, then scaled by 2^k through
  the exponent bits (in two halves, so that every k of the range is a normal number).
- log(x): x = 2^e·m with m in [sqrt(2)/2, sqrt(2)) by integer operations on the bits;
  with f = m - 1 and s = f/(2 + f), log m = f - f²/2 + s·(f²/2 + R(s²)) where
  R(z) = sum of 2z^j/(2j+1) to j = 11 (the first dropped term is below 1e-19); e·log 2
  is exact, and e·log 2 + f is added with its rounding error kept.
- log10(x): that logarithm, still split in three, times 1/log 10 as a double-double.
- base^y: exp of y·log(base) with log(base) a double-double (`double_double.log_of`) and
  the product's rounding error carried into exp's reduced argument.

Measured against exact values (`decimal`, tests/test_codegen.py): exp within 0.59 ulp,
log 0.72, log10 0.82, powers 0.58 (glibc: 0.5 for each). Every power whose exact value
is a double comes out exactly (10^2 is 100), and log10 of a power of ten is its
exponent: there the error before the final rounding is well below half an ulp.
Float32 kernels compute the same in float64 and round once.
"""
from __future__ import annotations

import math

import numpy as np
from llvmlite import ir
from numba import types
from numba.extending import intrinsic, overload

from .double_double import inverse_log_of, log_with_short_high
from .runtime_helpers import fused_multiply_add as _fma
from .runtime_helpers import njit

# compiled once each (and cached), then inlined by LLVM: inlining them in Numba's IR
# cost about two seconds more per kernel compile
_JIT = dict(cache=True, error_model="numpy", nogil=True)


@intrinsic
def _bits_to_double(typingctx, bits):
    if bits != types.int64:
        return None

    def codegen(context, builder, signature, args):
        return builder.bitcast(args[0], ir.DoubleType())

    return types.float64(types.int64), codegen


@intrinsic
def _double_to_bits(typingctx, x):
    if x != types.float64:
        return None

    def codegen(context, builder, signature, args):
        return builder.bitcast(args[0], ir.IntType(64))

    return types.int64(types.float64), codegen


@intrinsic
def _pick(typingctx, condition, a, b):
    """a if condition else b, as a select: no branch for the vectorizer to undo."""
    if condition != types.boolean or a != b:
        return None

    def codegen(context, builder, signature, args):
        return builder.select(args[0], args[1], args[2])

    return a(condition, a, b), codegen


_LN2_HI, _LN2_LO = log_with_short_high(2.0, 32)
_INV_LN2 = inverse_log_of(2.0)[0]
_ROUNDER = 6755399441055744.0  # 1.5·2^52: adding it rounds a value below 2^51 to an integer
# 1/13!, 1/12!, ..., 1/2!: the series of (e^r - 1 - r)/r², highest term first
_E = tuple(1 / math.factorial(n) for n in range(13, 1, -1))  # (int / int rounds once)
# 2/23, 2/21, ..., 2/3: R(z) / z, highest term first
_L = tuple(2 / (2 * j + 1) for j in range(11, 0, -1))
_SQRT_HALF_BITS = int(np.float64(math.sqrt(0.5)).view(np.int64))
_EXPONENT_FIELD = -(1 << 52)  # the sign and exponent bits of an int64
_SMALLEST_NORMAL = 2.2250738585072014e-308
_EXP_OVERFLOW = 709.782712893384  # above it exp(x) is inf
_EXP_UNDERFLOW = -745.1332191019412  # below it exp(x) is 0
_INV_LN10_HI, _INV_LN10_LO = inverse_log_of(10.0)


@njit(**_JIT)
def _polynomial(coefficients, x):
    """The polynomial of x with these coefficients, highest power first (Horner)."""
    acc = coefficients[0]
    for c in coefficients[1:]:
        acc = _fma(acc, x, c)
    return acc


@njit(**_JIT)
def _exp_of_pair(x, x_lo):
    """exp(x + x_lo), x_lo a correction far below x's ulp (0 for a plain exp)."""
    xc = _pick(x > -746.0, x, -746.0)  # NaN too: the result is chosen at the end
    xc = _pick(xc < 710.0, xc, 710.0)
    kd = (xc * _INV_LN2 + _ROUNDER) - _ROUNDER
    r_hi = _fma(-kd, _LN2_HI, xc)  # exact
    r_lo = _fma(-kd, _LN2_LO, x_lo)
    r = r_hi + r_lo
    r_err = (r_hi - r) + r_lo
    t = _polynomial(_E, r)
    one_r = 1.0 + r
    one_r_err = (1.0 - one_r) + r
    # e^(r + r_err) = e^r (1 + r_err) to first order
    v = one_r + (_fma(r_err, r, r_err) + (one_r_err + (r * r) * t))
    k = np.int64(kd)
    k_half = k >> 1
    y = (v * _bits_to_double((k_half + 1023) << 52)) * _bits_to_double((k - k_half + 1023) << 52)
    y = _pick(x < _EXP_OVERFLOW, y, math.inf)
    y = _pick(x > _EXP_UNDERFLOW, y, 0.0)
    return _pick(x == x, y, x)


@njit(**_JIT)
def _log_parts(x):
    """log(x) in three parts (hi, rest, f), x = 2^e·(1 + f) positive and finite:
    hi = e·(log 2's high part), exact; f; rest = the remainder of log(1 + f) - f plus
    e·(log 2's low part)."""
    tiny = x < _SMALLEST_NORMAL
    bits = _double_to_bits(_pick(tiny, x * 18014398509481984.0, x))  # 2^54
    # less the bits of sqrt(1/2), the exponent field steps where the mantissa passes
    # sqrt(2): m = x / 2^e lands in [sqrt(1/2), sqrt(2)) without a compare
    shifted = bits - _SQRT_HALF_BITS
    e = np.float64((shifted >> 52) - _pick(tiny, np.int64(54), np.int64(0)))
    f = _bits_to_double(bits - (shifted & _EXPONENT_FIELD)) - 1.0
    s = f / (2.0 + f)
    z = s * s
    r = _polynomial(_L, z)
    half_f2 = 0.5 * f * f
    rest = _fma(e, _LN2_LO, s * (half_f2 + r * z)) - half_f2
    return e * _LN2_HI, rest, f


@njit(**_JIT)
def _log_special(x, y):
    """y where x is positive and finite; C's log elsewhere."""
    y = _pick(x < math.inf, y, x)
    y = _pick(x > 0.0, y, -math.inf)
    y = _pick(x >= 0.0, y, math.nan)
    return _pick(x == x, y, x)


@njit(**_JIT)
def _two_sum(a, b):
    s = a + b
    b_part = s - a
    return s, (a - (s - b_part)) + (b - b_part)


@njit(**_JIT)
def _log_double(x):
    hi, rest, f = _log_parts(x)
    s, err = _two_sum(hi, f)
    return _log_special(x, s + (err + rest))


@njit(**_JIT)
def _log10_double(x):
    hi, rest, f = _log_parts(x)
    p_hi = hi * _INV_LN10_HI
    p_f = f * _INV_LN10_HI
    s, err = _two_sum(p_hi, p_f)
    small = _fma(rest, _INV_LN10_HI, _fma(hi + f, _INV_LN10_LO, _fma(hi, _INV_LN10_HI, -p_hi)
                                          + _fma(f, _INV_LN10_HI, -p_f)))
    return _log_special(x, s + (err + small))


@njit(**_JIT)
def _exp_double(x):
    return _exp_of_pair(x, 0.0)


@njit(**_JIT)
def _pow_base_double(y, ln_hi, ln_lo, base):
    p = y * ln_hi
    return _exp_of_pair(p, _fma(y, ln_hi, -p) + y * ln_lo)


# The kernels' names: stubs, whose meaning in Numba is the overloads below.
def fd_exp(x):
    """exp(x)."""
    return math.exp(x)


def fd_log(x):
    """log(x)."""
    return math.log(x)


def fd_log10(x):
    """log10(x)."""
    return math.log10(x)


def fd_pow_base(y, ln_hi, ln_lo, base):
    """base**y for a constant base > 0 with log(base) = ln_hi + ln_lo (double_double.py)."""
    return math.pow(base, y)


def _unary(double_version):
    """The implementation of fd_exp, fd_log or fd_log10 for its argument's type."""
    def choose(x):
        if x == types.float64:
            return lambda x: double_version(x)
        if x == types.float32:
            return lambda x: np.float32(double_version(np.float64(x)))
        return None

    return choose


@overload(fd_pow_base, inline="always")
def _pow_base_typed(y, ln_hi, ln_lo, base):
    if y == types.float64:
        return lambda y, ln_hi, ln_lo, base: _pow_base_double(y, ln_hi, ln_lo, base)
    if y == types.float32:
        return lambda y, ln_hi, ln_lo, base: np.float32(
            _pow_base_double(np.float64(y), ln_hi, ln_lo, base))
    return None


overload(fd_exp, inline="always")(_unary(_exp_double))
overload(fd_log, inline="always")(_unary(_log_double))
overload(fd_log10, inline="always")(_unary(_log10_double))

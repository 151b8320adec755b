"""Scalar functions the generated kernels call, with the real Faust compiler's C
semantics where Python's differ. Compiled by Numba and inlined into each kernel."""
from __future__ import annotations

import math

import numpy as np
from numba import njit

_JIT = dict(cache=True, error_model="numpy", inline="always", nogil=True)


@njit(**_JIT)
def fd_int(x):
    """C (int) cast as x86 does it: truncation, INT_MIN when out of range or NaN."""
    if x >= -2147483648.0 and x < 2147483648.0:
        return np.int32(int(x))
    return np.int32(-2147483648)


@njit(**_JIT)
def fd_imod(a, b):
    """C `%` on ints: the sign of the result follows the dividend; 0 for a zero divisor
    (where C would trap)."""
    if b == 0:
        return np.int32(0)
    r = abs(np.int64(a)) % abs(np.int64(b))
    return np.int32(-r if a < 0 else r)


@njit(**_JIT)
def fd_remainder(x, y):
    """C `remainder`: x - n*y with n the nearest integer to x/y, ties to even."""
    if y == 0 or math.isinf(x) or math.isnan(x) or math.isnan(y):
        return x * 0.0 + math.nan
    if math.isinf(y):
        return x
    r = np.fmod(x, y)
    ay = abs(y)
    twice = 2.0 * abs(r)
    if twice > ay or (twice == ay and np.fmod((x - r) / y, 2.0) != 0.0):
        r = r - ay if r > 0 else r + ay
    return r


@njit(**_JIT)
def fd_pow(x, y):
    return math.pow(x, y)


@njit(**_JIT)
def fd_fdim(x, y):
    return x - y if x > y else x * 0.0

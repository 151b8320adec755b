"""Scalar functions the generated kernels call, with the real Faust compiler's C
semantics where Python's differ. Compiled by Numba and inlined into each kernel."""
from __future__ import annotations

import math
import platform

import numpy as np
from llvmlite import ir
from numba import njit, types
from numba.extending import intrinsic

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
def fd_round(x):
    """C `round`, which the real compiler's code calls: halfway cases go away from zero
    (NumPy's and Python's rounding go to even). x - trunc(x) is exact, so no addition of
    0.5 can round the argument up first (0.49999999999999994 stays 0)."""
    t = np.trunc(x)
    if abs(x - t) >= 0.5:
        return t + np.sign(x)
    return t


@njit(**_JIT)
def fd_pow(x, y):
    return math.pow(x, y)


@njit(**_JIT)
def fd_fdim(x, y):
    return x - y if x > y else x * 0.0


# --- denormals ---------------------------------------------------------------------
# Decaying feedback (a reverb tail, the tangent of a filter's state) sinks into
# subnormal numbers, on which x86 arithmetic is tens of times slower. Audio code runs
# with flush-to-zero and denormals-are-zero set, as Faust's architectures do; the
# kernels set both bits of MXCSR on entry and restore the caller's value on exit.
_X86 = platform.machine().lower() in ("x86_64", "amd64", "i386", "i686")
_FTZ_DAZ = 0x8040


def _mxcsr_intrinsic(name):
    fnty = ir.FunctionType(ir.VoidType(), [ir.PointerType(ir.IntType(8))])
    return lambda builder: builder.module.declare_intrinsic(name, fnty=fnty)


_stmxcsr = _mxcsr_intrinsic("llvm.x86.sse.stmxcsr")
_ldmxcsr = _mxcsr_intrinsic("llvm.x86.sse.ldmxcsr")


@intrinsic
def _read_mxcsr(typingctx):
    def codegen(context, builder, signature, args):
        slot = builder.alloca(ir.IntType(32))
        builder.call(_stmxcsr(builder), [builder.bitcast(slot, ir.PointerType(ir.IntType(8)))])
        return builder.load(slot)

    return types.uint32(), codegen


@intrinsic
def _write_mxcsr(typingctx, value):
    def codegen(context, builder, signature, args):
        slot = builder.alloca(ir.IntType(32))
        builder.store(args[0], slot)
        builder.call(_ldmxcsr(builder), [builder.bitcast(slot, ir.PointerType(ir.IntType(8)))])
        return context.get_dummy_value()

    return types.void(types.uint32), codegen


if _X86:
    @njit(**_JIT)
    def fd_denormals_off():
        """Set flush-to-zero and denormals-are-zero; returns the previous MXCSR."""
        previous = _read_mxcsr()
        _write_mxcsr(previous | np.uint32(_FTZ_DAZ))
        return previous

    @njit(**_JIT)
    def fd_restore_fp(previous):
        _write_mxcsr(previous)
else:
    @njit(**_JIT)
    def fd_denormals_off():
        return np.uint32(0)

    @njit(**_JIT)
    def fd_restore_fp(previous):
        return None


# --- tangent packs -------------------------------------------------------------------
# A pack (the tangents of one signal for several parameters) is a tuple of floats in the
# kernel source. These two operations compute on all its lanes as one LLVM vector, which
# the backend maps to SIMD registers: one multiply port cycle serves every parameter.
# The tuple <-> vector conversions around each operation cancel out between operations.
def _vector_of(builder, tup, count, element):
    vec = ir.Constant(ir.VectorType(element, count), ir.Undefined)
    for j in range(count):
        vec = builder.insert_element(vec, builder.extract_value(tup, j), ir.Constant(ir.IntType(32), j))
    return vec


def _tuple_of(builder, context, vec, tuple_type):
    out = ir.Constant(context.get_value_type(tuple_type), ir.Undefined)
    for j in range(tuple_type.count):
        out = builder.insert_value(out, builder.extract_element(vec, ir.Constant(ir.IntType(32), j)), j)
    return out


def _is_pack(t):
    return isinstance(t, types.UniTuple) and isinstance(t.dtype, types.Float)


def _scale_codegen(strong_zero):
    def codegen(context, builder, signature, args):
        coef, pack = signature.args
        element = context.get_value_type(pack.dtype)
        scalar = context.cast(builder, args[0], coef, pack.dtype)
        count = pack.count
        vector_type = ir.VectorType(element, count)
        splat = builder.insert_element(ir.Constant(vector_type, ir.Undefined),
                                       scalar, ir.Constant(ir.IntType(32), 0))
        splat = builder.shuffle_vector(splat, splat, ir.Constant(ir.VectorType(ir.IntType(32), count),
                                                                 [0] * count))
        lanes = _vector_of(builder, args[1], count, element)
        product = builder.fmul(splat, lanes)
        if strong_zero:
            zero = ir.Constant(vector_type, [ir.Constant(element, 0.0)] * count)
            product = builder.select(builder.fcmp_ordered("==", lanes, zero), zero, product)
        return _tuple_of(builder, context, product, pack)

    return codegen


@intrinsic
def fd_vscale(typingctx, coef, pack):
    """coef * pack, lane by lane (coef a scalar float)."""
    if not (_is_pack(pack) and isinstance(coef, (types.Float, types.Integer))):
        return None
    return pack(coef, pack), _scale_codegen(strong_zero=False)


@intrinsic
def fd_vscale0(typingctx, coef, pack):
    """coef * pack, but 0 in the lanes where pack is 0 whatever coef is (0 * inf = 0)."""
    if not (_is_pack(pack) and isinstance(coef, (types.Float, types.Integer))):
        return None
    return pack(coef, pack), _scale_codegen(strong_zero=True)


@intrinsic
def fd_vadd(typingctx, a, b):
    """a + b, lane by lane (packs of the same lanes)."""
    if not (_is_pack(a) and a == b):
        return None

    def codegen(context, builder, signature, args):
        element = context.get_value_type(a.dtype)
        total = builder.fadd(_vector_of(builder, args[0], a.count, element),
                             _vector_of(builder, args[1], a.count, element))
        return _tuple_of(builder, context, total, a)

    return a(a, b), codegen

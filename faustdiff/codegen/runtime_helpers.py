"""Scalar functions the generated kernels call, with the real Faust compiler's C
semantics where Python's differ. Compiled by Numba and inlined into each kernel."""
from __future__ import annotations

import math
import platform

import numpy as np
import llvmlite.binding as llvm_binding
from llvmlite import ir
from numba import njit, types
from numba.extending import intrinsic, models, overload, register_model

from . import libm

_JIT = dict(cache=True, error_model="numpy", inline="always", nogil=True)


def fd_int(x):
    """C (int) cast as x86 does it: truncation, INT_MIN when out of range or NaN."""
    return _int_portable(x)


def _int_portable(x):
    if x >= -2147483648.0 and x < 2147483648.0:
        return np.int32(int(x))
    return np.int32(-2147483648)


@intrinsic
def _int_x86(typingctx, x):
    """x86's own truncating conversion (cvttsd2si, cvttss2si): INT_MIN for NaN and out of
    range is what the instruction gives, with no compare or branch (a table oscillator
    casts twice a sample)."""
    if x not in (types.float64, types.float32):
        return None

    def codegen(context, builder, signature, args):
        double = signature.args[0] == types.float64
        vector = ir.VectorType(args[0].type, 2 if double else 4)
        packed = builder.insert_element(ir.Constant(vector, ir.Undefined), args[0], _i32(0))
        name = "llvm.x86.sse2.cvttsd2si" if double else "llvm.x86.sse.cvttss2si"
        fn = builder.module.declare_intrinsic(name, fnty=ir.FunctionType(ir.IntType(32), [vector]))
        return builder.call(fn, [packed])

    return types.int32(x), codegen


@overload(fd_int, inline="always")
def _int_typed(x):
    if _X86 and x in (types.float64, types.float32):
        return lambda x: _int_x86(x)
    return _int_portable


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


# --- pow ----------------------------------------------------------------------------------
# Called under a name of its own, bound to the C library's current version (libm.py):
# Numba's math.pow reaches glibc's compatibility wrapper. Declared without side effects
# (as LLVM's own llvm.pow is), so LLVM may hoist and share them like any arithmetic.
for _name, _address in libm.addresses().items():
    llvm_binding.add_symbol(_name, _address)


def _libm_codegen(name):
    def codegen(context, builder, signature, args):
        module = builder.module
        fn = module.globals.get(name)
        if fn is None:
            t = args[0].type
            fn = ir.Function(module, ir.FunctionType(t, [t] * len(args)), name)
            fn.attributes.add("nounwind")
            fn.attributes.add("readnone")
        return builder.call(fn, args)

    return codegen


def _libm_typing(double_name, single_name, args):
    """The signature and code of a call of the C library's `double_name` on float64
    arguments or `single_name` on float32 ones; None for other arguments."""
    if len(set(args)) != 1 or args[0] not in (types.float64, types.float32):
        return None
    name = libm.symbol(double_name if args[0] == types.float64 else single_name)
    return args[0](*args), _libm_codegen(name)


@intrinsic
def fd_pow(typingctx, x, y):
    """pow(x, y), both float64 or both float32."""
    return _libm_typing("pow", "powf", (x, y))


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
# A pack (the tangents of one signal for several parameters) is an LLVM vector in the
# kernels: a Numba type of its own whose data model is `<count x float>`, so a pack kept
# from one sample to the next (a recursion's state) stays in one SIMD register, and a
# pack in a delay line or a table moves with one vector load or store. A tuple would be
# split into scalars by LLVM and rebuilt, lane by lane, around every vector operation.
class PackType(types.Type):
    """A tangent pack in a kernel: `count` lanes of `dtype`."""

    def __init__(self, dtype, count):
        self.dtype = dtype
        self.count = count
        super().__init__(name=f"FaustDiffPack({dtype}, {count})")


@register_model(PackType)
class _PackModel(models.PrimitiveModel):
    def __init__(self, dmm, fe_type):
        element = dmm.lookup(fe_type.dtype).get_value_type()
        super().__init__(dmm, fe_type, ir.VectorType(element, fe_type.count))


def _i32(j):
    return ir.Constant(ir.IntType(32), j)


def _lanes_pointer(context, builder, array_type, array, at, pack):
    """The address of element `at` of `array`, as a pointer to a pack."""
    data = context.make_array(array_type)(context, builder, array).data
    return builder.bitcast(builder.gep(data, [at]), context.get_value_type(pack).as_pointer())


@intrinsic
def fd_vmake(typingctx, lanes):
    """The pack of a tuple of floats."""
    if not (isinstance(lanes, types.UniTuple) and isinstance(lanes.dtype, types.Float)):
        return None
    pack = PackType(lanes.dtype, lanes.count)

    def codegen(context, builder, signature, args):
        vector = ir.Constant(context.get_value_type(pack), ir.Undefined)
        for j in range(lanes.count):
            vector = builder.insert_element(vector, builder.extract_value(args[0], j), _i32(j))
        return vector

    return pack(lanes), codegen


@intrinsic
def fd_vlane(typingctx, pack, j):
    """Lane j of a pack."""
    if not (isinstance(pack, PackType) and isinstance(j, types.Integer)):
        return None

    def codegen(context, builder, signature, args):
        return builder.extract_element(args[0], args[1])

    return pack.dtype(pack, j), codegen


@intrinsic(prefer_literal=True)
def fd_vload(typingctx, array, at, width):
    """The pack of `width` (a literal) elements of `array` from index `at`."""
    if not (isinstance(array, types.Array) and isinstance(array.dtype, types.Float)
            and isinstance(width, types.IntegerLiteral)):
        return None
    pack = PackType(array.dtype, width.literal_value)

    def codegen(context, builder, signature, args):
        pointer = _lanes_pointer(context, builder, array, args[0], args[1], pack)
        return builder.load(pointer, align=array.dtype.bitwidth // 8)

    return pack(array, at, width), codegen


@intrinsic
def fd_vstore(typingctx, array, at, pack):
    """Store the lanes of `pack` in `array` from index `at`."""
    if not (isinstance(array, types.Array) and isinstance(pack, PackType)
            and array.dtype == pack.dtype):
        return None

    def codegen(context, builder, signature, args):
        pointer = _lanes_pointer(context, builder, array, args[0], args[1], pack)
        builder.store(args[2], pointer, align=array.dtype.bitwidth // 8)
        return context.get_dummy_value()

    return types.none(array, at, pack), codegen


def _splat(context, builder, value, value_type, pack):
    """The pack whose every lane is the scalar `value`."""
    scalar = context.cast(builder, value, value_type, pack.dtype)
    vector_type = ir.VectorType(context.get_value_type(pack.dtype), pack.count)
    splat = builder.insert_element(ir.Constant(vector_type, ir.Undefined), scalar, _i32(0))
    return builder.shuffle_vector(splat, splat,
                                  ir.Constant(ir.VectorType(ir.IntType(32), pack.count),
                                              [0] * pack.count))


def _fmuladd(builder, a, b, c, always_fused: bool = False):
    """a*b + c, rounded once where the machine has a fused multiply-add (llvm.fmuladd:
    LLVM keeps the multiply and the add apart where fusing would be slower);
    `always_fused`: rounded once everywhere, in software where the machine cannot
    (llvm.fma), as the exact error of a product needs."""
    t = a.type
    suffix = (f"v{t.count}{t.element.intrinsic_name}" if isinstance(t, ir.VectorType)
              else t.intrinsic_name)
    name = "llvm.fma" if always_fused else "llvm.fmuladd"
    fn = builder.module.declare_intrinsic(f"{name}.{suffix}", fnty=ir.FunctionType(t, [t] * 3))
    return builder.call(fn, [a, b, c])


def _scale_codegen(strong_zero):
    def codegen(context, builder, signature, args):
        coef, pack = signature.args
        product = builder.fmul(_splat(context, builder, args[0], coef, pack), args[1])
        if strong_zero:
            zero = ir.Constant(args[1].type, None)
            product = builder.select(builder.fcmp_ordered("==", args[1], zero), zero, product)
        return product

    return codegen


@intrinsic
def fd_vscale(typingctx, coef, pack):
    """coef * pack, lane by lane (coef a scalar)."""
    if not (isinstance(pack, PackType) and isinstance(coef, (types.Float, types.Integer))):
        return None
    return pack(coef, pack), _scale_codegen(strong_zero=False)


@intrinsic
def fd_vscale0(typingctx, coef, pack):
    """coef * pack, but 0 in the lanes where pack is 0 whatever coef is (0 * inf = 0)."""
    if not (isinstance(pack, PackType) and isinstance(coef, (types.Float, types.Integer))):
        return None
    return pack(coef, pack), _scale_codegen(strong_zero=True)


@intrinsic
def fd_vadd(typingctx, a, b):
    """a + b, lane by lane (packs of the same lanes)."""
    if not (isinstance(a, PackType) and a == b):
        return None

    def codegen(context, builder, signature, args):
        return builder.fadd(args[0], args[1])

    return a(a, b), codegen


@intrinsic
def fd_vfma(typingctx, coef, a, b):
    """coef * a + b, lane by lane, as one multiply-add (coef a scalar)."""
    if not (isinstance(a, PackType) and a == b and isinstance(coef, (types.Float, types.Integer))):
        return None

    def codegen(context, builder, signature, args):
        return _fmuladd(builder, _splat(context, builder, args[0], coef, a), args[1], args[2])

    return a(coef, a, b), codegen


# A select of whole packs on a comparison of two floats. Written as a Python `if`, or as
# an LLVM select on the comparison's i1, the x86 back end either branches (a mispredict
# on every other sample when the comparison follows a noisy signal) or carries the i1
# through a general register into a mask, which lengthens the comparison's path where it
# also decides a scalar on a recursion (an envelope follower's attack or release
# coefficient: 0.49 against 0.44 ms per s of audio for the compressor's jvp). Compared
# again in vector registers, with an x86 compare LLVM does not fold back into the scalar
# one, the pack's choice is a blend beside the scalar path.
_VECTOR_COMPARE = {"<": (False, 1), "<=": (False, 2), ">": (True, 1), ">=": (True, 2),
                   "==": (False, 0), "!=": (False, 4)}  # op: (swap operands, x86 predicate)


def _compare_mask(context, builder, a, b, op, pack):
    """The mask, lane by lane of `pack`, of `a op b` (two scalars of the pack's dtype)."""
    double = pack.dtype == types.float64
    if not _X86:
        x, y = (_splat(context, builder, v, pack.dtype, pack) for v in (a, b))
        compare = builder.fcmp_unordered if op == "!=" else builder.fcmp_ordered
        return compare(op, x, y)
    wide = PackType(pack.dtype, 2 if double else 4)  # one 128-bit compare (SSE2)
    swap, predicate = _VECTOR_COMPARE[op]
    x, y = (_splat(context, builder, v, pack.dtype, wide) for v in ((b, a) if swap else (a, b)))
    name = "llvm.x86.sse2.cmp.pd" if double else "llvm.x86.sse.cmp.ps"
    compare = builder.module.declare_intrinsic(
        name, fnty=ir.FunctionType(x.type, [x.type, x.type, ir.IntType(8)]))
    bits = builder.bitcast(builder.call(compare, [x, y, ir.Constant(ir.IntType(8), predicate)]),
                           ir.VectorType(ir.IntType(64 if double else 32), wide.count))
    spread = builder.shuffle_vector(bits, bits, ir.Constant(
        ir.VectorType(ir.IntType(32), pack.count), [0] * pack.count))  # lane 0, pack-wide
    return builder.icmp_signed("<", spread, ir.Constant(spread.type, None))


@intrinsic(prefer_literal=True)
def fd_vselect_cmp(typingctx, a, b, op, if_true, if_false):
    """if_true where `a op b` (op a literal comparison; a and b of the packs' dtype), else
    if_false: whole packs, chosen by a compare in vector registers."""
    if not (isinstance(op, types.StringLiteral) and op.literal_value in _VECTOR_COMPARE
            and isinstance(if_true, PackType) and if_true == if_false
            and a == b == if_true.dtype):
        return None
    comparison = op.literal_value

    def codegen(context, builder, signature, args):
        mask = _compare_mask(context, builder, args[0], args[1], comparison, if_true)
        return builder.select(mask, args[3], args[4])

    return if_true(a, b, op, if_true, if_false), codegen


# --- multiply-adds ---------------------------------------------------------------------
# The kernels' plain arithmetic is never contracted (Numba emits no fast-math flags);
# codegen/sums.py chooses the products that fuse, and writes them with these.
def _multiply_add(a, b, c, negate_product: bool, negate_addend: bool,
                  always_fused: bool = False):
    if not (isinstance(a, types.Float) and a == b == c):
        return None

    def codegen(context, builder, signature, args):
        x, y, z = args
        if negate_product:
            x = builder.fneg(x)
        if negate_addend:
            z = builder.fneg(z)
        return _fmuladd(builder, x, y, z, always_fused)

    return a(a, b, c), codegen


@intrinsic
def fd_fma(typingctx, a, b, c):
    """a*b + c (floats of one type), rounded once where the machine fuses."""
    return _multiply_add(a, b, c, False, False)


@intrinsic
def fd_fms(typingctx, a, b, c):
    """a*b - c."""
    return _multiply_add(a, b, c, False, True)


@intrinsic
def fd_fnma(typingctx, a, b, c):
    """c - a*b."""
    return _multiply_add(a, b, c, True, False)


# --- a multiply-add rounded once everywhere (exp_log.py) ---------------------------------
@intrinsic
def fused_multiply_add(typingctx, a, b, c):
    """a*b + c (float64) rounded once on every machine."""
    if a != types.float64:
        return None
    return _multiply_add(a, b, c, False, False, always_fused=True)

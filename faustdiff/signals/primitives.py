"""The primitive operations of the signal graph: one registry entry per primitive.

Each `Primitive` says, in one place, everything the compiler needs about an operation:
- its meaning on constants (`fold`, exactly as the real Faust compiler computes it:
  int32 wrap-around, float `/`, C `%` on ints and `fmod` on floats, shifts modulo 32...);
- its result type from its argument types (`result`) and the kind its arguments are cast
  to before the operation (`operands`: 'same' promotes ints to float when any argument
  is float, 'float'/'int' cast every argument, 'any' leaves them);
- how the Numba code generator writes it (`emit`, a Python expression over operand
  expressions already cast as `operands` says);
- its forward-mode derivative (`partials`: one coefficient signal per argument, so the
  tangent is sum(coef_i * tangent_i) — a linear map of the argument tangents, which a
  reverse mode can transpose; None marks an argument with zero derivative), and the
  convention at every kink, written next to the rule;
- a value interval from argument intervals (`interval`), used to size delay lines.

Operations with structure of their own (delay, select2/3, recursion) have their linear
tangent maps in `faustdiff.diff.tangents`.
"""
from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Callable, Dict, List, Optional, Sequence, Tuple

import numpy as np

from .nodes import FLOAT_KIND, INT_KIND, Sig, const, const_float, leaf_kind, node, wrap_int32

INT_MIN = -2147483648
INF = math.inf

Interval = Tuple[float, float]
UNBOUNDED: Interval = (-INF, INF)


@dataclass(frozen=True)
class Primitive:
    name: str
    arity: int
    result: Callable[[Sequence[str]], str]
    operands: str  # 'same' | 'float' | 'int' | 'any'
    fold: Optional[Callable]  # None: never folded (e.g. a foreign function with no Python meaning)
    emit: Callable[[Sequence[str], Sequence[str]], str]  # (operand exprs, operand kinds)
    partials: Optional[Callable[[Sequence[Sig], Sig], Tuple[Optional[Sig], ...]]] = None
    interval: Optional[Callable[..., Interval]] = None
    convention: str = ""
    foreign: bool = False
    # the meaning at run time, where it differs from `fold` (the compile-time one): the
    # real compiler folds some constants with other functions than its code calls
    run: Optional[Callable] = None
    # a partial derivative is infinite at points where the value is finite (sqrt at 0):
    # there a tangent that is exactly 0 must give 0, not 0 * inf = NaN
    steep: bool = False


PRIMITIVES: Dict[str, Primitive] = {}


def _register(p: Primitive) -> Primitive:
    PRIMITIVES[p.name] = p
    return p


# ------------------------------------------------------------------ scalar semantics
def faust_int(x) -> int:
    """C's (int) cast as the real compiler's code behaves on x86: truncation toward zero,
    and INT_MIN for anything out of range or NaN."""
    if isinstance(x, int):
        return wrap_int32(x)
    if not (-2147483648.0 <= x < 2147483648.0):  # also catches NaN
        return INT_MIN
    return int(x)


def c_int_remainder(a: int, b: int) -> int:
    """C's `%` on ints: the sign follows the dividend. A zero divisor gives 0, as the
    generated code does (C would trap; a constant zero divisor is rejected earlier)."""
    if b == 0:
        return 0
    r = abs(a) % abs(b)
    return wrap_int32(-r if a < 0 else r)


def _ieee_remainder(x: float, y: float) -> float:
    """C's `remainder`: x - n*y with n = x/y rounded to nearest, ties to even."""
    if y == 0 or math.isinf(x) or math.isnan(x) or math.isnan(y):
        return math.nan
    if math.isinf(y):
        return x
    return math.remainder(x, y)


def _f(fn):
    """A float function with C semantics: domain errors give NaN/inf, not exceptions."""

    def folded(*args):
        with np.errstate(all="ignore"):
            return float(fn(*(np.float64(a) for a in args)))

    return folded


def _same_kind(kinds: Sequence[str]) -> str:
    return INT_KIND if all(k == INT_KIND for k in kinds) else FLOAT_KIND


def _always(kind: str):
    return lambda kinds: kind


# ------------------------------------------------------------------ intervals
def _iv_add(a, b):
    return (a[0] + b[0], a[1] + b[1])


def _iv_sub(a, b):
    return (a[0] - b[1], a[1] - b[0])


def _iv_mul(a, b):
    products = []
    for x in a:
        for y in b:
            products.append(0.0 if (x == 0 or y == 0) else x * y)
    return (min(products), max(products))


def _iv_div(a, b):
    if b[0] <= 0 <= b[1]:
        return UNBOUNDED
    return _iv_mul(a, (1 / b[1], 1 / b[0]))


def _iv_mod(a, b):
    m = max(abs(b[0]), abs(b[1]))
    if math.isinf(m):
        return UNBOUNDED
    lo = 0.0 if a[0] >= 0 else -m
    hi = 0.0 if a[1] <= 0 else m
    return (lo, hi)


def _iv_monotone(fn):
    def iv(a):
        with np.errstate(all="ignore"):
            lo, hi = float(fn(a[0])), float(fn(a[1]))
        if math.isnan(lo) or math.isnan(hi):
            return UNBOUNDED
        return (lo, hi)

    return iv


def _iv_abs(a):
    if a[0] >= 0:
        return a
    if a[1] <= 0:
        return (-a[1], -a[0])
    return (0.0, max(-a[0], a[1]))


def _iv_min(a, b):
    return (min(a[0], b[0]), min(a[1], b[1]))


def _iv_max(a, b):
    return (max(a[0], b[0]), max(a[1], b[1]))


def _iv_int(a):
    lo, hi = a
    if lo < -2147483648.0 or hi >= 2147483648.0:
        return (float(INT_MIN), 2147483647.0)
    return (float(math.trunc(lo)), float(math.trunc(hi)))


def _iv_bool(*_):
    return (0.0, 1.0)


def _iv_unit(*_):
    return (-1.0, 1.0)


def _iv_select2(c, a, b):
    return (min(a[0], b[0]), max(a[1], b[1]))


def _iv_select3(c, a, b, d):
    return (min(a[0], b[0], d[0]), max(a[1], b[1], d[1]))


def _iv_identity(a):
    return a


# ------------------------------------------------------------------ emitters
def _infix(op):
    return lambda e, k: f"({e[0]} {op} {e[1]})"


def _call(fn):
    return lambda e, k: f"{fn}({', '.join(e)})"


def _bool(op):
    return lambda e, k: f"(1 if {e[0]} {op} {e[1]} else 0)"


# ------------------------------------------------------------------ helpers for rules
def _c(v) -> Sig:
    return const_float(v)


def mul(a: Sig, b: Sig) -> Sig:
    return apply("*", a, b)


def add(a: Sig, b: Sig) -> Sig:
    return apply("+", a, b)


def sub(a: Sig, b: Sig) -> Sig:
    return apply("-", a, b)


def div(a: Sig, b: Sig) -> Sig:
    return apply("/", a, b)


def neg(a: Sig) -> Sig:
    return apply("-", _c(0.0), a)


def sign(x: Sig) -> Sig:
    """-1, 0 or 1 (float); sign(0) = 0."""
    return sub(apply("float", apply(">", x, const(0))), apply("float", apply("<", x, const(0))))


# ------------------------------------------------------------------ arithmetic
def _fold_arith(op):
    def fold(kinds, a, b):
        if kinds == (INT_KIND, INT_KIND):
            return wrap_int32(op(a, b))
        return float(_f(op)(a, b))

    return fold


_register(Primitive(
    "+", 2, _same_kind, "same", _fold_arith(lambda a, b: a + b), _infix("+"),
    partials=lambda a, out: (_c(1.0), _c(1.0)), interval=_iv_add))
_register(Primitive(
    "-", 2, _same_kind, "same", _fold_arith(lambda a, b: a - b), _infix("-"),
    partials=lambda a, out: (_c(1.0), _c(-1.0)), interval=_iv_sub))
_register(Primitive(
    "*", 2, _same_kind, "same", _fold_arith(lambda a, b: a * b), _infix("*"),
    partials=lambda a, out: (a[1], a[0]), interval=_iv_mul))


def _fold_div(kinds, a, b):
    with np.errstate(all="ignore"):
        return float(np.float64(a) / np.float64(b))


_register(Primitive(
    "/", 2, _always(FLOAT_KIND), "float", _fold_div, _infix("/"),
    partials=lambda a, out: (div(_c(1.0), a[1]), neg(div(out, a[1]))),
    interval=_iv_div))


def _fold_mod(kinds, a, b):
    if kinds == (INT_KIND, INT_KIND):
        return c_int_remainder(a, b)
    return _f(np.fmod)(a, b)


_register(Primitive(
    "%", 2, _same_kind, "same", _fold_mod,
    lambda e, k: f"fd_imod({e[0]}, {e[1]})" if k[0] == INT_KIND else f"np.fmod({e[0]}, {e[1]})",
    # x % y = x - trunc(x/y)*y: slope 1 in x and -trunc(x/y) in y; at the jumps
    # (x a multiple of y) the one-sided slope from above is used.
    partials=lambda a, out: (_c(1.0), neg(apply("float", apply("int", div(a[0], a[1]))))),
    interval=_iv_mod,
    convention="x % y: d/dx = 1, d/dy = -trunc(x/y); at multiples of y the value jumps and "
               "the slope of the piece that starts there is used"))

# ------------------------------------------------------------------ comparisons
_COMPARE = (("<", lambda a, b: a < b), ("<=", lambda a, b: a <= b), (">", lambda a, b: a > b),
            (">=", lambda a, b: a >= b), ("==", lambda a, b: a == b), ("!=", lambda a, b: a != b))
COMPARISONS = frozenset(op for op, _ in _COMPARE)
for _op, _fn in _COMPARE:
    _register(Primitive(
        _op, 2, _always(INT_KIND), "same", (lambda fn: lambda kinds, a, b: int(fn(a, b)))(_fn),
        _bool(_op), partials=None, interval=_iv_bool,
        convention="comparisons are piecewise constant: derivative 0"))


# ------------------------------------------------------------------ bitwise (ints)
def _fold_bit(op):
    return lambda kinds, a, b: wrap_int32(op(faust_int(a), faust_int(b)))


_register(Primitive("&", 2, _always(INT_KIND), "int", _fold_bit(lambda a, b: a & b), _infix("&"),
                    convention="bitwise operators: derivative 0"))
_register(Primitive("|", 2, _always(INT_KIND), "int", _fold_bit(lambda a, b: a | b), _infix("|"),
                    convention="bitwise operators: derivative 0"))
_register(Primitive("xor", 2, _always(INT_KIND), "int", _fold_bit(lambda a, b: a ^ b), _infix("^"),
                    convention="bitwise operators: derivative 0"))
_register(Primitive("<<", 2, _always(INT_KIND), "int", _fold_bit(lambda a, b: a << (b & 31)),
                    lambda e, k: f"({e[0]} << ({e[1]} & 31))",
                    convention="shifts (count modulo 32): derivative 0"))
_register(Primitive(">>", 2, _always(INT_KIND), "int", _fold_bit(lambda a, b: a >> (b & 31)),
                    lambda e, k: f"({e[0]} >> ({e[1]} & 31))",
                    convention="shifts (count modulo 32, arithmetic): derivative 0"))


# ------------------------------------------------------------------ math.h, one argument
def _unary(name, fn, emit_fn, partial, interval=None, convention="", steep=False):
    _register(Primitive(
        name, 1, _always(FLOAT_KIND), "float", lambda kinds, a: _f(fn)(a), _call(emit_fn),
        partials=(lambda a, out: (partial(a[0], out),)) if partial else None,
        interval=interval, convention=convention, steep=steep))


STEEP = "where the slope is infinite (the value finite), a zero tangent stays 0"


def _sqrt1m(x):  # sqrt(1 - x^2)
    return apply("sqrt", sub(_c(1.0), mul(x, x)))


_unary("sin", np.sin, "math.sin", lambda x, out: apply("cos", x), _iv_unit)
_unary("cos", np.cos, "math.cos", lambda x, out: neg(apply("sin", x)), _iv_unit)
_unary("tan", np.tan, "math.tan", lambda x, out: add(_c(1.0), mul(out, out)))
_unary("asin", np.arcsin, "math.asin", lambda x, out: div(_c(1.0), _sqrt1m(x)),
       convention=f"asin at ±1: {STEEP}", steep=True)
_unary("acos", np.arccos, "math.acos", lambda x, out: neg(div(_c(1.0), _sqrt1m(x))),
       convention=f"acos at ±1: {STEEP}", steep=True)
_unary("atan", np.arctan, "math.atan", lambda x, out: div(_c(1.0), add(_c(1.0), mul(x, x))))
_unary("exp", np.exp, "fd_exp", lambda x, out: out, _iv_monotone(np.exp))
_unary("log", np.log, "fd_log", lambda x, out: div(_c(1.0), x))
_unary("log10", np.log10, "fd_log10", lambda x, out: div(_c(1.0 / math.log(10.0)), x))
_unary("sqrt", np.sqrt, "math.sqrt", lambda x, out: div(_c(0.5), out),
       convention=f"sqrt at 0: {STEEP}", steep=True)
_ROUNDING = "piecewise constant: derivative 0 (also at the jumps)"
_unary("floor", np.floor, "np.floor", None, _iv_monotone(np.floor), _ROUNDING)
_unary("ceil", np.ceil, "np.ceil", None, _iv_monotone(np.ceil), _ROUNDING)
_unary("rint", np.rint, "np.rint", None, _iv_monotone(np.rint), _ROUNDING)


def c_round(x: float) -> float:
    """C `round`: halfway cases away from zero (round(2.5) = 3, round(-0.5) = -1)."""
    if not math.isfinite(x):
        return x
    t = float(math.trunc(x))
    if abs(x - t) >= 0.5:
        return t + math.copysign(1.0, x)
    return math.copysign(t, x)     # round(-0.3) is -0.0, as in C


# Observed with the real compiler: the code calls C's round (0.5 -> 1, 2.5 -> 3), but
# constants are folded with ties to even (round(2.5) folds to 2, round(0.5) to 0).
_register(Primitive(
    "round", 1, _always(FLOAT_KIND), "float", lambda kinds, a: _f(np.rint)(a),
    _call("fd_round"), interval=_iv_monotone(c_round), convention=_ROUNDING,
    run=lambda kinds, a: c_round(float(a))))


def _fold_abs(kinds, a):
    return wrap_int32(abs(a)) if kinds[0] == INT_KIND else abs(float(a))


_register(Primitive(
    "abs", 1, _same_kind, "same", _fold_abs, _call("abs"),
    partials=lambda a, out: (sign(a[0]),), interval=_iv_abs,
    convention="abs: derivative sign(x), 0 at x = 0 (as JAX)"))


# ------------------------------------------------------------------ math.h, two arguments
def _tie_weight(cond_strict: Sig, a: Sig, b: Sig) -> Sig:
    """1 where cond_strict holds, 0.5 at a tie, 0 otherwise (float).

    Two selects (two compares and two blends), not float(cond) + 0.5·float(a == b): the
    compressor's jvp ran 4 to 7% faster so, with the same values."""
    at_tie = apply("select2", apply("==", a, b), _c(0.0), _c(0.5))
    return apply("select2", cond_strict, at_tie, _c(1.0))


def _fold_min(kinds, a, b):
    r = b if b < a else a
    return r if kinds == (INT_KIND, INT_KIND) else float(r)


def _fold_max(kinds, a, b):
    r = b if a < b else a
    return r if kinds == (INT_KIND, INT_KIND) else float(r)


_register(Primitive(
    "min", 2, _same_kind, "same", _fold_min,
    lambda e, k: f"({e[1]} if {e[1]} < {e[0]} else {e[0]})",
    partials=lambda a, out: (_tie_weight(apply("<", a[0], a[1]), a[0], a[1]),
                             _tie_weight(apply("<", a[1], a[0]), a[0], a[1])),
    interval=_iv_min, convention="min/max: at a tie each argument gets half (as JAX)"))
_register(Primitive(
    "max", 2, _same_kind, "same", _fold_max,
    lambda e, k: f"({e[1]} if {e[0]} < {e[1]} else {e[0]})",
    partials=lambda a, out: (_tie_weight(apply(">", a[0], a[1]), a[0], a[1]),
                             _tie_weight(apply(">", a[1], a[0]), a[0], a[1])),
    interval=_iv_max, convention="min/max: at a tie each argument gets half (as JAX)"))


def nonzero_at_origin(r: Sig) -> Sig:
    """r, or 1 where r is 0: x/r and y/r are then 0 at the origin (x = y = 0), not 0/0."""
    return add(r, apply("float", apply("==", r, _c(0.0))))


def _atan2_partials(a, out):
    y, x = a
    r2 = nonzero_at_origin(add(mul(x, x), mul(y, y)))
    return (div(x, r2), neg(div(y, r2)))


_register(Primitive(
    "atan2", 2, _always(FLOAT_KIND), "float", lambda k, y, x: _f(np.arctan2)(y, x), _call("math.atan2"),
    partials=_atan2_partials, convention="atan2(y, x) at the origin: derivative 0 (where 0/0 would poison "
               "every tangent downstream, even a zero one)"))


def _pow_partials(a, out):
    x, y = a
    dx = mul(y, apply("pow", x, sub(y, _c(1.0))))
    # d/dy x^y = x^y log(x) for x > 0; defined as 0 where x <= 0 (x^y is then 0, 1 or NaN)
    dy = apply("select2", apply(">", x, const(0)), _c(0.0), mul(out, apply("log", x)))
    return (dx, dy)


_register(Primitive(
    "pow", 2, _always(FLOAT_KIND), "float", lambda k, x, y: _f(np.power)(x, y), _call("fd_pow"),
    partials=_pow_partials, steep=True,
    convention="pow(x, y): d/dx = y x^(y-1); d/dy = x^y log x for x > 0 and 0 for x <= 0; "
               f"at x = 0 with y < 1: {STEEP}"))
_register(Primitive(
    "fmod", 2, _always(FLOAT_KIND), "float", lambda k, x, y: _f(np.fmod)(x, y), _call("np.fmod"),
    partials=lambda a, out: (_c(1.0), neg(apply("float", apply("int", div(a[0], a[1]))))),
    interval=_iv_mod,
    convention="fmod(x, y): d/dx = 1, d/dy = -trunc(x/y); at the jumps the slope of the piece "
               "that starts there"))
_register(Primitive(
    "remainder", 2, _always(FLOAT_KIND), "float", lambda k, x, y: _ieee_remainder(x, y),
    _call("fd_remainder"),
    partials=lambda a, out: (_c(1.0), neg(apply("rint", div(a[0], a[1])))),
    convention="remainder(x, y): d/dx = 1, d/dy = -rint(x/y)"))


# ------------------------------------------------------------------ casts
def _fold_int(kinds, a):
    return faust_int(a)


_register(Primitive(
    "int", 1, _always(INT_KIND), "any", _fold_int,
    lambda e, k: e[0] if k[0] == INT_KIND else f"fd_int({e[0]})",
    partials=None, interval=_iv_int, convention="int(): truncation, derivative 0"))
_register(Primitive(
    "float", 1, _always(FLOAT_KIND), "float", lambda kinds, a: float(a), lambda e, k: e[0],
    partials=lambda a, out: (_c(1.0),), interval=_iv_identity))


# ------------------------------------------------------------------ selection
def _fold_select2(kinds, c, a, b):
    v = b if faust_int(c) != 0 else a
    return v if _same_kind(kinds[1:]) == INT_KIND else float(v)


def _fold_select3(kinds, c, a, b, d):
    # The real compiler compares the selector without an int cast: 0 -> a, 1 -> b, else d.
    v = a if c == 0 else (b if c == 1 else d)
    return v if _same_kind(kinds[1:]) == INT_KIND else float(v)


def _select_kind(kinds):
    return _same_kind(kinds[1:])


_register(Primitive(
    "select2", 3, _select_kind, "select", _fold_select2,
    lambda e, k: f"({e[2]} if {e[0]} != 0 else {e[1]})", interval=_iv_select2,
    convention="select2: the tangent of the selected branch (the selector has derivative 0)"))
_register(Primitive(
    "select3", 4, _select_kind, "select", _fold_select3,
    lambda e, k: f"({e[1]} if {e[0]} == 0 else ({e[2]} if {e[0]} == 1 else {e[3]}))",
    interval=_iv_select3,
    convention="select3: the tangent of the selected branch"))


# ------------------------------------------------------------------ the smart constructor
def result_kind(op: str, kinds: Sequence[str]) -> str:
    return PRIMITIVES[op].result(tuple(kinds))


def static_kind(s: Sig, depth: int = 12) -> Optional[str]:
    """The kind of s when it follows from s alone (None through recursion, or too deep)."""
    kind = leaf_kind(s)
    if kind is not None:
        return kind
    if s.op in PRIMITIVES and depth > 0:
        kinds = [static_kind(a, depth - 1) for a in s.args]
        if None not in kinds:
            return PRIMITIVES[s.op].result(tuple(kinds))
        result = PRIMITIVES[s.op].result(tuple(k or INT_KIND for k in kinds))
        if result == PRIMITIVES[s.op].result(tuple(k or FLOAT_KIND for k in kinds)):
            return result  # the unknown arguments cannot change it
    return None


def operand_kinds(op: str, kinds: Sequence[str], result: str) -> List[str]:
    """The kinds the generated code casts op's operands (of kinds `kinds`) to, when its
    result is of kind `result`."""
    prim = PRIMITIVES[op]
    if prim.operands == "float":
        return [FLOAT_KIND] * len(kinds)
    if prim.operands == "int":
        return [INT_KIND] * len(kinds)
    if prim.operands == "same":
        return [_same_kind(kinds)] * len(kinds)
    if prim.operands == "select":
        selector = INT_KIND if op == "select2" else kinds[0]
        return [selector] + [result] * (len(kinds) - 1)
    return list(kinds)


def evaluate(op: str, kinds: Sequence[str], values: Sequence, at_run_time: bool = False):
    """op applied to Python numbers of the given kinds, with Faust's semantics: those of
    its constant folding, or with `at_run_time` those of the code it generates."""
    prim = PRIMITIVES[op]
    if prim.operands == "float":
        values = [float(v) for v in values]
    elif prim.operands == "int":
        values = [faust_int(v) for v in values]
    elif prim.operands == "same" and _same_kind(kinds) == FLOAT_KIND:
        values = [float(v) for v in values]
    meaning = prim.run if at_run_time and prim.run is not None else prim.fold
    return meaning(tuple(kinds), *values)


def _identity(op: str, args: Sequence[Sig]) -> Optional[Sig]:
    """Faust's normal form of a product by 0 or 1 and a sum with 0: `0 * x` is 0 and
    `x + 0`, `x - 0`, `1 * x` are x (observed with libfaust: `0 * (1.0/(_ - _))` renders 0,
    `-0.0 * …` -0). None when no rule applies, or when the result's kind would not be
    x's (an int x times 1.0 is a float)."""
    a, b = args
    # (x's kind is looked up only for a 0 or a 1: every sum and product the evaluator
    # builds with a constant comes through here)
    neutral = 1 if op == "*" else 0
    for k, x in ((b, a),) if op == "-" else ((a, b), (b, a)):
        if k.op != "const" or not (k.value == 0 and op == "*" or k.value == neutral):
            continue
        x_kind = static_kind(x)
        if x_kind is None:
            return None
        kind = PRIMITIVES[op].result((x_kind, k.kind) if k is b else (k.kind, x_kind))
        if k.value == 0 and op == "*":
            return const(float(k.value) if kind == FLOAT_KIND else 0, kind)
        return x if kind == x_kind else None
    return None


def apply(op: str, *args: Sig) -> Sig:
    """The node op(args), folded to a constant when every argument is constant."""
    prim = PRIMITIVES[op]
    if len(args) != prim.arity:
        raise TypeError(f"{op} takes {prim.arity} arguments, got {len(args)}")
    if op == "/" and all(a.op == "const" and a.kind == INT_KIND for a in args) and \
            args[1].value != 0 and args[0].value % args[1].value == 0:
        # Observed with the real compiler: a compile-time division of two ints that is
        # exact folds to an int ((8/2) * 2^30 wraps to 0; 8/2 matches the pattern 4).
        return const(wrap_int32(args[0].value // args[1].value), INT_KIND)
    if prim.fold is not None and all(a.op == "const" for a in args):
        kinds = tuple(a.kind for a in args)
        return const(evaluate(op, kinds, [a.value for a in args]), prim.result(kinds))
    if op in ("*", "+", "-"):
        identity = _identity(op, args)
        if identity is not None:
            return identity
    if op == "/" and args[1].op == "const" and args[1].value != 0 and args[0].op == "*":
        # Faust's normal form gathers constant factors: (k * y) / c is computed as
        # (k/c) * y. It matters where an int cast follows: in float32,
        # 1617 * 44100.0 / 44100 truncates to 1617 but (1617/44100) * 44100.0 to 1616.
        a, b = args[0].args
        for k, y in ((a, b), (b, a)):
            if k.op == "const" and static_kind(y) == FLOAT_KIND:
                return apply("*", const_float(float(k.value) / float(args[1].value)), y)
    return node(op, tuple(args))

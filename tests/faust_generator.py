"""Hypothesis strategies of well-formed Faust programs, for differential fuzzing.

`programs()` draws one core-language program (no library) with up to two inputs and up
to three outputs: arithmetic on floats and int32 (wrap-around included), the C math
functions on their safe domains, comparisons, `select2`/`select3`, casts, delays (`'`,
`mem`, `@` by constants and by sliders), recursions `~` (and `letrec`), tables, sliders
(some marked `[diff:1]`), buttons and numbers. Each operation is written in one of the
forms Faust offers for it (infix, `a, b : op`, partial application, `<:` with cuts,
`route`, `:>`, lambdas, `with`, `par`/`sum`/`seq`), so the block-diagram algebra is
exercised as much as the arithmetic.

Every expression carries an interval that bounds its value, computed as it is built.
It keeps programs inside the domain where faustdiff (float64 or float32) and Faust
(float32) can be compared: no division by a value near 0, no `exp` overflow, no `%` by
0, `int()` beyond int32 only on purpose, recursions that contract (so rounding errors
fade instead of growing), table indices in range, and delays bounded by constants or by
slider ranges. A few constructs that crash Faust 2.85 itself are avoided (see `pow` and
`prefix` below), and `KNOWN_BUGS` lists what faustdiff is known to get wrong.
"""
from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Callable, List, Optional, Tuple

from hypothesis import strategies as st

INT_MIN, INT_MAX = -2 ** 31, 2 ** 31 - 1
FULL_INT = (float(INT_MIN), float(INT_MAX))
# Float values stay well inside float32 (and far from overflow in products).
FLOAT_LIMIT = 1e6
# Programs are rendered for this many samples: it bounds what accumulators can reach.
SAMPLES = 256
# Delays: short ones (faustdiff keeps them in shift registers) and long ones around the
# powers of two (ring buffers and their masks).
SHORT_DELAYS = tuple(range(13))
LONG_DELAYS = (31, 32, 33, 63, 64, 65, 127, 128, 129, 200)
SAMPLE_RATES = (22050, 44100, 48000, 96000)     # in increasing order


@dataclass(frozen=True)
class Expr:
    """A Faust expression with no inputs and one output, and what is known of its value."""

    text: str
    lo: float
    hi: float
    is_int: bool = False
    pure_int: bool = False      # int computed from ints only: exact in any precision

    @property
    def size(self) -> float:
        return max(abs(self.lo), abs(self.hi))


@dataclass(frozen=True)
class Slider:
    label: str                   # plain label, as parameters are named
    kind: str                    # hslider, vslider, nentry, checkbox, button
    init: float
    lo: float
    hi: float
    step: float
    diff: bool
    value: float                 # the value the program is rendered with

    def text(self) -> str:
        label = self.label + ("[diff:1]" if self.diff else "")
        if self.kind in ("checkbox", "button"):
            return f'{self.kind}("{label}")'
        return f'{self.kind}("{label}", {_num(self.init)}, {_num(self.lo)}, {_num(self.hi)}, ' \
               f'{_num(self.step)})'


@dataclass(frozen=True)
class FuzzProgram:
    body: str                    # the process expression: a box with num_inputs inputs
    num_inputs: int
    outputs: Tuple[Expr, ...]
    sliders: Tuple[Slider, ...]
    library: bool = False        # uses the standard Faust libraries

    @property
    def code(self) -> str:
        head = 'import("stdfaust.lib");\n' if self.library else ""
        return f"{head}process = {self.body};\n"

    @property
    def num_outputs(self) -> int:
        return len(self.outputs)

    @property
    def params(self) -> dict:
        return {s.label: s.value for s in self.sliders}

    @property
    def diff_labels(self) -> List[str]:
        return [s.label for s in self.sliders if s.diff]


def combine(programs) -> FuzzProgram:
    """Several programs side by side (`,`): one compilation for all, outputs in order."""
    programs = list(programs)
    return FuzzProgram(", ".join(f"({p.body})" for p in programs),
                       sum(p.num_inputs for p in programs),
                       tuple(o for p in programs for o in p.outputs),
                       tuple(s for p in programs for s in p.sliders),
                       any(p.library for p in programs))


# ------------------------------------------------------------------ numbers and intervals
def _num(value: float) -> str:
    """A Faust literal; negative ones in parentheses, so they are operands anywhere."""
    if float(value).is_integer() and abs(value) < 1e15:
        text = f"{value:.1f}"
    else:
        text = repr(float(value))
    return f"({text})" if value < 0 else text


def _int(value: int) -> str:
    return f"({value})" if value < 0 else str(value)


def _mul(a: Expr, b: Expr) -> Tuple[float, float]:
    products = [a.lo * b.lo, a.lo * b.hi, a.hi * b.lo, a.hi * b.hi]
    return min(products), max(products)


def _int_bounds(lo: float, hi: float) -> Tuple[float, float]:
    """int32 arithmetic wraps around: beyond the range, any int32 is possible."""
    return (lo, hi) if INT_MIN <= lo and hi <= INT_MAX else FULL_INT


def _union(*exprs: Expr) -> Tuple[float, float]:
    return min(e.lo for e in exprs), max(e.hi for e in exprs)


def nudge(e: Expr) -> Expr:
    """A float `e` moved off the grid of short decimals, before a discontinuity (int(),
    floor, a comparison, a selector, fmod). Signals often settle exactly on such values
    (a lowpass of 1 tends to 1.0), and which side of a jump a float32 render lands on
    then depends on rounding, and on the order in which Faust rewrites the arithmetic."""
    if e.is_int:
        return e
    off = 0.0003183
    return Expr(f"({e.text} + {off})", e.lo + off, e.hi + off)


def squash(e: Expr, scale: float) -> Expr:
    """`e` folded into scale * (-pi/2, pi/2) by atan. Not by sin: the sine of a large
    value turns the last-bit differences of float32 evaluation orders (Faust reorders
    constant products) into differences of order 1."""
    return Expr(f"(atan({e.text}) * {scale})", -scale * math.pi / 2, scale * math.pi / 2)


# ------------------------------------------------------------------ the operations
UNARY = ("sin", "cos", "atan", "abs", "floor", "ceil", "rint", "round", "neg", "exp", "log",
         "log10", "sqrt", "asin", "acos", "tan")

# Operations faustdiff is known to get wrong, left out so that the fuzzer finds new
# disagreements; each has its own xfail test in test_fuzz.py (remove it here once fixed).
KNOWN_BUGS: set = set()


# Library functions whose recursion goes through a long delay, which Faust keeps in a
# ring buffer. Faust 2.85 evaluates the condition of an enable or a control twice per
# sample: once to compute x, and again after the sample to move x's state on, but by
# then the ring buffer's index has moved, so a condition that reads such a recursion
# (`control(+(1) ~ _, 1 : + ~ (@(200) : *(0.5)))`) reads another slot the second time,
# and x's state does not move (a code generator bug faustdiff does not copy; a delayed
# signal is read once into a variable, and fine). Conditions are built without them.
RING_RECURSIONS = ("ef.echo", "fi.fb_comb", "fi.allpass_comb")

# 1-input 1-output library functions: (Faust text, bound). A number bounds the output
# by that gain times the input's size; a pair is the output's own range (inputs are kept
# within [-4, 4]). All are smooth and stable enough for float32 and float64 to agree.
LIBRARY = (
    ("fi.lowpass(2, {f})", 1.5), ("fi.highpass(2, {f})", 1.5), ("fi.dcblocker", 2.0),
    ("si.smooth({k})", 1.0), ("ma.tanh", (-1.0, 1.0)), ("ef.cubicnl(0.5, 0)", (-1.0, 1.0)),
    ("de.fdelay(256, 3.7)", 1.0), ("de.sdelay(256, 64, 10.5)", 1.0),
    ("fi.resonlp({f}, 1, 1)", 2.0), ("fi.svf.lp({f}, 0.7)", 1.5),
    ("fi.allpass_comb(64, 10, 0.5)", 3.0), ("fi.pole(0.9)", 10.0), ("fi.zero(0.5)", 1.5),
    ("fi.tf2(0.2, 0.3, 0.2, -0.5, 0.2)", 3.0), ("ve.moog_vcf(0.5, {f})", 2.0),
    ("*(os.osc({f}))", 1.0), ("*(no.noise)", 1.0), ("ba.sAndH(os.lf_imptrain(500))", 1.0),
    ("ef.echo(0.01, 0.005, 0.5)", 2.0), ("fi.fb_comb(64, 10, 1, 0.5)", 2.0),
    ("ba.slidingMean(8)", 1.0), ("co.compressor_mono(4, -20, 0.01, 0.1)", 1.0),
    ("ma.sinh", (-28.0, 28.0)), ("ma.erf", (-1.0, 1.0)), ("ma.cbrt", (-1.6, 1.6)),
)
LIBRARY_IN_CONDITIONS = tuple(entry for entry in LIBRARY
                              if not entry[0].startswith(RING_RECURSIONS))


# ------------------------------------------------------------------ the forms of an operation
# Binary primitives whose partial application `op(b)` fills their second input
# (`a : op(b)` is `a op b`); for the others it fills the first (`a : op(b)` is `op(b, a)`).
SECOND_OPERAND = {"+", "-", "*", "/", "%", "<", "<=", ">", ">=", "==", "!=", "&", "|",
                  "xor", "<<", ">>", "pow"}
INFIX = SECOND_OPERAND - {"pow"}


def binary_forms(op: str, a: str, b: str) -> List[str]:
    """Ways to write op(a, b) in Faust, each a closed expression."""
    call = "^" if op == "pow" else op
    forms = [f"({a}, {b} : {op})", f"{op}({a}, {b})",
             f"(({a}, {b}) <: (_, !, !, _) : {op})",
             f"(({b}, {a}) : route(2, 2, (1, 2), (2, 1)) : {op})",
             f"(({b}, {a}) : route(2, 3, (2, 1), (1, 2)) : ({op}, !))",
             f"((\\(u, v).({op}(u, v)))({a}, {b}))",
             f"(((\\(u, v).({op}(u, v)))({a}))({b}))",
             f"(f({a}, {b}) with {{ f(u, v) = {op}(u, v); }})"]
    if op in INFIX or op == "pow":
        forms.append(f"(({a}) {call} ({b}))")
    forms.append(f"({a} : {op}({b}))" if op in SECOND_OPERAND else f"({b} : {op}({a}))")
    if op == "+":
        forms.append(f"(({a}, {b}) :> _)")
    return forms


def unary_forms(op: str, a: str) -> List[str]:
    return [f"{op}({a})", f"({a} : {op})", f"({a} <: {op})", f"({a} : _ : {op})"]


# ------------------------------------------------------------------ the builder
@dataclass
class _Context:
    prefix: str                          # makes labels unique among combined programs
    inputs: List[str]
    sliders: List[Slider] = field(default_factory=list)
    bargraphs: int = 0
    tables: int = 0                      # tables so far (each costs a kernel init loop)
    recursions: int = 0
    library: bool = False                # a standard library function was used
    conditional: bool = False            # building the x of an enable or a control
    condition: bool = False              # building the y of an enable or a control


class _Builder:
    """Draws expressions with `draw`; `depth` is how much nesting is left."""

    def __init__(self, draw: Callable, ctx: _Context, allow_diff: bool):
        self.draw = draw
        self.ctx = ctx
        self.allow_diff = allow_diff

    def choose(self, options):
        return self.draw(st.sampled_from(options))

    def integer(self, lo: int, hi: int) -> int:
        return self.draw(st.integers(lo, hi))

    def decimal(self, lo: float, hi: float, places: int = 3) -> float:
        return round(self.draw(st.floats(lo, hi, allow_nan=False)), places)

    # -- leaves
    def leaf(self, depth: int = 0) -> Expr:
        kinds = ["float", "int", "slider"] + ["input"] * 3 * bool(self.ctx.inputs)
        kind = self.choose(kinds + ["counter", "toggle", "rate"])
        if kind == "input":
            return Expr(self.choose(self.ctx.inputs), -1.0, 1.0)
        if kind == "float":
            v = self.decimal(-2.0, 2.0)
            return Expr(_num(v), v, v)
        if kind == "int":
            v = self.integer(-8, 8)
            return Expr(_int(v), v, v, True, True)
        if kind == "counter":   # 1, 2, 3, ... (an int recursion without inputs)
            return Expr("(+(1) ~ _)", 0.0, float(SAMPLES), True, True)
        if kind == "toggle":
            return self.slider(self.choose(["checkbox", "button"]))
        if kind == "rate":      # the sample rate (ma.SR's source), scaled to about 1
            return Expr("(float(fconstant(int fSamplingFreq, <math.h>)) / 44100)",
                        *(r / 44100 for r in SAMPLE_RATES[::len(SAMPLE_RATES) - 1]))
        return self.slider(self.choose(["hslider", "vslider", "nentry"]))

    def slider(self, kind: str, lo: Optional[float] = None, hi: Optional[float] = None,
               step: float = 0.001, diff: Optional[bool] = None) -> Expr:
        label = f"{self.ctx.prefix}s{len(self.ctx.sliders)}"
        if kind in ("checkbox", "button"):
            s = Slider(label, kind, 0.0, 0.0, 1.0, 1.0, False, float(self.integer(0, 1)))
        else:
            if lo is None:
                lo, hi = self.choose([(0.0, 1.0), (-1.0, 1.0), (0.1, 2.0), (-3.0, 0.5)])
            init = self._on_step(self.decimal(lo, hi), lo, step)
            value = self.choose([init, lo, hi, self._on_step(self.decimal(lo, hi), lo, step)])
            if diff is None:
                diff = self.allow_diff and self.draw(st.booleans())
            s = Slider(label, kind, init, lo, hi, step, diff, value)
        self.ctx.sliders.append(s)
        return Expr(s.text(), s.lo, s.hi)

    @staticmethod
    def _on_step(v: float, lo: float, step: float) -> float:
        return round(lo + round((v - lo) / step) * step, 6)

    # -- expressions
    def expr(self, depth: int) -> Expr:
        if depth <= 0:
            return self.leaf()
        kind = self.choose(["leaf", "unary", "binary", "binary", "compare", "select", "cast",
                            "delay", "recursion", "int_op", "table", "iteration", "passing",
                            "library"])
        return getattr(self, kind)(depth)

    def sub(self, depth: int) -> Expr:
        return self.expr(depth - 1)

    def float_sub(self, depth: int) -> Expr:
        e = self.sub(depth)
        return self.to_float(e) if e.is_int else e

    def to_float(self, e: Expr) -> Expr:
        return Expr(self.choose(unary_forms("float", e.text)), e.lo, e.hi)

    def tame(self, e: Expr, limit: float = FLOAT_LIMIT) -> Expr:
        """`e`, or `e` squashed into [-pi/2, pi/2] when it could be too large for what
        follows."""
        return e if e.size <= limit else squash(e, 1.0)

    def leaf_and_tame(self, depth: int) -> Expr:
        return self.tame(self.float_sub(depth))

    # -- float arithmetic and math
    def unary(self, depth: int) -> Expr:
        a = self.leaf_and_tame(depth)
        op = self.choose([op for op in UNARY if op not in KNOWN_BUGS])
        if op == "neg":
            return Expr(self.choose([f"(0 - {a.text})", f"({a.text} : *(-1))",
                                     f"({a.text} : 0 - _)"]), -a.hi, -a.lo)
        a, (lo, hi) = self._domain(op, a)
        return Expr(self.choose(unary_forms(op, a.text)), lo, hi)

    def _domain(self, op: str, a: Expr):
        """The argument brought into op's safe domain, and the bounds of the result."""
        if op in ("sin", "cos"):
            return (a if a.size <= 50 else squash(a, 1.0)), (-1.0, 1.0)
        if op == "atan":
            return a, (-math.pi / 2, math.pi / 2)
        if op == "abs":
            return a, (0.0 if a.lo <= 0 <= a.hi else min(abs(a.lo), abs(a.hi)), a.size)
        if op in ("floor", "ceil", "rint", "round"):
            a = nudge(a)
            return a, (a.lo - 1, a.hi + 1)
        if op == "exp":
            if a.hi > 8:
                a = squash(a, 1.0)
            return a, (math.exp(a.lo), math.exp(a.hi))
        if op in ("log", "log10", "sqrt"):
            if a.lo < 0.1:
                a = Expr(f"(abs({a.text}) + 0.25)", 0.25, a.size + 0.25)
            f = {"log": math.log, "log10": math.log10, "sqrt": math.sqrt}[op]
            return a, (f(a.lo), f(a.hi))
        if op in ("asin", "acos"):
            if a.size > 0.95:
                a = squash(a, 0.6)
            return a, (-math.pi / 2, math.pi) if op == "acos" else (-math.pi / 2, math.pi / 2)
        # tan
        if a.size > 1.3:
            a = squash(a, 0.8)
        return a, (math.tan(a.lo), math.tan(a.hi))

    def binary(self, depth: int) -> Expr:
        a, b = self.sub(depth), self.sub(depth)
        op = self.choose(["+", "-", "*", "/", "min", "max", "pow", "atan2", "fmod",
                          "remainder", "%"])
        if op in ("+", "-", "*") and a.is_int and b.is_int:
            return self.int_arith(op, a, b)
        a, b = self.tame(self._as_float(a)), self.tame(self._as_float(b))
        if op == "+":
            lo, hi = a.lo + b.lo, a.hi + b.hi
        elif op == "-":
            lo, hi = a.lo - b.hi, a.hi - b.lo
        elif op == "*":
            a, b = self.tame(a, 1e3), self.tame(b, 1e3)
            lo, hi = _mul(a, b)
        elif op in ("min", "max"):
            lo, hi = (min(a.lo, b.lo), min(a.hi, b.hi)) if op == "min" else \
                     (max(a.lo, b.lo), max(a.hi, b.hi))
        elif op == "pow":   # a positive base and a small exponent: (|a| + 0.5) ^ b
            a = self.tame(a, 10.0)
            a = Expr(f"(abs({a.text}) + 0.5)", 0.5, a.size + 0.5)
            # Faust 2.85 crashes (segmentation fault) on pow(x, n) when n is a
            # non-constant int, even as float(n) or abs(float(n)): the exponent always
            # gets a fractional part
            b = self.tame(b, 3.0)
            b = Expr(f"({b.text} + 0.25)", b.lo + 0.25, b.hi + 0.25)
            ends = [a.lo ** b.lo, a.lo ** b.hi, a.hi ** b.lo, a.hi ** b.hi]
            lo, hi = min(ends), max(ends)
        elif op == "atan2":
            lo, hi = -math.pi, math.pi
        else:   # / fmod remainder %: a float divisor kept away from 0 (an int % could
            # trap on INT_MIN % -1; `int_op` has the int %)
            b = self._divisor(self.to_float(b) if b.is_int else b)
            if op != "/":
                a = nudge(a)
            if op == "/":
                q = [a.lo / b.lo, a.lo / b.hi, a.hi / b.lo, a.hi / b.hi]
                lo, hi = min(q), max(q)
            else:
                lo, hi = -b.size, b.size
        return Expr(self.choose(binary_forms(op, a.text, b.text)), lo, hi)

    def _as_float(self, e: Expr) -> Expr:
        # mixed int/float arithmetic is float in Faust; an explicit cast only sometimes
        return self.to_float(e) if e.is_int and self.draw(st.booleans()) else \
            Expr(e.text, e.lo, e.hi)

    @staticmethod
    def _divisor(b: Expr) -> Expr:
        if b.lo >= 0.25 or b.hi <= -0.25:
            return b
        return Expr(f"(abs({b.text}) + 0.5)", 0.5, b.size + 0.5)

    # -- int32
    def int_arith(self, op: str, a: Expr, b: Expr) -> Expr:
        if op == "+":
            lo, hi = a.lo + b.lo, a.hi + b.hi
        elif op == "-":
            lo, hi = a.lo - b.hi, a.hi - b.lo
        else:
            lo, hi = _mul(a, b)
        lo, hi = _int_bounds(lo, hi)
        return Expr(self.choose(binary_forms(op, a.text, b.text)), lo, hi, True,
                    a.pure_int and b.pure_int)

    def int_op(self, depth: int) -> Expr:
        a = self.int_sub(depth)
        op = self.choose(["&", "|", "xor", "<<", ">>", "%", "+", "*", "lcg"])
        if op == "lcg" and a.pure_int:
            # a wrapping int recursion, as in Faust's noise generators (over exact ints
            # only: it turns a difference in the last bit of a float into noise)
            return Expr(f"({a.text} : + ~ *(1103515245))", *FULL_INT, True, True)
        if op == "lcg":
            op = "&"
        if op in ("+", "*"):
            return self.int_arith(op, a, self.int_sub(depth))
        if op in ("<<", ">>"):
            s = self.integer(0, 31)
            if op == ">>":
                lo, hi = a.lo / 2 ** s - 1, a.hi / 2 ** s + 1
            else:
                lo, hi = _int_bounds(a.lo * 2 ** s, a.hi * 2 ** s)
            return Expr(self.choose(binary_forms(op, a.text, str(s))), lo, hi, True, a.pure_int)
        if op == "%":   # C's remainder: the sign of the dividend (never % -1: it can trap)
            m = self.choose([2, 3, 7, 16, 17, -2, -3, -16])
            lo = 0.0 if a.lo >= 0 else -(abs(m) - 1.0)
            return Expr(self.choose(binary_forms(op, a.text, _int(m))), lo, abs(m) - 1.0, True,
                        a.pure_int)
        b = self.int_sub(depth)
        if a.lo >= 0 and b.lo >= 0:
            top = 2.0 ** math.ceil(math.log2(max(a.hi, b.hi) + 1)) - 1
            lo, hi = 0.0, top
        else:
            lo, hi = FULL_INT
        return Expr(self.choose(binary_forms(op, a.text, b.text)), lo, hi, True,
                    a.pure_int and b.pure_int)

    def int_sub(self, depth: int) -> Expr:
        e = self.sub(depth)
        if e.is_int:
            return e
        e = self.tame(e, 1e6)
        # scales that map no short decimal to an int: where a float lands exactly on an
        # int boundary, float32 rounding (and Faust's reordering of float arithmetic)
        # decides the side
        k = self.choose([1.37, 3.71, 10.13, 97.3, 1013.7])
        scaled = Expr(f"({e.text}) * {k}", e.lo * k, e.hi * k)
        return self.cast_int(scaled)

    def cast_int(self, e: Expr) -> Expr:
        e = nudge(e)
        lo, hi = math.trunc(e.lo), math.trunc(e.hi)
        return Expr(self.choose(unary_forms("int", e.text)), lo, hi, True, False)

    def cast(self, depth: int) -> Expr:
        e = self.sub(depth)
        if e.is_int:
            return self.to_float(e)
        if e.size <= 1.0 and self.draw(st.booleans()):
            # beyond int32, int() gives -2^31 (as x86's conversion does)
            return Expr(f"int(({e.text}) * 3e9)", *FULL_INT, True, False)
        return self.cast_int(self.tame(e, 1e8))

    # -- comparisons and selection
    def compare(self, depth: int) -> Expr:
        a, b = self.sub(depth), self.sub(depth)
        op = self.choose(["<", "<=", ">", ">=", "==", "!="])
        if not (a.is_int and b.is_int):
            b = nudge(b)
        return Expr(self.choose(binary_forms(op, a.text, b.text)), 0.0, 1.0, True,
                    a.pure_int and b.pure_int)

    def selector(self, depth: int, cases: int) -> Expr:
        # Always an int: Faust 2.85 folds a fractional constant selector inconsistently
        # (select2(0.5, x, 3) gives x, but 3 when passed to a function:
        # f(u) = u; process = \(x).(f(select2(0.5, x, 3)));), and whether a generated
        # float expression is folded to a constant is not known here (sin(0.5) is).
        # Float selectors at run time: programs/core/select_fractional.dsp.
        if self.draw(st.booleans()):
            return self.compare(depth)
        e = self.tame(self.sub(depth), 1e6)
        if e.is_int:
            return Expr(f"({e.text} % {cases})", -(cases - 1.0), cases - 1.0, True, e.pure_int)
        return self.cast_int(Expr(f"(abs({e.text}) * {cases - 0.5})", 0, e.size * cases))

    def select(self, depth: int) -> Expr:
        n = self.choose([2, 3])
        c = self.selector(depth, n)
        branches = [self.sub(depth) for _ in range(n)]
        mixed = any(b.is_int for b in branches) and not all(b.is_int for b in branches)
        if mixed and self.draw(st.booleans()):
            branches = [self.to_float(b) if b.is_int else b for b in branches]
        elif mixed:     # Faust types the selection float; the int branches are converted
            branches = [Expr(b.text, b.lo, b.hi) for b in branches]
        args = ", ".join(b.text for b in branches)
        text = self.choose([f"select{n}({c.text}, {args})", f"({c.text}, {args} : select{n})"])
        lo, hi = _union(*branches)
        return Expr(text, lo, hi, branches[0].is_int,
                    c.pure_int and all(b.pure_int for b in branches))

    # -- time
    def delay(self, depth: int) -> Expr:
        a = self.sub(depth)
        # Faust 2.85 declares a prefix's state inside the `if` of an enable or a control
        # and reads it outside (signals/control.py): no prefix there
        kind = self.choose(["prime", "mem", "const", "const", "slider"] +
                           ["prefix"] * (not self.ctx.conditional))
        lo, hi = min(a.lo, 0.0), max(a.hi, 0.0)     # the state starts at 0
        if kind == "prime":
            text = f"({a.text})'"
        elif kind == "mem":
            text = self.choose([f"mem({a.text})", f"({a.text} : mem)"])
        elif kind == "const":
            d = self.choose(SHORT_DELAYS + LONG_DELAYS)
            text = self.choose([f"({a.text})@({d})", f"({a.text} : @({d}))",
                                f"({a.text}, {d} : @)"])
        elif kind == "slider":
            top = float(self.choose([SHORT_DELAYS[-1], LONG_DELAYS[-1]]))
            d = self.slider("hslider", 0.0, top, self.choose([1.0, 0.5]))
            # faustdiff differentiates a float amount that @ truncates as if the delay
            # were continuous (a documented surrogate that finite differences cannot
            # confirm); a [diff:1] amount is therefore always an explicit int
            diff = self.ctx.sliders[-1].diff
            amount = f"int({d.text})" if diff else self.choose([f"int({d.text})", d.text])
            text = self.choose([f"({a.text})@({amount})", f"({a.text} : @({amount}))"])
        else:
            # Faust 2.85 fails on a prefix that is itself delayed ("ASSERT : no vector
            # name for : prefix(...)"), so the prefix always goes through atan
            v = self.decimal(-1.0, 1.0)
            return Expr(f"atan(prefix({_num(v)}, {a.text}))", -math.pi / 2, math.pi / 2)
        return Expr(text, lo, hi, a.is_int, a.pure_int)

    # -- primitives that pass a signal on
    def passing(self, depth: int) -> Expr:
        kind = self.choose([k for k in ("attach", "bargraph", "enable", "control")
                            if k not in KNOWN_BUGS])
        if kind in ("enable", "control"):
            return self.conditional(kind, depth)
        a = self.sub(depth)
        if kind == "bargraph":
            self.ctx.bargraphs += 1
            label = f"{self.ctx.prefix}b{self.ctx.bargraphs}"
            widget = self.choose(["hbargraph", "vbargraph"])
            return Expr(f"({a.text} : {widget}(\"{label}\", -1, 1))", a.lo, a.hi)
        b = self.sub(depth)
        # a, with b computed alongside; Faust 2.85 fails an LLVM assertion on
        # `attach(constant, x) * 1.37`, so the attachment always goes through atan
        return Expr(f"atan(attach({a.text}, {b.text}))", -math.pi / 2, math.pi / 2)

    def conditional(self, kind: str, depth: int) -> Expr:
        """enable(x, y) = x * y and control(x, y) = x, computed only where y != 0: there
        the value is the one last computed, and the recursions and delay lines of x
        stand still. x is built knowing it is under a condition (no prefix there)."""
        outer, self.ctx.conditional = self.ctx.conditional, True
        a = self.sub(depth)
        self.ctx.conditional = outer
        # Faust 2.85 writes an x whose normal form is a negation (0 - u, u * -2) inline,
        # outside the condition, which loses the hold (a code generator bug that
        # faustdiff does not copy): x is a function of a, sometimes delayed
        if a.is_int and self.draw(st.booleans()):
            x = Expr(f"abs({a.text})", 0.0, a.size, True, a.pure_int)
        else:
            a = self._as_float(a) if a.is_int else a
            if self.draw(st.booleans()):
                x = Expr(f"atan({a.text})", -math.pi / 2, math.pi / 2)
            else:   # (the sine of a large value turns float32 rounding into order 1)
                x = Expr(f"sin({self.tame(a, 50.0).text})", -1.0, 1.0)
        if self.draw(st.booleans()):
            d = self.choose(SHORT_DELAYS[1:] + LONG_DELAYS)
            x = Expr(f"({x.text})@({d})", min(x.lo, 0.0), max(x.hi, 0.0), x.is_int,
                     x.pure_int)
        outer, self.ctx.condition = self.ctx.condition, True
        if kind == "control":
            y = self.sub(depth)
        elif self.draw(st.booleans()):
            # enable multiplies by y: a comparison, or the absolute value of a float,
            # whose normal form is no negation either
            y = self.compare(depth)
        else:
            e = self.tame(self.float_sub(depth), 1e3)
            y = Expr(f"abs({e.text})", 0.0, e.size)
        self.ctx.condition = outer
        # Faust 2.85 fails an assertion (instructions_compiler.cpp:2078) or crashes on a
        # delayed control signal: `control(x, c)@1`, and `(control(x, c) * 2)@1`, whose
        # normal form moves the delay into the product. The result goes through atan,
        # which no delay crosses.
        return Expr(f"atan({kind}({x.text}, {y.text}))", -math.pi / 2, math.pi / 2)

    # -- recursion: every loop contracts (gain below 1), so rounding errors fade
    def contracting_chain(self, length: int) -> str:
        """A 1-input 1-output box whose gain (Lipschitz constant) is at most 1."""
        pieces = []
        # (only short delays in a condition's recursions: RING_RECURSIONS)
        delays = SHORT_DELAYS + (() if self.ctx.condition else LONG_DELAYS)
        for _ in range(length):
            k = self.choose([0.5, -0.75, 1.0, 0.9])
            pieces.append(self.choose([
                "sin", "atan", "abs", f"*({k})", f"+({self.decimal(-1.0, 1.0)})", "mem",
                f"@({self.choose(delays)})", "min(0.7)", "max(-0.5)",
                "(_ <: sin, cos :> *(0.5))", "(_ <: _, mem :> *(0.5))",
                "(_ <: >(0), *(0.5), sin : select2)",
                "((+ : sin) ~ *(0.25) : *(0.5))"]))
        return " : ".join(pieces)

    def recursion(self, depth: int) -> Expr:
        self.ctx.recursions += 1
        if self.ctx.recursions > 3:
            return self.delay(depth)
        a = self.tame(self.float_sub(depth), 10.0)
        c = self.choose([0.5, -0.5, 0.9, 0.25, -0.8])
        kind = self.choose(["sin", "linear", "delayed", "letrec", "pair", "hold", "integrate",
                            "chain"])
        if kind == "chain":     # arbitrary contracting boxes on both sides of the loop
            forward = self.contracting_chain(self.integer(0, 3))
            back = self.contracting_chain(self.integer(0, 2))
            forward = f"+ : {forward} : sin" if forward else "+ : sin"
            back = f"{back} : *({c})" if back else f"*({c})"
            return Expr(f"({a.text} : ({forward}) ~ ({back}))", -1.0, 1.0)
        if kind == "sin":
            text = self.choose([f"({a.text} : (+ : sin) ~ *({c}))",
                                f"({a.text} : (+ : sin) ~ (sin : *({c})))"])
            return Expr(text, -1.0, 1.0)
        if kind == "linear":
            bound = a.size / (1 - abs(c))
            return Expr(f"({a.text} : + ~ *({c}))", -bound, bound)
        if kind == "delayed":
            d = self.integer(1, 4)
            bound = a.size / (1 - abs(c))
            return Expr(f"({a.text} : + ~ (@({d}) : *({c})))", -bound, bound)
        if kind == "letrec":
            return Expr(f"(y letrec {{ 'y = sin({a.text} + {c} * y); }})", -1.0, 1.0)
        if kind == "pair":   # two coupled recursive signals
            k = abs(c) / 2
            body = f"(\\(p, q, x).(sin(x + {k} * q), sin({k} * p - {k} * q)))"
            return Expr(f"({a.text} : {body} ~ (_, _) : {self.choose(['(_, !)', '(!, _)'])})",
                        -1.0, 1.0)
        if kind == "hold":   # sample and hold: keeps its value while the condition is false
            cond = self.compare(depth)
            return Expr(f"(({cond.text}, {a.text}) : (\\(y, g, x).(select2(g, y, x))) ~ _)",
                        min(a.lo, 0.0), max(a.hi, 0.0))
        bound = a.size * SAMPLES    # a plain integrator: grows at most linearly
        return Expr(f"({a.text} : + ~ _)", -bound, bound)

    # -- tables
    def index(self, depth: int, size: int) -> Expr:
        e = self.tame(self.float_sub(depth), 1e6)
        scale = (size - 1) / max(e.size, 1e-9) * 0.999
        return self.cast_int(Expr(f"(abs({e.text}) * {scale!r})", 0.0, size - 1.0))

    def table(self, depth: int) -> Expr:
        self.ctx.tables += 1
        if self.ctx.tables > 2:
            return self.unary(depth)
        kind = self.choose(["rdtable", "waveform", "rwtable", "int rdtable", "int waveform"])
        size = self.choose([2, 3, 5, 8, 9, 31, 64])
        if kind.endswith("waveform"):
            if kind == "int waveform":
                values = [self.integer(-100, 100) for _ in range(size)]
            else:
                values = [self.decimal(-1.0, 1.0) for _ in range(size)]
            idx = self.index(depth, size)
            return Expr(f"rdtable(waveform{{{', '.join(map(repr, values))}}}, {idx.text})",
                        min(values), max(values), kind == "int waveform")
        if kind == "int rdtable":   # contents 0, 3, 6, ... (the counter starts at 1)
            idx = self.index(depth, size)
            return Expr(f"rdtable({size}, (+(1) ~ _) * 3 - 3, {idx.text})",
                        0.0, 3.0 * size, True)
        k = self.decimal(0.05, 1.0)
        init = f"sin(float(+(1) ~ _) * {k})"    # sampled at init time
        if kind == "rdtable":
            idx = self.index(depth, size)
            return Expr(f"rdtable({size}, {init}, {idx.text})", -1.0, 1.0)
        value = self.tame(self.float_sub(depth), 100.0)
        w, r = self.index(depth, size), self.index(depth, size)
        return Expr(f"rwtable({size}, {init}, {w.text}, {value.text}, {r.text})",
                    min(-1.0, value.lo), max(1.0, value.hi))

    # -- the standard libraries: real Faust code through the evaluator
    def library(self, depth: int) -> Expr:
        a = self.tame(self.float_sub(depth), 4.0)
        self.ctx.library = True
        template, bound = self.choose(LIBRARY_IN_CONDITIONS if self.ctx.condition else LIBRARY)
        # (a slider is only made when the text uses it: an unused one is no parameter)
        f = self.frequency() if "{f}" in template else ""
        text = template.format(f=f, k=self.choose([0.5, 0.9, 0.99]))
        lo, hi = bound if isinstance(bound, tuple) else (-bound * a.size, bound * a.size)
        return Expr(f"({a.text} : {text})", lo, hi)

    def frequency(self) -> str:
        """A cutoff or pitch in Hz: a constant or a slider (then sometimes [diff:1]). Not
        too low: poles close to 1 amplify float32 rounding beyond the 1e-5 tolerance."""
        if self.draw(st.booleans()):
            return str(self.choose([1000, 2500, 5000]))
        return self.slider("hslider", 800.0, 5000.0, 1.0).text

    # -- iterations
    def iteration(self, depth: int) -> Expr:
        a = self.tame(self.float_sub(depth), 1e3)
        n = self.integer(1, 4)
        kind = self.choose(["sum", "prod", "par", "seq"])
        if kind == "sum":   # a small FIR: sum of weighted delays
            text = f"sum(i, {n}, ({a.text})@(i) * (i + 1) * 0.25)"
            bound = a.size * 0.25 * n * (n + 1) / 2
        elif kind == "prod":
            a = squash(a, 0.6)
            text = f"prod(i, {n}, ({a.text})@(i) * 0.5 + 0.5)"
            bound = 1.0
        elif kind == "par":
            text = f"(par(i, {n}, ({a.text})@(i)) :> _)"
            bound = a.size * n
        else:
            text = f"({a.text} : seq(i, {n}, *(0.5) : +(i)))"
            bound = a.size + 2 * n * n
        return Expr(text, -bound, bound)


# ------------------------------------------------------------------ programs
@st.composite
def programs(draw, prefix: str = "", max_inputs: int = 2, max_outputs: int = 3,
             max_depth: int = 3, allow_diff: bool = True) -> FuzzProgram:
    """One program: `process` with 0..max_inputs inputs and 1..max_outputs outputs.
    `prefix` starts every label (to keep labels unique in `combine`d programs)."""
    num_inputs = draw(st.integers(0, max_inputs))
    ctx = _Context(prefix, [f"x{k}" for k in range(num_inputs)])
    builder = _Builder(draw, ctx, allow_diff)
    outputs = tuple(builder.expr(draw(st.integers(1, max_depth)))
                    for _ in range(draw(st.integers(1, max_outputs))))
    exprs = ", ".join(e.text for e in outputs)
    if num_inputs == 0:
        body = exprs
    else:
        names = ", ".join(ctx.inputs)
        body = draw(st.sampled_from([f"\\({names}).({exprs})",
                                     f"f with {{ f({names}) = {exprs}; }}"]))
    return FuzzProgram(body, num_inputs, outputs, tuple(ctx.sliders), ctx.library)


def batches(size: int, **options):
    """`size` programs, labels made distinct, to be `combine`d and compiled once."""
    return st.tuples(*[programs(prefix=f"p{k}", **options) for k in range(size)])

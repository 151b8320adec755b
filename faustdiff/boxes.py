"""Evaluated block diagrams: what `evaluate` produces and `propagate` consumes.

A box here contains only primitives and the five composition operators (plus UI widgets,
groups and foreign objects): every name, closure, pattern and iteration has been reduced
away. Boxes compare by identity; sharing inside the tree is allowed.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Tuple

from .errors import FaustArityError, Span

NOWHERE = Span("<unknown>", 0, 0)

# Input and output counts of every primitive box the evaluator may produce.
PRIMITIVE_ARITIES = {
    # arithmetic, comparison, bitwise (infix operators and their prefix forms)
    **{op: (2, 1) for op in ("+", "-", "*", "/", "%", "<", "<=", ">", ">=", "==", "!=",
                             "&", "|", "xor", "<<", ">>", "@")},
    # math.h
    **{f: (1, 1) for f in ("acos", "asin", "atan", "cos", "sin", "tan", "exp", "log",
                           "log10", "sqrt", "abs", "floor", "ceil", "rint", "round")},
    **{f: (2, 1) for f in ("atan2", "pow", "fmod", "remainder", "min", "max")},
    # casts and time
    "int": (1, 1), "float": (1, 1), "mem": (1, 1), "prefix": (2, 1),
    # selection and tables
    "select2": (3, 1), "select3": (4, 1), "rdtable": (3, 1), "rwtable": (5, 1),
    # annotations
    "attach": (2, 1), "enable": (2, 1), "control": (2, 1), "lowest": (1, 1), "highest": (1, 1),
}


def _span():
    return field(default=NOWHERE, compare=False, repr=False)


class Box:
    """Base of evaluated boxes. `arity()` gives (inputs, outputs), computed once."""

    __slots__ = ()

    def arity(self) -> Tuple[int, int]:
        cached = self.__dict__.get("_arity")
        if cached is None:
            cached = self._compute_arity()
            object.__setattr__(self, "_arity", cached)
        return cached

    def _compute_arity(self) -> Tuple[int, int]:  # pragma: no cover - every box overrides
        raise TypeError(type(self).__name__)


@dataclass(frozen=True, eq=False)
class BWire(Box):
    span: Span = _span()

    def _compute_arity(self):
        return (1, 1)


@dataclass(frozen=True, eq=False)
class BCut(Box):
    span: Span = _span()

    def _compute_arity(self):
        return (1, 0)


@dataclass(frozen=True, eq=False)
class BInt(Box):
    value: int
    span: Span = _span()

    def _compute_arity(self):
        return (0, 1)


@dataclass(frozen=True, eq=False)
class BReal(Box):
    value: float
    span: Span = _span()

    def _compute_arity(self):
        return (0, 1)


@dataclass(frozen=True, eq=False)
class BPrim(Box):
    """A primitive from PRIMITIVE_ARITIES, e.g. BPrim('+'), BPrim('sin'), BPrim('@')."""

    name: str
    span: Span = _span()

    def _compute_arity(self):
        return PRIMITIVE_ARITIES[self.name]


@dataclass(frozen=True, eq=False)
class BSeq(Box):
    """`a : b`"""

    a: Box
    b: Box
    span: Span = _span()

    def _compute_arity(self):
        ai, ao = self.a.arity()
        bi, bo = self.b.arity()
        if ao != bi:
            raise FaustArityError(
                f"sequential composition A : B needs the outputs of A ({ao}) to equal the "
                f"inputs of B ({bi})", self.span)
        return (ai, bo)


@dataclass(frozen=True, eq=False)
class BPar(Box):
    """`a , b`"""

    a: Box
    b: Box
    span: Span = _span()

    def _compute_arity(self):
        ai, ao = self.a.arity()
        bi, bo = self.b.arity()
        return (ai + bi, ao + bo)


@dataclass(frozen=True, eq=False)
class BSplit(Box):
    """`a <: b`"""

    a: Box
    b: Box
    span: Span = _span()

    def _compute_arity(self):
        ai, ao = self.a.arity()
        bi, bo = self.b.arity()
        if ao == 0 or bi % ao != 0:
            raise FaustArityError(
                f"split composition A <: B needs the inputs of B ({bi}) to be a multiple of "
                f"the outputs of A ({ao})", self.span)
        return (ai, bo)


@dataclass(frozen=True, eq=False)
class BMerge(Box):
    """`a :> b`"""

    a: Box
    b: Box
    span: Span = _span()

    def _compute_arity(self):
        ai, ao = self.a.arity()
        bi, bo = self.b.arity()
        if bi == 0 or ao % bi != 0:
            raise FaustArityError(
                f"merge composition A :> B needs the outputs of A ({ao}) to be a multiple of "
                f"the inputs of B ({bi})", self.span)
        return (ai, bo)


@dataclass(frozen=True, eq=False)
class BRec(Box):
    """`a ~ b`"""

    a: Box
    b: Box
    span: Span = _span()

    def _compute_arity(self):
        ai, ao = self.a.arity()
        bi, bo = self.b.arity()
        if bo > ai or bi > ao:
            raise FaustArityError(
                f"recursive composition A ~ B needs the outputs of B ({bo}) to be at most the "
                f"inputs of A ({ai}) and the inputs of B ({bi}) at most the outputs of A ({ao})",
                self.span)
        return (ai - bo, ao)


@dataclass(frozen=True, eq=False)
class BWidget(Box):
    """An input widget. `kind` is hslider | vslider | nentry | button | checkbox; `label`
    is the label with its `[key:value]` metadata still in it; button and checkbox have
    init=0, min=0, max=1, step=1."""

    kind: str
    label: str
    init: float
    min: float
    max: float
    step: float
    span: Span = _span()

    def _compute_arity(self):
        return (0, 1)


@dataclass(frozen=True, eq=False)
class BBargraph(Box):
    """hbargraph | vbargraph: passes its input through (1 -> 1)."""

    kind: str
    label: str
    min: float
    max: float
    span: Span = _span()

    def _compute_arity(self):
        return (1, 1)


@dataclass(frozen=True, eq=False)
class BGroup(Box):
    """hgroup | vgroup | tgroup: only changes the paths of the widgets inside."""

    kind: str
    label: str
    body: Box
    span: Span = _span()

    def _compute_arity(self):
        return self.body.arity()


@dataclass(frozen=True, eq=False)
class BForeignFunction(Box):
    """`ffunction`: `name` is the C name for double precision (e.g. 'sinh'); `names` all
    the alternatives; arg_types / result_type are 'int' | 'float'."""

    name: str
    names: Tuple[str, ...]
    arg_types: Tuple[str, ...]
    result_type: str
    span: Span = _span()

    def _compute_arity(self):
        return (len(self.arg_types), 1)


@dataclass(frozen=True, eq=False)
class BForeignConstant(Box):
    """`fconstant` (kind 'constant') or `fvariable` (kind 'variable')."""

    kind: str
    type: str
    name: str
    span: Span = _span()

    def _compute_arity(self):
        return (0, 1)


@dataclass(frozen=True, eq=False)
class BWaveform(Box):
    """`waveform {...}`: outputs its size and then the periodic read of its values."""

    values: Tuple[float, ...]
    is_int: bool
    span: Span = _span()

    def _compute_arity(self):
        return (0, 2)


@dataclass(frozen=True, eq=False)
class BSoundfile(Box):
    label: str
    channels: int
    span: Span = _span()

    def _compute_arity(self):
        return (2, 2 + self.channels)


@dataclass(frozen=True, eq=False)
class BRoute(Box):
    """`route(ins, outs, pairs)`: pairs are 1-based (input, output) connections."""

    ins: int
    outs: int
    pairs: Tuple[Tuple[int, int], ...]
    span: Span = _span()

    def _compute_arity(self):
        return (self.ins, self.outs)

"""The syntax tree of a Faust source file, as the parser produces it.

Every node is a small frozen dataclass carrying its source `span` (excluded from
equality, so two identical expressions at different places compare equal). The tree is
pure syntax: names are not resolved and nothing is evaluated; `faustdiff.evaluate`
gives it meaning.

Operators used as boxes (`+`, `*`, `@`, `<`, `xor`...) and the builtin primitives
(`sin`, `mem`, `select2`, `int`, `rdtable`, `attach`...) are plain `Ident`s: the
evaluator resolves them in its base environment. `*(2)` is `Apply(Ident('*'), (Int(2),))`.
Infix `a + b` is `Infix('+', a, b)`, which means `a, b : +`.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Optional, Tuple, Union

from ..errors import Span

NOWHERE = Span("<unknown>", 0, 0)


def _span():
    return field(default=NOWHERE, compare=False, repr=False)


# ---------------------------------------------------------------- expressions
@dataclass(frozen=True)
class Ident:
    name: str
    span: Span = _span()


@dataclass(frozen=True)
class Access:
    """`env.name`: a definition of an environment/library value."""

    env: "Expr"
    name: str
    span: Span = _span()


@dataclass(frozen=True)
class Int:
    value: int
    span: Span = _span()


@dataclass(frozen=True)
class Real:
    value: float
    span: Span = _span()


@dataclass(frozen=True)
class String:
    """A string literal used as an expression (labels passed as arguments, file names)."""

    value: str
    span: Span = _span()


@dataclass(frozen=True)
class Wire:
    """`_`"""

    span: Span = _span()


@dataclass(frozen=True)
class Cut:
    """`!`"""

    span: Span = _span()


@dataclass(frozen=True)
class Compose:
    """One of the five block-diagram operators: ':', ',', '<:', ':>', '~'."""

    op: str
    left: "Expr"
    right: "Expr"
    span: Span = _span()


@dataclass(frozen=True)
class Infix:
    """`left op right` for arithmetic, comparison, bitwise, '^' and '@' (means `left, right : op`)."""

    op: str
    left: "Expr"
    right: "Expr"
    span: Span = _span()


@dataclass(frozen=True)
class Prime:
    """`x'`: x delayed by one sample."""

    expr: "Expr"
    span: Span = _span()


@dataclass(frozen=True)
class Apply:
    """`fn(arg1, arg2, ...)`"""

    fn: "Expr"
    args: Tuple["Expr", ...]
    span: Span = _span()


@dataclass(frozen=True)
class With:
    """`body with { defs }`"""

    body: "Expr"
    defs: Tuple["Definition", ...]
    span: Span = _span()


@dataclass(frozen=True)
class Letrec:
    """`body letrec { 'x = e; ... }` (defs are Definitions whose name is the recursive signal)."""

    body: "Expr"
    defs: Tuple["Definition", ...]
    span: Span = _span()


@dataclass(frozen=True)
class Lambda:
    """`\\(x, y).(body)`"""

    params: Tuple[str, ...]
    body: "Expr"
    span: Span = _span()


@dataclass(frozen=True)
class CaseRule:
    patterns: Tuple["Expr", ...]
    body: "Expr"
    span: Span = _span()


@dataclass(frozen=True)
class Case:
    """`case { (p1, p2) => e; ... }`"""

    rules: Tuple[CaseRule, ...]
    span: Span = _span()


@dataclass(frozen=True)
class Iteration:
    """`par(i, n, body)`, `seq(...)`, `sum(...)`, `prod(...)`."""

    kind: str  # 'par' | 'seq' | 'sum' | 'prod'
    var: str
    count: "Expr"
    body: "Expr"
    span: Span = _span()


@dataclass(frozen=True)
class UIWidget:
    """`hslider/vslider/nentry(label, init, min, max, step)`, `button/checkbox(label)`,
    `hbargraph/vbargraph(label, min, max)`. `args` holds the numeric arguments."""

    kind: str
    label: str
    args: Tuple["Expr", ...]
    span: Span = _span()


@dataclass(frozen=True)
class UIGroup:
    """`hgroup/vgroup/tgroup(label, body)`"""

    kind: str
    label: str
    body: "Expr"
    span: Span = _span()


@dataclass(frozen=True)
class Soundfile:
    """`soundfile(label, nchannels)`"""

    label: str
    channels: "Expr"
    span: Span = _span()


@dataclass(frozen=True)
class Waveform:
    """`waveform { v1, v2, ... }`"""

    values: Tuple["Expr", ...]
    span: Span = _span()


@dataclass(frozen=True)
class Route:
    """`route(ins, outs, pairs)`; pairs is an expression (a ',' tree of numbers)."""

    ins: "Expr"
    outs: "Expr"
    pairs: Optional["Expr"]
    span: Span = _span()


@dataclass(frozen=True)
class ForeignSignature:
    """One C prototype of `ffunction`: result type and argument types ('int' | 'float'),
    with the names of the float|double|quad alternatives (`sinhf|sinh|sinhl`)."""

    result_type: str
    names: Tuple[str, ...]
    arg_types: Tuple[str, ...]


@dataclass(frozen=True)
class FFunction:
    """`ffunction(float sinh(float), <math.h>, "")`"""

    signature: ForeignSignature
    include: str
    library: str
    span: Span = _span()


@dataclass(frozen=True)
class FConstant:
    """`fconstant(int fSamplingFreq, <math.h>)`"""

    type: str
    name: str
    include: str
    span: Span = _span()


@dataclass(frozen=True)
class FVariable:
    """`fvariable(int count, <math.h>)`"""

    type: str
    name: str
    include: str
    span: Span = _span()


@dataclass(frozen=True)
class EnvironmentExpr:
    """`environment { defs }`"""

    defs: Tuple["Statement", ...]
    span: Span = _span()


@dataclass(frozen=True)
class LibraryExpr:
    """`library("file.lib")`"""

    path: str
    span: Span = _span()


@dataclass(frozen=True)
class ComponentExpr:
    """`component("file.dsp")`"""

    path: str
    span: Span = _span()


@dataclass(frozen=True)
class Redefine:
    """`expr[defs]`: the environment `expr` with some definitions replaced."""

    expr: "Expr"
    defs: Tuple["Definition", ...]
    span: Span = _span()


@dataclass(frozen=True)
class InputsOf:
    """`inputs(expr)`"""

    expr: "Expr"
    span: Span = _span()


@dataclass(frozen=True)
class OutputsOf:
    """`outputs(expr)`"""

    expr: "Expr"
    span: Span = _span()


Expr = Union[
    Ident, Access, Int, Real, String, Wire, Cut, Compose, Infix, Prime, Apply, With, Letrec,
    Lambda, Case, Iteration, UIWidget, UIGroup, Soundfile, Waveform, Route, FFunction,
    FConstant, FVariable, EnvironmentExpr, LibraryExpr, ComponentExpr, Redefine, InputsOf,
    OutputsOf,
]


# ---------------------------------------------------------------- statements
@dataclass(frozen=True)
class Definition:
    """`name = body;` (params is None) or `name(p1, p2) = body;` where each parameter is a
    pattern expression (an `Ident` for a plain variable, a number, or a box pattern).
    Several Definitions of one name in one scope form a multi-rule definition.
    `precision` is the precision prefix ('singleprecision', ...) or ''."""

    name: str
    params: Optional[Tuple[Expr, ...]]
    body: Expr
    precision: str = ""
    span: Span = _span()


@dataclass(frozen=True)
class Import:
    """`import("file.lib");`"""

    path: str
    span: Span = _span()


@dataclass(frozen=True)
class Declare:
    """`declare key "value";` (target '') or `declare name key "value";`."""

    key: str
    value: str
    target: str = ""
    span: Span = _span()


Statement = Union[Definition, Import, Declare]


@dataclass(frozen=True)
class Module:
    """A parsed file: its statements in order."""

    statements: Tuple[Statement, ...]
    file: str = "<string>"


# ---------------------------------------------------------------- added by the parser
@dataclass(frozen=True)
class Modulation:
    """`["label": modulator, "other" -> body]`: widget modulation (recent Faust versions).

    Each target is `(label, modulator)`: the path of a widget inside `body`, and the
    circuit that modulates it, or None when the widget becomes an extra input."""

    targets: Tuple[Tuple[str, Optional[Expr]], ...]
    body: Expr
    span: Span = _span()

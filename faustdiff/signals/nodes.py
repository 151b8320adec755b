"""Signal expressions: a hash-consed DAG.

A `Sig` is an immutable node `(op, args, attr)`. Nodes are interned, so structurally
equal expressions are the same object: sharing is explicit, `is` is equality and
memoisation by node is free. The intern table holds nodes weakly; a node keeps its
arguments alive, so a key's argument ids stay valid as long as the entry exists.

Recursion is explicit: a `RecGroup` holds the bodies of k recursive outputs and
`recref(group, i)` is body i delayed by one sample. A group is identified by the object
itself (not a de Bruijn index), so its bodies can be inspected and rewritten directly.

Ops (see `primitives.py` for the meaning of each primitive op):
  const   attr=(kind, value)      kind 'int' | 'float'
  input   attr=index              audio input channel
  param   attr=ParamSpec          a UI widget's value (control rate)
  fconst  attr=(type, name, value) a constant of the architecture known when the program is
                                  compiled but computed at init time, in the program's precision,
                                  as Faust does: ('int', 'fSamplingFreq', 44100)
  recref  attr=(group, index)     previous sample of a recursive body
  delay   args=(x, amount)        x delayed by int(amount) samples (truncated; >= 0)
  first   no args                 1 on the first sample after a reset, else 0 (int)
  rdtable args=(read index,)      attr=TableSpec: a read of a table fixed at init time
  rwtable args=(write index, value, read index)  attr=TableSpec: each sample writes
          value at the write index, then reads the read index (each node owns its table)
  <prim>  args=operands           any primitive of primitives.PRIMITIVES ('+', 'sin', ...)
  pseed, pzero, pscale, pscale0, padd, pexpand, pselect2, pselect3: tangent packs (packs.py)
"""
from __future__ import annotations

import math
import weakref
from dataclasses import dataclass
from typing import Optional, Tuple

INT_KIND = "int"
FLOAT_KIND = "float"


@dataclass(frozen=True)
class ParamSpec:
    """What the signal graph knows of a UI parameter. Two widgets with the same spec are
    the same parameter (as in Faust, where equal boxes are shared)."""

    kind: str  # hslider | vslider | nentry | button | checkbox
    label: str  # label with metadata stripped
    path: str  # '/group/.../label'
    init: float
    min: float
    max: float
    step: float
    metadata: Tuple[Tuple[str, str], ...] = ()

    @property
    def diff(self) -> bool:
        return any(k == "diff" and v.strip().lower() in ("1", "on", "true", "yes")
                   for k, v in self.metadata)


@dataclass(frozen=True)
class TableSpec:
    """The contents of a table before the first sample: `size` values, either the first
    `size` samples of the signal `init` (computed when the state is cleared, from its own
    cleared state, as Faust does at init time) or the constants `values` (waveform).
    `kind` is the kind of the stored values. Compared by identity of `init`."""

    size: int
    kind: str
    init: Optional["Sig"] = None
    values: Optional[Tuple[float, ...]] = None


class RecGroup:
    """The bodies of a group of mutually recursive signals.

    Created empty, then `bodies` is set once the bodies (which refer to the group
    through `recref`) are built. Identity is the object itself."""

    __slots__ = ("bodies", "name", "lanes", "__weakref__")
    _count = 0

    def __init__(self, size: int, name: str = ""):
        RecGroup._count += 1
        self.bodies: Tuple[Optional["Sig"], ...] = (None,) * size
        self.name = name or f"rec{RecGroup._count}"
        self.lanes = None  # for a recursion of tangent packs: the Pack of each body

    def __len__(self) -> int:
        return len(self.bodies)

    def __repr__(self) -> str:
        return f"RecGroup({self.name}, {len(self.bodies)})"


class Sig:
    __slots__ = ("op", "args", "attr", "uid", "__weakref__")
    _next_uid = 0

    op: str
    args: Tuple["Sig", ...]

    def __repr__(self) -> str:
        return format_sig(self)

    # Interned: identity is equality. Keep default object hashing.

    @property
    def is_const(self) -> bool:
        return self.op == "const"

    @property
    def value(self):
        """The constant's Python value (int or float); only for const nodes."""
        return self.attr[1]

    @property
    def kind(self) -> str:
        """The constant's kind; only for const nodes."""
        return self.attr[0]


_INTERN: "weakref.WeakValueDictionary[tuple, Sig]" = weakref.WeakValueDictionary()


def _attr_key(op: str, attr):
    if op == "const":
        kind, value = attr
        if kind == FLOAT_KIND:
            return (kind, float(value).hex())  # keeps -0.0 apart from 0.0, NaN equal to itself
        return attr
    if op == "recref":
        group, index = attr
        return (id(group), index)
    return attr


def node(op: str, args: Tuple[Sig, ...] = (), attr=None) -> Sig:
    """The unique node (op, args, attr). No simplification: see `primitives.apply`."""
    key = (op, tuple(id(a) for a in args), _attr_key(op, attr))
    found = _INTERN.get(key)
    if found is not None:
        return found
    s = Sig.__new__(Sig)
    s.op = op
    s.args = args
    s.attr = attr
    s.uid = Sig._next_uid
    Sig._next_uid += 1
    if op == "recref":
        # the group object must outlive the node: the key only holds its id
        s.attr = attr
    _INTERN[key] = s
    return s


def wrap_int32(v: int) -> int:
    return ((int(v) + 2147483648) & 0xFFFFFFFF) - 2147483648


def const(value, kind: Optional[str] = None) -> Sig:
    """An int or float constant. Ints wrap to int32 as Faust's do."""
    if kind is None:
        kind = INT_KIND if isinstance(value, (int,)) and not isinstance(value, bool) else FLOAT_KIND
    if kind == INT_KIND:
        return node("const", (), (INT_KIND, wrap_int32(value)))
    return node("const", (), (FLOAT_KIND, float(value)))


def const_int(v: int) -> Sig:
    return const(int(v), INT_KIND)


def const_float(v: float) -> Sig:
    return const(float(v), FLOAT_KIND)


def input_sig(index: int) -> Sig:
    return node("input", (), index)


def param_sig(spec: ParamSpec) -> Sig:
    return node("param", (), spec)


def fconst(type_: str, name: str, value) -> Sig:
    return node("fconst", (), (type_, name, value))


def leaf_kind(s: Sig) -> Optional[str]:
    """The kind a leaf has by itself: a constant's own, float for inputs and parameters,
    a foreign constant's declared type; None for any other node."""
    if s.op == "const":
        return s.kind
    if s.op in ("input", "param"):
        return FLOAT_KIND
    if s.op == "fconst":
        return s.attr[0]
    return None


def recref(group: RecGroup, index: int) -> Sig:
    return node("recref", (), (group, index))


def first_sample() -> Sig:
    return node("first")


def delay(x: Sig, amount: Sig) -> Sig:
    """x delayed by int(amount) samples; a constant delay below one sample is x itself."""
    if amount.is_const and 0 <= amount.value < 1:
        return x
    if x.is_const and x.value == 0:
        return x
    return node("delay", (x, amount))


def rdtable(spec: TableSpec, index: Sig) -> Sig:
    return node("rdtable", (index,), spec)


def rwtable(spec: TableSpec, windex: Sig, value: Sig, rindex: Sig) -> Sig:
    return node("rwtable", (windex, value, rindex), spec)


def format_sig(s: Sig, depth: int = 4) -> str:
    """A readable, bounded rendering for messages and debugging."""
    if s.op == "const":
        v = s.value
        return repr(v) if s.kind == INT_KIND or not math.isfinite(v) else repr(float(v))
    if s.op == "input":
        return f"in{s.attr}"
    if s.op == "param":
        return f"param({s.attr.label!r})"
    if s.op == "fconst":
        return s.attr[1]
    if s.op == "recref":
        return f"{s.attr[0].name}[{s.attr[1]}]'"
    if s.op == "first":
        return "first"
    if depth == 0:
        return "…"
    inner = ", ".join(format_sig(a, depth - 1) for a in s.args)
    return f"{s.op}({inner})"

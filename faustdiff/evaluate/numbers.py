"""Compile-time numbers inside the evaluator.

Faust reduces a box to a number in three places: where a number is required (`par`
counts, widget ranges, route descriptions, `%i` labels), when a function argument or a
pattern-matched argument denotes a constant (`f(2+3)` binds 5), and when a numeric tuple
feeds an arithmetic primitive (`2, 3 : +` is 5). All three use
`faustdiff.signals.constant.box_constant`, so compile-time and run-time arithmetic are one.

`evaluate` has no sample rate: like Faust, it does not treat the sample rate (a foreign
constant), widgets or foreign functions as compile-time numbers.
"""
from __future__ import annotations

import math
from typing import Optional, Union

from .. import boxes as B
from ..errors import FaustDiffError, FaustEvaluationError, FaustTypeError, Span
from ..signals import nodes, primitives
from ..signals.constant import box_constant
from ..signals.refusals import constant_refusal
from .values import PatternVar, Slot, describe

Number = Union[int, float]

# primitives the signal stage folds on constants (the others are delays, tables, ...)
FOLDABLE_PRIMS = frozenset(name for name, prim in primitives.PRIMITIVES.items()
                           if prim.fold is not None and name in B.PRIMITIVE_ARITIES)

# primitives whose output on constant inputs is a constant the folder may compute
_NOT_FOLDABLE_PRIMS = frozenset(("rdtable", "rwtable"))


class Numbers:
    """Interned number boxes and memoised constant folding for one evaluation."""

    def __init__(self):
        self._ints = {}
        self._reals = {}
        self._foldable = {}  # id(box) -> (box, reason or None)
        self._constant = {}  # id(box) -> (box, number box or None)
        self._folds = {}  # (primitive, number boxes...) -> number box or None

    # -- interned numbers: equal numbers are the same box, so bindings of equal numbers
    # -- share their layer (see env.Env.bind)
    def number(self, value: Number) -> B.Box:
        if isinstance(value, bool):
            value = int(value)
        if isinstance(value, int):
            box = self._ints.get(value)
            if box is None:
                box = self._ints[value] = B.BInt(value)
            return box
        value = float(value)
        key = value.hex() if not math.isnan(value) else "nan"
        box = self._reals.get(key)
        if box is None:
            box = self._reals[key] = B.BReal(value)
        return box

    # -- what may be folded
    def not_foldable_reason(self, box: B.Box) -> Optional[str]:
        """Why `box` can never be a compile-time number (None when it might be)."""
        hit = self._foldable.get(id(box))
        if hit is not None and hit[0] is box:
            return hit[1]
        reason = self._reason(box)
        self._foldable[id(box)] = (box, reason)
        return reason

    def _reason(self, box):
        t = type(box)
        if t in (B.BInt, B.BReal, B.BWire, B.BCut, B.BRoute, B.BWaveform):
            # (a waveform's first output, its size, is a compile-time number)
            return None
        if t is B.BPrim:
            return f"'{box.name}'" if box.name in _NOT_FOLDABLE_PRIMS else None
        if t in (B.BSeq, B.BPar, B.BSplit, B.BMerge, B.BRec):
            return self.not_foldable_reason(box.a) or self.not_foldable_reason(box.b)
        if t is B.BGroup:
            return self.not_foldable_reason(box.body)
        if t is B.BWidget or t is B.BBargraph:
            return f"the widget '{box.label}'"
        if t is B.BForeignConstant:
            if box.name == "fSamplingFreq":
                return "the sample rate"
            return f"the foreign {box.kind} '{box.name}'"
        if t is B.BForeignFunction:
            return f"the foreign function '{box.name}'"
        if t is B.BSoundfile:
            return "a soundfile"
        if t is Slot or t is PatternVar:
            return "a function argument"
        return type(box).__name__

    # -- folding
    def fold(self, op: str, operands) -> Optional[B.Box]:
        """`operands : op` for number boxes, folded (None when it does not fold)."""
        key = (op,) + tuple(operands)  # number boxes are interned: identity is value
        hit = self._folds.get(key, _NOT_SIMPLE)
        if hit is not _NOT_SIMPLE:
            return hit
        args = [nodes.const_int(b.value) if type(b) is B.BInt else nodes.const_float(b.value)
                for b in operands]
        try:
            # what Faust refuses (1 % 0, sqrt(-1)) stays a box: propagation reports it
            # with its position
            sig = None if constant_refusal(op, args) else primitives.apply(op, *args)
        except FaustDiffError:
            sig = None
        if sig is None or sig.op != "const":
            result = None
        else:
            result = self.number(sig.value if sig.kind == nodes.INT_KIND else float(sig.value))
        self._folds[key] = result
        return result

    def try_constant(self, box: B.Box) -> Optional[B.Box]:
        """The number box `box` denotes, or None (Faust's isBoxNumeric)."""
        t = type(box)
        if t is B.BInt or t is B.BReal:
            return box
        hit = self._constant.get(id(box))
        if hit is not None and hit[0] is box:
            return hit[1]
        if t is B.BSeq:
            folded = _fold_tuple(self, box)
            if folded is not _NOT_SIMPLE:
                self._constant[id(box)] = (box, folded)
                return folded
        result = None
        # the reason check comes first: it also rejects pattern boxes, whose compositions
        # need not have consistent arities
        if self.not_foldable_reason(box) is None and box.arity() == (0, 1):
            try:
                result = self.number(box_constant(box))
            except FaustDiffError:
                result = None
        self._constant[id(box)] = (box, result)
        return result

    def require(self, box: B.Box, what: str, span: Span) -> Number:
        """The number `box` denotes. A FaustTypeError about `what` when `box` is not a single
        output, a FaustEvaluationError when its value depends on something only known at run
        time (a slider, an input)."""
        t = type(box)
        if t is B.BInt or t is B.BReal:
            return box.value
        if box.arity() != (0, 1):
            raise FaustTypeError(
                f"{what} must be a compile-time number, but it is {describe(box)}", span)
        reason = self.not_foldable_reason(box)
        if reason is not None:
            raise FaustEvaluationError(
                f"{what} must be a compile-time number, but it depends on {reason}", span)
        try:
            return box_constant(box)
        except FaustDiffError as e:
            raise FaustEvaluationError(f"{what} must be a compile-time number: {e.message}",
                                       span) from None


_NOT_SIMPLE = object()


def _tuple_leaves(box, out) -> bool:
    t = type(box)
    if t is B.BInt or t is B.BReal:
        out.append(box)
        return True
    return t is B.BPar and _tuple_leaves(box.a, out) and _tuple_leaves(box.b, out)


def _fold_tuple(numbers: "Numbers", box: B.BSeq):
    """`2, 3 : +`: numbers into one foldable primitive, computed with the signal stage's
    own folding rules (`primitives.apply`) without a full propagation, and memoised by
    operands; _NOT_SIMPLE for anything else."""
    prim = box.b
    if type(prim) is not B.BPrim or prim.name not in primitives.PRIMITIVES:
        return _NOT_SIMPLE
    leaves = []
    if not _tuple_leaves(box.a, leaves) or \
            len(leaves) != primitives.PRIMITIVES[prim.name].arity:
        return _NOT_SIMPLE
    return numbers.fold(prim.name, leaves)

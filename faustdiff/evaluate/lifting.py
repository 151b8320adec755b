"""Functions used as block diagrams.

A function that is used where a block diagram is expected (`process = f;`,
`x : ba.db2linear`, `\\(c).(c+1) ~ _`, the recursive body of a `letrec`) becomes a box
whose first input is its argument: Faust applies it to a slot `s` and keeps the result
`b` as a "symbolic box" `(s -> b)`. Here the slot is eliminated at once:
`abstract_slot(s, b)` is an ordinary box with inputs (s, inputs of b) that computes b,
built from the same primitives and compositions (routes carry the slot to each place that
reads it). Where the slot is read once in a chain the result is the natural diagram,
e.g. `\\(x).(pow(10, x/20))` becomes `10, (_, 20 : /) : pow`.
"""
from __future__ import annotations

from typing import Dict, List, Tuple

from .. import boxes as B
from ..errors import Span
from .values import Slot


def bus(n: int, span: Span) -> B.Box:
    """`_, _, ..., _` (n >= 1 wires), right-nested."""
    box = B.BWire(span)
    for _ in range(n - 1):
        box = B.BPar(B.BWire(span), box, span)
    return box


class _Abstractor:
    def __init__(self, slot: Slot, span: Span):
        self.slot = slot
        self.span = span
        self._contains: Dict[int, Tuple[B.Box, bool]] = {}
        self._done: Dict[int, Tuple[B.Box, B.Box]] = {}

    def contains(self, box: B.Box) -> bool:
        hit = self._contains.get(id(box))
        if hit is not None and hit[0] is box:
            return hit[1]
        if box is self.slot:
            found = True
        elif isinstance(box, (B.BSeq, B.BPar, B.BSplit, B.BMerge, B.BRec)):
            found = self.contains(box.a) or self.contains(box.b)
        elif isinstance(box, B.BGroup):
            found = self.contains(box.body)
        else:
            found = False
        self._contains[id(box)] = (box, found)
        return found

    def route(self, ins: int, outs: int, pairs: List[Tuple[int, int]]) -> B.Box:
        return B.BRoute(ins, outs, tuple(pairs), self.span)

    def seq(self, a: B.Box, b: B.Box) -> B.Box:
        if isinstance(a, B.BWire) and b.arity()[0] == 1:
            return b
        box = B.BSeq(a, b, self.span)
        box.arity()
        return box

    def par(self, a: B.Box, b: B.Box) -> B.Box:
        return B.BPar(a, b, self.span)

    def lifted(self, box: B.Box) -> B.Box:
        """`box` with the slot as an extra first input; `box` need not contain the slot."""
        if not self.contains(box):
            return self.par(B.BCut(self.span), box)
        return self.abstract(box)

    def with_slot_out(self, box: B.Box) -> B.Box:
        """(s, inputs of box) -> (s, outputs of box)."""
        ins, outs = box.arity()
        if not self.contains(box):
            return self.par(B.BWire(self.span), box)
        # (s, ins) -> (s, ins, s) : (L(box), _) : (outs, s) -> (s, outs)
        dup = self.route(1 + ins, 2 + ins, [(1, 1)] + [(k, k) for k in range(2, ins + 2)]
                         + [(1, ins + 2)])
        back = self.route(outs + 1, outs + 1, [(outs + 1, 1)] + [(k, k + 1)
                                                                 for k in range(1, outs + 1)])
        return self.seq(self.seq(dup, self.par(self.abstract(box), B.BWire(self.span))), back)

    def abstract(self, box: B.Box) -> B.Box:
        """The slot-lifted form of a box that contains the slot."""
        hit = self._done.get(id(box))
        if hit is not None and hit[0] is box:
            return hit[1]
        result = self._abstract(box)
        self._done[id(box)] = (box, result)
        return result

    def _abstract(self, box: B.Box) -> B.Box:
        if box is self.slot:
            return B.BWire(self.span)
        t = type(box)
        if t is B.BGroup:
            return B.BGroup(box.kind, box.label, self.abstract(box.body), box.span)
        a, b = box.a, box.b
        ia, oa = a.arity()
        ib, ob = b.arity()
        in_a, in_b = self.contains(a), self.contains(b)
        if t is B.BPar:
            if not in_b:
                return self.par(self.abstract(a), b)
            if not in_a:
                if ia == 0:
                    return self.par(a, self.abstract(b))
                # (s, a_ins, b_ins) -> (a_ins, s, b_ins)
                pairs = [(k + 2, k + 1) for k in range(ia)] + [(1, ia + 1)] + \
                        [(ia + 2 + k, ia + 2 + k) for k in range(ib)]
                return self.seq(self.route(1 + ia + ib, 1 + ia + ib, pairs),
                                self.par(a, self.abstract(b)))
            # (s, a_ins, b_ins) -> (s, a_ins, s, b_ins)
            pairs = [(1, 1)] + [(k + 2, k + 2) for k in range(ia)] + [(1, ia + 2)] + \
                    [(ia + 2 + k, ia + 3 + k) for k in range(ib)]
            return self.seq(self.route(1 + ia + ib, 2 + ia + ib, pairs),
                            self.par(self.abstract(a), self.abstract(b)))
        if t is B.BSeq:
            if not in_b:
                return self.seq(self.abstract(a), b)
            return self.seq(self.with_slot_out(a), self.abstract(b))
        if t is B.BSplit or t is B.BMerge:
            if not in_b:
                return t(self.abstract(a), b, box.span)
            fan = t(bus(oa, self.span), bus(ib, self.span), box.span)
            return self.seq(self.seq(self.with_slot_out(a), self.par(B.BWire(self.span), fan)),
                            self.abstract(b))
        if t is B.BRec:
            return self._abstract_rec(box, ia, oa, ib, ob)
        raise AssertionError(f"cannot lift {t.__name__}")  # pragma: no cover

    def _abstract_rec(self, box: B.BRec, ia: int, oa: int, ib: int, ob: int) -> B.Box:
        # a ~ b with the slot s: the slot enters the recursive block beside a's own inputs
        # and leaves it as an extra first output, so b (fed by the first outputs of the
        # block) reads it too; it is cut after the loop.
        rest = ia - ob
        # A' inputs: (feedback[ob], s, rest) ; L(a) inputs: (s, a_ins) ; plus a copy of s
        pairs = [(ob + 1, 1)] + [(1 + j, 2 + j) for j in range(ob)] + \
                [(ob + 2 + k, 2 + ob + k) for k in range(rest)] + [(ob + 1, ia + 2)]
        into = self.route(ob + 1 + rest, ia + 2, pairs)
        out = self.route(oa + 1, oa + 1, [(oa + 1, 1)] + [(k, k + 1) for k in range(1, oa + 1)])
        a2 = self.seq(self.seq(into, self.par(self.lifted(box.a), B.BWire(self.span))), out)
        b2 = self.lifted(box.b)
        rec = B.BRec(a2, b2, box.span)
        rec.arity()
        cut = B.BCut(self.span) if oa == 0 else self.par(B.BCut(self.span), bus(oa, self.span))
        return self.seq(rec, cut)


def abstract_slot(slot: Slot, body: B.Box, span: Span) -> B.Box:
    """A box with inputs (slot, inputs of body) that computes `body`."""
    return _Abstractor(slot, span).lifted(body)

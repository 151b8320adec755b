"""Functions used as block diagrams.

A function that is used where a block diagram is expected (`process = f;`,
`x : ba.db2linear`, `\\(c).(c+1) ~ _`, the recursive body of a `letrec`) becomes a box
whose first inputs are its arguments: Faust applies it to slots `s1..sk` and keeps the
result `b` as a "symbolic box" `(s1..sk -> b)`. Here the slots are eliminated at once:
`abstract_slots([s1..sk], b)` is an ordinary box with inputs (s1..sk, inputs of b) that
computes b, built from the same primitives and compositions; routes carry each slot
only to the parts of the diagram that read it. Where a slot is read once in a chain the
result is the natural diagram, e.g. `\\(x).(pow(10, x/20))` becomes
`10, (_, 20 : /) : pow`.
"""
from __future__ import annotations

from typing import Dict, List, Optional, Sequence, Tuple

from .. import boxes as B
from ..errors import Span
from .values import Slot

_COMPOSITIONS = (B.BSeq, B.BPar, B.BSplit, B.BMerge, B.BRec)


def bus(n: int, span: Span) -> B.Box:
    """`_, _, ..., _` (n >= 1 wires), right-nested."""
    box = B.BWire(span)
    for _ in range(n - 1):
        box = B.BPar(B.BWire(span), box, span)
    return box


def _merge(u: Tuple[int, ...], v: Tuple[int, ...]) -> Tuple[int, ...]:
    if not u:
        return v
    if not v or u == v:
        return u
    return tuple(sorted(set(u) | set(v)))


def _slots(used: Sequence[int]) -> List[tuple]:
    return [("s", i) for i in used]


def _signals(tag: str, n: int) -> List[tuple]:
    return [(tag, k) for k in range(n)]


class _Abstractor:
    def __init__(self, slots: Sequence[Slot], span: Span):
        self.index = {id(s): i for i, s in enumerate(slots)}
        self.slots = list(slots)  # keeps the ids valid
        self.span = span
        self._used: Dict[int, Tuple[B.Box, Tuple[int, ...]]] = {}
        self._lifted: Dict[int, Tuple[B.Box, B.Box]] = {}

    # -- which slots a box reads
    def used(self, box: B.Box) -> Tuple[int, ...]:
        hit = self._used.get(id(box))
        if hit is not None and hit[0] is box:
            return hit[1]
        t = type(box)
        if t is Slot:
            i = self.index.get(id(box))
            result = (i,) if i is not None else ()
        elif t in _COMPOSITIONS:
            result = _merge(self.used(box.a), self.used(box.b))
        elif t is B.BGroup:
            result = self.used(box.body)
        else:
            result = ()
        self._used[id(box)] = (box, result)
        return result

    # -- small builders
    def route(self, ins: List[tuple], outs: List[tuple]) -> Optional[B.Box]:
        """The route taking signals labelled `ins` to the order `outs` (None: identity)."""
        if ins == outs:
            return None
        position: Dict[tuple, int] = {}
        for k, label in enumerate(ins):
            position.setdefault(label, k + 1)
        pairs = tuple((position[label], j + 1) for j, label in enumerate(outs))
        return B.BRoute(len(ins), len(outs), pairs, self.span)

    def seq(self, *boxes: Optional[B.Box]) -> B.Box:
        result = None
        for box in boxes:
            if box is None:
                continue
            result = box if result is None else B.BSeq(result, box, self.span)
        return result

    def par(self, a: B.Box, n_wires: int) -> B.Box:
        return a if n_wires == 0 else B.BPar(a, bus(n_wires, self.span), self.span)

    def part(self, box: B.Box) -> B.Box:
        """`box` with the slots it reads as first inputs (itself when it reads none)."""
        return self.lift(box) if self.used(box) else box

    # -- the transformation
    def lift(self, box: B.Box) -> B.Box:
        """A box with inputs (slots read by `box`, in slot order; inputs of `box`)."""
        hit = self._lifted.get(id(box))
        if hit is not None and hit[0] is box:
            return hit[1]
        result = self._lift(box)
        result.arity()
        self._lifted[id(box)] = (box, result)
        return result

    def _lift(self, box: B.Box) -> B.Box:
        t = type(box)
        if t is Slot:
            return B.BWire(self.span)
        if t is B.BGroup:
            return B.BGroup(box.kind, box.label, self.lift(box.body), box.span)
        a, c = box.a, box.b
        ia, oa = a.arity()
        ic, oc = c.arity()
        ua, uc = self.used(a), self.used(c)
        u = self.used(box)
        la, lc = self.part(a), self.part(c)
        if t is B.BPar:
            into = self.route(_slots(u) + _signals("a", ia) + _signals("c", ic),
                              _slots(ua) + _signals("a", ia) + _slots(uc) + _signals("c", ic))
            return self.seq(into, B.BPar(la, lc, box.span))
        if t is B.BRec:
            return self._lift_rec(box, la, lc, ia, oa, ic, oc, ua, uc, u)
        # a first, keeping a copy of the slots c reads: (u, a_ins) -> (oa, uc) -> (uc, oa)
        into = self.route(_slots(u) + _signals("a", ia),
                          _slots(ua) + _signals("a", ia) + _slots(uc))
        turn = self.route(_signals("o", oa) + _slots(uc), _slots(uc) + _signals("o", oa))
        head = self.seq(into, self.par(la, len(uc)), turn)
        if t is B.BSeq:
            return self.seq(head, lc)
        fan = t(bus(oa, self.span), bus(ic, self.span), box.span)  # split or merge
        if not uc:
            return t(head, c, box.span)
        return self.seq(head, B.BPar(bus(len(uc), self.span), fan, self.span), lc)

    def _lift_rec(self, box, la, lc, ia, oa, ic, oc, ua, uc, u) -> B.Box:
        # a ~ c where c reads slots: a slot is a closure variable, current at every
        # sample, but anything that reaches c through the loop arrives one sample late.
        # So c moves into the loop's input stage: the loop feeds back a's first ic
        # outputs unchanged, and c reads them together with the current slots:
        #   (route : (c, wires) : route : a) ~ bus(ic)
        # (a ~ c feeds c with a's outputs one sample late and a with c's outputs at
        # once, exactly as this does.)
        rest = ia - oc
        if not uc:
            into = self.route(_signals("f", oc) + _slots(u) + _signals("r", rest),
                              _slots(ua) + _signals("f", oc) + _signals("r", rest))
            return B.BRec(self.seq(into, la), lc, box.span)
        into = self.route(_signals("f", ic) + _slots(u) + _signals("r", rest),
                          _slots(uc) + _signals("f", ic) + _slots(ua) + _signals("r", rest))
        feedback = self.par(lc, len(ua) + rest)
        turn = self.route(_signals("o", oc) + _slots(ua) + _signals("r", rest),
                          _slots(ua) + _signals("o", oc) + _signals("r", rest))
        loop_body = self.seq(into, feedback, turn, la)
        return B.BRec(loop_body, bus(ic, self.span), box.span)

    def abstract(self, body: B.Box) -> B.Box:
        used = self.used(body)
        lifted = self.part(body)
        ins = body.arity()[0]
        select = self.route(_slots(range(len(self.slots))) + _signals("i", ins),
                            _slots(used) + _signals("i", ins))
        result = self.seq(select, lifted)
        result.arity()
        return result


def abstract_slots(slots: Sequence[Slot], body: B.Box, span: Span) -> B.Box:
    """A box with inputs (slots..., inputs of body) that computes `body`."""
    return _Abstractor(slots, span).abstract(body)

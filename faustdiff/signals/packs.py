"""Tangent packs: the derivatives of one signal with respect to several parameters,
carried together as one value whose lanes the kernels compute as one vector.

A pack's kind is a `Pack`: the parameters (by position among the differentiated ones)
it has a lane for, sorted. A lane is there only where the scalar tangent would not be
pruned as zero, so no lane ever multiplies a structural zero: an infinite partial
derivative (sqrt at 0) cannot turn a parameter the signal does not depend on into NaN.
Where packs of different lanes meet, the missing lanes are inserted as exact zeros
(`pexpand`), which an addition leaves unchanged.

Ops (every attr is the result's `Pack`):
  pseed    no args            the tangent of a parameter: 1 in its one lane
  pzero    no args            zeros
  pscale   args=(c, A)        c·A, c a scalar float signal
  pscale0  args=(c, A)        c·A, but 0 in the lanes where A is 0 (c may be infinite
                              there: the slope of sqrt at 0)
  padd     args=(A, B)        A + B, both of the result's lanes
  pexpand  args=(A,)          A with zero lanes inserted up to the result's lanes
  pselect2 args=(s, A, B)     select2 of whole packs (same lanes)
  pselect3 args=(s, A, B, C)  select3 of whole packs
Delays, recursions (`RecGroup.lanes`) and read-write tables (`TableSpec.kind`) carry
packs as they carry floats.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Optional, Sequence, Tuple

from .nodes import Sig, node


@dataclass(frozen=True)
class Pack:
    """The kind of a tangent pack: the parameter positions it has lanes for."""

    lanes: Tuple[int, ...]

    @property
    def width(self) -> int:
        return len(self.lanes)

    def position(self, lane: int) -> Optional[int]:
        return self.lanes.index(lane) if lane in self.lanes else None

    def __or__(self, other: "Pack") -> "Pack":
        return Pack(tuple(sorted(set(self.lanes) | set(other.lanes))))


PACK_OPS = frozenset({"pseed", "pzero", "pscale", "pscale0", "padd", "pexpand", "pselect2",
                      "pselect3"})


def is_pack(kind) -> bool:
    return isinstance(kind, Pack)


def pack_of(s: Sig) -> Pack:
    """The lanes of a pack-valued node."""
    while s.op == "delay":
        s = s.args[0]
    if s.op in PACK_OPS:
        return s.attr
    if s.op == "recref":
        group, index = s.attr
        return group.lanes[index]
    if s.op == "rwtable":
        return s.attr.kind
    raise TypeError(f"{s.op} is not a pack")


def pseed(lane: int) -> Sig:
    return node("pseed", (), Pack((lane,)))


def pzero(pack: Pack) -> Sig:
    return node("pzero", (), pack)


def pscale(coef: Sig, a: Sig, strong_zero: bool = False) -> Sig:
    return node("pscale0" if strong_zero else "pscale", (coef, a), pack_of(a))


def expand(a: Sig, pack: Pack) -> Sig:
    """a with zero lanes inserted so that it has the lanes of `pack` (a superset)."""
    have = pack_of(a)
    if have == pack:
        return a
    if a.op == "pzero":
        return pzero(pack)
    return node("pexpand", (a,), pack)


def padd(a: Sig, b: Sig) -> Sig:
    pack = pack_of(a) | pack_of(b)
    return node("padd", (expand(a, pack), expand(b, pack)), pack)


def pselect(selector: Sig, branches: Sequence[Optional[Sig]]) -> Sig:
    """select2/select3 of packs; a None branch is zero."""
    pack = None
    for b in branches:
        if b is not None:
            pack = pack_of(b) if pack is None else pack | pack_of(b)
    whole = tuple(pzero(pack) if b is None else expand(b, pack) for b in branches)
    return node("pselect2" if len(branches) == 2 else "pselect3", (selector,) + whole, pack)


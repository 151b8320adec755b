"""Forward-mode differentiation of a signal graph.

For every signal s, `differentiate_packed` builds one tangent pack: ds/dp for every
parameter p marked `[diff:1]` that s depends on, one lane each (`signals/packs.py`).
Packs go through the same scheduler as the primal, and the kernels compute each pack
operation on all its lanes at once, as one vector. Before that, `chains.py` reorders
their sums so that the tangents of a recursion wait on as few operations per sample as
the primal does. `differentiate` reads the lanes back
out as ordinary float signals, one graph per parameter (for the derivative program
written as Faust, and for inspection). A zero tangent is `None` and is pruned
symbolically: most of a program does not depend on a given parameter.

The rule of each primitive lives with its definition (`primitives.py`, `foreign.py`) as
partial derivatives; the operations with structure of their own are here, each a linear
map of the argument tangents:
- select2/select3: the tangent of the selected branch (the selector is piecewise
  constant);
- rdtable: zero (its contents are fixed before the first sample and its index is an int);
- rwtable: a parallel table of the tangents of the written values, read at the same index;
- delay x@d: (dx/dp)@d, plus a term for the amount. `@` truncates d to an int, so
  the exact derivative in d is zero almost everywhere. Where d is an explicit int signal
  (`int(...)`, as `de.fdelay` and other fractional delays write it, interpolating between
  two reads) that zero is kept: the interpolation weights then carry the exact
  derivative. Where d is a float signal that `@` truncates by itself (`x@(hslider)`),
  the delay is treated as continuous and its slope taken as a one-sample difference:
  (x@(d+1) - x@d)·dd/dp — the "differentiated unit pulse" of Faust's autodiff notes.
- smooth mode (opt-in): where an int() cast (or floor, ceil, rint, round, an int `%`)
  feeds a table read index or a delay amount, its derivative is taken straight through
  the cast (a straight-through estimate), times the local slope of the table
  (table[i+1] - table[i]) or of the delayed signal (x@(d+1) - x@d). `os.osc(f)`, which
  reads a sine table at int(phase·n), then gets d/df ≈ that of sin(2π·phase).
- recref(g, i): recref(g_p, i), where g_p is a tangent group whose bodies are the
  tangents of g's bodies. Its bodies read both g (primal state) and g_p (tangent state),
  so a recursion of k signals and m parameters runs k(1+m) recursive signals.
Any int-typed signal has a zero tangent (ints are piecewise constant).
"""
from __future__ import annotations

from typing import Dict, List, Optional, Sequence

from ..signals.analysis import collect, infer_kinds, param_dependence
from ..signals.nodes import (FLOAT_KIND, INT_KIND, ParamSpec, RecGroup, Sig, TableSpec,
                             const_float, const_int, delay, rdtable, recref, rwtable)
from ..signals.packs import PACK_OPS, Pack, expand, pack_of, padd, pscale, pseed, pselect, pzero
from ..signals.primitives import PRIMITIVES, apply
from .chains import shorten_chains

Tangent = Optional[Sig]


def differentiate_packed(outputs: Sequence[Sig], params: Sequence[ParamSpec],
                         smooth: bool = False, shorten: bool = True) -> List[Tangent]:
    """packs[o]: the derivatives of outputs[o], lane k for params[k] (None: all zero);
    `smooth` takes table indices and int delay amounts straight through their int casts;
    `shorten` reorders the sums for speed (`chains.py`; False: as the chain rule writes
    them)."""
    order, _ = collect(outputs)
    kinds = infer_kinds(order)
    depends = param_dependence(order, params)
    packs = _Differentiator(order, kinds, depends, params, smooth).run(outputs)
    return shorten_chains(packs) if shorten else packs


def differentiate(outputs: Sequence[Sig], params: Sequence[ParamSpec],
                  smooth: bool = False) -> List[List[Tangent]]:
    """tangents[k][o]: the derivative of outputs[o] with respect to params[k], a float
    signal (None when zero): the lanes of `differentiate_packed`."""
    return unpack(differentiate_packed(outputs, params, smooth), params)


def unpack(packs: Sequence[Tangent], params: Sequence[ParamSpec]) -> List[List[Tangent]]:
    """The lanes of the packs of `differentiate_packed`, one float graph per parameter."""
    order, _ = collect([p for p in packs if p is not None])
    return [_Lane(k, p.label).run(order, packs) for k, p in enumerate(params)]


# int-valued operations a straight-through estimate looks through
_STRAIGHT_THROUGH = {"int", "floor", "ceil", "rint", "round", "float"}


def _scale(coef: Optional[Sig], t: Tangent, strong_zero: bool = False) -> Tangent:
    """coef·t; `strong_zero`: 0 where t is 0 even if coef is infinite there."""
    if coef is None or t is None:
        return None
    if coef.op == "const":
        if coef.value == 0:
            return None
        if coef.value == 1:
            return t
    return pscale(coef, t, strong_zero and t.op != "pseed")


def _sum(a: Tangent, b: Tangent) -> Tangent:
    if a is None:
        return b
    if b is None:
        return a
    return padd(a, b)


def _lanes(mask: int) -> Pack:
    return Pack(tuple(k for k in range(mask.bit_length()) if mask >> k & 1))


class _Differentiator:
    def __init__(self, order, kinds, depends, params: Sequence[ParamSpec], smooth: bool = False):
        self.smooth = smooth
        self.straight: Dict[int, Tangent] = {}
        self.order = order
        self.kinds = kinds
        self.depends = depends
        self.lane = {spec: k for k, spec in enumerate(params)}
        self.tangent: Dict[int, Tangent] = {}
        self.tangent_groups: Dict[int, RecGroup] = {}
        self.group_of: Dict[int, RecGroup] = {}

    def run(self, outputs: Sequence[Sig]) -> List[Tangent]:
        for s in self.order:
            self.tangent[id(s)] = self._rule(s)
        for gid, tg in self.tangent_groups.items():
            g = self.group_of[gid]
            # a body no recref reads has no lanes: it is never computed
            tg.bodies = tuple(None if b is None else self._body(b, lanes)
                              for b, lanes in zip(g.bodies, tg.lanes))
        return [self.tangent[id(o)] for o in outputs]

    def _body(self, body: Sig, lanes: Pack) -> Sig:
        t = self.tangent.get(id(body))
        return pzero(lanes) if t is None else expand(t, lanes)

    def _rule(self, s: Sig) -> Tangent:
        if not self.depends[id(s)] or self.kinds[id(s)] == INT_KIND:
            return None
        op = s.op
        if op == "param":
            return pseed(self.lane[s.attr])
        if op == "recref":
            group, index = s.attr
            tg = self.tangent_groups.get(id(group))
            if tg is None:
                tg = RecGroup(len(group), f"{group.name}_d")
                tg.lanes = (Pack(()),) * len(group)
                self.tangent_groups[id(group)] = tg
                self.group_of[id(group)] = group
            # the lanes of every parameter the recursion depends on (its body's tangent
            # may still turn out zero in some: those lanes then stay 0)
            lanes = list(tg.lanes)
            lanes[index] = _lanes(self.depends[id(s)])
            tg.lanes = tuple(lanes)
            return recref(tg, index)
        ts = [self.tangent[id(a)] for a in s.args]
        if op == "delay":
            return self._delay_rule(s, ts[0])
        if op == "rdtable":
            if self.smooth:
                return self._smooth_table_rule(s)
            return None  # contents fixed at init time, index an int: piecewise constant
        if op == "rwtable":
            # a parallel table holds the tangents of the written values (zero at init)
            windex, _, rindex = s.args
            if ts[1] is None:
                return None
            lanes = pack_of(ts[1])
            spec = TableSpec(s.attr.size, lanes, init=pzero(lanes))
            return rwtable(spec, windex, ts[1], rindex)
        if op in ("select2", "select3"):
            if all(t is None for t in ts[1:]):
                return None
            return pselect(s.args[0], ts[1:])
        return self._chain(s, ts)

    def _chain(self, s: Sig, ts: Sequence[Tangent]) -> Tangent:
        """sum over the arguments of d s/d arg · arg tangent (the registry's partials)."""
        prim = PRIMITIVES[s.op]
        if prim.partials is None or all(t is None for t in ts):
            return None
        coefs = prim.partials(list(s.args), s)
        total: Tangent = None
        for coef, t in zip(coefs, ts):
            total = _sum(total, _scale(coef, t, prim.steep))
        return total

    def _delay_rule(self, s: Sig, tx: Tangent) -> Tangent:
        x, amount = s.args
        total = None if tx is None else delay(tx, amount)
        if self.kinds[id(amount)] == INT_KIND:
            t_amount = self._straight_through(amount) if self.smooth else None
        else:
            t_amount = self.tangent[id(amount)]
        if t_amount is not None:
            slope = apply("-", delay(x, apply("+", amount, const_int(1))), s)
            total = _sum(total, _scale(slope, t_amount))
        return total

    def _smooth_table_rule(self, s: Sig) -> Tangent:
        index = s.args[0]
        t_index = self._straight_through(index)
        if t_index is None:
            return None
        slope = apply("-", rdtable(s.attr, apply("+", index, const_int(1))), s)
        return _scale(slope, t_index)

    def _straight_through(self, s: Sig) -> Tangent:
        """The tangent of s with int casts (and int wrap-arounds) taken as the identity."""
        if id(s) in self.straight:
            return self.straight[id(s)]
        if not self.depends[id(s)]:
            result = None
        elif self.kinds[id(s)] != INT_KIND:
            result = self.tangent[id(s)]
        elif s.op in _STRAIGHT_THROUGH or s.op == "%" or (s.op == "&" and s.args[1].op == "const"):
            # a cast, or a wrap of an index into a table (x % n, x & (n-1))
            result = self._straight_through(s.args[0])
        elif s.op in ("+", "-", "*"):
            result = self._chain(s, [self._straight_through(a) for a in s.args])
        elif s.op == "select2":
            branches = [self._straight_through(x) for x in s.args[1:]]
            result = None if all(b is None for b in branches) else pselect(s.args[0], branches)
        else:
            result = None
        self.straight[id(s)] = result
        return result


def _or_zero(t: Tangent) -> Sig:
    return const_float(0.0) if t is None else t


class _Lane:
    """Lane k of a pack graph as float signals: the tangents for one parameter alone.
    Every op of a pack is lane-wise, so lane k of a result is the same op on lane k of
    its arguments; a lane a pack does not have is zero."""

    def __init__(self, k: int, label: str):
        self.k = k
        self.label = label
        self.value: Dict[int, Tangent] = {}
        self.groups: Dict[int, RecGroup] = {}
        self.group_of: Dict[int, RecGroup] = {}

    def run(self, order: Sequence[Sig], packs: Sequence[Tangent]) -> List[Tangent]:
        for s in order:
            self.value[id(s)] = self._lane(s)
        for gid, tg in self.groups.items():
            g = self.group_of[gid]
            tg.bodies = tuple(None if b is None else _or_zero(self.value.get(id(b)))
                              for b in g.bodies)
        return [None if p is None else self.value[id(p)] for p in packs]

    def _lane(self, s: Sig) -> Tangent:
        op = s.op
        if op == "recref":
            group, index = s.attr
            if group.lanes is None or self.k not in group.lanes[index].lanes:
                return None  # a primal recursion, or a lane this pack has not
            tg = self.groups.get(id(group))
            if tg is None:
                tg = RecGroup(len(group), f"{group.name}{self.label}")
                self.groups[id(group)] = tg
                self.group_of[id(group)] = group
            return recref(tg, index)
        if op in PACK_OPS:
            if self.k not in s.attr.lanes:
                return None
        args = [self.value.get(id(a)) for a in s.args]
        if op == "pseed":
            return const_float(1.0)
        if op == "pzero":
            return None
        if op == "pscale":
            coef, t = s.args[0], args[1]
            if t is not None and t.op == "const" and t.value == 1:
                return apply("float", coef) if coef.op != "const" else const_float(float(coef.value))
            return None if t is None else apply("*", coef, t)
        if op == "pscale0":
            coef, t = s.args[0], args[1]
            if t is None:
                return None
            return apply("select2", apply("==", t, const_float(0.0)), apply("*", coef, t),
                         const_float(0.0))
        if op == "padd":
            a, b = args
            return b if a is None else a if b is None else apply("+", a, b)
        if op == "pexpand":
            return args[0]
        if op in ("pselect2", "pselect3"):
            if all(t is None for t in args[1:]):
                return None
            return apply(op[1:], s.args[0], *(_or_zero(t) for t in args[1:]))
        if op == "delay":
            return None if args[0] is None else delay(args[0], s.args[1])
        if op == "rwtable":
            if args[1] is None:
                return None
            spec = TableSpec(s.attr.size, FLOAT_KIND, init=const_float(0.0))
            return rwtable(spec, s.args[0], args[1], s.args[2])
        return None  # a primal node (an argument of a pack op): not a tangent

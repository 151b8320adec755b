"""Forward-mode differentiation of a signal graph.

For every parameter p marked `[diff:1]` and every signal s, `tangent_of` builds the
signal ds/dp. Tangents are ordinary (float) signals, so they go through the same
scheduler and code generator as the primal. A zero tangent is `None` and is pruned
symbolically: most of a program does not depend on a given parameter.

The rule of each primitive lives with its definition (`primitives.py`, `foreign.py`) as
partial derivatives; the operations with structure of their own are here, each a linear
map of the argument tangents:
- select2/select3: the tangent of the selected branch (the selector is piecewise
  constant);
- rdtable: zero (its contents are fixed before the first sample and its index is an int);
- rwtable: a parallel table of the tangents of the written values, read at the same index;
- delay x@d: (dx/dp)@d. The amount is truncated to an int by `@`, so its own derivative
  is zero almost everywhere; fractional delays built from two `@` reads and
  interpolation weights (as `de.fdelay` does) get their exact derivative through the
  weights;
- recref(g, i): recref(g_p, i), where g_p is a tangent group whose bodies are the
  tangents of g's bodies. Its bodies read both g (primal state) and g_p (tangent state),
  so a recursion of k signals and m parameters runs k(1+m) recursive signals.
Any int-typed signal has a zero tangent (ints are piecewise constant).
"""
from __future__ import annotations

from typing import Dict, List, Optional, Sequence

from ..signals.analysis import collect, infer_kinds, param_dependence
from ..signals.nodes import (FLOAT_KIND, INT_KIND, ParamSpec, RecGroup, Sig, TableSpec,
                             const_float, delay, recref, rwtable)
from ..signals.primitives import PRIMITIVES, apply

Tangent = Optional[Sig]


def _scale(coef: Optional[Sig], t: Tangent) -> Tangent:
    if coef is None or t is None:
        return None
    if coef.op == "const":
        if coef.value == 0:
            return None
        if coef.value == 1:
            return t
    if t.op == "const" and t.value == 1:
        return apply("float", coef) if coef.op != "const" else const_float(float(coef.value))
    return apply("*", coef, t)


def _sum(a: Tangent, b: Tangent) -> Tangent:
    if a is None:
        return b
    if b is None:
        return a
    return apply("+", a, b)


def _or_zero(t: Tangent) -> Sig:
    return const_float(0.0) if t is None else t


def differentiate(outputs: Sequence[Sig], params: Sequence[ParamSpec]) -> List[List[Tangent]]:
    """tangents[k][o]: the derivative of outputs[o] with respect to params[k]."""
    order, _ = collect(outputs)
    kinds = infer_kinds(order)
    depends = param_dependence(order, params)
    return [_Differentiator(order, kinds, depends, k, p).run(outputs) for k, p in enumerate(params)]


class _Differentiator:
    def __init__(self, order, kinds, depends, index: int, param: ParamSpec):
        self.order = order
        self.kinds = kinds
        self.depends = depends
        self.bit = 1 << index
        self.param = param
        self.tangent: Dict[int, Tangent] = {}
        self.tangent_groups: Dict[int, RecGroup] = {}
        self.group_of: Dict[int, RecGroup] = {}

    def run(self, outputs: Sequence[Sig]) -> List[Tangent]:
        for s in self.order:
            self.tangent[id(s)] = self._rule(s)
        for gid, tg in self.tangent_groups.items():
            g = self.group_of[gid]
            tg.bodies = tuple(_or_zero(self.tangent.get(id(b))) if b is not None else None
                              for b in g.bodies)
        return [self.tangent[id(o)] for o in outputs]

    def _rule(self, s: Sig) -> Tangent:
        if not (self.depends[id(s)] & self.bit) or self.kinds[id(s)] == INT_KIND:
            return None
        op = s.op
        if op == "param":
            return const_float(1.0)
        if op == "recref":
            group, index = s.attr
            tg = self.tangent_groups.get(id(group))
            if tg is None:
                tg = RecGroup(len(group), f"{group.name}_d{self.param.label}")
                self.tangent_groups[id(group)] = tg
                self.group_of[id(group)] = group
            return recref(tg, index)
        ts = [self.tangent[id(a)] for a in s.args]
        if op == "delay":
            return None if ts[0] is None else delay(ts[0], s.args[1])
        if op == "rdtable":
            return None  # contents fixed at init time, index an int: piecewise constant
        if op == "rwtable":
            # a parallel table holds the tangents of the written values (zero at init)
            windex, _, rindex = s.args
            if ts[1] is None:
                return None
            spec = TableSpec(s.attr.size, FLOAT_KIND, init=const_float(0.0))
            return rwtable(spec, windex, ts[1], rindex)
        if op == "select2":
            if ts[1] is None and ts[2] is None:
                return None
            return apply("select2", s.args[0], _or_zero(ts[1]), _or_zero(ts[2]))
        if op == "select3":
            if all(t is None for t in ts[1:]):
                return None
            return apply("select3", s.args[0], *(_or_zero(t) for t in ts[1:]))
        prim = PRIMITIVES[op]
        if prim.partials is None or all(t is None for t in ts):
            return None
        coefs = prim.partials(list(s.args), s)
        total: Tangent = None
        for coef, t in zip(coefs, ts):
            total = _sum(total, _scale(coef, t))
        return total

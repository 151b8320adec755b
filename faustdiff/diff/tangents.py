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


def differentiate(outputs: Sequence[Sig], params: Sequence[ParamSpec],
                  smooth: bool = False) -> List[List[Tangent]]:
    """tangents[k][o]: the derivative of outputs[o] with respect to params[k]; `smooth`
    takes table indices and int delay amounts straight through their int casts."""
    order, _ = collect(outputs)
    kinds = infer_kinds(order)
    depends = param_dependence(order, params)
    return [_Differentiator(order, kinds, depends, k, p, smooth).run(outputs)
            for k, p in enumerate(params)]


# int-valued operations a straight-through estimate looks through
_STRAIGHT_THROUGH = {"int", "floor", "ceil", "rint", "round", "float"}


class _Differentiator:
    def __init__(self, order, kinds, depends, index: int, param: ParamSpec, smooth: bool = False):
        self.smooth = smooth
        self.straight: Dict[int, Tangent] = {}
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
        return self._chain(s, ts)

    def _chain(self, s: Sig, ts: Sequence[Tangent]) -> Tangent:
        """sum over the arguments of d s/d arg · arg tangent (the registry's partials)."""
        prim = PRIMITIVES[s.op]
        if prim.partials is None or all(t is None for t in ts):
            return None
        coefs = prim.partials(list(s.args), s)
        total: Tangent = None
        for coef, t in zip(coefs, ts):
            total = _sum(total, _scale(coef, t))
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
        if not (self.depends[id(s)] & self.bit):
            result = None
        elif self.kinds[id(s)] != INT_KIND:
            result = self.tangent[id(s)]
        elif s.op in _STRAIGHT_THROUGH or s.op == "%" or (s.op == "&" and s.args[1].op == "const"):
            # a cast, or a wrap of an index into a table (x % n, x & (n-1))
            result = self._straight_through(s.args[0])
        elif s.op in ("+", "-", "*"):
            result = self._chain(s, [self._straight_through(a) for a in s.args])
        elif s.op == "select2":
            a, b = (self._straight_through(x) for x in s.args[1:])
            result = None if a is None and b is None else apply(
                "select2", s.args[0], _or_zero(a), _or_zero(b))
        else:
            result = None
        self.straight[id(s)] = result
        return result

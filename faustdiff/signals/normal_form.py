"""The part of Faust's normal form that changes what a sample computes.

The real compiler normalizes every signal before it generates code: a product is a
coefficient times factors with exponents, a sum gathers its terms and pulls out a common
factor. Observed with libfaust (its C++ for a few programs):

- `_ / 3` is computed as `0.333… * x`, `_ / hslider(...)` as `(1/h) * x` with `1/h`
  once per call: a division by a value that is fixed during the call is a multiply;
- `_ * 0.5 * a * b` (sliders a, b) is `(0.5*b*a) * x`: the factors fixed during the call
  are multiplied once per call, not in every sample;
- `a*x + a*y` is `a * (x + y)`, and a biquad's output `b0*w + b1*w' + b2*w''` with
  `b0 = 1/d`, `b1 = 2/d`, `b2 = 1/d` (a lowpass) is `(1/d) * (w + 2*w' + w'')`.

This pass applies those three rewrites to the loop's arithmetic (float values computed
in every sample), after `control.lower_controls`, so the tangents are taken of the
rewritten program and profit too: the biquad's output tangent is `d(1/d)·s + (1/d)·ds`
with `ds = dw + 2·dw' + dw''`, three multiply-adds instead of six per parameter.

A common factor is pulled out only where it saves a multiply: an audio-rate factor
always; a factor fixed during the call only when at least two of its terms are then left
with a constant coefficient (factoring `1/d` out of `x - (a1/d)*w' - (a2/d)*w''` would
put one more multiply on the recursion and save nothing, as `a1/d` is computed once per
call anyway). Sums on a recursion's own feedback path are left as they are: a factor
pulled out there would lengthen the loop (`codegen/sums.py` orders their terms instead).

Results move by an ulp or so against the program as written, as Faust's own do; only
floats are rewritten (int arithmetic wraps, and its order matters).
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Dict, List, Optional, Sequence, Tuple

from .analysis import AUDIO, collect, infer_kinds, infer_rates, use_counts
from .nodes import FLOAT_KIND, INT_KIND, RecGroup, Sig, const_float, node, recref
from .primitives import PRIMITIVES, apply

_ARITHMETIC = frozenset({"+", "-", "*", "/"})


@dataclass
class _Term:
    """sign · coef · Π control factors^exponent · Π audio factors, one term of a sum.
    Factors are nodes of the original graph (rewritten when the term is built)."""

    coef: float
    control: List[Tuple[Sig, int]]
    audio: List[Sig]
    negative: bool


def normal_form(outputs: Sequence[Sig]) -> Tuple[Sig, ...]:
    """`outputs` with their loop arithmetic in Faust's normal form (see the module
    docstring); the same signals when they hold no arithmetic (else the graph is
    rebuilt, its recursions as new groups)."""
    order, groups = collect(outputs)
    if not any(s.op in _ARITHMETIC for s in order):
        return tuple(outputs)
    rewriter = _Rewriter(order, groups, outputs)
    return rewriter.run(outputs)


def _feedback_nodes(order: Sequence[Sig], groups: Sequence[RecGroup]) -> set:
    """The ids of the nodes on a recursion's own feedback path: they read that
    recursion's state (through delays too) and feed its next value."""
    bit = {id(g): 1 << k for k, g in enumerate(groups)}
    reads: Dict[int, int] = {}
    for s in order:
        if s.op == "recref":
            reads[id(s)] = bit.get(id(s.attr[0]), 0)
        else:
            mask = 0
            for a in s.args:
                mask |= reads.get(id(a), 0)
            reads[id(s)] = mask
    feeds: Dict[int, int] = {}
    for g in groups:
        for b in g.bodies:
            if b is not None:
                feeds[id(b)] = feeds.get(id(b), 0) | bit[id(g)]
    for s in reversed(order):
        mask = feeds.get(id(s), 0)
        if mask:
            for a in s.args:
                feeds[id(a)] = feeds.get(id(a), 0) | mask
    return {id(s) for s in order if reads[id(s)] & feeds.get(id(s), 0)}


class _Rewriter:
    def __init__(self, order, groups, outputs):
        self.order = order
        self.groups = groups
        self.rates = infer_rates(order)
        self.kinds = infer_kinds(order)
        bodies = [b for g in groups for b in g.bodies if b is not None]
        self.uses = use_counts(order, list(outputs) + bodies)
        self.on_loop = _feedback_nodes(order, groups)
        self.new_group = {id(g): RecGroup(len(g), g.name) for g in groups}
        self.new: Dict[int, Sig] = {}

    def run(self, outputs) -> Tuple[Sig, ...]:
        for s in self.order:
            self.new[id(s)] = self.rewrite(s)
        for g in self.groups:
            self.new_group[id(g)].bodies = tuple(
                None if b is None else self.new.get(id(b), b) for b in g.bodies)
        return tuple(self.new[id(o)] for o in outputs)

    # ------------------------------------------------------------------ facts
    def _loop_float(self, s: Sig) -> bool:
        """Whether s is float arithmetic computed in every sample."""
        return self.rates[id(s)] == AUDIO and self.kinds.get(id(s)) == FLOAT_KIND

    def _fixed(self, s: Sig) -> bool:
        """Whether s is fixed during a call (a constant or computed from sliders)."""
        return self.rates[id(s)] < AUDIO

    def _inner(self, s: Sig, ops) -> bool:
        """Whether s is part of the expression that reads it: one of `ops`, float, and
        read only there (or fixed during the call: then copying it costs nothing in the
        loop)."""
        return (s.op in ops and self.kinds.get(id(s)) == FLOAT_KIND
                and (self.uses.get(id(s)) == 1 or self._fixed(s)))

    # ------------------------------------------------------------------ the rewrite
    def rewrite(self, s: Sig) -> Sig:
        if s.op == "recref":
            group, index = s.attr
            return recref(self.new_group[id(group)], index)
        if not s.args:
            return s
        args = tuple(self.new[id(a)] for a in s.args)
        if s.op in _ARITHMETIC and self._loop_float(s):
            rewritten = self._arithmetic(s, args)
            if rewritten is not None:
                return rewritten
        if s.op in PRIMITIVES:
            return apply(s.op, *args)
        return node(s.op, args, s.attr)

    def _arithmetic(self, s: Sig, args: Tuple[Sig, ...]) -> Optional[Sig]:
        if s.op == "/":
            if self._fixed(s.args[1]):
                return apply("*", args[0], self._reciprocal(args[1]))
            return None
        if s.op == "*":
            return self._gathered_product(s)
        if id(s) in self.on_loop:
            return None
        return self._factored_sum(s)

    def _reciprocal(self, d: Sig) -> Sig:
        return apply("/", const_float(1.0), d)

    # -- products: the factors fixed during the call multiplied once per call
    def _factors(self, s: Sig, exponent: int, out: List[Tuple[Sig, int]], top: bool) -> None:
        """The factors of the product s (with their exponents), in the program's order:
        through products and through divisions by a value fixed during the call (so a
        factor with exponent -1 is always a fixed one)."""
        if top or self._inner(s, ("*", "/")):
            if s.op == "*":
                self._factors(s.args[0], exponent, out, False)
                self._factors(s.args[1], exponent, out, False)
                return
            if s.op == "/" and self._fixed(s.args[1]):
                self._factors(s.args[0], exponent, out, False)
                self._factors(s.args[1], -exponent, out, False)
                return
        out.append((s, exponent))

    def _gathered_product(self, s: Sig) -> Optional[Sig]:
        factors: List[Tuple[Sig, int]] = []
        self._factors(s, 1, factors, True)
        fixed = [f for f in factors if self._fixed(f[0])]
        varying = [f for f in factors if not self._fixed(f[0])]
        if len(fixed) < 2 or not varying:
            return None
        return apply("*", self._product(varying), self._product(fixed))

    def _product(self, factors: Sequence[Tuple[Sig, int]]) -> Sig:
        """Π factor^exponent (exponents ±1, at least one factor) of rewritten factors, as
        floats."""
        result = None
        for f, e in factors:
            value = self._as_float(f)
            if result is None:
                result = value if e > 0 else self._reciprocal(value)
            else:
                result = apply("*" if e > 0 else "/", result, value)
        return result

    def _as_float(self, f: Sig) -> Sig:
        value = self.new[id(f)]
        return apply("float", value) if self.kinds.get(id(f)) == INT_KIND else value

    # -- sums: a common factor pulled out where it saves a multiply
    def _terms(self, s: Sig, negative: bool, out: List[_Term], top: bool) -> None:
        if top or (s.op in ("+", "-") and self._inner(s, ("+", "-"))
                   and not self._fixed(s) and id(s) not in self.on_loop):
            self._terms(s.args[0], negative, out, False)
            self._terms(s.args[1], negative != (s.op == "-"), out, False)
            return
        factors: List[Tuple[Sig, int]] = []
        self._factors(s, 1, factors, False)
        coef, control, audio = 1.0, [], []
        for f, e in factors:
            if f.op == "const" and e > 0:
                coef *= float(f.value)
            elif self._fixed(f):
                control.append((f, e))
            else:
                audio.append(f)
        out.append(_Term(coef, control, audio, negative))

    def _factored_sum(self, s: Sig) -> Optional[Sig]:
        terms: List[_Term] = []
        self._terms(s, False, terms, True)
        # (a 0 the program subtracts from, `0 - a*x - a*y`, is no term)
        terms = [t for t in terms if t.control or t.audio or t.coef != 0] or terms
        return self._sum(terms)

    def _sum(self, terms: List[_Term]) -> Optional[Sig]:
        """The sum of `terms` with a common factor pulled out, or None when none saves a
        multiply."""
        choice = self._common_factor(terms)
        if choice is None:
            return None
        key, group = choice
        factor = (self._reciprocal(self._as_float(key[0])) if key[1] < 0
                  else self._as_float(key[0]))
        # -a·x - a·y is -(a·(x + y)): the sign of the group when all its terms share it
        flipped = all(t.negative for t in group)
        rest = [_without(t, key, flipped) for t in group]
        inner = self._sum(rest)
        if inner is None:
            inner = self._add([(self._term(t), t.negative) for t in rest])
        pulled = apply("*", factor, inner)
        parts = []
        placed = False
        for t in terms:
            if any(t is g for g in group):
                if not placed:
                    parts.append((pulled, flipped))
                    placed = True
            else:
                parts.append((self._term(t), t.negative))
        return self._add(parts)

    def _common_factor(self, terms: List[_Term]):
        """((factor, exponent), its terms) of the factor that saves most, or None."""
        seen: Dict[Tuple[int, int], Tuple[Tuple[Sig, int], List[_Term]]] = {}
        for t in terms:
            keys = {(id(f), e): (f, e) for f, e in t.control}
            keys.update({(id(f), 1): (f, 1) for f in t.audio})
            for k, key in keys.items():
                seen.setdefault(k, (key, []))[1].append(t)
        best = None
        for key, group in seen.values():
            if len(group) < 2:
                continue
            if self._fixed(key[0]):
                # worth it when it leaves at least two terms with a constant coefficient
                left = sum(t.control == [key] for t in group)
                if left < 2:
                    continue
                gain = left - 1
            else:
                gain = len(group) - 1
            if best is None or gain > best[0]:
                best = (gain, key, group)
        return None if best is None else best[1:]

    def _term(self, t: _Term) -> Sig:
        """The term's value without its sign: coefficient · audio factors."""
        audio = None
        for f in t.audio:
            value = self._as_float(f)
            audio = value if audio is None else apply("*", audio, value)
        coefficient = self._product(t.control) if t.control else None
        if t.coef != 1.0:
            c = const_float(t.coef)
            coefficient = c if coefficient is None else apply("*", c, coefficient)
        if audio is None:
            return coefficient if coefficient is not None else const_float(1.0)
        return audio if coefficient is None else apply("*", coefficient, audio)

    def _add(self, parts: List[Tuple[Sig, bool]]) -> Sig:
        """Σ ±part, in order, led by the first positive part (0 - … only when none is)."""
        lead = next((k for k, (_, negative) in enumerate(parts) if not negative), 0)
        parts = [parts[lead]] + parts[:lead] + parts[lead + 1:]
        result = None
        for value, negative in parts:
            if result is None:
                result = apply("-", const_float(0.0), value) if negative else value
            else:
                result = apply("-" if negative else "+", result, value)
        return result


def _without(t: _Term, key: Tuple[Sig, int], flipped: bool) -> _Term:
    """t divided by the factor `key` (and by -1 when `flipped`)."""
    f, e = key
    control = list(t.control)
    audio = list(t.audio)
    if (f, e) in control:
        control.remove((f, e))
    else:
        audio.remove(f)
    return _Term(t.coef, control, audio, t.negative != flipped)

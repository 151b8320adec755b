"""How a loop block adds: the order of a sum's terms, and which products fuse into it.

The planner writes a block's statements node by node; for additions it asks this module
first. Two rewrites, both decided from an estimate of when each value is ready in a
sample (cycles after the state of its feedback loop is read, `_Planner._ready_in`):

- **Sums on a feedback loop add their terms in the order they are ready.** As written,
  a biquad's `w = x - (a*w' + b*w'')` waits for the previous sample's `w'` through a
  multiply, an add and a subtract; added as `(x - b*w'') - a*w'` it waits for a multiply
  and a subtract, and the recursion runs a third faster. Only a sum of floats that feeds a
  recursion (or a one-sample delay) in the same sample, whose inner sums are read once
  and computed in the loop, is reordered, and only when its order changes: the terms
  that do not wait on the loop's state first (by their depth in the sample, program
  order among equals, led by one that is added rather than subtracted), then those that
  wait on it, latest last. Elsewhere the
  additions keep the program's order and rounding (the real compiler does not
  reassociate either).
- **A product read only by an addition is fused into it**: one multiply-add
  (`llvm.fmuladd`, a single instruction where the machine has FMA) instead of two
  operations, unless that makes the addition later: an FMA waits longer for its addend
  than an add does, which costs a cycle when the addend is the late one on a feedback
  loop. Tangent packs fuse the same way (a scaling read only by a pack addition), after
  `diff/chains.py` has ordered their sums. A product by 2 (a Butterworth section's
  `w + 2w' + w''`) is added as `x + x` instead: exact, so it rounds as the multiply-add
  does, and it takes the adders rather than the multiply ports, which a jvp loop keeps
  busy.

A fused multiply-add rounds once where the multiply and the add rounded twice: results
move by an ulp or so against an unfused evaluation, as with any compiler that contracts.
"""
from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Dict, List, Optional, Sequence, Set, Tuple, Union

from ..graphs import strongly_connected
from ..latency import FUSED_MULTIPLY_ADD, latency
from ..signals.analysis import AUDIO, use_counts
from ..signals.nodes import FLOAT_KIND, Sig

_EARLY = -math.inf  # ready before any state of this sample is read
_LEAVES = frozenset({"const", "fconst", "input", "param", "first", "recref", "delay",
                     "rdtable", "rwtable", "pseed", "pzero"})

Operand = Union[Sig, int]  # a node's value, or the result of an earlier step (its index)


@dataclass(frozen=True)
class Step:
    """One statement of a sum: `op` is '+', '-', 'fma' (a*b + c), 'fms' (a*b - c), 'fnma'
    (c - a*b) or 'pfma' (c·A + B, packs)."""

    op: str
    operands: Tuple[Operand, ...]


@dataclass
class Arithmetic:
    """`steps[id(node)]`: how the planner computes that sum (the last step's result is its
    value); `absorbed`: the nodes computed inside another node's steps, never alone."""

    steps: Dict[int, List[Step]]
    absorbed: Set[int]


@dataclass(frozen=True)
class _Term:
    node: Sig
    negative: bool


def plan_arithmetic(order: Sequence[Sig], roots: Sequence[Sig], kinds: Dict[int, object],
                    rates: Dict[int, int]) -> Arithmetic:
    """The sums of a block (`order`: its nodes, arguments first; `roots`: what it is
    computed for) that are reordered or fused, and how."""
    return _Planner(order, roots, kinds, rates).run()


# ---------------------------------------------------------------------- feedback loops
def _state_updates(order: Sequence[Sig], rates: Dict[int, int]) -> Dict[int, Sig]:
    """The values a sample reads that the previous sample computed, by id of the node that
    reads them: a recursion's state (its body) and x@1 of a value the loop computes. Longer
    delays are older, their loops have time to spare."""
    updates: Dict[int, Sig] = {}
    for s in order:
        if s.op == "recref":
            updates[id(s)] = s.attr[0].bodies[s.attr[1]]
        elif s.op == "delay":
            x, amount = s.args
            if (amount.op == "const" and amount.value == 1 and x.op not in _LEAVES
                    and rates.get(id(x)) == AUDIO):
                updates[id(s)] = x
    return updates


def _feedback_regions(order: Sequence[Sig], rates: Dict[int, int]
                      ) -> Tuple[Dict[int, int], Dict[int, int]]:
    """(region, loop of state): `region[id(n)]` is the feedback loop (a strongly connected
    set of states, numbered) whose state node n depends on and whose next state it feeds,
    in the same sample: the nodes that set how fast the loop runs. A node is on at most one
    loop's path (two loops that fed each other would be one)."""
    updates = _state_updates(order, rates)
    bit = {state: 1 << k for k, state in enumerate(updates)}
    depends = _reaching(order, bit)
    # state t's next value depends on the states in depends[update(t)]: the loops are the
    # strongly connected sets of that graph (with a cycle)
    states = list(updates)
    after = {t: [states[k] for k in _bits(depends.get(id(updates[t]), 0))] for t in states}
    loop_of = {}
    for number, component in enumerate(_cycles(states, after)):
        for state in component:
            loop_of[state] = number
    if not loop_of:
        return {}, {}
    on_loop = _reaching(order, {state: 1 << loop for state, loop in loop_of.items()})
    feeds: Dict[int, int] = {}
    for state, loop in loop_of.items():
        u = id(updates[state])
        feeds[u] = feeds.get(u, 0) | (1 << loop)
    region: Dict[int, int] = {}
    for s in reversed(order):
        mask = feeds.get(id(s), 0) & on_loop.get(id(s), 0)
        if mask and s.op not in _LEAVES:
            region[id(s)] = mask.bit_length() - 1
        if s.op not in _LEAVES and feeds.get(id(s)):
            for a in s.args:
                feeds[id(a)] = feeds.get(id(a), 0) | feeds[id(s)]
    return region, loop_of


def _bits(mask: int) -> List[int]:
    """The positions of the bits set in mask."""
    found = []
    while mask:
        low = mask & -mask
        found.append(low.bit_length() - 1)
        mask ^= low
    return found


def _reaching(order: Sequence[Sig], marks: Dict[int, int]) -> Dict[int, int]:
    """For each node, the union (a bit mask) of the marks of the leaves it reads in this
    sample (`marks`: by id of leaf)."""
    union: Dict[int, int] = {}
    for s in order:
        if s.op in _LEAVES:
            union[id(s)] = marks.get(id(s), 0)
        else:
            mask = 0
            for a in s.args:
                mask |= union[id(a)]
            union[id(s)] = mask
    return union


def _cycles(nodes: List[int], after: Dict[int, List[int]]) -> List[List[int]]:
    """The strongly connected components of a graph that contain a cycle."""
    return [component for component in strongly_connected(nodes, after)
            if len(component) > 1 or component[0] in after[component[0]]]


class _Planner:
    def __init__(self, order, roots, kinds, rates):
        self.order = order
        self.kinds = kinds
        self.rates = rates
        bodies = [s.attr[0].bodies[s.attr[1]] for s in order if s.op == "recref"]
        self.uses = use_counts(order, list(roots) + bodies)
        self.region, self.loop_of = _feedback_regions(order, rates)
        self.ready = self._readiness()
        self.depth = self._depths()
        self.steps: Dict[int, List[Step]] = {}
        self.absorbed: Set[int] = set()

    def _readiness(self) -> Dict[int, float]:
        """For the nodes on a feedback loop's path: cycles after that loop's state is read
        (what does not wait on it is _EARLY)."""
        ready: Dict[int, float] = {}
        for s in self.order:
            loop = self.region.get(id(s))
            if loop is None:
                continue
            latest = _EARLY
            for a in s.args:
                if self.region.get(id(a)) == loop:
                    latest = max(latest, ready[id(a)])
                elif self.loop_of.get(id(a)) == loop:
                    latest = max(latest, 0.0)
            ready[id(s)] = latest + latency(s.op)
        return ready

    def _depths(self) -> Dict[int, float]:
        """Cycles after the start of the sample, every state read at once: the order of a
        sum's terms that do not wait on its own loop (another loop's output, a long chain
        of filters, comes later than a delayed sample)."""
        depth: Dict[int, float] = {}
        for s in self.order:
            if s.op in _LEAVES or self.rates.get(id(s)) != AUDIO:
                depth[id(s)] = 0.0
            else:
                depth[id(s)] = max(depth[id(a)] for a in s.args) + latency(s.op)
        return depth

    def _ready_in(self, s: Sig, loop: Optional[int]) -> float:
        """When s is ready, counted from the state of feedback loop `loop`."""
        if loop is None:
            return _EARLY
        if self.region.get(id(s)) == loop:
            return self.ready[id(s)]
        return 0.0 if self.loop_of.get(id(s)) == loop else _EARLY

    # ------------------------------------------------------------------ decisions
    def run(self) -> Arithmetic:
        # readers before their arguments: a sum decides first whether its inner sums are
        # part of it
        for s in reversed(self.order):
            if id(s) in self.absorbed or self.rates.get(id(s)) != AUDIO:
                continue
            loop = self.region.get(id(s))
            if s.op in ("+", "-") and self.kinds.get(id(s)) == FLOAT_KIND:
                terms = self._reordered(s, loop) or [_Term(s.args[0], False),
                                                     _Term(s.args[1], s.op == "-")]
                steps = self._fold(terms, loop)
            elif s.op == "padd":
                steps = self._fused_pack_sum(s, loop)
            else:
                continue
            if steps is not None:
                self.steps[id(s)] = steps
        return Arithmetic(self.steps, self.absorbed)

    def _inner(self, s: Sig) -> bool:
        """Whether s is added as part of the sum that reads it."""
        return (s.op in ("+", "-") and self.uses.get(id(s)) == 1
                and self.kinds.get(id(s)) == FLOAT_KIND and self.rates.get(id(s)) == AUDIO)

    def _reordered(self, s: Sig, loop: Optional[int]) -> Optional[List[_Term]]:
        """The terms of a sum on a feedback loop in the order they are ready (its inner
        sums then absorbed), or None when it is not on one or its order stays."""
        if loop is None:
            return None
        terms: List[_Term] = []
        inner: List[Sig] = []
        stack = [(s, False)]
        while stack:  # left to right, through the inner sums
            t, negative = stack.pop()
            if t is s or self._inner(t):
                if t is not s:
                    inner.append(t)
                stack.append((t.args[1], negative != (t.op == "-")))
                stack.append((t.args[0], negative))
            else:
                terms.append(_Term(t, negative))
        if len(terms) < 3 or any(self.kinds.get(id(t.node)) != FLOAT_KIND for t in terms):
            return None
        when = {id(t): (self._ready_in(t.node, loop), self.depth[id(t.node)]) for t in terms}
        by_time = sorted(terms, key=lambda t: when[id(t)])  # (stable: ties keep their order)
        lead = next((t for t in by_time if not t.negative), terms[0])
        ordered = [lead] + [t for t in by_time if t is not lead]
        if ordered == terms:
            return None
        self.absorbed.update(id(t) for t in inner)
        return ordered

    def _free_product(self, s: Sig, op: str) -> bool:
        """Whether s is a product (`op`) that only the addition reading it reads, computed
        in the loop and not already part of another sum: it can fuse into that addition."""
        return (s.op == op and self.uses.get(id(s)) == 1 and id(s) not in self.absorbed
                and self.rates.get(id(s)) == AUDIO)

    def _fusable(self, s: Sig) -> bool:
        return self._free_product(s, "*") and self.kinds.get(id(s)) == FLOAT_KIND

    def _fusion(self, factors: Sequence[Sig], addend_ready: float, loop: Optional[int],
                multiply: float, add: float) -> Tuple[float, bool, float]:
        """(when the result is ready, whether to fuse, when the factors are ready) for a
        product of `factors` added to a value ready at `addend_ready`: fused unless that
        is later."""
        r = max(self._ready_in(a, loop) for a in factors)
        fused = max(r, addend_ready) + FUSED_MULTIPLY_ADD
        unfused = max(r + multiply, addend_ready) + add
        return (fused, True, r) if fused <= unfused else (unfused, False, r)

    @staticmethod
    def _doubling(factor_ready: float, addend_ready: float, add: float) -> Optional[float]:
        """When 2·x added as (x + x) + addend is ready, x ready at `factor_ready`, or None
        where the multiply-add would be ready sooner (on a feedback loop)."""
        doubled = max(factor_ready + add, addend_ready) + add
        return doubled if doubled <= max(factor_ready, addend_ready) + FUSED_MULTIPLY_ADD \
            else None

    def _joined(self, product: _Term, addend: Operand, addend_negative: bool,
                ready_addend: float, loop: Optional[int], first: int
                ) -> Optional[Tuple[float, List[Step]]]:
        """How a product term that only this sum reads joins the addend (`first`: the
        index its steps start at): (when the result is ready, the steps), or None to keep
        the product apart. A multiply-add, or for 2·x the additions x + x and then the
        addend: doubling is exact, so the result rounds once either way, and the two
        additions leave the multiply ports (what a throughput-bound loop waits for) to
        the other products. The multiply-add is kept where it is ready earlier (on a
        feedback loop)."""
        node = product.node
        if not self._fusable(node):
            return None
        ready, fuse, r = self._fusion(node.args, ready_addend, loop, latency("*"),
                                      latency("+"))
        twice = _doubled(node)
        if twice is not None:
            doubled_ready = self._doubling(r, ready_addend, latency("+"))
            if doubled_ready is not None:
                if product.negative:
                    last = Step("-", (addend, first))
                else:
                    last = Step("-" if addend_negative else "+", (first, addend))
                return doubled_ready, [Step("+", (twice, twice)), last]
        if not fuse:
            return None
        op = "fnma" if product.negative else ("fms" if addend_negative else "fma")
        return ready, [Step(op, node.args + (addend,))]

    def _fold(self, terms: List[_Term], loop: Optional[int]) -> Optional[List[Step]]:
        """The steps adding `terms` left to right, products joined where that is no later;
        None when that is the program's own two-operand addition, unjoined."""
        first, second = terms[0], terms[1]
        ready_first = self._ready_in(first.node, loop)
        ready_second = self._ready_in(second.node, loop)
        # the first addition: either operand may be the joined product (the later one
        # when both could), or neither
        options = [(max(ready_first, ready_second) + latency("+"), 2, None)]
        for product, addend, ready_addend, rank in ((second, first, ready_first, 0),
                                                    (first, second, ready_second, 1)):
            joined = self._joined(product, addend.node, addend.negative, ready_addend, loop, 0)
            if joined is not None:
                options.append((joined[0], rank, (product, joined[1])))
        ready, _, choice = min(options, key=lambda o: o[:2])
        if choice is None:
            if len(terms) == 2:
                return None  # the program's addition as it is
            steps = [Step("-" if second.negative else "+", (first.node, second.node))]
        else:
            product, steps = choice
            self.absorbed.add(id(product.node))
        for term in terms[2:]:
            acc = len(steps) - 1
            joined = self._joined(term, acc, False, ready, loop, len(steps))
            if joined is not None:
                self.absorbed.add(id(term.node))
                ready, more = joined
                steps += more
                continue
            steps.append(Step("-" if term.negative else "+", (acc, term.node)))
            ready = max(ready, self._ready_in(term.node, loop)) + latency("+")
        return steps

    def _fused_pack_sum(self, s: Sig, loop: Optional[int]) -> Optional[List[Step]]:
        """A pack addition with a scaling read only by it: one vector multiply-add (the
        later scaling when both are), or for a scaling by 2 two vector additions (as
        `_joined`). Packs of one lane too: excluded once, when fusing
        them made the 8th-order lowpass's jvp 6% slower, they now make it 3% faster
        (Karplus-Strong 2.5%; paired runs) since the normal form and the tangent-chain
        order changed the loop around them."""
        best = None
        for scaled, other in ((s.args[1], s.args[0]), (s.args[0], s.args[1])):
            if not self._free_product(scaled, "pscale"):
                continue
            ready_other = self._ready_in(other, loop)
            _, fuse, r = self._fusion(scaled.args, ready_other, loop,
                                      latency("pscale"), latency("padd"))
            twice = _doubled(scaled)
            if twice is not None and self._doubling(r, ready_other, latency("padd")) is not None:
                steps = [Step("padd", (twice, twice)), Step("padd", (0, other))]
            elif fuse:
                steps = [Step("pfma", scaled.args + (other,))]
            else:
                continue
            if best is None or r > best[0]:
                best = (r, scaled, steps)
        if best is None:
            return None
        _, scaled, steps = best
        self.absorbed.add(id(scaled))
        return steps


def _doubled(product: Sig) -> Optional[Sig]:
    """x where `product` is 2·x (a float product or a pack scaling), else None."""
    coefs = product.args if product.op == "*" else product.args[:1]
    for k, coef in enumerate(coefs):
        if coef.op == "const" and coef.value == 2:
            return product.args[1 - k]
    return None

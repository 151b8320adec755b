"""Shorter dependency chains in a tangent pack graph.

In a recursive filter the primal runs at the speed of its feedback loop: each sample
waits for the previous one through a few multiplies and adds. The tangents of that loop
are a loop of their own, and as the chain rule writes them they are longer than the
primal's: the tangent of `x - (a*y' + b*y'')` is `-1 * ((a*dy' + da*y') + (b*dy'' +
db*y''))`, where `dy'` (the tangent state) goes through a multiply, three adds and the
negation before it is the next `dy'`. Everything else in that sum is known earlier. The
tangents need not be computed in the primal's order (nothing compares them bit for bit
with another compiler), so before scheduling, this pass rewrites them:

- the terms of a sum (a tree of `padd` nodes nothing else reads, through the widenings
  of its parts) are added in the order they are ready: terms fed by the state of a
  feedback loop the sum is on, through the longest chain, last; the others as a
  balanced tree (by depth, then in the order of the source). A state read k samples
  before the last one counts as ready k turns of the loop earlier: it has that long to
  go round. The tangent above becomes `((-da*y' + -db*y'') + -b*dy'') + -a*dy'`: one
  multiply-add from `dy'` to the next state, two from `dy''` in two samples. Another
  loop's state (an earlier filter of a cascade) is early for this one: that loop runs
  ahead. A sum on no loop counts every tangent state;
- in a sum with no term fed by a tangent state, a per-sample scaling of a per-call pack
  of fewer lanes than the sum scales that pack widened once per call: no widening in
  the loop (Karplus-Strong's jvp x0.89). Not in a recursion's tangent sum: there the
  widened scalings fused into multiply-adds on Freeverb's allpass loops (jvp +15%);
- a negation (`pscale(-1, A)`) is pushed into the scalings a sum A adds, where it
  becomes the sign of a coefficient (computed once per call when that coefficient is),
  unless more than one of its terms would need a `-1·` of its own;
- a scaling of a scaling (`c·(d·A)`) is one scaling by `c·d`.

Only nodes read once are restructured, so no work is duplicated. The rewritten values
equal the chain rule's up to rounding (a few ulps of each sum).
"""
from __future__ import annotations

import heapq
import math
from typing import Callable, Dict, FrozenSet, List, Optional, Sequence, Tuple

from ..graphs import strongly_connected
from ..latency import FUSED_MULTIPLY_ADD, latency
from ..signals.analysis import AUDIO, collect, infer_rates, rate_rule, use_counts
from ..signals.nodes import FLOAT_KIND, RecGroup, Sig, const_float, delay, node, rwtable
from ..signals.packs import PACK_OPS, expand, pack_of, padd, pscale
from ..signals.primitives import apply, static_kind

_NEVER = -math.inf  # the latency of what no tangent state feeds in this sample
_RECENT_SAMPLES = 8  # a state this many samples old or fewer is still on its loop's path


def shorten_chains(packs: Sequence[Optional[Sig]]) -> List[Optional[Sig]]:
    """`packs` with their sums reassociated, negations and nested scalings folded; the
    tangent recursion groups they read get rewritten bodies."""
    roots = [p for p in packs if p is not None]
    if not roots:
        return list(packs)
    order, groups = collect(roots)
    pack_groups = [g for g in groups if g.lanes is not None]
    uses = use_counts(order, roots + [b for g in pack_groups for b in g.bodies if b is not None])
    rewriter = _Rewriter(uses, infer_rates(order), _inner_sums(order, uses),
                         _loops_fed(pack_groups))
    for s in order:
        rewriter.visit(s)
    for g in pack_groups:
        g.bodies = tuple(None if b is None else rewriter.get(b) for b in g.bodies)
    return [None if p is None else rewriter.get(p) for p in packs]


def _inner_sums(order: Sequence[Sig], uses: Dict[int, int]) -> set:
    """The ids of the sums whose one reader is another sum (directly, or through a
    widening read only by it): they are added as part of that sum."""
    inner = set()
    for s in order:
        if s.op != "padd":
            continue
        for a in s.args:
            if a.op == "pexpand" and uses.get(id(a)) == 1:
                a = a.args[0]
            if a.op == "padd" and uses.get(id(a)) == 1:
                inner.add(id(a))
    return inner


def _timed_inputs(s: Sig) -> Sequence[Sig]:
    """The operands of a pack node that it waits for within the sample (a delay, a
    table or a state read from memory waits for none)."""
    if s.op in ("pscale", "pscale0", "rwtable"):
        return s.args[1:2]
    if s.op in ("pselect2", "pselect3"):
        return s.args[1:]
    if s.op in ("padd", "pexpand"):
        return s.args
    return ()


_State = Tuple[RecGroup, int]  # a tangent recursion's state: its group, the body's index


def _state_read(s: Sig) -> Optional[_State]:
    """The tangent recursion state s reads (the last one, or one a few samples older)."""
    if s.op == "delay" and _older_tangent_state(s):
        s = s.args[0]
    if s.op == "recref" and s.attr[0].lanes is not None:
        return s.attr
    return None


def _loops_fed(pack_groups: Sequence[RecGroup]) -> Dict[int, FrozenSet[_State]]:
    """For each node (by id) that a tangent recursion's next state waits for in the same
    sample, when that next state is on a feedback loop: the states of those loops. Only
    these decide in which order a sum adds its terms: a cascade's second filter need not
    wait on the first one's state, whose loop runs ahead of it, and a state that comes
    back from a delay line (an allpass's) is on no loop of this sample at all."""
    fed: Dict[int, List[_State]] = {}
    reads: Dict[_State, List[_State]] = {}
    for g in pack_groups:
        for k, body in enumerate(g.bodies):
            if body is None:
                continue
            stack, seen, read = [body], set(), set()
            while stack:
                s = stack.pop()
                if id(s) in seen:
                    continue
                seen.add(id(s))
                fed.setdefault(id(s), []).append((g, k))
                state = _state_read(s)
                if state is not None:
                    read.add(state)
                else:
                    stack.extend(_timed_inputs(s))
            reads[(g, k)] = list(read)
    loop_of: Dict[_State, FrozenSet[_State]] = {}
    for component in strongly_connected(list(reads), reads):
        if len(component) > 1 or component[0] in reads[component[0]]:
            loop_of.update((state, frozenset(component)) for state in component)
    on_loops = {key: frozenset().union(*(loop_of.get(state, ()) for state in states))
                for key, states in fed.items()}
    return {key: states for key, states in on_loops.items() if states}


def _leaves(s: Sig, inner: Callable[[Sig], bool], alone: Callable[[Sig], bool]) -> List[Sig]:
    """The terms of the sum s, left to right, through its operands that are `inner`
    sums, and without the widenings read by this sum `alone` (the sum widens its terms
    itself, as few times as it can)."""
    out: List[Sig] = []
    stack = list(reversed(s.args))
    while stack:
        a = stack.pop()
        if a.op == "pexpand" and (alone(a) or (a.args[0].op == "padd" and inner(a.args[0]))):
            a = a.args[0]
        if a.op == "padd" and inner(a):
            stack.extend(reversed(a.args))
        else:
            out.append(a)
    return out


def _is_pack_node(s: Sig) -> bool:
    if s.op in PACK_OPS:
        return True
    if s.op == "recref":
        return s.attr[0].lanes is not None
    if s.op == "delay":
        return _is_pack_node(s.args[0])
    if s.op == "rwtable":
        return _is_pack_node(s.args[1])
    return False


def _older_tangent_state(s: Sig) -> bool:
    """Whether s is a tangent recursion's state delayed by a few samples (`y''` reads the
    state `y'` one sample later). Older ones (an allpass's delay line) are read from
    memory, ready when the sample starts, as any delay is."""
    x, amount = s.args
    return (x.op == "recref" and x.attr[0].lanes is not None and amount.op == "const"
            and isinstance(amount.value, int) and 0 < amount.value <= _RECENT_SAMPLES)


def _is_minus_one(c: Sig) -> bool:
    return c.op == "const" and c.value == -1


_Ready = Tuple[Dict[_State, float], float]


class _Rewriter:
    def __init__(self, uses: Dict[int, int], rates: Dict[int, int], inner_sums: set,
                 loops_fed: Dict[int, FrozenSet[_State]]):
        self.uses = uses
        self.rates = rates
        self.inner_sums = inner_sums
        self.loops_fed = loops_fed
        # the states whose loops order the sums being rebuilt (None: every one)
        self.loops: Optional[FrozenSet[_State]] = None
        self.new: Dict[int, Sig] = {}
        # facts about rewritten nodes, by id: read once (safe to restructure), latency
        self.single: Dict[int, bool] = {}
        self.ready: Dict[int, _Ready] = {}
        self.made: List[Sig] = []  # keeps the nodes of those ids alive

    def get(self, s: Sig) -> Sig:
        return self.new.get(id(s), s)

    # ------------------------------------------------------------------ bookkeeping
    def _made(self, s: Sig, single: bool) -> Sig:
        # a node made here may be one the graph reads elsewhere too (nodes are interned)
        self.single[id(s)] = self.single.get(id(s), True) and single
        if id(s) not in self.ready:
            self.ready[id(s)] = self._latency(s)
            self.made.append(s)
        return s

    def rate(self, s: Sig) -> int:
        """CONST, CONTROL or AUDIO, for the graph's nodes and those made here."""
        known = self.rates.get(id(s))
        if known is None:
            known = self.rates[id(s)] = rate_rule(s, self.rate)
            self.made.append(s)
        return known

    def _ready_of(self, s: Sig) -> _Ready:
        return self.ready.get(id(s), ({}, 0.0))

    def _latency(self, s: Sig) -> _Ready:
        """({tangent recursion state: cycles after it is read}, for the states s depends
        on in the sample; cycles after any leaf): the order in which a sum adds its
        terms."""
        state = _state_read(s)
        if state is not None:
            # the tangent state of k samples before the last one feeds the next state
            # over k + 1 samples, so its chain may be k turns of the loop longer (a
            # biquad's dy'', added first, went through four multiply-adds: two samples of
            # eight cycles each, where dy' needs four)
            older = s.args[1].value if s.op == "delay" else 0
            return ({state: -older * FUSED_MULTIPLY_ADD}, 0.0)
        inputs = _timed_inputs(s)
        if not inputs:  # pseed, pzero, a delay (read from memory), a primal node
            return ({}, 0.0)
        ready = [self._ready_of(a) for a in inputs]
        step = latency(s.op)
        states: Dict[_State, float] = {}
        for waits, _ in ready:
            for g, cycles in waits.items():
                states[g] = max(states.get(g, _NEVER), cycles + step)
        return (states, max(r[1] for r in ready) + step)

    def _wait(self, s: Sig) -> Tuple[float, float]:
        """When s is ready in the sums being rebuilt: (cycles after the latest state of
        the loops they are on, _NEVER when it waits on none; cycles after any leaf)."""
        states, leaves = self._ready_of(s)
        waits = [c for g, c in states.items() if self.loops is None or g in self.loops]
        return (max(waits) if waits else _NEVER, leaves)

    # ------------------------------------------------------------------ the walk
    def visit(self, s: Sig) -> None:
        if not _is_pack_node(s) or id(s) in self.inner_sums:
            return  # (an inner sum is rebuilt with the sum it belongs to)
        single = self.uses.get(id(s), 0) == 1
        self.loops = self.loops_fed.get(id(s))  # (on no loop: as a sum of outputs)
        if s.op == "padd":
            terms = [self.get(t) for t in _leaves(s, lambda a: id(a) in self.inner_sums,
                                                  lambda a: self.uses.get(id(a)) == 1)]
            lanes = pack_of(s)
            if not any(self._ready_of(t)[0] for t in terms):
                terms = [self._widened_once_per_call(t, lanes) for t in terms]
            result = expand(self._add_in_order(terms), lanes)
        else:
            args = tuple(self.get(a) for a in s.args)
            if s.op in ("pscale", "pscale0"):
                result = self._scale(args[0], args[1], s.op == "pscale0")
            elif s.op == "delay":
                result = delay(args[0], args[1])
            elif s.op == "rwtable":
                result = rwtable(s.attr, *args)
            else:
                result = node(s.op, args, s.attr)
        self.new[id(s)] = self._made(result, single)

    def _widened_once_per_call(self, t: Sig, lanes) -> Sig:
        """A per-sample scaling of a per-call pack with fewer lanes than the sum, as the
        scaling of that pack widened once per call: no widening in the loop. The lanes
        the pack did not have are then a product with 0, as every lane of a pack is
        (an inf or NaN scale makes them NaN, as in JAX's forward mode), not zeros added
        after it."""
        if (t.op == "pscale" and pack_of(t) != lanes and self.single.get(id(t))
                and self.rate(t.args[1]) < AUDIO):
            return self._made(pscale(t.args[0], expand(t.args[1], lanes)), True)
        return t

    def _add_in_order(self, terms: List[Sig]) -> Sig:
        """The sum of `terms`: the terms of the same lanes added together first, so that
        each such sum is widened once rather than each term (Freeverb's eight comb
        tangents: one widening instead of eight), all in the order they are ready. The
        terms fed by a tangent state stay apart, to come last."""
        groups: Dict[object, List[Sig]] = {}
        late: List[Sig] = []  # fed by a tangent state: added last, on their own
        for t in terms:
            if self._wait(t)[0] > _NEVER:
                late.append(t)
            else:
                groups.setdefault(pack_of(t), []).append(t)
        return self._huffman([self._huffman(group) for group in groups.values()] + late)

    def _huffman(self, terms: List[Sig]) -> Sig:
        """The sum of `terms` added in the order they are ready (Huffman on readiness)."""
        heap = [(self._wait(t), position, t) for position, t in enumerate(terms)]
        heapq.heapify(heap)
        while len(heap) > 1:
            _, pos_a, a = heapq.heappop(heap)
            _, pos_b, b = heapq.heappop(heap)
            total = self._made(padd(a, b), True)
            heapq.heappush(heap, (self._wait(total), min(pos_a, pos_b), total))
        return heap[0][2]

    def _scale(self, coef: Sig, a: Sig, strong_zero: bool) -> Sig:
        if _is_minus_one(coef) and not strong_zero:
            return self._negate(a)
        if not strong_zero and a.op == "pscale" and self.single.get(id(a)) and \
                self.rate(a) == AUDIO:
            # (an inner scaling computed once per call stays: fusing would move it into
            # the loop)
            return pscale(_product(coef, a.args[0]), a.args[1])
        return pscale(coef, a, strong_zero)

    def _takes_sign(self, a: Sig) -> bool:
        """Whether -a costs no operation of its own: a zero, or a scaling read only here."""
        while a.op == "pexpand" and self.single.get(id(a)):
            a = a.args[0]
        return a.op == "pzero" or (a.op in ("pscale", "pscale0") and bool(self.single.get(id(a))))

    def _negate(self, a: Sig) -> Sig:
        """-a, the sign pushed into the coefficients of a's scalings."""
        if a.op == "padd" and self.single.get(id(a)):
            single = lambda b: bool(self.single.get(id(b)))  # noqa: E731
            terms = _leaves(a, single, single)
            if sum(not self._takes_sign(t) for t in terms) <= 1:
                negated = self._add_in_order([self._negate(t) for t in terms])
                return self._made(expand(negated, pack_of(a)), True)
        elif self.single.get(id(a)):
            if a.op in ("pscale", "pscale0"):
                coef, b = a.args
                if self.rate(coef) == AUDIO and self.rate(b) < AUDIO:
                    # c·B with B computed once per call: the sign goes to B, out of the loop
                    return self._made(pscale(coef, self._negate(b), a.op == "pscale0"), True)
                return self._made(pscale(_negative(coef), b, a.op == "pscale0"), True)
            if a.op == "pexpand":
                return self._made(expand(self._negate(a.args[0]), a.attr), True)
        if a.op == "pzero":
            return a
        return self._made(pscale(const_float(-1.0), a), True)


def _negative(c: Sig) -> Sig:
    """-c as a float signal (exact: a sign flip)."""
    return apply("*", c, const_float(-1.0))


def _product(c: Sig, d: Sig) -> Sig:
    """c·d as a float signal: an int coefficient is converted first, as the kernel does
    when it scales a pack by it (an int product could wrap)."""
    if FLOAT_KIND not in (static_kind(c), static_kind(d)):
        c = apply("float", c)
    return apply("*", c, d)

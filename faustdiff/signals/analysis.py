"""Whole-graph analyses of a signal DAG: order, kinds (int/float), rates, intervals.

Recursion makes the graph cyclic through `recref`. Every analysis here treats a recref
as a leaf whose value comes from its group's body, and iterates to a fixed point over
the groups where the answer for a body feeds back into the recref.
"""
from __future__ import annotations

import math
from typing import Callable, Dict, Iterable, List, Sequence, Tuple

from .nodes import FLOAT_KIND, INT_KIND, RecGroup, Sig, leaf_kind
from .packs import PACK_OPS, is_pack
from .primitives import PRIMITIVES, UNBOUNDED, Interval, _iv_int

CONST, CONTROL, AUDIO = 0, 1, 2


def collect(roots: Iterable[Sig], follow_recursion: bool = True
            ) -> Tuple[List[Sig], List[RecGroup]]:
    """Every node needed to compute `roots`, arguments before users.

    A reached `recref(g, i)` makes body i of g needed too (it must be computed every
    sample to feed the next one). Groups are listed in the order they were reached.
    `follow_recursion=False` stops at recrefs: for questions asked while a recursion's
    bodies are still being built (its recrefs exist, its bodies not yet)."""
    order: List[Sig] = []
    seen = set()
    groups: List[RecGroup] = []
    group_seen = set()
    pending = list(roots)
    while pending:
        root = pending.pop()
        if id(root) in seen:
            continue
        # iterative post-order DFS
        stack = [(root, False)]
        while stack:
            s, expanded = stack.pop()
            if expanded:
                order.append(s)
                continue
            if id(s) in seen:
                continue
            seen.add(id(s))
            stack.append((s, True))
            for a in reversed(s.args):
                if id(a) not in seen:
                    stack.append((a, False))
            if s.op == "recref" and follow_recursion:
                group, index = s.attr
                if id(group) not in group_seen:
                    group_seen.add(id(group))
                    groups.append(group)
                pending.append(group.bodies[index])
    return order, groups


def collect_with_tables(roots: Iterable[Sig]) -> List[Sig]:
    """Every node of `collect(roots)`, then of the init signals of the tables they read
    (and of the tables those read): all a program computes, each node once."""
    every: List[Sig] = []
    seen = set()
    pending = list(roots)
    while pending:
        order, _ = collect(pending)
        pending = []
        for s in order:
            if id(s) in seen:
                continue
            seen.add(id(s))
            every.append(s)
            if s.op in ("rdtable", "rwtable") and s.attr.init is not None:
                pending.append(s.attr.init)
    return every


def use_counts(order: Sequence[Sig], readers: Iterable[Sig] = ()) -> Dict[int, int]:
    """How many times each node of `order` is read, by id: as an argument of a node of
    `order`, plus once for each of `readers` (outputs, recursion bodies) that is it."""
    uses: Dict[int, int] = {}
    for s in order:
        for a in s.args:
            uses[id(a)] = uses.get(id(a), 0) + 1
    for s in readers:
        uses[id(s)] = uses.get(id(s), 0) + 1
    return uses


def referenced_bodies(order: Sequence[Sig]) -> Dict[RecGroup, List[int]]:
    """For each group, the indices of its bodies read through a recref."""
    used: Dict[RecGroup, set] = {}
    for s in order:
        if s.op == "recref":
            used.setdefault(s.attr[0], set()).add(s.attr[1])
    return {g: sorted(ix) for g, ix in used.items()}


def _fixpoint(order: Sequence[Sig], leaf, combine, initial_group_value):
    """Generic forward analysis with recref feedback.

    `leaf(s, group_values)` gives the value of nodes without arguments (recref reads
    group_values[(group, index)]); `combine(s, arg_values)` the value of the others.
    Iterates until the bodies' values stop changing (the lattices used are finite)."""
    group_values: Dict[Tuple[int, int], object] = {}
    bodies = [(s.attr[0], s.attr[1]) for s in order if s.op == "recref"]
    for g, i in bodies:
        group_values[(id(g), i)] = initial_group_value
    for _ in range(len(bodies) + 2):
        values: Dict[int, object] = {}
        for s in order:
            if s.args:
                values[id(s)] = combine(s, [values[id(a)] for a in s.args])
            else:
                values[id(s)] = leaf(s, group_values)
        changed = False
        for g, i in bodies:
            new = values[id(g.bodies[i])]
            if new != group_values[(id(g), i)]:
                group_values[(id(g), i)] = new
                changed = True
        if not changed:
            return values
    raise RuntimeError("analysis did not reach a fixed point")  # lattice height bounds this


def infer_kinds(order: Sequence[Sig]) -> Dict[int, str]:
    """int or float for every node (by id), or the `Pack` of a tangent pack. A recursion
    starts as int and widens to float when a body turns out float, as Faust's type
    inference does."""

    def leaf(s, group_values):
        kind = leaf_kind(s)
        if kind is not None:
            return kind
        if s.op == "first":
            return INT_KIND
        if s.op in PACK_OPS:
            return s.attr
        if s.op == "recref" and s.attr[0].lanes is not None:
            return s.attr[0].lanes[s.attr[1]]  # a recursion of packs (a body may be y')
        if s.op == "recref":
            return group_values[(id(s.attr[0]), s.attr[1])]
        raise KeyError(s.op)

    def combine(s, kinds):
        if s.op == "delay":
            return kinds[0]
        if s.op == "rdtable":
            return s.attr.kind
        if s.op == "rwtable":
            if is_pack(s.attr.kind):
                return s.attr.kind
            return INT_KIND if (s.attr.kind, kinds[1]) == (INT_KIND, INT_KIND) else FLOAT_KIND
        if s.op in PACK_OPS:
            return s.attr
        return PRIMITIVES[s.op].result(tuple(kinds))

    return _fixpoint(order, leaf, combine, INT_KIND)


def infer_rates(order: Sequence[Sig]) -> Dict[int, int]:
    """CONST, CONTROL (depends on parameters only: computed once per call) or AUDIO."""
    rates: Dict[int, int] = {}
    rate_of = lambda a: rates[id(a)]  # noqa: E731 (arguments come first in `order`)
    for s in order:
        rates[id(s)] = rate_rule(s, rate_of)
    return rates


def rate_rule(s: Sig, rate_of: Callable[[Sig], int]) -> int:
    """The rate of s given `rate_of` its arguments."""
    if s.op in ("const", "fconst"):
        return CONST
    if s.op == "param":
        return CONTROL
    if s.op in ("input", "recref", "delay", "first", "rwtable"):
        return AUDIO
    if s.op == "rdtable":
        # the contents are fixed once the state is cleared: a read at a control-rate
        # index is itself control rate
        return max(rate_of(s.args[0]), CONTROL)
    return max((rate_of(a) for a in s.args), default=CONST)


def param_dependence(order: Sequence[Sig], params: Sequence) -> Dict[int, int]:
    """A bit mask per node: bit k set when the node depends on params[k]."""
    bit = {spec: 1 << k for k, spec in enumerate(params)}

    def leaf(s, group_values):
        if s.op == "param":
            return bit.get(s.attr, 0)
        if s.op == "recref":
            return group_values[(id(s.attr[0]), s.attr[1])]
        return 0

    def combine(s, masks):
        m = 0
        for x in masks:
            m |= x
        return m

    return _fixpoint(order, leaf, combine, 0)


INPUT_INTERVAL = (-1.0, 1.0)


def interval_of(s: Sig, memo: Dict[int, Interval] = None) -> Interval:
    """A conservative value interval (used to bound delay amounts and table indices).
    Recursions are unbounded unless an enclosing min/max/int clamps them."""
    if memo is None:
        memo = {}
    if id(s) in memo:
        return memo[id(s)]
    # a recref's interval is unbounded: what its body computes does not matter here
    order, _ = collect([s], follow_recursion=False)
    for n in order:
        if id(n) in memo:
            continue
        if n.op == "const":
            v = float(n.value)
            iv = (v, v) if not math.isnan(v) else UNBOUNDED
        elif n.op == "param":
            iv = (min(n.attr.min, n.attr.max, n.attr.init), max(n.attr.min, n.attr.max, n.attr.init))
        elif n.op == "first":
            iv = (0.0, 1.0)
        elif n.op == "fconst":
            iv = (float(n.attr[2]), float(n.attr[2]))
        elif n.op == "input":
            # Faust's interval analysis assumes audio inputs within [-1, 1] (`_ : lowest`
            # is -1): a delay or table index computed from an input is sized by it. A
            # larger input cannot overrun memory: kernels clamp every delay amount and
            # table index to the size they were given.
            iv = INPUT_INTERVAL
        elif n.op == "recref":
            iv = UNBOUNDED
        elif n.op == "delay":
            a = memo[id(n.args[0])]
            iv = (min(a[0], 0.0), max(a[1], 0.0))
        elif n.op == "rdtable" and n.attr.values is not None:
            iv = (min(n.attr.values), max(n.attr.values))
        elif n.op in ("rdtable", "rwtable"):
            iv = UNBOUNDED
        else:
            prim = PRIMITIVES[n.op]
            args = [memo[id(a)] for a in n.args]
            iv = prim.interval(*args) if prim.interval else UNBOUNDED
            if any(math.isnan(x) for x in iv):
                iv = UNBOUNDED
        memo[id(n)] = iv
    return memo[id(s)]


def kind_of(s: Sig) -> str:
    """The kind of one signal (a detached graph such as a table's init signal)."""
    order, _ = collect([s])
    return infer_kinds(order)[id(s)]


def ring_size(max_delay: int) -> int:
    """The size of a ring buffer for delays of up to `max_delay` samples: the power of
    two above it (at least 2), as the real compiler sizes its delay lines."""
    return 1 << max(1, max_delay.bit_length())


def delay_bound(amount: Sig) -> Interval:
    """The integer interval of a delay amount (truncated to int like Faust's `@`)."""
    return _iv_int(interval_of(amount))

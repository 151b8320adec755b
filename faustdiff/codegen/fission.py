"""Loop fission: the sample loop as a sequence of stages over blocks of samples.

A compressor's sample is one long chain: a recursion (the level detector), a log10,
arithmetic, another recursion (gain smoothing), a pow. Every step waits for the one
before, and the processor's window holds only two or three samples of it, so the
calls, which could run side by side for successive samples, run nearly one after the
other. Run over a block of samples, stage by stage, each stage's samples are
independent of each other except through its own recursion, and the calls of a stage
without one overlap freely (the compressor in float64: primal 0.704 -> 0.598
ms per second of audio, jvp 1.106 -> 0.955). Faust's `-vec` mode splits its loops for the
same reason.

Stages are found on the main block's statements:
- statements that must run in the same stage: a recursion's readers and the statement
  computing its next value, a delay line's writer and readers (a shift register's or a
  ring buffer's: a later stage would read entries written ahead of it), a written
  table's writers and readers; together with whatever lies on a path between them
  (strongly connected components of the dependence graph);
- each group is *stateful* (it holds one of those), *costly* (a transcendental function
  and no state), *packed* (cheap, but on tangent packs) or *cheap*; groups are taken in
  dependence order, cheap ones joining the current stage, packed ones joining a
  stateful stage, and a stage changes between stateful and costly only when nothing of
  its own kind is ready.
- a stateful stage is then cut where `stage_cost.py`'s model of the core finds several
  loops faster than one (before a component with state, so a recursion stays whole): a
  loop whose samples are long paths of many instructions has few samples in flight,
  cut each loop has more (the FM pair's jvp: 0.378 -> 0.262 ms per second of audio).
A costly stage is plain scalar arithmetic on independent samples, which LLVM vectorizes:
exp and log are straight-line code (`exp_log.py`), and a pack, an LLVM vector already,
would stop the vectorizer, hence packed groups stay out (the compressor's jvp: 1.35 ->
0.53 ms per second of audio). The loop is split by kind only when there is both a
costly and a stateful or packed stage. A value one stage computes and a later one uses
goes through the state array, one entry per sample of a block (scratch: nothing in it
survives a call). `FAUSTDIFF_FISSION_BLOCK` sets the samples per block (64: a stage's scratch stays
in the L1 cache; 0: never split).
"""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Dict, List, Optional, Sequence, Tuple

from ..graphs import strongly_connected
from ..latency import LIBRARY_CALLS
from ..signals.packs import is_pack
from .plan import (Assign, DelayLine, DelayRead, DelayWrite, LoopBlock, ScalarState, TableRead,
                   TableWrite, Value, defines, reads, storage, width)
from .stage_cost import CUT, LoopModel, recurrence_cycles


# transcendental functions: calls of the C math library, or exp_log.py's straight-line
# code, which a stage of its own vectorizes (not sqrt: an instruction)
COSTLY_OPS = (LIBRARY_CALLS - {"sqrt"}) | {"pow_base"}

STATEFUL, COSTLY, PACKED, CHEAP = "stateful", "costly", "packed", "cheap"


@dataclass
class Stage:
    """Statements run for every sample of a block, then the next stage's."""

    statements: List[object] = field(default_factory=list)
    rec_updates: List[Tuple[ScalarState, Value]] = field(default_factory=list)
    delay_lines: List[DelayLine] = field(default_factory=list)  # shift registers it advances
    loads: List[Tuple[Value, int]] = field(default_factory=list)   # (value, scratch slot)
    stores: List[Tuple[Value, int]] = field(default_factory=list)
    # state scalars of an earlier stage it loads under their own names (an output that is
    # `rec'`): after its loop they must hold their block-end values again
    restored: List[Value] = field(default_factory=list)
    names: set = field(default_factory=set)  # every value it has: computed, loaded, its state


def _on_packs(stmt) -> bool:
    """Whether a statement computes or reads a tangent pack."""
    target = defines(stmt)
    return any(is_pack(v.kind) for v in reads(stmt) + ([target] if target is not None else []))


class _Union:
    def __init__(self):
        self.parent: Dict[object, object] = {}

    def find(self, a):
        self.parent.setdefault(a, a)
        while self.parent[a] != a:
            self.parent[a] = self.parent[self.parent[a]]
            a = self.parent[a]
        return a

    def join(self, a, b):
        self.parent[self.find(a)] = self.find(b)


def _cut_for_the_window(comps: List[int], kind: Dict[int, str], members: Dict[int, List[int]],
                        statements: List[object], recursions_of: Dict[int, list]
                        ) -> List[List[int]]:
    """A stage's components (in dependence order) as one or more stages, cut where the
    model of `stage_cost.py` finds the loops faster than one: only before a component
    with state, so each piece holds whole recursions."""
    segments: List[List[int]] = []
    holds_state = False  # whether the last segment has a component with state yet
    for c in comps:
        if not segments or (holds_state and kind[c] == STATEFUL):
            segments.append([])
            holds_state = False
        segments[-1].append(c)
        holds_state = holds_state or kind[c] == STATEFUL
    if len(segments) < 2:
        return [comps]
    stmts = [sorted(k for c in seg for k in members[c]) for seg in segments]
    defined = [{defines(statements[k]).name for k in ks if defines(statements[k]) is not None}
               for ks in stmts]
    used = [{v.name for k in ks for v in reads(statements[k])}
            | {value.name for c in seg for _, value in recursions_of.get(c, ())}
            for ks, seg in zip(stmts, segments)]
    recurrence = [max((recurrence_cycles([statements[k] for k in members[c]], recursions_of[c])
                       for c in seg if c in recursions_of), default=0.0)
                  for seg in segments]

    m = len(segments)
    defined_before = [set()]  # defined by segments 0..i-1
    for names in defined:
        defined_before.append(defined_before[-1] | names)
    used_after = [set()]  # used by segments j.. (built from the end)
    for names in reversed(used):
        used_after.append(used_after[-1] | names)
    used_after.reverse()

    # best[j]: the fastest way to run segments 0..j-1; segments i..j-1 as one loop are
    # modelled by extending i's loop one segment at a time (segments are in dependence
    # order, so their statements are too)
    best = [0.0] + [float("inf")] * m
    cut_at = [0] * (m + 1)
    for i in range(m):
        loop = LoopModel()
        run_used: set = set()
        run_defined: set = set()
        run_recurrence = 0.0
        for j in range(i + 1, m + 1):
            loop.add(statements[k] for k in stmts[j - 1])
            run_used |= used[j - 1]
            run_defined |= defined[j - 1]
            run_recurrence = max(run_recurrence, recurrence[j - 1])
            crossings = len(run_used & defined_before[i]) + len(run_defined & used_after[j])
            total = best[i] + loop.cycles(run_recurrence, crossings) + (CUT if i else 0.0)
            if total < best[j] - 1e-9:
                best[j], cut_at[j] = total, i
    pieces: List[List[int]] = []
    j = m
    while j > 0:
        i = cut_at[j]
        pieces.append([c for seg in segments[i:j] for c in seg])
        j = i
    return pieces[::-1]


def split_stages(b: LoopBlock, sinks: Sequence[Value], block: int,
                 take_slots) -> Optional[List[Stage]]:
    """The stages of block `b` over blocks of `block` samples, or None where one loop is
    as good. `sinks` are the values the block's per-sample lines store (outputs,
    tangents: in the last stage); `take_slots(kind, size)` allocates state slots for the
    values that cross from one stage to another."""
    statements = list(b.loop_start) + list(b.loop)
    if not b.rec_states and not any(isinstance(s, Assign) and s.op in COSTLY_OPS
                                    for s in statements):
        return None
    where: Dict[str, int] = {}  # value name -> defining statement
    for k, stmt in enumerate(statements):
        target = defines(stmt)
        if target is not None:
            where[target.name] = k

    # what must stay together; a key of the union is a statement index or a state key
    union = _Union()
    owner: Dict[str, object] = {}  # state local name -> its state key
    for st in b.rec_states:
        owner[st.local.name] = ("rec", st.local.name)
    for line in b.delay_lines:
        for st in line.shift_register:
            owner[st.local.name] = ("line", id(line))

    written_tables = {id(s.table) for s in statements if isinstance(s, TableWrite)}
    for k, stmt in enumerate(statements):
        union.find(k)
        for v in reads(stmt):
            if v.name in owner:
                union.join(k, owner[v.name])
        if isinstance(stmt, (DelayRead, DelayWrite)):
            union.join(k, ("line", id(stmt.line)))
        elif isinstance(stmt, (TableRead, TableWrite)) and id(stmt.table) in written_tables:
            union.join(k, ("table", id(stmt.table)))
    # a state's next value: computed by a statement (a dependence, which may cross
    # stages), or another state's value (the two then advance in the same stage)
    next_values = [(("rec", st.local.name), value) for st, value in b.rec_updates]
    next_values += [(("line", id(line)), line.source) for line in b.delay_lines
                    if line.shift_register]
    for key, value in next_values:
        union.find(key)
        if value.name in owner:
            union.join(key, owner[value.name])

    # groups, their dependences, and the components of that graph
    group_of = {k: union.find(k) for k in range(len(statements))}
    edges: Dict[object, set] = {}

    def depend(d: Optional[int], g):
        if d is not None and group_of[d] != g:
            edges.setdefault(group_of[d], set()).add(g)

    for k, stmt in enumerate(statements):
        for v in reads(stmt):
            depend(where.get(v.name), group_of[k])
    for key, value in next_values:
        depend(where.get(value.name), union.find(key))
    groups = sorted({union.find(key) for key in list(union.parent)}, key=str)
    successors = {g: sorted(targets, key=str) for g, targets in edges.items()}
    comp = {g: c for c, members_of in enumerate(strongly_connected(groups, successors))
            for g in members_of}
    members: Dict[int, List[int]] = {comp[g]: [] for g in groups}  # statements
    for k in range(len(statements)):
        members[comp[group_of[k]]].append(k)
    stateful = {comp[union.find(key)] for key in list(union.parent) if not isinstance(key, int)}
    kind: Dict[int, str] = {}
    for c, ks in members.items():
        if c in stateful:
            kind[c] = STATEFUL
        elif any(isinstance(statements[k], Assign) and statements[k].op in COSTLY_OPS
                 for k in ks):
            kind[c] = COSTLY
        elif any(_on_packs(statements[k]) for k in ks):
            kind[c] = PACKED
        else:
            kind[c] = CHEAP
    by_cost = COSTLY in kind.values() and bool({STATEFUL, PACKED} & set(kind.values()))
    if not by_cost and len(stateful) < 2:
        return None

    # components in dependence order, grouped into stages
    after: Dict[int, set] = {c: set() for c in members}
    waiting: Dict[int, int] = {c: 0 for c in members}
    for g, targets in edges.items():
        for h in targets:
            a, z = comp[g], comp[h]
            if a != z and z not in after[a]:
                after[a].add(z)
                waiting[z] += 1
    ready = sorted(c for c in members if waiting[c] == 0)
    order: List[List[int]] = []
    current = None

    def joins(c) -> bool:  # component c may join the current stage
        return kind[c] == current or (kind[c] == PACKED and current == STATEFUL)

    while ready:
        pick = next((c for c in ready if kind[c] == CHEAP), None)
        if pick is None:
            pick = next((c for c in ready if joins(c)), None)
        if pick is None:
            pick = ready[0]
            current = STATEFUL if kind[pick] == PACKED else kind[pick]
            order.append([])
        elif not order:
            order.append([])
        ready.remove(pick)
        order[-1].append(pick)
        for z in sorted(after[pick]):
            waiting[z] -= 1
            if waiting[z] == 0:
                ready.append(z)
        ready.sort()
    # what was cheap and ready before the first stage began joins that stage
    if len(order) > 1 and all(kind[c] == CHEAP for c in order[0]):
        order[1] = order[0] + order[1]
        del order[0]
    # each state and the value it takes next sample (a shift register's first entry: the
    # line's source), by component
    recursions_of: Dict[int, list] = {}
    for st, value in b.rec_updates:
        recursions_of.setdefault(comp[union.find(("rec", st.local.name))], []).append((st, value))
    for line in b.delay_lines:
        if line.shift_register:
            recursions_of.setdefault(comp[union.find(("line", id(line)))], []).append(
                (line.shift_register[0], line.source))
    order = [part for comps in order
             for part in _cut_for_the_window(comps, kind, members, statements, recursions_of)]
    if len(order) < 2:
        return None

    stages = [Stage() for _ in order]
    stage_of_comp = {c: i for i, comps in enumerate(order) for c in comps}
    stage_of_stmt: Dict[int, int] = {}
    for i, comps in enumerate(order):
        ks = sorted(k for c in comps for k in members[c])
        stages[i].statements = [statements[k] for k in ks]
        for k in ks:
            stage_of_stmt[k] = i

    def state_stage(key) -> int:
        return stage_of_comp[comp[union.find(key)]]

    for st, value in b.rec_updates:
        stages[state_stage(("rec", st.local.name))].rec_updates.append((st, value))
    for line in b.delay_lines:
        if line.shift_register:
            stages[state_stage(("line", id(line)))].delay_lines.append(line)
    for i, stage in enumerate(stages):
        for stmt in stage.statements:
            if defines(stmt) is not None:
                stage.names.add(defines(stmt).name)
        stage.names.update(st.local.name for st, _ in stage.rec_updates)
        stage.names.update(st.local.name for line in stage.delay_lines
                           for st in line.shift_register)

    # values one stage computes and a later one uses go through scratch slots
    scratch: Dict[str, int] = {}
    defined_in = {name: stage_of_stmt[k] for name, k in where.items()}
    # a state scalar is a value of its own stage's samples too (an output that is a
    # recursion's state, `rec'`, written by the last stage after that stage advanced it)
    defined_in.update((name, state_stage(key)) for name, key in owner.items())

    def need(i: int, value: Optional[Value]):
        if value is None or value.name in stages[i].names:
            return
        d = defined_in.get(value.name)
        if d is None:
            return  # constant or control rate: the same in every stage
        if d > i:
            raise AssertionError("fission: a stage uses a value of a later stage")
        slot = scratch.get(value.name)
        if slot is None:
            slot = scratch[value.name] = take_slots(storage(value.kind),
                                                    block * width(value.kind))
            stages[d].stores.append((value, slot))
        stages[i].loads.append((value, slot))
        stages[i].names.add(value.name)
        if value.name in owner:
            stages[i].restored.append(value)

    for i, stage in enumerate(stages):
        for stmt in stage.statements:
            for v in reads(stmt):
                need(i, v)
        for _, value in stage.rec_updates:
            need(i, value)
        for line in stage.delay_lines:
            need(i, line.source)
    last = len(stages) - 1
    for value in sinks:
        need(last, value)
    return stages

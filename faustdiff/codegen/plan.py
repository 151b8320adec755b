"""Scheduling: signal graph → kernel plan.

The plan is a small IR the renderer turns into source text. A kernel has one main
`LoopBlock` (the sample loop) and, before it, one block per table whose contents are
the first samples of an init signal (run once after the state is cleared, from its own
cleared state). Each block orders its nodes (arguments first), hoists constants and
control-rate nodes (those that depend only on parameters) out of its loop, and lays out
its state:
- a recursive body read through `recref` is a scalar carried from one sample to the
  next;
- a signal delayed only by small constant amounts is a shift register of scalars;
- any other delayed signal is a ring buffer of power-of-two size in the flat state
  array, indexed by the block's sample counter and a mask.
Sums are written as `codegen/sums.py` plans them: on a feedback loop their terms are
added in the order they are ready, and products read once fuse into multiply-adds.
State lives in two flat arrays (floats, ints): int slot 0 is the main sample counter,
int slot 1 says whether the tables have been filled. A tangent pack (`signals/packs.py`)
is a value of several float lanes: its state, delay-line samples and table entries
take one float slot per lane, side by side. The main loop may then run as stages over
blocks of samples (`codegen/fission.py`).
"""
from __future__ import annotations

import struct
from dataclasses import dataclass, field
from typing import Dict, List, Optional, Sequence, Tuple

from ..errors import FaustResourceError
from ..signals.analysis import AUDIO, collect, delay_bound, infer_kinds, infer_rates, ring_size
from ..signals.nodes import FLOAT_KIND, INT_KIND, ParamSpec, Sig, TableSpec, format_sig
from ..signals.packs import is_pack
from ..limits import limit, max_delay_samples
from .sums import Step, plan_arithmetic

SHIFT_REGISTER_MAX = 4  # constant delays up to this many samples use scalars
COUNTER_SLOT = 0
TABLES_READY_SLOT = 1


def storage(kind) -> str:
    """The state array a value of this kind lives in: packs and floats in the float one."""
    return INT_KIND if kind == INT_KIND else FLOAT_KIND


def width(kind) -> int:
    """State slots per value: one, or one per lane of a pack."""
    return kind.width if is_pack(kind) else 1


@dataclass
class Value:
    """A named scalar (or tangent pack) in the generated code."""

    name: str
    kind: object  # INT_KIND, FLOAT_KIND or a Pack


@dataclass
class Assign:
    target: Value
    op: str  # a primitive or pack op name, or 'input', 'param', 'first'
    operands: Tuple[Value, ...] = ()
    attr: object = None  # channel / parameter index


@dataclass
class ScalarState:
    """A loop-carried scalar, loaded from and stored to the state arrays."""

    local: Value
    slot: int


@dataclass
class DelayLine:
    """A delayed signal's past. Ring buffers of signals read at the same amounts (a signal
    and its tangent pack) are interleaved: sample k of a line is at offset + k*stride,
    where `offset` already includes the lines before it, so one cache line serves them
    all."""

    kind: object
    max_delay: int
    all_constant: bool = True
    shift_register: List[ScalarState] = field(default_factory=list)  # [x@1, x@2, ...]
    offset: int = 0
    mask: int = 0
    stride: int = 1
    source: Optional[Value] = None
    amounts: set = field(default_factory=set)


@dataclass
class Table:
    """Storage of a table: `size` entries (of `width(kind)` slots each) at `offset` of the
    state array of its kind."""

    kind: object
    size: int
    offset: int
    spec: TableSpec


@dataclass
class DelayRead:
    target: Value
    line: DelayLine
    amount: Optional[Value]  # None: the constant delay `const_amount`
    const_amount: int = 0


@dataclass
class DelayWrite:
    line: DelayLine
    value: Value


@dataclass
class TableRead:
    target: Value
    table: Table
    index: Value


@dataclass
class TableWrite:
    table: Table
    index: Value
    value: Value


def defines(stmt) -> Optional[Value]:
    """The value a loop statement computes (None for a write)."""
    return getattr(stmt, "target", None)


def reads(stmt) -> List[Value]:
    """The values a loop statement reads (a shift register's entry: the one before it)."""
    if isinstance(stmt, Assign):
        return list(stmt.operands)
    if isinstance(stmt, DelayRead):
        line = stmt.line
        used = [] if stmt.amount is None else [stmt.amount]
        if line.shift_register:
            used.append(line.source if stmt.const_amount == 0
                        else line.shift_register[stmt.const_amount - 1].local)
        return used
    if isinstance(stmt, DelayWrite):
        return [stmt.value]
    if isinstance(stmt, TableRead):
        return [stmt.index]
    if isinstance(stmt, TableWrite):
        return [stmt.index, stmt.value]
    return []


@dataclass
class LoopBlock:
    counter: str  # name of the sample counter variable
    constants: List[Tuple[Value, object]] = field(default_factory=list)
    control: List[object] = field(default_factory=list)
    loop_start: List[object] = field(default_factory=list)
    loop: List[object] = field(default_factory=list)
    rec_states: List[ScalarState] = field(default_factory=list)
    rec_updates: List[Tuple[ScalarState, Value]] = field(default_factory=list)
    delay_lines: List[DelayLine] = field(default_factory=list)
    values: Dict[int, Value] = field(default_factory=dict)
    # the loop as stages over blocks of `stage_block` samples (codegen/fission.py)
    stages: Optional[list] = None
    stage_block: int = 0


@dataclass
class TableInit:
    """Fill `table` with the first `table.size` samples of `value`, computed by `block`."""

    table: Table
    block: LoopBlock
    value: Value


@dataclass
class KernelPlan:
    table_inits: List[TableInit]
    constant_tables: List[Table]  # filled by the runtime when the state is cleared
    main: LoopBlock
    outputs: List[Tuple[int, Value]]
    tangents: List[Tuple[int, int, Value, int]]  # parameter, output, pack, lane position
    float_state_size: int
    int_state_size: int


class _Slots:
    """Allocates slots of the float and int state arrays."""

    def __init__(self):
        self.sizes = {FLOAT_KIND: 0, "int": 2}  # int slots 0, 1: counter, tables-ready flag
        self.rings = 0

    def take(self, kind: str, size: int = 1) -> int:
        start = self.sizes[kind]
        self.sizes[kind] += size
        return start

    # Ring buffers have power-of-two sizes and move in step (all written at sample t), so
    # packed back to back their write positions sit a multiple of 4 KiB apart and fall into
    # the same set of the L1 cache: a dozen delay lines then evict each other every sample
    # (stereo Freeverb's derivatives ran 2.4x slower than two mono ones). Each new ring
    # starts a different number of cache lines into a 4 KiB page instead.
    STAGGER_PERIOD = 1024       # slots: 8 KiB of float64, 4 KiB of float32
    STAGGER_STEP = 144          # 18 (float64) or 9 (float32) cache lines of 64 bytes

    def take_staggered(self, kind: str, size: int) -> int:
        self.rings += 1
        want = (self.rings * self.STAGGER_STEP) % self.STAGGER_PERIOD
        self.take(kind, (want - self.sizes[kind]) % self.STAGGER_PERIOD)
        return self.take(kind, size)


class _Planner:
    def __init__(self, param_index: Dict[ParamSpec, int]):
        self.param_index = param_index
        self.slots = _Slots()
        # rdtable: by contents (_rdtable_key: os.osci reads its sine table twice per
        # sample, and two oscillators are four reads of one table); rwtable: by node
        self.tables: Dict[object, Table] = {}
        self.table_inits: List[TableInit] = []
        self.constant_tables: List[Table] = []
        self.count = 0

    def name(self, prefix: str, kind: str) -> Value:
        self.count += 1
        return Value(f"{prefix}{self.count}", kind)

    # ---------------------------------------------------------------- tables
    def table_for(self, s: Sig, kind: str) -> Table:
        key = _rdtable_key(s.attr, kind) if s.op == "rdtable" else id(s)
        table = self.tables.get(key)
        if table is None:
            spec: TableSpec = s.attr
            table = Table(kind, spec.size,
                          self.slots.take(storage(kind), spec.size * width(kind)), spec)
            self.tables[key] = table
            if spec.values is not None:
                self.constant_tables.append(table)
            else:
                block = self.block([spec.init], counter=f"ti{len(self.table_inits)}")
                self.table_inits.append(TableInit(table, block, block.values[id(spec.init)]))
        return table

    # ---------------------------------------------------------------- one loop
    def block(self, roots: Sequence[Sig], counter: str) -> LoopBlock:
        order, _ = collect(roots)
        kinds = infer_kinds(order)
        rates = infer_rates(order)
        arithmetic = plan_arithmetic(order, roots, kinds, rates)
        b = LoopBlock(counter)
        values = b.values

        rec_of: Dict[Tuple[int, int], ScalarState] = {}
        for s in order:
            if s.op == "recref":
                group, index = s.attr
                st = ScalarState(self.name("r", kinds[id(s)]), 0)
                st.slot = self.slots.take(storage(st.local.kind), width(st.local.kind))
                b.rec_states.append(st)
                rec_of[(id(group), index)] = st
                values[id(s)] = st.local

        lines = self._delay_lines(order, kinds)
        b.delay_lines = list(lines.values())

        for s in order:
            if s.op == "recref" or id(s) in arithmetic.absorbed:
                continue
            kind = kinds[id(s)]
            if s.op in ("const", "fconst"):  # a foreign constant is known now too
                v = self.name("k", kind)
                b.constants.append((v, s.value if s.op == "const" else s.attr[2]))
                values[id(s)] = v
                continue
            hoisted = rates[id(s)] < AUDIO
            target = self.name("c" if hoisted else "v", kind)
            values[id(s)] = target
            stmts = b.control if hoisted else b.loop
            if s.op == "delay":
                x, amount = s.args
                line = lines[id(x)]
                if amount.op == "const":
                    stmts.append(DelayRead(target, line, None, int(amount.value)))
                else:
                    stmts.append(DelayRead(target, line, values[id(amount)]))
            elif s.op == "rdtable":
                stmts.append(TableRead(target, self.table_for(s, kind), values[id(s.args[0])]))
            elif s.op == "rwtable":
                table = self.table_for(s, kind)
                stmts.append(TableWrite(table, values[id(s.args[0])], values[id(s.args[1])]))
                stmts.append(TableRead(target, table, values[id(s.args[2])]))
            elif s.op == "input":
                stmts.append(Assign(target, "input", (), s.attr))
            elif s.op == "param":
                stmts.append(Assign(target, "param", (), self.param_index[s.attr]))
            elif s.op == "first":
                stmts.append(Assign(target, "first"))
            elif id(s) in arithmetic.steps:
                stmts += self._steps(arithmetic.steps[id(s)], target, values)
            elif s.op == "pow" and _positive_constant(s.args[0]):
                # a constant base: exp(y·log(base)), runtime_helpers.fd_pow_base
                stmts.append(Assign(target, "pow_base", (values[id(s.args[1])],),
                                    float(s.args[0].value)))
            else:
                stmts.append(Assign(target, s.op, tuple(values[id(a)] for a in s.args)))
            line = lines.get(id(s))
            if line is not None:
                line.source = target
                if not line.shift_register:
                    (b.loop_start if hoisted else b.loop).append(DelayWrite(line, target))
        for s in order:
            line = lines.get(id(s))
            if line is not None and line.source is None:  # a delayed recref
                line.source = values[id(s)]
                if not line.shift_register:
                    b.loop_start.append(DelayWrite(line, line.source))
            if s.op == "recref":
                group, index = s.attr
                st = rec_of[(id(group), index)]
                if all(u[0] is not st for u in b.rec_updates):
                    b.rec_updates.append((st, values[id(group.bodies[index])]))
        return b

    def _steps(self, steps: List[Step], target: Value, values: Dict[int, Value]) -> List[Assign]:
        """The statements of a sum planned by codegen/sums.py (the last one sets `target`)."""
        results: List[Value] = []
        out = []
        for k, step in enumerate(steps):
            result = target if k == len(steps) - 1 else self.name("v", target.kind)
            operands = tuple(results[o] if isinstance(o, int) else values[id(o)]
                             for o in step.operands)
            out.append(Assign(result, step.op, operands))
            results.append(result)
        return out

    def _delay_lines(self, order, kinds) -> Dict[int, DelayLine]:
        # A program's own delays were checked, with their source position, when it was
        # compiled (signals/refusals.py); the checks here also cover delays that only a
        # derivative adds (x@(d+1)), one sample beyond.
        lines: Dict[int, DelayLine] = {}
        for s in order:
            if s.op != "delay":
                continue
            x, amount = s.args
            line = lines.get(id(x))
            if line is None:
                line = lines[id(x)] = DelayLine(kinds[id(x)], 0)
            if amount.op == "const":
                hi = int(amount.value)
            else:
                # an unbounded amount's bound is the int range: refused by the limit below
                hi_f = delay_bound(amount)[1]
                # one sample of slack: the bound comes from float64 interval arithmetic,
                # a float32 kernel may round the amount up across an integer
                hi = int(hi_f) + 1
                line.all_constant = False
            if hi < 0:
                raise FaustResourceError(f"delay amount {format_sig(amount)} is negative")
            line.max_delay = max(line.max_delay, hi)
            line.amounts.add(id(amount))
        rings: Dict[tuple, List[DelayLine]] = {}
        for line in lines.values():
            if line.max_delay > max_delay_samples():
                raise FaustResourceError(
                    f"a delay of up to {line.max_delay} samples exceeds the limit of "
                    f"{max_delay_samples()} samples per delay line (set FAUSTDIFF_MAX_DELAY "
                    f"to raise it)")
            if line.all_constant and line.max_delay <= SHIFT_REGISTER_MAX:
                for _ in range(line.max_delay):
                    st = ScalarState(self.name("d", line.kind), 0)
                    st.slot = self.slots.take(storage(line.kind), width(line.kind))
                    line.shift_register.append(st)
            else:
                key = (storage(line.kind), line.max_delay, frozenset(line.amounts))
                rings.setdefault(key, []).append(line)
        for (kind, max_delay, _), group in rings.items():
            size = ring_size(max_delay)
            stride = sum(width(line.kind) for line in group)
            start = self.slots.take_staggered(kind, size * stride)
            for line in group:
                line.mask = size - 1
                line.stride = stride
                line.offset = start
                start += width(line.kind)
        return lines


def _positive_constant(s: Sig) -> bool:
    """A constant base that pow can take as exp(y·log(base)): finite, > 0 and not 1."""
    return s.op == "const" and 0 < s.value < float("inf") and s.value != 1


def _rdtable_key(spec: TableSpec, kind) -> tuple:
    """What makes two read-only tables the same: their init signal (by identity), or
    their constants bit for bit (-0.0 == 0.0 for Python, not for 1/x)."""
    if spec.values is None:
        return (spec.size, spec.kind, id(spec.init), kind)
    return (spec.size, spec.kind, struct.pack(f"<{len(spec.values)}d", *spec.values), kind)


def plan_kernel(outputs: Sequence[Sig], tangents: Sequence[Optional[Sig]] = (),
                params: Sequence[ParamSpec] = ()) -> KernelPlan:
    """`tangents[o]` is the tangent pack of output o (None when zero; lane k is the
    derivative for the k-th differentiated parameter); `params` gives the index of each
    parameter in the params array."""
    planner = _Planner({spec: k for k, spec in enumerate(params)})
    roots = list(outputs) + [t for t in tangents if t is not None]
    main = planner.block(roots, counter="t")
    out_values = [(o, main.values[id(s)]) for o, s in enumerate(outputs)]
    tan_values = [(k, o, main.values[id(t)], position)
                  for o, t in enumerate(tangents) if t is not None
                  for position, k in enumerate(main.values[id(t)].kind.lanes)]
    block = limit("FAUSTDIFF_FISSION_BLOCK")
    if block > 0:
        from .fission import split_stages  # (fission reads the plan's classes)

        sinks = [v for _, v in out_values] + [v for _, _, v, _ in tan_values]
        main.stages = split_stages(main, sinks, block, planner.slots.take)
        main.stage_block = block if main.stages else 0
    return KernelPlan(planner.table_inits, planner.constant_tables, main, out_values, tan_values,
                      planner.slots.sizes[FLOAT_KIND], planner.slots.sizes["int"])

"""Scheduling: signal graph → kernel plan.

The plan is a small IR the renderer turns into source text. It orders the nodes
(arguments first), hoists constants and control-rate nodes (those that depend only on
parameters) out of the sample loop, and lays out the state:
- a recursive body read through `recref` is a scalar carried from one sample to the
  next (`rec` state);
- a signal delayed only by small constant amounts is a shift register of scalars;
- any other delayed signal is a ring buffer of power-of-two size in the flat state
  array, indexed by the sample counter `t` and a mask.
State lives in two flat arrays (floats, ints); slot 0 of the int array is the counter.
"""
from __future__ import annotations

import math
import os
from dataclasses import dataclass, field
from typing import Dict, List, Optional, Sequence, Tuple

from ..errors import FaustResourceError
from ..signals.analysis import (AUDIO, CONST, CONTROL, collect, delay_bound, infer_kinds,
                                infer_rates)
from ..signals.nodes import FLOAT_KIND, INT_KIND, ParamSpec, Sig, format_sig

SHIFT_REGISTER_MAX = 4  # constant delays up to this many samples use scalars
DEFAULT_MAX_DELAY = 1 << 24  # samples per delay line, unless FAUSTDIFF_MAX_DELAY says otherwise


def max_delay_samples() -> int:
    value = os.environ.get("FAUSTDIFF_MAX_DELAY")
    return int(value) if value else DEFAULT_MAX_DELAY


@dataclass
class Value:
    """A named scalar in the generated code."""

    name: str
    kind: str


@dataclass
class Assign:
    target: Value
    op: str  # a primitive name, or 'input', 'param', 'first'
    operands: Tuple[Value, ...] = ()
    attr: object = None  # channel / parameter index


@dataclass
class DelayRead:
    target: Value
    line: "DelayLine"
    amount: Optional[Value]  # None: constant delay `const_amount`
    const_amount: int = 0


@dataclass
class DelayWrite:
    line: "DelayLine"
    value: Value


@dataclass
class ScalarState:
    """A loop-carried scalar, loaded from and stored to the state arrays."""

    local: Value
    slot: int


@dataclass
class DelayLine:
    kind: str
    max_delay: int
    shift_register: List[ScalarState] = field(default_factory=list)  # [x@1, x@2, ...]
    offset: int = 0
    mask: int = 0
    source: Optional[Value] = None


@dataclass
class KernelPlan:
    constants: List[Tuple[Value, object]]
    control: List[Assign]
    loop_start: List[object]  # delay writes of non-audio signals
    loop: List[object]
    outputs: List[Tuple[int, Value]]
    tangents: List[Tuple[int, int, Value]]
    rec_states: List[ScalarState]
    rec_updates: List[Tuple[ScalarState, Value]]
    delay_lines: List[DelayLine]
    float_state_size: int
    int_state_size: int
    uses_counter: bool


class _Namer:
    def __init__(self):
        self.count = 0

    def __call__(self, prefix: str, kind: str) -> Value:
        self.count += 1
        return Value(f"{prefix}{self.count}", kind)


def plan_kernel(outputs: Sequence[Sig], tangents: Sequence[Sequence[Optional[Sig]]] = (),
                params: Sequence[ParamSpec] = ()) -> KernelPlan:
    """`tangents[k][o]` is the derivative of output o for the k-th differentiated parameter
    (None when zero); `params` gives the index of each parameter in the params array."""
    param_index = {spec: k for k, spec in enumerate(params)}
    roots = list(outputs) + [t for row in tangents for t in row if t is not None]
    order, _ = collect(roots)
    kinds = infer_kinds(order)
    rates = infer_rates(order)
    new = _Namer()
    values: Dict[int, Value] = {}

    float_slots = 0
    int_slots = 1  # slot 0: the sample counter

    def take_slot(kind: str, size: int = 1) -> int:
        nonlocal float_slots, int_slots
        if kind == FLOAT_KIND:
            float_slots += size
            return float_slots - size
        int_slots += size
        return int_slots - size

    # --- recursion state: one scalar per body read through a recref
    rec_states: List[ScalarState] = []
    rec_of: Dict[Tuple[int, int], ScalarState] = {}
    group_index: Dict[int, int] = {}
    for s in order:
        if s.op == "recref":
            group, index = s.attr
            gi = group_index.setdefault(id(group), len(group_index))
            st = ScalarState(Value(f"r{gi}_{index}", kinds[id(s)]), 0)
            st.slot = take_slot(st.local.kind)
            rec_states.append(st)
            rec_of[(id(group), index)] = st
            values[id(s)] = st.local

    # --- delay lines: one per delayed signal
    lines: Dict[int, DelayLine] = {}
    for s in order:
        if s.op != "delay":
            continue
        x, amount = s.args
        line = lines.get(id(x))
        if line is None:
            line = lines[id(x)] = DelayLine(kinds[id(x)], 0)
            line.all_constant = True
        if amount.op == "const":
            hi = int(amount.value)
        else:
            lo, hi_f = delay_bound(amount)
            if math.isinf(hi_f):
                raise FaustResourceError(
                    f"cannot bound the delay amount {format_sig(amount)}: faustdiff needs a "
                    f"maximum to size the delay line (clamp it, e.g. with min(N, ...))")
            hi = int(hi_f)
            line.all_constant = False
        if hi < 0:
            raise FaustResourceError(f"delay amount {format_sig(amount)} is negative")
        line.max_delay = max(line.max_delay, hi)
    for xid, line in lines.items():
        if line.max_delay > max_delay_samples():
            raise FaustResourceError(
                f"a delay of up to {line.max_delay} samples exceeds the limit of "
                f"{max_delay_samples()} samples per delay line (set FAUSTDIFF_MAX_DELAY to raise it)")
        if line.all_constant and line.max_delay <= SHIFT_REGISTER_MAX:
            for k in range(1, line.max_delay + 1):
                st = ScalarState(new("d", line.kind), 0)
                st.slot = take_slot(line.kind)
                line.shift_register.append(st)
        else:
            size = 1 << max(1, (line.max_delay).bit_length())
            line.mask = size - 1
            line.offset = take_slot(line.kind, size)

    # --- statements
    constants: List[Tuple[Value, object]] = []
    control: List[Assign] = []
    loop_start: List[object] = []
    loop: List[object] = []
    uses_counter = False
    for s in order:
        if s.op == "recref":
            continue
        kind = kinds[id(s)]
        if s.op == "const":
            v = new("k", kind)
            constants.append((v, s.value))
            values[id(s)] = v
            continue
        target = new("c" if rates[id(s)] < AUDIO else "v", kind)
        values[id(s)] = target
        if s.op == "delay":
            x, amount = s.args
            line = lines[id(x)]
            if amount.op == "const":
                read = DelayRead(target, line, None, int(amount.value))
            else:
                read = DelayRead(target, line, values[id(amount)])
            if not line.shift_register:
                uses_counter = True
            loop.append(read)
        else:
            if s.op == "input":
                stmt = Assign(target, "input", (), s.attr)
            elif s.op == "param":
                stmt = Assign(target, "param", (), param_index[s.attr])
            elif s.op == "first":
                stmt = Assign(target, "first")
                uses_counter = True
            elif s.op == "fconst":
                raise FaustResourceError(f"foreign constant {s.attr[1]} has no value here")
            else:
                stmt = Assign(target, s.op, tuple(values[id(a)] for a in s.args))
            (control if rates[id(s)] < AUDIO else loop).append(stmt)
        line = lines.get(id(s))
        if line is not None:
            line.source = target
            if not line.shift_register:
                (loop if rates[id(s)] == AUDIO else loop_start).append(DelayWrite(line, target))
    for xid, line in lines.items():
        if line.source is None:  # the delayed signal is a recref (a state scalar)
            for s in order:
                if id(s) == xid:
                    line.source = values[id(s)]
            if not line.shift_register:
                loop_start.append(DelayWrite(line, line.source))

    # --- outputs and state updates
    out_values = [(o, values[id(s)]) for o, s in enumerate(outputs)]
    tan_values = [(k, o, values[id(t)]) for k, row in enumerate(tangents)
                  for o, t in enumerate(row) if t is not None]
    rec_updates = []
    for s in order:
        if s.op == "recref":
            group, index = s.attr
            st = rec_of[(id(group), index)]
            if all(u[0] is not st for u in rec_updates):
                rec_updates.append((st, values[id(group.bodies[index])]))
    return KernelPlan(constants, control, loop_start, loop, out_values, tan_values, rec_states,
                      rec_updates, list(lines.values()), float_slots, int_slots, uses_counter)

"""How many cycles a loop over samples takes per sample, by a model of an out-of-order
core: what loop fission (`fission.py`) weighs before it cuts a loop in two.

A loop's samples overlap in the core as far as three limits let them:
- its recursions: a sample's state waits for the sample before (the longest path from a
  recursion's state to its next value, in cycles: `latency.py`);
- the instructions the core can start per cycle;
- the core's window of instructions in flight. A sample stays in it from its first
  instruction to its last, the longest path through its statements; the window holds
  `WINDOW` instructions, and `FLOAT_WINDOW` of them floating-point (the reorder buffer
  and the floating-point scheduler's queues), so a loop with long paths and many
  instructions per sample has few samples in flight (a window that holds less than one
  sample holds part of one, which runs as its own path allows: a sample per path). An
  FM pair's jvp loop (two oscillators, each a phase recursion and a 512 KB table read,
  then the tangents) was bound by it: 8.6 ns a sample, where its recursions alone allow
  about 2. Cut between the oscillators, each loop has half the path and fewer
  instructions (5.9 ns). The same cut of the render loop, whose window limit is near its
  recursions' already, costs (4.0 -> 5.3 ns): the model keeps one loop.
The floating-point window: an 8th-order Butterworth lowpass (four biquads in series, 35
instructions a sample in its render, 25 of them floating-point, 82 and 64 in its jvp, on
a path of about 70 cycles) ran its jvp in about 34 cycles a sample, where the whole window
allowed 20 and the floating-point one allows 40. Cut between the second biquad and the
third, render and jvp both ran faster (median of paired timings: 0.82 and 0.83 of the
one loop's time; the jvp 0.96 in another run, as this machine's speed varies). The FM
pair's render (63 instructions, 23 floating-point: the rest table indices) stays one loop.
The figures are rough, for comparing ways to cut one loop, not for predicting times.
"""
from __future__ import annotations

from typing import Dict, Iterable, Sequence, Tuple

from ..latency import FUSED_MULTIPLY_ADD, latency
from ..signals.nodes import INT_KIND
from ..signals.packs import is_pack
from .plan import (Assign, DelayRead, DelayWrite, LoopBlock, ScalarState, TableRead,
                   TableWrite, Value, defines, reads)

WINDOW = 320.0   # instructions in flight (a reorder buffer of recent x86-64 cores)
# floating-point instructions in flight (their scheduler and its queue: 64 + 64 on AMD's
# Zen 4)
FLOAT_WINDOW = 128.0
ISSUE = 4.0      # instructions started per cycle, sustained
L1_BYTES = 32 * 1024
LOAD = 5.0       # a load from the L1 cache
LOAD_FAR = 14.0  # from the L2 cache: a table larger than the L1 cache, read at random
# a value handed from one loop to another: a store in the one, a load in the other
CROSSING = 2.0
LOOP = 2.0       # a loop's own counting and branch, per sample
# a cut's costs the model does not see (each loop's recursions start again every block,
# the values handed over go through the cache): with 3 cycles, the FM pair's render stays
# one loop, as measured (4.0 ns a sample against 5.3 cut, where the model alone gives
# 23.2 cycles against 2 × 11 and the hand-over)
CUT = 3.0


def _table_load(table) -> float:
    # 8 bytes an entry (float64, the widest): a float32 table of 6000 entries counts as far
    entries = table.size * (table.kind.width if is_pack(table.kind) else 1)
    return LOAD_FAR if entries * 8 > L1_BYTES else LOAD


# what latency.py leaves at its default, as it orders sums and nothing of these is
# summed: the multiply-adds that sums.py makes, rounding and conversions
_MORE_LATENCIES = {"fma": FUSED_MULTIPLY_ADD, "fms": FUSED_MULTIPLY_ADD,
                   "fnma": FUSED_MULTIPLY_ADD, "pfma": FUSED_MULTIPLY_ADD, "floor": 4.0,
                   "ceil": 4.0, "rint": 4.0, "round": 4.0, "int": 6.0, "float": 4.0}


def statement_latency(stmt) -> float:
    """Cycles from a statement's operands to its result."""
    if isinstance(stmt, Assign):
        return _MORE_LATENCIES.get(stmt.op) or latency(stmt.op)
    if isinstance(stmt, TableRead):
        return _table_load(stmt.table) + 1.0  # clamped index, then the load
    if isinstance(stmt, DelayRead):
        return LOAD if not stmt.line.shift_register else 0.0
    return 1.0


def is_floating(stmt) -> bool:
    """Whether a statement runs on the floating-point side: it computes a float or a
    pack (loads, stores and index arithmetic do not)."""
    target = defines(stmt)
    return isinstance(stmt, Assign) and target is not None and target.kind != INT_KIND


def statement_work(stmt) -> float:
    """Instructions a statement takes, roughly."""
    if isinstance(stmt, Assign):
        if stmt.op in ("select2", "pselect2", "int"):
            return 2.0
        if stmt.op in ("select3", "pselect3"):
            return 4.0
        return 1.0
    if isinstance(stmt, TableRead):
        return 5.0  # the index clamped to the table, then the load
    if isinstance(stmt, (DelayRead, DelayWrite, TableWrite)):
        return 2.0
    return 1.0


def _longest_paths(statements: Sequence[object], start: Dict[str, float]) -> Dict[str, float]:
    """Cycles until each value on a path from the values of `start` is ready."""
    ready = dict(start)
    for stmt in statements:
        times = [ready[v.name] for v in reads(stmt) if v.name in ready]
        target = defines(stmt)
        if times and target is not None:
            ready[target.name] = max(times) + statement_latency(stmt)
    return ready


def recurrence_cycles(statements: Sequence[object],
                      recursions: Sequence[Tuple[ScalarState, Value]]) -> float:
    """The longest path from a recursion's state to its next value, over `statements`."""
    longest = 0.0
    for state, value in recursions:
        ready = _longest_paths(statements, {state.local.name: 0.0})
        longest = max(longest, ready.get(value.name, 0.0))
    return longest


class LoopModel:
    """A loop's instructions and longest path, as statements join it in dependence
    order (values from outside the loop are ready at its start)."""

    def __init__(self):
        self.ready: Dict[str, float] = {}
        self.work = LOOP
        self.float_work = 0.0
        self.path = 0.0

    def add(self, statements: Iterable[object]) -> None:
        for stmt in statements:
            done = max((self.ready.get(v.name, 0.0) for v in reads(stmt)), default=0.0) \
                + statement_latency(stmt)
            target = defines(stmt)
            if target is not None:
                self.ready[target.name] = done
            self.path = max(self.path, done)
            work = statement_work(stmt)
            self.work += work
            if is_floating(stmt):
                self.float_work += work

    def cycles(self, recurrence: float, crossings: int) -> float:
        """Cycles per sample, with recursions that take `recurrence` cycles and
        `crossings` values loaded from or stored for other loops."""
        work = self.work + CROSSING * crossings / 2
        in_flight = self.path + LOAD
        return max(recurrence, work / ISSUE,
                   in_flight * min(1.0, work / WINDOW),
                   in_flight * min(1.0, self.float_work / FLOAT_WINDOW))


# LLVM's SLP vectorizer (codegen/cache.py) pays in a loop whose instructions take at least
# this many times as long to issue as its recursions take to go round, and this many
# cycles a sample at least. Render kernels, paired with and without it (median of 30 to
# 60 alternating rounds, same bits): Freeverb 0.70 of the time and stereo Freeverb 0.89
# (issue 22.5 and 44.8 cycles, recursions 4), Karplus-Strong's two fractional delays
# 0.82 (issue 12, no recursion); where recursions bound the loop it lengthens them with
# shuffles: a crossover's biquads 2.0 times the time (recursion 18 cycles, issue 7.8),
# pm.ks 1.31 (11 and 14.2), an EQ chain 1.03 (6 and 7.8). Of the 112 standard-library
# test programs it takes 11 (reverbs, fractional delays, the filterbank): 0.89 to 1.02.
PARALLEL_WORK = 2.0
PARALLEL_WORK_CYCLES = 4.0


def parallel_work_pays(block: LoopBlock) -> bool:
    """Whether a sample loop has enough independent work beside its recursions for the
    SLP vectorizer to join into vector instructions at no cost to the recursions."""
    loop = LoopModel()
    loop.add(block.loop)
    issue = loop.work / ISSUE
    recurrence = recurrence_cycles(block.loop, block.rec_updates)
    return issue >= max(PARALLEL_WORK * recurrence, PARALLEL_WORK_CYCLES)

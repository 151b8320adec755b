"""Kernel plan → Python source for one `numba.njit` function.

The text is filled into `arch/kernel.py.tmpl`. It contains only names generated here,
numbers, and the expressions of the primitive registry: nothing from the user's
program (labels, metadata, file names) is ever written into it.
"""
from __future__ import annotations

import math
import re
from importlib import resources
from typing import Dict, List, Optional, Tuple

from ..signals.nodes import FLOAT_KIND, INT_KIND
from ..signals.packs import is_pack
from ..signals.primitives import COMPARISONS, PRIMITIVES, faust_int, operand_kinds
from .double_double import log_of
from .fold import fold_block, typed
from .plan import (Assign, DelayRead, DelayWrite, KernelPlan, LoopBlock, Table, TableRead,
                   TableWrite, Value, width)
from .stage_cost import parallel_work_pays

_TEMPLATE = None
_NAME = re.compile(r"[A-Za-z_]\w*")
# Ops computed by a runtime helper called with their operands, scalars as floats: the
# multiply-adds of codegen/sums.py (a*b + c, a*b - c, c - a*b) and the pack operations
# (see pack_op)
_HELPER_CALLS = {"fma": "fd_fma", "fms": "fd_fms", "fnma": "fd_fnma", "pscale": "fd_vscale",
                 "pscale0": "fd_vscale0", "padd": "fd_vadd", "pfma": "fd_vfma"}


def _template() -> str:
    global _TEMPLATE
    if _TEMPLATE is None:
        _TEMPLATE = (resources.files("faustdiff.arch") / "kernel.py.tmpl").read_text()
    return _TEMPLATE


class _Renderer:
    def __init__(self, precision: str):
        self.precision = precision
        self.single = precision == "single"
        self.ftype = "np.float32" if self.single else "np.float64"
        self.known: Dict[str, object] = {}  # the values of constants, by name (codegen/fold.py)
        # the float comparisons of the loop body being written: name -> (a, b, op), for
        # the pack selects they decide (fd_vselect_cmp)
        self.comparisons: Dict[str, Tuple[str, str, str]] = {}
        # in a loop without state, the packs it computes, each written as one scalar a
        # lane (`_lanes_loop`); None in every other loop
        self.lane_packs: Optional[set] = None

    def literal(self, value, kind: str) -> str:
        if kind == INT_KIND:
            return f"np.int32({int(value)})"
        v = float(value)
        if math.isnan(v):
            text = "math.nan"
        elif math.isinf(v):
            text = "math.inf" if v > 0 else "-math.inf"
        else:
            text = repr(v)
        return f"{self.ftype}({text})"

    def cast(self, v: Value, kind: str) -> str:
        if v.kind == kind:
            return v.name
        if v.name in self.known:  # a constant cast now, as the kernel would (fold.py)
            return self.literal(typed(self.known[v.name], kind, self.single), kind)
        if kind == FLOAT_KIND:
            return f"{self.ftype}({v.name})"
        return f"fd_int({v.name})"

    def wrap(self, expr: str, kind: str) -> str:
        if kind == INT_KIND:
            return f"np.int32({expr})"
        return f"{self.ftype}({expr})" if self.single else expr

    def assign(self, a: Assign, counter: str) -> str:
        t = a.target
        if a.op == "input":
            return f"{t.name} = {self.ftype}(inputs[{a.attr}, _i_{counter}])"
        if a.op == "param":
            return f"{t.name} = params[{a.attr}]"
        if a.op == "first":
            return f"{t.name} = np.int32(1 if {counter} == 0 else 0)"
        if a.op == "pow_base":
            hi, lo = log_of(a.attr)
            y = self.cast(a.operands[0], FLOAT_KIND)
            call = f"fd_pow_base({y}, {hi!r}, {lo!r}, {a.attr!r})"
            return f"{t.name} = {self.wrap(call, t.kind)}"
        if a.op in _HELPER_CALLS:
            operands = ", ".join(v.name if is_pack(v.kind) else self.cast(v, FLOAT_KIND)
                                 for v in a.operands)
            return f"{t.name} = {_HELPER_CALLS[a.op]}({operands})"
        if is_pack(t.kind):
            return f"{t.name} = {self.pack_op(a)}"
        texts, wanted = self.operands_as_taken(a.op, a.operands, t.kind)
        if a.op in COMPARISONS and wanted == [FLOAT_KIND, FLOAT_KIND]:
            self.comparisons[t.name] = (texts[0], texts[1], a.op)
        return f"{t.name} = {self.wrap(PRIMITIVES[a.op].emit(texts, wanted), t.kind)}"

    def operands_as_taken(self, op: str, operands, result_kind):
        """A primitive's operands cast as it takes them, and the kinds it takes."""
        wanted = operand_kinds(op, [v.kind for v in operands], result_kind)
        return [self.cast(v, k) for v, k in zip(operands, wanted)], wanted

    def primitive(self, op: str, operands, result_kind) -> str:
        """The registry's expression of a primitive, its operands cast as it takes them."""
        return PRIMITIVES[op].emit(*self.operands_as_taken(op, operands, result_kind))

    # ------------------------------------------------------------ tangent packs
    # A pack is an LLVM vector in the kernel (runtime_helpers.PackType): made from its
    # lanes by fd_vmake, read lane by lane with fd_vlane, loaded from and stored to the
    # state with fd_vload/fd_vstore; fd_vscale, fd_vadd and fd_vfma (_HELPER_CALLS)
    # compute on all its lanes.
    def pack_op(self, a: Assign) -> str:
        t, ops = a.target, a.operands
        lanes = self.made_lanes(a)
        if lanes is not None:
            return self.pack_of(lanes)
        if a.op == "pselect2" and ops[0].name in self.comparisons:
            x, y, op = self.comparisons[ops[0].name]
            return f"fd_vselect_cmp({x}, {y}, {op!r}, {ops[2].name}, {ops[1].name})"
        return self.primitive(a.op[1:], ops, t.kind)  # pselect2/3: select of whole packs

    @staticmethod
    def pack_of(lanes: List[str]) -> str:
        items = f"({lanes[0]},)" if len(lanes) == 1 else f"({', '.join(lanes)})"
        return f"fd_vmake({items})"

    # A loop without state (no recursion, no delay line, no table it writes) has samples
    # independent of each other, which LLVM vectorizes, eight float64 samples an
    # instruction, but not while the loop holds an LLVM vector of its own: there each
    # pack it computes is a scalar a lane, `v_0, v_1...`, computed as the pack operations
    # compute each lane (the same bits). A clipper's jvp, 2 parameters: 0.39 -> 0.11 ms
    # per second of audio. Packs from outside the loop stay vectors, read lane by lane.
    def lane(self, v: Value, position: int) -> str:
        if self.lane_packs is not None and v.name in self.lane_packs:
            return f"{v.name}_{position}"
        return f"fd_vlane({v.name}, {position})"

    def made_lanes(self, a: Assign) -> Optional[List[str]]:
        """The lanes of a pack made from scalars (pseed, pzero, pexpand: v's lanes where
        it has them, 0 where not); None for the pack operations that compute."""
        t, ops = a.target, a.operands
        zero = self.literal(0.0, FLOAT_KIND)
        if a.op == "pseed":
            return [self.literal(1.0, FLOAT_KIND)]
        if a.op == "pzero":
            return [zero] * t.kind.width
        if a.op == "pexpand":
            have = ops[0].kind
            return [zero if have.position(k) is None else self.lane(ops[0], have.position(k))
                    for k in t.kind.lanes]
        return None

    def lane_assign(self, a: Assign) -> List[str]:
        values = self.made_lanes(a)
        if values is None:
            values = self.computed_lanes(a)
        self.lane_packs.add(a.target.name)
        return [f"{a.target.name}_{i} = {value}" for i, value in enumerate(values)]

    def computed_lanes(self, a: Assign) -> List[str]:
        """Each lane of a pack operation, as the vector operation computes it."""
        t, ops = a.target, a.operands
        lanes = range(t.kind.width)
        if a.op in ("pscale", "pscale0"):
            coef = self.cast(ops[0], FLOAT_KIND)
            values = [f"({coef} * {self.lane(ops[1], i)})" for i in lanes]
            if a.op == "pscale0":   # 0 where the lane is 0, whatever the coefficient
                zero = self.literal(0.0, FLOAT_KIND)
                values = [f"({zero} if {self.lane(ops[1], i)} == 0 else {v})"
                          for i, v in zip(lanes, values)]
            return values
        if a.op == "padd":
            return [f"({self.lane(ops[0], i)} + {self.lane(ops[1], i)})" for i in lanes]
        if a.op == "pfma":
            coef = self.cast(ops[0], FLOAT_KIND)
            return [f"fd_fma({coef}, {self.lane(ops[1], i)}, {self.lane(ops[2], i)})"
                    for i in lanes]
        # pselect2/3: a select of each lane on the same selector
        op = a.op[1:]
        kinds = operand_kinds(op, [ops[0].kind] + [FLOAT_KIND] * (len(ops) - 1), FLOAT_KIND)
        selector = self.cast(ops[0], kinds[0])
        return [PRIMITIVES[op].emit([selector] + [self.lane(v, i) for v in ops[1:]], kinds)
                for i in lanes]

    def buffer(self, kind) -> str:
        return "istate" if kind == INT_KIND else "fstate"

    def delay_read(self, r: DelayRead, counter: str) -> List[str]:
        line = r.line
        if line.shift_register:
            if r.const_amount == 0:
                return [f"{r.target.name} = {line.source.name}"]
            return [f"{r.target.name} = {line.shift_register[r.const_amount - 1].local.name}"]
        lines = []
        if r.amount is None:
            amount = str(r.const_amount)
        else:
            amount = self.clamped(r.amount, line.max_delay)
            if r.amount.name not in self.known:  # computed once, read by the slot below
                lines.append(f"{r.target.name}_amount = {amount}")
                amount = f"{r.target.name}_amount"
        slot = f"{line.offset} + {self.ring_index(line, f'{counter} - {amount}')}"
        if is_pack(line.kind):
            lines.append(f"{r.target.name}_at = {slot}")
            return lines + [f"{r.target.name} = {self.slots_read(f'{r.target.name}_at', line.kind)}"]
        read = f"{self.buffer(line.kind)}[{slot}]"
        if line.kind == INT_KIND:
            read = f"np.int32({read})"
        return lines + [f"{r.target.name} = {read}"]

    def delay_write(self, w: DelayWrite, counter: str) -> List[str]:
        line = w.line
        slot = f"{line.offset} + {self.ring_index(line, counter)}"
        if is_pack(line.kind):
            at = f"{w.value.name}_at{line.offset}"
            return [f"{at} = {slot}"] + self.slots_write(at, w.value)
        return [f"{self.buffer(line.kind)}[{slot}] = {w.value.name}"]

    @staticmethod
    def slots_read(at: str, kind) -> str:
        """A pack from `width` float slots starting at the index `at` (one vector load)."""
        return f"fd_vload(fstate, {at}, {kind.width})"

    @staticmethod
    def slots_write(at: str, value: Value) -> List[str]:
        return [f"fd_vstore(fstate, {at}, {value.name})"]

    @staticmethod
    def ring_index(line, position: str) -> str:
        wrapped = f"(({position}) & {line.mask})"
        return wrapped if line.stride == 1 else f"{wrapped} * {line.stride}"

    def clamped(self, v: Value, top: int) -> str:
        """int(v) clamped to [0, top]: a literal when v is a known constant."""
        if v.name in self.known:
            return str(min(max(faust_int(self.known[v.name]), 0), top))
        whole = v.name if v.kind == INT_KIND else f"fd_int({v.name})"
        return f"min(max(np.int64({whole}), 0), {top})"

    def table_index(self, table: Table, index: Value) -> str:
        entry = self.clamped(index, table.size - 1)
        if width(table.kind) > 1:
            entry = f"{entry} * {width(table.kind)}"
        return f"{table.offset} + {entry}"

    def table_slot(self, table: Table, index: Value) -> str:
        return f"{self.buffer(table.kind)}[{self.table_index(table, index)}]"

    def table_read(self, r: TableRead) -> List[str]:
        if is_pack(r.table.kind):
            at = f"{r.target.name}_at"
            return [f"{at} = {self.table_index(r.table, r.index)}",
                    f"{r.target.name} = {self.slots_read(at, r.table.kind)}"]
        read = self.table_slot(r.table, r.index)
        if r.table.kind == INT_KIND:
            read = f"np.int32({read})"
        elif r.target.kind != r.table.kind:
            read = f"{self.ftype}({read})"
        return [f"{r.target.name} = {read}"]

    def table_write(self, w: TableWrite) -> List[str]:
        if is_pack(w.table.kind):
            at = f"{w.value.name}_to{w.table.offset}"
            return [f"{at} = {self.table_index(w.table, w.index)}"] + self.slots_write(at, w.value)
        value = w.value.name
        if w.table.kind == FLOAT_KIND and w.value.kind == INT_KIND:
            value = f"{self.ftype}({value})"
        return [f"{self.table_slot(w.table, w.index)} = {value}"]

    def statement(self, stmt, counter: str) -> List[str]:
        if isinstance(stmt, Assign):
            if self.lane_packs is not None and is_pack(stmt.target.kind):
                return self.lane_assign(stmt)
            return [self.assign(stmt, counter)]
        if isinstance(stmt, DelayRead):
            return self.delay_read(stmt, counter)
        if isinstance(stmt, DelayWrite):
            return self.delay_write(stmt, counter)
        if isinstance(stmt, TableRead):
            return self.table_read(stmt)
        return self.table_write(stmt)

    def load(self, local: Value, slot) -> List[str]:
        """`local` from the state slot `slot` (a number or an index expression)."""
        if local.kind == INT_KIND:
            return [f"{local.name} = np.int32(istate[{slot}])"]
        if is_pack(local.kind):
            return [f"{local.name} = {self.slots_read(str(slot), local.kind)}"]
        return [f"{local.name} = fstate[{slot}]"]

    def store(self, local: Value, slot) -> List[str]:
        if is_pack(local.kind):
            return self.slots_write(str(slot), local)
        return [f"{self.buffer(local.kind)}[{slot}] = {local.name}"]

    def block(self, b: LoopBlock, length: str, per_sample: List[str], start: str,
              tangent_rows=(), lanes: bool = False) -> List[str]:
        """The lines of one loop block: constants, control rate, state, the loop.
        `per_sample` lines end each sample, then `tangent_rows`' stores: (row, pack,
        lane), each a lane of a pack written to `tangents[row]`. `lanes`: a loop without
        state may hold its packs lane by lane (not a table's init loop, whose
        `per_sample` lines store whole packs)."""
        b, known = fold_block(b, self.precision)
        self.known.update(known)
        self.comparisons = {}
        c = b.counter
        lines = []
        for stmt in b.control:
            lines += self.statement(stmt, c)
        scalars = [(st.local, st.slot) for st in b.rec_states]
        for line in b.delay_lines:
            scalars += [(st.local, st.slot) for st in line.shift_register]
        lines += [x for v, slot in scalars for x in self.load(v, slot)]
        lines.append(f"{c} = {start}")
        if b.stages:
            lines += self.staged_loop(b, length, per_sample, tangent_rows)
        else:
            statements = b.loop_start + b.loop
            self.lane_packs = set() if lanes and _lanes_loop(b, statements) else None
            lines.append(f"for _i_{c} in range({length}):")
            lines += ["    " + x for x in self.sample(statements, per_sample, b.rec_updates,
                                                    b.delay_lines, c, tangent_rows)]
            self.lane_packs = None
        lines += [x for v, slot in scalars for x in self.store(v, slot)]
        # only the constants the block reads: most folded ones only led to others
        used = set(_NAME.findall("\n".join(lines)))
        return [f"{v.name} = {self.literal(value, v.kind)}"
                for v, value in b.constants if v.name in used] + lines

    def sample(self, statements, per_sample: List[str], rec_updates, delay_lines, c: str,
               tangent_rows=(), loads=(), stores=()) -> List[str]:
        """The body of a sample loop: values from scratch slots (`loads`, as
        (value, index expression)), the statements, the per-sample lines, values to
        scratch slots (`stores`), then every state scalar takes its next value at once
        (a body may itself be another state scalar, so the updates must not see each
        other)."""
        body = [x for value, at in loads for x in self.load(value, at)]
        self.comparisons = {}  # another loop's operands are not this one's (a stage's)
        for stmt in statements:
            body += self.statement(stmt, c)
        body += per_sample
        body += [f"tangents[{row}, _i_{c}] = {self.lane(v, position)}"
                 for row, v, position in tangent_rows]
        body += [x for value, at in stores for x in self.store(value, at)]
        updates = [(st.local.name, v.name) for st, v in rec_updates]
        for line in delay_lines:
            reg = line.shift_register
            updates += [(reg[k].local.name, reg[k - 1].local.name) for k in range(1, len(reg))]
            if reg:
                updates.append((reg[0].local.name, line.source.name))
        targets = {t for t, _ in updates}
        saved = {}
        for _, src in updates:
            if src in targets and src not in saved:
                saved[src] = f"{src}_prev"
                body.append(f"{saved[src]} = {src}")
        body += [f"{t} = {saved.get(src, src)}" for t, src in updates]
        body.append(f"{c} += 1")
        return body

    def staged_loop(self, b: LoopBlock, length: str, per_sample: List[str],
                    tangent_rows) -> List[str]:
        """The loop as stages (codegen/fission.py): blocks of samples, each stage over
        the whole block before the next, the values between them in scratch slots (one
        per sample of the block, a pack's lanes side by side). A state scalar a later
        stage loads under its own name gets its block-end value back after that stage's
        loop (`Stage.restored`)."""
        c = b.counter
        block = b.stage_block
        # Every index counts up from 0 in a range of its own (the block, the sample in
        # it): Numba wraps negative indices around, and LLVM drops that test only where
        # it sees an index cannot be negative. `range(_b, _e)` hid it, and the FM pair's
        # jvp stages paid a sign test and two reloads per array access (6% of its time).
        lines = [f"for _k_{c} in range(({length} + {block - 1}) // {block}):",
                 f"    _b_{c} = _k_{c} * {block}",
                 f"    _e_{c} = min({length}, _b_{c} + {block})",
                 f"    _t0_{c} = {c}"]

        def scratch(pairs):
            return [(value, f"{slot} + _j_{c}"
                     + (f" * {width(value.kind)}" if width(value.kind) > 1 else ""))
                    for value, slot in pairs]

        last = len(b.stages) - 1
        for k, stage in enumerate(b.stages):
            body = self.sample(stage.statements, per_sample if k == last else [],
                               stage.rec_updates, stage.delay_lines, c,
                               tangent_rows if k == last else (),
                               scratch(stage.loads), scratch(stage.stores))
            kept = [v.name for v in stage.restored]
            lines += [f"    _kept_{name} = {name}" for name in kept]
            lines += [f"    {c} = _t0_{c}", f"    for _j_{c} in range(_e_{c} - _b_{c}):",
                      f"        _i_{c} = _b_{c} + _j_{c}"]
            lines += ["        " + x for x in body]
            lines += [f"    {name} = _kept_{name}" for name in kept]
        return lines


def _lanes_loop(b: LoopBlock, statements) -> bool:
    """Whether a loop's samples are independent of each other (see `_Renderer.lane`):
    no recursion, no delay line, no table written or of packs; and it computes packs.
    (Not the stages of a staged loop: the compressor's last stage, its packs loaded lane
    by lane from the scratch slots of an earlier stage, ran 5% slower so.)"""
    if b.rec_states or b.delay_lines:  # (every delay read or write is of one of its lines)
        return False
    # (a table of packs is a written one's tangents: it is written in the loop)
    if any(isinstance(stmt, TableWrite)
           or (isinstance(stmt, TableRead) and is_pack(stmt.table.kind)) for stmt in statements):
        return False
    return any(isinstance(stmt, Assign) and is_pack(stmt.target.kind) for stmt in statements)


def _indent(lines: List[str], spaces: int) -> str:
    pad = " " * spaces
    return "\n".join(pad + line for line in lines) if lines else pad + "pass"


def render_source(plan: KernelPlan, precision: str = "double") -> str:
    r = _Renderer(precision)
    tables: List[str] = []
    for init in plan.table_inits:
        fill = r.table_write(TableWrite(init.table, Value(init.block.counter, INT_KIND),
                                        init.value))
        tables += r.block(init.block, str(init.table.size), fill, "0")
    main_b = plan.main
    per_sample = [f"outputs[{o}, _i_t] = {v.name}" for o, v in plan.outputs]
    tangent_rows = [(f"{k}, {o}", v, position) for k, o, v, position in plan.tangents]
    main = r.block(main_b, "n", per_sample, "istate[0]", tangent_rows, lanes=True)
    main.append("istate[0] = t")
    text = _template()
    text = text.replace("$tables", _indent(tables, 8))
    text = text.replace("$main", _indent(main, 4))
    text = text.replace("$slp_vectorize", str(parallel_work_pays(plan.main)))
    return text

"""Kernel plan → Python source for one `numba.njit` function.

The text is filled into `arch/kernel.py.tmpl`. It contains only names generated here,
numbers, and the expressions of the primitive registry: nothing from the user's
program (labels, metadata, file names) is ever written into it.
"""
from __future__ import annotations

import math
from importlib import resources
from typing import List

from ..signals.nodes import FLOAT_KIND, INT_KIND
from ..signals.primitives import PRIMITIVES, _same_kind
from .plan import (Assign, DelayRead, DelayWrite, KernelPlan, LoopBlock, Table, TableRead,
                   TableWrite, Value)

_TEMPLATE = None


def _template() -> str:
    global _TEMPLATE
    if _TEMPLATE is None:
        _TEMPLATE = (resources.files("faustdiff.arch") / "kernel.py.tmpl").read_text()
    return _TEMPLATE


class _Renderer:
    def __init__(self, precision: str):
        self.single = precision == "single"
        self.ftype = "np.float32" if self.single else "np.float64"

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
        if kind == FLOAT_KIND:
            return f"{self.ftype}({v.name})"
        return f"fd_int({v.name})"

    def wrap(self, expr: str, kind: str) -> str:
        if kind == INT_KIND:
            return f"np.int32({expr})"
        return f"{self.ftype}({expr})" if self.single else expr

    def operand_kinds(self, op: str, operands, result_kind: str) -> List[str]:
        prim = PRIMITIVES[op]
        kinds = [v.kind for v in operands]
        if prim.operands == "float":
            return [FLOAT_KIND] * len(kinds)
        if prim.operands == "int":
            return [INT_KIND] * len(kinds)
        if prim.operands == "same":
            return [_same_kind(kinds)] * len(kinds)
        if prim.operands == "select":
            selector = INT_KIND if op == "select2" else kinds[0]
            return [selector] + [result_kind] * (len(kinds) - 1)
        return kinds

    def assign(self, a: Assign, counter: str) -> str:
        t = a.target
        if a.op == "input":
            return f"{t.name} = {self.ftype}(inputs[{a.attr}, _i_{counter}])"
        if a.op == "param":
            return f"{t.name} = params[{a.attr}]"
        if a.op == "fconst":
            return f"{t.name} = {self.literal(a.attr, t.kind)}"
        if a.op == "first":
            return f"{t.name} = np.int32(1 if {counter} == 0 else 0)"
        wanted = self.operand_kinds(a.op, a.operands, t.kind)
        exprs = [self.cast(v, k) for v, k in zip(a.operands, wanted)]
        return f"{t.name} = {self.wrap(PRIMITIVES[a.op].emit(exprs, wanted), t.kind)}"

    def buffer(self, kind: str) -> str:
        return "fstate" if kind == FLOAT_KIND else "istate"

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
            amount = f"{r.target.name}_amount"
            whole = r.amount.name if r.amount.kind == INT_KIND else f"fd_int({r.amount.name})"
            lines.append(f"{amount} = min(max(np.int64({whole}), 0), {line.max_delay})")
        read = f"{self.buffer(line.kind)}[{line.offset} + {self.ring_index(line, f'{counter} - {amount}')}]"
        if line.kind == INT_KIND:
            read = f"np.int32({read})"
        return lines + [f"{r.target.name} = {read}"]

    def delay_write(self, w: DelayWrite, counter: str) -> str:
        line = w.line
        return f"{self.buffer(line.kind)}[{line.offset} + {self.ring_index(line, counter)}] = {w.value.name}"

    @staticmethod
    def ring_index(line, position: str) -> str:
        wrapped = f"(({position}) & {line.mask})"
        return wrapped if line.stride == 1 else f"{wrapped} * {line.stride}"

    def table_slot(self, table: Table, index: Value) -> str:
        return (f"{self.buffer(table.kind)}[{table.offset} + "
                f"min(max(np.int64({index.name}), 0), {table.size - 1})]")

    def table_read(self, r: TableRead) -> str:
        read = self.table_slot(r.table, r.index)
        if r.table.kind == INT_KIND:
            read = f"np.int32({read})"
        elif r.target.kind != r.table.kind:
            read = f"{self.ftype}({read})"
        return f"{r.target.name} = {read}"

    def table_write(self, w: TableWrite) -> str:
        value = w.value.name
        if w.table.kind == FLOAT_KIND and w.value.kind == INT_KIND:
            value = f"{self.ftype}({value})"
        return f"{self.table_slot(w.table, w.index)} = {value}"

    def statement(self, stmt, counter: str) -> List[str]:
        if isinstance(stmt, Assign):
            return [self.assign(stmt, counter)]
        if isinstance(stmt, DelayRead):
            return self.delay_read(stmt, counter)
        if isinstance(stmt, DelayWrite):
            return [self.delay_write(stmt, counter)]
        if isinstance(stmt, TableRead):
            return [self.table_read(stmt)]
        return [self.table_write(stmt)]

    def load(self, local: Value, slot: int) -> str:
        if local.kind == INT_KIND:
            return f"{local.name} = np.int32(istate[{slot}])"
        return f"{local.name} = fstate[{slot}]"

    def store(self, local: Value, slot: int) -> str:
        return f"{self.buffer(local.kind)}[{slot}] = {local.name}"

    def block(self, b: LoopBlock, length: str, per_sample: List[str], start: str) -> List[str]:
        """The lines of one loop block: constants, control rate, state, the loop."""
        c = b.counter
        lines = [f"{v.name} = {self.literal(value, v.kind)}" for v, value in b.constants]
        for stmt in b.control:
            lines += self.statement(stmt, c)
        scalars = [(st.local, st.slot) for st in b.rec_states]
        for line in b.delay_lines:
            scalars += [(st.local, st.slot) for st in line.shift_register]
        lines += [self.load(v, slot) for v, slot in scalars]
        lines.append(f"{c} = {start}")
        body: List[str] = []
        for stmt in b.loop_start + b.loop:
            body += self.statement(stmt, c)
        body += per_sample
        # end of the sample: every state scalar takes its next value at once (a body may
        # itself be another state scalar, so the updates must not see each other)
        updates = [(st.local.name, v.name) for st, v in b.rec_updates]
        for line in b.delay_lines:
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
        lines.append(f"for _i_{c} in range({length}):")
        lines += ["    " + x for x in body]
        lines += [self.store(v, slot) for v, slot in scalars]
        return lines


def _indent(lines: List[str], spaces: int) -> str:
    pad = " " * spaces
    return "\n".join(pad + line for line in lines) if lines else pad + "pass"


def render_source(plan: KernelPlan, precision: str = "double") -> str:
    r = _Renderer(precision)
    tables: List[str] = []
    for init in plan.table_inits:
        fill = [r.table_write(TableWrite(init.table, Value(init.block.counter, INT_KIND),
                                          init.value))]
        tables += r.block(init.block, str(init.table.size), fill, "0")
    main_b = plan.main
    per_sample = [f"outputs[{o}, _i_t] = {v.name}" for o, v in plan.outputs]
    per_sample += [f"tangents[{k}, {o}, _i_t] = {v.name}" for k, o, v in plan.tangents]
    main = r.block(main_b, "n", per_sample, "istate[0]") + ["istate[0] = t"]
    text = _template()
    text = text.replace("$tables", _indent(tables, 8))
    text = text.replace("$main", _indent(main, 4))
    return text

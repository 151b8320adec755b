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
from .plan import Assign, DelayRead, DelayWrite, KernelPlan, Value

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

    def assign(self, a: Assign) -> str:
        t = a.target
        if a.op == "input":
            return f"{t.name} = {self.ftype}(inputs[{a.attr}, i])"
        if a.op == "param":
            return f"{t.name} = params[{a.attr}]"
        if a.op == "first":
            return f"{t.name} = np.int32(1 if t == 0 else 0)"
        wanted = self.operand_kinds(a.op, a.operands, t.kind)
        exprs = [self.cast(v, k) for v, k in zip(a.operands, wanted)]
        return f"{t.name} = {self.wrap(PRIMITIVES[a.op].emit(exprs, wanted), t.kind)}"

    def buffer(self, kind: str) -> str:
        return "fstate" if kind == FLOAT_KIND else "istate"

    def delay_read(self, r: DelayRead) -> List[str]:
        line = r.line
        if line.shift_register:
            src = line.source.name if r.const_amount == 0 else line.shift_register[r.const_amount - 1].local.name
            return [f"{r.target.name} = {src}"]
        if r.amount is None:
            index = f"{line.offset} + ((t - {r.const_amount}) & {line.mask})"
            lines = []
        else:
            amount = f"{r.target.name}_amount"
            lines = [f"{amount} = min(max(np.int64({r.amount.name}), 0), {line.max_delay})"]
            index = f"{line.offset} + ((t - {amount}) & {line.mask})"
        read = f"{self.buffer(line.kind)}[{index}]"
        if line.kind == INT_KIND:
            read = f"np.int32({read})"
        return lines + [f"{r.target.name} = {read}"]

    def delay_write(self, w: DelayWrite) -> str:
        line = w.line
        return f"{self.buffer(line.kind)}[{line.offset} + (t & {line.mask})] = {w.value.name}"

    def load(self, local: Value, slot: int) -> str:
        if local.kind == INT_KIND:
            return f"{local.name} = np.int32(istate[{slot}])"
        return f"{local.name} = fstate[{slot}]"

    def store(self, local: Value, slot: int) -> str:
        return f"{self.buffer(local.kind)}[{slot}] = {local.name}"


def render_source(plan: KernelPlan, precision: str = "double") -> str:
    r = _Renderer(precision)
    constants = [f"{v.name} = {r.literal(value, v.kind)}" for v, value in plan.constants]
    control = [r.assign(a) for a in plan.control]
    scalars = [(st.local, st.slot) for st in plan.rec_states]
    for line in plan.delay_lines:
        scalars += [(st.local, st.slot) for st in line.shift_register]
    load = [r.load(v, slot) for v, slot in scalars] + ["t = istate[0]"]
    loop: List[str] = []
    for stmt in plan.loop_start:
        loop.append(r.delay_write(stmt))
    for stmt in plan.loop:
        if isinstance(stmt, Assign):
            loop.append(r.assign(stmt))
        elif isinstance(stmt, DelayRead):
            loop.extend(r.delay_read(stmt))
        else:
            loop.append(r.delay_write(stmt))
    loop += [f"outputs[{o}, i] = {v.name}" for o, v in plan.outputs]
    loop += [f"tangents[{k}, {o}, i] = {v.name}" for k, o, v in plan.tangents]
    # end of the sample: shift registers (oldest first), then recursion state
    for line in plan.delay_lines:
        reg = line.shift_register
        for k in range(len(reg) - 1, 0, -1):
            loop.append(f"{reg[k].local.name} = {reg[k - 1].local.name}")
        if reg:
            loop.append(f"{reg[0].local.name} = {line.source.name}")
    loop += [f"{st.local.name} = {v.name}" for st, v in plan.rec_updates]
    loop.append("t += 1")
    store = [r.store(v, slot) for v, slot in scalars] + ["istate[0] = t"]

    def block(lines, indent):
        pad = " " * indent
        return "\n".join(pad + line for line in lines) if lines else pad + "pass"

    text = _template()
    for key, lines, indent in (("$constants", constants, 4), ("$control", control, 4),
                               ("$load", load, 4), ("$loop", loop, 8), ("$store", store, 4)):
        text = text.replace(key, block(lines, indent))
    return text

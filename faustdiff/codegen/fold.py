"""Constant statements computed while the kernel is written, in the kernel's precision.

The scheduler hoists the nodes that depend on constants alone out of the sample loop, to
be computed once per call. Most of them come from the sample rate: `ma.SR`, delay lengths
in samples, coefficients at a fixed frequency. They are not folded on the signal graph,
because Faust computes them at init time in the program's precision and the graph serves
both precisions (signals/propagate.py). Here the precision is known, and the operations
whose result IEEE 754 fixes (arithmetic, square root, comparisons, casts, rounding, min and
max, selection) are computed now, exactly as the kernel would: operands cast as the
generated code casts them, float32 results rounded from float64, which is exact for these
operations on float32 operands. Functions of the C library or of exp_log.py, and
multiply-adds (whose rounding depends on the machine), are left to the kernel.

LLVM folded these statements too, so the machine code computes what it did; but Numba no
longer types and lowers them first (Freeverb's render kernel had 110, about 0.4 s of its
1.3 s compile).
"""
from __future__ import annotations

import dataclasses
import math
from typing import Dict, Tuple

import numpy as np

from ..signals.nodes import INT_KIND, wrap_int32
from ..signals.packs import is_pack
from ..signals.primitives import evaluate, faust_int, operand_kinds
from .plan import Assign, LoopBlock

EXACT_OPS = frozenset({
    "+", "-", "*", "/", "%", "fmod", "sqrt",
    "<", "<=", ">", ">=", "==", "!=", "&", "|", "xor", "<<", ">>",
    "int", "float", "floor", "ceil", "rint", "round", "abs", "min", "max",
    "select2", "select3",
})


def fold_block(block: LoopBlock, precision: str) -> Tuple[LoopBlock, Dict[str, object]]:
    """The block with its foldable control statements turned into constants, and the
    value of every constant of the block by name (ints, or floats of the precision)."""
    single = precision == "single"
    known: Dict[str, object] = {}
    constants = []
    for v, value in block.constants:
        known[v.name] = typed(value, v.kind, single)
        constants.append((v, known[v.name]))
    control = []
    for stmt in block.control:
        value = _folded(stmt, known, single)
        if value is None:
            control.append(stmt)
        else:
            known[stmt.target.name] = value
            constants.append((stmt.target, value))
    return dataclasses.replace(block, constants=constants, control=control), known


def _folded(stmt, known: Dict[str, object], single: bool):
    """The value `stmt` assigns, when it is an exact operation on known values; else None."""
    if not isinstance(stmt, Assign) or is_pack(stmt.target.kind):
        return None
    if stmt.op not in EXACT_OPS or any(v.name not in known for v in stmt.operands):
        return None
    have = [v.kind for v in stmt.operands]
    wanted = operand_kinds(stmt.op, have, stmt.target.kind)
    args = [typed(known[v.name], k, single) for v, k in zip(stmt.operands, wanted)]
    with np.errstate(all="ignore"):
        return typed(evaluate(stmt.op, wanted, args, at_run_time=True), stmt.target.kind, single)


def typed(value, kind: str, single: bool):
    """`value` as the kernel holds it in a variable of `kind`: an int32 (a float cast as
    C casts), or a float64 or float32 value (as a Python float)."""
    if kind == INT_KIND:
        return wrap_int32(value) if isinstance(value, (int, np.integer)) else faust_int(value)
    value = float(value)
    if single and math.isfinite(value):
        with np.errstate(over="ignore"):
            value = float(np.float32(value))
    return value

"""A direct, slow interpreter of signal graphs: the reference the generated kernels are
tested against. It computes every node sample by sample with the primitive registry's
`evaluate` (the meaning used for constant folding, or the run-time one where Faust's
differ), so a disagreement with a kernel points at the scheduler or the code generator."""
from __future__ import annotations

from typing import Dict, Mapping, Optional, Sequence

import numpy as np

from .analysis import collect, infer_kinds
from .nodes import INT_KIND, ParamSpec, Sig, wrap_int32
from .primitives import evaluate, faust_int


def interpret(outputs: Sequence[Sig], n: int, inputs: Optional[np.ndarray] = None,
              params: Optional[Mapping[ParamSpec, float]] = None) -> np.ndarray:
    """The first n samples of each output (float64, shape (len(outputs), n)), from a
    cleared state. `params` maps a ParamSpec to its value (default: its init)."""
    order, _ = collect(outputs)
    kinds = infer_kinds(order)
    params = params or {}
    history: Dict[int, list] = {}  # delayed signal -> its past values, newest last
    delayed = {id(s.args[0]) for s in order if s.op == "delay"}
    rec_prev: Dict[tuple, object] = {}
    tables: Dict[int, list] = {}  # rdtable: per TableSpec; rwtable: per node
    out = np.zeros((len(outputs), n))
    for t in range(n):
        values: Dict[int, object] = {}
        for s in order:
            kind = kinds[id(s)]
            op = s.op
            if op == "const":
                v = s.value
            elif op == "input":
                v = float(inputs[s.attr, t]) if inputs is not None else 0.0
            elif op == "param":
                v = float(params.get(s.attr, s.attr.init))
            elif op == "fconst":
                v = s.attr[2]
            elif op == "first":
                v = 1 if t == 0 else 0
            elif op == "recref":
                v = rec_prev.get((id(s.attr[0]), s.attr[1]), 0 if kind == INT_KIND else 0.0)
            elif op == "delay":
                amount = values[id(s.args[1])]
                past = history.get(id(s.args[0]), [])
                d = max(faust_int(amount), 0)
                if d == 0:
                    v = values[id(s.args[0])]
                else:
                    v = past[-d] if d <= len(past) else (0 if kind == INT_KIND else 0.0)
            elif op in ("rdtable", "rwtable"):
                key = id(s.attr) if op == "rdtable" else id(s)
                if key not in tables:
                    tables[key] = _contents(s.attr)
                table = tables[key]
                if op == "rwtable":
                    table[_clamp(values[id(s.args[0])], len(table))] = values[id(s.args[1])]
                v = table[_clamp(values[id(s.args[-1])], len(table))]
            else:
                v = evaluate(op, [kinds[id(a)] for a in s.args], [values[id(a)] for a in s.args],
                             at_run_time=True)
            if kind == INT_KIND:
                v = wrap_int32(v) if isinstance(v, int) else faust_int(v)
            else:
                v = float(v)
            values[id(s)] = v
        for k, o in enumerate(outputs):
            out[k, t] = float(values[id(o)])
        for s in order:
            if id(s) in delayed:
                history.setdefault(id(s), []).append(values[id(s)])
            if s.op == "recref":
                g, i = s.attr
                rec_prev[(id(g), i)] = values[id(g.bodies[i])]
    return out


def _clamp(index, size: int) -> int:
    return min(max(int(index), 0), size - 1)


def _contents(spec) -> list:
    if spec.values is not None:
        return list(spec.values)
    column = interpret([spec.init], spec.size)[0]
    if spec.kind == INT_KIND:
        return [int(v) for v in column]
    return [float(v) for v in column]

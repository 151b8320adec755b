"""The derivative program of `faustdiff diff`: as Faust source, and step by step."""
from __future__ import annotations

from typing import List

from ..codegen.faust_source import faust_program
from ..runtime.program import Program
from ..signals.nodes import const_float


def derivative_source(prog: Program, smooth: bool = False) -> str:
    """Plain Faust source whose outputs are the program's outputs followed, parameter by
    parameter, by the derivative of every output (the order of `Program.jvp`)."""
    tangents = prog.tangents_of(smooth)
    signals = list(prog.output_signals)
    for row in tangents:
        signals += [const_float(0.0) if t is None else t for t in row]
    lines = [f"// Derivative program written by faustdiff from {prog.filename}.",
             f"// Outputs 0..{prog.num_outputs - 1}: the program's outputs."]
    for k, p in enumerate(prog.diff_params):
        first = prog.num_outputs * (k + 1)
        lines.append(f"// Outputs {first}..{first + prog.num_outputs - 1}: "
                     f"d(output)/d({p.label}), path {p.path}.")
    return "\n".join(lines) + "\n" + faust_program(signals, prog.num_inputs)


def derivative_details(prog: Program, smooth: bool = False) -> str:
    """For each parameter, the definitions that compute its derivative, in order."""
    parts: List[str] = []
    for p, row in zip(prog.diff_params, prog.tangents_of(smooth)):
        parts.append(f"== d/d {p.label} ({p.path}) ==")
        signals = [const_float(0.0) if t is None else t for t in row]
        zero = [o for o, t in enumerate(row) if t is None]
        if zero:
            parts.append(f"outputs {zero} do not depend on {p.label}: derivative 0")
        parts.append(faust_program(signals, prog.num_inputs))
    return "\n".join(parts)

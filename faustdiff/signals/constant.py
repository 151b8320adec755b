"""Compile-time numbers: reduce a box to the constant it outputs.

`par` counts, widget ranges, table sizes, numeric patterns and `ba.take` indices must
be known when a program is compiled. They are computed with the same propagation and
constant folding as the program itself, so compile-time and run-time arithmetic agree.
"""
from __future__ import annotations

from typing import Union

from .. import boxes as B
from ..errors import FaustEvaluationError
from .propagate import propagate


def box_constant(box: B.Box, sample_rate: int = 44100) -> Union[int, float]:
    """The int or float a 0-input, 1-output box always outputs; FaustEvaluationError
    (at the box's span) when it has inputs, several outputs or is not constant."""
    if isinstance(box, B.BInt):
        return box.value
    if isinstance(box, B.BReal):
        return box.value
    span = getattr(box, "span", None)
    ins, outs = box.arity()
    if ins != 0 or outs != 1:
        raise FaustEvaluationError(
            f"a compile-time number is needed here, but this expression has {ins} inputs and "
            f"{outs} outputs", span)
    (sig,) = propagate(box, sample_rate).outputs
    if sig.op != "const":
        raise FaustEvaluationError(
            "a compile-time number is needed here, but this expression depends on inputs, "
            "widgets or time", span)
    return sig.value

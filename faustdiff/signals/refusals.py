"""What the compiler refuses in a signal graph, before any code is generated.

Two kinds of refusal, both observed with the real Faust compiler (libfaust 2.85):
- a primitive applied to a constant it has no value for: a division or a remainder by
  a constant 0 ("division by 0", "% by 0", "remainder by 0"), `sqrt`, `log` or `log10`
  of a negative constant, `asin` or `acos` of a constant outside [-1, 1] ("out of
  domain"). Faust accepts `log(0)`, `pow(0, -1)`, `atan2(0, 0)` and foreign functions
  of any constant, and so does faustdiff;
- a delay `x @ d` whose amount may be negative: Faust computes the interval of `int(d)`
  and refuses it when it reaches below 0 ("possible negative values"), a delay on an
  input included. faustdiff also needs a finite maximum to size the delay line, and
  refuses lines longer than `FAUSTDIFF_MAX_DELAY` samples.
Faust checks delays only in the signals that reach an output, so `check_delays` runs on
the finished graph of a program.
"""
from __future__ import annotations

import math
from typing import Dict, Optional, Sequence, Tuple

from ..errors import FaustEvaluationError, FaustResourceError, Span
from ..limits import max_delay_samples
from .analysis import collect_with_tables, interval_of
from .nodes import Sig, format_sig

# ------------------------------------------------------------------ constant operands
_DIVISIONS = {"/": "division", "%": "'%'", "fmod": "fmod", "remainder": "remainder"}
# name -> (lowest accepted value, highest accepted value, how the domain is written)
_DOMAINS = {
    "sqrt": (0.0, math.inf, "x >= 0"),
    "log": (0.0, math.inf, "x >= 0"),
    "log10": (0.0, math.inf, "x >= 0"),
    "asin": (-1.0, 1.0, "-1 <= x <= 1"),
    "acos": (-1.0, 1.0, "-1 <= x <= 1"),
}


def constant_refusal(op: str, args: Sequence[Sig]) -> Optional[str]:
    """Why Faust refuses to compile `op(args)`, or None. Only constant operands are
    judged: a signal that happens to reach 0 or a negative value is computed as C does."""
    if op in _DIVISIONS:
        divisor = args[1]
        if divisor.is_const and divisor.value == 0:  # -0.0 too
            shown = f"{format_sig(args[0])} {op} {format_sig(divisor)}" if op in ("/", "%") else \
                f"{op}({format_sig(args[0])}, {format_sig(divisor)})"
            return f"{_DIVISIONS[op]} by zero in {shown}"
        return None
    domain = _DOMAINS.get(op)
    if domain is not None and args[0].is_const:
        lo, hi, written = domain
        x = args[0].value
        if x < lo or x > hi:  # (NaN passes, as in Faust)
            return f"out of domain in {op}({format_sig(args[0])}): {op} needs {written}"
    return None


def refuse_constant_operands(op: str, args: Sequence[Sig]) -> None:
    """Raise the FaustEvaluationError of `constant_refusal` (the caller adds the span)."""
    reason = constant_refusal(op, args)
    if reason is not None:
        raise FaustEvaluationError(
            reason, hint="the Faust compiler refuses this operation on a constant")


# ------------------------------------------------------------------ delays
DelaySites = Dict[int, Tuple[Sig, Optional[Span]]]  # id(delay node) -> (the node, its `@`)


def check_delays(outputs: Sequence[Sig], sites: DelaySites) -> None:
    """Refuse a delay of the outputs' graph whose amount may be negative, is unbounded
    or exceeds the delay limit. `sites` gives the source of each delay made by `@`."""
    if not sites:
        return
    memo: Dict[int, tuple] = {}
    for s in collect_with_tables(outputs):  # table contents included
        site = sites.get(id(s))
        if site is not None:
            _check_delay(s.args[1], interval_of(s.args[1], memo), site)


def _check_delay(amount: Sig, interval, site) -> None:
    _, span = site
    # `@` truncates its amount to an int; an infinite end stays infinite (the int cast
    # would wrap it, and hide that the amount is not bounded at all)
    lo, hi = (math.trunc(v) if math.isfinite(v) else v for v in interval)
    shown = format_sig(amount)
    if lo < 0:
        bound = f"values down to {lo:.0f}" if math.isfinite(lo) else "values without bound"
        raise FaustEvaluationError(
            f"possible negative values of the delay amount {shown}: it can take {bound}",
            span, hint="Faust refuses a delay that may be negative: bound the amount, e.g. "
                       "x @ min(N, max(0, d)), or use the int() of a slider whose range starts "
                       "at 0")
    if math.isinf(hi):
        raise FaustResourceError(
            f"cannot bound the delay amount {shown}: faustdiff needs a maximum to size the "
            f"delay line", span, hint="bound the amount, e.g. x @ min(N, d), or use the int() "
                                      "of a bounded slider")
    if hi > max_delay_samples():
        shown_hi = str(hi) if hi < 1e15 else f"{float(hi):.3g}"
        raise FaustResourceError(
            f"a delay of up to {shown_hi} samples exceeds the limit of {max_delay_samples()} "
            f"samples per delay line", span,
            hint="bound the amount with min(N, ...), or set the environment variable "
                 "FAUSTDIFF_MAX_DELAY to a larger number of samples")

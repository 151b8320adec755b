"""How many cycles each operation of a kernel takes before its result can be used: the
machine model of the passes that order sums (`codegen/sums.py` for a loop's arithmetic,
`diff/chains.py` for tangent packs). For ordering only, so rough figures of an x86-64
core of the last years do: multiply and add 3 to 4 cycles, fused multiply-add 4 to 5,
divide 13 or more, a call of the C math library some 20."""
from __future__ import annotations

FUSED_MULTIPLY_ADD = 4.0
_OPERATIONS = {"*": 3.0, "+": 3.0, "-": 3.0, "/": 13.0, "select2": 1.0, "select3": 2.0,
               # tangent packs: vector operations
               "pscale": 4.0, "pscale0": 5.0, "padd": 3.0, "pexpand": 1.0, "pselect2": 1.0,
               "pselect3": 2.0, "rwtable": 5.0}
_LIBRARY_CALL = 20.0
# what the kernels compute by a call of the C math library (and sqrt, as slow); also the
# calls that loop fission (codegen/fission.py) lets overlap
LIBRARY_CALLS = frozenset({"sin", "cos", "tan", "asin", "acos", "atan", "atan2", "exp", "log",
                           "log10", "pow", "sqrt", "fmod", "remainder", "sinh", "cosh", "tanh",
                           "asinh", "acosh", "atanh", "exp10", "cbrt", "hypot", "log1p", "expm1",
                           "exp2", "log2", "erf", "erfc", "tgamma", "lgamma"})
_CHEAP = 1.0  # comparisons, int arithmetic, casts


def latency(op: str) -> float:
    """The latency of an operation (a primitive or pack op name)."""
    return _OPERATIONS.get(op, _LIBRARY_CALL if op in LIBRARY_CALLS else _CHEAP)

"""Every tangent rule against a float64 central finite difference (hypothesis)."""
import math

import pytest
from hypothesis import assume, given, settings
from hypothesis import strategies as st

from faustdiff.diff.tangents import differentiate
from faustdiff.signals import foreign  # noqa: F401  (registers the ffunction primitives)
from faustdiff.signals.interpret import interpret
from faustdiff.signals.nodes import ParamSpec, param_sig
from faustdiff.signals.primitives import PRIMITIVES, apply

P = [ParamSpec("hslider", f"p{k}", f"/p{k}", 0.0, -1e9, 1e9, 0.0, (("diff", "1"),)) for k in range(2)]

# Where each differentiable primitive is smooth enough to test (per argument).
DOMAINS = {
    "log": [(0.05, 50)], "log10": [(0.05, 50)], "sqrt": [(0.05, 50)],
    "asin": [(-0.95, 0.95)], "acos": [(-0.95, 0.95)], "tan": [(-1.4, 1.4)],
    "pow": [(0.1, 5), (-3, 3)], "/": [(-10, 10), (0.2, 10)],
    "ffunction:acosh": [(1.1, 10)], "ffunction:atanh": [(-0.9, 0.9)],
    "ffunction:log1p": [(-0.9, 10)], "ffunction:log2": [(0.05, 50)],
    "ffunction:cbrt": [(0.1, 10)], "exp": [(-5, 5)], "ffunction:sinh": [(-5, 5)],
    "ffunction:cosh": [(-5, 5)], "ffunction:exp2": [(-5, 5)], "ffunction:expm1": [(-5, 5)],
    "atan2": [(-5, 5), (0.2, 5)], "ffunction:hypot": [(0.2, 5), (-5, 5)],
    "%": [(-10, 10), (0.5, 3)], "fmod": [(-10, 10), (0.5, 3)], "remainder": [(-10, 10), (0.5, 3)],
}
SMOOTH = sorted(name for name, p in PRIMITIVES.items() if p.partials is not None)


def value_of(sig, values):
    return interpret([sig], 1, params={P[k]: v for k, v in enumerate(values)})[0, 0]


def check_rule(op, values, eps=1e-6):
    args = [param_sig(P[k]) for k in range(PRIMITIVES[op].arity)]
    out = apply(op, *args)
    tangents = differentiate([out], P[: len(args)])
    for k in range(len(args)):
        up, down = list(values), list(values)
        up[k] += eps
        down[k] -= eps
        fd = (value_of(out, up) - value_of(out, down)) / (2 * eps)
        # skip kinks and jumps within the step: there the one-sided slopes disagree
        fwd = (value_of(out, up) - value_of(out, values)) / eps
        bwd = (value_of(out, values) - value_of(out, down)) / eps
        assume(math.isfinite(fd) and abs(fwd - bwd) <= 1e-3 * (1 + abs(fd)))
        t = tangents[k][0]
        ad = 0.0 if t is None else value_of(t, values)
        assert ad == pytest.approx(fd, rel=1e-5, abs=1e-6), (op, k, values)


@pytest.mark.parametrize("op", SMOOTH)
@settings(max_examples=40, deadline=None)
@given(data=st.data())
def test_rule_matches_central_difference(op, data):
    arity = PRIMITIVES[op].arity
    domains = DOMAINS.get(op, [(-5, 5)] * arity)
    values = [data.draw(st.floats(lo, hi, allow_nan=False)) for lo, hi in domains[:arity]]
    check_rule(op, values)


def test_every_rule_states_its_kink_convention_where_it_has_kinks():
    for name in ("abs", "min", "max", "%", "fmod", "remainder", "floor", "int", "select2", "pow"):
        assert PRIMITIVES[name].convention, name


def test_abs_min_max_conventions_at_kinks():
    x = param_sig(P[0])
    (t,), = differentiate([apply("abs", x)], [P[0]])
    assert value_of(t, [0.0]) == 0.0
    (t,), = differentiate([apply("min", x, apply("*", x, x))], [P[0]])
    # at x = 1, min(x, x^2) ties: half of each slope (1 and 2)
    assert value_of(t, [1.0]) == pytest.approx(1.5)


def test_int_typed_signals_have_zero_tangent():
    x = param_sig(P[0])
    (t,), = differentiate([apply("float", apply("int", apply("*", x, x)))], [P[0]])
    assert t is None

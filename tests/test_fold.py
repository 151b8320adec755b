"""Constants computed while the kernel is written (codegen/fold.py) have the values the
kernel would compute, bit for bit, in both precisions."""
import numpy as np
import pytest

from faustdiff.codegen import fold
from faustdiff.codegen.plan import plan_kernel
from faustdiff.codegen.python_source import render_source
from faustdiff.runtime.program import Program
from faustdiff.signals.nodes import const, delay, fconst, input_sig
from faustdiff.signals.primitives import apply
from faustdiff.signals.propagate import Propagated

SR = fconst("int", "fSamplingFreq", 44100)


def _sample_rate_expressions():
    """Expressions of the sample rate for every foldable operation, at its edges: float32
    rounding, int32 wrap-around, C's `%` and `round`, NaN, infinities, -0.0, out-of-range
    casts, subnormal results."""
    zero = apply("-", SR, const(44100))              # the int 0
    nan = apply("/", zero, zero)
    neg_zero = apply("*", zero, const(-1.0))
    half = apply("/", SR, const(88200))              # 0.5
    third = apply("/", SR, const(3))
    tiny = apply("*", SR, const(1e-320))             # subnormal in float64
    return [
        third, apply("*", SR, const(0.1)), apply("-", apply("/", SR, const(7)), const(6300.0)),
        apply("+", SR, const(0.1)), apply("+", apply("*", SR, const(400)), const(0.5)),
        apply("*", SR, const(100000)), apply("<<", SR, const(40)),
        apply(">>", apply("-", const(0), SR), const(3)),
        apply("%", apply("-", const(0), SR), const(7)), apply("%", SR, zero),
        apply("fmod", third, const(0.7)), apply("%", apply("-", const(0.0), third), const(0.7)),
        apply("sqrt", third), apply("sqrt", apply("-", const(0), SR)),
        apply("floor", half), apply("ceil", half), apply("rint", half), apply("round", half),
        apply("round", apply("-", const(0.0), half)), apply("rint", apply("/", SR, const(17640))),
        apply("int", apply("*", SR, const(1e6))), apply("int", apply("/", SR, const(-7))),
        apply("int", nan),
        apply("float", apply("+", apply("*", SR, const(381)), const(1))),
        nan, apply("/", const(1), zero), apply("/", const(-1), zero),
        apply("*", apply("*", SR, const(1e300)), const(1e10)),
        apply("*", apply("*", SR, const(1e30)), const(1e10)),
        tiny, apply("*", tiny, const(1e10)), apply("*", SR, const(1e-42)),
        neg_zero, apply("abs", neg_zero), apply("abs", apply("-", const(0), SR)),
        apply("min", nan, const(1.0)), apply("min", const(1.0), nan),
        apply("max", nan, const(1.0)), apply("max", const(1.0), nan),
        apply("min", neg_zero, const(0.0)), apply("max", const(0.0), neg_zero),
        apply("min", SR, const(2.5)), apply("max", SR, const(-3)),
        apply("<", nan, const(1.0)), apply("!=", nan, nan), apply("==", half, const(0.5)),
        apply(">=", SR, const(44100.5)),
        apply("select2", half, const(1.0), const(2.0)),
        apply("select3", apply("-", SR, const(44101)), const(1), const(2), const(3)),
        apply("&", apply("-", const(0), SR), const(0xFFFF)), apply("|", SR, const(-256)),
        apply("xor", SR, const(12345)),
    ]


def _bitwise_equal(a, b) -> bool:
    """Equal values, NaN where the other is NaN, and equal signs of zeros."""
    nan = np.isnan(a)
    return bool(np.array_equal(nan, np.isnan(b)) and np.array_equal(a[~nan], b[~nan])
                and np.array_equal(np.signbit(a[~nan]), np.signbit(b[~nan])))


@pytest.mark.parametrize("precision", ["double", "single"])
def test_folded_constants_are_what_the_kernel_computes(precision, monkeypatch):
    outputs = _sample_rate_expressions()
    folded_source = render_source(plan_kernel(outputs), precision)
    folded = Program(Propagated(outputs, 0, ()), precision=precision).render(n=3)
    monkeypatch.setattr(fold, "EXACT_OPS", frozenset())
    computed_source = render_source(plan_kernel(outputs), precision)
    computed = Program(Propagated(outputs, 0, ()), precision=precision).render(n=3)
    assert "fd_int(" in computed_source and "fd_int(" not in folded_source
    assert " * " not in folded_source and " * " in computed_source
    for row, (a, b) in enumerate(zip(folded, computed)):
        assert _bitwise_equal(a, b), f"output {row}: folded {a[0]!r}, computed {b[0]!r}"


def test_delays_of_a_sample_rate_length_are_read_at_a_constant_offset():
    """Freeverb-style delay lengths (`int(0.0367 * ma.SR)`) are computed when the kernel is
    written: the loop reads the ring buffer at a literal offset."""
    length = apply("int", apply("*", const(0.03666666666666667),
                                apply("min", const(192000.0), apply("max", const(1.0), SR))))
    outputs = [delay(input_sig(0), apply("-", length, const(1)))]
    source = render_source(plan_kernel(outputs), "double")
    assert "((t - 1616) & 2047)" in source
    assert "_amount" not in source and "fd_int(" not in source

"""Faust's normal form of the loop's arithmetic (`faustdiff/signals/normal_form.py` and the
identities of `primitives.apply`): what a sample computes, checked on the signal graph,
and what it renders, checked against IEEE where Faust's normal form departs from it."""
import numpy as np

import faustdiff
from faustdiff.signals.analysis import AUDIO, collect, infer_rates

SLIDER = 'hslider("a", 2, 1, 4, 0.1)'


def loop_ops(prog, op):
    """The nodes `op` computed in every sample (the loop), over all outputs."""
    order, _ = collect(prog.output_signals)
    rates = infer_rates(order)
    return [s for s in order if s.op == op and rates[id(s)] == AUDIO]


def test_division_by_a_value_fixed_during_the_call_is_a_multiply():
    """`_ / 3` is `0.333… * x` and `_ / slider` is `(1/a) * x` (observed with libfaust);
    a division by an audio value stays one."""
    for code in ("process = _ / 3;", f"process = _ / {SLIDER};",
                 f"process = _ / ({SLIDER} * 2 + 1);"):
        prog = faustdiff.compile(code)
        assert not loop_ops(prog, "/") and len(loop_ops(prog, "*")) == 1, code
    x = np.linspace(-3, 3, 64)[None]
    # Faust's value, which can be an ulp from x / 3
    np.testing.assert_array_equal(faustdiff.compile("process = _ / 3;").render(x)[0],
                                  x[0] * (1 / 3))
    prog = faustdiff.compile("process = _ <: _ / (_ + 1);")
    assert len(loop_ops(prog, "/")) == 1


def test_factors_fixed_during_the_call_are_multiplied_once_per_call():
    """`_ * 0.5 * a * b`: one multiply a sample, by (0.5·a)·b computed once."""
    prog = faustdiff.compile(f'process = _ * 0.5 * {SLIDER} * hslider("b", 3, 1, 4, 0.1);')
    assert len(loop_ops(prog, "*")) == 1
    x = np.random.default_rng(0).normal(size=(1, 50))
    np.testing.assert_allclose(prog.render(x)[0], x[0] * 0.5 * 2 * 3, rtol=1e-15)


def test_a_biquads_output_pulls_out_its_common_coefficient():
    """fi.resonlp's b0 = b2 = 1/d and b1 = 2/d: the output is (1/d)·(w + 2w' + w''), two
    multiplies a sample where it was three, as Faust computes it. Its recursion keeps a
    coefficient per term: factoring 1/d there would lengthen the loop."""
    prog = faustdiff.compile('import("stdfaust.lib"); process = fi.resonlp('
                             'hslider("fc[diff:1]", 1000, 50, 5000, 1), '
                             'hslider("q[diff:1]", 2, 0.5, 10, 0.01), 1);')
    (y,) = prog.output_signals
    order, groups = collect([y])
    rates = infer_rates(order)
    assert y.op == "*" and sorted(rates[id(a)] for a in y.args)[1] == AUDIO
    assert rates[id(y.args[0])] < AUDIO or rates[id(y.args[1])] < AUDIO
    (w,) = [b for g in groups for b in g.bodies]
    body, _ = collect([w], follow_recursion=False)
    assert not any(s.op == "*" and any(a.op in ("+", "-") and rates[id(a)] == AUDIO
                                       for a in s.args) for s in body)
    # the tangents of the rewritten program against finite differences
    x = np.random.default_rng(1).normal(size=(1, 400))
    _, dy = prog.jvp(x)
    for name, value, step in (("fc", 1000.0, 1e-3), ("q", 2.0, 1e-6)):
        up = prog.render(x, params={name: value + step})
        down = prog.render(x, params={name: value - step})
        np.testing.assert_allclose(dy[name], (up - down) / (2 * step), rtol=1e-5, atol=1e-8)


def test_products_by_zero_and_one_and_sums_with_zero_fold_as_faust_folds_them():
    """`0 * x` is 0 even where x is infinite or NaN (libfaust renders 0), `x + 0` is x
    even for -0.0 (IEEE would give +0.0); int arithmetic keeps its kind."""
    x = np.array([[np.inf, np.nan, -0.0, 1.5]])
    np.testing.assert_array_equal(faustdiff.compile("process = _ * 0;").render(x),
                                  np.zeros((1, 4)))
    zero_times = faustdiff.compile("process = _, _ : 0 * (1.0 / (_ - _));")
    np.testing.assert_array_equal(zero_times.render(np.ones((2, 3))), np.zeros((1, 3)))
    plus_zero = faustdiff.compile("process = _ + 0;").render(x)
    assert np.signbit(plus_zero[0, 2]) and np.isnan(plus_zero[0, 1])
    assert not loop_ops(faustdiff.compile("process = _ * 1 - 0;"), "*")
    # an int times 1.0 is a float: the product stays (as a conversion)
    ints = faustdiff.compile("process = int(_) * 1.0;")
    np.testing.assert_array_equal(ints.render(np.array([[2.7, -2.7]])), [[2.0, -2.0]])

"""How kernels add (`faustdiff/codegen/sums.py`): a recursion's sum adds the terms that
wait on its state last, products read once fuse into the additions that read them, and
nothing else changes: the values stay those of the program to rounding, sums off a
feedback loop keep their order, and a product read twice is rounded once for both."""
from fractions import Fraction
from pathlib import Path

import numpy as np
import pytest
from llvmlite import binding

import faustdiff
from faustdiff.codegen import plan as plan_module
from faustdiff.codegen.plan import Assign, plan_kernel
from faustdiff.codegen.sums import Arithmetic
from faustdiff.runtime.program import Program
from faustdiff.signals.nodes import RecGroup, const, input_sig, recref
from faustdiff.signals.primitives import apply
from faustdiff.signals.propagate import Propagated

BENCH = Path(__file__).resolve().parents[1] / "scripts" / "bench_programs"
BIQUAD = ('import("stdfaust.lib"); process = fi.resonlp(hslider("fc[diff:1]", 1000, 50, '
          '5000, 1), hslider("q[diff:1]", 2, 0.5, 10, 0.01), 1);')
HAS_FMA = "+fma" in binding.get_host_cpu_features().flatten().split(",")


def _loop_steps_between(block, state, value) -> int:
    """The most statements of the sample loop between reading `state` and computing
    `value` (its next value)."""
    depth = {state.name: 0}
    for stmt in block.loop_start + block.loop:
        if isinstance(stmt, Assign):
            reached = [depth[v.name] for v in stmt.operands if v.name in depth]
            if reached:
                depth[stmt.target.name] = max(reached) + 1
    return depth.get(value.name, 0)


def _without_arithmetic_plan(monkeypatch):
    monkeypatch.setattr(plan_module, "plan_arithmetic", lambda *args: Arithmetic({}, set()))


def test_biquad_state_waits_on_one_multiply_add(monkeypatch):
    prog = faustdiff.compile(BIQUAD)

    def longest_feedback():
        block = plan_kernel(prog.output_signals, [], prog._specs).main
        return max(_loop_steps_between(block, st.local, value) for st, value in block.rec_updates)

    assert longest_feedback() == 1  # w = fnma(a1, w', x - a2*w'')
    _without_arithmetic_plan(monkeypatch)
    assert longest_feedback() == 3  # as written: x - (a1*w' + a2*w'')


@pytest.mark.parametrize("name", ["lowpass8", "peq_chain", "freeverb", "moog", "fm"])
def test_reordered_and_fused_kernels_compute_the_same_values(name, monkeypatch):
    prog = faustdiff.compile_file(str(BENCH / f"{name}.dsp"))
    x = np.random.default_rng(3).uniform(-1, 1, (prog.num_inputs, 4000))
    y, dy = prog.jvp(x)
    _without_arithmetic_plan(monkeypatch)
    plain = Program(prog._signal_graph())  # (no cache entry: kernels made afresh)
    y0, dy0 = plain.jvp(x)
    assert plain.kernel_source() != prog.kernel_source()
    np.testing.assert_allclose(y, y0, rtol=0, atol=1e-12 * np.abs(y0).max())
    for key in dy0:
        np.testing.assert_allclose(dy[key], dy0[key], rtol=0, atol=1e-10 * np.abs(dy0[key]).max())


def test_sums_off_a_feedback_loop_keep_the_programs_order():
    prog = faustdiff.compile("process = _, _, _ :> _;")  # (x0 + x1) + x2
    x = np.random.default_rng(4).normal(size=(3, 2000)) * np.array([[1e8], [1.0], [-1e8]])
    np.testing.assert_array_equal(prog.render(x)[0], (x[0] + x[1]) + x[2])


def test_a_product_read_twice_is_rounded_once_for_both():
    prog = faustdiff.compile("process = _ * 0.1 <: _ + 1, _ + 2;")
    x = np.random.default_rng(5).normal(size=(1, 2000))
    y = prog.render(x)
    p = x[0] * 0.1
    np.testing.assert_array_equal(y[0], p + 1)
    np.testing.assert_array_equal(y[1], p + 2)


@pytest.mark.skipif(not HAS_FMA, reason="the machine has no fused multiply-add")
def test_a_product_read_once_is_fused_into_its_sum():
    prog = faustdiff.compile("process = _ * 0.1 + 1;")
    x = np.random.default_rng(6).normal(size=(1, 300))
    y = prog.render(x)[0]
    exact = [float(Fraction(v) * Fraction(0.1) + 1) for v in x[0]]  # one rounding
    np.testing.assert_array_equal(y, exact)
    assert (y != x[0] * 0.1 + 1).any()  # (two roundings differ somewhere)


def _loop_ops(prog, with_tangents=False):
    tangents = prog._packs_of(False) if with_tangents else []
    block = plan_kernel(prog.output_signals, tangents, prog._specs).main
    return [stmt.op for stmt in block.loop if isinstance(stmt, Assign)]


def test_a_product_by_two_is_added_as_two_additions():
    """2·x + y as (x + x) + y: doubling is exact, so it rounds once like the multiply-add
    it replaces, and it leaves the multiply ports to other products; tangent packs too."""
    prog = faustdiff.compile('p = hslider("p[diff:1]", 0.3, 0, 1, 0.01);'
                             "process = *(p) <: _, _' * 2 + _;")
    ops = _loop_ops(prog, with_tangents=True)
    assert "fma" not in ops and "pfma" not in ops
    assert ops.count("+") == 2 and ops.count("padd") == 2
    x = np.random.default_rng(9).normal(size=(1, 300))
    y, dy = prog.jvp(x)
    a = x[0] * 0.3
    before = np.concatenate([[0.0], a[:-1]])
    exact = [float(2 * Fraction(u) + Fraction(v)) for u, v in zip(before, a)]
    np.testing.assert_array_equal(y[1], exact)
    np.testing.assert_array_equal(dy["p"][1], np.concatenate([[0.0], x[0, :-1]]) * 2 + x[0])


def test_a_product_by_two_on_a_feedback_loop_stays_a_multiply_add():
    # w = x + 2·w': the product waits on the state, and a multiply-add is ready sooner
    # than x + (w' + w')
    assert "fma" in _loop_ops(faustdiff.compile("process = + ~ *(2);"))


def test_a_recursion_fed_by_another_keeps_its_own_loop_short():
    """A chain of one-pole filters: each state's update adds the previous filter's output
    (late in the sample, but not on this filter's loop) before its own state."""
    outputs = []
    signal = input_sig(0)
    for k in range(3):
        g = RecGroup(1)
        g.bodies = (apply("+", apply("*", const(0.5 + 0.1 * k), recref(g, 0)),
                          apply("+", apply("*", const(0.3), signal), const(0.01))),)
        signal = g.bodies[0]
    outputs.append(signal)
    block = plan_kernel(outputs).main
    assert max(_loop_steps_between(block, st.local, value)
               for st, value in block.rec_updates) == 1
    prog = Program(Propagated(tuple(outputs), 1, ()))
    x = np.random.default_rng(7).normal(size=(1, 500))
    y = prog.render(x)[0]
    want, states = [], [0.0, 0.0, 0.0]
    for v in x[0]:
        s = v
        for k in range(3):
            states[k] = (0.5 + 0.1 * k) * states[k] + (0.3 * s + 0.01)
            s = states[k]
        want.append(s)
    np.testing.assert_allclose(y, want, rtol=1e-13, atol=1e-13)


def test_a_recursions_output_delayed_reads_its_state():
    """`w'` of a recursion's output w is the recursion's own state, and `w''` that state's
    one-sample delay: the kernel keeps one copy of the past, not two."""
    prog = faustdiff.compile("process = + ~ *(0.5) <: _', _'', _@3, _@7;")
    w_state, two, three, seven = prog.output_signals
    assert w_state.op == "recref"
    assert (two.op, two.args[0], two.args[1].value) == ("delay", w_state, 1)
    assert (three.op, three.args[0], three.args[1].value) == ("delay", w_state, 2)
    assert seven.args[0].op != "recref"  # (a ring buffer either way: left as written)
    x = np.random.default_rng(8).normal(size=(1, 400))
    w = np.zeros(400)
    for t in range(400):
        w[t] = x[0, t] + 0.5 * (w[t - 1] if t else 0.0)
    y = prog.render(x)
    for row, k in zip(y, (1, 2, 3, 7)):
        np.testing.assert_allclose(row, np.concatenate([np.zeros(k), w[:-k]]), rtol=1e-14)
    prog = faustdiff.compile(BIQUAD)
    biquad = plan_kernel(prog.output_signals, [], prog._specs).main
    assert len(biquad.rec_states) + sum(len(line.shift_register)
                                        for line in biquad.delay_lines) == 2  # w', w''

"""The tangent graph is reordered for speed (`faustdiff/diff/chains.py`): the values stay
those of the chain rule, and the tangent state of a recursive filter waits on one
multiply-add per sample."""
import numpy as np
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import faustdiff
from faustdiff.diff.tangents import differentiate_packed, unpack
from faustdiff.signals.analysis import AUDIO, collect, infer_rates
from faustdiff.signals.interpret import interpret
from faustdiff.signals.nodes import const
from test_codegen import PARAMS, graphs

# the graphs' own parameters, both differentiated (two lanes)


def lanes(outputs, shorten, n, x, values):
    packs = differentiate_packed(list(outputs), PARAMS, shorten=shorten)
    per_param = unpack(packs, PARAMS)
    return [interpret([const(0.0) if t is None else t for t in tangents], n, x, values)
            for tangents in per_param]


@settings(max_examples=30, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(outputs=graphs(), a=st.floats(0, 1))
def test_reordered_tangents_equal_the_chain_rule(outputs, a):
    n = 30
    x = np.random.default_rng(0).uniform(-2, 2, size=(2, n))
    values = {PARAMS[0]: a, PARAMS[1]: 2.0}
    for got, want in zip(lanes(outputs, True, n, x, values), lanes(outputs, False, n, x, values)):
        both = np.isfinite(got) & np.isfinite(want)
        assert (np.isfinite(got) == np.isfinite(want)).all()
        np.testing.assert_allclose(got[both], want[both], rtol=1e-9, atol=1e-9)


def _additions_per_sample(group, index) -> float:
    """The most pack additions (each may absorb a scaling: one multiply-add) between
    reading the state of recref(group, index) and computing its next value, body `index`,
    per sample of the read's age: a state read k samples old (`recref` is 1 sample old,
    `delay(recref, j)` j + 1) has k samples to go round its loop."""
    order, _ = collect([group.bodies[index]], follow_recursion=False)
    ages = {}
    for s in order:
        if s.op == "recref" and s.attr == (group, index):
            ages[id(s)] = 1
        elif (s.op == "delay" and s.args[0].op == "recref" and s.args[0].attr == (group, index)
              and s.args[1].op == "const"):
            ages[id(s)] = s.args[1].value + 1
    worst = 0.0
    for age_id, age in ages.items():
        depth = {age_id: 0}
        for s in order:
            if s.op == "delay" or id(s) in depth:
                continue
            reached = [depth[id(a)] for a in s.args if id(a) in depth]
            if reached:
                depth[id(s)] = max(reached) + (s.op == "padd")
        worst = max(worst, depth.get(id(group.bodies[index]), 0) / age)
    return worst


def test_tangent_state_of_a_biquad_waits_on_one_multiply_add_per_sample():
    """From the last sample's tangent state one multiply-add, and from the one before two
    (it has two samples to go round the loop): before, that older state was added first
    and waited on three additions, and the loop ran at half the primal's speed."""
    prog = faustdiff.compile('import("stdfaust.lib"); process = fi.resonlp('
                             'hslider("fc[diff:1]", 1000, 50, 5000, 1), '
                             'hslider("q[diff:1]", 2, 0.5, 10, 0.01), 1);')
    outputs, params = prog.output_signals, prog._diff_specs()
    for shorten, most in ((False, 2.0), (True, 1.0)):
        packs = differentiate_packed(outputs, params, shorten=shorten)
        _, groups = collect([p for p in packs if p is not None])
        rates = [_additions_per_sample(g, i) for g in groups if g.lanes is not None
                 for i, b in enumerate(g.bodies) if b is not None]
        assert rates and max(rates) == most, (shorten, rates)


def _state_rates(code: str):
    prog = faustdiff.compile(code)
    packs = differentiate_packed(prog.output_signals, prog._diff_specs(), shorten=True)
    _, groups = collect([p for p in packs if p is not None])
    return {f"{g.name}[{i}]": _additions_per_sample(g, i) for g in groups
            if g.lanes is not None for i, b in enumerate(g.bodies) if b is not None}


def test_a_cascades_later_filters_do_not_wait_on_the_earlier_ones_states():
    """In fi.lowpass(8) (four biquads in a row) each section's tangent sum has a term from
    the sections before it, through their tangent states and a long chain. That term is
    not on this section's loop (the earlier loops run ahead), so it is added before this
    section's own state: two additions per sample from the state to the next, where
    ordering it as the latest of all states made three."""
    rates = _state_rates('import("stdfaust.lib"); process = fi.lowpass(8, '
                         'hslider("fc[diff:1]", 2000, 50, 15000, 1));')
    assert len(rates) == 4 and max(rates.values()) == 2.0, rates


def test_an_envelope_smoother_after_a_follower_waits_on_one_multiply_add():
    """The compressor's gain smoother reads the envelope follower's tangent (a loop before
    it): its own state takes one multiply-add per sample to the next."""
    with open("scripts/bench_programs/compressor.dsp") as f:
        rates = _state_rates(f.read())
    assert rates and set(rates.values()) == {1.0}, rates


def _loop_widenings(prog, shorten: bool) -> int:
    """Widenings of a pack computed every sample in the tangent graph."""
    packs = differentiate_packed(prog.output_signals, prog._diff_specs(), shorten=shorten)
    order, _ = collect([p for p in packs if p is not None])
    rates = infer_rates(order)
    return sum(s.op == "pexpand" and rates[id(s)] == AUDIO for s in order)


def test_no_term_is_widened_in_the_loop_when_its_pack_can_be_widened_per_call():
    """Four delayed and scaled copies of the input and one term of lane c summed. In
    Faust's normal form each copy is x@i·(a·k_i·b), its tangent a scaling of a per-call
    pack of lanes a and b. As the chain rule writes them, three widenings a sample; the
    per-call packs are widened once per call instead, and the loop widens nothing
    (Karplus-Strong's jvp x0.89 in paired runs; before, the terms of the same lanes were
    added, then widened: one widening a sample)."""
    prog = faustdiff.compile(
        'a = hslider("a[diff:1]", 0.5, 0, 0.9, 0.01); b = hslider("b[diff:1]", 1, 0, 2, 0.01);'
        'c = hslider("c[diff:1]", 1, 0, 2, 0.01);'
        'process = _ <: par(i, 4, _ @ i * (a * (1 + i / 10)) * b), _ * c :> _;')
    assert _loop_widenings(prog, False) >= 3 and _loop_widenings(prog, True) == 0
    x = np.random.default_rng(2).normal(size=(1, 300))
    _, dy = prog.jvp(x)
    step = 1e-6
    for name in ("a", "b", "c"):
        value = {"a": 0.5, "b": 1.0, "c": 1.0}[name]
        up = prog.render(x, params={name: value + step})
        down = prog.render(x, params={name: value - step})
        np.testing.assert_allclose(dy[name], (up - down) / (2 * step), rtol=1e-5, atol=1e-7)


def test_a_sum_with_a_tangent_state_keeps_its_narrow_scalings():
    """A recursion's tangent sum (the state's term among them) widens its narrow per-call
    scalings in the loop, as before: widened per call, they fused into multiply-adds on
    Freeverb's allpass loops and made its jvp 15% slower."""
    prog = faustdiff.compile(
        'a = hslider("a[diff:1]", 0.5, 0, 0.9, 0.01); b = hslider("b[diff:1]", 1, 0, 2, 0.01);'
        'process = *(b) : + ~ *(a);')
    assert _loop_widenings(prog, True) >= 1
    x = np.random.default_rng(5).normal(size=(1, 300))
    _, dy = prog.jvp(x)
    for name, value in (("a", 0.5), ("b", 1.0)):
        up = prog.render(x, params={name: value + 1e-6})
        down = prog.render(x, params={name: value - 1e-6})
        np.testing.assert_allclose(dy[name], (up - down) / 2e-6, rtol=1e-5, atol=1e-7)

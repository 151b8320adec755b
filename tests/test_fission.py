"""Loop fission (codegen/fission.py): a sample loop run as stages over blocks of samples
computes the same bits as one loop, outputs and tangents, across calls and block edges."""
import numpy as np
import pytest

import faustdiff

# Recursions, library calls between them, a value that crosses stages as an int, shift
# registers and a ring buffer fed by a call, tangent packs crossing stages.
SYNTH = """
f = hslider("f[diff:1]", 440, 50, 1000, 1);
g = hslider("g[diff:1]", 0.5, 0, 0.99, 0.01);
phase = (+(f / 44100) : \\(x).(x - floor(x))) ~ _;
steps = int(phase * 16);
tone = sin(6.283185307179586 * phase) + float(steps % 3) * 0.1;
smooth(c) = *(1 - c) : + ~ *(c);
process = _ + tone : smooth(g) : exp <: @(3) * log(abs(_) + 1),
          (_ : smooth(0.9) : atan), (_ <: @(min(100, max(0, int(phase * 100)))) + _');
"""

COMPRESSOR = """
import("stdfaust.lib");
process = co.compressor_mono(hslider("ratio[diff:1]", 4, 1, 20, 0.1),
                             hslider("thresh[diff:1]", -20, -60, 0, 0.1),
                             hslider("att[diff:1]", 0.01, 0.001, 0.2, 0.001), 0.2);
"""

# outputs that are a recursion's state (`rec'`, and its tangent), stored by a stage
# before a later one, the call's, writes the outputs
STATE_OUTPUT = """
g = hslider("g[diff:1]", 0.5, 0, 0.9, 0.01);
process = _ <: ((+ ~ *(g)) : mem), atan;
"""

# no state, but tangent packs: exp and log10 run in a stage of their own, the packs in another
STATELESS_TANGENTS = """
g = hslider("g[diff:1]", 2, 0, 4, 0.1);
process = *(g) : exp <: _, log10(abs(_) + 1e-3);
"""

# two oscillators, each a phase recursion and a table read, the first modulating the
# second: no library call, but the jvp loop is cut between them (stage_cost.py)
FM_PAIR = """
import("stdfaust.lib");
ratio = hslider("ratio[diff:1]", 220, 10, 2000, 0.1);
index = hslider("index[diff:1]", 2, 0, 10, 0.01);
process = _ + os.osci(440 + os.osci(ratio) * index * ratio) * 0.5;
"""

# four biquads in series, nearly all floating-point: a sample's path through them is long,
# and the floating-point window holds few samples; cut between the second and the third
LOWPASS8 = """
import("stdfaust.lib");
process = fi.lowpass(8, hslider("cutoff[diff:1]", 2000, 50, 15000, 1));
"""

# a recursion that reads the result of a call: one stage, never split
CALL_IN_FEEDBACK = """
process = + ~ (sin : *(0.5));
"""


def _compile(code, block, monkeypatch, precision):
    monkeypatch.setenv("FAUSTDIFF_FISSION_BLOCK", str(block))
    return faustdiff.compile(code, precision=precision)


def _run_in_pieces(prog, x, pieces):
    """Outputs and tangents over x, rendered in calls of the given lengths."""
    outs, tans, at = [], [], 0
    for k, n in enumerate(pieces):
        y, t = prog.jvp(x[:, at:at + n], reset=k == 0)
        outs.append(y)
        tans.append(np.stack([t[key] for key in sorted(t)]))
        at += n
    return np.concatenate(outs, axis=-1), np.concatenate(tans, axis=-1)


def _is_staged(prog) -> bool:
    return "for _k_t in range" in prog._kernel(True).source


@pytest.mark.parametrize("precision", ["double", "single"])
@pytest.mark.parametrize("code", [SYNTH, COMPRESSOR, STATE_OUTPUT, STATELESS_TANGENTS, FM_PAIR,
                                  LOWPASS8],
                         ids=["synth", "compressor", "state_output", "stateless_tangents",
                              "fm_pair", "lowpass8"])
def test_stages_compute_the_bits_of_one_loop(code, precision, monkeypatch):
    x = np.random.default_rng(1).uniform(-1, 1, (1, 700))
    pieces = [100, 37, 1, 262, 300]
    one_loop = _compile(code, 0, monkeypatch, precision)
    assert not _is_staged(one_loop)
    want_y, want_t = _run_in_pieces(one_loop, x, pieces)
    assert np.all(np.isfinite(want_y)) and np.any(want_t != 0)
    for block in (5, 64):
        staged = _compile(code, block, monkeypatch, precision)
        assert _is_staged(staged)
        y, t = _run_in_pieces(staged, x, pieces)
        np.testing.assert_array_equal(y, want_y)
        np.testing.assert_array_equal(t, want_t)
        np.testing.assert_array_equal(staged.render(x), one_loop.render(x))


def test_a_call_inside_a_recursion_stays_one_loop(monkeypatch):
    prog = _compile(CALL_IN_FEEDBACK, 64, monkeypatch, "double")
    assert not _is_staged(prog)


def _stage_loops(source: str) -> list:
    """The bodies of a staged kernel's per-sample loops."""
    return [body.split("\n        t = _t0_t")[0]
            for body in source.split("for _j_t in range(_e_t - _b_t):")[1:]]


@pytest.mark.parametrize("code", [COMPRESSOR, STATELESS_TANGENTS], ids=["compressor", "stateless"])
def test_exp_and_log_stages_hold_no_tangent_pack(code, monkeypatch):
    """The stages of exp, log and pow are plain float arithmetic, which LLVM vectorizes;
    a pack (an LLVM vector already) would stop it, so the tangents are scaled elsewhere."""
    source = _compile(code, 64, monkeypatch, "double")._kernel(True).source
    loops = _stage_loops(source)
    costly = [body for body in loops if "fd_log10(" in body or "fd_pow_base(" in body
              or "fd_exp(" in body]
    assert costly and len(costly) < len(loops)
    for body in costly:
        assert "fd_v" not in body


def test_a_jvp_bound_by_the_window_is_cut_between_its_oscillators(monkeypatch):
    """The FM pair's jvp loop is long and deep, and the core's window holds few of its
    samples: it runs as two loops, the modulator's then the carrier's. Its render loop,
    shorter, stays one: cut, each oscillator's loop would wait on its own recursion."""
    prog = _compile(FM_PAIR, 64, monkeypatch, "double")
    assert "for _k_t in range" not in prog._kernel(False).source
    modulator, carrier = _stage_loops(prog._kernel(True).source)
    assert modulator.count("np.floor(") == 2 and carrier.count("np.floor(") == 2
    assert "tangents[" not in modulator and "tangents[" in carrier


def test_a_cascade_bound_by_the_float_window_is_cut_in_two(monkeypatch):
    """The 8th-order lowpass is four biquads in series (two multiply-adds each for the
    output): render and jvp run as two loops of two biquads each, the tangents written
    by the second."""
    prog = _compile(LOWPASS8, 64, monkeypatch, "double")
    for with_tangents in (False, True):
        first, second = _stage_loops(prog._kernel(with_tangents).source)
        assert first.count("fd_fnma(") == 4 and second.count("fd_fnma(") == 4
        assert "tangents[" not in first
    assert "tangents[" in second

"""Derivatives through delay amounts and, in smooth mode, through int casts that feed
table indices and delay amounts."""
import numpy as np

import faustdiff

N = 2000
X = np.sin(np.arange(N) * 0.05)[None, :] + 0.1 * np.sin(np.arange(N) * 0.31)[None, :]


def central(prog, x, label, value, eps=1e-6):
    up = prog.render(x, n=N, params={label: value + eps})
    down = prog.render(x, n=N, params={label: value - eps})
    return (up - down) / (2 * eps)


def test_fractional_delay_derivative_is_exact():
    prog = faustdiff.compile('import("stdfaust.lib"); '
                             'process = de.fdelay(64, hslider("d[diff:1]", 10.3, 1, 60, 0.01));')
    _, dy = prog.jvp(X)
    np.testing.assert_allclose(dy["d"], central(prog, X, "d", 10.3), atol=1e-8)
    assert np.abs(dy["d"]).max() > 1e-2


def test_float_delay_amount_gets_a_one_sample_difference():
    prog = faustdiff.compile('process = _ @ hslider("d[diff:1]", 5.5, 0, 20, 0.01);')
    _, dy = prog.jvp(X)
    x = X[0]
    want = np.zeros(N)
    want[6:] += x[:-6]   # x@(d+1), d truncated to 5
    want[5:] -= x[:-5]   # - x@d
    np.testing.assert_allclose(dy["d"][0], want, atol=1e-15)


def test_int_delay_amount_is_zero_unless_smooth():
    prog = faustdiff.compile('process = _ @ int(hslider("d[diff:1]", 5.5, 0, 20, 0.01));')
    assert not np.any(prog.jvp(X)[1]["d"])
    smooth = prog.jvp(X, smooth=True)[1]["d"][0]
    assert np.abs(smooth).max() > 0.01


def test_table_oscillator_exact_derivative_is_zero():
    prog = faustdiff.compile('import("stdfaust.lib"); process = os.osc(hslider("f[diff:1]", 440, 20, 2000, 1));')
    assert not np.any(prog.jvp(n=N)[1]["f"])


def test_smooth_table_oscillator_matches_the_sine_of_a_phasor():
    osc = faustdiff.compile('import("stdfaust.lib"); process = os.osc(hslider("f[diff:1]", 440, 20, 2000, 1));')
    # the same oscillator without a table: os.osc starts at phase 0
    sine = faustdiff.compile('import("stdfaust.lib"); f = hslider("f[diff:1]", 440, 20, 2000, 1); '
                             'process = sin(2 * ma.PI * ((+(f / ma.SR) : ma.frac) ~ _)\');')
    np.testing.assert_allclose(osc.render(n=N), sine.render(n=N), atol=2e-4)
    smooth = osc.jvp(n=N, smooth=True)[1]["f"]
    exact = sine.jvp(n=N)[1]["f"]
    rel = np.sqrt(np.mean((smooth - exact) ** 2)) / np.sqrt(np.mean(exact ** 2))
    assert rel < 1e-3  # the table's own interpolation error (65536 points)


def test_smooth_mode_leaves_differentiable_programs_alone():
    prog = faustdiff.compile('import("stdfaust.lib"); process = fi.lowpass(2, hslider("fc[diff:1]", 1000, 20, 10000, 1));')
    exact = prog.jvp(X)[1]["fc"]
    assert np.array_equal(prog.jvp(X, smooth=True)[1]["fc"], exact)

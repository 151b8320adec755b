"""Losses of the trainer (`faustdiff/drivers/losses.py`): values and exact gradients.

The gradients come from forward-mode tangents; each is checked against central finite
differences of the same loss, on synthetic signals with known tangents and on real
programs whose tangents faustdiff computes.
"""
import numpy as np
import pytest

import faustdiff
from faustdiff.drivers import losses
from faustdiff.errors import FaustRuntimeError

N = 3000
T = np.arange(N)


def synthetic(a, b):
    """Two outputs, smooth in (a, b), with partial derivatives written by hand below."""
    return np.stack([a * np.sin(0.05 * T) * np.exp(-T / 2000) + 0.3 * np.tanh(b * np.cos(0.011 * T)),
                     a * np.sin(0.002 * b * T)])


def synthetic_tangents(a, b):
    da = np.stack([np.sin(0.05 * T) * np.exp(-T / 2000), np.sin(0.002 * b * T)])
    db = np.stack([0.3 * np.cos(0.011 * T) / np.cosh(b * np.cos(0.011 * T)) ** 2,
                   a * 0.002 * T * np.cos(0.002 * b * T)])
    return {"a": da, "b": db}


@pytest.fixture(scope="module")
def target():
    rng = np.random.default_rng(7)
    return synthetic(0.8, 1.3) + 0.01 * rng.standard_normal((2, N))


def central_difference(loss, point, name, h):
    up, down = dict(point), dict(point)
    up[name] += h
    down[name] -= h
    return (loss(**up) - loss(**down)) / (2 * h)


@pytest.mark.parametrize("text", ["l1", "l2", "mss", "l2+0.5*mss", "2*l1+mss"])
def test_gradient_of_synthetic_signal_matches_finite_differences(target, text):
    fn = losses.parse_loss(text)
    point = {"a": 0.5, "b": 2.0}
    value, grads = fn(synthetic(**point), target, synthetic_tangents(**point))
    assert value > 0

    def loss(a, b):
        return fn(synthetic(a, b), target, {})[0]
    for name in point:
        expected = central_difference(loss, point, name, 1e-6)
        assert grads[name] == pytest.approx(expected, rel=1e-5, abs=1e-9), name


LOWPASS = ('import("stdfaust.lib");\n'
           'process = fi.lowpass(2, hslider("fc[diff:1][scale:log]", 700, 50, 10000, 1)) '
           '* hslider("g[diff:1]", 0.8, 0, 2, 0.01);\n')
RESONATOR = ('import("stdfaust.lib");\nr = hslider("r[diff:1]", 0.9, 0, 0.99, 0.0001);\n'
             'w = 2 * ma.PI * 800 / ma.SR;\n'
             'process = fi.tf2(1 - r, 0, 0, -2 * r * cos(w), r * r);\n')


@pytest.fixture(scope="module")
def noise():
    return np.random.default_rng(3).uniform(-1, 1, (1, 4096))


@pytest.mark.parametrize("code, point, steps", [
    (LOWPASS, {"fc": 700.0, "g": 0.8}, {"fc": 1e-3, "g": 1e-6}),
    (RESONATOR, {"r": 0.9}, {"r": 1e-7}),
], ids=["lowpass", "resonator"])
def test_mss_gradient_of_a_program_matches_finite_differences(noise, code, point, steps):
    prog = faustdiff.compile(code)
    target_params = {name: value * 1.2 if name != "r" else 0.95 for name, value in point.items()}
    target = prog.render(x=noise, params=target_params)
    fn = losses.parse_loss("mss")
    y, dy = prog.jvp(x=noise, params=point)
    _, grads = fn(y, target, dy)

    def loss(**values):
        return fn(prog.render(x=noise, params=values), target, {})[0]
    for name in point:
        expected = central_difference(loss, point, name, steps[name])
        assert grads[name] == pytest.approx(expected, rel=1e-4), name


def test_l2_and_l1_values_are_means_over_outputs_and_samples():
    y = np.array([[1.0, 2.0, 3.0], [0.0, 0.0, 0.0]])
    t = np.zeros_like(y)
    assert losses.l2_loss(y, t, {})[0] == pytest.approx(14 / 6)
    assert losses.l1_loss(y, t, {})[0] == pytest.approx(6 / 6)


def test_l1_gradient_uses_sign_zero_at_exact_match():
    y = np.array([[1.0, 0.5, -2.0]])
    t = np.array([[0.0, 0.5, 0.0]])
    dy = {"p": np.array([[10.0, 100.0, 1.0]])}
    _, grads = losses.l1_loss(y, t, dy)
    assert grads["p"] == pytest.approx((10.0 + 0.0 - 1.0) / 3)


def test_mss_is_zero_at_the_target_with_zero_gradient(target):
    dy = synthetic_tangents(0.8, 1.3)
    value, grads = losses.parse_loss("mss")(target, target, dy)
    assert value == 0.0
    assert grads == {"a": 0.0, "b": 0.0}


def test_mss_of_silence_has_a_finite_gradient(target):
    """|X| = 0 on every bin: the magnitude's derivative is taken as 0, not 0/0."""
    silence = np.zeros_like(target)
    value, grads = losses.mss_loss(silence, target, synthetic_tangents(0.5, 2.0))
    assert np.isfinite(value) and value > 0
    assert all(np.isfinite(g) for g in grads.values())
    assert grads == {"a": 0.0, "b": 0.0}


def test_mss_sums_one_term_per_fft_size(target):
    y = synthetic(0.5, 2.0)
    total = losses.mss_loss(y, target, {}, fft_sizes=(256, 64))[0]
    parts = [losses.mss_loss(y, target, {}, fft_sizes=(size,))[0] for size in (256, 64)]
    assert total == pytest.approx(sum(parts))


def test_stft_frames_cover_the_signal_with_75_percent_overlap():
    x = np.ones((1, 1000))
    spectrum = losses.stft(x, 256)
    hop = 64
    assert spectrum.shape == (1, 1 + -(-(1000 - 256) // hop), 129)
    # A periodic Hann window at 75% overlap sums to a constant (2): every interior sample
    # is weighted equally, so no part of the clip counts more than another.
    window = losses._hann(256)
    total = np.zeros(256 + 7 * hop)
    for k in range(8):
        total[k * hop:k * hop + 256] += window
    np.testing.assert_allclose(total[256 - hop:7 * hop + hop], 2.0)


def test_stft_of_a_short_signal_is_one_padded_frame():
    x = np.arange(10.0)[None, :]
    spectrum = losses.stft(x, 64)
    assert spectrum.shape == (1, 1, 33)
    padded = np.zeros(64)
    padded[:10] = x[0]
    np.testing.assert_allclose(spectrum[0, 0], np.fft.rfft(padded * losses._hann(64)))


def test_bound_loss_equals_the_unbound_one(target):
    fn = losses.parse_loss("l1+0.25*mss")
    y, dy = synthetic(0.6, 1.1), synthetic_tangents(0.6, 1.1)
    assert fn.bind(target)(y, dy) == fn(y, target, dy)


@pytest.mark.parametrize("text", ["l1", "l2", "l2+2*l1"])
def test_bound_loss_reuses_nothing_stale_between_calls(target, text):
    """A bound loss keeps its temporaries from call to call: each call's value and
    gradient must still be those of its own signals, and equal the plain formulas."""
    fn = losses.parse_loss(text)
    bound = fn.bind(target)
    for a, b in [(0.5, 2.0), (0.9, 0.7), (0.5, 2.0)]:
        y, dy = synthetic(a, b), synthetic_tangents(a, b)
        delta = y - target
        expected, expected_grads = 0.0, {"a": 0.0, "b": 0.0}
        for weight, name in fn.terms:
            coefficient = 2 * delta if name == "l2" else np.sign(delta)
            expected += weight * np.mean(delta * delta if name == "l2" else np.abs(delta))
            for label in expected_grads:
                expected_grads[label] += weight * np.mean(coefficient * dy[label])
        value, grads = bound(y, dy)
        assert value == pytest.approx(expected, rel=1e-12)
        for label in expected_grads:
            assert grads[label] == pytest.approx(expected_grads[label], rel=1e-12, abs=1e-15)


def test_parse_loss_terms_and_text():
    fn = losses.parse_loss(" l2 + 0.5*mss ")
    assert fn.terms == ((1.0, "l2"), (0.5, "mss"))
    assert fn.text == "l2+0.5*mss"
    assert losses.parse_loss("1e-2*l1").terms == ((0.01, "l1"),)


@pytest.mark.parametrize("text", ["l3", "", "l2+", "0.5 mss", "-1*l2", "mss*2"])
def test_parse_loss_rejects_bad_text(text):
    with pytest.raises(FaustRuntimeError, match="cannot read the loss"):
        losses.parse_loss(text)

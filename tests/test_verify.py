"""Finite-difference checks of the derivatives (`faustdiff verify`)."""
import numpy as np
import pytest
from click.testing import CliRunner

import faustdiff
from faustdiff.cli.main import cli
from faustdiff.drivers import verify as verifying

NOISE = """\
random = +(12345) ~ *(1103515245);
process = random / 2147483647.0;
"""
GAIN_DIFF = 'process = _ * hslider("g[diff:1]", 0.1, 0, 1, 0.001);\n'
POLE_DIFF = 'process = + ~ *(hslider("a[diff:1]", 0.3, -0.9, 0.9, 0.001));\n'
SINE_DIFF = 'process = sin(_ * hslider("f[diff:1]", 2, 0, 10, 0.001));\n'
# A generator (no inputs): y[n] = 1 + a y[n-1].
GENERATOR_DIFF = 'process = 1 : + ~ *(hslider("a[diff:1]", 0.5, 0, 0.9, 0.001));\n'


@pytest.fixture(scope="module")
def noise():
    return np.asarray(faustdiff.compile(NOISE).render(n=100), dtype=np.float64)


@pytest.fixture
def dsp(tmp_path):
    def write(name, text):
        path = tmp_path / f"{name}.dsp"
        path.write_text(text)
        return str(path)
    return write


# ----------------------------------------------------------------------------- definitions

def test_relative_error_definition():
    check = verifying.ParameterCheck("p", 1.0, 1e-6, np.array([[1.0, 0.0, 2.0, -4.0]]),
                                     np.array([[1.1, 0.0, 2.0, -3.0]]))
    np.testing.assert_allclose(check.delta, [[0.1, 0.0, 0.0, 1.0]])
    np.testing.assert_allclose(check.relative, [[0.1 / 1.1, 0.0, 0.0, 0.25]])
    assert check.mean_delta == pytest.approx(0.275)
    assert check.std_delta == pytest.approx(np.std([0.1, 0, 0, 1.0], ddof=1))
    assert check.max_relative == pytest.approx(0.25)


def test_relative_error_floor_at_near_zero_derivative():
    # 1e-12 against a peak of 1: compared with the floor 1e-6, not with itself.
    check = verifying.ParameterCheck("p", 0.0, 1e-6, np.array([[1.0, 1e-12]]),
                                     np.array([[1.0, 2e-12]]))
    assert check.relative[0, 1] == pytest.approx(1e-12 / 1e-6)


def test_default_epsilons():
    assert verifying.default_epsilon(central=False) == 1e-8
    assert verifying.default_epsilon(central=True) == 1e-5
    assert verifying.default_epsilon(central=False, precision="single") == 1e-3


# ----------------------------------------------------------------------------- programs

def test_gain_derivative_is_the_input(noise):
    result = verifying.verify(faustdiff.compile(GAIN_DIFF), noise)
    (check,) = result.checks
    assert check.label == "g"
    np.testing.assert_allclose(check.autodiff, noise, rtol=1e-12)
    assert check.mean_relative < 1e-6
    assert check.autodiff.shape == (1, 100)


@pytest.mark.parametrize("code", [POLE_DIFF, SINE_DIFF])
def test_forward_and_central_agree_with_autodiff(code, noise):
    prog = faustdiff.compile(code)
    forward = verifying.verify(prog, noise)
    central = verifying.verify(prog, noise, central=True)
    assert forward.checks[0].mean_relative < 1e-4
    assert central.checks[0].mean_relative < 1e-7
    # The central scheme is the more accurate one on smooth programs.
    assert central.checks[0].mean_delta < forward.checks[0].mean_delta


def test_generator_needs_no_input():
    result = verifying.verify(faustdiff.compile(GENERATOR_DIFF), None, samples=50,
                              central=True)
    check = result.checks[0]
    # y[n] = sum_{k<=n} a^k, so dy[n]/da = sum_{k<=n} k a^(k-1).
    a, n = 0.5, np.arange(50)
    exact = np.array([sum(k * a ** (k - 1) for k in range(1, i + 1)) for i in n])
    np.testing.assert_allclose(check.autodiff[0], exact, rtol=1e-12, atol=1e-15)
    assert check.mean_relative < 1e-7


def test_finite_differences_detect_a_wrong_derivative(noise):
    """The checker must notice disagreement: compare the gain's tangent with a scaled one."""
    good = verifying.verify(faustdiff.compile(GAIN_DIFF), noise).checks[0]
    wrong = verifying.ParameterCheck("g", good.value, good.step, 1.01 * good.autodiff,
                                     good.finite)
    assert wrong.mean_relative > 1e-3 > good.mean_relative


# ----------------------------------------------------------------------------- CLI

def test_cli_table_and_summary(dsp):
    result = CliRunner().invoke(cli, ["verify", "--input", dsp("noise", NOISE),
                                      "--diff", dsp("pole", POLE_DIFF), "--iterations", "30"])
    assert result.exit_code == 0, result.output
    out = result.output
    assert "Parameter: a" in out
    for column in ("Sample", "Autodiff", "Finite diff", "|delta|", "Rel. error"):
        assert column in out
    assert "Mean |delta|" in out and "Std. dev. |delta|" in out and "Mean rel. error" in out
    assert "30 samples" in out
    rows = [line for line in out.splitlines() if line.split() and line.split()[0].isdigit()]
    assert len(rows) == 30


def test_cli_quiet_and_tolerance(dsp):
    noise, sine = dsp("noise", NOISE), dsp("sine", SINE_DIFF)
    runner = CliRunner()
    ok = runner.invoke(cli, ["verify", "--input", noise, "--diff", sine, "--quiet",
                             "--central", "--tolerance", "1e-6"])
    assert ok.exit_code == 0, ok.output
    assert "Autodiff" not in ok.output and "Mean rel. error" in ok.output
    assert "central" in ok.output
    # Forward differences cannot reach 1e-15: the tolerance turns that into exit status 1.
    strict = runner.invoke(cli, ["verify", "--input", noise, "--diff", sine, "-q",
                                 "--tolerance", "1e-15"])
    assert strict.exit_code == 1
    assert "FAIL" in strict.output


def test_cli_epsilon_option(dsp):
    result = CliRunner().invoke(cli, ["verify", "--input", dsp("noise", NOISE),
                                      "--diff", dsp("gain", GAIN_DIFF), "-q", "--epsilon", "1e-4"])
    assert result.exit_code == 0, result.output
    assert "epsilon 0.0001" in result.output


def test_cli_diff_without_diff_slider(dsp):
    result = CliRunner().invoke(cli, ["verify", "--input", dsp("noise", NOISE),
                                      "--diff", dsp("plain", "process = _ * 0.5;\n")])
    assert result.exit_code == 2
    assert "[diff:1]" in result.stderr and "Traceback" not in result.stderr

"""The bundled examples: with default settings `train` recovers every hidden value, and
`verify` finds the derivatives within 1e-6 of finite differences (all but `delay`, whose
gradient is a documented one-sample-difference surrogate of a piecewise-constant
function: finite differences see zero there)."""
from pathlib import Path

import numpy as np
import pytest

from faustdiff.drivers import train as training
from faustdiff.drivers import verify as verifying

ROOT = Path(__file__).resolve().parent.parent
EXAMPLES = ROOT / "examples"
NAMES = sorted(p.name for p in EXAMPLES.iterdir() if (p / "diff.dsp").exists())


def hidden_values() -> dict:
    """{example: {label: hidden value}} from the table in examples/README.md."""
    table = {}
    for line in (EXAMPLES / "README.md").read_text().splitlines():
        cells = [c.strip() for c in line.strip().strip("|").split("|")]
        if len(cells) == 5 and cells[0] in NAMES:
            table.setdefault(cells[0], {})[cells[1]] = float(cells[2])
    return table


@pytest.mark.parametrize("name", NAMES)
def test_example_converges_with_default_settings(name):
    setup = training.prepare(str(EXAMPLES / name / "diff.dsp"), str(EXAMPLES / name / "gt.dsp"),
                             str(EXAMPLES / "noise.dsp"))
    result = training.train(setup.diff, setup.ground_truth, setup.input_signal)
    for label, hidden in hidden_values()[name].items():
        param = setup.diff.params[setup.diff.param_index(label)]
        assert result.values[label] == pytest.approx(hidden, abs=0.01 * (param.max - param.min)), label


def test_delay_surrogate_is_a_one_sample_difference():
    setup = training.prepare(str(EXAMPLES / "delay" / "diff.dsp"), str(EXAMPLES / "delay" / "gt.dsp"),
                             str(EXAMPLES / "noise.dsp"), iterations=64)
    x = setup.input_signal
    _, dy = setup.diff.jvp(x, params={"delay": 2.0})
    want = np.zeros_like(x)
    want[0, 3:] = x[0, :-3]
    want[0, 2:] -= x[0, :-2]
    np.testing.assert_allclose(dy["delay"], want, atol=1e-15)


@pytest.mark.parametrize("name", [n for n in NAMES if n != "delay"])
def test_example_derivatives_match_finite_differences(name):
    result = verifying.verify_files(str(EXAMPLES / name / "diff.dsp"), str(EXAMPLES / "noise.dsp"))
    for check in result.checks:
        assert check.relative.mean() < 1e-6, check.label

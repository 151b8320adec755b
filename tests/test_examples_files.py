"""Every example and corpus program compiles and renders with the real Faust compiler.

These tests check the .dsp files themselves, not faustdiff: that the examples are valid
Faust whose gt/diff pairs fit together as examples/README.md says, and that the corpus
programs render finite, non-trivial signals with the inputs they declare.
"""

import re
from pathlib import Path

import numpy as np
import pytest

from reference import (
    CORPUS_DIR,
    corpus_inputs,
    corpus_programs,
    faust_available,
    faust_io,
    faust_parameters,
    render_with_faust,
)

pytestmark = [
    pytest.mark.reference,
    pytest.mark.skipif(not faust_available(), reason="dawdreamer (the real Faust compiler) is not installed"),
]

EXAMPLES_DIR = Path(__file__).resolve().parents[1] / "examples"
EXAMPLE_NAMES = sorted(p.name for p in EXAMPLES_DIR.iterdir() if (p / "diff.dsp").is_file())
INPUT_SIGNALS = ["noise.dsp", "ramp.dsp"]
NUM_SAMPLES = 4096
CORPUS_SAMPLES = 256
# gt and diff at the same values may differ by float32 rounding (constants folded at
# compile time on one side, computed at run time on the other).
SAME_PROGRAM_TOLERANCE = 1e-6

DIFF_LABEL = re.compile(r'"([^"\[]*)(?:\[[^\]]*\])*\[diff:(?:1|on)\]')


def read_example(name: str, which: str) -> str:
    return (EXAMPLES_DIR / name / f"{which}.dsp").read_text()


def render_example(name: str, which: str, x: np.ndarray, params=None) -> np.ndarray:
    # Examples import their own libraries from their folder, as faustdiff resolves them.
    return render_with_faust(read_example(name, which), len(x[0]), inputs=x, params=params, import_dirs=[EXAMPLES_DIR / name])


def readme_rows() -> list[dict]:
    """Rows of the examples table in examples/README.md."""
    rows = []
    for line in (EXAMPLES_DIR / "README.md").read_text().splitlines():
        cells = [c.strip() for c in line.strip().strip("|").split("|")]
        if len(cells) == 5 and cells[0] in EXAMPLE_NAMES:
            name, label, hidden, start, _ = cells
            rows.append({"example": name, "label": label, "hidden": float(hidden), "start": float(start)})
    return rows


@pytest.fixture(scope="module")
def noise() -> np.ndarray:
    return render_with_faust((EXAMPLES_DIR / "noise.dsp").read_text(), NUM_SAMPLES)


def test_the_classic_examples_are_all_there():
    expected = {"gain", "gain_dc", "gain_exp", "gain_pow", "gain_sq", "gain_pow_trig", "one_zero", "fir_comb", "mem", "delay", "recursion", "tremolo"}
    assert expected <= set(EXAMPLE_NAMES)


def test_noise_is_white_noise_in_unit_range(noise):
    assert noise.shape == (1, NUM_SAMPLES)
    assert np.all(np.abs(noise) <= 1)
    assert abs(noise.mean()) < 0.05
    assert noise.std() == pytest.approx(1 / np.sqrt(3), rel=0.05)  # uniform on [-1, 1]
    # white: consecutive samples are uncorrelated
    assert abs(np.corrcoef(noise[0, :-1], noise[0, 1:])[0, 1]) < 0.1


def test_ramp_rises_from_zero_and_wraps():
    ramp = render_with_faust((EXAMPLES_DIR / "ramp.dsp").read_text(), 2500)[0]
    assert ramp[0] == 0
    assert np.all((ramp >= 0) & (ramp < 1))
    steps = np.diff(ramp)
    assert np.sum(steps < 0) == 2  # wraps at 1000 and 2000 samples
    assert np.allclose(steps[steps > 0], 1 / 1000, atol=1e-6)


@pytest.mark.parametrize("name", INPUT_SIGNALS)
def test_input_signals_have_no_inputs_and_one_output(name):
    assert faust_io((EXAMPLES_DIR / name).read_text()) == (0, 1)


@pytest.mark.parametrize("name", EXAMPLE_NAMES)
def test_gt_and_diff_have_one_input_and_matching_outputs(name):
    io = {which: faust_io(read_example(name, which), import_dirs=[EXAMPLES_DIR / name]) for which in ("gt", "diff")}
    assert io["gt"] == io["diff"]
    assert io["gt"][0] == 1


@pytest.mark.parametrize("name", EXAMPLE_NAMES)
@pytest.mark.parametrize("which", ["gt", "diff"])
def test_example_renders_finite_nonzero_audio(name, which, noise):
    y = render_example(name, which, noise)
    assert y.shape[1] == NUM_SAMPLES
    assert np.all(np.isfinite(y))
    assert np.any(y != 0)


@pytest.mark.parametrize("name", EXAMPLE_NAMES)
def test_examples_use_only_core_faust(name):
    for path in (EXAMPLES_DIR / name).iterdir():
        if path.suffix in (".dsp", ".lib"):
            imports = re.findall(r'import\s*\(\s*"([^"]+)"', path.read_text())
            assert set(imports) <= {"tremolo.lib"}, f"{path} imports {imports}"


@pytest.mark.parametrize("name", EXAMPLE_NAMES)
def test_readme_lists_every_learnable_parameter_with_its_start(name):
    code = read_example(name, "diff")
    learnable = DIFF_LABEL.findall(code)
    rows = [row for row in readme_rows() if row["example"] == name]
    assert learnable, f"{name}/diff.dsp has no [diff:1] slider"
    assert sorted(row["label"] for row in rows) == sorted(learnable)
    init = {p.label: p.init for p in faust_parameters(code, import_dirs=[EXAMPLES_DIR / name])}
    for row in rows:
        assert init[row["label"]] == pytest.approx(row["start"], abs=1e-6)
        assert row["start"] != row["hidden"], "a diff.dsp must start away from the target"


@pytest.mark.parametrize("name", EXAMPLE_NAMES)
def test_diff_at_hidden_values_reproduces_gt(name, noise):
    rows = [row for row in readme_rows() if row["example"] == name]
    hidden = {row["label"]: row["hidden"] for row in rows}
    gt = render_example(name, "gt", noise)
    at_target = render_example(name, "diff", noise, params=hidden)
    at_start = render_example(name, "diff", noise)
    assert np.max(np.abs(at_target - gt)) < SAME_PROGRAM_TOLERANCE
    assert np.mean((at_start - gt) ** 2) > 1e-4


# --- the core-language corpus ---------------------------------------------------------

CORPUS = corpus_programs()


def test_corpus_is_large_enough():
    assert len(CORPUS) >= 50


def test_corpus_readme_describes_every_program():
    readme = (CORPUS_DIR / "README.md").read_text()
    described = set(re.findall(r"^\| ([\w]+)\.dsp \|", readme, flags=re.M))
    assert described == {p.name for p in CORPUS}


@pytest.mark.parametrize("program", CORPUS, ids=lambda p: p.name)
def test_corpus_program_renders(program):
    assert "import(" not in program.code, "the corpus is core language only"
    num_inputs, num_outputs = faust_io(program.code)
    assert num_inputs == program.num_inputs, "the '// inputs: K' comment is wrong"
    x = corpus_inputs(num_inputs, CORPUS_SAMPLES) if num_inputs else None
    y = render_with_faust(program.code, CORPUS_SAMPLES, inputs=x)
    assert y.shape == (num_outputs, CORPUS_SAMPLES)
    assert np.all(np.isfinite(y))
    assert np.any(y != 0)


# --- the harness these tests rely on ----------------------------------------------------


@pytest.mark.parametrize("n", [1, 15, 23, 1000, 44099])
def test_harness_renders_exactly_n_samples(n):
    # render(seconds) truncates; n = 15 at 44100 Hz used to come back one sample short.
    y = render_with_faust("process = 1 : + ~ _;", n)
    assert y.shape == (1, n)
    assert y[0, -1] == n


def test_harness_inputs_are_not_clobbered_by_earlier_outputs():
    # dawdreamer computes in place: without the padding, output 0 overwrites input 0.
    x = np.array([[0.5, -0.25, 0.125]])
    y = render_with_faust("process = 1, _;", 3, inputs=x)
    assert np.array_equal(y, [[1, 1, 1], [0.5, -0.25, 0.125]])


def test_harness_sets_parameters_by_label_or_path():
    code = 'process = hgroup("A", hslider("g[diff:1]", 0.5, 0, 1, 0.01)), hslider("k", 1, 0, 4, 1);'
    y = render_with_faust(code, 2, params={"g[diff:1]": 0.25, "/dawdreamer/k": 3})
    assert np.array_equal(y, [[0.25, 0.25], [3, 3]])
    with pytest.raises(KeyError):
        render_with_faust(code, 2, params={"missing": 1})


def test_harness_reports_faust_compile_errors():
    from reference import FaustCompileError

    with pytest.raises(FaustCompileError, match="undefined symbol : foo"):
        render_with_faust("process = foo;", 4)

"""`faustdiff train` with default settings recovers hidden values: every bundled example
but `delay` (whose surrogate gradient is for the per-sample mode), and the filter,
resonator, drive and EQ problems of tests/programs/train/, with the ground truth given
as a Faust program and as a WAV file rendered by the real Faust compiler.

Recovered means within 1% of the slider's range. The runs go through the CLI with no
training option: only where to write the learned values (--save) and no table or CSV.
"""
import json
from pathlib import Path

import numpy as np
import pytest
import soundfile
from click.testing import CliRunner

import faustdiff
from faustdiff.cli.main import cli
from reference import faust_available, render_with_faust

ROOT = Path(__file__).resolve().parent.parent
EXAMPLES = ROOT / "examples"
PROBLEMS = Path(__file__).resolve().parent / "programs" / "train"
NOISE = EXAMPLES / "noise.dsp"
# One second of the noise input for the WAV runs, as the default clip of a generator.
WAV_SAMPLES = 44100


def hidden_values(readme: Path, folder: Path) -> dict:
    """{name: {label: hidden value}} from the table of a README (`| name | label | value |`)."""
    table = {}
    for line in readme.read_text().splitlines():
        cells = [c.strip() for c in line.strip().strip("|").split("|")]
        if len(cells) == 5 and (folder / cells[0] / "diff.dsp").exists():
            table.setdefault(cells[0], {})[cells[1]] = float(cells[2])
    return table


CASES = {f"examples/{name}": (EXAMPLES / name, values)
         for name, values in hidden_values(EXAMPLES / "README.md", EXAMPLES).items()
         if name != "delay"}
CASES.update({f"train/{name}": (PROBLEMS / name, values)
              for name, values in hidden_values(PROBLEMS / "README.md", PROBLEMS).items()})


def test_every_folder_has_hidden_values():
    """The README tables parse: no example or problem is silently left out."""
    for root, prefix, skipped in [(EXAMPLES, "examples/", {"delay"}), (PROBLEMS, "train/", set())]:
        folders = {p.name for p in root.iterdir() if (p / "diff.dsp").exists()} - skipped
        assert folders and folders == {name[len(prefix):] for name in CASES
                                       if name.startswith(prefix)}


def train_with_defaults(tmp_path, diff: Path, gt: str, input_path: str) -> dict:
    save = tmp_path / "values.json"
    result = CliRunner().invoke(cli, ["train", "--input", input_path, "--gt", gt,
                                      "--diff", str(diff), "--save", str(save), "-q",
                                      "--no-csv"])
    assert result.exit_code == 0, result.output
    return json.loads(save.read_text())


def assert_recovered(diff: Path, learned: dict, hidden: dict) -> None:
    params = {p.label: p for p in faustdiff.compile_file(str(diff)).params}
    for label, value in hidden.items():
        p = params[label]
        assert learned["values"][label] == pytest.approx(value, abs=0.01 * (p.max - p.min)), \
            (label, learned)


@pytest.mark.parametrize("case", sorted(CASES))
def test_defaults_recover_the_hidden_values(case, tmp_path):
    folder, hidden = CASES[case]
    learned = train_with_defaults(tmp_path, folder / "diff.dsp", str(folder / "gt.dsp"),
                                  str(NOISE))
    assert_recovered(folder / "diff.dsp", learned, hidden)
    assert learned["stop_reason"] in ("converged", "plateau")


@pytest.mark.reference
@pytest.mark.skipif(not faust_available(), reason="needs dawdreamer (the real Faust compiler)")
@pytest.mark.parametrize("case", sorted(CASES))
def test_defaults_recover_the_hidden_values_from_a_faust_rendered_wav(case, tmp_path):
    folder, hidden = CASES[case]
    x = faustdiff.compile_file(str(NOISE)).render(n=WAV_SAMPLES)
    gt = render_with_faust((folder / "gt.dsp").read_text(), WAV_SAMPLES, x,
                           import_dirs=[folder])
    # Both as 32-bit float: Faust computed GT from float32 input samples, so DIFF reads
    # exactly those samples too.
    soundfile.write(str(tmp_path / "in.wav"), x.T, 44100, subtype="FLOAT")
    soundfile.write(str(tmp_path / "gt.wav"), gt.T, 44100, subtype="FLOAT")
    assert np.abs(gt).max() > 0.01                      # a real target, not silence
    learned = train_with_defaults(tmp_path, folder / "diff.dsp", str(tmp_path / "gt.wav"),
                                  str(tmp_path / "in.wav"))
    assert_recovered(folder / "diff.dsp", learned, hidden)

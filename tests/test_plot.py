"""Training plots: the figure is written, is a PNG, and has the expected panels."""

import subprocess
import sys
from pathlib import Path

import pytest

from faustdiff.drivers.plotting import plot_training_csv, read_training_csv

REPO = Path(__file__).resolve().parents[1]
PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"


def write_csv(path: Path, header: str, rows: list[list[float]]) -> Path:
    lines = [header] + [",".join(repr(v) for v in row) for row in rows]
    path.write_text("\n".join(lines) + "\n")
    return path


def descent_rows(steps: int = 20) -> list[list[float]]:
    """A synthetic run fitting gain -> 0.5 and dc -> -0.25, plus an extra column."""
    rows, gain, dc = [], 0.2, 0.1
    for i in range(steps):
        grad_gain, grad_dc = 2 * (gain - 0.5), 2 * (dc + 0.25)
        loss = (gain - 0.5) ** 2 + (dc + 0.25) ** 2
        rows.append([i, loss, grad_gain, grad_dc, gain, dc, 0.1])
        gain, dc = gain - 0.1 * grad_gain, dc - 0.1 * grad_dc
    return rows


def assert_png(path: Path) -> None:
    assert path.is_file()
    data = path.read_bytes()
    assert data.startswith(PNG_SIGNATURE)
    assert len(data) > 1000  # a real figure, not just a header


def test_plot_two_parameters(tmp_path):
    csv_path = write_csv(tmp_path / "loss.csv", "iteration,loss,gradient_gain,gradient_dc,gain,dc,learning_rate", descent_rows())
    png = tmp_path / "plots" / "loss.png"
    titles = plot_training_csv(csv_path, png)
    assert titles == [
        "loss vs iteration",
        "gain vs iteration",
        "dc vs iteration",
        "loss vs gain",
        "loss vs dc",
    ]
    assert_png(png)


def test_read_ignores_extra_columns(tmp_path):
    rows = descent_rows(5)
    csv_path = write_csv(tmp_path / "loss.csv", "iteration,loss,gradient_gain,gradient_dc,gain,dc,learning_rate", rows)
    history = read_training_csv(csv_path)
    assert list(history.values) == ["gain", "dc"]
    assert history.values["dc"] == [row[5] for row in rows]
    assert history.loss == [row[1] for row in rows]


def test_parameter_named_like_a_trainer_column_keeps_its_values(tmp_path):
    # `faustdiff train` appends learning_rate and time; a slider labelled "time" comes first.
    csv_path = write_csv(tmp_path / "loss.csv", "iteration,loss,gradient_time,time,learning_rate,time",
                         [[1, 1.0, 0.5, 0.25, 0.01, 0.003], [2, 0.5, 0.2, 0.3, 0.01, 0.004]])
    history = read_training_csv(csv_path)
    assert history.values == {"time": [0.25, 0.3]}


def test_half_written_last_row_is_skipped(tmp_path):
    # train flushes row by row, so a plot taken during a run can see a partial last line.
    csv_path = tmp_path / "loss.csv"
    csv_path.write_text("iteration,loss,gradient_g,g\n0,1.0,0.5,0.1\n1,0.5,0.25,0.2\n2,0.2")
    history = read_training_csv(csv_path)
    assert history.iteration == [0.0, 1.0]
    assert history.values["g"] == [0.1, 0.2]


def test_plot_loss_with_zero_and_negative_values(tmp_path):
    # A loss that reaches 0 cannot go on a log axis; the plot must still be drawn.
    csv_path = write_csv(tmp_path / "loss.csv", "iteration,loss,gradient_a,a", [[0, 1.0, -1.0, 0.0], [1, 0.0, 0.0, 1.0], [2, -0.5, 0.5, 1.5]])
    titles = plot_training_csv(csv_path, tmp_path / "loss.png")
    assert titles == ["loss vs iteration", "a vs iteration", "loss vs a"]
    assert_png(tmp_path / "loss.png")


def test_missing_value_column_is_an_error(tmp_path):
    csv_path = write_csv(tmp_path / "loss.csv", "iteration,loss,gradient_gain", [[0, 1.0, 0.5]])
    with pytest.raises(ValueError, match="gain"):
        plot_training_csv(csv_path, tmp_path / "loss.png")
    assert not (tmp_path / "loss.png").exists()


def test_header_must_start_with_iteration_and_loss(tmp_path):
    csv_path = write_csv(tmp_path / "loss.csv", "step,loss", [[0, 1.0]])
    with pytest.raises(ValueError, match="iteration"):
        plot_training_csv(csv_path, tmp_path / "loss.png")


def test_script_wrapper(tmp_path):
    csv_path = write_csv(tmp_path / "loss.csv", "iteration,loss,gradient_gain,gain", [[i, 1.0 / (i + 1), 0.1, 0.5 + i] for i in range(4)])
    png = tmp_path / "out.png"
    result = subprocess.run(
        [sys.executable, str(REPO / "scripts" / "plot.py"), str(csv_path), "-o", str(png)],
        capture_output=True,
        text=True,
    )
    assert result.returncode == 0, result.stderr
    assert_png(png)

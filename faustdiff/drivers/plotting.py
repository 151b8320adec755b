"""Plots of a training run, drawn from the CSV the train driver writes.

The CSV header is ``iteration,loss,gradient_<label>...,<label>...``: one gradient column
and one value column per learnt parameter; any further columns are ignored. The figure
has the loss against the iteration, then each parameter's value against the iteration,
then the loss against each parameter's value (where the loss landscape shows).
"""

from __future__ import annotations

import csv
import math
from dataclasses import dataclass
from pathlib import Path

GRADIENT_PREFIX = "gradient_"
# Panels per row in the per-parameter rows, so runs with many parameters stay readable.
MAX_COLUMNS = 4


@dataclass(frozen=True)
class TrainingHistory:
    """The columns of a training CSV that the plots use."""

    iteration: list[float]
    loss: list[float]
    values: dict[str, list[float]]  # parameter label -> value at each iteration


def read_training_csv(csv_path: str | Path) -> TrainingHistory:
    """Parse a training CSV; raises ValueError when required columns are missing."""
    with open(csv_path, newline="") as handle:
        rows = list(csv.reader(handle))
    if not rows:
        raise ValueError(f"{csv_path}: empty file")
    # A run being written may end in a half-written row: plot only the complete ones.
    header, body = rows[0], [row for row in rows[1:] if len(row) >= len(rows[0])]
    if header[:2] != ["iteration", "loss"]:
        raise ValueError(f"{csv_path}: header must start with 'iteration,loss', got {header[:2]}")
    if not body:
        raise ValueError(f"{csv_path}: no data rows")
    # The first column of a name: a parameter labelled like a later extra column (the
    # trainer appends `learning_rate` and `time`) keeps its own values.
    column = {}
    for i, name in enumerate(header):
        column.setdefault(name, i)
    labels = _parameter_labels(header, csv_path)

    def floats(name: str) -> list[float]:
        return [float(row[column[name]]) for row in body]

    return TrainingHistory(
        iteration=floats("iteration"),
        loss=floats("loss"),
        values={label: floats(label) for label in labels},
    )


def _parameter_labels(header: list[str], csv_path) -> list[str]:
    """Labels named by the gradient columns, each of which needs its value column."""
    labels = [name[len(GRADIENT_PREFIX):] for name in header if name.startswith(GRADIENT_PREFIX)]
    missing = [label for label in labels if label not in header]
    if missing:
        raise ValueError(f"{csv_path}: no value column for parameter(s) {missing}")
    return labels


def _all_positive(values: list[float]) -> bool:
    finite = [v for v in values if math.isfinite(v)]
    return bool(finite) and all(v > 0 for v in finite)


def plot_training_csv(csv_path: str | Path, png_path: str | Path) -> list[str]:
    """Draw the training plots of ``csv_path`` into ``png_path``; return the panel titles.

    Titles come in drawing order: ``loss vs iteration``, then ``<label> vs iteration`` for
    each parameter, then ``loss vs <label>`` for each parameter.
    """
    import matplotlib

    matplotlib.use("Agg")  # files only: works without a display, e.g. in CI
    import matplotlib.pyplot as plt

    history = read_training_csv(csv_path)
    labels = list(history.values)
    columns = max(1, min(len(labels), MAX_COLUMNS))
    rows_per_group = math.ceil(len(labels) / columns)
    figure = plt.figure(figsize=(4 * columns + 1, 3 * (1 + 2 * rows_per_group)), layout="constrained")
    grid = figure.add_gridspec(1 + 2 * rows_per_group, columns)
    log_loss = _all_positive(history.loss)

    titles = []
    axes = figure.add_subplot(grid[0, :])
    axes.plot(history.iteration, history.loss)
    _decorate(axes, "loss vs iteration", "iteration", "loss", log_loss)
    titles.append("loss vs iteration")

    for i, label in enumerate(labels):
        axes = figure.add_subplot(grid[1 + i // columns, i % columns])
        axes.plot(history.iteration, history.values[label])
        title = f"{label} vs iteration"
        _decorate(axes, title, "iteration", label, log_y=False)
        titles.append(title)

    for i, label in enumerate(labels):
        axes = figure.add_subplot(grid[1 + rows_per_group + i // columns, i % columns])
        _plot_path(axes, history.values[label], history.loss)
        title = f"loss vs {label}"
        _decorate(axes, title, label, "loss", log_loss)
        titles.append(title)

    Path(png_path).parent.mkdir(parents=True, exist_ok=True)
    figure.savefig(png_path, dpi=100)
    plt.close(figure)
    return titles


def _plot_path(axes, xs: list[float], ys: list[float]) -> None:
    """The optimiser's path through (value, loss), its start and end marked."""
    axes.plot(xs, ys, marker=".", markersize=3, linewidth=0.8)
    axes.plot(xs[:1], ys[:1], "o", color="tab:green", label="start")
    axes.plot(xs[-1:], ys[-1:], "s", color="tab:red", label="end")
    axes.legend(loc="best", fontsize="small")


def _decorate(axes, title: str, xlabel: str, ylabel: str, log_y: bool) -> None:
    axes.set_title(title)
    axes.set_xlabel(xlabel)
    axes.set_ylabel(ylabel)
    if log_y:
        axes.set_yscale("log")
    axes.grid(True, alpha=0.3)

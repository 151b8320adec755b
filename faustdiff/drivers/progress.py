"""What a training run shows while it goes and when it ends.

Observers receive one `Step` per iteration: the console table (stdout), the CSV log, and
the live progress bar (stderr). `format_summary` writes the closing summary. None of them
changes the run; the trainer calls them and nothing else.
"""
from __future__ import annotations

import csv
import math
import sys
import time
from dataclasses import dataclass
from typing import IO, List, Optional, Sequence

import numpy as np

from faustdiff.errors import FaustRuntimeError


@dataclass
class Step:
    """One iteration as the observers see it; arrays are reused, so copy what you keep.

    `values` are the parameters AFTER this iteration's update (the loss was computed with
    the values before it). `ground_truth` and `learnable` are the first output's sample
    in the per-sample mode and NaN otherwise.
    """

    iteration: int
    loss: float
    gradients: np.ndarray
    values: np.ndarray
    updated: bool
    learning_rate: float
    elapsed: float
    ground_truth: float = math.nan
    learnable: float = math.nan


class TrainingObserver:
    """Hooks called by `train`."""

    def start(self, labels: Sequence[str], values: np.ndarray) -> None:
        pass

    def step(self, step: Step) -> None:
        pass

    def finish(self, result) -> None:
        pass


COLUMN_WIDTH = 15


def _fit(label: str) -> str:
    """A label shortened to fit one column, keeping its end (usually the distinctive part)."""
    width = COLUMN_WIDTH - 1
    return label if len(label) <= width else "~" + label[-(width - 1):]


class ConsoleTable(TrainingObserver):
    """A header every `every` rows, then one row per iteration.

    Per-sample mode keeps Faust's columns (Iter, Ground truth, Learnable, Loss, values);
    the clip and block modes have no single sample to show, so they show the learning rate.
    """

    def __init__(self, stream: IO[str] = None, every: int = 20, per_sample: bool = True):
        self.stream = stream if stream is not None else sys.stdout
        self.every = every
        self.per_sample = per_sample
        self.labels: List[str] = []

    def start(self, labels, values):
        self.labels = list(labels)

    def _header(self) -> str:
        first = (["Ground truth", "Learnable", "Loss"] if self.per_sample
                 else ["Loss", "Learning rate"])
        names = first + [_fit(lb) for lb in self.labels]
        line = "-" * (6 + COLUMN_WIDTH * len(names))
        return (f"{line}\n{'Iter':>6}" + "".join(f"{s:>{COLUMN_WIDTH}}" for s in names)
                + f"\n{line}\n")

    def step(self, step):
        text = self._header() if (step.iteration - 1) % self.every == 0 else ""
        if self.per_sample:
            text += (f"{step.iteration:>6}{step.ground_truth:>{COLUMN_WIDTH}.10f}"
                     f"{step.learnable:>{COLUMN_WIDTH}.10f}{step.loss:>{COLUMN_WIDTH}.4e}")
        else:
            text += (f"{step.iteration:>6}{step.loss:>{COLUMN_WIDTH}.6e}"
                     f"{step.learning_rate:>{COLUMN_WIDTH}.4e}")
        text += "".join(f"{v:>{COLUMN_WIDTH}.10g}" if not self.per_sample
                        else f"{v:>{COLUMN_WIDTH}.10f}" for v in step.values.tolist())
        self.stream.write(text + "\n")


EXTRA_COLUMNS = ["learning_rate", "time"]


def csv_header(labels: Sequence[str]) -> List[str]:
    """The original columns first (`faustdiff plot` and older scripts read those), then
    the learning rate and the seconds since the start of the descent."""
    return (["iteration", "loss"] + [f"gradient_{lb}" for lb in labels] + list(labels)
            + EXTRA_COLUMNS)


class CsvLog(TrainingObserver):
    """loss.csv, one row per iteration, flushed as written.

    Flushing each row lets a long run be watched (or plotted) while it goes, and leaves
    every finished iteration on disk when the run is interrupted.
    """

    def __init__(self, path: str):
        self.path = path
        self.file = None
        self.writer = None

    def start(self, labels, values):
        try:
            self.file = open(self.path, "w", newline="", encoding="utf-8")
        except OSError as e:
            raise FaustRuntimeError(
                f"cannot write the CSV file {self.path}: {e.strerror}") from None
        self.writer = csv.writer(self.file)
        self.writer.writerow(csv_header(labels))
        self.file.flush()

    def step(self, step):
        # csv writes Python floats with repr(): the shortest text that reads back exactly.
        self.writer.writerow([step.iteration, step.loss, *step.gradients.tolist(),
                              *step.values.tolist(), step.learning_rate, step.elapsed])
        self.file.flush()

    def finish(self, result):
        self.close()

    def close(self):
        if self.file is not None:
            self.file.close()
            self.file = None


# The progress bar appears once a run has lasted DRAW_DELAY seconds (short runs print
# nothing) and is redrawn at most every DRAW_INTERVAL seconds (a redraw costs a write).
DRAW_DELAY = 0.5
DRAW_INTERVAL = 0.1


class ProgressBar(TrainingObserver):
    """`[#####.....] 120/500  loss 3.2e-05  1.4 s` on one stderr line, redrawn in place."""

    def __init__(self, total: int, stream: IO[str] = None, width: int = 30,
                 interval: Optional[float] = None, delay: Optional[float] = None):
        self.total = max(int(total), 1)
        self.stream = stream if stream is not None else sys.stderr
        self.width = width
        self.interval = DRAW_INTERVAL if interval is None else interval
        self.delay = DRAW_DELAY if delay is None else delay
        self.t0 = 0.0
        self.last_draw = -math.inf
        self.drawn = False

    def start(self, labels, values):
        self.t0 = time.perf_counter()

    def step(self, step):
        now = time.perf_counter()
        if now - self.t0 < self.delay or now - self.last_draw < self.interval:
            return
        self.last_draw = now
        self._draw(step.iteration, step.loss, now - self.t0)

    def _draw(self, iteration: int, loss: float, elapsed: float) -> None:
        filled = int(self.width * min(iteration / self.total, 1.0))
        bar = "#" * filled + "." * (self.width - filled)
        self.stream.write(f"\r[{bar}] {iteration}/{self.total}  loss {loss:.4e}  "
                          f"{elapsed:.1f} s ")
        self.stream.flush()
        self.drawn = True

    def finish(self, result):
        if self.drawn:
            # Clear the bar's line so the summary starts on a clean one.
            self.stream.write("\r" + " " * (self.width + 60) + "\r")
            self.stream.flush()


# ----------------------------------------------------------------------------- summary

STOP_REASONS = {
    "max-iterations": "reached the maximum number of iterations",
    "converged": "loss reached the threshold (early stop)",
    "plateau": "loss stopped improving (early stop)",
    "diverged": "loss or a parameter became non-finite (diverged; try a smaller learning rate)",
    "input-exhausted": "ran out of input samples",
    "interrupted": "interrupted (Ctrl-C)",
}


def format_summary(result) -> str:
    lines = ["", "Summary", "======="]
    width = max(len(lb) for lb in result.labels)
    for label, start, end in zip(result.labels, result.initial_values, result.final_values):
        lines.append(f"  {label:<{width}}  {start:.10g} -> {end:.10g}")
    rate = result.iterations / result.elapsed if result.elapsed > 0 else float("inf")
    lines.append(f"  final loss:  {result.final_loss:.6e}")
    if getattr(result, "best_iteration", None) is not None and result.mode != "sample":
        lines.append(f"  best at:     iteration {result.best_iteration} "
                     "(the values above are that iteration's)")
    lines += [
        f"  iterations:  {result.iterations} ({STOP_REASONS[result.stop_reason]})",
        f"  time:        {result.elapsed:.3f} s ({rate:,.0f} iterations/s)",
    ]
    return "\n".join(lines)

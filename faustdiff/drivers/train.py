"""Per-sample gradient descent: fit the `[diff:1]` parameters of DIFF to a ground truth.

This is the scheme of Faust's autodiff architecture (`architecture/autodiff/autodiff.cpp`
on the unmerged `-diff` branch): one input signal feeds the ground truth GT and the
learnable program DIFF; every iteration renders ONE sample, compares DIFF's output with
GT's, and moves each parameter against the loss gradient before the next sample. DIFF's
state (delay lines, recursions and their tangents) carries over from one iteration to the
next, so iteration i sees sample i of a continuous signal, just as Faust's one-sample
audio buffer did.

Per iteration, with δ_o = y_o − gt_o for each output o:
    l2: loss = Σ_o δ_o²      ∂loss/∂p = Σ_o 2·δ_o·∂y_o/∂p
    l1: loss = Σ_o |δ_o|     ∂loss/∂p = Σ_o sign(δ_o)·∂y_o/∂p   (sign(0) = 0)
    p ← p − lr·∂loss/∂p       only while loss > sensitivity
Training stops after `iterations` samples, or early once the loss has stayed at or below
the sensitivity for more than `patience` (20) consecutive iterations.

`train` works on arrays and compiled programs; `train_files` loads IN/GT/DIFF from paths.
Reporting (console table, CSV) is done by observers so the loop itself stays lean.
"""
from __future__ import annotations

import csv
import math
import sys
import time
from dataclasses import dataclass, field
from typing import IO, List, Optional, Sequence

import numpy as np

from faustdiff.errors import FaustRuntimeError
from faustdiff.drivers import signals_io

LOSSES = ("l1", "l2")


@dataclass(frozen=True)
class TrainOptions:
    loss: str = "l2"
    learning_rate: float = 0.1
    iterations: int = 10000
    sensitivity: float = 1e-7
    patience: int = 20          # early stop once loss <= sensitivity for MORE than this many
    early_stop: bool = True
    clamp: bool = False         # keep parameters inside their [min, max] (Faust does not)

    def check(self) -> None:
        if self.loss not in LOSSES:
            raise FaustRuntimeError(f"unknown loss function {self.loss!r} (choose l1 or l2)")
        if self.iterations < 1:
            raise FaustRuntimeError(f"--iterations must be at least 1, got {self.iterations}")
        if not math.isfinite(self.learning_rate):
            raise FaustRuntimeError(f"the learning rate must be finite, got {self.learning_rate}")


@dataclass
class TrainingHistory:
    """One entry per iteration run; parameter values are those AFTER that iteration's update."""

    loss: np.ndarray            # (iterations,)
    gradients: np.ndarray       # (iterations, params): d loss / d p at that sample
    values: np.ndarray          # (iterations, params)
    updated: np.ndarray         # (iterations,) bool: was the loss above the sensitivity
    ground_truth: np.ndarray    # (outputs, iterations)
    learnable: np.ndarray       # (outputs, iterations): DIFF's output with the values then

    def truncated(self, n: int) -> "TrainingHistory":
        return TrainingHistory(self.loss[:n], self.gradients[:n], self.values[:n],
                               self.updated[:n], self.ground_truth[:, :n], self.learnable[:, :n])


@dataclass
class TrainingResult:
    labels: List[str]
    initial_values: List[float]
    final_values: List[float]
    final_loss: float
    iterations: int
    stop_reason: str            # "max-iterations", "converged", "diverged" or "input-exhausted"
    elapsed: float              # seconds spent in the descent loop (compilation excluded)
    history: TrainingHistory
    options: TrainOptions
    notes: List[str] = field(default_factory=list)

    @property
    def values(self) -> dict:
        return dict(zip(self.labels, self.final_values))


class TrainingObserver:
    """Hooks called by `train`; arrays passed to `step` are reused, so copy what you keep."""

    def start(self, labels: Sequence[str], values: np.ndarray) -> None:
        pass

    def step(self, iteration: int, ground_truth: float, learnable: float, loss: float,
             updated: bool, gradients: np.ndarray, values: np.ndarray) -> None:
        pass

    def finish(self, result: TrainingResult) -> None:
        pass


def _loss_and_coefficients(kind: str):
    """(loss of δ, d loss / d y per output) for a loss name; δ = y − gt over the outputs."""
    if kind == "l2":
        def l2(delta):
            return float(delta @ delta), 2.0 * delta
        return l2

    def l1(delta):
        # sign(0) = 0: at an exact match l1 has no preferred direction (Faust does the same).
        return float(np.abs(delta).sum()), np.sign(delta)
    return l1


def require_diff_params(diff, name: str = "DIFF") -> None:
    if not diff.diff_params:
        raise FaustRuntimeError(
            f"{name} has no parameter marked [diff:1]: there is nothing to learn",
            hint='mark a slider to learn, e.g. hslider("gain[diff:1]", 0.5, 0, 1, 0.001)')


def check_signals(diff, input_signal: Optional[np.ndarray], ground_truth: np.ndarray,
                  diff_name: str = "DIFF", input_name: str = "the input signal",
                  gt_name: str = "the ground truth") -> None:
    """Raise a FaustRuntimeError unless the program and the signals fit together.

    A program without inputs ignores the input signal (as in Faust's architecture, where
    any input program will do for a generator).
    """
    require_diff_params(diff, diff_name)
    if diff.num_outputs == 0:
        raise FaustRuntimeError(f"{diff_name} has no outputs to compare with the ground truth")
    if ground_truth.shape[0] != diff.num_outputs:
        raise FaustRuntimeError(
            f"{gt_name} has {ground_truth.shape[0]} output(s) but {diff_name} has "
            f"{diff.num_outputs}")
    if diff.num_inputs > 0:
        if input_signal is None:
            raise FaustRuntimeError(
                f"{diff_name} has {diff.num_inputs} input(s): give an input signal with --input")
        if input_signal.shape[0] != diff.num_inputs:
            raise FaustRuntimeError(
                f"{diff_name} has {diff.num_inputs} input(s) but {input_name} has "
                f"{input_signal.shape[0]} channel(s)")


def train(diff, ground_truth: np.ndarray, input_signal: Optional[np.ndarray] = None,
          options: TrainOptions = TrainOptions(),
          observers: Sequence[TrainingObserver] = ()) -> TrainingResult:
    """Fit `diff`'s diff parameters so its output follows `ground_truth` (outputs, samples).

    `input_signal` (inputs, samples) feeds `diff`; it may be None for a program without
    inputs. At most min(options.iterations, available samples) iterations are run.
    """
    options.check()
    ground_truth = np.ascontiguousarray(ground_truth, dtype=np.float64)
    if input_signal is not None:
        input_signal = np.ascontiguousarray(input_signal, dtype=np.float64)
    check_signals(diff, input_signal, ground_truth)

    available = ground_truth.shape[1]
    if diff.num_inputs > 0:
        available = min(available, input_signal.shape[1])
    n = min(options.iterations, available)
    notes = []
    if n < options.iterations:
        notes.append(f"the signals have only {available} samples: "
                     f"training stops after {available} iterations")
    if n == 0:
        raise FaustRuntimeError("the input or ground-truth signal is empty")

    labels = signals_io.display_names(diff.diff_params)
    # Parameters are passed by path: labels can repeat across groups, paths cannot.
    keys = [p.path or p.label for p in diff.diff_params]
    initial = np.array([p.init for p in diff.diff_params], dtype=np.float64)
    lower = np.array([p.min for p in diff.diff_params], dtype=np.float64)
    upper = np.array([p.max for p in diff.diff_params], dtype=np.float64)

    x = input_signal if diff.num_inputs else None
    # Also the first jvp call, which builds the kernel: done before the clock starts.
    tangent_keys = _tangent_keys(diff, labels, x, dict(zip(keys, initial.tolist())))
    for obs in observers:
        obs.start(labels, initial.copy())
    t0 = time.perf_counter()
    # A diverging run overflows on its way to the "diverged" stop; that is reported, not warned.
    with np.errstate(over="ignore", invalid="ignore"):
        ran, reason, history = _descend(diff, x, ground_truth, n, tangent_keys, keys,
                                        initial, lower, upper, options, observers)
    elapsed = time.perf_counter() - t0
    if reason == "max-iterations" and n < options.iterations:
        reason = "input-exhausted"
    history = history.truncated(ran)
    result = TrainingResult(labels=labels, initial_values=initial.tolist(),
                            final_values=history.values[-1].tolist(),
                            final_loss=float(history.loss[-1]), iterations=ran,
                            stop_reason=reason, elapsed=elapsed, history=history,
                            options=options, notes=notes)
    for obs in observers:
        obs.finish(result)
    return result


def _descend(diff, x, gt, n, tangent_keys, keys, values, lower, upper, options, observers):
    """The loop proper: returns (iterations run, stop reason, history).

    Everything that can be prepared is prepared before the loop; inside it there is one
    jvp call and a few tiny array operations, with no dict or list built per iteration.
    """
    m = len(keys)
    values = values.copy()
    params = dict(zip(keys, values.tolist()))   # one dict, its values updated in place
    hist = TrainingHistory(loss=np.zeros(n), gradients=np.zeros((n, m)),
                           values=np.zeros((n, m)), updated=np.zeros(n, dtype=bool),
                           ground_truth=gt[:, :n].copy(), learnable=np.zeros((gt.shape[0], n)))
    loss_of = _loss_and_coefficients(options.loss)
    lr, sensitivity = options.learning_rate, options.sensitivity
    patience = options.patience if options.early_stop else n + 1
    slots = list(enumerate(zip(tangent_keys, keys)))
    inputs = _per_sample_inputs(x, n)
    gradients = np.zeros(m)
    low_count = 0
    for i in range(n):
        y, dy = diff.jvp(x=inputs[i], n=1, params=params, reset=(i == 0))
        y0 = y[:, 0]
        loss, coefficients = loss_of(y0 - gt[:, i])
        for j, (tangent_key, _) in slots:
            gradients[j] = coefficients @ dy[tangent_key][:, 0]
        updated = loss > sensitivity
        if updated:
            low_count = 0
            values -= lr * gradients
            if options.clamp:
                np.clip(values, lower, upper, out=values)
            for j, (_, key) in slots:
                params[key] = float(values[j])
        else:
            low_count += 1
        hist.loss[i], hist.updated[i] = loss, updated
        hist.gradients[i], hist.values[i], hist.learnable[:, i] = gradients, values, y0
        for obs in observers:
            obs.step(i + 1, float(gt[0, i]), float(y0[0]), loss, updated, gradients, values)
        if not (math.isfinite(loss) and np.isfinite(values).all()):
            return i + 1, "diverged", hist
        if low_count > patience:
            return i + 1, "converged", hist
    return n, "max-iterations", hist


def _tangent_keys(diff, names, x, params) -> List[str]:
    """jvp keys tangents by label, or by path when labels repeat: look each one up once."""
    _, probe = diff.jvp(x=None if x is None else x[:, :1], n=1, params=params)
    return [name if name in probe else p.path for name, p in zip(names, diff.diff_params)]


def _per_sample_inputs(x, n):
    """Sample i of x as an (inputs, 1) array, for every i; None for a program without inputs.

    The views share one transposed copy of x, so each is contiguous and none is copied.
    """
    if x is None:
        return [None] * n
    rows = np.ascontiguousarray(x[:, :n].T)
    return [row.reshape(x.shape[0], 1) for row in rows]


# ----------------------------------------------------------------------------- reporting

COLUMN_WIDTH = 15


class ConsoleTable(TrainingObserver):
    """Faust-style progress table: a header every `every` rows, then one row per iteration."""

    def __init__(self, stream: IO[str] = None, every: int = 20):
        self.stream = stream if stream is not None else sys.stdout
        self.every = every
        self.labels: List[str] = []

    def start(self, labels, values):
        self.labels = list(labels)

    def _header(self) -> str:
        names = ["Ground truth", "Learnable", "Loss"] + [_fit(lb) for lb in self.labels]
        line = "-" * (6 + COLUMN_WIDTH * len(names))
        return (f"{line}\n{'Iter':>6}" + "".join(f"{s:>{COLUMN_WIDTH}}" for s in names)
                + f"\n{line}\n")

    def step(self, iteration, ground_truth, learnable, loss, updated, gradients, values):
        text = ""
        if (iteration - 1) % self.every == 0:
            text = self._header()
        text += (f"{iteration:>6}{ground_truth:>{COLUMN_WIDTH}.10f}"
                 f"{learnable:>{COLUMN_WIDTH}.10f}{loss:>{COLUMN_WIDTH}.4e}")
        text += "".join(f"{v:>{COLUMN_WIDTH}.10f}" for v in values.tolist())
        self.stream.write(text + "\n")


def _fit(label: str) -> str:
    """A label shortened to fit one column, keeping its end (usually the distinctive part)."""
    width = COLUMN_WIDTH - 1
    return label if len(label) <= width else "~" + label[-(width - 1):]


def csv_header(labels: Sequence[str]) -> List[str]:
    return (["iteration", "loss"] + [f"gradient_{lb}" for lb in labels] + list(labels))


class CsvLog(TrainingObserver):
    """loss.csv: `iteration,loss,gradient_<p>...,<p>...`, one row per iteration, flushed.

    Rows are flushed as they are written so a long run can be watched (or plotted) while
    it goes, and an interrupted run leaves every finished iteration on disk.
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

    def step(self, iteration, ground_truth, learnable, loss, updated, gradients, values):
        # csv writes Python floats with repr(): the shortest text that reads back exactly.
        self.writer.writerow([iteration, loss, *gradients.tolist(), *values.tolist()])
        self.file.flush()

    def finish(self, result):
        self.close()

    def close(self):
        if self.file is not None:
            self.file.close()
            self.file = None


STOP_REASONS = {
    "max-iterations": "reached the maximum number of iterations",
    "converged": "loss stayed below the sensitivity (early stop)",
    "diverged": "loss or a parameter became non-finite (diverged; try a smaller learning rate)",
    "input-exhausted": "ran out of input samples",
}


def format_summary(result: TrainingResult) -> str:
    lines = ["", "Summary", "======="]
    width = max(len(lb) for lb in result.labels)
    for label, start, end in zip(result.labels, result.initial_values, result.final_values):
        lines.append(f"  {label:<{width}}  {start:.10g} -> {end:.10g}")
    rate = result.iterations / result.elapsed if result.elapsed > 0 else float("inf")
    lines += [
        f"  final loss:  {result.final_loss:.6e}",
        f"  iterations:  {result.iterations} ({STOP_REASONS[result.stop_reason]})",
        f"  time:        {result.elapsed:.3f} s ({rate:,.0f} iterations/s)",
    ]
    return "\n".join(lines)


# ----------------------------------------------------------------------------- from files

@dataclass
class TrainingSetup:
    diff: object
    ground_truth: np.ndarray
    input_signal: Optional[np.ndarray]
    sample_rate: int


def prepare(diff_path: str, gt_path: str, input_path: Optional[str] = None,
            iterations: int = 10000, sample_rate: Optional[int] = None,
            import_dirs: Sequence[str] = (), precision: str = "double") -> TrainingSetup:
    """Compile DIFF (and GT, when it is a program), and render the IN and GT signals.

    IN is rendered for all samples up front (it does not depend on the parameters), and so
    is GT: its parameters never change, so one block render equals per-sample rendering.
    A program with no inputs ignores IN, as in Faust's architecture.
    """
    rate = signals_io.choose_sample_rate(sample_rate, [input_path, gt_path])
    diff = signals_io.load_program(diff_path, "DIFF", rate, import_dirs, precision)
    require_diff_params(diff, f"DIFF {diff_path}")   # before spending time on IN and GT
    x = None
    if input_path is not None:
        x = signals_io.render_source(input_path, iterations, "IN", rate, import_dirs, precision)
    if signals_io.is_dsp_path(gt_path):
        gt_prog = signals_io.load_program(gt_path, "GT", rate, import_dirs, precision)
        gt = _render_ground_truth(gt_prog, gt_path, x, iterations)
    else:
        gt = signals_io.read_audio(gt_path, "GT").signal[:, :iterations]
    check_signals(diff, x, gt, diff_name=f"DIFF {diff_path}", input_name=f"IN {input_path}",
                  gt_name=f"GT {gt_path}")
    return TrainingSetup(diff, gt, x, rate)


def _render_ground_truth(gt_prog, gt_path, x, n) -> np.ndarray:
    if gt_prog.num_inputs == 0:
        return np.asarray(gt_prog.render(n=n), dtype=np.float64)
    if x is None:
        raise FaustRuntimeError(
            f"GT {gt_path} has {gt_prog.num_inputs} input(s): give an input with --input")
    if x.shape[0] != gt_prog.num_inputs:
        raise FaustRuntimeError(
            f"GT {gt_path} has {gt_prog.num_inputs} input(s) but the input signal has "
            f"{x.shape[0]} channel(s)")
    return np.asarray(gt_prog.render(x=x, n=x.shape[1]), dtype=np.float64)

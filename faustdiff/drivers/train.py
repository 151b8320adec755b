"""Gradient descent: fit the `[diff:1]` parameters of DIFF to one or more ground truths.

Three modes, all driven by the forward-mode tangents that `Program.jvp` computes:

clip (default)
    Every iteration renders the whole clip (each target's, from a cleared state), takes
    the loss of the clip (`l1`, `l2`, `mss` or a weighted sum, see `losses.py`) and its
    exact gradient, and makes one update. Parameters move in normalised slider units
    (`optimizers.ParameterSpace`) with Adam, clamped to their slider range. The loss is
    deterministic, so the run keeps the best values seen and stops on a loss threshold or
    a plateau.
block
    Streaming: one update per block of `block_size` samples, the program's state carried
    from one block to the next, as a real-time learner would. At the end of a signal the
    stream starts again from a cleared state.
sample
    The scheme of Faust's autodiff architecture (`architecture/autodiff/autodiff.cpp` on
    the unmerged `-diff` branch), kept exactly: one sample per iteration, state carried
    over, per-sample loss and plain SGD on the raw parameter values:
        l2: loss = Σ_o δ_o²      ∂loss/∂p = Σ_o 2·δ_o·∂y_o/∂p
        l1: loss = Σ_o |δ_o|     ∂loss/∂p = Σ_o sign(δ_o)·∂y_o/∂p   (sign(0) = 0)
        p ← p − lr·∂loss/∂p       only while loss > sensitivity
    stopping after `iterations` samples, or once the loss has stayed at or below the
    sensitivity for more than `patience` (20) consecutive iterations.

Several targets (each with its own input) form a batch: their losses and gradients are
averaged. Non-finite outputs, tangents or losses make the clip and block modes back off
(restore the best values, halve the learning rate) a few times before giving up.
Ctrl-C stops the run after the current iteration, with a complete history.

`train` works on arrays and compiled programs; `prepare` loads IN/GT/DIFF from paths;
`save_values` and `learned_source` write the results. Reporting (console table, CSV,
progress bar, summary) lives in `progress.py` and is attached as observers.
"""
from __future__ import annotations

import dataclasses
import json
import math
import signal as signals
import threading
import time
from collections import deque
from dataclasses import dataclass, field
from typing import Deque, Dict, List, Optional, Sequence, Tuple, Union

import numpy as np

from faustdiff.drivers import losses as loss_functions
from faustdiff.drivers import optimizers as optim
from faustdiff.drivers import signals_io
from faustdiff.drivers.progress import (  # noqa: F401  (re-exported: the public names)
    COLUMN_WIDTH, STOP_REASONS, ConsoleTable, CsvLog, ProgressBar, Step, TrainingObserver,
    csv_header, format_summary)
from faustdiff.errors import FaustRuntimeError

MODES = ("clip", "block", "sample")
LOSSES = ("l1", "l2")                   # the per-sample mode's losses

# Defaults that depend on the mode. The clip ones were chosen on the bundled examples and
# on filter, resonator, drive and EQ problems (tests/test_train_problems.py): Adam on
# normalised values converges on all of them from the sliders' init values. Its learning
# rate is small because a step of lr moves a value by lr times its slider range, and the
# integer `delay` example needs steps well under one sample to stop on its target.
MODE_DEFAULTS = {
    "sample": dict(optimizer="sgd", learning_rate=0.1, iterations=10000, sensitivity=1e-7,
                   patience=20, schedule="constant"),
    "clip": dict(optimizer="adam", learning_rate=0.005, iterations=2000, sensitivity=0.0,
                 patience=40, schedule="constant"),
    "block": dict(optimizer="adam", learning_rate=0.005, iterations=5000, sensitivity=0.0,
                  patience=200, schedule="constant"),
}
SGD_LEARNING_RATE = 0.1
# A clip longer than this is cut (with a note) unless clip_seconds asks for more: each
# iteration renders the whole clip, and a few seconds identify a static sound's parameters.
MAX_DEFAULT_CLIP_SECONDS = 4.0
# The block mode's early stops watch the mean loss of this many recent blocks: one block's
# loss depends on that block's audio as much as on the parameters. A plain mean (not a
# decaying average) reaches exactly 0 once the fit is exact, so the threshold can fire.
BLOCK_LOSS_WINDOW = 20


@dataclass(frozen=True)
class TrainOptions:
    """How to train; None means "the default of the mode" (MODE_DEFAULTS)."""

    mode: str = "clip"
    loss: str = "l2"
    optimizer: Optional[str] = None
    learning_rate: Optional[float] = None
    iterations: Optional[int] = None
    sensitivity: Optional[float] = None   # sample: no update at or below; else: stop there
    patience: Optional[int] = None        # sample: as Faust; else: plateau length
    min_delta: float = 1e-3               # plateau: a smaller relative improvement is none
    early_stop: bool = True
    clamp: bool = False                   # sample mode only; the others always clamp
    schedule: Optional[str] = None
    final_lr_fraction: float = 0.01       # where exponential and cosine decays end
    block_size: int = 1024
    clip_seconds: Optional[float] = None
    fft_sizes: Tuple[int, ...] = loss_functions.DEFAULT_FFT_SIZES
    max_backoffs: int = 4
    smooth: bool = False                  # Program.jvp's straight-through derivatives

    def resolved(self) -> "TrainOptions":
        """A copy with every None replaced by the default of its mode (and optimizer)."""
        if self.mode not in MODES:
            raise FaustRuntimeError(f"unknown mode {self.mode!r} (choose {', '.join(MODES)})")
        defaults = dict(MODE_DEFAULTS[self.mode])
        if self.optimizer == "sgd" and self.mode != "sample":
            defaults["learning_rate"] = SGD_LEARNING_RATE
        filled = {name: value for name, value in defaults.items()
                  if getattr(self, name) is None}
        return dataclasses.replace(self, **filled)

    def check(self) -> None:
        o = self.resolved()
        if o.mode == "sample":
            if o.loss not in LOSSES:
                raise FaustRuntimeError(
                    f"the sample mode's loss is l1 or l2, not {o.loss!r} (a spectral loss "
                    "needs many samples: use --mode clip or block)")
            if o.optimizer != "sgd":
                raise FaustRuntimeError("the sample mode is Faust's per-sample SGD: use "
                                        "--mode clip or block for another optimizer")
        else:
            loss_functions.parse_loss(o.loss, o.fft_sizes)
            optim.make_optimizer(o.optimizer)
            optim.learning_rate_at(o.schedule, 1.0, 0, 2, o.final_lr_fraction)
        if o.iterations < 1:
            raise FaustRuntimeError(f"--iterations must be at least 1, got {o.iterations}")
        if not math.isfinite(o.learning_rate):
            raise FaustRuntimeError(f"the learning rate must be finite, got {o.learning_rate}")
        if o.block_size < 1:
            raise FaustRuntimeError(f"--block-size must be at least 1, got {o.block_size}")
        if o.clip_seconds is not None and not o.clip_seconds > 0:
            raise FaustRuntimeError(f"--clip-seconds must be positive, got {o.clip_seconds}")
        if not 0 < o.final_lr_fraction <= 1:
            raise FaustRuntimeError("the final learning-rate fraction must be in (0, 1], got "
                                    f"{o.final_lr_fraction}")


@dataclass
class TrainingHistory:
    """One entry per iteration run; parameter values are those AFTER that iteration's update.

    `ground_truth` and `learnable` (the samples compared) exist in the sample mode only.
    """

    loss: np.ndarray            # (iterations,)
    gradients: np.ndarray       # (iterations, params): d loss / d p
    values: np.ndarray          # (iterations, params)
    updated: np.ndarray         # (iterations,) bool: did this iteration update the values
    ground_truth: Optional[np.ndarray] = None    # (outputs, iterations)
    learnable: Optional[np.ndarray] = None       # (outputs, iterations)
    learning_rate: Optional[np.ndarray] = None   # (iterations,)
    time: Optional[np.ndarray] = None            # (iterations,) seconds since the start

    @classmethod
    def empty(cls, n: int, m: int, outputs: Optional[int] = None) -> "TrainingHistory":
        per_sample = outputs is not None
        return cls(np.zeros(n), np.zeros((n, m)), np.zeros((n, m)), np.zeros(n, dtype=bool),
                   np.zeros((outputs, n)) if per_sample else None,
                   np.zeros((outputs, n)) if per_sample else None, np.zeros(n), np.zeros(n))

    def record(self, i: int, step: Step) -> None:
        if i >= len(self.loss):
            self._grow(max(2 * len(self.loss), i + 1))
        self.loss[i], self.updated[i] = step.loss, step.updated
        self.gradients[i], self.values[i] = step.gradients, step.values
        self.learning_rate[i], self.time[i] = step.learning_rate, step.elapsed

    def _grow(self, n: int) -> None:
        """Room for n iterations: a run may stop long before a large --iterations, so the
        per-iteration arrays start small and double as needed."""
        def grown(a):
            bigger = np.zeros((n,) + a.shape[1:], dtype=a.dtype)
            bigger[:len(a)] = a
            return bigger
        self.loss, self.gradients, self.values = (grown(self.loss), grown(self.gradients),
                                                  grown(self.values))
        self.updated, self.learning_rate, self.time = (grown(self.updated),
                                                       grown(self.learning_rate),
                                                       grown(self.time))

    def truncated(self, n: int) -> "TrainingHistory":
        def cut(a, columns=False):
            return None if a is None else (a[:, :n] if columns else a[:n])
        return TrainingHistory(self.loss[:n], self.gradients[:n], self.values[:n],
                               self.updated[:n], cut(self.ground_truth, True),
                               cut(self.learnable, True), cut(self.learning_rate),
                               cut(self.time))


@dataclass
class TrainingResult:
    labels: List[str]
    initial_values: List[float]
    final_values: List[float]   # sample, block: the last values; clip: the best ones
    final_loss: float           # the loss that goes with final_values
    iterations: int
    stop_reason: str            # a key of progress.STOP_REASONS
    elapsed: float              # seconds spent in the descent loop (compilation excluded)
    history: TrainingHistory
    options: TrainOptions
    notes: List[str] = field(default_factory=list)
    mode: str = "sample"
    best_iteration: Optional[int] = None

    @property
    def values(self) -> dict:
        return dict(zip(self.labels, self.final_values))


@dataclass
class Target:
    """One ground truth and the input that produced it (None for a program without inputs)."""

    ground_truth: np.ndarray            # (outputs, n)
    input_signal: Optional[np.ndarray]  # (inputs, n')
    name: str = "GT"


# ----------------------------------------------------------------------------- checks

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
        signals_io.check_input(diff_name, diff.num_inputs, input_signal, signal_name=input_name)


def _as_targets(ground_truth, input_signal) -> List[Target]:
    """Arrays or lists of arrays → paired Targets. One input may serve every target."""
    truths = list(ground_truth) if isinstance(ground_truth, (list, tuple)) else [ground_truth]
    inputs = (list(input_signal) if isinstance(input_signal, (list, tuple))
              else [input_signal] * len(truths))
    if len(inputs) == 1 and len(truths) > 1:
        inputs = inputs * len(truths)
    if len(inputs) != len(truths):
        raise FaustRuntimeError(f"{len(truths)} ground truths but {len(inputs)} inputs: give "
                                "one input for all, or one per ground truth")
    targets = []
    for k, (gt, x) in enumerate(zip(truths, inputs)):
        gt = np.ascontiguousarray(gt, dtype=np.float64)
        x = None if x is None else np.ascontiguousarray(x, dtype=np.float64)
        targets.append(Target(gt, x, f"GT {k + 1}" if len(truths) > 1 else "the ground truth"))
    return targets


# ----------------------------------------------------------------------------- train

def train(diff, ground_truth, input_signal=None, options: TrainOptions = TrainOptions(),
          observers: Sequence[TrainingObserver] = ()) -> TrainingResult:
    """Fit `diff`'s diff parameters so its output follows `ground_truth` (outputs, samples).

    `input_signal` (inputs, samples) feeds `diff`; it may be None for a program without
    inputs. `ground_truth` may be a list (a batch), with `input_signal` a list of the same
    length or one input for all. `diff` may be a list of identical programs, one per
    target: the block mode needs that for a batch, as each stream keeps its own state.
    """
    options = options.resolved()
    options.check()
    programs = list(diff) if isinstance(diff, (list, tuple)) else [diff]
    targets = _as_targets(ground_truth, input_signal)
    for target in targets:
        check_signals(programs[0], target.input_signal, target.ground_truth,
                      gt_name=target.name)
    session = _Session(programs[0], options, observers)
    if options.mode == "sample":
        if len(targets) > 1:
            raise FaustRuntimeError("the sample mode trains on one ground truth; use --mode "
                                    "clip or block for several")
        return session.per_sample(targets[0])
    if options.mode == "block":
        if len(targets) > 1 and len(programs) < len(targets):
            raise FaustRuntimeError("the block mode needs one program per ground truth, each "
                                    "stream keeping its own state (prepare() compiles them)")
        problem = _Blocks(programs, targets, options)
    else:
        problem = _Clips(programs[0], targets, options)
    return session.normalised(problem)


class _Interrupt:
    """Turns the first Ctrl-C into a request that the loop sees between iterations.

    An iteration is never cut in half, so the CSV and the history end on a complete row.
    A second Ctrl-C interrupts at once, for a run stuck inside one long iteration.
    Installed only in the main thread and only over Python's default handler.
    """

    def __init__(self):
        self.requested = False
        self.previous = None

    def __enter__(self):
        if (threading.current_thread() is threading.main_thread()
                and signals.getsignal(signals.SIGINT) is signals.default_int_handler):
            self.previous = signals.signal(signals.SIGINT, self._handle)
        return self

    def _handle(self, signum, frame):
        if self.requested:
            raise KeyboardInterrupt
        self.requested = True

    def __exit__(self, *exc):
        if self.previous is not None:
            signals.signal(signals.SIGINT, self.previous)
        return False


class _Session:
    """One training run: what every mode shares (labels, keys, initial values, observers,
    the clock, notes) and the per-sample and normalised descents."""

    def __init__(self, diff, options: TrainOptions, observers):
        self.diff, self.options, self.observers = diff, options, list(observers)
        self.labels = signals_io.display_names(diff.diff_params)
        # Parameters are passed by path: labels can repeat across groups, paths cannot.
        self.keys = [p.path or p.label for p in diff.diff_params]
        self.initial = np.array([p.init for p in diff.diff_params], dtype=np.float64)
        self.notes: List[str] = []
        self.t0 = 0.0

    def tangent_keys(self, x) -> List[str]:
        """jvp keys tangents by label, or by path when labels repeat: look each one up once.

        Also the first jvp call, which builds the kernel: done before the clock starts.
        """
        x = None if x is None or self.diff.num_inputs == 0 else x[:, :1]
        _, probe = self.diff.jvp(x=x, n=1, params=dict(zip(self.keys, self.initial.tolist())),
                                 smooth=self.options.smooth)
        return [name if name in probe else p.path
                for name, p in zip(self.labels, self.diff.diff_params)]

    def start(self, values) -> None:
        for obs in self.observers:
            obs.start(self.labels, values.copy())
        self.t0 = time.perf_counter()

    def elapsed(self) -> float:
        return time.perf_counter() - self.t0

    def emit(self, history: TrainingHistory, i: int, step: Step) -> None:
        history.record(i, step)
        for obs in self.observers:
            obs.step(step)

    def finish(self, result: TrainingResult) -> TrainingResult:
        for obs in self.observers:
            obs.finish(result)
        return result

    # ------------------------------------------------------------------ sample mode

    def per_sample(self, target: Target) -> TrainingResult:
        options, diff = self.options, self.diff
        gt, x = target.ground_truth, target.input_signal if diff.num_inputs else None
        available = gt.shape[1] if x is None else min(gt.shape[1], x.shape[1])
        n = min(options.iterations, available)
        if n < options.iterations:
            self.notes.append(f"the signals have only {available} samples: "
                              f"training stops after {available} iterations")
        if n == 0:
            raise FaustRuntimeError("the input or ground-truth signal is empty")
        tangent_keys = self.tangent_keys(x)
        self.start(self.initial)
        # A diverging run overflows on its way to the "diverged" stop; reported, not warned.
        with np.errstate(over="ignore", invalid="ignore"), _Interrupt() as interrupt:
            ran, reason, history = self._descend_samples(x, gt, n, tangent_keys, interrupt)
        elapsed = self.elapsed()
        if reason == "max-iterations" and n < options.iterations:
            reason = "input-exhausted"
        history = history.truncated(ran)
        final = history.values[-1] if ran else self.initial
        if reason == "diverged":
            self.notes.append(_diverged_message(self.labels, final))
        return self.finish(TrainingResult(
            labels=self.labels, initial_values=self.initial.tolist(),
            final_values=final.tolist(),
            final_loss=float(history.loss[-1]) if ran else math.nan, iterations=ran,
            stop_reason=reason, elapsed=elapsed, history=history, options=options,
            notes=self.notes, mode="sample"))

    def _descend_samples(self, x, gt, n, tangent_keys, interrupt):
        """The loop of Faust's scheme: returns (iterations run, stop reason, history).

        Everything that can be prepared is prepared before the loop; inside it there is one
        jvp call and a few tiny array operations, with no dict or list built per iteration.
        """
        diff, options = self.diff, self.options
        m = len(self.keys)
        values = self.initial.copy()
        params = dict(zip(self.keys, values.tolist()))   # one dict, updated in place
        hist = TrainingHistory.empty(n, m, outputs=gt.shape[0])
        hist.ground_truth[:] = gt[:, :n]
        loss_of = _sample_loss(options.loss)
        lr, sensitivity = options.learning_rate, options.sensitivity
        lower = np.array([p.min for p in diff.diff_params], dtype=np.float64)
        upper = np.array([p.max for p in diff.diff_params], dtype=np.float64)
        patience = options.patience if options.early_stop else n + 1
        slots = list(enumerate(zip(tangent_keys, self.keys)))
        inputs = _per_sample_inputs(x, n)
        gradients = np.zeros(m)
        low_count = 0
        for i in range(n):
            if interrupt.requested:
                return i, "interrupted", hist
            y, dy = diff.jvp(x=inputs[i], n=1, params=params, reset=(i == 0),
                             smooth=options.smooth)
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
            hist.learnable[:, i] = y0
            self.emit(hist, i, Step(i + 1, loss, gradients, values, updated, lr,
                                    self.elapsed(), float(gt[0, i]), float(y0[0])))
            if not (math.isfinite(loss) and np.isfinite(values).all()):
                return i + 1, "diverged", hist
            if low_count > patience:
                return i + 1, "converged", hist
        return n, "max-iterations", hist

    # ------------------------------------------------------------------ clip and block

    def normalised(self, problem) -> TrainingResult:
        """Descent on normalised values for the clip and block modes (see the module doc)."""
        options = self.options
        space = optim.ParameterSpace.of(self.diff.diff_params)
        self.notes.extend(space.notes)
        self.notes.extend(problem.notes)
        outside = [lb for lb, v, p in zip(self.labels, self.initial, self.diff.diff_params)
                   if not min(p.min, p.max) <= v <= max(p.min, p.max)]
        if outside:
            self.notes.append(f"initial value outside the slider's range, clamped: "
                              f"{', '.join(outside)}")
        problem.tangent_keys = self.tangent_keys(problem.probe_input)
        descent = _Descent(self, problem, space)
        self.start(space.from_unit(descent.u))
        with np.errstate(over="ignore", invalid="ignore", divide="ignore"), \
                _Interrupt() as interrupt:
            reason = descent.run(interrupt)
        elapsed = self.elapsed()
        ran = descent.ran
        history = descent.history.truncated(ran)
        final, final_loss, best_iteration = descent.outcome(reason)
        return self.finish(TrainingResult(
            labels=self.labels, initial_values=self.initial.tolist(),
            final_values=final.tolist(), final_loss=final_loss, iterations=ran,
            stop_reason=reason, elapsed=elapsed, history=history, options=options,
            notes=self.notes, mode=options.mode, best_iteration=best_iteration))


class _Descent:
    """The clip/block loop and its bookkeeping: best values, back-offs, early stops."""

    def __init__(self, session: _Session, problem, space: optim.ParameterSpace):
        self.session, self.problem, self.space = session, problem, space
        self.options = o = session.options
        self.optimizer = optim.make_optimizer(o.optimizer)
        self.u = space.to_unit(session.initial)
        self.history = TrainingHistory.empty(min(o.iterations, 1024), len(session.keys))
        self.params = dict(zip(session.keys, space.from_unit(self.u).tolist()))
        self.best_loss, self.best_u, self.best_iteration = math.inf, self.u.copy(), None
        self.plateau = optim.Plateau(o.patience, o.min_delta)
        self.recent: Deque[float] = deque(maxlen=BLOCK_LOSS_WINDOW)   # block mode only
        self.lr_scale, self.backoffs, self.ran = 1.0, 0, 0

    def run(self, interrupt) -> str:
        o = self.options
        for i in range(o.iterations):
            if interrupt.requested:
                return "interrupted"
            values = self.space.from_unit(self.u)
            for key, v in zip(self.session.keys, values.tolist()):
                self.params[key] = v
            loss, gradient = self.problem.evaluate(self.params)
            lr = self.lr_scale * optim.learning_rate_at(o.schedule, o.learning_rate, i,
                                                        o.iterations, o.final_lr_fraction)
            self.ran = i + 1
            if not (math.isfinite(loss) and np.isfinite(gradient).all()):
                if self._back_off(i, loss, gradient, values, lr):
                    return "diverged"
                continue
            if i == 0:
                self._warn_flat_start(gradient)
            monitored = self._monitor(loss)
            if loss < self.best_loss:
                self.best_loss, self.best_u, self.best_iteration = loss, self.u.copy(), i + 1
            if o.early_stop and monitored <= o.sensitivity:
                self._emit(i, loss, gradient, values, False, lr)
                return "converged"
            step = self.optimizer.step(self.u, self.space.gradient_to_unit(self.u, gradient), lr)
            self.u = np.clip(step, 0.0, 1.0)
            self._emit(i, loss, gradient, self.space.from_unit(self.u), True, lr)
            if o.early_stop and self.plateau.update(monitored):
                return "plateau"
        return "max-iterations"

    def _monitor(self, loss: float) -> float:
        """What the early stops watch: the loss itself, or its moving average per block."""
        if self.options.mode != "block":
            return loss
        self.recent.append(loss)
        return sum(self.recent) / len(self.recent)

    def _emit(self, i, loss, gradient, values, updated, lr) -> None:
        self.session.emit(self.history, i, Step(i + 1, loss, gradient, values, updated, lr,
                                             self.session.elapsed()))

    def _back_off(self, i, loss, gradient, values, lr) -> bool:
        """Restore the best values and halve the learning rate; True once out of back-offs."""
        self.backoffs += 1
        what = self.problem.last_failure or "the loss or its gradient"
        shown = ", ".join(f"{lb} = {v:.10g}" for lb, v in zip(self.session.labels, values))
        self.u = self.best_u.copy()
        restored = self.space.from_unit(self.u)
        self._emit(i, loss, gradient, restored, False, lr)
        if self.backoffs > self.options.max_backoffs:
            self.session.notes.append(
                f"iteration {i + 1}: {what} became non-finite at {shown}; "
                f"{self.options.max_backoffs} back-offs did not help, so training stopped "
                "and the best values so far are kept")
            return True
        self.session.notes.append(
            f"iteration {i + 1}: {what} became non-finite at {shown}; restored the best "
            f"values and halved the learning rate")
        self.lr_scale *= 0.5
        self.optimizer.reset()
        self.plateau.restart()
        self.recent.clear()
        self.problem.restart()
        return False

    def _warn_flat_start(self, gradient) -> None:
        flat = [lb for lb, g, movable in zip(self.session.labels, gradient, self.space.movable)
                if g == 0 and movable]
        if flat:
            self.session.notes.append(
                f"the gradient is exactly 0 at the start for {', '.join(flat)}: a flat region "
                "or a kink (e.g. abs at 0) can keep a parameter from moving; try another "
                "init value")

    def outcome(self, reason: str) -> Tuple[np.ndarray, float, Optional[int]]:
        """(final values, their loss, best iteration): the best for clip (and after a
        divergence), the last for block, whose losses differ from block to block."""
        if self.best_iteration is None:         # nothing finite was ever computed
            return self.space.from_unit(self.best_u), math.nan, None
        if self.options.mode == "block" and reason != "diverged":
            last = self.space.from_unit(self.u)
            return last, sum(self.recent) / len(self.recent), None
        return self.space.from_unit(self.best_u), float(self.best_loss), self.best_iteration


def _diverged_message(labels, values) -> str:
    shown = ", ".join(f"{lb} = {v:.10g}" for lb, v in zip(labels, values))
    return f"training diverged at {shown}; try a smaller learning rate"


def _sample_loss(kind: str):
    """(loss of δ, d loss / d y per output) for a loss name; δ = y − gt over the outputs."""
    if kind == "l2":
        def l2(delta):
            return float(delta @ delta), 2.0 * delta
        return l2

    def l1(delta):
        # sign(0) = 0: at an exact match l1 has no preferred direction (Faust does the same).
        return float(np.abs(delta).sum()), np.sign(delta)
    return l1


def _per_sample_inputs(x, n):
    """Sample i of x as an (inputs, 1) array, for every i; None for a program without inputs.

    The views share one transposed copy of x, so each is contiguous and none is copied.
    """
    if x is None:
        return [None] * n
    rows = np.ascontiguousarray(x[:, :n].T)
    return [row.reshape(x.shape[0], 1) for row in rows]


# ----------------------------------------------------------------------------- problems

def _clip_length(options: TrainOptions, sample_rate: int, available: int,
                 notes: List[str]) -> int:
    if options.clip_seconds is not None:
        return max(1, min(available, int(round(options.clip_seconds * sample_rate))))
    cap = int(MAX_DEFAULT_CLIP_SECONDS * sample_rate)
    if available > cap:
        notes.append(f"training on the first {MAX_DEFAULT_CLIP_SECONDS:g} s of "
                     f"{available / sample_rate:.3g} s (--clip-seconds to change)")
    return min(available, cap)


def _available(program, target: Target) -> int:
    n = target.ground_truth.shape[1]
    if program.num_inputs and target.input_signal is not None:
        n = min(n, target.input_signal.shape[1])
    if n == 0:
        raise FaustRuntimeError(f"{target.name}: the input or ground-truth signal is empty")
    return n


class _Clips:
    """Whole clips from a cleared state: loss and gradient averaged over the targets."""

    def __init__(self, program, targets: List[Target], options: TrainOptions):
        self.program, self.options = program, options
        loss = loss_functions.parse_loss(options.loss, options.fft_sizes)
        self.notes: List[str] = []
        self.items = []
        for target in targets:
            n = _clip_length(options, program.sample_rate, _available(program, target),
                             self.notes)
            x = target.input_signal[:, :n] if program.num_inputs else None
            self.items.append((x, n, loss.bind(target.ground_truth[:, :n])))
        self.probe_input = self.items[0][0]
        self.tangent_keys: List[str] = []
        self.last_failure: Optional[str] = None

    def evaluate(self, params) -> Tuple[float, np.ndarray]:
        total, gradient = 0.0, np.zeros(len(self.tangent_keys))
        for x, n, loss_of in self.items:
            y, dy = self.program.jvp(x=x, n=n, params=params, smooth=self.options.smooth)
            value, grads = loss_of(y, dy)
            total += value
            gradient += [grads[k] for k in self.tangent_keys]
            if not math.isfinite(value):
                self.last_failure = _what_failed(y, dy)
        return total / len(self.items), gradient / len(self.items)

    def restart(self) -> None:
        pass


class _Blocks:
    """One block per target per iteration, each target's program keeping its own state."""

    def __init__(self, programs, targets: List[Target], options: TrainOptions):
        self.options = options
        self.loss = loss_functions.parse_loss(options.loss, options.fft_sizes)
        self.notes: List[str] = []
        self.streams = []
        for program, target in zip(programs, targets):
            n = _available(program, target)
            x = target.input_signal if program.num_inputs else None
            self.streams.append([program, x, target.ground_truth, n, 0])
        self.probe_input = self.streams[0][1]
        self.tangent_keys: List[str] = []
        self.last_failure: Optional[str] = None
        self.restart()

    def restart(self) -> None:
        """Every stream from its start and a cleared state (also after a back-off, since a
        non-finite value would otherwise live on in the recursions' state)."""
        for stream in self.streams:
            stream[4] = 0

    def evaluate(self, params) -> Tuple[float, np.ndarray]:
        total, gradient = 0.0, np.zeros(len(self.tangent_keys))
        size = self.options.block_size
        for stream in self.streams:
            program, x, gt, n, position = stream
            if position + min(size, n) > n:
                position = 0                    # the signal is over: start it again
            block = min(size, n)
            span = slice(position, position + block)
            y, dy = program.jvp(x=None if x is None else x[:, span], n=block, params=params,
                                reset=(position == 0), smooth=self.options.smooth)
            value, grads = self.loss(y, gt[:, span], dy)
            total += value
            gradient += [grads[k] for k in self.tangent_keys]
            if not math.isfinite(value):
                self.last_failure = _what_failed(y, dy)
            stream[4] = position + block
        return total / len(self.streams), gradient / len(self.streams)


def _what_failed(y, dy) -> str:
    if not np.isfinite(y).all():
        return "the output of DIFF"
    if not all(np.isfinite(t).all() for t in dy.values()):
        return "a tangent of DIFF"
    return "the loss"


# ----------------------------------------------------------------------------- from files

@dataclass
class TrainingSetup:
    diff: object
    targets: List[Target]
    sample_rate: int
    diff_path: str = ""
    import_dirs: Tuple[str, ...] = ()
    precision: str = "double"
    notes: List[str] = field(default_factory=list)

    @property
    def ground_truth(self) -> Union[np.ndarray, List[np.ndarray]]:
        """The target (outputs, n), or a list of them for a batch: what `train` takes."""
        truths = [t.ground_truth for t in self.targets]
        return truths[0] if len(truths) == 1 else truths

    @property
    def input_signal(self):
        inputs = [t.input_signal for t in self.targets]
        return inputs[0] if len(inputs) == 1 else inputs

    def programs(self, count: int) -> list:
        """`count` independent copies of DIFF (each with its own state), the first `diff`."""
        return [self.diff] + [
            signals_io.load_program(self.diff_path, "DIFF", self.sample_rate,
                                    self.import_dirs, self.precision)
            for _ in range(count - 1)]


def prepare(diff_path: str, gt_path, input_path=None, iterations: int = 10000,
            sample_rate: Optional[int] = None, import_dirs: Sequence[str] = (),
            precision: str = "double", *, max_seconds: Optional[float] = None,
            resample: bool = False, trim: bool = False) -> TrainingSetup:
    """Compile DIFF (and each GT that is a program) and load or render the signals.

    `gt_path` is a path or a list of paths; `input_path` None, a path, or a list paired with
    the ground truths in order (one input may serve all). `iterations` is the number of
    samples rendered from programs when no audio file sets the length (the per-sample mode
    runs one iteration per sample, hence the name), at most `max_seconds` long. Audio
    files must share the run's sample rate unless `resample`, and an audio input and an
    audio ground truth must have the same length unless `trim` (which cuts both to the
    shorter).
    """
    gt_paths = [gt_path] if isinstance(gt_path, str) else list(gt_path)
    input_paths = ([input_path] if input_path is None or isinstance(input_path, str)
                   else list(input_path))
    if not gt_paths:
        raise FaustRuntimeError("give at least one ground truth with --gt")
    if len(input_paths) == 1:
        input_paths = input_paths * len(gt_paths)
    if len(input_paths) != len(gt_paths):
        raise FaustRuntimeError(f"{len(gt_paths)} --gt but {len(input_paths)} --input: give "
                                "one --input for all, or one per --gt, in the same order")
    loader = _Loader(sample_rate, [p for p in input_paths + gt_paths if p is not None],
                     import_dirs, precision, resample, trim)
    if max_seconds is not None:
        iterations = min(iterations, max(1, int(round(max_seconds * loader.rate))))
    diff = signals_io.load_program(diff_path, "DIFF", loader.rate, import_dirs, precision)
    require_diff_params(diff, f"DIFF {diff_path}")   # before spending time on IN and GT
    targets = []
    for in_path, gt_p in zip(input_paths, gt_paths):
        if diff.num_inputs == 0 and not signals_io.is_dsp_path(gt_p):
            in_path = None      # nothing reads it: its length need not match GT's
        x, gt = loader.pair(in_path, gt_p, iterations)
        name = f"GT {gt_p}"
        check_signals(diff, x, gt, diff_name=f"DIFF {diff_path}", input_name=f"IN {in_path}",
                      gt_name=name)
        targets.append(Target(gt, x, name))
    return TrainingSetup(diff, targets, loader.rate, diff_path, tuple(import_dirs), precision,
                         loader.notes)


class _Loader:
    """Reads, renders and resamples the sources of one run, all at one sample rate."""

    def __init__(self, requested_rate, paths, import_dirs, precision, resample, trim):
        self.import_dirs, self.precision = tuple(import_dirs), precision
        self.resample, self.trim = resample, trim
        self.notes: List[str] = []
        self.programs: Dict[str, object] = {}
        audio_rates = [(p, signals_io.audio_sample_rate(p)) for p in paths
                       if not signals_io.is_dsp_path(p)]
        if requested_rate is not None:
            self.rate = int(requested_rate)
        else:
            self.rate = audio_rates[0][1] if audio_rates else 44100
        if self.rate <= 0:
            raise FaustRuntimeError(f"the sample rate must be positive, got {self.rate}")
        for path, rate in audio_rates:
            if rate != self.rate and not resample:
                raise FaustRuntimeError(
                    f"{path} has sample rate {rate} Hz but the run uses {self.rate} Hz "
                    "(audio files are not resampled unless --resample is given)")

    def audio(self, path: str, role: str) -> np.ndarray:
        audio = signals_io.read_audio(path, role)
        if audio.sample_rate == self.rate:
            return audio.signal
        self.notes.append(f"{role} {path}: resampled from {audio.sample_rate} Hz to "
                          f"{self.rate} Hz")
        return resample_signal(audio.signal, audio.sample_rate, self.rate)

    def program(self, path: str, role: str):
        if path not in self.programs:
            self.programs[path] = signals_io.load_program(path, role, self.rate,
                                                          self.import_dirs, self.precision)
        return self.programs[path]

    def pair(self, in_path, gt_path, length) -> Tuple[Optional[np.ndarray], np.ndarray]:
        """(input, ground truth) for one target, of equal lengths where both are audio."""
        gt_audio = None if signals_io.is_dsp_path(gt_path) else self.audio(gt_path, "GT")
        x = None
        if in_path is not None:
            if signals_io.is_dsp_path(in_path):
                # A generator input runs as long as an audio ground truth, when there is one.
                n = gt_audio.shape[1] if gt_audio is not None else length
                x = self._generate(in_path, n)
            else:
                x = self.audio(in_path, "IN")
        if gt_audio is None:
            return x, self._render_ground_truth(gt_path, x, length)
        if x is not None and x.shape[1] != gt_audio.shape[1]:
            if not self.trim:
                raise FaustRuntimeError(
                    f"IN {in_path} has {x.shape[1]} samples but GT {gt_path} has "
                    f"{gt_audio.shape[1]} (give --trim to use the shorter length)")
            n = min(x.shape[1], gt_audio.shape[1])
            x, gt_audio = x[:, :n], gt_audio[:, :n]
        return x, gt_audio

    def _generate(self, path, n) -> np.ndarray:
        prog = self.program(path, "IN")
        if prog.num_inputs != 0:
            raise FaustRuntimeError(
                f"IN program {path} must have no inputs (it generates the signal), "
                f"but it has {prog.num_inputs}")
        return np.ascontiguousarray(prog.render(n=n), dtype=np.float64)

    def _render_ground_truth(self, gt_path, x, n) -> np.ndarray:
        gt_prog = self.program(gt_path, "GT")
        if gt_prog.num_inputs == 0:
            return np.asarray(gt_prog.render(n=n if x is None else x.shape[1]),
                              dtype=np.float64)
        signals_io.check_input(f"GT {gt_path}", gt_prog.num_inputs, x,
                               ask="give an input with --input")
        return np.asarray(gt_prog.render(x=x, n=x.shape[1]), dtype=np.float64)


def resample_signal(signal: np.ndarray, from_rate: int, to_rate: int) -> np.ndarray:
    """(channels, n) at from_rate → (channels, round(n · to_rate / from_rate)) at to_rate.

    Band-limited resampling by the discrete Fourier transform, with numpy alone: the
    spectrum is cut (or zero-padded) to the new length, so nothing above the lower
    Nyquist frequency survives to alias. The signal is treated as periodic, so a
    transient at one end shows faintly at the other.
    """
    n_in = signal.shape[1]
    n_out = int(round(n_in * to_rate / from_rate))
    spectrum = np.fft.rfft(signal, axis=1)
    bins = n_out // 2 + 1
    resized = np.zeros((signal.shape[0], bins), dtype=complex)
    keep = min(bins, spectrum.shape[1])
    resized[:, :keep] = spectrum[:, :keep]
    if n_out < n_in and n_out % 2 == 0:
        resized[:, -1] = resized[:, -1].real  # the new Nyquist bin of a real signal
    out = np.fft.irfft(resized, n=n_out, axis=1) * (n_out / n_in)
    return np.ascontiguousarray(out)


# ----------------------------------------------------------------------------- results

def save_values(result: TrainingResult, path: str) -> None:
    """The learned values, and how they were reached, as JSON."""
    document = {
        "values": result.values,
        "initial_values": dict(zip(result.labels, result.initial_values)),
        "loss": result.final_loss if math.isfinite(result.final_loss) else None,
        "iterations": result.iterations,
        "stop_reason": result.stop_reason,
        "seconds": result.elapsed,
        "mode": result.mode,
        "loss_function": result.options.loss,
    }
    signals_io.write_text_file(path, json.dumps(document, indent=2) + "\n")


def learned_source(diff_path: str, params: Sequence, values: Sequence[float]) -> \
        Tuple[str, List[str]]:
    """DIFF's source text with each learned slider's init argument set to its value.

    Widgets are found by label in DIFF's own syntax tree (not in imported libraries); the
    init argument's span is replaced, so comments and layout stay as they were. Returns
    the text and notes about sliders that could not be written.
    """
    from faustdiff.parse import parse_file
    from faustdiff.parse import ast
    from faustdiff.signals.labels import split_label

    text = _read_text(diff_path)
    widgets = [w for w in _nodes_of(parse_file(diff_path), ast.UIWidget)
               if w.kind in ("hslider", "vslider", "nentry") and len(w.args) >= 1]
    names = [p.label for p in params]
    edits, notes = [], []
    for param, value in zip(params, values):
        matches = [w for w in widgets if split_label(w.label)[0] == param.label]
        if not matches:
            notes.append(f"{param.label}: no slider with this label in {diff_path} itself "
                         "(defined in a library?); its value is not written")
        elif names.count(param.label) > 1:
            notes.append(f"{param.label}: several parameters share this label; its value "
                         "is not written")
        else:
            edits += [(w.args[0].span, _faust_number(value)) for w in matches]
    return _apply_edits(text, edits), notes


def _read_text(path: str) -> str:
    try:
        with open(path, encoding="utf-8") as f:
            return f.read()
    except OSError as e:
        raise FaustRuntimeError(f"cannot read {path}: {e.strerror}") from None


def _nodes_of(node, kind):
    """Every node of type `kind` in a syntax tree (the tree is frozen dataclasses and tuples)."""
    if isinstance(node, kind):
        yield node
    if isinstance(node, (tuple, list)):
        for item in node:
            yield from _nodes_of(item, kind)
    elif dataclasses.is_dataclass(node) and not isinstance(node, type):
        for f in dataclasses.fields(node):
            if f.name != "span":
                yield from _nodes_of(getattr(node, f.name), kind)


def _faust_number(value: float) -> str:
    """A Faust literal for value, to 10 significant digits (well below any slider step);
    Python's `g` format writes exponents in lowercase, as Faust wants them."""
    return f"{float(value):.10g}"


def _apply_edits(text: str, edits) -> str:
    """Replace each (span, new text); spans are 1-based, end column exclusive."""
    starts = [0]
    for line in text.splitlines(keepends=True):
        starts.append(starts[-1] + len(line))

    def offset(line, column):
        return starts[line - 1] + column - 1

    placed = sorted(((offset(s.line, s.column), offset(s.end_line, s.end_column), new)
                     for s, new in edits), reverse=True)
    for begin, end, new in placed:
        text = text[:begin] + new + text[end:]
    return text

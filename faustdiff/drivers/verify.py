"""Check a program's forward-mode derivatives against finite differences.

The counterpart of Faust's `autodiffVerifier`: render the first N samples of DIFF with its
tangents (autodiff, "ad"), and for every `[diff:1]` parameter p the finite difference
("fd") over the same N samples, every render starting from a cleared state:

    forward:  fd = (y(p + ε) − y(p)) / h         h = (p + ε) − p
    central:  fd = (y(p + ε) − y(p − ε)) / h     h = (p + ε) − (p − ε)

h is the step the parameter really took after rounding (in float32 for single precision,
where parameters are held as float32 like Faust's FAUSTFLOAT), not the nominal ε or 2ε:
this removes the representation error of p ± ε from the comparison.

Default ε (`default_epsilon`): a forward difference has truncation error ~ε and rounding
error ~u/ε (u the unit roundoff), a central one ~ε² and ~u/ε, so the balanced steps are
~√u and ~∛u. For float64 (u ≈ 2.2e-16) that is 1.5e-8 and 6e-6; we use 1e-8 forward
(truncation and rounding errors both near 1e-8 relative) and 1e-5 central.
For float32 (u ≈ 1.2e-7): 1e-3 forward (Faust's verifier's default) and 5e-3 central.

Relative error, per sample: |ad − fd| / max(|ad|, |fd|, floor), where floor is 1e-6 times
the parameter's peak |ad| or |fd| over the whole run (and never below 1e-300). It is
symmetric, lies in [0, 1] up to the floor, and the floor keeps samples where the
derivative is practically zero (a zero crossing) from reporting a huge relative error for
an absolute difference that is negligible at the signal's scale. Both agreeing on an exact
zero gives 0.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import List, Optional, Sequence

import numpy as np

from faustdiff.errors import FaustRuntimeError
from faustdiff.drivers import signals_io

FLOOR_FRACTION = 1e-6
TINY = 1e-300


def default_epsilon(central: bool, precision: str = "double") -> float:
    if precision == "single":
        return 5e-3 if central else 1e-3
    return 1e-5 if central else 1e-8


@dataclass
class ParameterCheck:
    label: str
    value: float
    step: float                 # h: the realised denominator of the finite difference
    autodiff: np.ndarray        # (outputs, n)
    finite: np.ndarray          # (outputs, n)
    delta: np.ndarray = field(init=False)       # |ad − fd|
    relative: np.ndarray = field(init=False)    # see the module docstring

    def __post_init__(self):
        self.delta = np.abs(self.autodiff - self.finite)
        magnitude = np.maximum(np.abs(self.autodiff), np.abs(self.finite))
        peak = float(magnitude.max()) if magnitude.size else 0.0
        floor = max(FLOOR_FRACTION * peak, TINY)
        self.relative = self.delta / np.maximum(magnitude, floor)

    @property
    def mean_delta(self) -> float:
        return float(self.delta.mean())

    @property
    def std_delta(self) -> float:
        # Sample standard deviation (n − 1), as Faust's verifier reports.
        return float(self.delta.std(ddof=1)) if self.delta.size > 1 else 0.0

    @property
    def mean_relative(self) -> float:
        return float(self.relative.mean())

    @property
    def max_relative(self) -> float:
        return float(self.relative.max())


@dataclass
class VerifyResult:
    checks: List[ParameterCheck]
    samples: int
    epsilon: float
    central: bool
    num_outputs: int
    notes: List[str] = field(default_factory=list)

    def failures(self, tolerance: float) -> List[ParameterCheck]:
        return [c for c in self.checks if not c.mean_relative <= tolerance]


def _as_precision(value: float, precision: str) -> float:
    """The parameter value the program will actually hold."""
    return float(np.float32(value)) if precision == "single" else float(value)


def verify(diff, input_signal: Optional[np.ndarray] = None, samples: int = 100,
           epsilon: Optional[float] = None, central: bool = False,
           precision: str = "double", smooth: bool = False) -> VerifyResult:
    """Compare `diff.jvp` with finite differences of `diff.render` over `samples` samples."""
    if not diff.diff_params:
        raise FaustRuntimeError("the program has no parameter marked [diff:1]: nothing to verify")
    if samples < 1:
        raise FaustRuntimeError(f"the number of samples must be at least 1, got {samples}")
    if epsilon is None:
        epsilon = default_epsilon(central, precision)
    if not epsilon > 0:
        raise FaustRuntimeError(f"epsilon must be positive, got {epsilon}")
    x = _program_input(diff, input_signal, samples)
    notes = []
    if x is not None and x.shape[1] < samples:
        notes.append(f"the input has only {x.shape[1]} samples: verifying {x.shape[1]}")
        samples = x.shape[1]

    _, tangents = diff.jvp(x=x, n=samples, reset=True, smooth=smooth)
    base = None if central else diff.render(x=x, n=samples, reset=True)
    checks = []
    names = signals_io.display_names(diff.diff_params)
    for param, name in zip(diff.diff_params, names):
        key = param.path or param.label
        value = _as_precision(param.init, precision)
        upper = _as_precision(value + epsilon, precision)
        y_up = diff.render(x=x, n=samples, params={key: upper}, reset=True)
        if central:
            lower = _as_precision(value - epsilon, precision)
            y_low = diff.render(x=x, n=samples, params={key: lower}, reset=True)
        else:
            lower, y_low = value, base
        step = upper - lower
        if step == 0:
            raise FaustRuntimeError(
                f"epsilon {epsilon} is too small to change parameter {param.label!r} "
                f"(value {value}) at {precision} precision")
        finite = (np.asarray(y_up, dtype=np.float64) - y_low) / step
        autodiff = signals_io.tangent_of(tangents, param, name)
        checks.append(ParameterCheck(name, value, step, np.asarray(autodiff, np.float64),
                                     finite))
    return VerifyResult(checks, samples, epsilon, central, diff.num_outputs, notes)


def _program_input(diff, input_signal, samples):
    if diff.num_inputs == 0:
        return None     # a generator ignores the input, as in Faust's verifier
    signals_io.check_input("the program", diff.num_inputs, input_signal)
    return np.ascontiguousarray(input_signal[:, :samples], dtype=np.float64)


def verify_files(diff_path: str, input_path: Optional[str] = None, samples: int = 100,
                 epsilon: Optional[float] = None, central: bool = False,
                 sample_rate: Optional[int] = None, import_dirs: Sequence[str] = (),
                 precision: str = "double", smooth: bool = False) -> VerifyResult:
    rate = signals_io.choose_sample_rate(sample_rate, [input_path])
    diff = signals_io.load_program(diff_path, "DIFF", rate, import_dirs, precision)
    if not diff.diff_params:
        raise FaustRuntimeError(
            f"DIFF {diff_path} has no parameter marked [diff:1]: nothing to verify",
            hint='mark a slider, e.g. hslider("gain[diff:1]", 0.5, 0, 1, 0.001)')
    x = None
    if input_path is not None and diff.num_inputs > 0:
        x = signals_io.render_source(input_path, samples, "IN", rate, import_dirs, precision)
    return verify(diff, x, samples, epsilon, central, precision, smooth)


# ----------------------------------------------------------------------------- reporting

def format_table(check: ParameterCheck, num_outputs: int, every: int = 20) -> str:
    """Per sample: autodiff, finite difference, |delta|, relative error (Faust's layout)."""
    with_output = num_outputs > 1
    head = f"{'Sample':>7}" + (f"{'Out':>5}" if with_output else "")
    head += "".join(f"{h:>17}" for h in ("Autodiff", "Finite diff", "|delta|", "Rel. error"))
    rule = "-" * len(head)
    lines = [f"Parameter: {check.label} = {check.value:.10g}  (step {check.step:.3e})"]
    rows = 0
    n = check.autodiff.shape[1]
    for i in range(n):
        for o in range(num_outputs):
            if rows % every == 0:
                lines += [rule, head, rule]
            rows += 1
            cell = f"{i:>7}" + (f"{o:>5}" if with_output else "")
            cell += (f"{check.autodiff[o, i]:>17.10f}{check.finite[o, i]:>17.10f}"
                     f"{check.delta[o, i]:>17.3e}{check.relative[o, i]:>17.3e}")
            lines.append(cell)
    return "\n".join(lines)


def format_summary(result: VerifyResult, tolerance: Optional[float] = None) -> str:
    method = "central" if result.central else "forward"
    lines = [f"Finite differences: {method}, epsilon {result.epsilon:g}, "
             f"{result.samples} samples x {result.num_outputs} output(s)"]
    for check in result.checks:
        lines += ["", f"Parameter: {check.label}", "=" * 40,
                  f"{'Mean |delta|:':>24} {check.mean_delta:.3e}",
                  f"{'Std. dev. |delta|:':>24} {check.std_delta:.3e}",
                  f"{'Mean rel. error:':>24} {check.mean_relative:.3e}",
                  f"{'Max rel. error:':>24} {check.max_relative:.3e}"]
        if tolerance is not None:
            verdict = "ok" if check.mean_relative <= tolerance else "FAIL"
            lines.append(f"{'Tolerance ' + format(tolerance, 'g') + ':':>24} {verdict}")
    return "\n".join(lines)

"""Derivatives of every derivative program, checked against finite differences.

For each program of ``tests/programs/diff`` and each example ``diff.dsp`` (but ``delay``,
whose derivative is a documented surrogate), the tangents of ``Program.jvp`` agree with
float64 central finite differences of ``Program.render`` over N samples of the seeded noise
input, for every ``[diff:1]`` parameter.

Finite differences: h = STEP · max(1, |p|) and fd = (y(p + h) − y(p − h)) / ((p + h) − (p − h))
(the step the parameter really took). Its truncation error is ~h² relative and its
rounding error ~u/h (u = 2.2e-16): about 1e-12 and 1e-10 for STEP = 1e-6, far below the
tolerance (the corpus stays under 1e-7; a derivative rule off by 1e-6 fails).

Agreement: per output channel, RMS(tangent − fd) / scale ≤ 1e-6, where scale is the larger
of the two signals' RMS, and at least 1e-3 times the largest channel RMS of that
parameter's derivative. The floor matters for a channel whose true derivative is 0 (such
as x·g/g in g), where the finite difference is pure rounding noise (~1e-10).

Programs sit at their slider defaults, chosen away from kinks and jumps (the select2
of peak_eq at 0 dB, the truncation of a delay amount at an integer, the wraps of fmod).
"""
from __future__ import annotations

import os
import subprocess
import sys
from functools import cache
from pathlib import Path

import numpy as np
import pytest

import faustdiff
from reference import corpus_inputs, declared_inputs

ROOT = Path(__file__).resolve().parent.parent
CORPUS = sorted((ROOT / "tests" / "programs" / "diff").glob("*.dsp"))
EXAMPLES = sorted(p for p in (ROOT / "examples").glob("*/diff.dsp") if p.parent.name != "delay")
PROGRAMS = CORPUS + EXAMPLES

N = 2000
STEP = 1e-6
TOLERANCE = 1e-6
FLOOR = 1e-3

# Programs whose derivatives stay exactly zero for the first N samples: freeverb's combs
# delay by more than 1000 samples and the parameters act only after a round trip.
LENGTHS = {"diff/freeverb": 6000}


def program_id(path: Path) -> str:
    return f"{path.parent.name}/{path.stem}"


def delayed(x: np.ndarray, k: int) -> np.ndarray:
    """x@k with a cleared delay line: k zeros, then x."""
    return np.concatenate([np.zeros(k), x[: len(x) - k]])


# Derivatives that are a documented convention finite differences cannot see (README,
# "Supported primitives and their derivatives"); each is checked against its definition.
def check_table_oscillator_frequency(prog, x, y, tangent):
    # os.osc reads a sine table at an int index: the derivative in f is exactly 0 (the
    # finite difference sees the table's steps, as the phase crosses table cells)
    assert not np.any(tangent), "os.osc: d/df should be exactly 0"


def check_float_delay_surrogate(prog, x, y, tangent):
    # y = x + g·x@int(d): the surrogate is g·(x@(int(d)+1) − x@int(d)), one output
    g = next(p.init for p in prog.params if p.label == "g")
    d = int(next(p.init for p in prog.params if p.label == "d"))
    want = g * (delayed(x[0], d + 1) - delayed(x[0], d))
    np.testing.assert_allclose(tangent[0], want, rtol=0, atol=1e-12)


CONVENTIONS = {
    ("diff/osc_amp", "f"): check_table_oscillator_frequency,
    ("diff/float_delay", "d"): check_float_delay_surrogate,
}

# Parameters whose exact derivative is 0 (an int delay amount int(d) away from integers):
# both the tangent and the finite difference must be exactly 0.
ZERO = {("diff/int_delay", "d")}


def relative_rms(got: np.ndarray, want: np.ndarray) -> np.ndarray:
    """Per channel: RMS(got − want) / max(RMS(got), RMS(want), FLOOR × the largest)."""
    rms_got = np.sqrt(np.mean(got ** 2, axis=1))
    rms_want = np.sqrt(np.mean(want ** 2, axis=1))
    largest = max(float(rms_got.max()), float(rms_want.max()))
    scale = np.maximum(np.maximum(rms_got, rms_want), FLOOR * largest)
    error = np.sqrt(np.mean((got - want) ** 2, axis=1))
    return np.divide(error, scale, out=np.zeros_like(error), where=scale > 0)


# Compiling the kernels (Numba) is most of the cost of a cold run. Kernels are cached on
# disk, so worker processes, one a core, compile them all first and the tests load them.
WARM_UP = """
import sys
import numpy as np
import faustdiff
precision, render, paths = sys.argv[1], sys.argv[2] == "render", sys.argv[3:]
for path in paths:
    try:
        prog = faustdiff.compile_file(path, precision=precision)
        x = np.zeros((prog.num_inputs, 16)) if prog.num_inputs else None
        prog.jvp(x, n=16)
        if render:
            prog.render(x, n=16)
    except Exception:
        pass  # the test of that program reports it
"""


def warm_kernel_cache_for(paths, precision: str = "double", render: bool = True) -> None:
    """Compile the jvp (and render) kernels of ``paths`` in parallel worker processes."""
    cores = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count()
    workers = max(1, min(cores or 1, 8))
    if workers == 1:
        return  # the tests compile them as they go
    args = [precision, "render" if render else "jvp"]
    paths = [str(p) for p in paths]
    jobs = [subprocess.Popen([sys.executable, "-c", WARM_UP, *args, *paths[k::workers]],
                             stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
            for k in range(workers)]
    for job in jobs:
        job.wait()


@pytest.fixture(scope="module", autouse=True)
def warm_kernel_cache():
    warm_kernel_cache_for(PROGRAMS)


@cache
def compiled(path: Path):
    return faustdiff.compile_file(str(path))


# A case is marked xfail(strict=True) here, with the reason, when faustdiff gets a
# derivative wrong; none is known.
KNOWN_BUGS: dict = {}


def cases():
    for path in PROGRAMS:
        name = program_id(path)
        marks = [pytest.mark.xfail(strict=True, reason=KNOWN_BUGS[name])] if name in KNOWN_BUGS else []
        yield pytest.param(path, id=name, marks=marks)


@pytest.mark.parametrize("path", list(cases()))
def test_tangents_match_central_differences(path):
    name = program_id(path)
    prog = compiled(path)
    if path in CORPUS:
        assert prog.num_inputs == declared_inputs(path.read_text()), "first line: // inputs: K"
    n = LENGTHS.get(name, N)
    x = corpus_inputs(prog.num_inputs, n) if prog.num_inputs else None
    y, dy = prog.jvp(x, n=n)
    # the function the finite differences see is the one jvp differentiates
    base = prog.render(x, n=n)
    assert np.all(relative_rms(y, base) <= 1e-12), "jvp's outputs differ from render's"
    diff_params = [p for p in prog.params if p.diff]
    assert diff_params and set(dy) == {p.label for p in diff_params}

    failures = []
    for param in diff_params:
        tangent = dy[param.label]
        assert tangent.shape == y.shape
        if (name, param.label) in CONVENTIONS:
            CONVENTIONS[name, param.label](prog, x, y, tangent)
            continue
        h = STEP * max(1.0, abs(param.init))
        up, down = param.init + h, param.init - h
        fd = (prog.render(x, n=n, params={param.label: up})
              - prog.render(x, n=n, params={param.label: down})) / (up - down)
        if (name, param.label) in ZERO:
            assert not np.any(tangent) and not np.any(fd), f"{param.label}: derivative not 0"
            continue
        assert np.any(fd), (f"{param.label}: the derivative is 0 over {n} samples: "
                            "the check would be vacuous (lengthen the render)")
        rel = relative_rms(tangent, fd)
        if np.any(rel > TOLERANCE):
            worst = int(np.argmax(rel))
            failures.append(f"{param.label}: output {worst} relative RMS {rel[worst]:.2e}")
    assert not failures, f"{name}: " + "; ".join(failures)


def test_corpus_size():
    # the issue asks for at least 40 programs, each with parameters to differentiate
    assert len(CORPUS) >= 40
    for path in CORPUS:
        code = path.read_text()
        assert "[diff:1]" in code or "[diff:on]" in code, path.name

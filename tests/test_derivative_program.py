"""`faustdiff diff -o`: the derivative program as plain Faust source, compiled and rendered
by the real Faust compiler, reproduces faustdiff's own outputs and tangents."""
from pathlib import Path

import numpy as np
import pytest

import faustdiff
from faustdiff.drivers.derivative import derivative_source
from reference import corpus_inputs, faust_available, float32_allowance, render_with_faust
from test_derivatives_fd import warm_kernel_cache_for

pytestmark = [pytest.mark.reference,
              pytest.mark.skipif(not faust_available(), reason="dawdreamer is not installed")]

ROOT = Path(__file__).resolve().parent.parent
PROGRAMS = sorted((ROOT / "tests" / "programs" / "diff").glob("*.dsp")) + sorted(
    p for p in (ROOT / "examples").glob("*/diff.dsp") if p.parent.name != "delay")
N = 3000
TOLERANCE = 1e-4  # or more where the program amplifies float32 rounding (float32_allowance)

# Known disagreements, each an xfail(strict=True): the derivative program of these renders
# differently under the real compiler.
KNOWN_FAILURES: dict = {}


def cases():
    for path in PROGRAMS:
        name = f"{path.parent.name}/{path.stem}"
        marks = ([pytest.mark.xfail(strict=True, reason=KNOWN_FAILURES[name])]
                 if name in KNOWN_FAILURES else [])
        yield pytest.param(path, id=name, marks=marks)


@pytest.fixture(scope="module", autouse=True)
def warm_kernel_cache():
    # the single-precision jvp kernels, compiled on every core before the tests use them
    warm_kernel_cache_for(PROGRAMS, precision="single", render=False)


def rms(signal: np.ndarray) -> np.ndarray:
    return np.sqrt(np.mean(signal ** 2, axis=-1))


@pytest.mark.parametrize("path", list(cases()))
def test_derivative_program_renders_the_tangents(path):
    prog = faustdiff.compile_file(str(path))
    x = corpus_inputs(prog.num_inputs, N) if prog.num_inputs else None
    source = derivative_source(prog)
    want = render_with_faust(source, N, x, import_dirs=[str(path.parent)])
    # the real compiler renders in float32, where values computed from the sample rate
    # at init time (delay lengths) may round differently than in float64
    single = faustdiff.compile_file(str(path), precision="single")
    y, dy = single.jvp(x, n=N)
    blocks = [y] + [dy[k] for k in dy]  # the outputs, then the tangents of each parameter
    got = np.concatenate(blocks)
    y64, dy64 = prog.jvp(x, n=N)
    exact = np.concatenate([y64] + [dy64[k] for k in dy64])
    assert want.shape == got.shape == exact.shape
    width = y.shape[0]
    for start in range(0, got.shape[0], width):
        # A channel whose true value is 0 (d(x*g/g)/dg) holds only float32 rounding noise
        # (~1e-8), so each channel is measured at least at 1e-3 of its block's largest RMS.
        floor = max(1e-3 * float(rms(got[start:start + width]).max()), 1e-6)
        for channel in range(start, start + width):
            scale = max(float(rms(got[channel])), floor)
            rel = float(rms(got[channel] - want[channel])) / scale
            own_rounding = float(rms(got[channel] - exact[channel])) / scale
            allowed = float32_allowance(TOLERANCE, own_rounding)
            assert rel <= allowed, (f"channel {channel}: relative RMS {rel:.2e} (faustdiff's "
                                    f"own float32 rounding {own_rounding:.2e})")

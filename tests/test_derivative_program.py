"""`faustdiff diff -o`: the derivative program as plain Faust source, compiled and rendered
by the real Faust compiler, reproduces faustdiff's own outputs and tangents."""
from pathlib import Path

import numpy as np
import pytest

import faustdiff
from faustdiff.drivers.derivative import derivative_source
from reference import corpus_inputs, declared_inputs, faust_available, render_with_faust

pytestmark = [pytest.mark.reference,
              pytest.mark.skipif(not faust_available(), reason="dawdreamer is not installed")]

ROOT = Path(__file__).resolve().parent.parent
PROGRAMS = sorted((ROOT / "tests" / "programs" / "diff").glob("*.dsp")) + sorted(
    p for p in (ROOT / "examples").glob("*/diff.dsp") if p.parent.name != "delay")
N = 3000


@pytest.mark.parametrize("path", PROGRAMS, ids=[f"{p.parent.name}/{p.stem}" for p in PROGRAMS])
def test_derivative_program_renders_the_tangents(path):
    prog = faustdiff.compile_file(str(path))
    x = corpus_inputs(prog.num_inputs, N) if prog.num_inputs else None
    source = derivative_source(prog)
    want = render_with_faust(source, N, x, import_dirs=[str(path.parent)])
    # the real compiler renders in float32, where values computed from the sample rate
    # at init time (delay lengths) may round differently than in float64
    single = faustdiff.compile_file(str(path), precision="single")
    y, dy = single.jvp(x, n=N)
    got = np.concatenate([y] + [dy[k] for k in dy])
    assert want.shape == got.shape
    for channel in range(got.shape[0]):
        scale = max(np.sqrt(np.mean(got[channel] ** 2)), 1e-6)
        rel = np.sqrt(np.mean((got[channel] - want[channel]) ** 2)) / scale
        assert rel <= 1e-4, f"channel {channel}: relative RMS {rel:.2e}"

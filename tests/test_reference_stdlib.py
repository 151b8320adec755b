"""Differential tests over programs built on the standard Faust libraries: faustdiff and
the real Faust compiler (libfaust in dawdreamer, float32) agree to 1e-4 relative RMS."""
import numpy as np
import pytest

import faustdiff
from reference import STDLIB_DIR, corpus_inputs, corpus_programs, faust_available, render_with_faust

pytestmark = [pytest.mark.reference,
              pytest.mark.skipif(not faust_available(), reason="dawdreamer is not installed")]

N = 4000
PROGRAMS = corpus_programs(STDLIB_DIR)

# Programs whose float32 rendering by the real compiler is itself this far from exact.
# Shown for fi.tf2s by evaluating Faust's own generated recurrence in numpy: float32
# and float64 differ by 1.6e-4, and faustdiff's double rendering matches the float64
# one to 1e-13. The others: faustdiff's own float32 and float64 renderings differ by
# as much as faustdiff and Faust do (bandpass 6.3e-4, polyBLEP saw 4.8e-4).
FLOAT32_ILL_CONDITIONED = {"fi_tf2s": 5e-4, "fi_bandpass": 2e-3, "os_polyblep_saw": 1e-3,
                           # libfaust's float32 is 1.5e-3 from the float64 result;
                           # faustdiff's (fused multiply-adds) 5.2e-4
                           "ve_crybaby": 2e-3}
KNOWN_BUGS = {}


def relative_rms(got, want):
    scale = np.maximum(np.sqrt(np.mean(want ** 2, axis=1)), 1e-3)
    return (np.sqrt(np.mean((got - want) ** 2, axis=1)) / scale).max()


@pytest.mark.parametrize("program", PROGRAMS, ids=[p.name for p in PROGRAMS])
def test_stdlib_program_matches_faust(program):
    if program.name in KNOWN_BUGS:
        pytest.xfail(KNOWN_BUGS[program.name])
    x = corpus_inputs(program.num_inputs, N) if program.num_inputs else None
    want = render_with_faust(program.code, N, x)
    got = faustdiff.compile(program.code, filename=str(program.path)).render(x, n=N)
    assert got.shape == want.shape
    # Values computed from the sample rate at init time (delay lengths) are rounded by
    # Faust in float32: faustdiff's float32 mode reproduces that rounding.
    got32 = faustdiff.compile(program.code, precision="single",
                              filename=str(program.path)).render(x, n=N)
    tolerance = FLOAT32_ILL_CONDITIONED.get(program.name, 1e-4)
    error = min(relative_rms(got, want), relative_rms(got32, want))
    assert error <= tolerance, f"relative RMS {error:.2e}"


def test_corpus_covers_the_library_families():
    families = {p.name.split("_")[0] for p in PROGRAMS}
    assert {"os", "no", "fi", "ve", "de", "en", "co", "re", "pf", "pm", "ef", "si", "ro", "ba",
            "ma", "an"} <= families
    assert len(PROGRAMS) >= 80

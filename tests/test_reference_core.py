"""Differential tests: the core-language corpus rendered by faustdiff and by the real
Faust compiler (libfaust inside dawdreamer, single precision) must agree."""
import numpy as np
import pytest

import faustdiff
from reference import (corpus_inputs, corpus_programs, faust_available, float32_allowance,
                       render_with_faust)

pytestmark = [pytest.mark.reference,
              pytest.mark.skipif(not faust_available(), reason="dawdreamer is not installed")]

N = 2000
PROGRAMS = corpus_programs()


def relative_rms(got: np.ndarray, want: np.ndarray) -> float:
    scale = max(np.sqrt(np.mean(want ** 2)), 1e-3)
    return float(np.sqrt(np.mean((got - want) ** 2)) / scale)


@pytest.mark.parametrize("program", PROGRAMS, ids=[p.name for p in PROGRAMS])
def test_core_program_matches_faust(program):
    x = corpus_inputs(program.num_inputs, N) if program.num_inputs else None
    want = render_with_faust(program.code, N, x)
    prog = faustdiff.compile(program.code, filename=str(program.path))
    assert (prog.num_inputs, prog.num_outputs) == (program.num_inputs, want.shape[0])
    got = prog.render(x, n=N)
    # Faust renders in float32: compare faustdiff's float32 mode exactly where the
    # program is exactly representable, and its float64 mode within float32 rounding (as
    # much as the program amplifies it: a rotation recursion's)
    single = faustdiff.compile(program.code, precision="single", filename=str(program.path))
    got32 = single.render(x, n=N)
    for k in range(want.shape[0]):
        allowed = float32_allowance(1e-5, relative_rms(got32[k], got[k]))
        assert relative_rms(got[k], want[k]) <= allowed or relative_rms(got32[k], want[k]) <= 1e-6, (
            f"output {k}: relative RMS {relative_rms(got[k], want[k]):.2e} (double, {allowed:.1e} "
            f"allowed), "
            f"{relative_rms(got32[k], want[k]):.2e} (single); first samples "
            f"faustdiff {got[k, :6]} faust {want[k, :6]}")

"""faustdiff's derivatives agree with JAX's exact derivatives of the same programs.

The real compiler (libfaust, inside dawdreamer) transpiles each program of
``tests/programs/diff`` and each example ``diff.dsp`` (but ``delay``) to JAX
(``scripts/jax_reference.py``); ``jax.jacfwd`` over its slider values, run in float64,
gives the exact derivatives of libfaust's reading of the program. faustdiff's float64
outputs and tangents must match them within 1e-6 relative RMS per channel (the measure of
``test_derivatives_fd.py``), with the diff sliders at faustdiff's exact init values (the
JSON description JAX reads them from may round them: 1/3 is printed 0.333333).

JAX's derivative of an int table read or an int cast is 0, as faustdiff's default rule.
Skipped without JAX or dawdreamer.
"""
from __future__ import annotations

import sys
from pathlib import Path

import numpy as np
import pytest

import faustdiff
from reference import corpus_inputs, faust_available
from test_derivatives_fd import LENGTHS, N, PROGRAMS, program_id, relative_rms

pytestmark = [pytest.mark.reference,
              pytest.mark.skipif(not faust_available(), reason="dawdreamer is not installed")]
pytest.importorskip("jax")
from jax.errors import TracerBoolConversionError  # noqa: E402 (after the skip)

ROOT = Path(__file__).resolve().parent.parent
TOLERANCE = 1e-6


sys.path.insert(0, str(ROOT / "scripts"))  # scripts/ is not a package
import jax_reference  # noqa: E402

# Derivatives faustdiff defines by a documented convention JAX does not share.
NOT_COMPARED = {
    ("diff/float_delay", "d"): "faustdiff's one-sample-difference surrogate for a float delay "
                               "amount @(d) (README); JAX's derivative is the true one, 0",
}

# Programs JAX gets wrong, each an xfail(strict=True) with the reason.
JAX_WRONG = {
    "diff/fmod_negative": (
        "libfaust's JAX backend writes float % and fmod as jnp.mod (floor modulo, the "
        "divisor's sign) where C's fmod truncates (the dividend's sign): the two differ for "
        "negative dividends, by the divisor in value and by 1 in d/dc. libfaust's LLVM "
        "backend renders fmod_negative.dsp like faustdiff (negative values included), and "
        "finite differences confirm faustdiff's derivatives"),
}


# Programs libfaust's JAX backend writes as code JAX cannot trace.
JAX_CANNOT = {
    "diff/enable_control": (
        "libfaust's JAX backend writes enable/control as a Python `if` on a traced value "
        "(TracerBoolConversionError)"),
}


def cases():
    for path in PROGRAMS:
        name = program_id(path)
        marks = []
        if name in JAX_WRONG:
            marks = [pytest.mark.xfail(strict=True, reason=JAX_WRONG[name])]
        elif name in JAX_CANNOT:
            marks = [pytest.mark.xfail(strict=True, reason=JAX_CANNOT[name],
                                       raises=TracerBoolConversionError)]
        yield pytest.param(path, id=name, marks=marks)


@pytest.fixture(scope="module")
def jax():
    return jax_reference.jax_module()  # float64 on


@pytest.mark.parametrize("path", cases())
def test_tangents_match_jax(path, jax):
    name = program_id(path)
    prog = faustdiff.compile_file(str(path))
    n = LENGTHS.get(name, N)  # the same renders as the finite-difference test
    x = corpus_inputs(prog.num_inputs, n) if prog.num_inputs else None
    y, dy = prog.jvp(x, n=n)
    diff_params = prog.diff_params
    model = jax_reference.JaxProgram(path.read_text(), n, jax, import_dirs=[str(path.parent)])
    assert sorted(model.labels) == sorted(dy), "both sides differentiate the same sliders"
    y_jax, dy_jax = jax_reference.jax_jvp(model, x, values={p.label: p.init for p in diff_params})

    assert y_jax.shape == y.shape
    failures = []
    rel = relative_rms(y, y_jax)
    if np.any(rel > TOLERANCE):
        failures.append(f"outputs: channel {int(np.argmax(rel))} relative RMS {rel.max():.2e}")
    for param in diff_params:
        if (name, param.label) in NOT_COMPARED:
            continue
        rel = relative_rms(dy[param.label], dy_jax[param.label])
        if np.any(rel > TOLERANCE):
            failures.append(f"d/d{param.label}: channel {int(np.argmax(rel))} "
                            f"relative RMS {rel.max():.2e}")
    assert not failures, f"{name}: faustdiff and JAX disagree: " + "; ".join(failures)

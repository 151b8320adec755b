"""The entry points: Faust source text or file → `Program`."""
from __future__ import annotations

import numbers
import os
from typing import Sequence

from .runtime.program import Program


def compile(code: str, sample_rate: int = 44100, import_dirs: Sequence[str] = (),
            precision: str = "double", filename: str = "<string>") -> Program:
    """Compile Faust source text. `import_dirs` are searched for `import(...)`ed files
    (after the folder of `filename`)."""
    from .runtime.program_cache import compile_cached

    _check_sample_rate(sample_rate)
    # a program compiled before (same text, settings and imported files) comes from the
    # program cache without running the front end
    return compile_cached(code, sample_rate, tuple(import_dirs), precision, filename,
                          _front_end)


def _front_end(code: str, sample_rate, import_dirs, precision: str, filename: str):
    """Source text → (signal graph, metadata)."""
    from .evaluate import evaluate_string
    from .signals.propagate import propagate

    evaluated = evaluate_string(code, filename, import_dirs=import_dirs, precision=precision)
    return propagate(evaluated.process, sample_rate), evaluated.metadata


def compile_file(path: str, sample_rate: int = 44100, import_dirs: Sequence[str] = (),
                 precision: str = "double") -> Program:
    """Compile a `.dsp` file."""
    from .parse import read_source

    # read_source reads the bytes as Faust does (any encoding, one character per byte
    # when not UTF-8) and only from a regular file: a named pipe would block forever
    code = read_source(path)
    return compile(code, sample_rate, import_dirs, precision, filename=os.fspath(path))


def _check_sample_rate(sample_rate) -> None:
    """Faust's fSamplingFreq is a positive int: 0 would make every `ma.SR` division
    infinite and a negative rate negative delay lengths, far from where they come from."""
    from .errors import FaustRuntimeError

    integral = isinstance(sample_rate, numbers.Integral) or \
        (isinstance(sample_rate, float) and sample_rate.is_integer())
    if isinstance(sample_rate, bool) or not integral or sample_rate <= 0:
        raise FaustRuntimeError(
            f"the sample rate must be a positive whole number of Hz, not {sample_rate!r}")

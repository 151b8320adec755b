"""The entry points: Faust source text or file → `Program`."""
from __future__ import annotations

import os
from typing import Sequence

from .runtime.program import Program


def compile(code: str, sample_rate: int = 44100, import_dirs: Sequence[str] = (),
            precision: str = "double", filename: str = "<string>") -> Program:
    """Compile Faust source text. `import_dirs` are searched for `import(...)`ed files
    (after the folder of `filename`)."""
    from .evaluate import evaluate_string
    from .signals.propagate import propagate

    evaluated = evaluate_string(code, filename, import_dirs=tuple(import_dirs),
                                precision=precision)
    graph = propagate(evaluated.process, sample_rate)
    return Program(graph, sample_rate=sample_rate, precision=precision,
                   metadata=evaluated.metadata, filename=filename)


def compile_file(path: str, sample_rate: int = 44100, import_dirs: Sequence[str] = (),
                 precision: str = "double") -> Program:
    """Compile a `.dsp` file."""
    from .errors import FaustImportError

    try:
        with open(path, "rb") as f:
            raw = f.read()
    except OSError as e:
        raise FaustImportError(f"cannot read {path}: {e.strerror}") from None
    try:
        code = raw.decode("utf-8")
    except UnicodeDecodeError:
        raise FaustImportError(f"{path} is not a UTF-8 text file") from None
    return compile(code, sample_rate, import_dirs, precision, filename=os.fspath(path))

"""`evaluate`: a parsed program -> its `process` as a primitive block diagram."""
from __future__ import annotations

import os
import sys
import threading
from dataclasses import dataclass
from typing import Callable, Sequence, Tuple, TypeVar

from .. import boxes as B
from ..errors import FaustEvaluationError, FaustImportError, FaustNameError, Span
from ..parse import ast
from . import imports
from .evaluator import Evaluator

PRECISIONS = ("single", "double")

# Evaluation recurses as deep as the program's definitions do; it runs in a thread with
# a large stack so that a deep (but finite) evaluation never overflows the C stack, and
# the evaluator's own depth limit stops an endless one first.
_STACK_BYTES = 512 * 1024 * 1024
_RECURSION_LIMIT = 250_000

T = TypeVar("T")


@dataclass(frozen=True)
class EvaluatedProgram:
    process: B.Box
    metadata: Tuple[Tuple[str, str], ...]
    file: str


def evaluate(module: ast.Module, *, import_dirs: Sequence[str] = (),
             precision: str = "double") -> EvaluatedProgram:
    """Reduce `module`'s `process` to a box of primitives and compositions."""
    if precision not in PRECISIONS:
        raise ValueError(f"precision must be one of {PRECISIONS}, not {precision!r}")
    return _run_deep(lambda: _evaluate(module, tuple(import_dirs), precision))


def evaluate_string(text: str, filename: str = "<string>", *, import_dirs: Sequence[str] = (),
                    precision: str = "double") -> EvaluatedProgram:
    from ..parse import parse_string

    return evaluate(parse_string(text, filename), import_dirs=import_dirs, precision=precision)


def evaluate_file(path, *, import_dirs: Sequence[str] = (),
                  precision: str = "double") -> EvaluatedProgram:
    path = os.fspath(path)
    if not os.path.isfile(path):
        raise FaustImportError(f"cannot find the file '{path}'", None)
    module = imports.load_module(path, Span(path, 0, 0))
    return evaluate(module, import_dirs=import_dirs, precision=precision)


def _evaluate(module: ast.Module, import_dirs, precision) -> EvaluatedProgram:
    ev = Evaluator(import_dirs, precision)
    layer = ev.top_layer(module)
    group = layer.entries.get("process")
    if group is None:
        raise FaustNameError(
            "the program has no 'process' definition", Span(module.file, 1, 1),
            hint="a Faust program defines the block diagram it computes as process = ...;")
    span = group.defs[0].span
    # a process that is not a block diagram is reported at its body (process = fx;)
    box = ev.as_box(ev.lookup("process", layer, span), group.defs[0].body.span)
    box.arity()
    metadata = tuple((st.key, st.value) for st in module.statements
                     if type(st) is ast.Declare and not st.target)
    return EvaluatedProgram(box, metadata, module.file)


def _run_deep(fn: Callable[[], T]) -> T:
    result = {}

    def target():
        old_limit = sys.getrecursionlimit()
        sys.setrecursionlimit(max(old_limit, _RECURSION_LIMIT))
        try:
            result["value"] = fn()
        except RecursionError:
            result["error"] = FaustEvaluationError(
                "evaluation too deep (Python's recursion limit was reached)", None,
                hint="is there a recursive definition that never stops, such as f(x) = f(x+1)?")
        except BaseException as e:  # re-raised in the calling thread
            result["error"] = e
        finally:
            sys.setrecursionlimit(old_limit)

    old_size = threading.stack_size()
    worker = None
    for size in (_STACK_BYTES, _STACK_BYTES // 8):
        try:
            threading.stack_size(size)
            worker = threading.Thread(target=target, name="faustdiff-evaluate", daemon=True)
            worker.start()
            break
        except (ValueError, RuntimeError, MemoryError):
            worker = None  # no thread with that stack here: try smaller, then inline
        finally:
            threading.stack_size(old_size)
    if worker is None:
        target()
    else:
        worker.join()
    if "error" in result:
        error = result["error"]
        raise error.with_traceback(error.__traceback__)
    return result["value"]

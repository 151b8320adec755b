"""Compiled programs cached between processes.

The kernel cache (`codegen/cache.py`) saves LLVM's work, but a new process still had to
parse, evaluate, propagate, differentiate and plan a program before it could even name
its kernel: most of a warm compile. This cache keeps, per program, everything `Program`
needs to run without its signal graph: the parameters, the numbers of inputs and
outputs, the metadata, and the source and state layout of each kernel built so far.

An entry is `<cache>/programs/<key>.pickle`. The key hashes what the result depends on
and what is known before compiling: the source text, the file name, `import_dirs`, the
sample rate, the precision, the `FAUSTDIFF_*` settings (delay and table limits), the
Python version, and the text of faustdiff itself (every source file of the package, the
grammar and the kernel template: an edited compiler never reuses an entry of the old
one). The entry also lists what is only known after compiling, and is checked on every
use:

* every import the evaluator resolved (name, importing file, `import_dirs` → path) is
  resolved again by the same function, so a file that now shadows another (in the
  program's folder, in `FAUST_LIB_PATH`, in the working directory) is noticed;
* every file the evaluator read has the same SHA-256 as when it was compiled.

The imports are observed through `faustdiff.evaluate.imports.recording`: the two
functions through which the evaluator reaches files note what they resolve and read
(with the SHA-256 they compute anyway) while a compile records.

Failed compiles are not cached. An entry is faustdiff's own output in the user's own
cache folder; it holds only builtin values and is read by an unpickler that refuses
anything else; one that cannot be read is ignored and rewritten.
"""
from __future__ import annotations

import dataclasses
import hashlib
import os
import pickle
import sys
import threading
from pathlib import Path
from typing import Callable, List, Optional, Sequence, Tuple

from .. import __version__
from ..cachedir import builtin_value, load_builtins, writable_subdir, write_atomic
from ..errors import FaustDiffError, FaustRuntimeError, Span
from .program import KernelLayout, Param, Program

FORMAT = 1
# Environment variables read by the compiler itself (FAUSTDIFF_MAX_DELAY, _MAX_TABLE...);
# the cache folder does not change what is compiled.
_SETTINGS_PREFIX = "FAUSTDIFF_"
_NOT_SETTINGS = ("FAUSTDIFF_CACHE_DIR",)

FrontEnd = Callable[[str, object, Tuple[str, ...], str, str], tuple]


# ----------------------------------------------------------------------------- key

_fingerprint: Optional[str] = None


def compiler_fingerprint() -> str:
    """A hash of faustdiff's own files that shape compiled programs: the package's Python
    sources, the grammar and the kernel template (computed once per process)."""
    global _fingerprint
    if _fingerprint is None:
        import importlib.util

        roots = [Path(__file__).resolve().parent.parent]
        for package in ("faustdiff.grammar", "faustdiff.arch"):
            spec = importlib.util.find_spec(package)
            roots += [Path(p) for p in (spec.submodule_search_locations or [])] if spec else []
        h = hashlib.sha256(__version__.encode())
        for root in roots:
            files = sorted(p for p in root.rglob("*") if p.suffix in (".py", ".lark", ".tmpl")
                           and "__pycache__" not in p.parts)
            for path in files:
                h.update(str(path.relative_to(root)).encode() + b"\0")
                h.update(path.read_bytes())
                h.update(b"\0")
        _fingerprint = h.hexdigest()
    return _fingerprint


def program_key(code: str, sample_rate, import_dirs: Sequence[str], precision: str,
                filename: str) -> str:
    settings = sorted((k, v) for k, v in os.environ.items()
                      if k.startswith(_SETTINGS_PREFIX) and k not in _NOT_SETTINGS)
    parts = (FORMAT, compiler_fingerprint(), sys.version, code, filename,
             tuple(os.fspath(d) for d in import_dirs), repr(sample_rate), precision, settings)
    return hashlib.sha256(repr(parts).encode()).hexdigest()[:32]


# ----------------------------------------------------------------------------- recording

def _recorded(run: Callable[[], tuple]):
    """run() and the ImportLog of the imports it resolved and the files it read."""
    from ..evaluate import imports

    with imports.recording() as log:
        return run(), log


def _file_digest(path: str) -> Optional[str]:
    try:
        with open(path, "rb") as f:
            return hashlib.sha256(f.read()).hexdigest()
    except OSError:
        return None  # never equal to a digest: the entry will not be used


# ----------------------------------------------------------------------------- entries

class ProgramEntry:
    """One cached program. `Program` asks it for kernels and gives it the ones it builds."""

    def __init__(self, path: Optional[Path], data: dict):
        self.path = path
        self.data = data
        self._lock = threading.Lock()
        # the file as this entry last read or wrote it (None: not yet)
        self._written = _file_stamp(path) if path is not None else None

    @property
    def shape(self) -> Tuple[int, int]:
        return self.data["num_inputs"], self.data["num_outputs"]

    @property
    def params(self) -> List[Param]:
        return [Param(label, path, init, lo, hi, step, diff, kind, dict(metadata))
                for label, path, init, lo, hi, step, diff, kind, metadata in self.data["params"]]

    def kernel(self, key: str) -> Optional[Tuple[str, KernelLayout]]:
        found = self.data["kernels"].get(key)
        if found is None:
            return None
        source, layout = found
        return source, KernelLayout(*layout)

    def add_kernel(self, key: str, source: str, layout: KernelLayout) -> None:
        fields = tuple(getattr(layout, f.name) for f in dataclasses.fields(layout))
        with self._lock:
            self.data["kernels"][key] = (source, fields)
            if self.path is None:
                return
            # another process may have added kernels to the same entry meanwhile: keep them
            if _file_stamp(self.path) != self._written:
                other = _read(self.path)
                if other is not None and _same_dependencies(other, self.data):
                    for k, v in other["kernels"].items():
                        self.data["kernels"].setdefault(k, v)
            _write(self.path, self.data)
            self._written = _file_stamp(self.path)


def _file_stamp(path: Path):
    try:
        st = path.stat()
    except OSError:
        return None
    return st.st_ino, st.st_size, st.st_mtime_ns


def _describe(graph, metadata, recording) -> dict:
    return {
        "format": FORMAT,
        "num_inputs": graph.num_inputs,
        "num_outputs": len(graph.outputs),
        "params": [tuple(builtin_value(v) for v in (s.label, s.path, s.init, s.min, s.max, s.step,
                                               s.diff, s.kind))
                   + (tuple((str(k), str(v)) for k, v in s.metadata),) for s in graph.params],
        "metadata": tuple((str(k), str(v)) for k, v in metadata),
        "resolutions": sorted(((name, importing, dirs, path) for (name, importing, dirs), path
                               in recording.resolutions.items()), key=repr),
        "files": sorted(recording.files.items()),
        "kernels": {},
    }


def _same_dependencies(a: dict, b: dict) -> bool:
    return a["resolutions"] == b["resolutions"] and a["files"] == b["files"]


def _still_valid(data: dict) -> bool:
    """Do the imports still resolve to the same files, with the same contents?"""
    if any(digest is None for _, digest in data["files"]):
        return False
    from ..evaluate import imports

    for name, importing, dirs, path in data["resolutions"]:
        try:
            if imports.resolve(name, importing, dirs, Span(importing, 0, 0)) != path:
                return False
        except FaustDiffError:
            return False
    return all(_file_digest(path) == digest for path, digest in data["files"])


def _usable_entry(path: Path) -> Optional[ProgramEntry]:
    """The entry at `path` if there is one, well formed and still valid."""
    data = _read(path)
    if data is None:
        return None
    try:
        if not _still_valid(data):
            return None
        entry = ProgramEntry(path, data)
        # read every field now: a malformed entry fails here, not later inside Program
        _ = (entry.params, entry.shape, tuple(data["metadata"]),
             [entry.kernel(key) for key in data["kernels"]])
        return entry
    except Exception:  # a malformed entry is like no entry: it is compiled and rewritten
        return None


def _read(path: Path) -> Optional[dict]:
    try:
        data = load_builtins(path)
    except FileNotFoundError:
        return None
    except Exception:  # truncated, foreign or from another format: ignored, then rewritten
        return None
    if not isinstance(data, dict) or data.get("format") != FORMAT:
        return None
    return data


def _write(path: Path, data: dict) -> None:
    try:
        write_atomic(path, pickle.dumps(data, protocol=pickle.HIGHEST_PROTOCOL))
    except (OSError, pickle.PicklingError):
        pass  # no entry: the next process compiles again


# ----------------------------------------------------------------------------- compile

def compile_cached(code: str, sample_rate, import_dirs: Sequence[str], precision: str,
                   filename: str, front_end: FrontEnd) -> Program:
    """`front_end(code, sample_rate, import_dirs, precision, filename)` gives (signal
    graph, metadata); the program comes from the cache when an entry is still valid."""
    import_dirs = tuple(import_dirs)

    def run():
        return front_end(code, sample_rate, import_dirs, precision, filename)

    folder = writable_subdir("programs")
    if folder is None:  # no cache folder: compile as if there were no cache
        graph, metadata = run()
        return Program(graph, sample_rate=sample_rate, precision=precision,
                       metadata=metadata, filename=filename)
    path = folder / f"{program_key(code, sample_rate, import_dirs, precision, filename)}.pickle"
    entry = _usable_entry(path)
    if entry is not None:
        data = entry.data
        return Program._from_cache(entry, lambda: _rebuild(run, entry),
                                   sample_rate=sample_rate, precision=precision,
                                   metadata=data["metadata"], filename=filename)
    (graph, metadata), recording = _recorded(run)
    data = _describe(graph, metadata, recording)
    # (written when its first kernel is added: an entry without kernels saves nothing)
    prog = Program(graph, sample_rate=sample_rate, precision=precision, metadata=metadata,
                   filename=filename)
    prog._entry = ProgramEntry(path, data)
    return prog


def _rebuild(run: Callable[[], tuple], entry: ProgramEntry):
    """The signal graph of a program restored from the cache, compiled again. Its files
    must not have changed since the entry was checked: the kernels already running come
    from them, and new kernels must match."""
    (graph, metadata), recording = _recorded(run)
    fresh = _describe(graph, metadata, recording)
    # Evaluation is a function of the files it reads: reading the same files, resolved the
    # same way, it makes the same program. (The recording may hold more: files that a
    # compile in another thread read meanwhile.)
    same_files = all(recording.files.get(path) == digest for path, digest in entry.data["files"])
    same_imports = all(recording.resolutions.get((name, importing, dirs)) == path
                       for name, importing, dirs, path in entry.data["resolutions"])
    if not (same_files and same_imports) or any(
            fresh[k] != entry.data[k] for k in ("num_inputs", "num_outputs", "params")):
        entry.path = None  # its kernels no longer describe these files: add none
        raise FaustRuntimeError(
            "the program's imported files changed after it was compiled; compile it again")
    return graph

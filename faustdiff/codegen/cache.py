"""On-disk cache of generated kernels.

A kernel's source is written once to `<cache>/kernels/k_<hash>.py`, where the hash
covers the source text and the versions that shape its machine code; Numba's own
`cache=True` then keeps the compiled machine code beside it, so a program compiled
before loads without running LLVM again. The cache folder is `$FAUSTDIFF_CACHE_DIR`,
else `$XDG_CACHE_HOME/faustdiff`, else `~/.cache/faustdiff`.

Loading through Numba still costs Numba's first-use initialisation (about half a second
per process), so once Numba has run a kernel its machine code is also saved as
`k_<hash>.<machine>.native` and later processes run it with llvmlite alone
(`native.py`); Numba is the fallback whenever that file is missing or unusable.
"""
from __future__ import annotations

import hashlib
import importlib.util
import sys
import threading
from pathlib import Path
from typing import Optional

import numba

from .. import __version__
from ..cachedir import cache_dir, write_atomic
from . import fast_call, native


def _helpers_text() -> str:
    """The source of the runtime helpers every kernel inlines: a change to one must
    not load machine code compiled with the old one."""
    global _HELPERS_TEXT
    if _HELPERS_TEXT is None:
        _HELPERS_TEXT = "".join((Path(__file__).parent / name).read_text()
                                for name in ("runtime_helpers.py", "exp_log.py", "libm.py"))
    return _HELPERS_TEXT


_HELPERS_TEXT: Optional[str] = None


def source_hash(source: str) -> str:
    h = hashlib.sha256()
    for part in (source, _helpers_text(), numba.__version__, __version__, sys.version):
        h.update(part.encode())
        h.update(b"\0")
    return h.hexdigest()[:24]


def _kernel_folder() -> Path:
    folder = cache_dir() / "kernels"
    folder.mkdir(parents=True, exist_ok=True)
    return folder


def load_numba_kernel(source: str, digest: Optional[str] = None, precision: str = "double"):
    """The `compute` dispatcher of a kernel source (whose `source_hash` is `digest`),
    Numba compiling it or loading it from Numba's cache; a source that asks for the SLP
    vectorizer is compiled for `precision`'s arguments at once."""
    digest = digest or source_hash(source)
    module_name = f"faustdiff_kernel_{digest}"
    module = sys.modules.get(module_name)
    if module is None:
        folder = _kernel_folder()
        path = folder / f"k_{digest}.py"
        if not path.exists() or path.read_text() != source:
            write_atomic(path, source.encode())  # other processes may compile it too
        spec = importlib.util.spec_from_file_location(module_name, path)
        module = importlib.util.module_from_spec(spec)
        spec.loader.exec_module(module)
        # (registered first: Numba's cache names the module of what it saves)
        sys.modules[module_name] = module
        if getattr(module, "SLP_VECTORIZE", False):
            _compile_vectorized(module.compute, precision)
    return module.compute


def _compile_vectorized(dispatcher, precision: str) -> None:
    """Compile the kernel's overload for its arguments (or load it from Numba's cache)
    with LLVM's SLP vectorizer, which Numba leaves off: it joins the same operations on
    parallel data (Freeverb's eight combs) into vector instructions. Numba reads that
    process-wide setting when it builds a compilation's passes, so it is set only while
    Numba's compiler lock, which every compilation holds, is held here."""
    if not hasattr(dispatcher, "compile"):
        return  # NUMBA_DISABLE_JIT: a Python function
    from numba.core import config
    from numba.core.compiler_lock import global_compiler_lock

    with global_compiler_lock:
        before = config.SLP_VECTORIZE
        config.SLP_VECTORIZE = True
        try:
            dispatcher.compile(native.numba_signature(precision))
        finally:
            config.SLP_VECTORIZE = before


def _artifact(digest: str) -> Optional[Path]:
    """Where kernel `digest`'s machine code for this machine is saved, or None: Numba
    compiles nothing (NUMBA_DISABLE_JIT), or llvmlite knows no host (Numba only)."""
    if numba.config.DISABLE_JIT:
        return None
    try:
        return native.artifact_path(_kernel_folder(), digest)
    except Exception:
        return None


def load_kernel(source: str, precision: str = "double", digest: Optional[str] = None):
    """A callable `compute(n, inputs, outputs, tangents, (fstate, istate), params)` for a
    kernel source (whose `source_hash` is `digest`): its saved machine code when there is
    some for this machine, else the Numba kernel (which saves its machine code after its
    first call)."""
    digest = digest or source_hash(source)
    artifact = _artifact(digest)
    if artifact is None:
        return load_numba_kernel(source, digest, precision)
    if artifact.exists():
        # Once Numba has paid its start-up in this process, its dispatcher (about 1.5 µs
        # a call) beats a native kernel called through ctypes (13-20 µs), but not one
        # called through a fast-call builtin (about 1 µs; codegen/fast_call.py).
        if not _numba_started() or fast_call.usable():
            kernel = native.load(artifact, digest, precision)
            if kernel is not None:
                kernel.fallback = lambda: load_numba_kernel(source, digest, precision)
                return kernel
        else:
            return load_numba_kernel(source, digest, precision)
    # (a file that did not load is written again)
    return _NumbaKernel(load_numba_kernel(source, digest, precision), precision, artifact)


def saved_native_kernel(digest: str, precision: str = "double"):
    """Kernel `digest`'s saved machine code, loaded (once per process): a `NativeKernel`;
    None while none is saved for this machine; False when there will be none, or the
    saved code cannot be loaded."""
    artifact = _artifact(digest)
    if artifact is None:
        return False
    if not artifact.exists():
        return None
    return native.load(artifact, digest, precision) or False


def _numba_started() -> bool:
    """Whether Numba's CPU target context exists in this process (it is made on the first
    compile or cache load, and is most of the cost of Numba's start-up)."""
    from numba.core.registry import cpu_target

    return "_toplevel_target_context" in vars(cpu_target)


class _NumbaKernel:
    """The Numba dispatcher, which after its first call (when Numba has compiled or
    loaded the kernel) saves the kernel's machine code for the next processes."""

    def __init__(self, dispatcher, precision: str, artifact: Path):
        self.dispatcher = dispatcher
        self._export = (precision, artifact)
        self._lock = threading.Lock()

    def __call__(self, *args):
        self.dispatcher(*args)
        if self._export is not None:
            with self._lock:
                if self._export is not None:
                    precision, artifact = self._export
                    self._export = None
                    native.export(self.dispatcher, precision, artifact)

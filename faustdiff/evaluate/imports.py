"""Finding and reading the files a program imports.

`import("x.lib")`, `library("x.lib")` and `component("x.dsp")` name a file that is
searched, in order, in: the folder of the file that names it, the `import_dirs` given to
`evaluate`, the folders of the `FAUST_LIB_PATH` environment variable, the standard Faust
install folders, and the Faust libraries shipped inside installed Python packages (the
`faustlibraries` folder of `dawdreamer`). `pkg:faust/<owner>/<file>@<version>` names the
same local file `<file>`. Parsed files are cached in memory, keyed by path and content.
"""
from __future__ import annotations

import hashlib
import importlib.util
import os
import re
import threading
from contextlib import contextmanager
from typing import Dict, Iterator, List, Optional, Sequence, Tuple

from ..errors import FaustImportError, Span
from ..parse import ast

STANDARD_FOLDERS = ("/usr/share/faust", "/usr/local/share/faust")
_PACKAGES_WITH_LIBRARIES = ("dawdreamer",)
_PACKAGE_SUBFOLDERS = ("dx7",)
_PKG_URL = re.compile(r"^pkg:faust/[^/]+/(?P<file>[^@]+?)(?:@[^@/]*)?$")

_package_folders: Optional[Tuple[str, ...]] = None


def package_library_folders() -> Tuple[str, ...]:
    """The `faustlibraries` folders of installed Python packages that ship them."""
    global _package_folders
    if _package_folders is None:
        found = []
        for name in _PACKAGES_WITH_LIBRARIES:
            try:
                spec = importlib.util.find_spec(name)
            except (ImportError, ValueError):
                spec = None
            if spec is None:
                continue
            roots = list(spec.submodule_search_locations or [])
            if not roots and spec.origin:
                roots = [os.path.dirname(spec.origin)]
            for root in roots:
                folder = os.path.join(root, "faustlibraries")
                if os.path.isdir(folder):
                    found.append(folder)
                    # all.lib imports dx7.lib, which lives in a subfolder (dawdreamer's
                    # libfaust searches it too)
                    for sub in _PACKAGE_SUBFOLDERS:
                        if os.path.isdir(os.path.join(folder, sub)):
                            found.append(os.path.join(folder, sub))
        _package_folders = tuple(found)
    return _package_folders


def search_folders(importing_file: str, import_dirs: Sequence[str]) -> List[str]:
    """The folders searched for a file named in `importing_file`, in order."""
    folders: List[str] = []
    if importing_file and os.path.isfile(importing_file):
        folders.append(os.path.dirname(os.path.abspath(importing_file)))
    else:
        folders.append(os.getcwd())
    folders.extend(os.fspath(d) for d in import_dirs)
    env_path = os.environ.get("FAUST_LIB_PATH", "")
    folders.extend(p for p in env_path.split(os.pathsep) if p)
    folders.extend(STANDARD_FOLDERS)
    folders.extend(package_library_folders())
    seen, unique = set(), []
    for f in folders:
        if f not in seen:
            seen.add(f)
            unique.append(f)
    return unique


def local_name(name: str) -> str:
    """The local file name an import names (`pkg:` URLs map to their file)."""
    m = _PKG_URL.match(name)
    if m:
        return os.path.basename(m.group("file"))
    if name.startswith("file://"):
        return name[len("file://"):]
    return name


# ------------------------------------------------------------------ what a compile reads
class ImportLog:
    """The imports resolved and the files read (with their SHA-256) while it is open: the
    program cache checks them before it reuses a compiled program."""

    def __init__(self):
        self.resolutions: Dict[Tuple[str, str, Tuple[str, ...]], str] = {}
        self.files: Dict[str, str] = {}


_logs: List[ImportLog] = []
_logs_lock = threading.Lock()


@contextmanager
def recording() -> Iterator[ImportLog]:
    """An ImportLog of what evaluation resolves and reads until the block ends. The
    evaluator runs in a thread of its own, so logs are global: compiles running at the
    same time each note the other's files too, which only makes their checks stricter."""
    log = ImportLog()
    with _logs_lock:
        _logs.append(log)
    try:
        yield log
    finally:
        with _logs_lock:
            _logs.remove(log)


def _note(table: str, key, value) -> None:
    if _logs:
        with _logs_lock:
            for log in _logs:
                getattr(log, table)[key] = value


# ------------------------------------------------------------------ finding and reading
def resolve(name: str, importing_file: str, import_dirs: Sequence[str], span: Span) -> str:
    """The path of the file `name` (as written in `importing_file`); FaustImportError at
    `span` naming the folders searched when there is none."""
    path = _find(name, importing_file, import_dirs, span)
    _note("resolutions", (name, importing_file, tuple(os.fspath(d) for d in import_dirs)), path)
    return path


def _find(name: str, importing_file: str, import_dirs: Sequence[str], span: Span) -> str:
    if name.startswith(("http://", "https://")):
        raise FaustImportError(
            f"cannot import '{name}': faustdiff does not download files", span,
            hint="download the file and add its folder to import_dirs")
    target = local_name(name)
    if os.path.isabs(target):
        if os.path.isfile(target):
            return os.path.normpath(target)
        folders = [os.path.dirname(target)]
    else:
        folders = search_folders(importing_file, import_dirs)
        for folder in folders:
            path = os.path.join(folder, target)
            if os.path.isfile(path):
                return os.path.abspath(path)
    raise FaustImportError(
        f"cannot find '{name}'; searched: " + ", ".join(folders), span,
        hint="add the file's folder to import_dirs or to FAUST_LIB_PATH")


_cache: Dict[Tuple[str, str], ast.Module] = {}
_cache_lock = threading.Lock()


def load_module(path: str, span: Span) -> ast.Module:
    """The parsed file at `path` (cached by path and content hash)."""
    try:
        with open(path, "rb") as f:
            data = f.read()
    except OSError as e:
        raise FaustImportError(f"cannot read '{path}': {e.strerror}", span) from None
    digest = hashlib.sha256(data).hexdigest()
    _note("files", path, digest)
    key = (os.path.realpath(path), digest)
    with _cache_lock:
        module = _cache.get(key)
    if module is None:
        from ..parse.module_cache import parse_bytes_cached

        module = parse_bytes_cached(data, path)
        with _cache_lock:
            _cache[key] = module
    return module


def clear_cache() -> None:
    with _cache_lock:
        _cache.clear()

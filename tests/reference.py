"""Differential-testing harness: render Faust code with the real Faust compiler.

The real compiler is libfaust (LLVM backend) embedded in the ``dawdreamer`` wheel. This
module hides dawdreamer's quirks behind one function, :func:`render_with_faust`, so tests
can compare faustdiff's output with the reference sample by sample.

Quirks handled here (observed with dawdreamer 0.9.0 / libfaust 2.85.9):

* ``RenderEngine.render(seconds)`` renders ``floor(seconds * sample_rate)`` samples, and
  ``n / sr * sr`` is often just below ``n`` in floating point (n = 15 at 44100 Hz renders
  14 samples). Asking for ``(n + 0.5) / sr`` seconds gives exactly ``n`` samples for every
  ``n``; the result is still sliced to ``n`` as a guard.
* Each render restarts the DSP from a cleared state. A second ``make_faust_processor``
  with the same name on one engine silently replaces the first (a warning on stdout), so
  every compile gets a fresh ``RenderEngine``; that costs little (about 10 ms a program
  with one compile, most of it libfaust's).
* A ``FaustProcessor`` prepends ``import("stdfaust.lib");`` by default (``auto_import``).
  That clashes with programs that define ``ma``, ``os``... themselves, and changes what a
  core-language program means, so it is switched off: code must import what it uses.
* Parameter paths are ``/<top>/<groups...>/<label>`` with the label's ``[metadata]``
  removed and spaces replaced by ``_``. ``<top>`` is ``dawdreamer``, or the program's
  ``declare name``, or a single enclosing group's name. The processor's own name plays no
  part. ``set_parameter`` neither clamps to [min, max] nor rounds to the step.
* Inputs come from a ``PlaybackProcessor`` (float32, shape (channels, samples)) wired into
  the Faust processor. Missing channels and samples read as zero; an unconnected
  processor sees zeros too.
* The Faust processor computes in place: output channel k and input channel k are the
  same buffer, so writing output k clobbers input k before later outputs read it
  (``process = 1, _;`` outputs 1, 1). Programs with inputs are therefore compiled a
  second time with the entry point ``par(i, M, !), process`` (Faust's ``-pn`` option;
  M = number of outputs) and fed M silent channels before the real ones: the real inputs
  then sit on channels that no output writes.
* Constant expressions out of a primitive's domain (``sqrt(-1)``, ``1/0``) are compile-time
  errors in Faust; audio goes through float32 output buffers (Faust's default single
  precision), and subnormals are not flushed.
* Compile errors are raised by ``compile()`` as ``RuntimeError`` whose text starts with
  ``FaustProcessor::compile():`` and ends with a note about the library path; line numbers
  in it (``dawdreamer:N``) are one more than the line in the code given.
"""

from __future__ import annotations

import functools
import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from pathlib import Path

import numpy as np

# The corpus of small core-language programs that pin down Faust's semantics.
CORPUS_DIR = Path(__file__).resolve().parent / "programs" / "core"
STDLIB_DIR = Path(__file__).resolve().parent / "programs" / "stdlib"

# Block size of the engine. Sliders are fixed for a whole render, so it does not change the
# output; 64 keeps the per-block overhead of the engine small without hurting short renders.
DEFAULT_BLOCK_SIZE = 64


class FaustCompileError(RuntimeError):
    """The real Faust compiler rejected the code; ``faust_message`` is its own text."""

    def __init__(self, faust_message: str):
        super().__init__(faust_message)
        self.faust_message = faust_message


@dataclass(frozen=True)
class FaustParameter:
    """One UI element of a compiled program, as the real compiler reports it."""

    path: str
    label: str
    init: float
    min: float
    max: float
    step: float


def float32_allowance(floor: float, own_rounding: float, factor: float = 10.0,
                      ceiling: float = 1e-3) -> float:
    """How far a float32 rendering by the real compiler may be from faustdiff's, at least
    `floor`: two float32 renderings of one program differ by the rounding the program
    amplifies, which faustdiff's own float32 rendering shows against its float64 one
    (`own_rounding`, relative). A rotation recursion (2000 samples) came out 1.38e-5 from
    the float64 result under libfaust on an AMD Zen 4 machine and 1.49e-5 under
    faustdiff; a resonant filter's tangents 1.0e-4 and 3.0e-5. Up to `factor` times that,
    and never more than `ceiling`: a wrong program is off by far more, and a program whose
    rendering a rounding tie decides (a sample-and-hold on an exact zero crossing) is an
    ill-posed reference."""
    return max(floor, min(ceiling, factor * own_rounding))


@functools.cache
def faust_available() -> bool:
    """True when dawdreamer (and so libfaust) can be imported; tests skip otherwise."""
    try:
        import dawdreamer  # noqa: F401
    except ImportError:
        return False
    return True


def _dawdreamer():
    import dawdreamer

    return dawdreamer


# Entry point of the in-place-safe wrapper; a name no program is expected to define.
_WRAPPED_PROCESS = "faustdiff_reference_process__"


def _compiled_processor(
    code: str,
    sample_rate: int,
    import_dirs: Iterable[str],
    block_size: int,
    process_name: str = "process",
):
    """A fresh engine and a compiled Faust processor for ``code``."""
    engine = _dawdreamer().RenderEngine(int(sample_rate), int(block_size))
    processor = engine.make_faust_processor("faust")
    processor.auto_import = ""
    if process_name != "process":
        processor.compile_flags = ["-pn", process_name]
    dirs = [str(d) for d in import_dirs]
    if dirs:
        # The bundled Faust libraries stay reachable: dawdreamer searches them after these.
        processor.faust_libraries_paths = dirs
    processor.set_dsp_string(code)
    try:
        processor.compile()
    except RuntimeError as error:
        raise FaustCompileError(_clean_compile_message(str(error))) from None
    return engine, processor


def _clean_compile_message(text: str) -> str:
    """Strip dawdreamer's wrapper around the Faust compiler's message."""
    text = text.removeprefix("FaustProcessor::compile():").strip()
    text = re.sub(r"\s*\.\s*Check the faustlibraries path:.*\Z", "", text, flags=re.S)
    return text.strip()


def _parameters(processor) -> list[FaustParameter]:
    return [
        FaustParameter(
            path=d["name"],
            label=d["label"],
            init=float(d["value"]),
            min=float(d["min"]),
            max=float(d["max"]),
            step=float(d["step"]),
        )
        for d in processor.get_parameters_description()
    ]


def _plain_label(name: str) -> str:
    """A user-facing label or path as the compiler spells it: metadata gone, ``_`` for spaces."""
    return re.sub(r"\[[^\]]*\]", "", name).strip().replace(" ", "_")


def resolve_parameter_path(name: str, parameters: list[FaustParameter]) -> str:
    """Full path of the parameter that ``name`` designates.

    ``name`` may be a full path, a path tail (``group/label``) or a plain label, with or
    without ``[metadata]``. A plain label shared by several parameters is ambiguous.
    """
    matches = _matching_paths(name, parameters)
    if len(matches) == 1:
        return matches[0]
    if not matches:
        raise KeyError(f"no parameter {name!r}; the program has {[p.path for p in parameters]}")
    raise KeyError(f"parameter {name!r} is ambiguous: {matches}; give the full path")


def _matching_paths(name: str, parameters: list[FaustParameter]) -> list[str]:
    """The paths ``name`` may designate: its own, or those it is the tail of."""
    wanted = _plain_label(name)
    paths = [p.path for p in parameters]
    if wanted in paths:
        return [wanted]
    tail = "/" + wanted.lstrip("/")
    return [p for p in paths if p.endswith(tail)]


def _input_signals(inputs: np.ndarray | None, num_inputs: int, n: int) -> np.ndarray:
    """The caller's inputs checked and shaped (num_inputs, n); silence when omitted."""
    if inputs is None:
        return np.zeros((num_inputs, n))
    block = np.asarray(inputs, dtype=np.float64)
    if block.ndim == 1:
        block = block[np.newaxis, :]
    if block.ndim != 2 or block.shape[0] != num_inputs:
        raise ValueError(f"the program takes {num_inputs} inputs; got an array of shape {block.shape}")
    if block.shape[1] < n:
        raise ValueError(f"inputs have {block.shape[1]} samples; {n} needed")
    return block[:, :n]


def _in_place_safe(code: str, num_outputs: int) -> str:
    """``code`` plus an entry point whose first ``num_outputs`` inputs are discarded.

    Appended after the code so Faust's line numbers in error messages do not move.
    """
    return f"{code}\n{_WRAPPED_PROCESS} = par(i, {num_outputs}, !), process;\n"


def render_with_faust(
    code: str,
    n: int,
    inputs: np.ndarray | None = None,
    params: Mapping[str, float] | None = None,
    sample_rate: int = 44100,
    *,
    import_dirs: Iterable[str] = (),
    block_size: int = DEFAULT_BLOCK_SIZE,
    skip_missing: bool = False,
) -> np.ndarray:
    """Render ``n`` samples of ``code`` with the real Faust compiler.

    ``inputs`` is (num_inputs, n) (a 1-D array for one input); omitted inputs are silence.
    ``params`` maps labels or paths to values; the others keep their init values.
    ``skip_missing`` ignores a label the compiled program has no widget for (Faust drops
    the widgets its simplifications leave unused) instead of raising. Returns
    float64 of shape (num_outputs, n) holding Faust's single-precision samples.
    Raises :class:`FaustCompileError` with Faust's message when the code does not compile.
    """
    n = int(n)
    if n < 1:
        raise ValueError("n must be at least 1")
    engine, processor = _compiled_processor(code, sample_rate, import_dirs, block_size)
    num_inputs = processor.get_num_input_channels()
    num_outputs = processor.get_num_output_channels()
    if inputs is not None and num_inputs == 0:
        raise ValueError("the program takes no inputs, but inputs were given")
    graph = [(processor, [])]
    if num_inputs:
        signals = _input_signals(inputs, num_inputs, n)
        engine, processor = _compiled_processor(
            _in_place_safe(code, num_outputs), sample_rate, import_dirs, block_size, _WRAPPED_PROCESS
        )
        # Silent channels under the outputs, then the real inputs (see the module notes).
        played = np.concatenate([np.zeros((num_outputs, n)), signals]).astype(np.float32)
        player = engine.make_playback_processor("inputs", played)
        graph = [(player, []), (processor, ["inputs"])]
    _set_parameters(processor, params or {}, skip_missing)
    engine.load_graph(graph)
    # Half a sample more than needed, because render() truncates seconds * rate.
    engine.render((n + 0.5) / sample_rate)
    audio = np.asarray(engine.get_audio(), dtype=np.float64)[:, :n]
    if audio.shape != (num_outputs, n):
        raise RuntimeError(f"dawdreamer rendered shape {audio.shape}, expected {(num_outputs, n)}")
    return audio


def _set_parameters(processor, params: Mapping[str, float], skip_missing: bool = False) -> None:
    parameters = _parameters(processor)
    for name, value in params.items():
        if skip_missing and not _matching_paths(name, parameters):
            continue  # (a widget Faust did not keep)
        path = resolve_parameter_path(name, parameters)
        if not processor.set_parameter(path, float(value)):
            raise RuntimeError(f"dawdreamer refused to set {path}")


def faust_io(code: str, *, import_dirs: Iterable[str] = (), sample_rate: int = 44100) -> tuple[int, int]:
    """(num_inputs, num_outputs) of ``code`` according to the real compiler."""
    _, processor = _compiled_processor(code, sample_rate, import_dirs, DEFAULT_BLOCK_SIZE)
    return processor.get_num_input_channels(), processor.get_num_output_channels()


def faust_parameters(code: str, *, import_dirs: Iterable[str] = (), sample_rate: int = 44100) -> list[FaustParameter]:
    """The UI parameters of ``code`` (path, label, init, range, step) in dawdreamer's order."""
    _, processor = _compiled_processor(code, sample_rate, import_dirs, DEFAULT_BLOCK_SIZE)
    return _parameters(processor)


@dataclass(frozen=True)
class CorpusProgram:
    """One corpus file: its name (file stem), code and declared number of inputs."""

    name: str
    path: Path
    code: str
    num_inputs: int


_INPUTS_COMMENT = re.compile(r"^\s*//\s*inputs:\s*(\d+)\s*$")


def declared_inputs(code: str) -> int:
    """The K of a first-line ``// inputs: K`` comment; 0 when there is none."""
    first_line = code.split("\n", 1)[0]
    match = _INPUTS_COMMENT.match(first_line)
    return int(match.group(1)) if match else 0


def corpus_programs(folder: Path = CORPUS_DIR) -> list[CorpusProgram]:
    """Every ``.dsp`` of the corpus, sorted by name."""
    programs = []
    for path in sorted(Path(folder).glob("*.dsp")):
        code = path.read_text()
        programs.append(CorpusProgram(path.stem, path, code, declared_inputs(code)))
    return programs


def corpus_inputs(num_inputs: int, n: int, seed: int = 0) -> np.ndarray:
    """The input signals corpus programs are driven with: uniform noise in [-1, 1].

    Seeded, so faustdiff and the real compiler see the same samples. Values are rounded to
    float32 because that is what the real compiler's input buffers hold.
    """
    # One generator per channel, so a channel's samples do not depend on n or on how many
    # channels there are: a longer render extends a shorter one.
    channels = [np.random.default_rng([seed, k]).uniform(-1.0, 1.0, size=n) for k in range(num_inputs)]
    noise = np.array(channels, dtype=np.float64).reshape(num_inputs, n)
    return noise.astype(np.float32).astype(np.float64)

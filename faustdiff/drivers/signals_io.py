"""Signals in and out of the drivers: Faust programs, audio files, parameter assignments.

A *source* names where a signal comes from: a `.dsp` program (compiled and rendered) or
an audio file (read with soundfile). Every problem a user can cause here — a missing
file, an unreadable file, a program with the wrong number of inputs — becomes a
`FaustRuntimeError`, so the CLI reports it in one line and exits with status 2.

Signals are float64 arrays shaped (channels, samples), the layout `Program.render` uses.
"""
from __future__ import annotations

import os
from dataclasses import dataclass
from typing import Iterable, List, Mapping, Optional, Sequence

import numpy as np

import faustdiff
from faustdiff.errors import FaustRuntimeError

# Suffixes treated as Faust source; everything else is handed to soundfile.
DSP_SUFFIXES = (".dsp",)

PRECISIONS = ("single", "double")


def is_dsp_path(path: str) -> bool:
    return os.path.splitext(path)[1].lower() in DSP_SUFFIXES


def require_file(path: str, role: str) -> None:
    """Fail with one clear line when `path` is not a readable file."""
    if not os.path.exists(path):
        raise FaustRuntimeError(f"{role} file not found: {path}")
    if os.path.isdir(path):
        raise FaustRuntimeError(f"{role} is a directory, not a file: {path}")


def load_program(path: str, role: str, sample_rate: int = 44100,
                 import_dirs: Sequence[str] = (), precision: str = "double"):
    """Compile the Faust program at `path`; `role` ("DIFF", "GT", ...) names it in errors."""
    require_file(path, role)
    if not is_dsp_path(path):
        raise FaustRuntimeError(f"{role} must be a Faust program (.dsp), got: {path}")
    return faustdiff.compile_file(path, sample_rate=sample_rate,
                                  import_dirs=tuple(import_dirs), precision=precision)


@dataclass
class AudioFile:
    signal: np.ndarray  # (channels, samples) float64
    sample_rate: int


def read_audio(path: str, role: str) -> AudioFile:
    require_file(path, role)
    import soundfile  # imported here: only audio sources pay for libsndfile

    try:
        data, rate = soundfile.read(path, dtype="float64", always_2d=True)
    except (RuntimeError, OSError, TypeError, ValueError) as e:
        # soundfile raises LibsndfileError (a RuntimeError) for unknown or corrupt files.
        raise FaustRuntimeError(f"cannot read {role} audio file {path}: {e}") from None
    return AudioFile(np.ascontiguousarray(data.T), int(rate))


def write_audio(path: str, signal: np.ndarray, sample_rate: int) -> None:
    """Write (channels, samples) as 32-bit float, so values beyond ±1 survive unclipped."""
    import soundfile

    if signal.shape[0] == 0:
        raise FaustRuntimeError(f"nothing to write to {path}: the signal has no channels")
    try:
        soundfile.write(path, np.ascontiguousarray(signal.T), int(sample_rate), subtype="FLOAT")
    except (RuntimeError, OSError, TypeError, ValueError) as e:
        raise FaustRuntimeError(f"cannot write audio file {path}: {e}") from None


def write_text_file(path: str, text: str) -> None:
    try:
        with open(path, "w", encoding="utf-8") as f:
            f.write(text)
    except OSError as e:
        raise FaustRuntimeError(f"cannot write {path}: {e.strerror}") from None


def audio_sample_rate(path: Optional[str]) -> Optional[int]:
    """The sample rate of an audio file, or None for a program or no path at all."""
    if path is None or is_dsp_path(path):
        return None
    require_file(path, "audio")
    import soundfile

    try:
        return int(soundfile.info(path).samplerate)
    except (RuntimeError, OSError, TypeError, ValueError) as e:
        raise FaustRuntimeError(f"cannot read audio file {path}: {e}") from None


def choose_sample_rate(requested: Optional[int], audio_paths: Iterable[Optional[str]],
                       default: int = 44100) -> int:
    """One sample rate for a run: the requested one, else the audio files', else `default`.

    Audio files are not resampled, so a file whose rate disagrees with the run's is an error
    rather than a silent change of pitch.
    """
    rates = {}
    for path in audio_paths:
        rate = audio_sample_rate(path)
        if rate is not None:
            rates[path] = rate
    chosen = requested if requested is not None else next(iter(rates.values()), default)
    for path, rate in rates.items():
        if rate != chosen:
            raise FaustRuntimeError(
                f"{path} has sample rate {rate} Hz but the run uses {chosen} Hz "
                "(audio files are not resampled)")
    if chosen <= 0:
        raise FaustRuntimeError(f"the sample rate must be positive, got {chosen}")
    return chosen


def render_source(path: str, n: int, role: str, sample_rate: int = 44100,
                  import_dirs: Sequence[str] = (), precision: str = "double") -> np.ndarray:
    """The first `n` samples of a source as (channels, m), m = n except for a short audio file.

    A program source must have no inputs: it is a signal generator (e.g. a noise program).
    """
    if is_dsp_path(path):
        prog = load_program(path, role, sample_rate, import_dirs, precision)
        if prog.num_inputs != 0:
            raise FaustRuntimeError(
                f"{role} program {path} must have no inputs (it generates the signal), "
                f"but it has {prog.num_inputs}")
        return np.ascontiguousarray(prog.render(n=n), dtype=np.float64)
    audio = read_audio(path, role)
    return np.ascontiguousarray(audio.signal[:, :n])


def fit_length(signal: np.ndarray, n: int) -> np.ndarray:
    """`signal` cut or zero-padded to exactly n samples (padding = silence after the end)."""
    if signal.shape[1] >= n:
        return signal[:, :n]
    out = np.zeros((signal.shape[0], n))
    out[:, :signal.shape[1]] = signal
    return out


def parse_param_assignments(items: Iterable[str]) -> dict:
    """`["g=0.5", "/x/freq=440"]` -> {"g": 0.5, "/x/freq": 440.0}."""
    values = {}
    for item in items:
        name, sep, text = item.rpartition("=")
        name = name.strip()
        if not sep or not name:
            raise FaustRuntimeError(f"--param expects label=value, got {item!r}")
        try:
            values[name] = float(text)
        except ValueError:
            raise FaustRuntimeError(f"--param {name}: {text!r} is not a number") from None
    return values


def check_param_names(prog, values: Mapping[str, float], path: str) -> None:
    """Every name in `values` must be a label or path of one of the program's parameters."""
    known = {p.label for p in prog.params} | {p.path for p in prog.params}
    for name in values:
        if name not in known:
            listed = ", ".join(p.label for p in prog.params) or "none"
            raise FaustRuntimeError(
                f"{path} has no parameter {name!r} (its parameters: {listed})")


@dataclass
class Rendering:
    output: np.ndarray                  # (outputs, n)
    tangents: Optional[np.ndarray]      # (outputs * diff params, n), parameter-major, or None
    tangent_channels: List[str]         # "d<output>/d<label>" names of the tangent channels
    sample_rate: int


def render_program(path: str, input_path: Optional[str] = None, n: Optional[int] = None,
                   params: Optional[Mapping[str, float]] = None, tangents: bool = False,
                   sample_rate: Optional[int] = None, import_dirs: Sequence[str] = (),
                   precision: str = "double", smooth: bool = False) -> Rendering:
    """Render a program over an input source (or none), optionally with its tangents.

    Without `n`, an input sets the length and a generator renders one second. A shorter
    audio input is padded with silence, so the program's tail is rendered too.
    """
    rate = choose_sample_rate(sample_rate, [input_path])
    prog = load_program(path, "FILE", rate, import_dirs, precision)
    params = dict(params or {})
    check_param_names(prog, params, path)
    if tangents and not prog.diff_params:
        raise FaustRuntimeError(f"{path} has no parameter marked [diff:1]: it has no tangents")
    x = _program_input(prog, path, input_path, n, rate, import_dirs, precision)
    if n is None:
        n = x.shape[1] if x is not None else rate
    if x is not None:
        x = fit_length(x, n)
    if not tangents:
        return Rendering(np.asarray(prog.render(x=x, n=n, params=params), np.float64),
                         None, [], rate)
    y, dy = prog.jvp(x=x, n=n, params=params, smooth=smooth)
    labels = display_names(prog.diff_params)
    names = [f"d{o}/d{label}" for label in labels for o in range(prog.num_outputs)]
    stacked = np.concatenate([np.asarray(tangent_of(dy, p, label), np.float64)
                              for p, label in zip(prog.diff_params, labels)])
    return Rendering(np.asarray(y, np.float64), stacked, names, rate)


def check_input(owner: str, num_inputs: int, signal: Optional[np.ndarray],
                signal_name: str = "the input signal",
                ask: str = "give an input signal with --input") -> None:
    """Refuse a missing input signal, or one whose channels do not match the `num_inputs`
    inputs of the program named `owner`."""
    if signal is None:
        raise FaustRuntimeError(f"{owner} has {num_inputs} input(s): {ask}")
    if signal.shape[0] != num_inputs:
        raise FaustRuntimeError(f"{owner} has {num_inputs} input(s) but {signal_name} has "
                                f"{signal.shape[0]} channel(s)")


def _program_input(prog, path, input_path, n, rate, import_dirs, precision):
    """The signal for `prog`'s inputs, None for a generator (which ignores any input)."""
    if prog.num_inputs == 0:
        return None
    if input_path is None:
        check_input(path, prog.num_inputs, None, ask="give an input with -i/--input")
    x = _input_signal(input_path, n, rate, import_dirs, precision)
    check_input(path, prog.num_inputs, x, signal_name=input_path)
    return x


def _input_signal(input_path, n, rate, import_dirs, precision) -> np.ndarray:
    """The input for `render`: an audio file whole, or a generator program over n samples
    (one second when n is not given)."""
    if is_dsp_path(input_path):
        return render_source(input_path, n if n is not None else rate, "IN", rate,
                             import_dirs, precision)
    return read_audio(input_path, "IN").signal


def display_names(params) -> List[str]:
    """A name per parameter for tables and CSV columns: its label, or its path when several
    parameters share that label (the same rule `Program.jvp` uses for its tangent keys)."""
    labels = [p.label for p in params]
    return [p.label if labels.count(p.label) == 1 else p.path for p in params]


def tangent_of(dy: Mapping[str, np.ndarray], param, name: str) -> np.ndarray:
    """The tangent of `param` in a jvp result, looked up by its display name, then path."""
    if name in dy:
        return dy[name]
    return dy[param.path]

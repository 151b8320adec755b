"""Losses between a program's output and a target, with their exact parameter gradients.

Every loss here takes
    y       (outputs, n)   the learnable program's output,
    target  (outputs, n)   the ground truth,
    dy      {label: (outputs, n)}   the forward-mode tangents d y / d label,
and returns (loss, {label: d loss / d label}). The gradient is the chain rule applied to
the tangents the program already computed: no finite differences, no second render.

    l1   mean |y - target|                       d = mean(sign(y - target) * dy)
    l2   mean (y - target)^2                     d = mean(2 (y - target) * dy)
    mss  multi-scale spectral loss (DDSP): for each FFT size, with a Hann window and 75%
         overlap, mean |S - T| + mean |log(S + eps) - log(T + eps)| where S = |STFT(y)|
         and T = |STFT(target)|, summed over the sizes.

The STFT is linear, so the tangent of a spectrum is the spectrum of the tangent:
d STFT(y) = STFT(dy). The tangent of a magnitude |X| is Re(conj(X) dX) / |X|, taken as 0
where |X| = 0 (the magnitude has no derivative there; 0 is the subgradient nearest to
both sides). sign(0) = 0 for the L1 terms, for the same reason.

Means are taken over every output, sample (or bin and frame), so a loss value does not
depend on the clip length and the same learning rate suits short and long clips.

`parse_loss("l2+0.5*mss")` builds a weighted sum; `LossFunction.bind(target)` caches what
depends only on the target (its spectra), which is most of the cost of `mss` when the
same clip is compared at every iteration, and reuses its temporaries (`Scratch`) from one
evaluation to the next.
"""
from __future__ import annotations

import functools
import re
from dataclasses import dataclass
from typing import Callable, Dict, List, Mapping, Optional, Sequence, Tuple

import numpy as np

from faustdiff.errors import FaustRuntimeError

Gradients = Dict[str, float]
LossValue = Tuple[float, Gradients]

# The DDSP recipe: six FFT sizes from 2048 down to 64, each frame hopping a quarter size.
DEFAULT_FFT_SIZES = (2048, 1024, 512, 256, 128, 64)
DEFAULT_OVERLAP = 0.75
# Floor inside the log magnitude: keeps log finite on silent bins (DDSP uses the same).
LOG_EPSILON = 1e-5


# ----------------------------------------------------------------------------- sample losses

def l2_loss(y: np.ndarray, target: np.ndarray, dy: Mapping[str, np.ndarray],
            scratch: Optional["Scratch"] = None) -> LossValue:
    delta = _difference(y, target, scratch)
    return _dot(delta, delta) / delta.size, _project(delta, dy, 2.0 / delta.size)


def l1_loss(y: np.ndarray, target: np.ndarray, dy: Mapping[str, np.ndarray],
            scratch: Optional["Scratch"] = None) -> LossValue:
    delta = _difference(y, target, scratch)
    sign = np.sign(delta, out=_array(scratch, "sign", delta.shape))
    # |delta| = sign(delta) * delta exactly, so the mean is one more dot product.
    return _dot(sign, delta) / delta.size, _project(sign, dy, 1.0 / delta.size)


class Scratch:
    """Arrays a bound loss reuses from one evaluation to the next (it compares signals of
    the same shape at every iteration): temporaries of a clip's size, allocated afresh,
    fault in page by page (runtime/buffers.py says why) and cost more than the
    arithmetic on them. They never leave the loss, so unlike the program's output
    buffers they need no check that a caller let go. Not for two threads at once."""

    def __init__(self):
        self._arrays: Dict[str, np.ndarray] = {}

    def array(self, name: str, shape: Tuple[int, ...]) -> np.ndarray:
        a = self._arrays.get(name)
        if a is None or a.shape != shape:
            a = self._arrays[name] = np.empty(shape)
        return a


def _array(scratch: Optional[Scratch], name: str, shape: Tuple[int, ...]) -> np.ndarray:
    return np.empty(shape) if scratch is None else scratch.array(name, shape)


def _difference(y: np.ndarray, target: np.ndarray, scratch: Optional[Scratch]) -> np.ndarray:
    """y - target, flattened (every output and sample counts alike)."""
    shape = np.broadcast_shapes(np.shape(y), np.shape(target))
    return np.subtract(y, target, out=_array(scratch, "delta", shape)).reshape(-1)


def _project(coefficients: np.ndarray, dy: Mapping[str, np.ndarray], scale: float) -> Gradients:
    """scale · Σ coefficients · dy per parameter: the chain rule for a loss of the samples
    (`coefficients` flattened as `_difference` flattens)."""
    return {label: scale * _dot(coefficients, tangent) for label, tangent in dy.items()}


def _dot(a: np.ndarray, b: np.ndarray) -> float:
    # einsum rather than `@`: a multi-threaded BLAS dot can be a thousand times slower
    # on a busy machine (threads wait for cores), and these products are memory-bound.
    return float(np.einsum("i,i->", a.ravel(), b.ravel()))


# ----------------------------------------------------------------------------- spectra

def stft(signal: np.ndarray, size: int, overlap: float = DEFAULT_OVERLAP) -> np.ndarray:
    """Short-time Fourier transform over the last axis: (..., frames, size // 2 + 1).

    The end is padded with zeros so that the last samples fall in a frame too; a signal
    shorter than one frame gives one zero-padded frame. The window is a periodic Hann.
    """
    hop = _hop(size, overlap)
    n = signal.shape[-1]
    frames = 1 + -(-max(n - size, 0) // hop)
    padded_length = (frames - 1) * hop + size
    pad = [(0, 0)] * (signal.ndim - 1) + [(0, padded_length - n)]
    padded = np.pad(signal, pad)
    windows = np.lib.stride_tricks.sliding_window_view(padded, size, axis=-1)[..., ::hop, :]
    return np.fft.rfft(windows * _hann(size), axis=-1)


def _hop(size: int, overlap: float) -> int:
    return max(1, int(round(size * (1.0 - overlap))))


@functools.lru_cache(maxsize=32)
def _hann(size: int) -> np.ndarray:
    # Periodic (not symmetric) Hann: overlapping frames at 75% sum to a constant.
    return 0.5 - 0.5 * np.cos(2.0 * np.pi * np.arange(size) / size)


@dataclass(frozen=True)
class TargetSpectrum:
    """What one FFT size of the mss loss needs of the target: |STFT| and its log."""

    size: int
    magnitude: np.ndarray
    log_magnitude: np.ndarray


def target_spectra(target: np.ndarray, fft_sizes: Sequence[int] = DEFAULT_FFT_SIZES,
                   overlap: float = DEFAULT_OVERLAP) -> List[TargetSpectrum]:
    spectra = []
    for size in fft_sizes:
        magnitude = np.abs(stft(target, size, overlap))
        spectra.append(TargetSpectrum(size, magnitude, np.log(magnitude + LOG_EPSILON)))
    return spectra


def mss_loss(y: np.ndarray, target: np.ndarray, dy: Mapping[str, np.ndarray],
             fft_sizes: Sequence[int] = DEFAULT_FFT_SIZES, overlap: float = DEFAULT_OVERLAP,
             spectra: Sequence[TargetSpectrum] = None) -> LossValue:
    """Multi-scale spectral loss; `spectra` (from `target_spectra`) skips the target's STFTs."""
    if spectra is None:
        spectra = target_spectra(target, fft_sizes, overlap)
    labels = list(dy)
    # All tangents in one array, so each FFT size transforms them in one call.
    tangents = np.stack([dy[label] for label in labels]) if labels else None
    total, gradient = 0.0, np.zeros(len(labels))
    for spectrum in spectra:
        value, grad = _one_scale(y, tangents, spectrum, overlap)
        total += value
        gradient += grad
    return total, dict(zip(labels, gradient.tolist()))


def _one_scale(y, tangents, spectrum: TargetSpectrum, overlap: float):
    """Loss of one FFT size and its gradient along each tangent (a row of `tangents`)."""
    x = stft(y, spectrum.size, overlap)
    magnitude = np.abs(x)
    log_magnitude = np.log(magnitude + LOG_EPSILON)
    linear_delta = magnitude - spectrum.magnitude
    log_delta = log_magnitude - spectrum.log_magnitude
    count = magnitude.size
    value = (np.abs(linear_delta).sum() + np.abs(log_delta).sum()) / count
    if tangents is None:
        return float(value), np.zeros(0)
    # d loss / d|X| per bin, then through |X|: d|X| = Re(conj(X) dX) / |X| = Re(conj(u) dX)
    # with u = X / |X| (0 where |X| = 0).
    d_magnitude = (np.sign(linear_delta)
                   + np.sign(log_delta) / (magnitude + LOG_EPSILON)) / count
    safe = np.where(magnitude > 0, magnitude, 1.0)
    weight = np.where(magnitude > 0, d_magnitude / safe, 0.0) * x
    d_x = stft(tangents, spectrum.size, overlap)           # (params, outputs, frames, bins)
    gradient = np.array([_dot(d.real, weight.real) + _dot(d.imag, weight.imag)
                         for d in d_x])
    return float(value), gradient


# ----------------------------------------------------------------------------- combinations

LOSS_NAMES = ("l1", "l2", "mss")

_TERM = re.compile(r"^\s*(?:(?P<weight>[0-9]*\.?[0-9]+(?:[eE][-+]?[0-9]+)?)\s*\*\s*)?"
                   r"(?P<name>[a-z0-9]+)\s*$")


@dataclass(frozen=True)
class LossFunction:
    """A weighted sum of named losses, e.g. l2 + 0.5 * mss."""

    terms: Tuple[Tuple[float, str], ...]
    fft_sizes: Tuple[int, ...] = DEFAULT_FFT_SIZES

    @property
    def text(self) -> str:
        return "+".join(name if w == 1 else f"{w:g}*{name}" for w, name in self.terms)

    @property
    def names(self) -> Tuple[str, ...]:
        return tuple(name for _, name in self.terms)

    def bind(self, target: np.ndarray) -> Callable[[np.ndarray, Mapping], LossValue]:
        """loss(y, dy) against a fixed target, with the target's spectra computed once."""
        spectra = (target_spectra(target, self.fft_sizes) if "mss" in self.names else None)
        scratch = Scratch()

        def loss(y, dy):
            return self._evaluate(y, target, dy, spectra, scratch)
        return loss

    def __call__(self, y: np.ndarray, target: np.ndarray,
                 dy: Mapping[str, np.ndarray]) -> LossValue:
        return self._evaluate(y, target, dy, None)

    def _evaluate(self, y, target, dy, spectra, scratch=None) -> LossValue:
        total, gradients = 0.0, {label: 0.0 for label in dy}
        for weight, name in self.terms:
            if name == "mss":
                value, grads = mss_loss(y, target, dy, self.fft_sizes, spectra=spectra)
            else:
                value, grads = (l1_loss if name == "l1" else l2_loss)(y, target, dy, scratch)
            total += weight * value
            for label, g in grads.items():
                gradients[label] += weight * g
        return total, gradients


def parse_loss(text: str, fft_sizes: Sequence[int] = DEFAULT_FFT_SIZES) -> LossFunction:
    """'l2', 'mss', 'l2+0.5*mss', '2*l1 + mss' → a LossFunction; a clear error otherwise."""
    terms = []
    for part in text.split("+"):
        match = _TERM.match(part)
        if not match or match.group("name") not in LOSS_NAMES:
            raise FaustRuntimeError(
                f"cannot read the loss {text!r}: each term is a name ({', '.join(LOSS_NAMES)})"
                " optionally preceded by a weight and '*', e.g. l2+0.5*mss")
        weight = float(match.group("weight")) if match.group("weight") else 1.0
        terms.append((weight, match.group("name")))
    sizes = tuple(int(s) for s in fft_sizes)
    if not sizes or any(s < 2 for s in sizes):
        raise FaustRuntimeError(f"FFT sizes must be at least 2, got {list(fft_sizes)}")
    return LossFunction(tuple(terms), sizes)

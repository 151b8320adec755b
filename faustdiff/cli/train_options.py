"""The options of `faustdiff train`, kept apart from the command so main.py stays readable.

The original per-sample options (`-lf`, `-lr`, `--iterations`, `--sensitivity`,
`--no-early-stop`, `--clamp`, `--csv`, `--no-csv`, `-q`) keep their names; their
defaults now depend on `--mode`, so they are None here and filled in by
`TrainOptions.resolved()`: `--mode sample` with no other option is exactly the original
trainer.
"""
from __future__ import annotations

import click

from faustdiff.drivers.losses import DEFAULT_FFT_SIZES
from faustdiff.drivers.optimizers import OPTIMIZERS, SCHEDULES
from faustdiff.drivers.train import MODES
from faustdiff.errors import FaustRuntimeError

# (parameter declarations, keyword arguments) per option, in the order --help lists them.
TRAIN_OPTIONS = [
    (("--input", "input_paths"), dict(
        multiple=True, metavar="IN",
        help="Input signal: a .dsp program without inputs (rendered) or an audio file (wav, "
             "flac, aiff...). Repeat it to pair one input with each --gt, in order; one "
             "--input serves every --gt. Not needed when DIFF and GT have no inputs.")),
    (("--gt", "gt_paths"), dict(
        multiple=True, required=True, metavar="GT",
        help="Ground truth: a .dsp program fed with IN, or an audio file of the target. "
             "Repeat it for a batch of targets: the loss is their mean.")),
    (("--diff", "diff_path"), dict(
        required=True, metavar="DIFF",
        help="The .dsp program to train; its sliders marked [diff:1] are learned.")),
    (("--mode",), dict(
        type=click.Choice(list(MODES)), default="clip", show_default=True,
        help="clip: render the whole clip from a cleared state each iteration, one update "
             "per iteration (Adam on normalised values). block: one update per block of "
             "--block-size samples, state carried over. sample: Faust's per-sample SGD, "
             "one sample per iteration.")),
    (("-lf", "--lossfunction", "--loss", "loss"), dict(
        default="l2", show_default=True, metavar="LOSS",
        help="l2 (mean squared difference), l1 (mean absolute difference), mss "
             "(multi-scale spectral: |STFT| and log|STFT| L1 over FFT sizes 2048...64), "
             "or a weighted sum such as 'l2+0.5*mss'. The sample mode takes l1 or l2 "
             "(summed over outputs, as Faust does).")),
    (("--optimizer",), dict(
        type=click.Choice(OPTIMIZERS), default=None,
        help="adam (default) or sgd, on values normalised to their slider range "
             "(log-normalised for [scale:log]). The sample mode is always SGD on raw values.")),
    (("-lr", "--learningrate", "learning_rate"), dict(
        type=float, default=None,
        help="Learning rate. Default: 0.005 for adam (a step of about 0.5% of each slider's "
             "range), 0.1 for sgd; 0.1 in the sample mode (each step moves p by "
             "-rate * dloss/dp).")),
    (("--schedule",), dict(
        type=click.Choice(SCHEDULES), default=None,
        help="Learning-rate schedule over --iterations: constant (default), exponential or "
             "cosine decay down to --lr-final times the learning rate.")),
    (("--lr-final", "final_lr_fraction"), dict(
        type=click.FloatRange(min=0, min_open=True, max=1), default=0.01, show_default=True,
        help="Where the exponential and cosine schedules end, as a fraction of -lr.")),
    (("--iterations",), dict(
        type=click.IntRange(min=1), default=None,
        help="Maximum number of iterations. Default: 2000 (clip), 5000 (block), 10000 "
             "(sample, one sample each).")),
    (("--sensitivity", "--loss-threshold", "sensitivity"), dict(
        type=float, default=None,
        help="clip and block: stop once the loss is at or below this (default 0). sample: "
             "no update while the loss is at or below this; more than --patience such "
             "iterations in a row stop the training early (default 1e-7).")),
    (("--patience",), dict(
        type=click.IntRange(min=1), default=None,
        help="clip and block: stop when the loss has not improved by more than --min-delta "
             "(relative) for this many iterations (default 40 clip, 200 block). sample: the "
             "count of low-loss iterations (default 20).")),
    (("--min-delta",), dict(
        type=click.FloatRange(min=0), default=1e-3, show_default=True,
        help="Smallest relative improvement of the loss that resets --patience.")),
    (("--no-early-stop",), dict(
        is_flag=True,
        help="Run all iterations: no stop on the loss threshold or on a plateau.")),
    (("--clamp",), dict(
        is_flag=True,
        help="sample mode: keep each parameter within its slider's [min, max] (Faust does "
             "not). The clip and block modes always do.")),
    (("--block-size",), dict(
        type=click.IntRange(min=1), default=1024, show_default=True,
        help="Samples per update in the block mode.")),
    (("--clip-seconds",), dict(
        type=click.FloatRange(min=0, min_open=True), default=None,
        help="clip mode: train on the first SECONDS of the signals. Default: all of an audio "
             "file (at most 4 s), or 1 s rendered from programs.")),
    (("--fft-sizes",), dict(
        default=",".join(str(s) for s in DEFAULT_FFT_SIZES), show_default=True,
        metavar="N,N,...", help="FFT sizes of the mss loss (Hann window, 75% overlap).")),
    (("--resample",), dict(
        is_flag=True,
        help="Resample audio files whose sample rate differs from the run's (else an "
             "error).")),
    (("--trim",), dict(
        is_flag=True,
        help="Cut an audio input and an audio ground truth of different lengths to the "
             "shorter (else an error).")),
    (("--csv", "csv_path"), dict(
        default="loss.csv", show_default=True, metavar="PATH",
        help="Where to write the per-iteration loss, gradients and values (then the "
             "learning rate and the time).")),
    (("--no-csv",), dict(is_flag=True, help="Do not write the CSV file.")),
    (("--save", "save_path"), dict(
        default=None, metavar="PARAMS.json",
        help="Write the learned values (and the loss, iterations, stop reason) as JSON.")),
    (("--write-dsp", "dsp_path"), dict(
        default=None, metavar="LEARNED.dsp",
        help="Write DIFF with each learned value as its slider's init value.")),
    (("-q", "--quiet"), dict(
        is_flag=True, help="Print only the summary, not the per-iteration table.")),
    (("--progress/--no-progress",), dict(
        default=None,
        help="Show a progress bar with the live loss on stderr. Default: when stderr is a "
             "terminal and the table is not shown there.")),
]


def train_options(f):
    """Apply every option of TRAIN_OPTIONS to the command function `f`."""
    for declarations, settings in reversed(TRAIN_OPTIONS):
        f = click.option(*declarations, **settings)(f)
    return f


def parse_fft_sizes(text: str) -> tuple:
    try:
        sizes = tuple(int(part) for part in text.split(",") if part.strip())
    except ValueError:
        raise FaustRuntimeError(f"--fft-sizes expects integers separated by commas, got "
                                f"{text!r}") from None
    if not sizes:
        raise FaustRuntimeError("--fft-sizes is empty")
    return sizes


def rendered_length(options) -> tuple:
    """(samples, at most seconds) to render from program sources, for `prepare`.

    sample: one sample per iteration; block: one block per iteration, up to 30 s (the
    stream starts again when it ends); clip: --clip-seconds, else one second.
    """
    if options.mode == "sample":
        return options.iterations, None
    if options.mode == "block":
        return options.iterations * options.block_size, 30.0
    seconds = options.clip_seconds if options.clip_seconds is not None else 1.0
    return 2 ** 62, seconds

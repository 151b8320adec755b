"""The `faustdiff` command line: train, verify, render, diff, plot.

A thin click layer: it parses options, calls the drivers in `faustdiff.drivers`, and
prints. Every `FaustDiffError` is reported as its formatted message (file:line:col, the
source line, a caret) on stderr with exit status 2 and no traceback; the global `--debug`
option lets it propagate instead, traceback and all.
"""
from __future__ import annotations

import sys
from typing import Optional

import click

from faustdiff.cli.train_options import train_options
from faustdiff.errors import FaustDiffError

PRECISION = click.Choice(["single", "double"])
EXIT_USER_ERROR = 2


class FaustDiffGroup(click.Group):
    """A click group that turns faustdiff's user errors into one message and exit status 2."""

    def invoke(self, ctx: click.Context):
        try:
            return super().invoke(ctx)
        except FaustDiffError as error:
            if ctx.params.get("debug"):
                raise
            click.echo(error.format(), err=True)
            ctx.exit(EXIT_USER_ERROR)


@click.group(cls=FaustDiffGroup, context_settings={"help_option_names": ["-h", "--help"]})
@click.option("--debug", is_flag=True,
              help="Show the full Python traceback of an error instead of a one-line message.")
@click.version_option(package_name="faustdiff")
def cli(debug: bool) -> None:
    """faustdiff: compile Faust programs with forward-mode derivatives, fit their
    [diff:1] parameters by gradient descent, and check the derivatives."""


def import_dir_option(f):
    return click.option("-I", "--import-dir", "import_dirs", multiple=True,
                        type=click.Path(file_okay=False),
                        help="Extra folder to search for imported Faust libraries "
                             "(repeatable).")(f)


def sample_rate_option(f):
    return click.option("--sample-rate", type=click.IntRange(min=1), default=None,
                        help="Sample rate in Hz given to the programs (ma.SR). Default: the "
                             "audio input's rate, else 44100.")(f)


def smooth_option(f):
    return click.option("--smooth", is_flag=True,
                        help="Smooth derivatives through discrete steps: where an int cast "
                             "feeds a table index or a delay amount, use the local slope of "
                             "the table or the delayed signal instead of zero (a "
                             "straight-through estimate; useful for os.osc and integer "
                             "delays).")(f)


def precision_option(f):
    return click.option("--precision", type=PRECISION, default="double", show_default=True,
                        help="Floating-point precision of the compiled programs "
                             "(single matches Faust's default float).")(f)


# ----------------------------------------------------------------------------- train

EXIT_INTERRUPTED = 130      # the shell's code for a run stopped by SIGINT


@cli.command()
@train_options
@smooth_option
@sample_rate_option
@precision_option
@import_dir_option
def train(input_paths, gt_paths, diff_path, mode, loss, optimizer, learning_rate, schedule,
          final_lr_fraction, iterations, sensitivity, patience, min_delta, no_early_stop,
          clamp, block_size, clip_seconds, fft_sizes, resample, trim, csv_path, no_csv,
          save_path, dsp_path, quiet, progress, smooth, sample_rate, precision, import_dirs):
    """Fit DIFF's [diff:1] parameters to GT by gradient descent on their derivatives.

    By default (--mode clip) each iteration renders the clip through DIFF, compares it
    with GT (-lf l2, l1, mss or a weighted sum), and makes one Adam step on the values
    normalised to their slider ranges, until the loss stops improving. --mode sample is
    Faust's autodiff architecture: one sample per iteration, plain SGD.

    Example: faustdiff train --input examples/noise.dsp --gt examples/gain/gt.dsp
    --diff examples/gain/diff.dsp

    Ctrl-C stops after the current iteration, prints the summary, writes --save and
    --write-dsp, and exits with status 130.
    """
    from faustdiff.cli.train_options import parse_fft_sizes, rendered_length
    from faustdiff.drivers import train as training

    options = training.TrainOptions(
        mode=mode, loss=loss, optimizer=optimizer, learning_rate=learning_rate,
        iterations=iterations, sensitivity=sensitivity, patience=patience,
        min_delta=min_delta, early_stop=not no_early_stop, clamp=clamp, schedule=schedule,
        final_lr_fraction=final_lr_fraction, block_size=block_size,
        clip_seconds=clip_seconds, fft_sizes=parse_fft_sizes(fft_sizes),
        smooth=smooth).resolved()
    options.check()
    length, max_seconds = rendered_length(options)
    setup = training.prepare(diff_path, list(gt_paths), list(input_paths) or None, length,
                             sample_rate, import_dirs, precision, max_seconds=max_seconds,
                             resample=resample, trim=trim)
    _print_train_header(setup, options)
    csv_log = None if no_csv else training.CsvLog(csv_path)
    observers = _train_observers(options, quiet, progress, csv_log)
    diff = (setup.programs(len(setup.targets)) if options.mode == "block" else setup.diff)
    try:
        result = training.train(diff, setup.ground_truth, setup.input_signal, options,
                                observers)
    finally:
        if csv_log is not None:
            csv_log.close()     # also when training fails: keep the rows written so far
    for note in setup.notes + result.notes:
        click.echo(f"note: {note}", err=True)
    click.echo(training.format_summary(result))
    if not no_csv:
        click.echo(f"  CSV:         {csv_path}")
    _write_train_results(result, setup, save_path, dsp_path)
    if result.stop_reason == "interrupted":
        sys.exit(EXIT_INTERRUPTED)


def _print_train_header(setup, options) -> None:
    lengths = ", ".join(str(t.ground_truth.shape[1]) for t in setup.targets)
    optimizer = options.optimizer
    if options.mode != "sample":
        optimizer += f" ({options.schedule})"
    if options.mode == "sample":
        stop = f"Sensitivity: {options.sensitivity:g}"
    else:
        stop = (f"Stop: loss <= {options.sensitivity:g}, or no {options.min_delta:.2%} "
                f"improvement in {options.patience} iterations")
    click.echo(f"Mode: {options.mode}   Loss: {options.loss}   Optimizer: {optimizer}   "
               f"Learning rate: {options.learning_rate:g}   Sample rate: "
               f"{setup.sample_rate} Hz")
    click.echo(stop)
    click.echo(f"Targets: {len(setup.targets)} ({lengths} samples)")
    for p in setup.diff.diff_params:
        click.echo(f"Learnable parameter: {p.label}, initial value: {p.init:.10g}")


def _train_observers(options, quiet, progress, csv_log) -> list:
    from faustdiff.drivers import train as training

    # Plain buffered writes to stdout: no per-row flush, so the table costs little.
    table = (None if quiet else
             training.ConsoleTable(sys.stdout, per_sample=options.mode == "sample"))
    if progress is None:
        # A table on the terminal already shows progress; the bar is for quiet runs and
        # runs whose stdout goes to a file or a pipe.
        progress = _is_terminal(sys.stderr) and (quiet or not _is_terminal(sys.stdout))
    bar = training.ProgressBar(options.iterations, sys.stderr) if progress else None
    return [obs for obs in (table, csv_log, bar) if obs is not None]


def _is_terminal(stream) -> bool:
    try:
        return stream.isatty()
    except (AttributeError, ValueError):
        return False


def _write_train_results(result, setup, save_path, dsp_path) -> None:
    from faustdiff.drivers import train as training
    from faustdiff.drivers.signals_io import write_text_file

    if save_path:
        training.save_values(result, save_path)
        click.echo(f"  values:      {save_path}")
    if dsp_path:
        text, notes = training.learned_source(setup.diff_path, setup.diff.diff_params,
                                              result.final_values)
        write_text_file(dsp_path, text)
        for note in notes:
            click.echo(f"note: {note}", err=True)
        click.echo(f"  learned DSP: {dsp_path}")


# ----------------------------------------------------------------------------- verify

@cli.command()
@click.option("--input", "input_path", metavar="IN",
              help="Input signal: a .dsp program without inputs or an audio file. Not needed "
                   "when DIFF has no inputs.")
@click.option("--diff", "diff_path", required=True, metavar="DIFF",
              help="The .dsp program whose [diff:1] derivatives are checked.")
@click.option("-e", "--epsilon", type=float, default=None,
              help="Finite-difference step. Default: 1e-8 forward / 1e-5 central in double "
                   "precision, 1e-3 / 5e-3 in single (about sqrt and cube root of the "
                   "rounding unit).")
@click.option("-n", "--iterations", "samples", type=click.IntRange(min=1), default=100,
              show_default=True, help="Number of samples to compare (from the start).")
@click.option("--central", is_flag=True,
              help="Use central differences (y(p+e) - y(p-e)) / 2e instead of forward ones.")
@click.option("--tolerance", type=click.FloatRange(min=0), default=None,
              help="Exit with status 1 if a parameter's mean relative error exceeds this.")
@click.option("-q", "--quiet", is_flag=True, help="Print only the summary.")
@smooth_option
@sample_rate_option
@precision_option
@import_dir_option
def verify(input_path, diff_path, epsilon, samples, central, tolerance, quiet, smooth,
           sample_rate, precision, import_dirs):
    """Compare DIFF's autodiff derivatives with finite differences.

    Renders the first N samples of DIFF with its derivatives and, for each [diff:1]
    parameter, the finite difference over the same samples (each from a cleared state),
    then prints per sample the autodiff value, the finite difference, |delta| and the
    relative error |delta| / max(|autodiff|, |finite diff|, floor) (floor = 1e-6 times
    the parameter's largest derivative over the run), and per parameter the mean and
    standard deviation of |delta| and the mean relative error.
    """
    from faustdiff.drivers import verify as verifying

    result = verifying.verify_files(diff_path, input_path, samples, epsilon, central,
                                    sample_rate, import_dirs, precision, smooth)
    for note in result.notes:
        click.echo(f"note: {note}", err=True)
    if not quiet:
        for check in result.checks:
            click.echo(verifying.format_table(check, result.num_outputs))
            click.echo()
    click.echo(verifying.format_summary(result, tolerance))
    if tolerance is not None and result.failures(tolerance):
        names = ", ".join(c.label for c in result.failures(tolerance))
        click.echo(f"mean relative error above {tolerance:g} for: {names}", err=True)
        sys.exit(1)


# ----------------------------------------------------------------------------- render

@cli.command()
@click.argument("file", metavar="FILE")
@click.option("-i", "--input", "input_path", metavar="IN",
              help="Input signal: an audio file or a .dsp program without inputs.")
@click.option("-o", "--output", "output_path", required=True, metavar="OUT.wav",
              help="Audio file to write the program's outputs to (32-bit float).")
@click.option("-n", "--samples", type=click.IntRange(min=1), default=None,
              help="Number of samples to render. Default: the input's length, else one "
                   "second.")
@click.option("--param", "params", multiple=True, metavar="LABEL=VALUE",
              help="Set a parameter by label or path (repeatable).")
@click.option("--tangents", "tangents_path", metavar="OUT_T.wav", default=None,
              help="Also write the derivative channels: for each [diff:1] parameter in "
                   "declaration order, d(output)/d(parameter) for every output.")
@smooth_option
@sample_rate_option
@precision_option
@import_dir_option
def render(file, input_path, output_path, samples, params, tangents_path, smooth, sample_rate,
           precision, import_dirs):
    """Render the Faust program FILE to an audio file."""
    from faustdiff.drivers import signals_io

    values = signals_io.parse_param_assignments(params)
    result = signals_io.render_program(file, input_path, samples, values,
                                       tangents=tangents_path is not None,
                                       sample_rate=sample_rate, import_dirs=import_dirs,
                                       precision=precision, smooth=smooth)
    signals_io.write_audio(output_path, result.output, result.sample_rate)
    n = result.output.shape[1]
    click.echo(f"wrote {output_path}: {result.output.shape[0]} channel(s), {n} samples "
               f"at {result.sample_rate} Hz")
    if tangents_path is not None:
        signals_io.write_audio(tangents_path, result.tangents, result.sample_rate)
        click.echo(f"wrote {tangents_path}: channels {', '.join(result.tangent_channels)}")


# ----------------------------------------------------------------------------- plot

@cli.command("diff")
@click.argument("file", metavar="FILE")
@click.option("-d", "--details", is_flag=True,
              help="Print, for each [diff:1] parameter, the definitions that compute its "
                   "derivative, step by step.")
@click.option("-o", "--output", "output_path", metavar="OUT.dsp", default=None,
              help="Write the derivative program as plain Faust source: its outputs are the "
                   "program's outputs followed, parameter by parameter, by the derivative of "
                   "every output.")
@smooth_option
@sample_rate_option
@import_dir_option
def diff_command(file, details, output_path, smooth, sample_rate, import_dirs):
    """Differentiate FILE with respect to its [diff:1] parameters.

    Example: faustdiff diff examples/recursion/diff.dsp -o recursion_diff.dsp
    """
    import faustdiff
    from faustdiff.drivers.derivative import derivative_details, derivative_source
    from faustdiff.drivers.signals_io import write_text_file

    prog = faustdiff.compile_file(file, sample_rate=sample_rate or 44100,
                                  import_dirs=import_dirs)
    if not prog.diff_params:
        raise faustdiff.FaustDiffError(
            f"{file} has no parameter marked [diff:1]: nothing to differentiate")
    if details:
        click.echo(derivative_details(prog, smooth))
    if output_path:
        write_text_file(output_path, derivative_source(prog, smooth))
        click.echo(f"wrote {output_path}: {prog.num_outputs} outputs + "
                   f"{prog.num_outputs * len(prog.diff_params)} derivative outputs "
                   f"({', '.join(p.label for p in prog.diff_params)})", err=True)
    if not details and not output_path:
        click.echo(derivative_source(prog, smooth), nl=False)


@cli.command()
@click.argument("csv_path", metavar="CSV")
@click.option("-o", "--output", "png_path", required=True, metavar="PNG",
              help="Image file to write.")
def plot(csv_path, png_path):
    """Plot a training CSV (as written by `faustdiff train`): loss and parameters."""
    from faustdiff.drivers import signals_io
    from faustdiff.drivers.plotting import plot_training_csv
    from faustdiff.errors import FaustRuntimeError

    signals_io.require_file(csv_path, "CSV")
    try:
        plot_training_csv(csv_path, png_path)
    except ValueError as e:     # the plotter's word for a CSV it cannot use
        raise FaustRuntimeError(f"cannot plot {csv_path}: {e}") from None
    except OSError as e:
        raise FaustRuntimeError(f"cannot write {png_path}: {e.strerror or e}") from None
    click.echo(f"wrote {png_path}")


def main(argv: Optional[list] = None) -> None:
    """Console-script entry point."""
    cli.main(args=argv, prog_name="faustdiff")


if __name__ == "__main__":
    main()

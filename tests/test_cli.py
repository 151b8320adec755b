"""The `faustdiff` command line: help, render, plot, and how errors are reported."""
import re

import click
import numpy as np
import pytest
import soundfile
from click.testing import CliRunner

from faustdiff.cli.main import cli
from faustdiff.errors import FaustDiffError

# Faust's no.noise, written without the library: an int32 linear congruential generator.
NOISE = """\
random = +(12345) ~ *(1103515245);
process = random / 2147483647.0;
"""
GAIN_GT = "process = _ * 0.5;\n"
GAIN_DIFF = 'process = _ * hslider("g[diff:1]", 0.1, 0, 1, 0.001);\n'
# Line 2 has a closing parenthesis that was never opened.
SYNTAX_ERROR = "// gain with a stray parenthesis\nprocess = _ * 0.5 );\n"

COMMANDS = ["train", "verify", "render", "plot"]


@pytest.fixture
def runner():
    return CliRunner()


@pytest.fixture
def dsp(tmp_path):
    """Write Faust sources into the test's folder: dsp("name", text) -> path."""
    def write(name, text):
        path = tmp_path / f"{name}.dsp"
        path.write_text(text)
        return str(path)
    return write


def assert_user_error(result, *fragments):
    """Exit status 2, the fragments in the message, and no traceback anywhere."""
    assert result.exit_code == 2, result.output
    assert "Traceback" not in result.output
    assert "Traceback" not in result.stderr
    for fragment in fragments:
        assert re.search(fragment, result.stderr), result.stderr


# ----------------------------------------------------------------------------- help

def test_top_level_help_lists_every_command(runner):
    result = runner.invoke(cli, ["--help"])
    assert result.exit_code == 0
    for name in COMMANDS:
        assert name in result.output
    assert "--debug" in result.output


@pytest.mark.parametrize("command", COMMANDS)
def test_command_help(runner, command):
    result = runner.invoke(cli, [command, "--help"])
    assert result.exit_code == 0, result.output
    assert re.search(rf"Usage: \S+ {command} ", result.output)


@pytest.mark.parametrize("command", COMMANDS)
def test_every_command_and_option_has_help_text(command):
    assert all(p.help for p in cli.params if isinstance(p, click.Option))   # --debug, --version
    cmd = cli.commands[command]
    assert cmd.help and cmd.help.strip()
    for param in cmd.params:
        if isinstance(param, click.Option):
            assert param.help and param.help.strip(), f"{command} {param.opts} has no help"


def test_train_help_shows_faust_style_short_options(runner):
    out = runner.invoke(cli, ["train", "--help"]).output
    for option in ["--input", "--gt", "--diff", "-lf", "--lossfunction", "-lr",
                   "--learningrate", "--iterations", "--sensitivity", "--csv", "--sample-rate"]:
        assert option in out


# ----------------------------------------------------------------------------- render

def test_render_generator_writes_requested_length(runner, dsp, tmp_path):
    out = tmp_path / "noise.wav"
    result = runner.invoke(cli, ["render", dsp("noise", NOISE), "-o", str(out), "-n", "1234"])
    assert result.exit_code == 0, result.output
    data, rate = soundfile.read(str(out), always_2d=True)
    assert data.shape == (1234, 1)
    assert rate == 44100
    assert 0 < np.abs(data).max() <= 1.0


def test_render_with_input_param_and_tangents(runner, dsp, tmp_path):
    noise_wav = tmp_path / "in.wav"
    assert runner.invoke(cli, ["render", dsp("noise", NOISE), "-o", str(noise_wav),
                               "-n", "500", "--sample-rate", "48000"]).exit_code == 0
    out, tangents = tmp_path / "out.wav", tmp_path / "dout.wav"
    result = runner.invoke(cli, ["render", dsp("gain", GAIN_DIFF), "-i", str(noise_wav),
                                 "-o", str(out), "--param", "g=0.25",
                                 "--tangents", str(tangents)])
    assert result.exit_code == 0, result.output
    x, _ = soundfile.read(str(noise_wav))
    y, rate = soundfile.read(str(out))
    dy, _ = soundfile.read(str(tangents))
    assert rate == 48000            # taken from the input file
    assert y.shape == x.shape == dy.shape == (500,)
    np.testing.assert_allclose(y, 0.25 * x, atol=1e-7)   # written as 32-bit float
    np.testing.assert_allclose(dy, x, atol=1e-7)         # d(g x)/dg = x


def test_render_unknown_parameter_is_a_user_error(runner, dsp, tmp_path):
    noise = dsp("noise", NOISE)
    result = runner.invoke(cli, ["render", dsp("gain", GAIN_DIFF), "-i", noise, "-n", "10",
                                 "-o", str(tmp_path / "o.wav"), "--param", "volume=1"])
    assert_user_error(result, "no parameter 'volume'")


# ----------------------------------------------------------------------------- plot

def test_plot_writes_png_from_training_csv(runner, dsp, tmp_path):
    csv_path, png = tmp_path / "loss.csv", tmp_path / "loss.png"
    trained = runner.invoke(cli, ["train", "--input", dsp("noise", NOISE),
                                  "--gt", dsp("gt", GAIN_GT), "--diff", dsp("diff", GAIN_DIFF),
                                  "--iterations", "200", "--csv", str(csv_path), "-q"])
    assert trained.exit_code == 0, trained.output
    result = runner.invoke(cli, ["plot", str(csv_path), "-o", str(png)])
    assert result.exit_code == 0, result.output
    assert png.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


def test_plot_rejects_a_csv_that_is_not_a_training_log(runner, tmp_path):
    bad = tmp_path / "other.csv"
    bad.write_text("a,b\n1,2\n")
    result = runner.invoke(cli, ["plot", str(bad), "-o", str(tmp_path / "x.png")])
    assert_user_error(result, "cannot plot", "iteration,loss")


# ----------------------------------------------------------------------------- errors

def test_syntax_error_shows_position_and_exits_2(runner, dsp):
    bad = dsp("bad", SYNTAX_ERROR)
    result = runner.invoke(cli, ["train", "--input", dsp("noise", NOISE),
                                 "--gt", dsp("gt", GAIN_GT), "--diff", bad])
    assert_user_error(result, r"bad\.dsp:2:\d+:", r"process = _ \* 0\.5 \);", r"\^")


def test_syntax_error_in_render_and_verify(runner, dsp, tmp_path):
    bad = dsp("bad", SYNTAX_ERROR)
    for args in (["render", bad, "-o", str(tmp_path / "o.wav")], ["verify", "--diff", bad]):
        assert_user_error(runner.invoke(cli, args), r"bad\.dsp:2:\d+:")


def test_debug_lets_the_error_through(runner, dsp):
    result = runner.invoke(cli, ["--debug", "verify", "--diff", dsp("bad", SYNTAX_ERROR)])
    assert isinstance(result.exception, FaustDiffError)
    assert result.exit_code != 0


def test_missing_file_is_one_line(runner, dsp, tmp_path):
    result = runner.invoke(cli, ["train", "--input", dsp("noise", NOISE), "--gt",
                                 dsp("gt", GAIN_GT), "--diff", str(tmp_path / "nowhere.dsp")])
    assert_user_error(result, "not found", "nowhere.dsp")
    assert len(result.stderr.strip().splitlines()) == 1


def test_diff_without_diff_slider(runner, dsp):
    result = runner.invoke(cli, ["train", "--input", dsp("noise", NOISE),
                                 "--gt", dsp("gt", GAIN_GT), "--diff", dsp("plain", GAIN_GT)])
    assert_user_error(result, r"no parameter marked \[diff:1\]")


def test_ground_truth_input_count_mismatch(runner, dsp):
    result = runner.invoke(cli, ["train", "--input", dsp("noise", NOISE),
                                 "--gt", dsp("sum", "process = _, _ : +;\n"),
                                 "--diff", dsp("diff", GAIN_DIFF)])
    assert_user_error(result, "2 input", "1 channel")


def test_ground_truth_output_count_mismatch(runner, dsp):
    result = runner.invoke(cli, ["train", "--input", dsp("noise", NOISE),
                                 "--gt", dsp("split", "process = _ <: _, _;\n"),
                                 "--diff", dsp("diff", GAIN_DIFF)])
    assert_user_error(result, "2 output", "has 1")


def test_input_program_must_be_a_generator(runner, dsp):
    result = runner.invoke(cli, ["train", "--input", dsp("gt", GAIN_GT),
                                 "--gt", dsp("gt2", GAIN_GT), "--diff", dsp("diff", GAIN_DIFF)])
    assert_user_error(result, "must have no inputs")


def test_diff_with_inputs_needs_an_input(runner, dsp):
    result = runner.invoke(cli, ["train", "--gt", dsp("noise", NOISE),
                                 "--diff", dsp("diff", GAIN_DIFF)])
    assert_user_error(result, "--input")


def test_audio_input_with_other_sample_rate_is_rejected(runner, dsp, tmp_path):
    wav = tmp_path / "in.wav"
    soundfile.write(str(wav), np.zeros(100), 48000)
    result = runner.invoke(cli, ["train", "--input", str(wav), "--gt", dsp("gt", GAIN_GT),
                                 "--diff", dsp("diff", GAIN_DIFF), "--sample-rate", "44100"])
    assert_user_error(result, "48000", "not resampled")

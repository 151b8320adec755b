"""Gradient descent (`faustdiff train` and `faustdiff.drivers.train`): the per-sample
mode (Faust's scheme, kept exactly), the clip and block modes, the CLI and its files."""
import csv
import json
import re
import signal
import subprocess
import sys
import time

import numpy as np
import pytest
from click.testing import CliRunner

import faustdiff
import faustdiff.runtime.program
from faustdiff.cli.main import cli
from faustdiff.drivers import optimizers as optim
from faustdiff.drivers import train as training
from faustdiff.errors import FaustRuntimeError

NOISE = """\
random = +(12345) ~ *(1103515245);
process = random / 2147483647.0;
"""
GAIN_GT = "process = _ * 0.5;\n"
GAIN_DIFF = 'process = _ * hslider("g[diff:1]", 0.1, 0, 1, 0.001);\n'
GAIN_DC_GT = "process = _ * 0.3 + 0.2;\n"
GAIN_DC_DIFF = ('process = _ * hslider("g[diff:1]", 0.6, 0, 1, 0.001)'
                ' + hslider("dc[diff:1]", 0, -1, 1, 0.001);\n')
# A one-pole recursion: its state must carry over from one iteration to the next.
POLE_GT = "process = + ~ *(0.5);\n"
POLE_DIFF = 'process = + ~ *(hslider("a[diff:1]", 0.2, -0.9, 0.9, 0.001));\n'


def compile_(code):
    return faustdiff.compile(code)


@pytest.fixture(scope="module")
def noise():
    return np.asarray(compile_(NOISE).render(n=10000), dtype=np.float64)


@pytest.fixture(scope="module")
def gain_diff():
    return compile_(GAIN_DIFF)


@pytest.fixture(scope="module")
def gain_gt(noise):
    return np.asarray(compile_(GAIN_GT).render(x=noise), dtype=np.float64)


@pytest.fixture
def dsp(tmp_path):
    def write(name, text):
        path = tmp_path / f"{name}.dsp"
        path.write_text(text)
        return str(path)
    return write


def test_noise_input_is_a_usable_training_signal(noise):
    assert noise.shape == (1, 10000)
    assert 0.3 < np.abs(noise).max() <= 1.0
    assert np.std(noise) > 0.1


SAMPLE = training.TrainOptions(mode="sample")


def sample_options(**kw):
    return training.TrainOptions(mode="sample", **kw)


def test_gain_converges_with_l2(gain_diff, gain_gt, noise):
    result = training.train(gain_diff, gain_gt, noise, SAMPLE)
    assert result.labels == ["g"]
    assert result.values["g"] == pytest.approx(0.5, abs=1e-3)
    assert result.stop_reason == "converged"
    # Early stop: the last 21 iterations all had a loss at or below the sensitivity.
    assert not result.history.updated[-21:].any()
    assert np.all(result.history.loss[-21:] <= 1e-7)
    assert result.iterations < 10000
    assert result.final_loss == result.history.loss[-1]


def test_gain_converges_with_l1(gain_diff, gain_gt, noise):
    options = sample_options(loss="l1", learning_rate=0.01, iterations=5000)
    result = training.train(gain_diff, gain_gt, noise, options)
    assert result.values["g"] == pytest.approx(0.5, abs=0.01)
    assert result.history.loss[-50:].mean() < 0.1 * result.history.loss[:50].mean()


def test_update_is_the_chain_rule_of_the_loss(gain_diff, gain_gt, noise):
    """g <- g - lr * 2 (y - gt) x for l2, and y is computed with the value before the update."""
    lr = 0.05
    options = sample_options(learning_rate=lr, iterations=50, early_stop=False)
    h = training.train(gain_diff, gain_gt, noise, options).history
    x = noise[0, :50]
    before = np.concatenate([[0.1], h.values[:-1, 0]])
    np.testing.assert_allclose(h.learnable[0], before * x, rtol=1e-12, atol=1e-15)
    delta = h.learnable[0] - h.ground_truth[0]
    np.testing.assert_allclose(h.loss, delta ** 2, rtol=1e-12, atol=1e-30)
    np.testing.assert_allclose(h.gradients[:, 0], 2 * delta * x, rtol=1e-12, atol=1e-30)
    expected = np.where(h.updated, before - lr * h.gradients[:, 0], before)
    np.testing.assert_allclose(h.values[:, 0], expected, rtol=1e-12, atol=1e-15)


def test_l1_gradient_is_sign_times_tangent(gain_diff, gain_gt, noise):
    options = sample_options(loss="l1", learning_rate=0.01, iterations=30, early_stop=False)
    h = training.train(gain_diff, gain_gt, noise, options).history
    delta = h.learnable[0] - h.ground_truth[0]
    np.testing.assert_allclose(h.loss, np.abs(delta), rtol=1e-12)
    np.testing.assert_allclose(h.gradients[:, 0], np.sign(delta) * noise[0, :30], rtol=1e-12)


def test_no_update_below_sensitivity_and_early_stop(gain_diff, gain_gt, noise):
    options = sample_options(sensitivity=10.0)   # every per-sample loss is below 10
    result = training.train(gain_diff, gain_gt, noise, options)
    assert result.iterations == 21                        # stops once MORE than 20 in a row
    assert result.stop_reason == "converged"
    assert result.final_values == [0.1]
    assert not result.history.updated.any()


def test_state_carries_over_between_iterations(noise):
    """With lr = 0 the per-sample outputs must equal one block render of the recursion."""
    diff = compile_(POLE_DIFF)
    gt = np.asarray(compile_(POLE_GT).render(x=noise[:, :300]), dtype=np.float64)
    options = sample_options(learning_rate=0.0, iterations=300, early_stop=False)
    result = training.train(diff, gt, noise, options)
    block = np.asarray(diff.render(x=noise[:, :300]), dtype=np.float64)
    np.testing.assert_allclose(result.history.learnable, block, rtol=1e-12, atol=1e-15)


def test_recursion_coefficient_is_learned(noise):
    diff = compile_(POLE_DIFF)
    gt = np.asarray(compile_(POLE_GT).render(x=noise[:, :5000]), dtype=np.float64)
    options = sample_options(learning_rate=0.05, iterations=5000)
    result = training.train(diff, gt, noise, options)
    assert result.values["a"] == pytest.approx(0.5, abs=1e-3)


def test_two_parameters_converge(noise):
    diff = compile_(GAIN_DC_DIFF)
    gt = np.asarray(compile_(GAIN_DC_GT).render(x=noise), dtype=np.float64)
    result = training.train(diff, gt, noise, SAMPLE)
    assert result.labels == ["g", "dc"]                  # declaration order
    assert result.values["g"] == pytest.approx(0.3, abs=2e-3)
    assert result.values["dc"] == pytest.approx(0.2, abs=2e-3)


def test_divergence_stops_training(gain_diff, gain_gt, noise):
    options = sample_options(learning_rate=1e6, iterations=5000)
    result = training.train(gain_diff, gain_gt, noise, options)
    assert result.stop_reason == "diverged"
    assert result.iterations < 5000


def test_short_signals_limit_the_iterations(gain_diff, gain_gt, noise):
    result = training.train(gain_diff, gain_gt[:, :40], noise,
                            sample_options(iterations=100, early_stop=False))
    assert result.iterations == 40
    assert result.stop_reason == "input-exhausted"
    assert result.notes


def test_ten_thousand_iterations_run_to_the_end_and_converge(gain_diff, gain_gt, noise):
    options = sample_options(iterations=10000, early_stop=False)
    result = training.train(gain_diff, gain_gt, noise, options)
    assert result.iterations == 10000
    assert result.final_values[0] == pytest.approx(0.5, abs=1e-3)


# ----------------------------------------------------------------------------- clip and block

LOWPASS_GT = 'import("stdfaust.lib");\nprocess = fi.lowpass(2, 1200);\n'
LOWPASS_DIFF = ('import("stdfaust.lib");\n'
                'process = fi.lowpass(2, hslider("cutoff[diff:1][scale:log]", 300, 50, 10000, 1));\n')


def test_default_mode_is_clip_with_adam_and_best_values(gain_diff, gain_gt, noise):
    result = training.train(gain_diff, gain_gt, noise)
    assert result.mode == "clip"
    assert result.options.optimizer == "adam"
    assert result.values["g"] == pytest.approx(0.5, abs=1e-4)
    assert result.stop_reason in ("plateau", "converged")
    # The reported values are those of the best loss seen, and the loss is theirs.
    best = int(np.argmin(result.history.loss))
    assert result.best_iteration == best + 1
    assert result.final_loss == result.history.loss[best]
    assert result.history.ground_truth is None       # no single sample to show


def test_clip_loss_is_the_mean_over_the_clip(gain_diff, gain_gt, noise):
    options = training.TrainOptions(iterations=1, learning_rate=0.0)
    result = training.train(gain_diff, gain_gt[:, :2000], noise, options)
    delta = 0.1 * noise[0, :2000] - gain_gt[0, :2000]
    assert result.history.loss[0] == pytest.approx(np.mean(delta ** 2), rel=1e-12)
    assert result.history.gradients[0, 0] == pytest.approx(
        np.mean(2 * delta * noise[0, :2000]), rel=1e-12)


def test_first_adam_step_moves_by_lr_times_the_slider_range(gain_diff, gain_gt, noise):
    options = training.TrainOptions(iterations=1, learning_rate=0.01)
    result = training.train(gain_diff, gain_gt, noise, options)
    # g in [0, 1] starts at 0.1 below the target: Adam's first step is lr in normalised units.
    assert result.history.values[0, 0] == pytest.approx(0.1 + 0.01 * 1.0, rel=1e-9)


def test_log_scaled_slider_moves_by_ratios(dsp, noise):
    diff = faustdiff.compile(LOWPASS_DIFF)
    gt = diff.render(x=noise[:, :4000], params={"cutoff": 1200})
    options = training.TrainOptions(iterations=1, learning_rate=0.01)
    result = training.train(diff, gt, noise[:, :4000], options)
    ratio = result.history.values[0, 0] / 300
    assert ratio == pytest.approx((10000 / 50) ** 0.01, rel=1e-9)


def test_lowpass_cutoff_is_recovered(noise):
    diff = faustdiff.compile(LOWPASS_DIFF)
    gt = faustdiff.compile(LOWPASS_GT).render(x=noise)
    result = training.train(diff, gt, noise)
    assert result.values["cutoff"] == pytest.approx(1200, abs=0.01 * (10000 - 50))


def test_values_stay_within_the_slider_range(noise):
    """The target lies outside the slider: the value stops at the slider's max."""
    diff = compile_(GAIN_DIFF)                            # g in [0, 1]
    gt = 1.5 * noise
    result = training.train(diff, gt, noise, training.TrainOptions(iterations=400))
    assert result.history.values.max() <= 1.0
    assert result.values["g"] == pytest.approx(1.0)


def test_batch_of_targets_averages_losses(noise):
    """Two targets pulling to 0.4 and 0.6: the mean of the l2 losses is least at 0.5."""
    diff = compile_(GAIN_DIFF)
    x1, x2 = noise[:, :3000], noise[:, 3000:6000]
    result = training.train(diff, [0.4 * x1, 0.6 * x2], [x1, x2])
    # The best fit has a loss > 0, so the plateau stop ends the run a little short of it.
    assert result.values["g"] == pytest.approx(
        (0.4 * np.sum(x1 ** 2) + 0.6 * np.sum(x2 ** 2)) / np.sum(x1 ** 2 + x2 ** 2), abs=1e-3)


def test_one_input_serves_every_target(noise):
    diff = compile_(GAIN_DIFF)
    result = training.train(diff, [0.5 * noise, 0.5 * noise], noise)
    assert result.values["g"] == pytest.approx(0.5, abs=1e-4)


def test_block_mode_carries_state_between_blocks(noise):
    """With lr = 0, block-by-block outputs must equal one render of the whole signal:
    the loss of each block is then the loss of that slice of the one render."""
    diff = compile_(POLE_DIFF)
    gt = np.asarray(compile_(POLE_GT).render(x=noise[:, :1000]), dtype=np.float64)
    options = training.TrainOptions(mode="block", block_size=100, iterations=10,
                                    learning_rate=0.0, early_stop=False)
    result = training.train(diff, gt, noise[:, :1000], options)
    whole = diff.render(x=noise[:, :1000])
    expected = [np.mean((whole[0, k:k + 100] - gt[0, k:k + 100]) ** 2)
                for k in range(0, 1000, 100)]
    np.testing.assert_allclose(result.history.loss, expected, rtol=1e-12)


def test_block_mode_learns_a_recursion(noise):
    diff = compile_(POLE_DIFF)
    gt = np.asarray(compile_(POLE_GT).render(x=noise), dtype=np.float64)
    options = training.TrainOptions(mode="block", block_size=256)
    result = training.train(diff, gt, noise, options)
    assert result.values["a"] == pytest.approx(0.5, abs=0.018)    # 1% of [-0.9, 0.9]


def test_block_mode_batch_needs_a_program_per_target(noise):
    diff = compile_(GAIN_DIFF)
    with pytest.raises(FaustRuntimeError, match="one program per ground truth"):
        training.train(diff, [0.5 * noise, 0.5 * noise], noise,
                       training.TrainOptions(mode="block"))
    programs = [diff, compile_(GAIN_DIFF)]
    result = training.train(programs, [0.5 * noise, 0.5 * noise], noise,
                            training.TrainOptions(mode="block", block_size=500))
    assert result.values["g"] == pytest.approx(0.5, abs=0.01)


@pytest.mark.parametrize("schedule", ["constant", "exponential", "cosine"])
def test_learning_rate_schedules(gain_diff, gain_gt, noise, schedule):
    options = training.TrainOptions(schedule=schedule, iterations=100, early_stop=False,
                                    learning_rate=0.02, final_lr_fraction=0.1)
    rates = training.train(gain_diff, gain_gt, noise, options).history.learning_rate
    assert rates[0] == pytest.approx(0.02)
    assert rates[-1] == pytest.approx(0.02 if schedule == "constant" else 0.002)
    if schedule == "exponential":
        np.testing.assert_allclose(rates[1:] / rates[:-1], 0.1 ** (1 / 99))
    if schedule == "cosine":
        assert rates[50] == pytest.approx(0.002 + 0.009 * (1 + np.cos(np.pi * 50 / 99)))


def test_loss_threshold_stops_early(gain_diff, gain_gt, noise):
    options = training.TrainOptions(sensitivity=1e-4)
    result = training.train(gain_diff, gain_gt, noise, options)
    assert result.stop_reason == "converged"
    assert result.history.loss[-1] <= 1e-4 < result.history.loss[-2]
    assert not result.history.updated[-1]


def test_plateau_stops_after_patience_iterations_without_progress(noise):
    """The delay surrogate gradient is 0 beyond the target: the loss cannot improve."""
    diff = compile_('process = _ * hslider("g[diff:1]", 0.5, 0, 1, 0.001) : @(3);\n')
    gt = 0.5 * np.concatenate([np.zeros((1, 3)), noise[:, :-3]], axis=1)
    options = training.TrainOptions(patience=7)
    result = training.train(diff, gt, noise, options)
    # The start is exact: the loss is 0 and stays 0, which no iteration improves on.
    assert result.stop_reason == "converged"
    options = training.TrainOptions(patience=7, sensitivity=-1.0)
    result = training.train(diff, gt, noise, options)
    assert result.stop_reason == "plateau"
    assert result.iterations == 8          # the first sets the best, then 7 without progress


def test_non_finite_loss_backs_off_then_stops_naming_the_values(noise):
    """log(g) is -inf at g = 0: every step that reaches 0 backs off to the best values."""
    diff = compile_('process = _ * log(hslider("g[diff:1]", 0.3, 0, 1, 0.001));\n')
    gt = np.log(0.01) * noise
    options = training.TrainOptions(learning_rate=0.5, max_backoffs=3, iterations=200,
                                    early_stop=False)
    result = training.train(diff, gt, noise, options)
    assert result.stop_reason == "diverged"
    failed = ~np.isfinite(result.history.loss)
    assert failed.sum() == 4
    assert all(np.isfinite(result.final_values))
    assert result.final_values[0] > 0
    assert result.final_loss == result.history.loss[~failed].min()
    messages = " ".join(result.notes)
    assert "halved the learning rate" in messages
    assert "g = 0" in messages and "back-offs did not help" in messages
    # Each back-off halves the learning rate.
    rates = result.history.learning_rate[failed]
    np.testing.assert_allclose(rates, 0.5 * 0.5 ** np.arange(4))


def test_zero_gradient_at_the_start_is_reported(noise):
    diff = compile_('process = _ * abs(hslider("g[diff:1]", 0, -1, 1, 0.001));\n')
    result = training.train(diff, 0.5 * noise, noise, training.TrainOptions(iterations=3))
    assert any("exactly 0 at the start for g" in note for note in result.notes)


def test_mss_loss_trains_in_clip_mode(noise):
    diff = faustdiff.compile(LOWPASS_DIFF)
    gt = faustdiff.compile(LOWPASS_GT).render(x=noise[:, :8000])
    result = training.train(diff, gt, noise[:, :8000], training.TrainOptions(loss="mss"))
    assert result.values["cutoff"] == pytest.approx(1200, abs=0.01 * (10000 - 50))


def test_clip_seconds_limits_the_clip(gain_diff, gain_gt, noise):
    options = training.TrainOptions(clip_seconds=100 / 44100, iterations=1, learning_rate=0.0)
    result = training.train(gain_diff, gain_gt, noise, options)
    delta = 0.1 * noise[0, :100] - gain_gt[0, :100]
    assert result.history.loss[0] == pytest.approx(np.mean(delta ** 2))


def test_options_are_checked():
    with pytest.raises(FaustRuntimeError, match="unknown mode"):
        training.TrainOptions(mode="epoch").check()
    with pytest.raises(FaustRuntimeError, match="sample mode's loss"):
        training.TrainOptions(mode="sample", loss="mss").check()
    with pytest.raises(FaustRuntimeError, match="per-sample SGD"):
        training.TrainOptions(mode="sample", optimizer="adam").check()
    with pytest.raises(FaustRuntimeError, match="cannot read the loss"):
        training.TrainOptions(loss="l2+ms").check()


def test_sample_mode_defaults_are_the_original_ones():
    o = training.TrainOptions(mode="sample").resolved()
    assert (o.optimizer, o.learning_rate, o.iterations, o.sensitivity, o.patience) == \
        ("sgd", 0.1, 10000, 1e-7, 20)


# ----------------------------------------------------------------------------- CLI and CSV

def run_train(args):
    return CliRunner().invoke(cli, ["train", *args])


def read_csv(path):
    with open(path, newline="") as f:
        rows = list(csv.reader(f))
    return rows[0], np.array(rows[1:], dtype=float)


def test_cli_default_run_writes_csv_and_summary(dsp, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    result = run_train(["--input", dsp("noise", NOISE), "--gt", dsp("gt", GAIN_GT),
                        "--diff", dsp("diff", GAIN_DIFF)])
    assert result.exit_code == 0, result.output
    header, rows = read_csv(tmp_path / "loss.csv")
    assert header == ["iteration", "loss", "gradient_g", "g", "learning_rate", "time"]
    iterations = int(rows[-1, 0])
    np.testing.assert_array_equal(rows[:, 0], np.arange(1, iterations + 1))
    assert np.all(np.diff(rows[:, 5]) >= 0)               # time since the start
    assert "Mode: clip" in result.output and "Loss: l2" in result.output
    headers = [line for line in result.output.splitlines()
               if line.split() == ["Iter", "Loss", "Learning", "rate", "g"]]
    assert len(headers) == -(-iterations // 20)
    assert "Summary" in result.output
    assert re.search(r"g\s+0\.1 -> 0\.50000", result.output)
    assert f"iterations:  {iterations}" in result.output
    assert "final loss" in result.output and "time:" in result.output


def test_cli_sample_mode_is_the_original_trainer(dsp, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    result = run_train(["--input", dsp("noise", NOISE), "--gt", dsp("gt", GAIN_GT),
                        "--diff", dsp("diff", GAIN_DIFF), "--mode", "sample"])
    assert result.exit_code == 0, result.output
    header, rows = read_csv(tmp_path / "loss.csv")
    assert header[:4] == ["iteration", "loss", "gradient_g", "g"]
    iterations = int(rows[-1, 0])
    assert rows[-1, 3] == pytest.approx(0.5, abs=1e-3)
    # Faust's console table: a header every 20 rows, then the summary.
    header_words = ["Iter", "Ground", "truth", "Learnable", "Loss", "g"]
    headers = [line for line in result.output.splitlines() if line.split() == header_words]
    assert len(headers) == -(-iterations // 20)
    assert "Sensitivity: 1e-07" in result.output
    assert "loss reached the threshold" in result.output


def test_cli_csv_columns_gradients_then_values(dsp, tmp_path):
    csv_path = tmp_path / "two.csv"
    result = run_train(["--input", dsp("noise", NOISE), "--gt", dsp("gt", GAIN_DC_GT),
                        "--diff", dsp("diff", GAIN_DC_DIFF), "--iterations", "300",
                        "--no-early-stop", "--csv", str(csv_path), "-lr", "0.05", "-q",
                        "--mode", "sample"])
    assert result.exit_code == 0, result.output
    header, rows = read_csv(csv_path)
    assert header == ["iteration", "loss", "gradient_g", "gradient_dc", "g", "dc",
                      "learning_rate", "time"]
    assert rows.shape == (300, 8)
    assert "Iter" not in result.output                    # --quiet: no table
    # values follow the gradients: v[i] = v[i-1] - lr * grad[i] while updating.
    updated = rows[1:, 1] > 1e-7
    np.testing.assert_allclose(rows[1:, 4][updated],
                               (rows[:-1, 4] - 0.05 * rows[1:, 2])[updated], rtol=1e-9)


def test_cli_l1_and_learning_rate_options(dsp, tmp_path):
    csv_path = tmp_path / "l1.csv"
    result = run_train(["--input", dsp("noise", NOISE), "--gt", dsp("gt", GAIN_GT),
                        "--diff", dsp("diff", GAIN_DIFF), "-lf", "l1", "-lr", "0.01",
                        "--iterations", "3000", "--csv", str(csv_path), "-q",
                        "--mode", "sample"])
    assert result.exit_code == 0, result.output
    _, rows = read_csv(csv_path)
    assert rows[-1, 3] == pytest.approx(0.5, abs=0.01)
    assert "Loss: l1" in result.output


def test_cli_weighted_loss_and_adam_options(dsp, tmp_path):
    result = run_train(["--input", dsp("noise", NOISE), "--gt", dsp("gt", GAIN_GT),
                        "--diff", dsp("diff", GAIN_DIFF), "--loss", "l2+0.5*mss",
                        "--clip-seconds", "0.1", "-lr", "0.02", "--schedule", "cosine",
                        "--csv", str(tmp_path / "w.csv"), "-q"])
    assert result.exit_code == 0, result.output
    assert "Loss: l2+0.5*mss" in result.output and "adam (cosine)" in result.output
    assert "Targets: 1 (4410 samples)" in result.output
    _, rows = read_csv(tmp_path / "w.csv")
    assert rows[0, 4] == pytest.approx(0.02)
    assert rows[-1, 3] == pytest.approx(0.5, abs=0.01)


def test_cli_audio_files_as_input_and_ground_truth(dsp, tmp_path):
    import soundfile

    x = np.asarray(compile_(NOISE).render(n=4000), dtype=np.float64)[0]
    soundfile.write(str(tmp_path / "in.wav"), x, 22050, subtype="DOUBLE")
    soundfile.write(str(tmp_path / "gt.wav"), 0.5 * x, 22050, subtype="DOUBLE")
    result = run_train(["--input", str(tmp_path / "in.wav"), "--gt", str(tmp_path / "gt.wav"),
                        "--diff", dsp("diff", GAIN_DIFF), "--csv", str(tmp_path / "a.csv")])
    assert result.exit_code == 0, result.output
    assert "Sample rate: 22050 Hz" in result.output
    assert "Targets: 1 (4000 samples)" in result.output
    _, rows = read_csv(tmp_path / "a.csv")
    assert rows[-1, 3] == pytest.approx(0.5, abs=1e-3)


def test_cli_multichannel_audio(dsp, tmp_path):
    import soundfile

    x = np.asarray(compile_(NOISE).render(n=6000), dtype=np.float64)[0].reshape(2, 3000)
    soundfile.write(str(tmp_path / "in.flac"), x.T, 44100)
    soundfile.write(str(tmp_path / "gt.flac"), (x * [[0.5], [0.25]]).T, 44100)
    diff = dsp("diff", 'process = *(hslider("a[diff:1]", 0.9, 0, 1, 0.001)), '
                       '*(hslider("b[diff:1]", 0.9, 0, 1, 0.001));\n')
    save = tmp_path / "v.json"
    result = run_train(["--input", str(tmp_path / "in.flac"), "--gt",
                        str(tmp_path / "gt.flac"), "--diff", diff, "--no-csv", "-q",
                        "--save", str(save)])
    assert result.exit_code == 0, result.output
    values = json.loads(save.read_text())["values"]
    # FLAC stores 16 bits: the fit is as close as the quantised target allows.
    assert values["a"] == pytest.approx(0.5, abs=1e-3)
    assert values["b"] == pytest.approx(0.25, abs=1e-3)


def test_cli_several_targets_each_with_its_input(dsp, tmp_path):
    import soundfile

    noise = np.asarray(compile_(NOISE).render(n=8000), dtype=np.float64)[0]
    pairs = []
    for k, (gain, part) in enumerate([(0.5, noise[:4000]), (0.5, noise[4000:])]):
        soundfile.write(str(tmp_path / f"in{k}.wav"), part, 44100, subtype="DOUBLE")
        soundfile.write(str(tmp_path / f"gt{k}.wav"), gain * part, 44100, subtype="DOUBLE")
        pairs += ["--input", str(tmp_path / f"in{k}.wav"), "--gt", str(tmp_path / f"gt{k}.wav")]
    for mode in ("clip", "block"):
        save = tmp_path / f"{mode}.json"
        result = run_train([*pairs, "--diff", dsp("diff", GAIN_DIFF), "--mode", mode, "-q",
                            "--no-csv", "--save", str(save), "--block-size", "500"])
        assert result.exit_code == 0, result.output
        assert "Targets: 2 (4000, 4000 samples)" in result.output
        assert json.loads(save.read_text())["values"]["g"] == pytest.approx(0.5, abs=1e-3)


def test_cli_input_count_must_pair_with_ground_truths(dsp):
    noise = dsp("noise", NOISE)
    result = run_train(["--input", noise, "--input", noise, "--gt", dsp("gt", GAIN_GT),
                        "--gt", dsp("gt2", GAIN_GT), "--gt", dsp("gt3", GAIN_GT),
                        "--diff", dsp("diff", GAIN_DIFF)])
    assert result.exit_code == 2
    assert "3 --gt but 2 --input" in result.output


def test_cli_sample_rate_mismatch_is_an_error_unless_resampled(dsp, tmp_path):
    import soundfile

    t = np.arange(48000) / 48000
    x = 0.5 * np.sin(2 * np.pi * 440 * t)
    soundfile.write(str(tmp_path / "in.wav"), x, 48000, subtype="DOUBLE")
    soundfile.write(str(tmp_path / "gt.wav"), 0.5 * x[::2], 24000, subtype="DOUBLE")
    args = ["--input", str(tmp_path / "in.wav"), "--gt", str(tmp_path / "gt.wav"),
            "--diff", dsp("diff", GAIN_DIFF), "-q", "--no-csv"]
    result = run_train(args)
    assert result.exit_code == 2
    assert "24000 Hz" in result.output and "--resample" in result.output
    save = tmp_path / "v.json"
    result = run_train(args + ["--resample", "--save", str(save)])
    assert result.exit_code == 0, result.output
    assert "resampled from 24000 Hz to 48000 Hz" in result.output
    assert json.loads(save.read_text())["values"]["g"] == pytest.approx(0.5, abs=0.01)


def test_resampling_keeps_a_tone_and_its_length():
    rate_in, rate_out = 22050, 44100
    x = np.sin(2 * np.pi * 1000 * np.arange(2205) / rate_in)[None, :]
    y = training.resample_signal(x, rate_in, rate_out)
    assert y.shape == (1, 4410)
    expected = np.sin(2 * np.pi * 1000 * np.arange(4410) / rate_out)
    np.testing.assert_allclose(y[0, 200:-200], expected[200:-200], atol=0.01)


def test_cli_length_mismatch_is_an_error_unless_trimmed(dsp, tmp_path):
    import soundfile

    x = np.asarray(compile_(NOISE).render(n=3000), dtype=np.float64)[0]
    soundfile.write(str(tmp_path / "in.wav"), x, 44100, subtype="DOUBLE")
    soundfile.write(str(tmp_path / "gt.wav"), 0.5 * x[:2500], 44100, subtype="DOUBLE")
    args = ["--input", str(tmp_path / "in.wav"), "--gt", str(tmp_path / "gt.wav"),
            "--diff", dsp("diff", GAIN_DIFF), "-q", "--no-csv"]
    result = run_train(args)
    assert result.exit_code == 2
    assert "3000 samples" in result.output and "2500" in result.output
    assert "--trim" in result.output
    result = run_train(args + ["--trim"])
    assert result.exit_code == 0, result.output
    assert "Targets: 1 (2500 samples)" in result.output


def test_cli_save_and_write_dsp(dsp, tmp_path):
    diff_path = dsp("diff", "// a comment stays\n" + GAIN_DC_DIFF)
    save, learned = tmp_path / "params.json", tmp_path / "learned.dsp"
    result = run_train(["--input", dsp("noise", NOISE), "--gt", dsp("gt", GAIN_DC_GT),
                        "--diff", diff_path, "-q", "--no-csv", "--save", str(save),
                        "--write-dsp", str(learned)])
    assert result.exit_code == 0, result.output
    document = json.loads(save.read_text())
    assert set(document["values"]) == {"g", "dc"}
    assert document["initial_values"] == {"g": 0.6, "dc": 0.0}
    assert document["stop_reason"] in ("plateau", "converged")
    assert document["iterations"] >= 1 and document["loss"] < 1e-10
    text = learned.read_text()
    assert text.startswith("// a comment stays\n")
    prog = faustdiff.compile_file(str(learned))
    inits = {p.label: p.init for p in prog.params}
    assert inits["g"] == pytest.approx(document["values"]["g"], rel=1e-9)
    assert inits["dc"] == pytest.approx(document["values"]["dc"], rel=1e-9, abs=1e-12)
    assert inits["g"] == pytest.approx(0.3, abs=1e-4)
    # Everything but the init values is unchanged: same ranges, same metadata.
    original = {p.label: p for p in faustdiff.compile_file(diff_path).params}
    for p in prog.params:
        assert (p.min, p.max, p.step, p.metadata) == (original[p.label].min,
                                                      original[p.label].max,
                                                      original[p.label].step,
                                                      original[p.label].metadata)


def test_learned_source_edits_only_the_init_argument(tmp_path):
    path = tmp_path / "d.dsp"
    path.write_text('import("stdfaust.lib");\n'
                    'f = hslider("h:grp/freq[diff:1][scale:log]",  440 * 2 , 20, 20000, 1);\n'
                    'g = vslider("gain[diff:1]", 0.5, 0, 1, 0.01); k = nentry("k", 3, 0, 9, 1);\n'
                    'process = os.osc(f) * g * k;\n')
    prog = faustdiff.compile_file(str(path))
    text, notes = training.learned_source(str(path), prog.diff_params, [1234.5, 0.25])
    assert notes == []
    assert text == ('import("stdfaust.lib");\n'
                    'f = hslider("h:grp/freq[diff:1][scale:log]",  1234.5 , 20, 20000, 1);\n'
                    'g = vslider("gain[diff:1]", 0.25, 0, 1, 0.01); k = nentry("k", 3, 0, 9, 1);\n'
                    'process = os.osc(f) * g * k;\n')


def test_learned_source_notes_a_slider_defined_elsewhere(tmp_path):
    (tmp_path / "lib.lib").write_text('gain = hslider("gain[diff:1]", 0.5, 0, 1, 0.01);\n')
    path = tmp_path / "d.dsp"
    path.write_text('import("lib.lib");\nprocess = _ * gain;\n')
    prog = faustdiff.compile_file(str(path))
    text, notes = training.learned_source(str(path), prog.diff_params, [0.75])
    assert text == path.read_text()
    assert "gain: no slider with this label" in notes[0]


def test_cli_progress_bar_on_request(dsp, tmp_path, monkeypatch):
    from faustdiff.drivers import progress

    monkeypatch.setattr(progress, "DRAW_DELAY", 0.0)       # draw at every iteration
    monkeypatch.setattr(progress, "DRAW_INTERVAL", 0.0)
    result = run_train(["--input", dsp("noise", NOISE), "--gt", dsp("gt", GAIN_GT),
                        "--diff", dsp("diff", GAIN_DIFF), "--iterations", "5",
                        "--no-csv", "-q", "--progress"])
    assert result.exit_code == 0, result.output
    assert "\r[" in result.stderr and "5/5" in result.stderr and "loss " in result.stderr
    quiet = run_train(["--input", dsp("noise", NOISE), "--gt", dsp("gt", GAIN_GT),
                       "--diff", dsp("diff", GAIN_DIFF), "--iterations", "5", "--no-csv",
                       "-q"])
    assert "\r[" not in quiet.stderr                      # not a terminal: no bar


def test_cli_bad_loss_name_is_a_usage_error(dsp):
    result = run_train(["--gt", dsp("gt", GAIN_GT), "--diff", dsp("diff", GAIN_DIFF),
                        "-lf", "l3"])
    assert result.exit_code == 2
    assert "Traceback" not in result.output


def test_ctrl_c_stops_cleanly_with_summary_and_complete_csv(dsp, tmp_path):
    """SIGINT to a real process: the run ends after the current iteration, prints the
    summary, writes --save, and leaves a CSV whose last row is the last iteration."""
    csv_path, save = tmp_path / "loss.csv", tmp_path / "v.json"
    # The child starts with Python's own Ctrl-C handler, as from a terminal: a suite run
    # as a background job of a script inherits SIGINT ignored, and a run that ignores
    # SIGINT rightly never stops on it.
    start = ("import runpy, signal, sys; signal.signal(signal.SIGINT, "
             "signal.default_int_handler); sys.argv[0] = 'faustdiff'; "
             "runpy.run_module('faustdiff.cli.main', run_name='__main__')")
    command = [sys.executable, "-c", start, "train", "--input",
               dsp("noise", NOISE), "--gt", dsp("gt", GAIN_GT), "--diff",
               dsp("diff", GAIN_DIFF), "--mode", "block", "--block-size", "64",
               "--iterations", "100000000", "--no-early-stop", "-q", "--csv",
               str(csv_path), "--save", str(save)]
    process = subprocess.Popen(command, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                               text=True)
    try:
        deadline = time.monotonic() + 120
        while _csv_rows(csv_path) < 200:
            assert process.poll() is None, process.communicate()
            assert time.monotonic() < deadline, "the run never started"
            time.sleep(0.05)
        process.send_signal(signal.SIGINT)
        out, err = process.communicate(timeout=60)
    finally:
        if process.poll() is None:
            process.kill()
    assert process.returncode == 130, err
    assert "Traceback" not in err
    assert "interrupted (Ctrl-C)" in out
    header, rows = read_csv(csv_path)
    iterations = int(re.search(r"iterations:\s+(\d+)", out).group(1))
    assert rows.shape[0] == iterations >= 200
    np.testing.assert_array_equal(rows[:, 0], np.arange(1, iterations + 1))
    assert csv_path.read_text().endswith("\n")
    assert json.loads(save.read_text())["stop_reason"] == "interrupted"


def _csv_rows(path) -> int:
    try:
        return max(0, path.read_text().count("\n") - 1)
    except FileNotFoundError:
        return 0


def test_resampling_is_exact_on_a_band_limited_period():
    # one period of a 100 Hz tone at 44100 Hz: upsampled, it is the tone at 88200 Hz
    x = np.sin(2 * np.pi * 100 * np.arange(441) / 44100)[None, :]
    y = training.resample_signal(x, 44100, 88200)
    assert y.shape == (1, 882)
    np.testing.assert_allclose(y[0], np.sin(2 * np.pi * 100 * np.arange(882) / 88200), atol=1e-12)


def test_downsampling_removes_what_the_lower_rate_cannot_hold():
    n = 4410
    t = np.arange(n) / 44100
    x = (np.sin(2 * np.pi * 1000 * t) + np.sin(2 * np.pi * 15000 * t))[None, :]
    y = training.resample_signal(x, 44100, 22050)   # Nyquist 11025 Hz: 15 kHz must go
    np.testing.assert_allclose(y[0], np.sin(2 * np.pi * 1000 * np.arange(2205) / 22050), atol=1e-9)


def test_generator_diff_ignores_an_audio_input(dsp, tmp_path):
    """DIFF and GT without inputs: IN is not read, so its length does not matter."""
    import soundfile

    soundfile.write(str(tmp_path / "in.wav"), np.zeros(100), 44100)
    t = np.arange(3000) / 44100
    soundfile.write(str(tmp_path / "gt.wav"), 0.3 * np.sin(2 * np.pi * 441 * t), 44100,
                    subtype="DOUBLE")
    diff = dsp("osc", 'import("stdfaust.lib");\n'
                      'process = hslider("a[diff:1]", 0.8, 0, 1, 0.001) * os.osc(441);\n')
    save = tmp_path / "v.json"
    result = run_train(["--input", str(tmp_path / "in.wav"), "--gt", str(tmp_path / "gt.wav"),
                        "--diff", diff, "-q", "--no-csv", "--save", str(save)])
    assert result.exit_code == 0, result.output
    assert json.loads(save.read_text())["values"]["a"] == pytest.approx(0.3, abs=0.01)


# ----------------------------------------------------------------------------- optimisers

def slider(lo, hi, log=False):
    return faustdiff.runtime.program.Param("p", "/p", lo, lo, hi, 0.01, True,
                                           metadata={"scale": "log"} if log else {})


def test_parameter_space_maps_slider_ranges_to_the_unit_interval():
    space = optim.ParameterSpace.of([slider(-1, 3), slider(20, 20000, log=True)])
    u = space.to_unit(np.array([0.0, 632.4555320336759]))
    np.testing.assert_allclose(u, [0.25, 0.5])                  # 632 Hz: the geometric middle
    np.testing.assert_allclose(space.from_unit(u), [0.0, 632.4555320336759])
    np.testing.assert_array_equal(space.from_unit(np.array([0.0, 1.0])), [-1.0, 20000.0])
    np.testing.assert_array_equal(space.to_unit(np.array([9.0, 1.0])), [1.0, 0.0])  # clamped


def test_parameter_space_gradient_is_the_chain_rule():
    space = optim.ParameterSpace.of([slider(-1, 3), slider(20, 20000, log=True)])
    u, h = np.array([0.3, 0.7]), 1e-7
    slope = (space.from_unit(u + h) - space.from_unit(u - h)) / (2 * h)
    np.testing.assert_allclose(space.gradient_to_unit(u, np.array([2.0, 3.0])),
                               [2.0, 3.0] * slope, rtol=1e-7)


def test_log_scale_needs_a_positive_range_and_fixed_sliders_stay_put():
    space = optim.ParameterSpace.of([slider(-1, 1, log=True), slider(0.5, 0.5)])
    assert not space.log[0] and "needs a positive range" in space.notes[0]
    assert space.gradient_to_unit(np.array([0.5, 0.0]), np.array([1.0, 5.0]))[1] == 0.0
    assert space.from_unit(np.array([0.5, 0.0]))[1] == 0.5


def test_adam_first_step_is_lr_and_zero_gradient_gives_no_step():
    adam = optim.Adam()
    np.testing.assert_allclose(adam.step(np.array([0.5, 0.5]), np.array([1e-9, -300.0]), 0.01),
                               [0.49, 0.51])
    fresh = optim.Adam()
    assert fresh.step(np.array([0.5]), np.array([0.0]), 0.01)[0] == 0.5


def test_plateau_counts_iterations_without_a_relative_improvement():
    plateau = optim.Plateau(patience=3, min_delta=0.1)
    assert [plateau.update(loss) for loss in [1.0, 0.95, 0.92, 0.89]] == \
        [False, False, False, False]            # 0.89 < 0.9: an improvement resets the count
    assert [plateau.update(loss) for loss in [0.85, 0.82, 0.81]] == [False, False, True]

"""Per-sample gradient descent (`faustdiff train` and `faustdiff.drivers.train`)."""
import csv

import numpy as np
import pytest
from click.testing import CliRunner

import faustdiff
from faustdiff.cli.main import cli
from faustdiff.drivers import train as training

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


def test_gain_converges_with_l2(gain_diff, gain_gt, noise):
    result = training.train(gain_diff, gain_gt, noise)
    assert result.labels == ["g"]
    assert result.values["g"] == pytest.approx(0.5, abs=1e-3)
    assert result.stop_reason == "converged"
    # Early stop: the last 21 iterations all had a loss at or below the sensitivity.
    assert not result.history.updated[-21:].any()
    assert np.all(result.history.loss[-21:] <= 1e-7)
    assert result.iterations < 10000
    assert result.final_loss == result.history.loss[-1]


def test_gain_converges_with_l1(gain_diff, gain_gt, noise):
    options = training.TrainOptions(loss="l1", learning_rate=0.01, iterations=5000)
    result = training.train(gain_diff, gain_gt, noise, options)
    assert result.values["g"] == pytest.approx(0.5, abs=0.01)
    assert result.history.loss[-50:].mean() < 0.1 * result.history.loss[:50].mean()


def test_update_is_the_chain_rule_of_the_loss(gain_diff, gain_gt, noise):
    """g <- g - lr * 2 (y - gt) x for l2, and y is computed with the value before the update."""
    lr = 0.05
    options = training.TrainOptions(learning_rate=lr, iterations=50, early_stop=False)
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
    options = training.TrainOptions(loss="l1", learning_rate=0.01, iterations=30,
                                    early_stop=False)
    h = training.train(gain_diff, gain_gt, noise, options).history
    delta = h.learnable[0] - h.ground_truth[0]
    np.testing.assert_allclose(h.loss, np.abs(delta), rtol=1e-12)
    np.testing.assert_allclose(h.gradients[:, 0], np.sign(delta) * noise[0, :30], rtol=1e-12)


def test_no_update_below_sensitivity_and_early_stop(gain_diff, gain_gt, noise):
    options = training.TrainOptions(sensitivity=10.0)   # every per-sample loss is below 10
    result = training.train(gain_diff, gain_gt, noise, options)
    assert result.iterations == 21                        # stops once MORE than 20 in a row
    assert result.stop_reason == "converged"
    assert result.final_values == [0.1]
    assert not result.history.updated.any()


def test_state_carries_over_between_iterations(noise):
    """With lr = 0 the per-sample outputs must equal one block render of the recursion."""
    diff = compile_(POLE_DIFF)
    gt = np.asarray(compile_(POLE_GT).render(x=noise[:, :300]), dtype=np.float64)
    options = training.TrainOptions(learning_rate=0.0, iterations=300, early_stop=False)
    result = training.train(diff, gt, noise, options)
    block = np.asarray(diff.render(x=noise[:, :300]), dtype=np.float64)
    np.testing.assert_allclose(result.history.learnable, block, rtol=1e-12, atol=1e-15)


def test_recursion_coefficient_is_learned(noise):
    diff = compile_(POLE_DIFF)
    gt = np.asarray(compile_(POLE_GT).render(x=noise[:, :5000]), dtype=np.float64)
    options = training.TrainOptions(learning_rate=0.05, iterations=5000)
    result = training.train(diff, gt, noise, options)
    assert result.values["a"] == pytest.approx(0.5, abs=1e-3)


def test_two_parameters_converge(noise):
    diff = compile_(GAIN_DC_DIFF)
    gt = np.asarray(compile_(GAIN_DC_GT).render(x=noise), dtype=np.float64)
    result = training.train(diff, gt, noise)
    assert result.labels == ["g", "dc"]                  # declaration order
    assert result.values["g"] == pytest.approx(0.3, abs=2e-3)
    assert result.values["dc"] == pytest.approx(0.2, abs=2e-3)


def test_divergence_stops_training(gain_diff, gain_gt, noise):
    options = training.TrainOptions(learning_rate=1e6, iterations=5000)
    result = training.train(gain_diff, gain_gt, noise, options)
    assert result.stop_reason == "diverged"
    assert result.iterations < 5000


def test_short_signals_limit_the_iterations(gain_diff, gain_gt, noise):
    result = training.train(gain_diff, gain_gt[:, :40], noise,
                            training.TrainOptions(iterations=100, early_stop=False))
    assert result.iterations == 40
    assert result.stop_reason == "input-exhausted"
    assert result.notes


def test_ten_thousand_iterations_run_to_the_end_and_converge(gain_diff, gain_gt, noise):
    options = training.TrainOptions(iterations=10000, early_stop=False)
    result = training.train(gain_diff, gain_gt, noise, options)
    assert result.iterations == 10000
    assert result.final_values[0] == pytest.approx(0.5, abs=1e-3)


# ----------------------------------------------------------------------------- CLI and CSV

def run_train(args):
    return CliRunner().invoke(cli, ["train", *args])


def read_csv(path):
    with open(path, newline="") as f:
        rows = list(csv.reader(f))
    return rows[0], np.array(rows[1:], dtype=float)


def test_cli_trains_and_writes_default_csv(dsp, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    result = run_train(["--input", dsp("noise", NOISE), "--gt", dsp("gt", GAIN_GT),
                        "--diff", dsp("diff", GAIN_DIFF)])
    assert result.exit_code == 0, result.output
    header, rows = read_csv(tmp_path / "loss.csv")
    assert header == ["iteration", "loss", "gradient_g", "g"]
    iterations = int(rows[-1, 0])
    np.testing.assert_array_equal(rows[:, 0], np.arange(1, iterations + 1))
    assert rows[-1, 3] == pytest.approx(0.5, abs=1e-3)
    # The console table: a header every 20 rows, then the summary.
    lines = result.output.splitlines()
    header_words = ["Iter", "Ground", "truth", "Learnable", "Loss", "g"]
    headers = [line for line in lines if line.split() == header_words]
    assert len(headers) == -(-iterations // 20)
    assert "Summary" in result.output
    assert f"iterations:  {iterations}" in result.output
    assert "final loss" in result.output and "time:" in result.output


def test_cli_csv_columns_gradients_then_values(dsp, tmp_path):
    csv_path = tmp_path / "two.csv"
    result = run_train(["--input", dsp("noise", NOISE), "--gt", dsp("gt", GAIN_DC_GT),
                        "--diff", dsp("diff", GAIN_DC_DIFF), "--iterations", "300",
                        "--no-early-stop", "--csv", str(csv_path), "-lr", "0.05", "-q"])
    assert result.exit_code == 0, result.output
    header, rows = read_csv(csv_path)
    assert header == ["iteration", "loss", "gradient_g", "gradient_dc", "g", "dc"]
    assert rows.shape == (300, 6)
    assert "Iter" not in result.output                    # --quiet: no table
    # values follow the gradients: v[i] = v[i-1] - lr * grad[i] while updating.
    updated = rows[1:, 1] > 1e-7
    np.testing.assert_allclose(rows[1:, 4][updated],
                               (rows[:-1, 4] - 0.05 * rows[1:, 2])[updated], rtol=1e-9)


def test_cli_l1_and_learning_rate_options(dsp, tmp_path):
    csv_path = tmp_path / "l1.csv"
    result = run_train(["--input", dsp("noise", NOISE), "--gt", dsp("gt", GAIN_GT),
                        "--diff", dsp("diff", GAIN_DIFF), "-lf", "l1", "-lr", "0.01",
                        "--iterations", "3000", "--csv", str(csv_path), "-q"])
    assert result.exit_code == 0, result.output
    _, rows = read_csv(csv_path)
    assert rows[-1, 3] == pytest.approx(0.5, abs=0.01)
    assert "Loss: l1" in result.output


def test_cli_audio_files_as_input_and_ground_truth(dsp, tmp_path):
    import soundfile

    x = np.asarray(compile_(NOISE).render(n=4000), dtype=np.float64)[0]
    soundfile.write(str(tmp_path / "in.wav"), x, 22050, subtype="DOUBLE")
    soundfile.write(str(tmp_path / "gt.wav"), 0.5 * x, 22050, subtype="DOUBLE")
    result = run_train(["--input", str(tmp_path / "in.wav"), "--gt", str(tmp_path / "gt.wav"),
                        "--diff", dsp("diff", GAIN_DIFF), "--csv", str(tmp_path / "a.csv")])
    assert result.exit_code == 0, result.output
    assert "Sample rate: 22050 Hz" in result.output
    _, rows = read_csv(tmp_path / "a.csv")
    assert rows[-1, 3] == pytest.approx(0.5, abs=1e-3)


def test_cli_bad_loss_name_is_a_usage_error(dsp):
    result = run_train(["--gt", dsp("gt", GAIN_GT), "--diff", dsp("diff", GAIN_DIFF),
                        "-lf", "l3"])
    assert result.exit_code == 2
    assert "Traceback" not in result.output

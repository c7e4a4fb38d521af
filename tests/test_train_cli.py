"""``gradflow train``: JSON on the last stdout line, held-out test split, checkpoints, errors."""

import json
import sys

import pytest

from gradflow.cli import main


def run_cli(capsys, *argv):
    code = main(["train", *argv])
    out, err = capsys.readouterr()
    return code, out, err


def test_json_report_on_the_last_line(capsys):
    code, out, err = run_cli(
        capsys, "--model", "mlp", "--dataset", "iris", "--epochs", "3", "--seed", "1", "--json"
    )
    assert code == 0
    lines = out.strip().splitlines()
    assert len(lines) == 1  # progress never goes to stdout
    report = json.loads(lines[-1])
    final = report["final"]
    for key in ("train_loss", "test_loss", "test_accuracy", "val_loss", "val_accuracy"):
        assert isinstance(final[key], float)
    assert [r["epoch"] for r in report["history"]] == [1, 2, 3]
    cfg = report["config"]
    assert (cfg["model"], cfg["dataset"], cfg["seed"], cfg["optimizer"]) == (
        "mlp",
        "iris",
        1,
        "adam",
    )
    assert cfg["split"]["test"] > 0 and sum(cfg["split"].values()) == 150


def test_same_seed_same_numbers_and_resume(capsys, tmp_path):
    args = ["--model", "mlp", "--dataset", "moons", "--seed", "3", "--json", "--quiet"]
    full = json.loads(run_cli(capsys, *args, "--epochs", "4")[1].splitlines()[-1])
    again = json.loads(run_cli(capsys, *args, "--epochs", "4")[1].splitlines()[-1])
    ckpt = str(tmp_path / "moons.npz")
    run_cli(capsys, *args, "--epochs", "2", "--checkpoint", ckpt)
    resumed = json.loads(run_cli(capsys, *args, "--epochs", "4", "--resume", ckpt)[1])
    strip = lambda rep: [{k: v for k, v in r.items() if k != "seconds"} for r in rep["history"]]
    assert strip(full) == strip(again) == strip(resumed)
    assert full["final"]["test_loss"] == resumed["final"]["test_loss"]


def test_regression_reports_the_mean_baseline(capsys):
    code, out, _ = run_cli(capsys, "--dataset", "sine", "--epochs", "30", "--json", "--quiet")
    final = json.loads(out)["final"]
    assert final["test_accuracy"] is None
    assert final["test_loss"] < final["baseline_test_loss"] / 2


def test_human_readable_report(capsys):
    code, out, _ = run_cli(capsys, "--dataset", "xor", "--epochs", "2", "--quiet")
    assert code == 0 and "held-out test loss" in out and "test accuracy" in out


def test_jit_backend_missing_is_a_clear_error(capsys, monkeypatch):
    monkeypatch.setitem(sys.modules, "gradflow.jit", None)
    code, out, err = run_cli(capsys, "--dataset", "iris", "--epochs", "1", "--backend", "jit")
    assert code == 2 and "gradflow.jit" in err and out == ""


def test_model_that_does_not_fit_the_data_is_a_clear_error(capsys):
    code, _, err = run_cli(capsys, "--model", "cnn", "--dataset", "iris", "--epochs", "1")
    assert code == 2 and "cnn needs image or signal data" in err
    code, _, err = run_cli(capsys, "--model", "lstm", "--dataset", "moons", "--epochs", "1")
    assert code == 2 and "needs sequence data" in err


@pytest.mark.parametrize(
    "model,dataset",
    [
        ("cnn", "digits"),
        ("cnn", "signals"),
        ("rnn", "parity"),
        ("gru", "adding"),
        ("lstm", "digits"),
        ("mlp", "spirals"),
    ],
)
def test_every_model_runs_one_epoch(capsys, model, dataset):
    code, out, err = run_cli(
        capsys, "--model", model, "--dataset", dataset, "--epochs", "1", "--json", "--quiet"
    )
    assert code == 0, err
    assert json.loads(out)["final"]["epochs_run"] == 1


def test_corrupted_resume_file_is_reported(capsys, tmp_path):
    bad = tmp_path / "bad.npz"
    bad.write_text("nope")
    code, _, err = run_cli(capsys, "--dataset", "iris", "--epochs", "1", "--resume", str(bad))
    assert code == 2 and "corrupted" in err


def test_find_lr_trains_with_the_range_test_suggestion(capsys):
    code, out, err = run_cli(
        capsys, "--dataset", "iris", "--epochs", "5", "--find-lr", "--json", "--quiet"
    )
    assert code == 0, err
    report = json.loads(out)
    finder = report["config"]["lr_finder"]
    assert finder["suggested_lr"] == pytest.approx(finder["rise_lr"] / 10)
    assert report["config"]["lr"] == finder["suggested_lr"]


def test_classification_report_has_per_class_metrics(capsys):
    code, out, _ = run_cli(capsys, "--dataset", "moons", "--epochs", "20", "--json", "--quiet")
    final = json.loads(out)["final"]
    cm = final["confusion_matrix"]
    assert len(cm) == 2 and sum(map(sum, cm)) == json.loads(out)["config"]["split"]["test"]
    assert final["test_accuracy"] == pytest.approx((cm[0][0] + cm[1][1]) / sum(map(sum, cm)))
    assert 0.5 < final["test_auc"] <= 1.0 and 0 < final["test_f1_macro"] <= 1.0


@pytest.mark.parametrize(
    "option, value, message",
    [
        # --epochs 0 used to train the default 50 epochs, --epochs -1 none (and exit 0)
        ("--epochs", "0", "argument --epochs: must be at least 1, got '0'"),
        ("--epochs", "-1", "argument --epochs: must be at least 1, got '-1'"),
        ("--batch-size", "0", "argument --batch-size: must be at least 1, got '0'"),
        ("--hidden", "0", "argument --hidden: must be from 1 to 4096, got '0'"),
        ("--lr", "nan", "argument --lr: must be a finite number, got 'nan'"),
        ("--l2", "nan", "argument --l2: must be a finite number, got 'nan'"),
        ("--weight-decay", "nan", "argument --weight-decay: must be a finite number, got 'nan'"),
        ("--clip-norm", "-1", "argument --clip-norm: must be > 0, got '-1'"),
    ],
)
def test_bad_numbers_are_refused_before_training(option, value, message, capsys):
    with pytest.raises(SystemExit) as e:
        main(["train", "--dataset", "xor", "--quiet", option, value])
    assert e.value.code == 2
    assert capsys.readouterr().err.splitlines()[-1] == f"gradflow train: error: {message}"


def test_divergence_is_one_line_and_exit_code_1(capsys):
    code, out, err = run_cli(
        capsys, "--dataset", "sine", "--optimizer", "sgd", "--lr", "1e6", "--epochs", "3", "--quiet"
    )
    assert code == 1 and out == "" and "Traceback" not in err
    assert err.count("\n") == 1 and "the loss became" in err and "lr 1e+06 too large?" in err

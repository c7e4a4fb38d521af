"""The demonstrations behind the flash cards (exercises/demonstrations.py): each shows what
its card claims, in numbers a bug would change, and prints it for a student."""

import io

import numpy as np
import pytest

from gradflow.cli import main
from gradflow.exercises import demonstrations as demo
from gradflow.exercises.cards import load_cards


def _run(fn):
    out = io.StringIO()
    result = fn(out)
    text = out.getvalue()
    assert text.strip() and "nan" not in text.lower()
    return result, text


def test_cross_validation_validates_every_sample_once_and_averages_the_folds():
    result, text = _run(demo.cross_validation)
    accs = [f["val_accuracy"] for f in result["folds"]]
    assert len(accs) == 5 and min(accs) > 0.75  # iris is easy; a broken fold is not
    assert result["mean_val_accuracy"] == pytest.approx(np.mean(accs))
    assert f"mean ± std over the folds: {np.mean(accs):.3f} ± {np.std(accs):.3f}" in text
    assert text.count(" 120 ") == 5 and "validated exactly once" in text


def test_autoencoder_reconstruction_error_falls_without_labels():
    losses, text = _run(demo.autoencoder)
    assert all(b < a for a, b in zip(losses, losses[1:]))  # falls every epoch
    baseline = float(text.split("always answering the mean digit: ")[1].split(")")[0])
    assert losses[-1] < baseline / 2 < losses[0]  # learns more than the mean digit
    assert (
        text.count("  code: [") == 3 and text.count(" | ") == 1 + 3 * 8
    )  # the header, 3 pictures of 8 rows


def test_conv1x1_is_a_linear_layer_per_pixel_and_the_bottleneck_saves_weights():
    counts, text = _run(demo.conv1x1)
    assert counts == {
        "3×3 conv 256 → 256": 256 * 256 * 9 + 256,
        "1×1 conv 256 → 64": 256 * 64 + 64,
        "3×3 conv 64 → 256": 64 * 256 * 9 + 256,
    }
    assert "largest difference from that sum by hand: 0\n" in text
    assert "(1, 6, 4, 4) → (1, 2, 4, 4)" in text and "3.6× fewer" in text


def test_vgg_stacked_3x3_layers_see_5x5_and_7x7():
    fields, text = _run(demo.vgg)
    assert fields == {1: 3, 2: 5, 3: 7}
    assert text.count("■") == 25  # the 5×5 field of two layers, drawn


def test_inception_block_concatenates_four_branches_and_1x1_reductions_save_weights():
    counts, text = _run(demo.inception)
    assert "concatenated along the channels: (1, 256, 8, 8)" in text  # 64 + 128 + 32 + 32
    direct = (192 * 128 * 9 + 128) + (192 * 32 * 25 + 32)
    reduced = (192 * 96 + 96) + (96 * 128 * 9 + 128) + (192 * 16 + 16) + (16 * 32 * 25 + 32)
    assert counts["3×3 and 5×5 directly"] == direct and counts["with 1×1"] == reduced
    assert counts["block"] == reduced + (192 * 64 + 64) + (192 * 32 + 32)


def test_resnet_skip_connections_keep_the_gradient_at_the_first_layer():
    norms, text = _run(demo.resnet)
    plain, residual = norms["plain"], norms["residual"]
    assert plain[0] < 1e-12 * plain[-1]  # vanished through 30 sigmoids
    assert residual[0] >= residual[-1] > 0.5  # the identity path carries it back whole
    assert "layer k  plain stack  residual stack" in text


def test_every_demonstration_has_a_card_and_the_command_lists_and_runs_them(capsys):
    linked = {
        c.target.split()[-1] for c in load_cards() if c.target.startswith("gradflow exercise demo")
    }
    assert linked == set(demo.DEMONSTRATIONS)
    assert main(["exercise", "demo"]) == 0
    listing = capsys.readouterr().out.splitlines()
    assert [line.split()[0] for line in listing] == list(demo.DEMONSTRATIONS)
    assert main(["exercise", "demo", "vgg"]) == 0
    assert "2 × 3×3 conv: receptive field 5×5" in capsys.readouterr().out


def test_an_unknown_demonstration_is_one_line_and_exit_2(capsys):
    assert main(["exercise", "demo", "alexnet"]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "no demonstration named 'alexnet'; known: cross_validation" in err[0]

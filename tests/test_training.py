"""fit, callbacks, checkpoints (exact resume, clear errors) and regularisation."""

import zipfile

import numpy as np
import pytest

from gradflow import Tensor, nn
from gradflow.data import load_iris, train_val_test_split
from gradflow.data.preprocessing import Standardizer
from gradflow.nn import Linear, Module, mlp
from gradflow.optim import SGD, Adam, Power
from gradflow.regularization import (
    Ensemble,
    ImageAugmenter,
    Regularizer,
    shift_image,
    smooth_labels,
)
from gradflow.training import (
    Callback,
    CheckpointError,
    EarlyStopping,
    ModelCheckpoint,
    cross_validate,
    fit,
    load_checkpoint,
    predict,
    save_checkpoint,
    train_ensemble,
)
from gradflow.training.backends import BackendError, make_stepper


class TinyMLP(Module):
    def __init__(self, hidden=8, seed=0):
        super().__init__()
        self.hidden = Linear(4, hidden, seed=seed)
        self.out = Linear(hidden, 3, seed=seed + 1)

    def forward(self, x):
        return self.out(self.hidden(x).tanh())


@pytest.fixture(scope="module")
def iris():
    X, y = load_iris()
    (a, ya), (b, yb), _ = train_val_test_split(X, y, 0.2, 0.2, seed=0)
    s = Standardizer().fit(a)
    return (s.transform(a), ya), (s.transform(b), yb)


def run(iris, epochs, seed_model=0, make=TinyMLP, **kw):
    model = make(seed=seed_model)
    opt = Adam(model.parameters(), lr=0.05)
    callbacks = [Power(opt, s=2), EarlyStopping(patience=100)]
    hist = fit(
        model,
        iris[0],
        iris[1],
        optimizer=opt,
        epochs=epochs,
        batch_size=16,
        callbacks=callbacks,
        seed=7,
        progress=False,
        regularizer=Regularizer(l2=1e-3, max_norm=3.0, input_noise=0.05),
        **kw,
    )
    return model, opt, hist


def test_fit_learns_iris_and_logs_history(iris):
    _, _, hist = run(iris, 15)
    row = hist.epochs[-1]
    assert set(row) == {
        "epoch",
        "train_loss",
        "val_loss",
        "train_accuracy",
        "val_accuracy",
        "lr",
        "seconds",
    }
    assert hist["epoch"] == list(range(1, 16))
    assert row["val_accuracy"] >= 0.9
    assert hist.epochs[0]["train_loss"] > row["train_loss"]
    assert hist["lr"][:3] == pytest.approx([0.05, 0.05 / 1.5, 0.05 / 2])  # Power, s = 2


def dropout_bn_mlp(seed):
    # dropout draws from a generator the checkpoint must save; batch norm has buffers
    return mlp([4, 8, 3], activation="tanh", dropout=0.3, batchnorm=True, seed=seed)


@pytest.mark.parametrize("make", [TinyMLP, dropout_bn_mlp])
def test_resume_from_checkpoint_equals_uninterrupted_training(iris, tmp_path, make):
    full_model, full_opt, full_hist = run(iris, 6, make=make)
    ckpt = tmp_path / "run.npz"
    run(iris, 3, make=make, checkpoint=ckpt)
    # a fresh model with a *different* initialisation: everything must come from the file
    resumed_model, resumed_opt, resumed_hist = run(iris, 6, 99, make, resume=ckpt)
    strip = lambda h: [{k: v for k, v in r.items() if k != "seconds"} for r in h.epochs]
    assert strip(resumed_hist) == strip(full_hist)
    resumed = resumed_model.state_dict()
    for name, value in full_model.state_dict().items():
        np.testing.assert_array_equal(value, resumed[name], err_msg=name)
    assert resumed_opt.t == full_opt.t and resumed_opt.lr == full_opt.lr


def test_checkpoint_write_is_atomic_and_needs_no_pickle(iris, tmp_path):
    model, opt, _ = run(iris, 1)
    path = save_checkpoint(tmp_path / "m.npz", model, opt, epoch=1)
    assert [p.name for p in tmp_path.iterdir()] == ["m.npz"]  # no temp file left behind
    with np.load(path, allow_pickle=False) as z:
        assert "model/hidden.weight" in z.files and "optim/m.0" in z.files
    assert load_checkpoint(path)["meta"]["epoch"] == 1


def test_corrupted_checkpoint_is_a_clear_error(iris, tmp_path):
    model, opt, _ = run(iris, 1)
    good = save_checkpoint(tmp_path / "good.npz", model, opt)
    garbage = tmp_path / "garbage.npz"
    garbage.write_bytes(b"this is not a zip archive")
    with pytest.raises(CheckpointError, match="corrupted or not an .npz"):
        load_checkpoint(garbage)
    truncated = tmp_path / "truncated.npz"
    truncated.write_bytes(good.read_bytes()[:-200])
    with pytest.raises(CheckpointError, match="truncated.npz"):
        load_checkpoint(truncated)
    with pytest.raises(CheckpointError, match="does not exist"):
        load_checkpoint(tmp_path / "missing.npz")
    pickled = tmp_path / "pickled.npz"
    np.savez(pickled, meta=np.array([{"a": 1}], dtype=object))
    with pytest.raises(CheckpointError, match="'meta' holds object values"):
        load_checkpoint(pickled)


def test_mismatched_checkpoint_names_the_parameter(iris, tmp_path):
    model, opt, _ = run(iris, 1)
    path = tmp_path / "m.npz"
    save_checkpoint(path, model, opt)
    wider = TinyMLP(hidden=5)
    before = wider.hidden.weight.data.copy()
    with pytest.raises(
        CheckpointError,
        match=r"m.npz: entry 'model/hidden.weight' has shape \(8, 4\) but model parameter"
        r" hidden.weight needs \(5, 4\)",
    ):
        fit(wider, iris[0], epochs=2, progress=False, resume=path)
    np.testing.assert_array_equal(wider.hidden.weight.data, before)  # left untouched
    # a checkpoint that lacks a parameter names it
    with zipfile.ZipFile(path) as z:
        kept = {n: z.read(n) for n in z.namelist() if n != "model/out.bias.npy"}
    with zipfile.ZipFile(path, "w") as z:
        for n, b in kept.items():
            z.writestr(n, b)
    with pytest.raises(
        CheckpointError, match="no entry 'model/out.bias' for model parameter out.bias"
    ):
        fit(TinyMLP(), iris[0], epochs=2, progress=False, resume=path)


def test_model_checkpoint_callback_keeps_the_best(iris, tmp_path):
    path = tmp_path / "best.npz"
    model = TinyMLP()
    hist = fit(
        model,
        iris[0],
        iris[1],
        optimizer="adam",
        lr=0.05,
        epochs=8,
        progress=False,
        callbacks=[ModelCheckpoint(path, monitor="val_loss")],
    )
    assert load_checkpoint(path)["meta"]["epoch"] == hist.best("val_loss")["epoch"]


def test_early_stopping_stops_and_restores_best_weights(iris):
    model = TinyMLP()
    # a rate far too large makes the validation loss bounce; patience 2 must stop early
    stop = EarlyStopping(monitor="val_loss", patience=2)
    hist = fit(
        model,
        iris[0],
        iris[1],
        optimizer="sgd",
        lr=3.0,
        epochs=60,
        progress=False,
        callbacks=[stop],
    )
    best = hist.best("val_loss")
    assert len(hist) < 60 and len(hist) == best["epoch"] + 2
    X, y = iris[1]
    from gradflow.training.backends import resolve_loss

    restored = resolve_loss("cross_entropy")(Tensor(predict(model, X)), y).item()
    assert restored == pytest.approx(best["val_loss"])


def test_early_stopping_needs_the_monitored_value(iris):
    with pytest.raises(KeyError, match="'val_loss' is not logged"):
        fit(TinyMLP(), iris[0], epochs=1, progress=False, callbacks=[EarlyStopping()])


def test_l2_penalty_gradient_matches_the_graph_engine_and_skips_biases():
    layer = Linear(3, 2, seed=0)
    layer.bias.data[:] = [0.5, -0.5]
    reg = Regularizer(l1=0.1, l2=0.3)
    for p in layer.parameters():
        p.grad = np.zeros_like(p.data)
    reg.add_penalty_grads(layer.parameters())
    w = layer.weight
    penalty = (abs(w)).sum() * 0.1 + (w * w).sum() * 0.3
    w.grad = None
    penalty.backward()
    expected = w.grad.copy()
    layer2 = Linear(3, 2, seed=0)
    for p in layer2.parameters():
        p.grad = np.zeros_like(p.data)
    reg.add_penalty_grads(layer2.parameters())
    np.testing.assert_allclose(layer2.weight.grad, expected)
    np.testing.assert_array_equal(layer2.bias.grad, 0.0)  # biases are not penalised
    assert reg.penalty(layer2.parameters()) == pytest.approx(penalty.item())
    assert Regularizer(l2=1.0, penalize_biases=True).penalized(layer2.bias)


def test_max_norm_clips_rows_only_when_too_long():
    layer = Linear(2, 3, seed=0)
    layer.weight.data[:] = [[3.0, 4.0], [0.3, 0.4], [0.0, 10.0]]
    Regularizer(max_norm=1.0).apply_max_norm(layer.parameters())
    np.testing.assert_allclose(layer.weight.data, [[0.6, 0.8], [0.3, 0.4], [0.0, 1.0]])


def test_label_smoothing_targets():
    t = smooth_labels(np.array([0, 2]), 3, 0.3)
    np.testing.assert_allclose(t, [[0.8, 0.1, 0.1], [0.1, 0.1, 0.8]])
    np.testing.assert_allclose(t.sum(axis=1), 1.0)


def test_label_smoothing_reaches_the_loss(iris):
    """Same model, data and seed: only the smoothed targets differ, so from the first batch
    on the losses (and then the weights) differ; without the kwarg reaching the loss they
    would be identical."""
    plain = fit(TinyMLP(), iris[0], epochs=2, progress=False)
    again = fit(TinyMLP(), iris[0], epochs=2, progress=False)
    smooth = fit(TinyMLP(), iris[0], epochs=2, progress=False, loss_kwargs={"label_smoothing": 0.1})
    assert again["train_loss"] == plain["train_loss"]
    assert all(a != b for a, b in zip(smooth["train_loss"], plain["train_loss"]))


def test_image_augmentation():
    g = np.random.default_rng(0)
    img = np.arange(2 * 1 * 4 * 4, dtype=float).reshape(2, 1, 4, 4)
    np.testing.assert_array_equal(ImageAugmenter()(img, g), img)
    flipped = ImageAugmenter(flip=True)(img, np.random.default_rng(1))
    for k in range(2):
        assert np.array_equal(flipped[k], img[k]) or np.array_equal(flipped[k], img[k, :, :, ::-1])
    moved = shift_image(img[0], 1, -1)
    np.testing.assert_array_equal(moved[0, 1:, :3], img[0, 0, :3, 1:])
    assert moved[0, 0].sum() == 0 and moved[0, :, 3].sum() == 0
    cropped = ImageAugmenter(crop_padding=1)(img, g)
    assert cropped.shape == img.shape
    noisy = ImageAugmenter(noise=0.1)(img, g)
    assert 0.05 < np.std(noisy - img) < 0.15
    with pytest.raises(ValueError, match=r"\(B, C, H, W\)"):
        ImageAugmenter()(img[0], g)


def test_ensemble_averages_member_predictions(iris):
    X, y = iris[0]
    ens = train_ensemble(
        lambda s: TinyMLP(seed=s),
        X,
        y,
        members=3,
        bagging=True,
        seed=1,
        epochs=3,
        optimizer="adam",
        lr=0.05,
    )
    from gradflow.training import predict_proba

    members = [predict_proba(m, X) for m in ens.models]
    np.testing.assert_allclose(ens.predict(X), np.mean(members, axis=0))
    assert not np.allclose(members[0], members[1])  # different seeds and bootstrap samples
    assert Ensemble([1, 2], lambda m, X: X * m).predict(np.ones(2)).tolist() == [1.5, 1.5]


def test_unknown_and_missing_backends_are_clear(monkeypatch):
    import sys

    model = TinyMLP()
    opt = Adam(model.parameters())
    with pytest.raises(BackendError, match="unknown backend 'gpu'"):
        make_stepper(model, "cross_entropy", opt, "gpu")
    monkeypatch.setitem(sys.modules, "gradflow.jit", None)  # makes the import fail
    with pytest.raises(BackendError, match="backend 'jit' needs .*gradflow.jit"):
        make_stepper(model, "cross_entropy", opt, "jit")


def test_diverging_loss_is_reported():
    from gradflow.data import sine

    with pytest.raises(FloatingPointError, match="loss became (inf|nan).*too large"):
        fit(
            Linear(1, 1, seed=0),
            sine(),
            loss="mse",
            optimizer="sgd",
            lr=1e3,
            epochs=50,
            progress=False,
        )


def test_cross_validation_trains_one_model_per_fold(iris):
    X, y = iris[0]
    built = []

    def make(fold):
        built.append(fold)
        return TinyMLP(seed=fold)

    cv = cross_validate(make, X, y, k=3, epochs=5, optimizer="adam", lr=0.05)
    assert built == [0, 1, 2] and len(cv["folds"]) == 3
    accs = [f["val_accuracy"] for f in cv["folds"]]
    assert cv["mean_val_accuracy"] == pytest.approx(np.mean(accs))
    assert cv["mean_val_accuracy"] > 0.8
    with pytest.raises(TypeError, match="optimizer by name"):
        cross_validate(make, X, y, optimizer=Adam(TinyMLP().parameters()))


def test_fit_uses_a_given_data_loader(iris):
    from gradflow.data import DataLoader

    X, y = iris[0]
    seen = []

    class Count(Callback):
        def on_batch_end(self, trainer, batch, loss):
            seen.append(batch)

    fit(
        TinyMLP(),
        DataLoader(X, y, batch_size=len(X)),
        epochs=2,
        progress=False,
        callbacks=[Count()],
    )
    assert seen == [0, 0]  # one full batch per epoch: the loader's batch size is kept


def test_schedules_step_per_epoch_or_per_batch_inside_fit(iris):
    from gradflow.optim import SGD, OneCycle, ReduceOnPlateau

    X, y = iris[0]
    model = TinyMLP()
    opt = SGD(model.parameters(), lr=1e-12)  # the loss cannot improve by min_delta
    hist = fit(
        model,
        iris[0],
        iris[1],
        optimizer=opt,
        epochs=5,
        progress=False,
        callbacks=[ReduceOnPlateau(opt, factor=0.5, patience=1, min_delta=1e-6)],
    )
    # best at epoch 1; epochs 2, 3 bad → halve after epoch 3; epochs 4, 5 bad → halve again
    assert hist["lr"] == pytest.approx([1e-12, 1e-12, 1e-12, 5e-13, 5e-13])
    assert opt.lr == pytest.approx(2.5e-13)

    model = TinyMLP()
    opt = SGD(model.parameters(), lr=0.1)
    batches = -(-len(X) // 30)
    cycle = OneCycle(opt, max_lr=0.5, total_steps=4 * batches)
    hist = fit(
        model, (X, y), optimizer=opt, epochs=4, batch_size=30, progress=False, callbacks=[cycle]
    )
    assert hist["lr"] == pytest.approx([cycle.lr_at(e * batches) for e in range(4)])


def _steppers():
    from gradflow.jit import make_stepper as make_jit_stepper
    from gradflow.training import GraphStepper

    return {
        "graph": lambda m: GraphStepper(m, "cross_entropy", SGD(m.parameters())),
        "jit": lambda m: make_jit_stepper(m, "cross_entropy", SGD(m.parameters())),
    }


@pytest.mark.parametrize("backend", ["graph", "jit"])
def test_diagnose_names_where_nan_or_inf_first_appears(backend):
    """A NaN parameter is named; an overflow is named by the op (graph) or layer (jit) that
    produced it; a bad input batch is called that."""
    make = _steppers()[backend]
    x, y = np.ones((5, 3)), np.array([0, 1, 0, 1, 0])

    def model():
        return nn.Sequential(nn.Linear(3, 4, seed=0), nn.ReLU(), nn.Linear(4, 2, seed=1))

    m = model()
    stepper = make(m)
    m.layers[2].weight.data[0, 1] = np.nan
    assert stepper.diagnose(x, y).startswith("parameter(s) 2.weight already hold NaN/Inf")
    m = model()
    stepper = make(m)
    m.layers[0].weight.data[...] = 1e200
    expected = {"graph": "forward of matmul produced NaN/Inf", "jit": "forward of Linear at 0"}
    assert stepper.diagnose(x * 1e200, y).startswith(expected[backend])
    bad = x.copy()
    bad[2, 1] = np.inf
    assert make(model()).diagnose(bad, y) == "the input batch holds NaN/Inf"
    assert "no " in make(model()).diagnose(x, y)  # a healthy batch: nothing to name


@pytest.mark.parametrize("backend", ["graph", "jit"])
def test_a_diverging_fit_names_where_it_broke(backend):
    from gradflow.data import sine

    with pytest.raises(
        FloatingPointError, match=r"loss became (inf|nan).*: (parameter|forward|the loss)"
    ):
        fit(Linear(1, 1, seed=0), sine(), loss="mse", optimizer="sgd", lr=1e3, epochs=50,
            backend=backend, progress=False)  # fmt: skip


def _modes(model) -> list[bool]:
    return [m.training for m in model.modules()]


@pytest.mark.parametrize("backend", ["graph", "jit"])
@pytest.mark.parametrize("start", ["train", "eval", "mixed"])
def test_predict_leaves_every_module_in_the_mode_it_had(backend, start):
    """predict() runs in eval mode (dropout off: the same answer twice) and puts each module
    back in its own mode: a model that was training still trains (dropout on), one in eval
    stays in eval, and a layer frozen by hand stays frozen (predict used to leave the model
    in eval mode, and the jit stepper's predict switched it to training whatever it was)."""
    model = nn.Sequential(
        nn.Linear(4, 16, seed=0), nn.Dropout(0.5), nn.ReLU(), nn.Linear(16, 3, seed=1)
    )
    model.train(start != "eval")
    if start == "mixed":
        model.layers[1].eval()
    before = _modes(model)
    x = np.random.default_rng(0).normal(size=(8, 4))
    stepper = make_stepper(model, "cross_entropy", SGD(model.parameters(), lr=0.1), backend)
    with model.evaluating():
        want = model(Tensor(x)).data
    assert _modes(model) == before
    for run in (lambda: predict(model, x), lambda: stepper.predict(x), lambda: predict(stepper, x)):
        np.testing.assert_allclose(run(), want, rtol=1e-5, atol=1e-6)
        assert _modes(model) == before
    if start == "train":  # dropout still on for what comes after
        outs = [model(Tensor(x)).data for _ in range(2)]
        assert not np.array_equal(outs[0], outs[1])


def test_evaluating_restores_the_modes_when_the_block_fails():
    model = nn.Sequential(nn.Linear(4, 4, seed=0), nn.Dropout(0.5))
    model.layers[0].eval()
    before = _modes(model)
    with pytest.raises(KeyError), model.evaluating():
        assert not any(_modes(model))
        raise KeyError("stop")
    assert _modes(model) == before == [True, False, True]


def test_a_run_over_within_a_second_draws_no_progress_bar(iris, capsys, monkeypatch):
    """A bar appears after a second: a short run (the demo's warm trainings) leaves no
    "0%|...|" line in a log or a notebook cell, and a longer one still shows its bar."""
    import time

    (x, y), val = iris
    fit(TinyMLP(), (x, y), val, epochs=2, progress=True)
    assert "%|" not in capsys.readouterr().err

    class Slow(TinyMLP):
        def forward(self, x):
            time.sleep(0.15)
            return super().forward(x)

    import sys

    monkeypatch.setattr(sys.stderr, "isatty", lambda: True)  # a terminal: redrawn every 0.1 s
    fit(Slow(), (x[:64], y[:64]), None, epochs=1, batch_size=8, progress=True)
    assert "%|" in capsys.readouterr().err

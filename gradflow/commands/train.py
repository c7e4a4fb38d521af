"""``gradflow train``: train a model of the course on a bundled dataset and report the
held-out test result. Progress goes to stderr; ``--json`` prints one JSON object on the last
line of stdout."""

from __future__ import annotations

import time

from .arguments import (
    int_within,
    non_negative_float,
    non_negative_int,
    positive_float,
    positive_int,
)
from .report import json_text

# an LSTM of this width already has 4·4096² weights (0.5 GB); wider is a typo
MAX_HIDDEN = 4096


def register(sub) -> None:
    from ..data import DATASETS
    from ..optim import OPTIMIZERS
    from ..training.recipes import MODEL_NAMES

    p = sub.add_parser("train", help="train an MLP/CNN/RNN on a bundled dataset")
    p.add_argument("--model", choices=MODEL_NAMES, default="mlp")
    p.add_argument("--dataset", choices=sorted(DATASETS), default="digits")
    p.add_argument(
        "--epochs", type=positive_int, default=None, help="default: per model and dataset"
    )
    p.add_argument("--optimizer", choices=sorted(OPTIMIZERS), default="adam")
    p.add_argument(
        "--lr", type=positive_float, default=None, help="learning rate (default per model)"
    )
    p.add_argument(
        "--schedule",
        choices=["constant", "onecycle", "plateau", "exponential"],
        default=None,
        help="learning-rate schedule (default per model: onecycle for cnn, else constant)",
    )
    p.add_argument(
        "--find-lr",
        action="store_true",
        help="run the LR range test first and train with its suggestion (⅒ of where the loss "
        "starts to rise)",
    )
    p.add_argument("--batch-size", type=positive_int, default=None)
    p.add_argument(
        "--hidden",
        type=int_within(1, MAX_HIDDEN),
        default=None,
        help=f"hidden width, at most {MAX_HIDDEN} (default per model)",
    )
    p.add_argument("--seed", type=non_negative_int, default=0)
    p.add_argument("--backend", choices=["graph", "jit"], default="graph")
    p.add_argument("--weight-decay", type=non_negative_float, default=0.0)
    p.add_argument("--l1", type=non_negative_float, default=0.0, help="L1 penalty on weights")
    p.add_argument("--l2", type=non_negative_float, default=0.0, help="L2 penalty on weights")
    p.add_argument(
        "--clip-norm", type=positive_float, default=None, help="clip gradients by global norm"
    )
    p.add_argument(
        "--patience", type=positive_int, default=None, help="early stopping on val_loss (epochs)"
    )
    p.add_argument(
        "--checkpoint",
        default=None,
        help="write a checkpoint after every epoch (a new file, or one gradflow wrote before)",
    )
    p.add_argument(
        "--force",
        action="store_true",
        help="let --checkpoint replace a file that is not a gradflow checkpoint (never a "
        "directory or device)",
    )
    p.add_argument(
        "--resume",
        default=None,
        help="continue from a checkpoint of gradflow train up to --epochs in total; every "
        "other training setting (model, dataset, hidden, seed, optimizer, lr, schedule, "
        "batch size, l1, l2, weight decay, clip norm, patience) must be the one it was "
        "written with; --backend may differ",
    )
    p.add_argument("--json", action="store_true", help="one JSON object on the last line")
    p.add_argument("--quiet", action="store_true", help="no progress bar")
    p.set_defaults(func=run)


def run(args) -> int:
    """Train and print the report. What goes wrong raises and ends in :func:`gradflow.cli.main`
    as one line: exit code 1 if training diverged (:class:`TrainingDivergedError`, with the
    NaN diagnosis of ``fit``), 2 for bad input."""
    from ..errors import GradflowError, UsageError

    try:
        result = train(args)
    except GradflowError:  # an UnknownNameError is a KeyError too, and names itself
        raise
    except KeyError as e:
        raise UsageError(f"unknown name {e}") from e
    if args.json:
        print(json_text(result))
    else:
        _print_report(result)
    return 0


def train(args) -> dict:
    """The JSON-ready report of one training run (see :func:`run_training`)."""
    return run_training(args)[0]


def run_training(args):
    """Train as the command line asked; return (report dict, the Experiment with its model)."""
    import numpy as np

    from ..optim import make_optimizer
    from ..regularization import Regularizer
    from ..training import EarlyStopping, checkpoints, fit
    from ..training.loop import Trainer
    from ..training.recipes import prepare

    force = getattr(args, "force", False)
    if args.checkpoint is not None:  # before anything is loaded or trained
        checkpoints.check_target(args.checkpoint, force)
    saved = _saved_run(args.resume) if args.resume is not None else None
    if saved is not None and args.find_lr:
        raise checkpoints.CheckpointError(
            "--find-lr cannot be combined with --resume: the resumed run keeps the learning "
            "rate it was trained with"
        )
    exp = prepare(args.model, args.dataset, args.seed, args.hidden)
    d = exp.defaults
    # None means "not given"; 0 and negatives were refused by the argument types
    epochs = d["epochs"] if args.epochs is None else args.epochs
    batch_size = d["batch_size"] if args.batch_size is None else args.batch_size
    lr = args.lr if args.lr is not None else d["lr"]
    finder = None
    if args.find_lr:
        from ..training import lr_range_test

        found = lr_range_test(
            exp.model,
            *exp.train,
            loss=exp.loss,
            optimizer=args.optimizer,
            batch_size=batch_size,
            seed=args.seed,
            backend=args.backend,
        )
        finder = {"rise_lr": found.rise_lr, "suggested_lr": found.suggested_lr}
        lr = found.suggested_lr
    opt_kwargs = {"lr": lr, "clip_norm": args.clip_norm}
    if args.weight_decay:
        opt_kwargs["weight_decay"] = args.weight_decay
    optimizer = make_optimizer(args.optimizer, exp.model.parameters(), **opt_kwargs)
    schedule = args.schedule or d["schedule"]
    callbacks = _schedule(schedule, optimizer, epochs, len(exp.train[1]), batch_size)
    if args.patience is not None:
        callbacks.append(EarlyStopping(patience=args.patience))
    config = {
        "model": args.model,
        "dataset": args.dataset,
        "epochs": epochs,
        "optimizer": args.optimizer,
        "lr": lr,
        "schedule": schedule,
        "batch_size": batch_size,
        "hidden": d["hidden"],
        "seed": args.seed,
        "backend": args.backend,
        "loss": exp.loss,
        "l1": args.l1,
        "l2": args.l2,
        "weight_decay": args.weight_decay,
        "clip_norm": args.clip_norm,
        "patience": args.patience,
        "lr_finder": finder,
        "parameters": exp.model.num_parameters(),
        "split": {"train": len(exp.train[1]), "val": len(exp.val[1]), "test": len(exp.test[1])},
    }
    if saved is not None:
        _check_resume(saved, config, args.resume)
        config["resumed_from"] = {
            "checkpoint": args.resume,
            "epoch": saved["epoch"],
            "backend": saved["run_config"].get("backend"),
        }
    start = time.perf_counter()
    history = fit(
        exp.model,
        exp.train,
        exp.val,
        loss=exp.loss,
        optimizer=optimizer,
        epochs=epochs,
        batch_size=batch_size,
        backend=args.backend,
        callbacks=callbacks,
        seed=args.seed,
        progress=not args.quiet,
        regularizer=Regularizer(l1=args.l1, l2=args.l2),
        checkpoint=args.checkpoint,
        resume=args.resume,
        force=force,
        run_config={k: v for k, v in config.items() if k != "resumed_from"},
    )
    seconds = time.perf_counter() - start
    # the stepper was used by fit; evaluate the held-out data on the (best) final weights
    from ..training.backends import make_stepper, resolve_loss

    trainer = Trainer(
        exp.model,
        make_stepper(exp.model, exp.loss, optimizer),
        optimizer,
        resolve_loss(exp.loss),
        exp.loss,
        [],
        args.seed,
        config,
    )
    final = {f"train_{k}": v for k, v in trainer.evaluate(*exp.train).items()}
    final.update({f"val_{k}": v for k, v in trainer.evaluate(*exp.val).items()})
    final.update({f"test_{k}": v for k, v in trainer.evaluate(*exp.test).items()})
    final.setdefault("test_accuracy", None)
    if exp.classification:
        final.update(_class_metrics(trainer.stepper, *exp.test))
    if not exp.classification:  # predicting the training mean: the score to beat
        y_train, y_test = exp.train[1], exp.test[1]
        final["baseline_test_loss"] = float(np.mean((y_test - y_train.mean(axis=0)) ** 2))
    final.update({"epochs_run": len(history), "seconds": seconds})
    return {"final": final, "history": history.epochs, "config": config}, exp


#: settings a resumed run must share with its checkpoint, and the option that sets each
#: (the loss follows from model and dataset). --epochs is the new total, so it may change
#: (unless the schedule is laid out over the run's length); --backend may change too (both
#: backends run the same update rules on the same state); the output options do not matter.
RESUME_MUST_MATCH = {
    "model": "--model",
    "dataset": "--dataset",
    "hidden": "--hidden",
    "seed": "--seed",
    "optimizer": "--optimizer",
    "lr": "--lr",
    "schedule": "--schedule",
    "batch_size": "--batch-size",
    "loss": "loss",
    "l1": "--l1",
    "l2": "--l2",
    "weight_decay": "--weight-decay",
    "clip_norm": "--clip-norm",
    "patience": "--patience",
}


def _saved_run(path: str) -> dict:
    """The checked ``meta`` of the checkpoint to resume, which must hold the settings of the
    ``gradflow train`` run that wrote it."""
    from ..training import checkpoints

    meta = checkpoints.read_meta(path)
    if not isinstance(meta.get("run_config"), dict):
        raise checkpoints.CheckpointError(
            f"{path} holds no settings of a gradflow train run (it was written by fit() or an "
            "older gradflow), so this run cannot check it continues the same training"
        )
    return meta


def _setting(value) -> str:
    return "(none)" if value is None else repr(value) if isinstance(value, float) else str(value)


def _check_resume(meta: dict, config: dict, path: str) -> None:
    """Refuse to resume with settings other than the checkpoint's (naming both values)."""
    from ..training.checkpoints import CheckpointError

    saved = meta["run_config"]
    for key, option in RESUME_MUST_MATCH.items():
        if saved.get(key) != config[key]:
            hint = f"; resume with {option} {_setting(saved.get(key))}" if key != "loss" else ""
            raise CheckpointError(
                f"{path} was trained with {option} {_setting(saved.get(key))} but this run "
                f"has {option} {_setting(config[key])}{hint} (only --epochs and --backend may "
                "change when resuming)"
            )
    if (
        config["schedule"] in ("onecycle", "exponential")
        and saved.get("epochs") != config["epochs"]
    ):
        raise CheckpointError(
            f"{path} was trained with --epochs {saved.get('epochs')} and the "
            f"{config['schedule']} schedule is laid out over those epochs; resume with "
            f"--epochs {saved.get('epochs')}"
        )
    if config["epochs"] < meta["epoch"]:
        raise CheckpointError(
            f"{path} is already at epoch {meta['epoch']}; --epochs {config['epochs']} (the "
            "total to train to) must be at least that"
        )


def _class_metrics(stepper, X, y) -> dict:
    """Held-out confusion matrix, macro precision/recall/F1 and, for two classes, ROC AUC."""
    import numpy as np

    from ..metrics import confusion_matrix, precision_recall_f1, roc_auc
    from ..training import predict

    scores = predict(stepper, X)
    k = scores.shape[1] if scores.ndim == 2 and scores.shape[1] > 1 else 2
    labels = scores.argmax(axis=1) if scores.ndim == 2 and scores.shape[1] > 1 else scores > 0
    p, r, f1 = precision_recall_f1(y, labels.astype(np.int64), "macro", num_classes=k)
    out = {"test_precision_macro": p, "test_recall_macro": r, "test_f1_macro": f1}
    out["confusion_matrix"] = confusion_matrix(y, labels.astype(np.int64), k).tolist()
    if k == 2 and len(np.unique(y)) == 2:
        margin = (
            scores[:, 1] - scores[:, 0] if scores.ndim == 2 and scores.shape[1] == 2 else scores
        )
        out["test_auc"] = roc_auc(y, np.ravel(margin))
    return out


def _schedule(name: str, optimizer, epochs: int, n_train: int, batch_size: int) -> list:
    from ..training.recipes import make_schedule

    return make_schedule(name, optimizer, epochs, n_train, batch_size)


def _print_report(result: dict) -> None:
    rows = result["history"]
    keys = (
        [
            k
            for k in ("train_loss", "val_loss", "train_accuracy", "val_accuracy", "lr")
            if k in rows[0]
        ]
        if rows
        else []
    )
    print("epoch  " + "  ".join(f"{k:>14}" for k in keys))
    for r in rows:
        print(f"{r['epoch']:>5}  " + "  ".join(f"{r[k]:>14.4g}" for k in keys))
    f, c = result["final"], result["config"]
    print(
        f"\n{c['model']} on {c['dataset']} ({c['parameters']:,} parameters, {c['backend']}"
        f" backend, {f['seconds']:.1f} s)"
    )
    # %g-style: a loss of 1e160 is 1e+160, not 161 digits
    print(f"held-out test loss {f['test_loss']:.6g}", end="")
    if f.get("test_accuracy") is not None:
        print(f", test accuracy {100 * f['test_accuracy']:.2f} %")
    else:
        print(f" (baseline: predicting the mean gives {f['baseline_test_loss']:.6g})")

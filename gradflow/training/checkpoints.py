"""Checkpoints: model, optimizer, callback and RNG state plus the epoch in one ``.npz``.

Written atomically (a temporary file in the same directory, then ``os.replace``), so an
interrupted save never leaves half a checkpoint behind; read with ``allow_pickle=False``, so
loading a file cannot run code. Keys:

* ``model/<name>``      parameters and buffers (``Module.state_dict``)
* ``optim/<key>``       ``Optimizer.state_dict`` (``t``, ``hparam.*``, state arrays)
* ``callback/<i>/<key>`` each callback's state
* ``rng/<where>``       JSON of every ``numpy.random.Generator`` the model holds (dropout)
* ``meta``              JSON: format, version, epoch, seed, history, optimizer name
"""

from __future__ import annotations

import json
import os
import tempfile
import zipfile
from pathlib import Path
from typing import Any

import numpy as np

from ..errors import GradflowError

FORMAT = "gradflow-checkpoint"
VERSION = 1


class CheckpointError(GradflowError, ValueError):
    """A checkpoint that is missing, corrupted, or does not match the model/optimizer."""


def _generators(model) -> dict[str, np.random.Generator]:
    """Every Generator a module holds (dropout masks etc.), by module path and attribute."""
    from ..nn import init

    found: dict[str, np.random.Generator] = {"nn.init": init.rng()}
    stack = [("model", model)]
    while stack:
        path, module = stack.pop()
        for attr, value in vars(module).items():
            if isinstance(value, np.random.Generator):
                found[f"{path}.{attr}"] = value
        stack.extend((f"{path}.{name}", child) for name, child in module.named_children())
    return found


def save_checkpoint(
    path: str | os.PathLike,
    model,
    optimizer=None,
    epoch: int = 0,
    meta: dict[str, Any] | None = None,
    callbacks: list | None = None,
) -> Path:
    """Write everything needed to resume training to ``path`` (atomically); returns the path."""
    path = Path(path)
    arrays: dict[str, np.ndarray] = {
        f"model/{k}": np.asarray(v) for k, v in model.state_dict().items()
    }
    if optimizer is not None:
        arrays.update({f"optim/{k}": np.asarray(v) for k, v in optimizer.state_dict().items()})
    for i, cb in enumerate(callbacks or []):
        arrays.update({f"callback/{i}/{k}": np.asarray(v) for k, v in cb.state_dict().items()})
    for where, g in _generators(model).items():
        arrays[f"rng/{where}"] = np.array(json.dumps(g.bit_generator.state))
    info = {"format": FORMAT, "version": VERSION, "epoch": int(epoch), **(meta or {})}
    if optimizer is not None:
        info["optimizer"] = type(optimizer).__name__
    arrays["meta"] = np.array(json.dumps(info))
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    try:
        with os.fdopen(fd, "wb") as f:
            np.savez(f, **arrays)
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
    return path


def load_checkpoint(path: str | os.PathLike) -> dict[str, Any]:
    """Read a checkpoint into ``{"meta": dict, "model": ..., "optim": ..., "callback": {i: ...},
    "rng": ...}``; a missing, truncated or foreign file raises :class:`CheckpointError`."""
    path = Path(path)
    if not path.is_file():
        raise CheckpointError(f"checkpoint {path} does not exist")
    try:
        with np.load(path, allow_pickle=False) as z:
            raw = {k: z[k] for k in z.files}
    except (zipfile.BadZipFile, OSError, ValueError, EOFError, KeyError) as e:
        raise CheckpointError(
            f"checkpoint {path} is corrupted or not an .npz file ({type(e).__name__}: {e})"
        ) from None
    if "meta" not in raw:
        raise CheckpointError(f"{path} is not a gradflow checkpoint (no 'meta' entry)")
    try:
        meta = json.loads(str(raw.pop("meta")))
    except json.JSONDecodeError as e:
        raise CheckpointError(f"checkpoint {path}: unreadable 'meta' entry ({e})") from None
    if meta.get("format") != FORMAT:
        raise CheckpointError(
            f"{path} is not a gradflow checkpoint (format {meta.get('format')!r})"
        )
    out: dict[str, Any] = {"meta": meta, "model": {}, "optim": {}, "callback": {}, "rng": {}}
    for key, value in raw.items():
        kind, _, rest = key.partition("/")
        if kind == "callback":
            i, _, name = rest.partition("/")
            out["callback"].setdefault(int(i), {})[name] = value
        elif kind in out:
            out[kind][rest] = value
    return out


def restore_checkpoint(
    ckpt: dict[str, Any], model, optimizer=None, callbacks: list | None = None, path: str = ""
) -> int:
    """Load a checkpoint (from :func:`load_checkpoint`) into the objects; returns its epoch.

    Everything is checked before anything is changed, so a mismatch leaves the model as it
    was and the error names the first missing, unexpected or mis-shaped parameter.
    """
    where = f"checkpoint {path}" if path else "checkpoint"
    _check_model(ckpt["model"], model, where)
    if optimizer is not None:
        saved = ckpt["meta"].get("optimizer")
        if saved and saved != type(optimizer).__name__:
            raise CheckpointError(
                f"{where} holds {saved} optimizer state but the optimizer is "
                f"{type(optimizer).__name__}"
            )
        try:
            optimizer.load_state_dict(ckpt["optim"])
        except (KeyError, ValueError) as e:
            raise CheckpointError(f"{where}: {e}") from None
    model.load_state_dict(ckpt["model"])
    for i, cb in enumerate(callbacks or []):
        if i in ckpt["callback"]:
            cb.load_state_dict(ckpt["callback"][i])
    generators = _generators(model)
    for name, text in ckpt["rng"].items():
        if name in generators:
            generators[name].bit_generator.state = json.loads(str(text))
    return int(ckpt["meta"]["epoch"])


def _check_model(saved: dict[str, np.ndarray], model, where: str) -> None:
    expected = {n: p.data.shape for n, p in model.named_parameters()}
    expected.update({n: np.shape(b) for n, b in model.named_buffers()})
    for name, shape in expected.items():
        if name not in saved:
            raise CheckpointError(
                f"{where} has no entry for model parameter {name!r} (shape {shape}); "
                f"it holds: {', '.join(sorted(saved)) or 'nothing'}"
            )
        if saved[name].shape != shape:
            raise CheckpointError(
                f"{where}: parameter {name!r} has shape {saved[name].shape} in the file but "
                f"{shape} in the model"
            )
    unexpected = sorted(set(saved) - set(expected))
    if unexpected:
        raise CheckpointError(
            f"{where} holds parameter(s) the model does not have: {', '.join(unexpected)}"
        )

"""Checkpoints: model, optimizer, callback and RNG state plus the epoch in one ``.npz``.

Keys (each an array member ``<key>.npy`` of an uncompressed zip, as ``numpy.savez`` writes):

* ``model/<name>``      parameters and buffers (``Module.state_dict``)
* ``optim/<key>``       ``Optimizer.state_dict`` (``t``, ``hparam.*``, state arrays)
* ``callback/<i>/<key>`` each callback's state
* ``rng/<where>``       JSON of every ``numpy.random.Generator`` the model holds (dropout)
* ``meta``              JSON: format, version, epoch, seed, history, optimizer name, config,
  whether a callback stopped the run, and the caller's ``run_config``

**Writing never destroys a file.** The target must be new, or a regular file that is itself a
gradflow checkpoint. Anything else is refused with a :class:`CheckpointError`: directories,
devices (``/dev/null``), FIFOs and sockets always; other regular files, read-only files and
symbolic links unless ``force=True`` (``--force``). A link is never written through: with
``force`` the link itself is replaced and its target left alone. A missing directory is an
error, not created. The write is atomic (a temporary ``.NAME.XXXXXXXX.tmp`` in the same
directory, then ``os.replace``); a new file gets the permissions any new file of the user gets
(0666 less the umask), a replaced checkpoint keeps its mode. Temporary files of the same
checkpoint that a killed write left behind are removed by the next write (only regular files
of the current user that no running write holds locked).

**Reading checks everything before changing anything.** Members are read lazily: first each
header (shape and dtype), checked against what the model, optimizer and callbacks need, with
unknown entries refused unread; then the data; then the values (finite weights and state,
valid hyperparameters); then everything is applied in one go. ``meta`` is a bounded JSON
object of a known schema and version. Nothing is unpickled (``allow_pickle=False``). Every
error names the file and the entry.
"""

from __future__ import annotations

import json
import math
import os
import re
import secrets
import stat
import time
import zipfile
import zlib
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import numpy.lib.format as npy

from ..errors import GradflowError

try:  # POSIX: a write holds a lock on its temporary file, so a cleaner never removes it
    import fcntl
except ImportError:  # pragma: no cover - Windows
    fcntl = None

FORMAT = "gradflow-checkpoint"
VERSION = 1
META_MAX_BYTES = 16 * 2**20  # meta holds the history: ~200 bytes an epoch
RNG_MAX_BYTES = 2**20  # a generator's state as JSON (MT19937: ~7 kB)
MAX_EPOCH = 10**9
MAX_JSON_DEPTH = 32
_TEMP_CHARS = "abcdefghijklmnopqrstuvwxyz0123456789_"  # as tempfile.mkstemp names them
_STALE_SECONDS = 3600  # without file locks: a temporary file this old is a killed write's
_READ_ERRORS = (
    OSError,
    EOFError,
    ValueError,
    zipfile.BadZipFile,
    zlib.error,
    NotImplementedError,  # a zip feature zipfile cannot read
    RuntimeError,  # an encrypted zip member
    OverflowError,
    UnicodeDecodeError,
)


class CheckpointError(GradflowError, ValueError):
    """A checkpoint that is missing, corrupted, does not match the model/optimizer, or a
    checkpoint path that cannot be written without destroying something."""


class CheckpointWriteError(CheckpointError):
    """Writing a checkpoint whose path passed every check failed on the way (disk full, the
    folder removed mid-run): the run failed, the input was fine. The old checkpoint stays."""

    exit_code = 1


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


# --- writing ---------------------------------------------------------------------------


def check_target(path: str | os.PathLike, force: bool = False) -> Path:
    """Check that a checkpoint may be written to ``path`` without destroying anything (see
    the module docstring); returns it as a Path. ``fit`` calls this before training starts."""
    text = os.fspath(path)
    if not text:
        raise CheckpointError("checkpoint path is empty")
    if text.endswith(("/", os.sep)):
        raise CheckpointError(f"checkpoint path {text} names a directory; give a file name")
    path = Path(text)
    parent = path.parent
    try:
        parent_mode = os.stat(parent).st_mode
    except FileNotFoundError:
        raise CheckpointError(
            f"cannot write checkpoint {text}: directory {parent} does not exist"
        ) from None
    except OSError as e:
        raise CheckpointError(f"cannot write checkpoint {text}: {parent}: {e.strerror}") from None
    if not stat.S_ISDIR(parent_mode):
        raise CheckpointError(f"cannot write checkpoint {text}: {parent} is not a directory")
    if not os.access(parent, os.W_OK | os.X_OK):
        raise CheckpointError(
            f"cannot write checkpoint {text}: no permission to create files in {parent}"
        )
    try:
        st = os.lstat(path)
    except FileNotFoundError:
        return path
    except OSError as e:
        raise CheckpointError(f"cannot write checkpoint {text}: {e.strerror}") from None
    mode = st.st_mode
    if stat.S_ISLNK(mode):
        if force:
            return path  # os.replace replaces the link itself, never its target
        raise CheckpointError(
            f"checkpoint path {text} is a symbolic link (to {os.readlink(path)}); gradflow "
            "does not write through links: name the file itself, or force to replace the link"
        )
    if stat.S_ISDIR(mode):
        raise CheckpointError(
            f"checkpoint path {text} is a directory; give a file name such as {path / 'run.npz'}"
        )
    if not stat.S_ISREG(mode):
        raise CheckpointError(
            f"checkpoint path {text} is a {_file_kind(mode)}, not a regular file; "
            "refusing to replace it"
        )
    if force:
        return path
    if not is_checkpoint(path):
        raise CheckpointError(
            f"{text} exists and is not a gradflow checkpoint; refusing to overwrite it "
            "(force=True or --force replaces it)"
        )
    if not os.access(path, os.W_OK):
        raise CheckpointError(
            f"checkpoint {text} is read-only; refusing to replace it (force=True or --force "
            "replaces it)"
        )
    return path


def _file_kind(mode: int) -> str:
    if stat.S_ISCHR(mode):
        return "character device"
    if stat.S_ISBLK(mode):
        return "block device"
    if stat.S_ISFIFO(mode):
        return "FIFO (named pipe)"
    if stat.S_ISSOCK(mode):
        return "socket"
    return "special file"


def is_checkpoint(path: str | os.PathLike) -> bool:
    """Whether ``path`` is a regular file holding a gradflow checkpoint's ``meta`` (only that
    member is read, so this is cheap for a large file)."""
    try:
        with _Archive(path, check=False) as archive:
            return archive.meta.get("format") == FORMAT
    except CheckpointError:
        return False


def save_checkpoint(
    path: str | os.PathLike,
    model,
    optimizer=None,
    epoch: int = 0,
    meta: dict[str, Any] | None = None,
    callbacks: list | None = None,
    *,
    force: bool = False,
) -> Path:
    """Write everything needed to resume training to ``path`` (atomically); returns the path.

    ``path`` is checked with :func:`check_target` first: an existing file that is not a
    gradflow checkpoint is only replaced with ``force=True``, a directory or device never.
    """
    path = check_target(path, force)
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
    try:
        old = os.lstat(path)
    except FileNotFoundError:
        old = None
    except OSError as e:
        raise CheckpointError(f"cannot write checkpoint {path}: {e.strerror}") from None
    _remove_stale_temps(path)
    tmp = None
    try:
        fd, tmp = _create_temp(path)
        with os.fdopen(fd, "wb") as f:
            if fcntl is not None:
                fcntl.flock(f.fileno(), fcntl.LOCK_EX)
            if old is not None and stat.S_ISREG(old.st_mode):
                _keep_mode(f.fileno(), old)
            np.savez(f, **arrays)
            f.flush()
            os.fsync(f.fileno())
            if os.name == "posix":  # still locked: a cleaner never takes it mid-rename
                os.replace(tmp, path)
        if os.name != "posix":  # pragma: no cover - Windows cannot replace an open file
            os.replace(tmp, path)
        tmp = None
        _fsync_directory(path.parent)
    except OSError as e:
        raise CheckpointWriteError(f"cannot write checkpoint {path}: {e.strerror or e}") from None
    finally:
        if tmp is not None:
            Path(tmp).unlink(missing_ok=True)
    return path


def _create_temp(path: Path) -> tuple[int, str]:
    """A new temporary file next to ``path``, created with mode 0666 so the umask gives it
    the user's normal permissions (``mkstemp`` would make it 0600)."""
    flags = os.O_WRONLY | os.O_CREAT | os.O_EXCL
    flags |= getattr(os, "O_NOFOLLOW", 0) | getattr(os, "O_CLOEXEC", 0)
    flags |= getattr(os, "O_BINARY", 0)
    for _ in range(100):
        name = "".join(secrets.choice(_TEMP_CHARS) for _ in range(8))
        tmp = os.path.join(path.parent, f".{path.name}.{name}.tmp")
        try:
            return os.open(tmp, flags, 0o666), tmp
        except FileExistsError:
            continue
    raise FileExistsError(f"no free temporary file name next to {path}")  # pragma: no cover


def _keep_mode(fd: int, old: os.stat_result) -> None:
    """A replaced checkpoint keeps its permission bits (and, when root rewrites it, owner)."""
    try:
        os.fchmod(fd, stat.S_IMODE(old.st_mode) & 0o777)
        if hasattr(os, "geteuid") and os.geteuid() == 0 and old.st_uid != 0:
            os.fchown(fd, old.st_uid, old.st_gid)
    except (OSError, AttributeError):  # pragma: no cover - e.g. Windows, odd file systems
        pass


def _fsync_directory(directory: Path) -> None:
    """Make the rename itself durable (POSIX); a failure here is not worth an error."""
    try:
        fd = os.open(directory, os.O_RDONLY)
    except OSError:  # pragma: no cover - Windows cannot open directories
        return
    try:
        os.fsync(fd)
    except OSError:  # pragma: no cover
        pass
    finally:
        os.close(fd)


def _remove_stale_temps(path: Path) -> None:
    """Remove ``.NAME.XXXXXXXX.tmp`` files a killed write of this checkpoint left behind:
    regular files of the current user, in the same directory, that no running write holds
    locked (without file locks: older than an hour)."""
    pattern = re.compile(rf"\.{re.escape(path.name)}\.[{_TEMP_CHARS}]{{8}}\.tmp")
    try:
        names = os.listdir(path.parent)
    except OSError:
        return
    flags = os.O_RDONLY | getattr(os, "O_NOFOLLOW", 0) | getattr(os, "O_NONBLOCK", 0)
    for name in names:
        if not pattern.fullmatch(name):
            continue
        stale = os.path.join(path.parent, name)
        try:
            fd = os.open(stale, flags)
        except OSError:  # a link, gone meanwhile, not ours to read
            continue
        try:
            st = os.fstat(fd)
            if not stat.S_ISREG(st.st_mode):
                continue
            if hasattr(os, "getuid") and st.st_uid != os.getuid():
                continue
            if fcntl is not None:
                try:
                    fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
                except OSError:  # a write in progress holds it
                    continue
            elif st.st_mtime > time.time() - _STALE_SECONDS:  # pragma: no cover
                continue
            if os.path.samestat(st, os.lstat(stale)):
                os.unlink(stale)
        except OSError:
            continue
        finally:
            os.close(fd)


# --- reading ---------------------------------------------------------------------------


def _parse_json(text: str, where: str, entry: str) -> Any:
    """JSON from a checkpoint: bounded nesting (a deep structure is an error, never a
    RecursionError), no NaN tricks needed beyond what json accepts."""
    try:
        value = json.loads(text)
    except RecursionError:
        raise CheckpointError(
            f"{where}: entry '{entry}' is nested more than {MAX_JSON_DEPTH} levels deep"
        ) from None
    except ValueError as e:
        raise CheckpointError(f"{where}: entry '{entry}' is not valid JSON ({e})") from None
    stack = [(value, 1)]
    while stack:
        item, depth = stack.pop()
        if isinstance(item, (dict, list)):
            if depth > MAX_JSON_DEPTH:
                raise CheckpointError(
                    f"{where}: entry '{entry}' is nested more than {MAX_JSON_DEPTH} levels deep"
                )
            children = item.values() if isinstance(item, dict) else item
            stack.extend((child, depth + 1) for child in children)
    return value


def _is_int(value: Any) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)


def _is_number(value: Any) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool)


def _check_meta(meta: Any, where: str) -> dict[str, Any]:
    """The schema of ``meta``: types, ranges and the format version."""
    if not isinstance(meta, dict):
        raise CheckpointError(
            f"{where}: entry 'meta' is a JSON {type(meta).__name__}, not an object; "
            "not a gradflow checkpoint"
        )
    if meta.get("format") != FORMAT:
        raise CheckpointError(
            f"{where} is not a gradflow checkpoint (format {meta.get('format')!r})"
        )
    version = meta.get("version")
    if not _is_int(version) or version < 1:
        raise CheckpointError(f"{where}: 'meta' has an invalid format version {version!r}")
    if version > VERSION:
        raise CheckpointError(
            f"{where} was written by a newer gradflow (checkpoint format version {version}; "
            f"this gradflow reads version {VERSION}); upgrade gradflow to read it"
        )
    epoch = meta.get("epoch")
    if not _is_int(epoch) or not 0 <= epoch <= MAX_EPOCH:
        raise CheckpointError(
            f"{where}: 'meta' epoch must be a whole number from 0 to {MAX_EPOCH}, got {epoch!r}"
        )
    for key, kind, test in (
        ("seed", "an integer", _is_int),
        ("optimizer", "a string", lambda v: isinstance(v, str)),
        ("config", "an object", lambda v: isinstance(v, dict)),
        ("run_config", "an object", lambda v: isinstance(v, dict)),
        ("history", "a list", lambda v: isinstance(v, list)),
        ("stopped", "true or false", lambda v: isinstance(v, bool)),
    ):
        if key in meta and not test(meta[key]):
            raise CheckpointError(
                f"{where}: 'meta' {key} must be {kind}, got {type(meta[key]).__name__}"
            )
    history = meta.get("history")
    if history is not None:
        for k, row in enumerate(history):
            if not isinstance(row, dict):
                raise CheckpointError(
                    f"{where}: 'meta' history[{k}] must be an object, got {type(row).__name__}"
                )
            for name, value in row.items():
                if value is not None and not _is_number(value):
                    raise CheckpointError(
                        f"{where}: 'meta' history[{k}].{name} must be a number, got {value!r}"
                    )
            if row.get("epoch") != k + 1 or not _is_int(row.get("epoch")):
                raise CheckpointError(
                    f"{where}: 'meta' history[{k}] must be epoch {k + 1}, got {row.get('epoch')!r}"
                )
        if len(history) != epoch:
            raise CheckpointError(
                f"{where}: 'meta' history has {len(history)} epochs but the checkpoint is at "
                f"epoch {epoch}"
            )
    return meta


@dataclass(frozen=True)
class _Want:
    """What one entry must hold: ``kind`` is float, int, number or text."""

    shape: tuple[int, ...]
    kind: str
    what: str
    required: bool = True
    finite: bool = False
    max_bytes: int | None = None


_KINDS = {"float": "f", "int": "iu", "number": "fiu", "text": "U"}
_KIND_TEXT = {
    "float": "real floating-point numbers",
    "int": "an integer",
    "number": "a real number",
    "text": "a JSON text",
}


class _Archive:
    """A checkpoint ``.npz`` opened for lazy reading: the member list and ``meta`` at once,
    each member's header on request, its data only when asked for."""

    def __init__(self, path: str | os.PathLike, check: bool = True):
        self._check = check
        text = os.fspath(path)
        if not text:
            raise CheckpointError("checkpoint path is empty")
        self.where = text
        self._file = None
        try:
            fd = os.open(text, os.O_RDONLY | getattr(os, "O_NONBLOCK", 0))
        except FileNotFoundError:
            raise CheckpointError(f"checkpoint {text} does not exist") from None
        except OSError as e:
            raise CheckpointError(f"cannot read checkpoint {text}: {e.strerror}") from None
        try:
            mode = os.fstat(fd).st_mode
            if not stat.S_ISREG(mode):
                what = "directory" if stat.S_ISDIR(mode) else _file_kind(mode)
                raise CheckpointError(f"checkpoint {text} is a {what}, not a file")
            self._file = os.fdopen(fd, "rb")
        except BaseException:
            if self._file is None:
                os.close(fd)
            raise
        try:
            self.size = os.fstat(self._file.fileno()).st_size
            self._zip = zipfile.ZipFile(self._file)
            self.members = self._index()
            self.meta = self._read_meta()
        except CheckpointError:
            self.close()
            raise
        except _READ_ERRORS as e:
            self.close()
            raise self._corrupted(e) from None

    def _corrupted(self, e: BaseException) -> CheckpointError:
        return CheckpointError(
            f"checkpoint {self.where} is corrupted or not an .npz file ({type(e).__name__}: {e})"
        )

    def close(self) -> None:
        if self._file is not None:
            self._file.close()

    def __enter__(self) -> _Archive:
        return self

    def __exit__(self, *exc) -> None:
        self.close()

    def _index(self) -> dict[str, zipfile.ZipInfo]:
        members: dict[str, zipfile.ZipInfo] = {}
        for info in self._zip.infolist():
            name = info.filename
            if not name.endswith(".npy"):
                raise CheckpointError(f"{self.where}: member {name!r} is not an array (.npy)")
            key = name[: -len(".npy")]
            if key in members:
                raise CheckpointError(f"{self.where}: entry {key!r} appears twice")
            if info.compress_type != zipfile.ZIP_STORED or info.flag_bits & 0x1:
                raise CheckpointError(
                    f"{self.where}: entry {key!r} is compressed or encrypted (gradflow writes "
                    "checkpoints as a plain numpy.savez archive)"
                )
            if info.file_size != info.compress_size or info.file_size > self.size:
                raise CheckpointError(
                    f"{self.where}: entry {key!r} declares {info.file_size} bytes in a file of "
                    f"{self.size}; the file is corrupted"
                )
            members[key] = info
        if "meta" not in members:
            raise CheckpointError(f"{self.where} is not a gradflow checkpoint (no 'meta' entry)")
        return members

    def header(self, key: str) -> tuple[np.dtype, tuple[int, ...]]:
        """The declared dtype and shape of one member (its data is not read); the declared
        size must be exactly what the member holds."""
        info = self.members[key]
        try:
            with self._zip.open(info) as f:
                version = npy.read_magic(f)
                if version == (1, 0):
                    shape, _, dtype = npy.read_array_header_1_0(f)
                elif version == (2, 0):
                    shape, _, dtype = npy.read_array_header_2_0(f)
                else:
                    raise CheckpointError(
                        f"{self.where}: entry {key!r} is a .npy of version {version}, which "
                        "gradflow does not read"
                    )
                offset = f.tell()
        except CheckpointError:
            raise
        except _READ_ERRORS as e:
            raise CheckpointError(
                f"{self.where}: entry {key!r} is corrupted ({type(e).__name__}: {e})"
            ) from None
        if dtype.hasobject:  # would need unpickling: never read
            raise CheckpointError(
                f"{self.where}: entry {key!r} holds object values (pickled Python objects), "
                "which gradflow never reads"
            )
        nbytes = dtype.itemsize * math.prod(shape)
        if offset + nbytes != info.file_size:
            raise CheckpointError(
                f"{self.where}: entry {key!r} declares shape {shape} of {dtype} ({nbytes} bytes) "
                f"but holds {info.file_size - offset} bytes; the file is corrupted or forged"
            )
        return dtype, tuple(shape)

    def read(self, key: str) -> np.ndarray:
        """One member's data; call only after :meth:`header` was checked."""
        try:
            with self._zip.open(self.members[key]) as f:
                return npy.read_array(f, allow_pickle=False)
        except _READ_ERRORS as e:
            raise CheckpointError(
                f"{self.where}: entry {key!r} is corrupted ({type(e).__name__}: {e})"
            ) from None

    def _read_meta(self) -> dict[str, Any]:
        want = _Want((), "text", "the checkpoint's meta", max_bytes=META_MAX_BYTES)
        if self.members["meta"].file_size > META_MAX_BYTES + 4096:
            raise CheckpointError(
                f"{self.where}: entry 'meta' is larger than {META_MAX_BYTES >> 20} MiB"
            )
        dtype, shape = self.header("meta")
        if dtype.kind != "U" or shape != ():
            raise CheckpointError(
                f"{self.where}: entry 'meta' is corrupted: {dtype} of shape {shape}, not a JSON "
                "text; not a gradflow checkpoint"
            )
        _check_header(self.where, "meta", dtype, shape, want)
        meta = _parse_json(str(self.read("meta")[()]), self.where, "meta")
        if not self._check:  # is_checkpoint: only the format matters
            return meta if isinstance(meta, dict) else {}
        return _check_meta(meta, self.where)


def _check_header(where: str, key: str, dtype: np.dtype, shape: tuple, want: _Want) -> None:
    if dtype.kind not in _KINDS[want.kind] or dtype.fields is not None or dtype.subdtype:
        raise CheckpointError(
            f"{where}: entry '{key}' holds {dtype} values but {want.what} needs "
            f"{_KIND_TEXT[want.kind]}"
        )
    if shape != want.shape:
        raise CheckpointError(
            f"{where}: entry '{key}' has shape {shape} but {want.what} needs {want.shape}"
        )
    if want.max_bytes is not None and dtype.itemsize * math.prod(shape) > want.max_bytes:
        raise CheckpointError(f"{where}: entry '{key}' is larger than {want.max_bytes} bytes")


def _param_names(model, optimizer) -> list[str]:
    """The model's name of each optimizer parameter (its index when the model lacks it)."""
    names = {id(p): n for n, p in model.named_parameters()} if model is not None else {}
    return [names.get(id(p), f"parameter {i}") for i, p in enumerate(optimizer.params)]


def _expected(model, optimizer, callbacks) -> dict[str, _Want]:
    """Every entry the objects can take, with its shape, kind and a name for messages."""
    want: dict[str, _Want] = {}
    for name, p in model.named_parameters():
        want[f"model/{name}"] = _Want(p.data.shape, "float", f"model parameter {name}", finite=True)
    for name, b in model.named_buffers():
        b = np.asarray(b)
        kind = "float" if b.dtype.kind == "f" else "int"
        want[f"model/{name}"] = _Want(b.shape, kind, f"model buffer {name}", finite=True)
    if optimizer is not None:
        who = type(optimizer).__name__
        want["optim/t"] = _Want((), "int", f"{who}'s step count")
        for k in optimizer.hparams:
            want[f"optim/hparam.{k}"] = _Want(
                (), "number", f"{who}'s hyperparameter {k}", required=False
            )
        names = _param_names(model, optimizer)
        for state_name, arrays in optimizer.state.items():
            for k, a in enumerate(arrays):
                want[f"optim/{state_name}.{k}"] = _Want(
                    a.shape, "float", f"{who}'s state for {names[k]}", finite=True
                )
    for i, cb in enumerate(callbacks or []):
        who = f"callback {i} ({type(cb).__name__})"
        required = set(cb.state_dict())
        for k, template in cb.state_template(model).items():
            template = np.asarray(template)
            kind = "int" if template.dtype.kind in "iub" else "number"
            if template.ndim:
                kind = "float"
            want[f"callback/{i}/{k}"] = _Want(
                template.shape, kind, f"{who} state {k}", required=k in required
            )
    for name in _generators(model):
        want[f"rng/{name}"] = _Want((), "text", f"random generator {name}", max_bytes=RNG_MAX_BYTES)
    return want


class _Loaded:
    """The dict :func:`load_checkpoint` returns, read like an :class:`_Archive`."""

    def __init__(self, ckpt: dict[str, Any], where: str):
        self.where = where or "checkpoint"
        self.meta = _check_meta(ckpt.get("meta"), self.where)
        self.arrays: dict[str, np.ndarray] = {}
        for kind in ("model", "optim", "rng"):
            self.arrays.update({f"{kind}/{k}": v for k, v in ckpt.get(kind, {}).items()})
        for i, state in ckpt.get("callback", {}).items():
            self.arrays.update({f"callback/{i}/{k}": v for k, v in state.items()})
        self.members = self.arrays

    def header(self, key: str) -> tuple[np.dtype, tuple[int, ...]]:
        a = np.asarray(self.arrays[key])
        return a.dtype, a.shape

    def read(self, key: str) -> np.ndarray:
        return np.asarray(self.arrays[key])


def _category(key: str, optimizer, callbacks) -> bool:
    """Whether ``key`` belongs to an object the caller asked to restore (weights alone may be
    loaded from a full checkpoint: then optimizer and callback entries are not read)."""
    kind = key.partition("/")[0]
    if kind == "optim":
        return optimizer is not None
    if kind == "callback":
        return callbacks is not None
    return True


def _restore(
    source, model, optimizer, callbacks, check_meta: Callable[[dict], None] | None
) -> dict[str, Any]:
    where, meta = source.where, source.meta
    if check_meta is not None:
        check_meta(meta)
    if optimizer is not None:
        saved = meta.get("optimizer")
        if saved and saved != type(optimizer).__name__:
            raise CheckpointError(
                f"{where} holds {saved} optimizer state but the optimizer is "
                f"{type(optimizer).__name__}"
            )
    want = _expected(model, optimizer, callbacks)
    keys = [k for k in source.members if k != "meta" and _category(k, optimizer, callbacks)]
    unknown = sorted(set(keys) - set(want))
    if unknown:
        shown = ", ".join(f"'{k}'" for k in unknown[:5]) + (", …" if len(unknown) > 5 else "")
        raise CheckpointError(
            f"{where} holds entries this model/optimizer/callbacks do not have: {shown}"
        )
    for key, w in want.items():
        if w.required and key not in source.members:
            held = sorted(k for k in source.members if k.startswith("model/"))
            extra = f"; it holds: {', '.join(held)}" if key.startswith("model/") else ""
            raise CheckpointError(
                f"{where} has no entry '{key}' for {w.what} (shape {w.shape}){extra}"
            )
    # 1. every header, before any data is read
    for key in keys:
        dtype, shape = source.header(key)
        _check_header(where, key, dtype, shape, want[key])
    # 2. the data, checked value by value
    values = {key: source.read(key) for key in keys}
    for key in keys:
        if want[key].finite and values[key].dtype.kind == "f":
            bad = np.argwhere(~np.isfinite(values[key]))
            if len(bad):
                at = tuple(int(i) for i in bad[0])
                raise CheckpointError(
                    f"{where}: entry '{key}' ({want[key].what}) holds "
                    f"{values[key][at]} at index {at if at else '()'}"
                )
    model_state = _part(values, "model/")
    optim_state = _part(values, "optim/")
    cb_states = [_part(values, f"callback/{i}/") for i in range(len(callbacks or []))]
    rng_states = {}
    generators = _generators(model)
    for key in keys:
        if key.startswith("rng/"):
            name = key[len("rng/") :]
            state = _parse_json(str(values[key][()]), where, key)
            kind = type(generators[name].bit_generator)
            try:  # on a scratch generator of the same kind: a bad state changes nothing
                kind().state = state
            except (TypeError, ValueError, KeyError, OverflowError) as e:
                raise CheckpointError(
                    f"{where}: entry '{key}' is not a valid {kind.__name__} state ({e})"
                ) from None
            rng_states[name] = state
    try:
        model.check_state_dict(model_state)
        if optimizer is not None:
            optimizer.check_state_dict(optim_state)
        for cb, state in zip(callbacks or [], cb_states):
            cb.check_state_dict(state, model)
    except (KeyError, ValueError, TypeError) as e:
        message = e.args[0] if isinstance(e, KeyError) and e.args else e
        raise CheckpointError(f"{where}: {message}") from None
    # 3. everything checked: apply it in one go (and put the old state back should anything
    # still fail, so the objects are never half restored)
    before = _snapshot(model, optimizer, callbacks, generators)
    try:
        model.load_state_dict(model_state)
        if optimizer is not None:
            optimizer.load_state_dict(optim_state)
        for cb, state in zip(callbacks or [], cb_states):
            cb.load_state_dict(state)
        for name, state in rng_states.items():
            generators[name].bit_generator.state = state
    except BaseException:
        _put_back(before, model, optimizer, callbacks, generators)
        raise
    return meta


def _part(values: dict[str, np.ndarray], prefix: str) -> dict[str, np.ndarray]:
    return {k[len(prefix) :]: v for k, v in values.items() if k.startswith(prefix)}


def _snapshot(model, optimizer, callbacks, generators) -> tuple:
    return (
        model.state_dict(),
        optimizer.state_dict() if optimizer is not None else None,
        [cb.state_dict() for cb in callbacks or []],
        {n: g.bit_generator.state for n, g in generators.items()},
    )


def _put_back(before: tuple, model, optimizer, callbacks, generators) -> None:
    model_state, optim_state, cb_states, rng_states = before
    model.load_state_dict(model_state)
    if optimizer is not None:
        optimizer.load_state_dict(optim_state)
    for cb, state in zip(callbacks or [], cb_states):
        cb.load_state_dict(state)
    for name, state in rng_states.items():
        generators[name].bit_generator.state = state


def read_meta(path: str | os.PathLike) -> dict[str, Any]:
    """A checkpoint's ``meta`` (checked: format, version, epoch, history…), reading nothing
    else; a missing, unreadable or foreign file raises :class:`CheckpointError`."""
    with _Archive(path) as archive:
        return archive.meta


def load_checkpoint(path: str | os.PathLike) -> dict[str, Any]:
    """Read a checkpoint into ``{"meta": dict, "model": ..., "optim": ..., "callback": {i: ...},
    "rng": ...}``; a missing, truncated or foreign file raises :class:`CheckpointError`.

    Without a model to compare with, every member is read once its header is checked (a
    known kind of entry, a real dtype, a declared size equal to what it holds), so memory is
    bounded by the file's size. To resume, prefer :func:`restore_checkpoint` with the path:
    it checks each entry against the model before reading its data.
    """
    out: dict[str, Any] = {"model": {}, "optim": {}, "callback": {}, "rng": {}}
    with _Archive(path) as archive:
        out["meta"] = archive.meta
        for key in archive.members:
            if key == "meta":
                continue
            kind, _, rest = key.partition("/")
            dtype, shape = archive.header(key)
            if kind == "callback":
                i, _, name = rest.partition("/")
                if not (i.isdigit() and name):
                    raise CheckpointError(f"{archive.where}: unknown entry '{key}'")
            elif kind not in out or not rest:
                raise CheckpointError(f"{archive.where}: unknown entry '{key}'")
            kinds = "U" if kind == "rng" else "fiu"
            if dtype.kind not in kinds or dtype.fields is not None or dtype.subdtype:
                raise CheckpointError(
                    f"{archive.where}: entry '{key}' holds {dtype} values, which a gradflow "
                    "checkpoint never does"
                )
            value = archive.read(key)
            if kind == "callback":
                out["callback"].setdefault(int(i), {})[name] = value
            else:
                out[kind][rest] = value
    return out


def restore_checkpoint(
    ckpt: dict[str, Any] | str | os.PathLike,
    model,
    optimizer=None,
    callbacks: list | None = None,
    path: str = "",
) -> int:
    """Load a checkpoint (a path, or the dict :func:`load_checkpoint` returns) into the
    objects; returns its epoch.

    Everything is checked before anything is changed — each entry's shape and dtype against
    the model, optimizer and callbacks (from a path: before its data is read), then the
    values — so any problem leaves the objects as they were, and the error names the file and
    the entry. With ``optimizer`` or ``callbacks`` None their entries are not read (weights
    alone can be loaded from a full checkpoint); given, their state must be complete.
    """
    return int(resume_state(ckpt, model, optimizer, callbacks, path)["epoch"])


def resume_state(
    ckpt: dict[str, Any] | str | os.PathLike,
    model,
    optimizer=None,
    callbacks: list | None = None,
    path: str = "",
    check_meta: Callable[[dict[str, Any]], None] | None = None,
) -> dict[str, Any]:
    """:func:`restore_checkpoint`, returning the checkpoint's ``meta``. ``check_meta(meta)``
    runs before anything is read beyond ``meta`` (e.g. to compare the run's settings)."""
    if isinstance(ckpt, dict):
        return _restore(_Loaded(ckpt, path), model, optimizer, callbacks, check_meta)
    with _Archive(ckpt) as archive:
        return _restore(archive, model, optimizer, callbacks, check_meta)

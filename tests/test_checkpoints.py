"""Checkpoints never destroy a file, and a checkpoint is checked completely before anything is
restored from it: forged, truncated and mismatched files give one CheckpointError naming the
file and the entry, and leave the model, optimizer, callbacks and random generators as they
were."""

import io
import json
import os
import stat
import subprocess
import sys
import textwrap
import tracemalloc
import zipfile

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from hypothesis_counts import examples

from gradflow.cli import main
from gradflow.data import load_iris, train_val_test_split
from gradflow.data.preprocessing import Standardizer
from gradflow.nn import mlp
from gradflow.optim import SGD, Adam, Power
from gradflow.training import (
    CheckpointError,
    EarlyStopping,
    LRScheduler,
    ModelCheckpoint,
    fit,
    load_checkpoint,
    restore_checkpoint,
    save_checkpoint,
)
from gradflow.training.checkpoints import _generators, check_target, is_checkpoint, read_meta

ROOT = hasattr(os, "geteuid") and os.geteuid() == 0


@pytest.fixture(scope="module")
def iris():
    X, y = load_iris()
    (a, ya), (b, yb), _ = train_val_test_split(X, y, 0.2, 0.2, seed=0)
    s = Standardizer().fit(a)
    return (s.transform(a), ya), (s.transform(b), yb)


def make(seed=0):
    """A model with buffers (batch norm) and a generator (dropout), its optimizer, callbacks."""
    model = mlp([4, 8, 3], activation="tanh", dropout=0.3, batchnorm=True, seed=seed)
    opt = Adam(model.parameters(), lr=0.05)
    return model, opt, [LRScheduler(Power(opt, s=2)), EarlyStopping(patience=100)]


def train(iris, path, epochs=2, **kw):
    model, opt, cbs = make()
    fit(
        model,
        iris[0],
        iris[1],
        optimizer=opt,
        epochs=epochs,
        batch_size=16,
        callbacks=cbs,
        seed=7,
        progress=False,
        checkpoint=path,
        **kw,
    )
    return model, opt, cbs


@pytest.fixture(scope="module")
def good(iris, tmp_path_factory):
    """The bytes of a checkpoint written by fit after 2 epochs."""
    path = tmp_path_factory.mktemp("good") / "run.npz"
    train(iris, path)
    return path.read_bytes()


def snapshot(model, opt, cbs):
    """Everything a restore could change, as bytes."""
    return (
        {k: (v.dtype.str, v.tobytes()) for k, v in model.state_dict().items()},
        {k: np.asarray(v).tobytes() for k, v in opt.state_dict().items()},
        [{k: np.asarray(v).tobytes() for k, v in cb.state_dict().items()} for cb in cbs],
        json.dumps({n: g.bit_generator.state for n, g in _generators(model).items()}),
    )


def members(data: bytes) -> dict[str, bytes]:
    with zipfile.ZipFile(io.BytesIO(data)) as z:
        return {n: z.read(n) for n in z.namelist()}


def pack(entries: dict[str, bytes]) -> bytes:
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w") as z:
        for name, blob in entries.items():
            z.writestr(name, blob)
    return buf.getvalue()


def npy(value) -> bytes:
    buf = io.BytesIO()
    np.save(buf, value, allow_pickle=True)
    return buf.getvalue()


def forged_npy(shape, descr="<f8", data=b"\0" * 64) -> bytes:
    """A .npy member whose header declares ``shape`` but holds only ``data``."""
    buf = io.BytesIO()
    np.lib.format.write_array_header_1_0(
        buf, {"descr": descr, "fortran_order": False, "shape": shape}
    )
    return buf.getvalue() + data


def with_meta(data: bytes, **changes) -> bytes:
    entries = members(data)
    meta = json.loads(str(np.load(io.BytesIO(entries["meta.npy"]))))
    meta.update(changes)
    entries["meta.npy"] = npy(np.array(json.dumps(meta)))
    return pack(entries)


def restore_into_fresh(tmp_path, data: bytes, name="run.npz"):
    """Restore ``data`` into a fresh model; on CheckpointError assert nothing changed and
    return the error."""
    path = tmp_path / name
    path.write_bytes(data)
    model, opt, cbs = make(seed=99)
    before = snapshot(model, opt, cbs)
    try:
        restore_checkpoint(path, model, opt, cbs)
    except CheckpointError as e:
        assert snapshot(model, opt, cbs) == before, "a refused checkpoint changed state"
        return e
    return None


def refused(tmp_path, data: bytes, match: str, name="run.npz"):
    e = restore_into_fresh(tmp_path, data, name)
    assert e is not None, "the checkpoint was accepted"
    assert name in str(e)
    assert match in str(e), str(e)
    return e


def run_cli(capsys, *argv):
    code = main(["train", *argv])
    out, err = capsys.readouterr()
    assert "Traceback" not in err
    return code, out, err


# --- writing never destroys a file --------------------------------------------------


def test_dev_null_is_refused_and_stays_a_device(iris, capsys):
    model, opt, _ = make()
    with pytest.raises(CheckpointError, match="/dev/null is a character device"):
        save_checkpoint("/dev/null", model, opt)
    code, out, err = run_cli(
        capsys, "--dataset", "xor", "--epochs", "1", "--quiet", "--checkpoint", "/dev/null"
    )
    assert code == 2 and "/dev/null is a character device" in err and out == ""
    code, _, err = run_cli(
        capsys, "--dataset", "xor", "--epochs", "1", "--checkpoint", "/dev/null", "--force"
    )
    assert code == 2 and "character device" in err  # --force never replaces a device
    assert stat.S_ISCHR(os.stat("/dev/null").st_mode)


@pytest.mark.skipif(not ROOT, reason="making a device node needs root")
def test_a_device_node_is_never_replaced(tmp_path):
    node = tmp_path / "null"
    os.mknod(node, 0o666 | stat.S_IFCHR, os.makedev(1, 3))
    model, opt, _ = make()
    for force in (False, True):
        with pytest.raises(CheckpointError, match="character device"):
            save_checkpoint(node, model, opt, force=force)
    assert stat.S_ISCHR(os.lstat(node).st_mode)


def test_fifo_directory_and_empty_path_are_refused(tmp_path):
    model, opt, _ = make()
    fifo = tmp_path / "pipe"
    os.mkfifo(fifo)
    with pytest.raises(CheckpointError, match="FIFO"):
        save_checkpoint(fifo, model, opt, force=True)
    assert stat.S_ISFIFO(os.lstat(fifo).st_mode)
    with pytest.raises(CheckpointError, match="is a directory"):
        save_checkpoint(tmp_path, model, opt, force=True)
    with pytest.raises(CheckpointError, match="names a directory"):
        save_checkpoint(f"{tmp_path}/", model, opt)
    with pytest.raises(CheckpointError, match="checkpoint path is empty"):
        save_checkpoint("", model, opt)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["pipe"]


def test_a_missing_directory_is_an_error_not_created(tmp_path):
    model, opt, _ = make()
    target = tmp_path / "no" / "such" / "run.npz"
    with pytest.raises(CheckpointError, match=r"directory .*no/such does not exist"):
        save_checkpoint(target, model, opt)
    assert not (tmp_path / "no").exists()


def test_a_file_that_is_not_a_checkpoint_needs_force(tmp_path, capsys):
    notes = tmp_path / "notes.txt"
    notes.write_text("my notes\n")
    model, opt, _ = make()
    with pytest.raises(CheckpointError, match="notes.txt exists and is not a gradflow checkpoint"):
        save_checkpoint(notes, model, opt)
    assert notes.read_text() == "my notes\n"
    code, _, err = run_cli(capsys, "--dataset", "xor", "--epochs", "1", "--checkpoint", str(notes))
    assert code == 2 and "not a gradflow checkpoint" in err and "--force" in err
    assert notes.read_text() == "my notes\n"
    # a file that only looks like one (a zip with other contents) is not one either
    notes.write_bytes(pack({"meta.npy": npy(np.array('{"format": "other"}'))}))
    assert not is_checkpoint(notes)
    code, _, err = run_cli(
        capsys,
        "--dataset",
        "xor",
        "--epochs",
        "1",
        "--quiet",
        "--checkpoint",
        str(notes),
        "--force",
    )
    assert code == 0, err
    assert is_checkpoint(notes) and read_meta(notes)["epoch"] == 1


def test_symlinks_are_not_written_through(tmp_path):
    model, opt, _ = make()
    real = save_checkpoint(tmp_path / "real.npz", model, opt, epoch=1)
    before = real.read_bytes()
    link = tmp_path / "latest.npz"
    link.symlink_to(real)
    with pytest.raises(CheckpointError, match="is a symbolic link"):
        save_checkpoint(link, model, opt, epoch=2)
    assert real.read_bytes() == before and link.is_symlink()
    # forced: the link itself is replaced, its target stays as it was
    save_checkpoint(link, model, opt, epoch=2, force=True)
    assert not link.is_symlink() and read_meta(link)["epoch"] == 2
    assert real.read_bytes() == before
    # a link to a device: refused; forced, the link goes and the device stays
    dev = tmp_path / "dev.npz"
    dev.symlink_to("/dev/null")
    with pytest.raises(CheckpointError, match="symbolic link"):
        save_checkpoint(dev, model, opt)
    save_checkpoint(dev, model, opt, force=True)
    assert dev.is_file() and not dev.is_symlink()
    assert stat.S_ISCHR(os.stat("/dev/null").st_mode)


def test_new_files_get_the_umask_and_a_replaced_checkpoint_keeps_its_mode(tmp_path):
    model, opt, _ = make()
    old = os.umask(0o022)
    try:
        path = save_checkpoint(tmp_path / "a.npz", model, opt)
        assert stat.S_IMODE(os.stat(path).st_mode) == 0o644
        os.umask(0o077)
        private = save_checkpoint(tmp_path / "b.npz", model, opt)
        assert stat.S_IMODE(os.stat(private).st_mode) == 0o600
        os.chmod(path, 0o640)
        save_checkpoint(path, model, opt, epoch=3)
        assert stat.S_IMODE(os.stat(path).st_mode) == 0o640
        assert read_meta(path)["epoch"] == 3
    finally:
        os.umask(old)


@pytest.mark.skipif(ROOT, reason="root may write anywhere")
def test_read_only_checkpoint_is_not_replaced(tmp_path):
    model, opt, _ = make()
    path = save_checkpoint(tmp_path / "a.npz", model, opt, epoch=1)
    os.chmod(path, 0o444)
    with pytest.raises(CheckpointError, match="read-only"):
        save_checkpoint(path, model, opt, epoch=2)
    assert read_meta(path)["epoch"] == 1


def test_unwritable_directory_is_reported_before_training(iris, tmp_path, monkeypatch, capsys):
    locked = tmp_path / "locked"
    locked.mkdir()
    if ROOT:  # root may write anywhere: pretend the permission check fails
        real = os.access
        monkeypatch.setattr(
            os, "access", lambda p, m: False if str(p) == str(locked) else real(p, m)
        )
    else:
        locked.chmod(0o500)
    model, opt, _ = make()
    before = model.state_dict()
    epochs_begun = []

    class Count(EarlyStopping):
        def on_epoch_begin(self, trainer, epoch):
            epochs_begun.append(epoch)

    with pytest.raises(CheckpointError, match="no permission to create files in"):
        fit(
            model,
            iris[0],
            epochs=2,
            progress=False,
            callbacks=[Count()],
            checkpoint=locked / "run.npz",
        )
    assert epochs_begun == []  # checked before the first epoch, not after it
    for k, v in model.state_dict().items():
        np.testing.assert_array_equal(v, before[k])
    code, out, err = run_cli(
        capsys, "--dataset", "xor", "--epochs", "1", "--checkpoint", str(locked / "r.npz")
    )
    assert code == 2 and "no permission" in err and out == ""
    # a directory given as the checkpoint, in the CLI: one line, exit 2
    code, _, err = run_cli(
        capsys, "--dataset", "xor", "--epochs", "1", "--checkpoint", str(tmp_path)
    )
    assert code == 2 and "is a directory" in err and len(err.strip().splitlines()) == 1
    code, _, err = run_cli(capsys, "--dataset", "xor", "--epochs", "1", "--checkpoint", "")
    assert code == 2 and "empty" in err


def test_model_checkpoint_callback_checks_its_path_before_training(iris, tmp_path):
    notes = tmp_path / "notes.txt"
    notes.write_text("keep me")
    model, _, _ = make()
    with pytest.raises(CheckpointError, match="not a gradflow checkpoint"):
        fit(model, iris[0], epochs=1, progress=False, callbacks=[ModelCheckpoint(notes)])
    assert notes.read_text() == "keep me"
    fit(model, iris[0], epochs=1, progress=False, callbacks=[ModelCheckpoint(notes, force=True)])
    assert read_meta(notes)["epoch"] == 1


def test_a_failed_write_leaves_the_old_checkpoint_and_no_temp_file(tmp_path, monkeypatch):
    model, opt, _ = make()
    path = save_checkpoint(tmp_path / "run.npz", model, opt, epoch=1)
    before = path.read_bytes()

    def disk_full(*a, **k):
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(np, "savez", disk_full)
    with pytest.raises(CheckpointError, match="cannot write checkpoint .*No space left"):
        save_checkpoint(path, model, opt, epoch=2)
    assert path.read_bytes() == before
    assert [p.name for p in tmp_path.iterdir()] == ["run.npz"]


def test_a_write_that_fails_mid_run_is_a_failed_run_not_bad_input(tmp_path, monkeypatch, capsys):
    """The path passed the pre-flight check, so the input was fine: exit 1, one line."""

    def disk_full(*a, **k):
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(np, "savez", disk_full)
    out = tmp_path / "run.npz"
    code = main(["train", "--dataset", "xor", "--epochs", "1", "--quiet", "--checkpoint", str(out)])
    err = capsys.readouterr().err
    assert code == 1, err
    assert err.count("\n") == 1 and "No space left on device" in err and "Traceback" not in err
    assert not out.exists() and list(tmp_path.iterdir()) == []


def test_stale_temp_files_of_the_same_checkpoint_are_removed(tmp_path):
    model, opt, _ = make()
    stale = [tmp_path / ".run.npz.k3j_x9a2.tmp", tmp_path / ".run.npz.abcdefgh.tmp"]
    for p in stale:
        p.write_bytes(b"x" * 1000)
    kept = [
        tmp_path / ".run.npz.abc.tmp",  # not our pattern
        tmp_path / ".run2.npz.abcdefgh.tmp",  # another checkpoint's
        tmp_path / "run.npz.abcdefgh.tmp",  # no leading dot
        tmp_path / ".run.npz.abcdefgh.tmp.bak",
    ]
    for p in kept:
        p.write_text("not ours")
    link = tmp_path / ".run.npz.linklink.tmp"
    link.symlink_to(kept[0])
    save_checkpoint(tmp_path / "run.npz", model, opt)
    assert not any(p.exists() for p in stale)
    assert all(p.read_text() == "not ours" for p in kept)
    assert link.is_symlink()


@pytest.mark.skipif(not ROOT, reason="giving a file to another user needs root")
def test_another_users_temp_file_is_left_alone(tmp_path):
    other = tmp_path / ".run.npz.zzzzzzzz.tmp"
    other.write_bytes(b"theirs")
    os.chown(other, 65534, 65534)
    model, opt, _ = make()
    save_checkpoint(tmp_path / "run.npz", model, opt)
    assert other.read_bytes() == b"theirs"


WRITER = textwrap.dedent(
    """
    import sys, time
    import numpy as np
    from gradflow.nn import mlp
    from gradflow.optim import Adam
    from gradflow.training import save_checkpoint

    real = np.savez

    def slow_savez(f, **arrays):  # half a file, then wait to be killed
        f.write(b"PK" + b"x" * 100000)
        f.flush()
        print("writing", flush=True)
        time.sleep(60)

    np.savez = slow_savez
    model = mlp([4, 8, 3], seed=0)
    save_checkpoint(sys.argv[1], model, Adam(model.parameters()))
    """
)


@pytest.mark.skipif(sys.platform == "win32", reason="SIGKILL and flock are POSIX")
def test_a_killed_write_is_cleaned_up_by_the_next_one(tmp_path):
    target = tmp_path / "run.npz"
    model, opt, _ = make()
    child = subprocess.Popen(
        [sys.executable, "-c", WRITER, str(target)], stdout=subprocess.PIPE, text=True
    )
    try:
        assert child.stdout.readline().strip() == "writing"
        (temp,) = [p for p in tmp_path.iterdir() if p.name.startswith(".run.npz.")]
        # while the write runs its file is locked: another write leaves it alone
        save_checkpoint(target, model, opt, epoch=1)
        assert temp.exists()
    finally:
        child.kill()
        child.wait()
        child.stdout.close()
    assert temp.exists() and temp.stat().st_size >= 100000  # what a kill leaves behind
    save_checkpoint(target, model, opt, epoch=2)
    assert not temp.exists()
    assert [p.name for p in tmp_path.iterdir()] == ["run.npz"]
    assert read_meta(target)["epoch"] == 2


def test_check_target_accepts_new_files_and_checkpoints(tmp_path):
    model, opt, _ = make()
    assert check_target(tmp_path / "new.npz") == tmp_path / "new.npz"
    path = save_checkpoint(tmp_path / "old.npz", model, opt)
    assert check_target(path) == path
    # a checkpoint written by a newer gradflow is still a checkpoint (may be replaced)
    path.write_bytes(with_meta(path.read_bytes(), version=999))
    assert is_checkpoint(path)


# --- reading: unreadable and foreign files --------------------------------------------


def test_unreadable_and_foreign_files_are_one_line_errors(tmp_path, capsys):
    npy_file = tmp_path / "weights.npy"
    np.save(npy_file, np.zeros(3))
    txt = tmp_path / "notes.txt"
    txt.write_text("hello")
    fifo = tmp_path / "pipe.npz"
    os.mkfifo(fifo)
    cases = {
        npy_file: "corrupted or not an .npz",
        txt: "corrupted or not an .npz",
        tmp_path / "missing.npz": "does not exist",
        tmp_path: "is a directory",
        fifo: "FIFO",
    }
    for path, message in cases.items():
        with pytest.raises(CheckpointError, match=message):
            load_checkpoint(path)
        code, out, err = run_cli(capsys, "--dataset", "xor", "--epochs", "1", "--resume", str(path))
        assert code == 2 and message in err and str(path) in err and out == "", err
        assert len(err.strip().splitlines()) == 1
    code, _, err = run_cli(capsys, "--dataset", "xor", "--epochs", "1", "--resume", "")
    assert code == 2 and "empty" in err


@pytest.mark.skipif(ROOT, reason="root reads any file")
def test_unreadable_resume_file(tmp_path, capsys):
    path = tmp_path / "run.npz"
    path.write_bytes(b"x")
    path.chmod(0)
    code, _, err = run_cli(capsys, "--dataset", "xor", "--epochs", "1", "--resume", str(path))
    assert code == 2 and "cannot read checkpoint" in err and "Permission denied" in err


# --- reading: forged and mismatched checkpoints ------------------------------------------


def test_a_forged_header_is_refused_without_allocating(tmp_path, good):
    entries = members(good)
    entries["model/0.weight.npy"] = forged_npy((400_000, 250_000))  # 745 GiB of float64
    tracemalloc.start()
    try:
        refused(tmp_path, pack(entries), "'model/0.weight' declares shape (400000, 250000)")
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert peak < 20 * 2**20
    # with a consistent size but the wrong shape: named, data not read
    entries["model/0.weight.npy"] = npy(np.zeros((4, 4)))
    refused(
        tmp_path,
        pack(entries),
        "entry 'model/0.weight' has shape (4, 4) but model parameter 0.weight needs (8, 4)",
    )


def test_unknown_entries_are_refused_unread(tmp_path, good):
    entries = members(good)
    entries["model/extra.npy"] = npy(np.zeros(2**18))  # 2 MiB
    blob = pack(entries)
    (tmp_path / "run.npz").write_bytes(blob)
    tracemalloc.start()
    try:
        refused(tmp_path, blob, "do not have: 'model/extra'")
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert peak < 2**20
    entries = members(good)
    entries["notes.txt"] = b"hello"
    refused(tmp_path, pack(entries), "member 'notes.txt' is not an array")


def test_compressed_or_oversized_meta_is_refused(tmp_path, good):
    entries = members(good)
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w", zipfile.ZIP_DEFLATED) as z:
        for name, blob in entries.items():
            z.writestr(name, blob)
    refused(tmp_path, buf.getvalue(), "compressed")
    entries["meta.npy"] = npy(np.array(" " * (5 * 2**20)))  # 20 MiB of UTF-32
    refused(tmp_path, pack(entries), "larger than 16 MiB")


@pytest.mark.parametrize(
    "meta, message",
    [
        ([1, 2, 3], "is a JSON list, not an object"),
        (2.5, "is a JSON float, not an object"),
        ({"format": "gradflow-checkpoint", "version": 999, "epoch": 1}, "newer gradflow"),
        ({"format": "gradflow-checkpoint", "version": "1", "epoch": 1}, "invalid format version"),
        ({"format": "other", "version": 1, "epoch": 1}, "not a gradflow checkpoint"),
    ],
)
def test_meta_must_be_a_checkpoint_object(tmp_path, good, meta, message):
    entries = members(good)
    entries["meta.npy"] = npy(np.array(json.dumps(meta)))
    refused(tmp_path, pack(entries), message)


@pytest.mark.parametrize(
    "changes, message",
    [
        ({"epoch": 1e30}, "epoch must be a whole number from 0 to 1000000000, got 1e+30"),
        ({"epoch": 1.5}, "epoch must be a whole number"),
        ({"epoch": -1}, "epoch must be a whole number"),
        ({"epoch": True}, "epoch must be a whole number"),
        ({"epoch": 10**12}, "epoch must be a whole number"),
        ({"history": "zzz"}, "history must be a list, got str"),
        ({"history": [1, 2]}, "history[0] must be an object"),
        (
            {"history": [{"epoch": 1, "train_loss": "low"}, {"epoch": 2}]},
            "train_loss must be a number",
        ),
        ({"history": [{"epoch": 1}]}, "history has 1 epochs but the checkpoint is at epoch 2"),
        ({"history": [{"epoch": 2}, {"epoch": 1}]}, "history[0] must be epoch 1"),
        ({"config": [1]}, "config must be an object"),
        ({"seed": "7"}, "seed must be an integer"),
        ({"optimizer": 5}, "optimizer must be a string"),
        ({"stopped": "no"}, "stopped must be true or false"),
        ({"optimizer": "SGD"}, "holds SGD optimizer state but the optimizer is Adam"),
        ({"config": {"seed": 8, "batch_size": 16, "loss": "cross_entropy"}}, None),
    ],
)
def test_meta_schema(tmp_path, good, changes, message):
    data = with_meta(good, **changes)
    if message is None:  # restore_checkpoint does not compare fit's settings; fit does
        assert restore_into_fresh(tmp_path, data) is None
        return
    refused(tmp_path, data, message)


def test_deeply_nested_meta_is_an_error_not_a_recursion_error(tmp_path, good):
    entries = members(good)
    meta = '{"format": "gradflow-checkpoint", "version": 1, "epoch": 2, "x": '
    for depth in (100, 100_000):
        text = meta + "[" * depth + "]" * depth + "}"
        entries["meta.npy"] = npy(np.array(text))
        refused(tmp_path, pack(entries), "nested more than 32 levels deep")


@pytest.mark.parametrize(
    "key, value, message",
    [
        (
            "model/0.weight",
            np.zeros((8, 4), complex),
            "holds complex128 values but model "
            "parameter 0.weight needs real floating-point numbers",
        ),
        ("model/0.weight", np.zeros((8, 4), [("a", "f4"), ("b", "f4")]), "holds"),
        ("model/0.weight", np.zeros((8, 4), np.int64), "needs real floating-point"),
        ("model/0.weight", np.array([None] * 32).reshape(8, 4), "holds object values"),
        (
            "model/4.bias",
            np.array([1.0, np.nan, 0.0]),
            "'model/4.bias' (model parameter 4.bias) holds nan at index (1,)",
        ),
        ("optim/hparam.lr", np.array(-1.0), "hyperparameter lr must be a finite number >= 0"),
        ("optim/hparam.lr", np.array(np.nan), "hyperparameter lr must be a finite number"),
        ("optim/hparam.lr", np.array(np.inf), "hyperparameter lr must be a finite number"),
        ("optim/hparam.beta2", np.array(1.5), "hyperparameter beta2 must be below 1"),
        ("optim/hparam.lr", np.array([0.1, 0.2]), "has shape (2,) but Adam's hyperparameter"),
        ("optim/m.0", np.full((8, 4), np.inf), "'optim/m.0' (Adam's state for 0.weight) holds inf"),
        (
            "optim/v.3",
            np.zeros(4),
            "entry 'optim/v.3' has shape (4,) but Adam's state for 1.bias needs (8,)",
        ),
        ("optim/t", np.array(1.5), "holds float64 values but Adam's step count needs an integer"),
        ("optim/t", np.array(-3), "t must be a step count"),
        ("callback/0/lr", np.array(-0.5), "lr must be a finite number >= 0"),
        ("callback/0/t", np.array(2.0), "callback 0 (LRScheduler) state t needs an integer"),
        ("callback/1/wait", np.array(-1), "wait must be >= 0"),
        ("callback/1/best", np.array(np.nan), "best is NaN"),
        ("rng/model.3._rng", np.array('{"bit_generator": "MT19937"}'), "not a valid PCG64 state"),
        ("rng/model.3._rng", np.array("[" * 5000), "rng/model.3._rng"),
    ],
)
def test_bad_entries_are_named_and_change_nothing(tmp_path, good, key, value, message):
    entries = members(good)
    entries[f"{key}.npy"] = npy(value)
    refused(tmp_path, pack(entries), message)


def test_a_missing_entry_is_named(tmp_path, good):
    for key, message in [
        ("optim/v.5", "no entry 'optim/v.5' for Adam's state for 4.bias"),
        ("callback/1/best_epoch", "no entry 'callback/1/best_epoch'"),
        ("rng/model.3._rng", "no entry 'rng/model.3._rng'"),
        ("meta", "no 'meta' entry"),
    ]:
        entries = members(good)
        del entries[f"{key}.npy"]
        refused(tmp_path, pack(entries), message)


def test_a_partial_early_stopping_best_state_is_refused(tmp_path, good):
    entries = members(good)
    del entries["callback/1/best_state.0.bias.npy"]
    e = refused(tmp_path, pack(entries), "EarlyStopping.load_state_dict: best_state")
    assert "missing 0.bias" in str(e)


def test_a_good_checkpoint_restores_exactly(tmp_path, iris, good):
    path = tmp_path / "run.npz"
    path.write_bytes(good)
    trained, opt_trained, cbs_trained = train(iris, tmp_path / "again.npz")
    model, opt, cbs = make(seed=99)
    assert restore_checkpoint(path, model, opt, cbs) == 2
    assert snapshot(model, opt, cbs)[:3] == snapshot(trained, opt_trained, cbs_trained)[:3]
    # the dict form of load_checkpoint restores the same
    model2, opt2, cbs2 = make(seed=98)
    restore_checkpoint(load_checkpoint(path), model2, opt2, cbs2, path=str(path))
    assert snapshot(model2, opt2, cbs2) == snapshot(model, opt, cbs)
    # weights alone from a full checkpoint: optimizer and callback entries are not needed
    weights_only, _, _ = make(seed=97)
    restore_checkpoint(path, weights_only)
    assert snapshot(weights_only, opt, [])[0] == snapshot(model, opt, [])[0]


def test_fit_refuses_to_resume_with_other_settings(iris, tmp_path, good):
    path = tmp_path / "run.npz"
    path.write_bytes(good)
    model, opt, cbs = make(seed=99)
    before = snapshot(model, opt, cbs)
    with pytest.raises(CheckpointError, match="trained with seed 7 but this run has 8"):
        fit(
            model,
            iris[0],
            iris[1],
            optimizer=opt,
            epochs=3,
            batch_size=16,
            callbacks=cbs,
            seed=8,
            progress=False,
            resume=path,
        )
    with pytest.raises(CheckpointError, match="batch_size 16 but this run has 32"):
        fit(
            model,
            iris[0],
            iris[1],
            optimizer=opt,
            epochs=3,
            batch_size=32,
            callbacks=cbs,
            seed=7,
            progress=False,
            resume=path,
        )
    with pytest.raises(CheckpointError, match="do not have: 'callback/1/best'"):
        fit(
            model,
            iris[0],
            iris[1],
            optimizer=opt,
            epochs=3,
            batch_size=16,
            callbacks=cbs[:1],
            seed=7,
            progress=False,
            resume=path,
        )
    assert snapshot(model, opt, cbs) == before
    sgd = SGD(model.parameters(), lr=0.1)
    with pytest.raises(
        CheckpointError, match="holds Adam optimizer state but the optimizer is SGD"
    ):
        fit(
            model,
            iris[0],
            optimizer=sgd,
            epochs=3,
            batch_size=16,
            seed=7,
            progress=False,
            resume=path,
        )


# --- hypothesis: whatever the file holds, only a CheckpointError, and nothing changed ----

JSON = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats() | st.text(max_size=5),
    lambda inner: (
        st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=5), inner, max_size=3)
    ),
    max_leaves=10,
)
META_KEYS = ["format", "version", "epoch", "seed", "history", "config", "optimizer", "run_config"]
DTYPES = [
    "<f8",
    "<f4",
    ">f8",
    "<f2",
    "<i8",
    "<u1",
    "|b1",
    "<c16",
    "<U3",
    "|S2",
    "|O",
    [("a", "<f4")],
    "<M8[s]",
]
ENTRY_NAMES = [
    "model/0.weight",
    "model/1.running_mean",
    "optim/t",
    "optim/hparam.lr",
    "optim/m.2",
    "optim/v.5",
    "callback/0/t",
    "callback/1/best",
    "callback/1/best_state.4.bias",
    "rng/nn.init",
    "rng/model.3._rng",
    "model/new",
    "callback/7/x",
    "meta",
]


@st.composite
def corruptions(draw):
    kind = draw(st.sampled_from(["meta", "entry", "truncate", "flip", "drop", "forge"]))
    return kind, draw(st.data())


def _random_array(data):
    dtype = np.dtype(data.draw(st.sampled_from(DTYPES), label="dtype"))
    shape = tuple(data.draw(st.lists(st.integers(0, 9), max_size=3), label="shape"))
    n = int(np.prod(shape))
    if dtype.hasobject:
        return np.full(shape, None, dtype=object)
    raw = data.draw(st.binary(min_size=n * dtype.itemsize, max_size=n * dtype.itemsize))
    return np.frombuffer(raw, dtype=dtype, count=n).reshape(shape).copy()


@settings(
    max_examples=examples(150),
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture],
)
@given(corruption=corruptions())
def test_any_corrupted_checkpoint_gives_only_a_checkpoint_error(tmp_path, good, corruption):
    kind, data = corruption
    entries = members(good)
    if kind == "meta":
        meta = json.loads(str(np.load(io.BytesIO(entries["meta.npy"]))))
        key = data.draw(st.sampled_from(META_KEYS), label="meta key")
        meta[key] = data.draw(JSON, label="value")
        if data.draw(st.booleans(), label="meta not an object"):
            meta = data.draw(JSON, label="meta")
        entries["meta.npy"] = npy(np.array(json.dumps(meta)))
        blob = pack(entries)
    elif kind == "entry":
        name = data.draw(st.sampled_from(ENTRY_NAMES), label="entry")
        entries[f"{name}.npy"] = npy(_random_array(data))
        blob = pack(entries)
    elif kind == "forge":
        name = data.draw(st.sampled_from(ENTRY_NAMES), label="entry")
        shape = tuple(data.draw(st.lists(st.integers(0, 2**40), max_size=3), label="shape"))
        descr = data.draw(st.sampled_from(["<f8", "<f4", "<i8", "|O", "<U10"]), label="descr")
        entries[f"{name}.npy"] = forged_npy(shape, descr)
        blob = pack(entries)
    elif kind == "drop":
        name = data.draw(st.sampled_from(sorted(entries)), label="entry")
        del entries[name]
        blob = pack(entries)
    elif kind == "truncate":
        blob = good[: data.draw(st.integers(0, len(good) - 1), label="length")]
    else:
        blob = bytearray(good)
        for _ in range(data.draw(st.integers(1, 8), label="flips")):
            at = data.draw(st.integers(0, len(blob) - 1), label="at")
            blob[at] ^= data.draw(st.integers(1, 255), label="mask")
        blob = bytes(blob)
    restore_into_fresh(tmp_path, blob)  # asserts: CheckpointError or success; if refused, unchanged
    try:
        load_checkpoint(tmp_path / "run.npz")
    except CheckpointError:
        pass


# --- the command line: a resumed run must match the checkpoint's settings ---------------


def cli_json(capsys, *argv):
    code, out, err = run_cli(capsys, *argv, "--json", "--quiet")
    assert code == 0, err
    return json.loads(out.strip().splitlines()[-1])


def test_cli_resume_must_match_the_saved_settings(capsys, tmp_path):
    ckpt = str(tmp_path / "xor.npz")
    base = ["--dataset", "xor", "--seed", "1"]
    cli_json(capsys, *base, "--epochs", "2", "--lr", "0.5", "--checkpoint", ckpt)
    for extra, message in [
        (["--dataset", "moons"], "trained with --dataset xor but this run has --dataset moons"),
        (
            ["--lr", "0.01"],
            "trained with --lr 0.5 but this run has --lr 0.01; resume with --lr 0.5",
        ),
        ([], "trained with --lr 0.5 but this run has --lr"),  # the default is not 0.5
        (["--lr", "0.5", "--seed", "2"], "--seed 1 but this run has --seed 2"),
        (["--lr", "0.5", "--hidden", "3"], "--hidden"),
        (
            ["--lr", "0.5", "--optimizer", "sgd"],
            "--optimizer adam but this run has --optimizer sgd",
        ),
        (["--lr", "0.5", "--patience", "3"], "--patience (none) but this run has --patience 3"),
        (["--lr", "0.5", "--l2", "0.001"], "--l2 0.0 but this run has --l2 0.001"),
        (["--lr", "0.5", "--schedule", "plateau"], "--schedule constant but this run has"),
        (["--lr", "0.5", "--batch-size", "8"], "--batch-size"),
        (["--lr", "0.5", "--epochs", "1"], "already at epoch 2; --epochs 1"),
        (["--lr", "0.5", "--find-lr"], "--find-lr cannot be combined with --resume"),
    ]:
        args = [*base, "--epochs", "3", *extra, "--resume", ckpt]
        if "--dataset" in extra:
            args = ["--seed", "1", "--epochs", "3", *extra, "--resume", ckpt]
        code, out, err = run_cli(capsys, *args)
        assert code == 2 and message in err and out == "", (extra, err)
    report = cli_json(capsys, *base, "--epochs", "3", "--lr", "0.5", "--resume", ckpt)
    assert report["config"]["lr"] == 0.5 and report["config"]["epochs"] == 3
    assert report["config"]["resumed_from"] == {"checkpoint": ckpt, "epoch": 2, "backend": "graph"}
    assert [r["lr"] for r in report["history"]] == [0.5, 0.5, 0.5]
    assert len(report["history"]) == 3


def test_cli_resume_of_a_schedule_laid_out_over_the_run(capsys, tmp_path):
    ckpt = str(tmp_path / "cycle.npz")
    base = ["--dataset", "xor", "--schedule", "onecycle"]
    cli_json(capsys, *base, "--epochs", "2", "--checkpoint", ckpt)
    code, _, err = run_cli(capsys, *base, "--epochs", "4", "--resume", ckpt)
    assert code == 2 and "onecycle schedule is laid out over those epochs" in err


def test_cli_resume_of_another_model(capsys, tmp_path):
    ckpt = str(tmp_path / "lstm.npz")
    base = ["--dataset", "parity", "--hidden", "4", "--batch-size", "64"]
    cli_json(capsys, "--model", "lstm", *base, "--epochs", "1", "--checkpoint", ckpt)
    code, _, err = run_cli(capsys, "--model", "gru", *base, "--epochs", "2", "--resume", ckpt)
    assert code == 2 and "--model lstm but this run has --model gru" in err


def test_cli_refuses_a_checkpoint_without_run_settings(capsys, tmp_path, iris):
    ckpt = tmp_path / "fit.npz"
    train(iris, ckpt, epochs=1)
    code, _, err = run_cli(capsys, "--dataset", "iris", "--epochs", "2", "--resume", str(ckpt))
    assert code == 2 and "holds no settings of a gradflow train run" in err


# --- loading state directly --------------------------------------------------------------


def test_module_load_state_dict_checks_everything_first():
    model, _, _ = make()
    before = model.state_dict()
    state = model.state_dict()
    state["0.weight"] = state["0.weight"] + 1
    state["4.bias"] = np.zeros(7)  # a later entry of the wrong shape
    with pytest.raises(ValueError, match="'4.bias' has shape"):
        model.load_state_dict(state)
    state["4.bias"] = np.zeros(3, complex)
    with pytest.raises(ValueError, match="'4.bias' holds complex128"):
        model.load_state_dict(state)
    state["4.bias"] = np.array([0.0, np.inf, 0.0])
    with pytest.raises(ValueError, match="'4.bias' holds NaN or Inf"):
        model.load_state_dict(state)
    after = model.state_dict()
    assert all(np.array_equal(before[k], after[k]) for k in before)


def test_optimizer_load_state_dict_checks_everything_first():
    model, opt, _ = make()
    before = {k: np.asarray(v).copy() for k, v in opt.state_dict().items()}
    state = opt.state_dict()
    state["m.0"] = state["m.0"] + 1
    state["t"] = np.array(5)
    state["v.5"] = np.zeros(2)
    with pytest.raises(ValueError, match="state v.5 has shape"):
        opt.load_state_dict(state)
    state["v.5"] = np.zeros(3)
    state["hparam.lr"] = np.array(-1.0)
    with pytest.raises(ValueError, match="lr must be a finite number >= 0, got -1.0"):
        opt.load_state_dict(state)
    state["hparam.lr"] = np.array(0.1)
    state["bogus"] = np.array(1.0)
    with pytest.raises(ValueError, match="unknown entry bogus"):
        opt.load_state_dict(state)
    after = opt.state_dict()
    assert all(np.array_equal(before[k], after[k]) for k in before)
    assert opt.t == 0


def test_callback_arguments_are_checked(iris, tmp_path):
    with pytest.raises(ValueError, match="every must be a whole number >= 1, got 0"):
        ModelCheckpoint(tmp_path / "x.npz", every=0)
    with pytest.raises(ValueError, match="mode must be 'min' or 'max', got 'up'"):
        EarlyStopping(mode="up")
    with pytest.raises(ValueError, match="patience must be a whole number >= 0"):
        EarlyStopping(patience=-1)
    model, _, _ = make()
    best = ModelCheckpoint(tmp_path / "best.npz", monitor="val_loss")
    with pytest.raises(KeyError, match="'val_loss' is not logged.*needs val_data"):
        fit(model, iris[0], epochs=1, progress=False, callbacks=[best])


@pytest.mark.slow
def test_jit_resume_is_exact(iris, tmp_path):
    pytest.importorskip("numba")

    def run(epochs, seed_model=0, **kw):
        model = mlp([4, 8, 3], activation="tanh", seed=seed_model)
        opt = Adam(model.parameters(), lr=0.05)
        hist = fit(
            model,
            iris[0],
            iris[1],
            optimizer=opt,
            epochs=epochs,
            batch_size=16,
            backend="jit",
            seed=7,
            progress=False,
            **kw,
        )
        return model, opt, hist

    full_model, full_opt, full_hist = run(4)
    run(2, checkpoint=tmp_path / "jit.npz")
    # restored into the views of the jit backend's flat buffers, in place
    model, opt, hist = run(4, seed_model=5, resume=tmp_path / "jit.npz")
    strip = lambda h: [{k: v for k, v in r.items() if k != "seconds"} for r in h.epochs]
    assert strip(hist) == strip(full_hist)
    assert snapshot(model, opt, [])[:2] == snapshot(full_model, full_opt, [])[:2]


@pytest.mark.slow
def test_cli_resume_may_change_the_backend(capsys, tmp_path):
    pytest.importorskip("numba")
    ckpt = str(tmp_path / "xor.npz")
    base = ["--dataset", "xor", "--seed", "1"]
    cli_json(capsys, *base, "--epochs", "2", "--checkpoint", ckpt)
    report = cli_json(capsys, *base, "--epochs", "3", "--backend", "jit", "--resume", ckpt)
    assert report["config"]["backend"] == "jit"
    assert report["config"]["resumed_from"]["backend"] == "graph"
    assert len(report["history"]) == 3


def test_a_run_early_stopping_ended_stays_ended_when_resumed(iris, tmp_path):
    def run(**kw):
        model = mlp([4, 8, 3], seed=0)
        opt = Adam(model.parameters(), lr=0.5)  # too large: the validation loss bounces
        hist = fit(
            model,
            iris[0],
            iris[1],
            optimizer=opt,
            epochs=30,
            batch_size=16,
            callbacks=[EarlyStopping(patience=1)],
            seed=7,
            progress=False,
            **kw,
        )
        return model, opt, hist

    full_model, full_opt, full_hist = run()
    assert len(full_hist) < 30
    run(checkpoint=tmp_path / "es.npz")
    model, opt, hist = run(resume=tmp_path / "es.npz")
    assert len(hist) == len(full_hist)  # was: trained on after the stop
    assert snapshot(model, opt, [])[:2] == snapshot(full_model, full_opt, [])[:2]

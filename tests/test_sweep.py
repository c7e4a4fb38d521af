"""gradflow.sweep and the executors: the same rows wherever the runs run (here, a process
pool, a real Dask LocalCluster), failures as rows, JSON-lines results that resume, workers
that run numba on one thread, and the sweep file's checks."""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
import time
from concurrent.futures import ProcessPoolExecutor, ThreadPoolExecutor
from pathlib import Path

import numpy as np
import pytest

from gradflow.errors import UsageError
from gradflow.executors import RunFailedError, run_tasks
from gradflow.sweep import config_key, grid, summarize, sweep
from gradflow.sweep.results import ResultsFile, read_rows
from gradflow.sweep.spec import read_sweep_file

try:
    import distributed
except ImportError:  # CI has it (the test extra); a bare checkout may not
    distributed = None

needs_dask = pytest.mark.skipif(
    distributed is None, reason='needs dask[distributed] (pip install "gradflow[dask]")'
)

# 8 runs of a few milliseconds each, plus one that fails only when it runs
CONFIGS = grid(dataset="iris", hidden=[3, 5, 8, 13], seed=[0, 1], epochs=4, backend="jit")
# matrices large enough for OpenBLAS to split a product over threads: rows stay identical
# only because every run holds BLAS at one thread, here as on the workers
CONFIGS.append({"dataset": "digits", "hidden": 512, "n_train": 400, "epochs": 2, "backend": "jit"})
FAILS = {"dataset": "iris", "n_train": 10**6, "epochs": 1}


def numbers(rows):
    """What must be bit-identical: key, status, metrics, history without wall times."""
    return [
        (
            r["key"],
            r["status"],
            r["metrics"],
            [{k: v for k, v in e.items() if k != "seconds"} for e in r["history"] or []],
        )
        for r in rows
    ]


@pytest.fixture(scope="module")
def serial_rows():
    return sweep(CONFIGS + [FAILS])


def test_serial_rows_have_metrics_history_and_an_error_row(serial_rows):
    ok, failed = serial_rows[:-2], serial_rows[-1]
    assert all(r["status"] == "ok" for r in ok)
    assert {r["metrics"]["parameters"] for r in ok} == {
        4 * h + h + 3 * h + 3 for h in [3, 5, 8, 13]
    }
    assert all(len(r["history"]) == 4 and 0 <= r["metrics"]["test_error"] <= 1 for r in ok)
    assert serial_rows[-2]["status"] == "ok"
    assert failed["status"] == "error" and failed["metrics"] is None
    assert failed["error"].startswith("ConfigError: n_train 1000000 is more than the")
    assert failed["worker"] and failed["seconds"] >= 0


def test_a_run_is_the_same_run_alone(serial_rows):
    """The sweep's row equals training that configuration by itself."""
    alone = sweep([CONFIGS[5]])
    assert numbers(alone) == numbers([serial_rows[5]])


def test_thread_and_process_pools_give_the_serial_numbers(serial_rows):
    with ThreadPoolExecutor(2) as pool:
        threads = sweep(CONFIGS + [FAILS], executor=pool)
    assert numbers(threads) == numbers(serial_rows)
    with ProcessPoolExecutor(2) as pool:
        processes = sweep(CONFIGS[:3] + [FAILS], executor=pool)
    assert numbers(processes) == numbers(serial_rows[:3] + serial_rows[-1:])
    assert len({r["worker"] for r in processes}) >= 1
    assert all(r["worker"].split(":")[-1] != str(os.getpid()) for r in processes)


def test_results_file_appends_and_resume_skips_finished_runs(tmp_path, serial_rows):
    out = tmp_path / "results.jsonl"
    sweep(CONFIGS[:3] + [FAILS], out=out)
    first = out.read_text().splitlines()
    assert len(first) == 4
    with pytest.raises(UsageError, match="holds 4 results already; continue it with resume=True"):
        sweep(CONFIGS, out=out)
    assert out.read_text().splitlines() == first  # refused: nothing written
    calls = []

    def counting(config, data):  # runs here (executor=None): we can count the calls
        calls.append(config_key(config))
        from gradflow.sweep import train_config

        return train_config(config, data)

    rows = sweep(CONFIGS + [FAILS], run=counting, out=out, resume=True)
    # the three finished runs were not run again; the failed one was
    assert sorted(calls) == sorted(config_key(c) for c in CONFIGS[3:] + [FAILS])
    assert numbers(rows) == numbers(serial_rows)
    lines = out.read_text().splitlines()
    assert lines[:4] == first and len(lines) == 4 + len(CONFIGS) - 3 + 1
    assert all(json.loads(line)["key"] for line in lines)


def test_a_cut_off_last_row_is_dropped_and_run_again(tmp_path):
    out = tmp_path / "r.jsonl"
    sweep(CONFIGS[:2], out=out)
    text = out.read_text()
    out.write_text(text + text.splitlines()[0][:40])  # a write killed half-way
    rows, cut = read_rows(out)
    assert len(rows) == 2 and cut == len(text.encode())
    sweep(CONFIGS[:3], out=out, resume=True)
    assert [json.loads(x)["key"] for x in out.read_text().splitlines()] == [
        config_key(c) for c in CONFIGS[:3]
    ]


@pytest.mark.parametrize(
    "content, says",
    [
        ("not json\n{}\n", "line 1: not JSON"),
        ('{"key": "a"}\n', "line 1: not a row of a gradflow sweep (no 'config')"),
        ('[1, 2]\n{"x": 1}\n', "line 1: not a row of a gradflow sweep"),
    ],
)
def test_a_file_that_is_not_results_is_refused_and_kept(tmp_path, content, says):
    out = tmp_path / "r.jsonl"
    out.write_text(content)
    with pytest.raises(UsageError, match=re.escape(says)):
        sweep(CONFIGS[:1], out=out, resume=True)
    assert out.read_text() == content


@pytest.mark.parametrize(
    "configs, says",
    [
        ([{"dataset": "iris", "lr": -1.0}], "config 0 (dataset='iris', lr=-1.0): lr must be > 0"),
        ([{"dataset": "iris", "hiden": 4}], "config 0 (dataset='iris', hiden=4): unknown key"),
        ([{"hidden": 4}], "no dataset: name one"),
        ([{"dataset": "iris", "epochs": float("nan")}], "config 0.epochs: nan is not a finite"),
        ([{"dataset": "iris"}, {"dataset": "iris"}], "configs 0 and 1 are the same run"),
        ([{"dataset": "iris", "fold": 3, "folds": 3}], "fold must be below folds (3), got 3"),
        ({"dataset": "iris"}, "a list of configurations, not one dict"),
        ([], "nothing to run"),
    ],
)
def test_bad_configurations_are_refused_before_any_run(configs, says, tmp_path):
    out = tmp_path / "r.jsonl"
    with pytest.raises(UsageError) as info:
        sweep(configs, out=out)
    assert says in str(info.value)
    assert not out.exists()


def test_bad_executors_are_refused():
    with pytest.raises(UsageError, match="expected None, 'dask', a scheduler address"):
        sweep(CONFIGS[:1], executor="threads")
    with pytest.raises(UsageError, match="a list is not a concurrent.futures.Executor"):
        sweep(CONFIGS[:1], executor=[])


def test_without_dask_the_error_says_how_to_install(monkeypatch):
    monkeypatch.setitem(sys.modules, "distributed", None)  # import distributed fails
    with pytest.raises(UsageError, match=r'needs Dask, which is not installed: pip install "gradf'):
        sweep(CONFIGS[:1], executor="dask")


def test_data_is_shipped_to_the_run_and_an_mlp_built_for_it():
    g = np.random.default_rng(0)
    X = g.normal(size=(60, 3))
    y = (X[:, 0] > 0).astype(np.int64)
    data = {"train": (X[:40], y[:40]), "test": (X[40:], y[40:])}
    rows = sweep(grid(hidden=[[4, 4], [6]], seed=0, epochs=3), data)
    assert [r["metrics"]["parameters"] for r in rows] == [16 + 20 + 10, 24 + 14]
    assert all("test_error" in r["metrics"] for r in rows)
    curve = summarize(rows, "parameters", ["test_error"])
    assert [c["parameters"] for c in curve] == [38, 46]


def test_cross_validate_and_ensembles_on_a_pool_match_serial(iris_data):
    from gradflow.nn import mlp
    from gradflow.training import cross_validate, train_ensemble

    X, y = iris_data
    kwargs = dict(k=3, seed=1, epochs=2, optimizer="adam", lr=0.05, backend="jit")
    here = cross_validate(_iris_mlp, X, y, **kwargs)
    with ThreadPoolExecutor(2) as pool:
        there = cross_validate(_iris_mlp, X, y, executor=pool, **kwargs)
        ens_pool = train_ensemble(_iris_mlp, X, y, members=2, bagging=True, executor=pool, epochs=2)
    assert here == there
    ens = train_ensemble(_iris_mlp, X, y, members=2, bagging=True, epochs=2)
    np.testing.assert_array_equal(ens.predict(X), ens_pool.predict(X))
    assert mlp  # the models are mlps built by _iris_mlp


def test_a_failed_fold_on_an_executor_names_the_fold(iris_data):
    from gradflow.training import cross_validate

    X, y = iris_data
    with ThreadPoolExecutor(1) as pool, pytest.raises(RunFailedError, match="fold 0 failed: "):
        cross_validate(_iris_mlp, X, y, k=2, executor=pool, epochs=1, loss="nope")


def test_run_tasks_yields_every_index_once():
    with ThreadPoolExecutor(3) as pool:
        seen = sorted(i for i, out in run_tasks(_square, range(7), 10, executor=pool))
    assert seen == list(range(7))
    outs = dict(run_tasks(_square, [2, "x"], 10))
    assert outs[0]["result"] == 14 and outs[1]["status"] == "error"


def _square(item, shared):
    return item * item + shared


def _iris_mlp(seed):
    from gradflow.nn import mlp

    return mlp([4, 6, 3], seed=seed)


@pytest.fixture(scope="module")
def iris_data():
    from gradflow.data import Standardizer, load_iris

    X, y = load_iris()
    return Standardizer().fit(X).transform(X), y


# ---------------------------------------------------------------------- the sweep file


def write(tmp_path, text, name="s.toml"):
    path = tmp_path / name
    path.write_text(text)
    return path


def test_a_sweep_file_gives_grid_then_runs(tmp_path):
    path = write(
        tmp_path,
        '[base]\ndataset = "iris"\nepochs = 3\n[grid]\nhidden = [4, 8]\nseed = [0, 1]\n'
        '[[runs]]\nhidden = 16\nlr = 0.1\n[plot]\nx = "hidden"\n',
    )
    spec = read_sweep_file(path)
    assert [(c["hidden"], c.get("seed")) for c in spec.configs] == [
        (4, 0), (4, 1), (8, 0), (8, 1), (16, None),
    ]  # fmt: skip
    assert spec.axes == ["hidden", "seed"] and spec.plot == {"x": "hidden"}


@pytest.mark.parametrize(
    "text, says",
    [
        ('[grid]\nhidden = [4, -1]\n[base]\ndataset = "iris"\n', "[grid] hidden = -1: hidden must"),
        ('[base]\ndataset = "iris"\nlr = -1\n[grid]\nseed = [0]\n', "[base] lr: lr must be > 0"),
        ('[base]\ndataset = "iris"\n[[runs]]\nlr = 0.1\n[[runs]]\nlr = nan\n', "entry 2: lr must"),
        ('[base]\ndatset = "iris"\n[grid]\nseed = [0]\n', "[base]: unknown setting 'datset'"),
        ('[base]\ndataset = "iris"\n[grid]\nseed = 3\n', "[grid] seed: a non-empty list"),
        ('[base]\ndataset = "iris"\nseed = 1\n[grid]\nseed = [0]\n', "is set in [base] too"),
        ('[base]\ndataset = "iris"\n', "nothing to run"),
        ("[grid]\nseed = [0, 1]\n", "[base]: no dataset: name one"),
        ('[base]\ndataset = "iris"\n[grid]\nseed = [0, 0]\n', "configs 0 and 1 are the same run"),
        ("[sweep]\nx = 1\n", "unknown entry 'sweep'"),
        ('[base]\ndataset = "iris"\n[grid]\nseed = [0]\n[plot]\nz = "a"\n', "[plot]: unknown key"),
        ("[base\n", "not valid TOML"),
        ('[base]\ndataset = "iris"\n[grid]\nhidden = [[0]]\n', "hidden[0] must be from 1 to 4096"),
    ],
)
def test_a_bad_sweep_file_names_the_file_and_entry(tmp_path, text, says):
    path = write(tmp_path, text)
    with pytest.raises(UsageError) as info:
        read_sweep_file(path)
    message = str(info.value)
    assert message.startswith(f"{path}: ") and says in message and "\n" not in message


def test_results_file_check_names_the_option(tmp_path):
    out = tmp_path / "r.jsonl"
    out.write_text('{"key": "k", "config": {}, "status": "ok"}\n')
    with pytest.raises(UsageError, match="--out .*: holds 1 results already; continue it with --r"):
        ResultsFile.check(out, False, "--out")
    assert ResultsFile.check(out, True, "--out")[0][0]["key"] == "k"


def test_cli_serial_sweep_prints_rows_writes_results_and_plots(tmp_path, monkeypatch, capsys):
    from gradflow.cli import main

    monkeypatch.chdir(tmp_path)
    write(tmp_path, '[base]\ndataset = "iris"\nepochs = 2\n[grid]\nhidden = [3, 6]\n')
    assert main(["sweep", "s.toml", "--serial", "--out", "r.jsonl", "--plot", "c.png"]) == 0
    out = capsys.readouterr().out
    assert "ok     hidden=3" in out and "ok     hidden=6" in out and "plot: c.png" in out
    assert len(Path("r.jsonl").read_text().splitlines()) == 2
    assert Path("c.png").read_bytes()[:4] == b"\x89PNG"


def test_cli_failed_runs_exit_1_after_writing_the_rest(tmp_path, monkeypatch, capsys):
    from gradflow.cli import main

    monkeypatch.chdir(tmp_path)
    write(tmp_path, '[base]\ndataset = "iris"\nepochs = 1\n[grid]\nn_train = [5, 100000]\n')
    assert main(["sweep", "s.toml", "--serial", "--out", "r.jsonl"]) == 1
    err = capsys.readouterr().err
    assert err.strip().splitlines()[-1] == (
        "gradflow sweep: error: 1 of 2 runs failed (see r.jsonl)"
    )
    assert [json.loads(x)["status"] for x in Path("r.jsonl").read_text().splitlines()] == [
        "ok", "error",
    ]  # fmt: skip


# ------------------------------------------------------------------- a real LocalCluster


@pytest.fixture(scope="module")
def cluster():
    """2 worker processes, 1 thread each, started with gradflow's worker environment."""
    if distributed is None:
        pytest.skip('needs dask[distributed] (pip install "gradflow[dask]")')
    from gradflow.executors import local_cluster

    with local_cluster(2) as cluster, distributed.Client(cluster) as client:
        yield cluster, client


@needs_dask
@pytest.mark.slow
def test_on_a_local_cluster_rows_match_serial_and_numba_runs_one_thread(cluster, serial_rows):
    from gradflow.executors import worker_info

    _, client = cluster
    info = client.run(worker_info)
    assert len(info) == 2
    for worker in info.values():
        assert worker["env"] == "1" and worker["NUMBA_NUM_THREADS"] == 1
        assert worker["profiler"] is False and worker["preloaded"]
    rows = sweep(CONFIGS + [FAILS], executor=client)
    assert numbers(rows) == numbers(serial_rows)
    assert rows[-1]["status"] == "error" and "n_train" in rows[-1]["error"]
    assert all(r["worker"].split(":")[-1] != str(os.getpid()) for r in rows)
    # inside a run on a worker, numba runs one thread
    inside = client.submit(_threads_in_a_run, pure=False).result()
    assert inside == (1, 1)


def _threads_in_a_run():
    from gradflow.executors import call_guarded

    out = call_guarded(lambda item, shared: __import__("numba").get_num_threads(), None, None)
    return out["result"], __import__("numba").config.NUMBA_NUM_THREADS


RESUME_SCRIPT = """
import sys
from gradflow.sweep import grid, sweep
configs = grid(dataset="digits", hidden=[4, 6, 8, 10, 12, 14, 16, 18], seed=[0, 1], epochs=30,
               backend="jit")
sweep(configs, executor=sys.argv[1], out=sys.argv[2], resume=True)
"""


@needs_dask
@pytest.mark.slow
def test_resume_after_the_client_is_killed_skips_finished_runs(cluster, tmp_path):
    """A client process runs a sweep on the cluster and is killed (SIGKILL) once some rows
    are written; a new client resumes: finished rows stay as they were and are not run
    again, and every run ends up in the file exactly once."""
    local, client = cluster
    out = tmp_path / "r.jsonl"
    env = {**os.environ, "PYTHONPATH": os.pathsep.join(sys.path)}
    proc = subprocess.Popen(
        [sys.executable, "-c", RESUME_SCRIPT, local.scheduler_address, str(out)], env=env
    )
    try:
        deadline = time.monotonic() + 120
        while time.monotonic() < deadline and proc.poll() is None:
            if out.exists() and len(out.read_text().splitlines()) >= 3:
                break
            time.sleep(0.05)
        assert proc.poll() is None, "the sweep finished before it could be killed"
        proc.kill()
    finally:
        proc.wait()
    before = out.read_text().splitlines()
    assert 3 <= len(before) < 16
    configs = grid(
        dataset="digits", hidden=[4, 6, 8, 10, 12, 14, 16, 18], seed=[0, 1], epochs=30,
        backend="jit",
    )  # fmt: skip
    rows = sweep(configs, executor=client, out=out, resume=True)
    after = out.read_text().splitlines()
    finished = [json.loads(x) for x in before if json.loads(x)["status"] == "ok"]
    assert after[: len(before)] == before  # appended only
    keys = [json.loads(x)["key"] for x in after]
    assert sorted(keys) == sorted(config_key(c) for c in configs)  # each run once
    assert {r["key"]: r for r in rows if r["key"] in {f["key"] for f in finished}} == {
        f["key"]: f for f in finished
    }  # the finished rows come back from the file, unchanged
    assert all(r["status"] == "ok" for r in rows)


@needs_dask
@pytest.mark.slow
def test_executor_dask_starts_and_closes_its_own_cluster():
    rows = sweep(CONFIGS[:2], executor="dask", workers=2)
    assert [r["status"] for r in rows] == ["ok", "ok"]
    assert all(r["worker"].split(":")[-1] != str(os.getpid()) for r in rows)


def test_double_descent_curve_threshold_and_plot(tmp_path):
    from gradflow.sweep import double_descent

    dd = double_descent([64, 2], seeds=[0, 1], n_train=50, epochs=30)
    assert [(r["config"]["hidden"], r["config"]["seed"]) for r in dd.rows] == [
        (64, 0), (64, 1), (2, 0), (2, 1),
    ]  # fmt: skip
    assert [(c["hidden"], c["runs"]) for c in dd.curve] == [(2, 2), (64, 2)]
    narrow, wide = dd.curve
    assert narrow["train_error"] > 0 and wide["train_error"] == 0
    assert dd.threshold == wide["parameters"] == 64 * 64 + 64 + 64 * 10 + 10
    assert dd.plot(tmp_path / "dd.png").read_bytes()[:4] == b"\x89PNG"


@needs_dask
@pytest.mark.slow
def test_workers_get_one_thread_whatever_this_process_has_set(monkeypatch):
    """dask prefers a variable set in the client's process over pre-spawn-environ; after
    `gradflow bench` (NUMBA_NUM_THREADS=2 here) the workers still get 1, and this process
    keeps its own value."""
    from gradflow.executors import local_cluster, worker_info

    monkeypatch.setenv("NUMBA_NUM_THREADS", "2")
    monkeypatch.delenv("OMP_NUM_THREADS", raising=False)
    with local_cluster(1) as cluster, distributed.Client(cluster) as client:
        (info,) = client.run(worker_info).values()
    assert info["env"] == "1" and info["NUMBA_NUM_THREADS"] == 1
    assert os.environ["NUMBA_NUM_THREADS"] == "2" and "OMP_NUM_THREADS" not in os.environ

"""Per-student variants (issue 13, part 2): course values stay the default, the same seed
gives the same variant in every process, every variant is verified three ways, and a
malformed [variants] table is one error naming its line."""

from __future__ import annotations

import json
import subprocess
import sys

import numpy as np
import pytest

from gradflow.cli import main
from gradflow.exercises.errors import ExerciseError
from gradflow.exercises.loader import data_dir, find, load_all, loads
from gradflow.exercises.runner import check
from gradflow.exercises.variants import VariantError, kink, problems, variant

CONVERTED = [ex for ex in load_all() if ex.variants is not None]
NAMES = [ex.name for ex in CONVERTED]


def test_at_least_ten_exercises_declare_variants():
    assert len(CONVERTED) >= 10


@pytest.mark.parametrize("ex", CONVERTED, ids=NAMES)
def test_the_course_values_stay_the_default(ex):
    """The file's [values] are what load() gives, its course numbers (expected) still check
    out, and a variant really varies them for some seed."""
    text = (data_dir() / f"{ex.name}.toml").read_text()
    plain = loads(text.split("\n[variants")[0] + "\n", "course.toml")
    for k, v in plain.values.items():
        assert np.array_equal(ex.values[k], v)
    assert any(q.expected is not None for q in ex.questions)
    assert check(ex).ok
    seen = {json.dumps({k: np.asarray(v).tolist() for k, v in variant(ex, f"s{i}", verify=False)
                        .values.items()}) for i in range(6)}  # fmt: skip
    assert len(seen) > 1


def _values_in_a_new_process(seeds):
    code = (
        "import json, sys\n"
        "from gradflow.exercises.loader import find\n"
        "from gradflow.exercises.variants import variant\n"
        "out = {}\n"
        "for name, seed in json.loads(sys.argv[1]):\n"
        "    v = variant(find(name), seed, verify=False)\n"
        "    out[name + '@' + seed] = [v.attempt, {k: float(x) for k, x in v.values.items()}]\n"
        "print(json.dumps(out, sort_keys=True))\n"
    )
    r = subprocess.run(
        [sys.executable, "-c", code, json.dumps(seeds)],
        capture_output=True,
        text=True,
        timeout=300,
        env={"PYTHONHASHSEED": "random", **__import__("os").environ},
    )
    assert r.returncode == 0, r.stderr
    return json.loads(r.stdout)


def test_the_same_seed_gives_the_same_variant_across_processes():
    seeds = [(n, s) for n in NAMES[:5] for s in ("anna", "s123", "1001")]
    first = _values_in_a_new_process(seeds)
    assert first == _values_in_a_new_process(seeds)
    here = {}
    for name, seed in seeds:
        v = variant(find(name), seed, verify=False)
        here[f"{name}@{seed}"] = [v.attempt, {k: float(x) for k, x in v.values.items()}]
    assert json.loads(json.dumps(here, sort_keys=True)) == first


def test_a_variant_on_a_kink_is_redrawn():
    ex = find("seed002_network")
    redrawn = None
    for i in range(200):
        v = variant(ex, f"k{i}", verify=False)
        if any("kink" in r for r in v.rejected):
            redrawn = v
            break
    assert redrawn is not None, "no seed drew x = 5 (z12 = 0) in 200 tries"
    assert redrawn.attempt >= 1 and kink(redrawn.exercise.solve()) == ""
    sol = redrawn.exercise.solve()
    assert float(sol.nodes["z11"].data) > 0 > float(sol.nodes["z12"].data)  # require holds


def test_a_variant_is_an_exercise_of_its_own():
    v = variant(find("seed002_network"), "s123")
    vx = v.exercise
    assert v.report.ok and vx.name == "seed002_network"
    assert all(q.expected is None for q in vx.questions)  # the course's numbers do not apply
    assert problems(vx, find("seed002_network").variants) == ""


def test_no_variants_declared_or_a_bad_seed():
    with pytest.raises(VariantError, match="declares no"):
        variant(find("parameter_count"), "s1")
    with pytest.raises(VariantError, match="give 1 to 64"):
        variant(find("seed002_network"), "")


BASE = """title = "t"
topic = "x"
difficulty = "easy"
source = { seed = "002", where = "w" }
[values]
x = 2
w = 3
[graph]
y = "relu(w*x)"
[[ask]]
grad = "w"
"""


@pytest.mark.parametrize(
    "table, line, says",
    [
        ("[variants]\nfoo = 1\n", 13, "unknown key(s) in [variants]: foo"),
        ("[variants.values]\nq = [1, 2]\n", 14, "q is not a name in [values]"),
        ("[variants.values]\nx = { from = 3, to = 1 }\n", 14, "from ≤ to and step > 0"),
        ("[variants.values]\nx = { from = 0, to = 1e9, step = 1 }\n", 14, "limit 10000"),
        ("[variants.values]\nx = [[1, 2]]\n", 14, "every choice must be shaped like x"),
        ("[variants.values]\nx = 4\n", 14, "must be { from, to, step } or a list"),
        ('[variants]\nrequire = ["y >> 0"]\n[variants.values]\nx = [1]\n', 14, "require"),
        ('[variants]\nrequire = ["nope > 0"]\n[variants.values]\nx = [1]\n', 14, "unknown name"),
        ("[variants]\ndecimals = 9\n[variants.values]\nx = [1]\n", 14, "decimals must be"),
    ],
)
def test_a_malformed_variants_table_is_one_error_with_its_line(table, line, says):
    with pytest.raises(ExerciseError) as e:
        loads(BASE + "\n" + table, "v.toml")
    assert says in e.value.problem
    assert e.value.line == line, str(e.value)


def test_variant_command_prints_the_student_numbers_and_key(capsys):
    assert main(["exercise", "variant", "seed002_network", "--seed", "s123", "--key"]) == 0
    out = capsys.readouterr().out
    v = variant(find("seed002_network"), "s123")
    assert f"x = {int(v.values['x'])}" in out and "∂L/∂w211 = " in out and "verified" in out


@pytest.mark.slow
def test_a_thousand_variants_check_out_three_ways():
    """1000 variants across the converted exercises: each handed out only after engine =
    SymPy = finite differences; here each is also off every kink and keeps its constraints."""
    per = -(-1000 // len(CONVERTED))
    count = 0
    for ex in CONVERTED:
        for i in range(per):
            v = variant(ex, f"student-{i}")
            assert v.report.ok, (ex.name, i, v.report.table())
            assert all(a.finite for a in v.report.answers)
            assert problems(v.exercise, ex.variants) == ""
            count += 1
    assert count >= 1000

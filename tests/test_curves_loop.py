"""Trials judged on their learning curves through the real study loop: the local executor's stop and
pause of running processes (checkpoints kept, a paused trial continued with nothing lost), a controller
killed mid-ASHA resuming exactly, and the curve benchmark on a small curves table."""

from __future__ import annotations

import collections
import csv
import json
import sys
import time
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from conftest import SCRIPTS, orch_cmd

SPACE = "x: {type: float, low: -1.0, high: 1.0}\ny: {type: float, low: -1.0, high: 1.0}\n"


def epochs_command(log: Path, sleep: float = 0.25) -> str:
    return f"{sys.executable} {SCRIPTS / 'epochs.py'} --x {{x}} --y {{y}} --epochs {{epochs}} --log {log} --sleep {sleep}"


def lineages(log: Path) -> dict[str, list[int]]:
    """Epochs completed per configuration (x), across all of its trials, in the order they were trained."""
    out: dict[str, list[int]] = collections.defaultdict(list)
    for line in log.read_text().splitlines():
        _, x, epoch = line.split()
        out[x].append(int(epoch))
    return out


def test_local_asha_pauses_and_resumes_from_the_checkpoint_with_nothing_lost(tmp_path: Path) -> None:
    """ASHA with real processes: trials below a rung's top are paused (SIGTERM to their process group, the
    checkpoint kept) and resumed later as new trials that continue the checkpoint; across all of a
    configuration's trials every epoch up to the one it reached was trained exactly once."""
    import subprocess

    space, log, root = tmp_path / "space.yaml", tmp_path / "epochs.log", tmp_path / "r"
    space.write_text(SPACE)
    p = subprocess.run([*orch_cmd(), "tune", "--root", str(root), "--study", "a", "--strategy", "asha",
                        "--command", epochs_command(log), "--space", str(space), "--objective", "loss", "--minimize",
                        "--trials", "7", "--min-budget", "1", "--max-budget", "4", "--eta", "2", "--seed", "0"],
                       capture_output=True, text=True, timeout=300)
    assert p.returncode == 0, p.stderr
    rows = list(csv.DictReader(open(root / "studies" / "a" / "trials.csv")))
    assert len(rows) == 7 and {r["status"] for r in rows} == {"SUCCESS"}
    paused = [r for r in rows if r["halted"] == "paused"]
    resumed = [r for r in rows if r["continues"]]
    assert paused and resumed
    by_id = {r["trial_id"]: r for r in rows}
    for r in resumed:  # a continuation starts after the epoch its paused trial reached, on the same configuration
        src = by_id[r["continues"]]
        assert src["halted"] == "paused" and (src["hp:x"], src["hp:y"]) == (r["hp:x"], r["hp:y"])
        first = json.loads((root / "studies" / "a" / "trials" / r["trial_id"] / "progress.jsonl")
                           .read_text().splitlines()[0])["epoch"]
        assert first == int(float(src["budget"])) + 1
    for x, epochs in lineages(log).items():
        assert epochs == list(range(1, max(epochs) + 1)), (x, epochs)  # none lost, none trained twice
    for r in paused:  # its checkpoint stays, at (or, halted mid-epoch, one past) the epoch it reported
        ckpt = json.loads((root / "studies" / "a" / "trials" / r["trial_id"] / "checkpoint" / "state.json").read_text())
        assert ckpt["epoch"] >= int(float(r["budget"]))
    assert "paused after epoch 1" in p.stdout
    journal = [json.loads(x) for x in (root / "studies" / "a" / "journal.jsonl").read_text().splitlines()]
    assert {e["decision"] for e in journal if e["event"] == "halt"} == {"pause"}
    meta = pd.read_csv(root / "metadataset" / "a.csv")
    whole = meta[meta["continues"].notna()].iloc[0]
    assert [e for e, _ in json.loads(whole["curve"])][0] == 1  # a continuation's row has its whole curve


def test_the_local_executor_halts_a_running_trial_and_keeps_its_checkpoint(tmp_path: Path) -> None:
    from orchestrator.executors.local import LocalExecutor
    from orchestrator.spec import JobSpec, StudySpec
    from orchestrator.store.progress import read_points
    from orchestrator.store.study import StudyStore
    from orchestrator.task import Task
    from orchestrator.trial import Trial

    log = tmp_path / "epochs.log"
    spec = StudySpec(name="h", task=Task("cmd", "d", "loss", minimize=True),
                     job=JobSpec("command", command=epochs_command(log, sleep=0.2), cwd=str(tmp_path)), budget=50)
    store = StudyStore.create(tmp_path / "r", spec, "{}")
    trial = Trial("0000", {"x": 0.5, "y": 0.5}, budget=50)
    store.add_trial(trial)
    ex = LocalExecutor(grace=5)
    ex.submit([trial], [store.trial_paths("0000")], throttle=1)
    tp = store.trial_paths("0000")
    deadline = time.time() + 60
    while len(read_points(tp.progress)[0]) < 2 and time.time() < deadline:
        time.sleep(0.05)
    ex.halt("0000")
    outcomes = []
    while not outcomes and time.time() < deadline:
        outcomes = ex.poll()
        time.sleep(0.05)
    assert [o.state for o in outcomes] == ["HALTED"] and not outcomes[0].retryable
    assert not tp.result.exists()  # the loop makes the result from the curve
    reached = json.loads((tp.checkpoint / "state.json").read_text())["epoch"]
    assert 2 <= reached < 50 and reached == max(lineages(log)["0.5"])


def _curves_table(path: Path, tasks: int = 3, configs: int = 60, seed: int = 0) -> Path:
    """A self-contained curves table: hp columns beside task, trial_id, epoch, loss and time."""
    rng = np.random.default_rng(seed)
    xs, ys = rng.uniform(-1, 1, configs), rng.uniform(-1, 1, configs)
    rows = []
    for k in range(tasks):
        cx = 0.2 * k - 0.2
        for i in range(configs):
            final = (xs[i] - cx) ** 2 + ys[i] ** 2
            gap = 0.5 + 0.5 * abs(ys[i])
            for e in (1, 2, 4, 8, 16):
                rows.append({"task": f"t{k}", "trial_id": f"{i:04d}", "epoch": e, "loss": final + gap / e,
                             "time": e * (1.0 + xs[i] ** 2), "hp:x": xs[i], "hp:y": ys[i]})
    pd.DataFrame(rows).to_csv(path, index=False)
    space = {"name": None, "hyperparameters": [
        {"type": "uniform_float", "name": n, "lower": -1.0, "upper": 1.0, "default_value": 0.0, "log": False,
         "meta": None} for n in ("x", "y")], "conditions": [], "forbiddens": [], "python_module_version": "1.2.2",
        "format_version": 0.4}
    path.with_suffix(".json").write_text(json.dumps({"name": "toy-curves", "job": "toy", "objective": "loss",
                                                     "direction": "minimize", "space": space}))
    return path


def _kill_after(n: int) -> type:
    from orchestrator.executors.curve_table import CurveTableExecutor

    class Killed(CurveTableExecutor):
        polls = 0

        def poll(self):  # type: ignore[no-untyped-def]
            type(self).polls += 1
            if type(self).polls > n:
                raise KeyboardInterrupt  # the controller dies here, its trials' files as they are
            return super().poll()

    return Killed


TRIALS, SEED = 20, 1


def _study(root: Path, table: Path, executor_cls: type, name: str = "k", trials: int = TRIALS,
           seed: int = SEED) -> pd.DataFrame:
    """An ASHA study on task t0 of the table, run (or resumed) to its end."""
    from orchestrator.bench.suites import load_suite
    from orchestrator.optimizers.base import config_key
    from orchestrator.plan import Plan
    from orchestrator.session import open_study, study_optimizer
    from orchestrator.spec import AshaOptions, JobSpec, StrategySpec, StudySpec
    from orchestrator.store.study import StudyStore
    from orchestrator.task import Task
    from orchestrator.tune import StudyLoop

    suite = load_suite(str(table))
    t = suite.tasks["t0"]
    curves = t.curves
    assert curves is not None
    rows: dict[str, int] = {}

    def lookup(trial, after):  # type: ignore[no-untyped-def]
        key = config_key(trial.config)
        rows.setdefault(key, t.lookup(trial.config, suite.space, set(rows.values())))
        return rows[key], curves.segment(rows[key], after, trial.budget)

    executor = executor_cls(lookup, "loss")
    if (root / "studies" / name).exists():  # a new controller on the study folder
        store = StudyStore.open(root, name)
        for rec in store.state().records.values():  # the same rows as before: the table's own lookup
            i = int(np.argmin([abs(c["x"] - rec.trial.config["x"]) + abs(c["y"] - rec.trial.config["y"])
                               for c in t.configs]))
            rows[config_key(rec.trial.config)] = i
        loop = StudyLoop(store, executor, study_optimizer(store.spec, store.load_space()))
    else:
        spec = StudySpec(name=name, task=Task("toy", "t0", "loss", minimize=True), job=JobSpec("table", name="toy"),
                         strategy=StrategySpec("asha", AshaOptions(1, 16, 2)), seed=seed, n_trials=trials, max_retries=0)
        loop = open_study(Plan(spec, suite.space, []), root, executor=executor)
    loop.run()
    return pd.read_csv(root / "studies" / name / "trials.csv")


@pytest.mark.parametrize("kill_after", [3, 14, 25, 36])
def test_a_controller_killed_mid_asha_resumes_to_exactly_the_same_study(tmp_path: Path, kill_after: int) -> None:
    from orchestrator.executors.curve_table import CurveTableExecutor

    table = _curves_table(tmp_path / "toy-curves.csv")
    whole = _study(tmp_path / "whole", table, CurveTableExecutor)
    assert (whole["halted"] == "paused").any() and whole["continues"].notna().any()
    killed = _study(tmp_path / "killed", table, _kill_after(kill_after))
    assert len(killed) < TRIALS  # it died mid-study
    resumed = _study(tmp_path / "killed", table, CurveTableExecutor)
    cols = ["trial_id", "status", "objective", "budget", "halted", "continues", "hp:x", "hp:y", "wall_seconds"]
    pd.testing.assert_frame_equal(resumed[cols], whole[cols])


def test_the_curve_benchmark_writes_regret_against_cost(tmp_path: Path) -> None:
    """`orch bench run` on a curves table: asha and meta-asha pause trials and run to the cost of N full
    trials; meta-smac runs N trials; cost.csv has every integer cost from 1 to N."""
    from orchestrator.bench.compare import compare

    table = _curves_table(tmp_path / "toy-curves.csv", tasks=3, configs=40)
    c = compare(str(table), ["random", "meta-smac", "hyperband", "asha", "meta-asha"], seeds=1, trials=4,
                out=tmp_path / "out", workers=1, tasks=["t0"])
    cost = pd.read_csv(tmp_path / "out" / "cost.csv")
    assert list(cost.columns) == ["strategy", "cost", "mean_regret", "ci95"]
    assert sorted(cost["cost"].unique()) == [1, 2, 3, 4] and len(cost) == 5 * 4
    runs = c.runs
    for s in ("asha", "meta-asha", "hyperband"):
        r = runs[runs["strategy"] == s]
        assert r["cost"].iloc[-1] >= 4 and r["cost"].is_monotonic_increasing
        assert len(r) > 4  # more, cheaper trials than full-budget ones
    for s in ("asha", "meta-asha"):
        assert (runs[runs["strategy"] == s]["halted"] == "paused").any()
    assert len(runs[runs["strategy"] == "meta-smac"]) == 4
    acc = pd.read_csv(tmp_path / "out" / "acceptance.csv")
    assert set(acc["strategy"]) == {"random", "meta-smac", "hyperband", "asha", "meta-asha"}
    assert (tmp_path / "out" / "regret_vs_cost_units.png").stat().st_size > 0
    assert "regret against cumulative training cost" in (tmp_path / "out" / "summary.md").read_text()


def test_a_run_on_the_lcbench_curves_stops_trials_early() -> None:
    from orchestrator.bench.runner import RunSpec, run_one
    from orchestrator.bench.suites import NAMED_TABLES

    if not NAMED_TABLES["lcbench-curves"][1].exists():
        pytest.skip("the LCBench curves are not beside the repository")
    rows = run_one(RunSpec("lcbench-curves", "3945", "asha", 0, 2)).rows
    assert rows[-1]["cost"] >= 2 and {r["epochs"] for r in rows} >= {4.0}  # judged from epoch 4 on
    assert all(a["regret"] >= b["regret"] for a, b in zip(rows, rows[1:]))

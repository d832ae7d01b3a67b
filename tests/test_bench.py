"""The benchmark harness: suites, metrics, reproducible comparisons, real-job tables."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from orchestrator.bench import metrics
from orchestrator.bench.compare import compare
from orchestrator.bench.runner import RunSpec, run_one
from orchestrator.bench.suites import hpobench_suite, load_suite
from orchestrator.errors import ConfigError


def test_hpobench_suite_is_the_real_table() -> None:
    suite = hpobench_suite(["car"])
    t = suite.tasks["car"]
    assert len(t.configs) == 30_000 and len(suite.space) == 5
    assert 0 <= t.best < t.worst <= 1 and t.regret(t.best) == 0 and t.regret(t.worst) == 1
    i = t.lookup(t.configs[1234], suite.space)
    assert i == 1234  # exact member
    assert t.features["rows"] == 1728 and t.features["classes"] == 4


def test_metrics_on_a_hand_made_run_table() -> None:
    rows = []
    for strategy, curve in (("random", [0.5, 0.3, 0.3, 0.2]), ("smart", [0.4, 0.2, 0.0, 0.0])):
        for seed in (0, 1):
            for t, r in enumerate(curve, start=1):
                rows.append({"suite": "x", "task": "a", "strategy": strategy, "seed": seed, "trial": t, "regret": r,
                             "cost": 10.0 * t, "value": r})
    runs = pd.DataFrame(rows)
    pr = metrics.per_run(runs, 4).set_index(["strategy", "seed"])
    assert pr.loc[("smart", 0), "trials_to_random100"] == 2  # first trial at or below random's 4-trial 0.2
    assert pr.loc[("random", 0), "trials_to_random100"] == 4
    assert pr.loc[("smart", 0), "trials_to_optimum"] == 3 and pr.loc[("random", 0), "trials_to_optimum"] == 5
    assert pr.loc[("smart", 0), "cost_to_random100"] == 20.0
    summ = metrics.summary(runs).set_index(["strategy", "trials"])
    assert summ.loc[("smart", 3), "mean_rank"] == 1.0 and summ.loc[("random", 3), "mean_rank"] == 2.0
    assert summ.loc[("smart", 1), "mean_regret"] == pytest.approx(0.4) and summ.loc[("smart", 1), "ci95"] == 0.0
    assert metrics.ci95(np.array([1.0, 3.0])) == pytest.approx(1.96 * np.std([1, 3], ddof=1) / np.sqrt(2))
    # against a table's exact reference: random search's 100-trial quality, whatever the runs' length
    pr = metrics.per_run(runs, 4, {"a": 0.25}).set_index(["strategy", "seed"])
    assert pr.loc[("smart", 0), "trials_to_random100"] == 2 and pr.loc[("random", 0), "trials_to_random100"] == 4
    assert "trials to random@100" in metrics.markdown(metrics.headline(runs, 4, ["smart"], {"a": 0.1}), 4, "t", 100)


def test_random_search_quality_on_a_table_is_exact() -> None:
    """The expected best of k rows drawn without replacement, against every k-subset of a small table."""
    from itertools import combinations

    r = np.array([0.7, 0.0, 0.3, 0.9, 0.1, 0.5])
    for k in (1, 2, 4, 6):
        subsets = [min(c) for c in combinations(r, k)]
        assert metrics.expected_best_regret(r, k) == pytest.approx(np.mean(subsets), abs=1e-12)
    assert metrics.expected_best_regret(r, 100) == 0.0  # a table smaller than the draws: its best


def test_runs_are_reproducible_and_do_not_depend_on_workers(tmp_path: Path) -> None:
    kw = dict(suite="hpobench-nn", strategies=["random", "grid", "smac"], seeds=1, trials=12, tasks=["car", "kc1"],
              first_seed=3)
    a = compare(out=tmp_path / "a", workers=1, **kw)  # type: ignore[arg-type]
    b = compare(out=tmp_path / "b", workers=2, **kw)  # type: ignore[arg-type]
    cols = ["suite", "task", "strategy", "seed", "trial", "regret", "cost"]
    assert list(a.runs.columns[: len(cols)]) == cols
    pd.testing.assert_frame_equal(a.runs.reset_index(drop=True), b.runs.reset_index(drop=True))
    assert len(a.runs) == 3 * 2 * 1 * 12
    summ = pd.read_csv(tmp_path / "a" / "summary.csv")
    assert {"strategy", "trials", "mean_regret", "ci95", "mean_rank"} <= set(summ.columns) and len(summ) == 3 * 12
    for f in ("summary.md", "regret_vs_trials.png", "rank_vs_trials.png", "regret_vs_cost.png", "bench.json"):
        assert (tmp_path / "a" / f).stat().st_size > 0
    md = (tmp_path / "a" / "summary.md").read_text()
    assert "| smac |" in md and "regret@10" in md
    # regret never increases along a run; cost never decreases
    for _, g in a.runs.groupby(["strategy", "task", "seed"]):
        assert (np.diff(g["regret"].to_numpy()) <= 1e-15).all() and (np.diff(g["cost"].to_numpy()) >= 0).all()


def test_a_rerun_reuses_finished_runs_and_a_stopped_one_resumes(tmp_path: Path) -> None:
    kw = dict(suite="hpobench-nn", seeds=2, trials=6, tasks=["car", "kc1"])
    fresh = compare(strategies=["random", "smac"], out=tmp_path / "fresh", workers=1, **kw)  # type: ignore[arg-type]
    out = tmp_path / "grown"
    compare(strategies=["random"], out=out, workers=1, **kw)  # type: ignore[arg-type]
    # a stopped comparison left one smac run in its run-by-run log, and a line cut short by the kill
    smac_car0 = run_one(RunSpec("hpobench-nn", "car", "smac", 0, 6))
    line = json.dumps({"suite": "hpobench-nn", "trials": 6, "seconds": 1.0, "rows": smac_car0.rows})
    (out / "runs.partial.jsonl").write_text(line + "\n" + line[:40])
    grown = compare(strategies=["random", "smac"], out=out, workers=1, **kw)  # type: ignore[arg-type]
    assert json.loads((out / "bench.json").read_text())["reused_runs"] == 4 + 1
    pd.testing.assert_frame_equal(grown.runs.reset_index(drop=True), fresh.runs.reset_index(drop=True),
                                  check_dtype=False)
    assert not (out / "runs.partial.jsonl").exists()
    # another trial count is another comparison: nothing reused
    compare(strategies=["random"], out=out, workers=1, **{**kw, "trials": 4})  # type: ignore[arg-type]
    assert json.loads((out / "bench.json").read_text())["reused_runs"] == 0


def test_an_exhausted_strategy_keeps_its_incumbent(tmp_path: Path) -> None:
    r = run_one(RunSpec("hpobench-nn", "car", "random", 0, 5))
    assert [row["trial"] for row in r.rows] == [1, 2, 3, 4, 5]


def test_unknown_suite_and_task() -> None:
    with pytest.raises(ConfigError, match="unknown suite"):
        load_suite("nope-suite")
    with pytest.raises(ConfigError, match="unknown task"):
        compare("hpobench-nn", ["random"], 1, 2, Path("/tmp/never"), tasks=["mars"])


def test_build_table_through_the_executor_then_compare(tmp_path: Path) -> None:
    """A real-job table built with orch's executors (the instant branin job, 3 'datasets')."""
    out = tmp_path / "table" / "branin.csv"

    def build(pool: int, *extra: str, to: Path = out) -> None:
        p = subprocess.run([sys.executable, "-m", "orchestrator.cli", "bench", "build-table", "--job", "branin",
                            "--datasets", "a,b,c", "--pool", str(pool), "--grid-points", "2", "--out", str(to),
                            "--root", str(tmp_path / "results"), "--parallel", "2", *extra], capture_output=True,
                           text=True, timeout=600)
        assert p.returncode == 0, p.stderr

    build(16)
    table = pd.read_csv(out)
    assert set(table["task"]) == {"a", "b", "c"} and len(table) == 3 * 20 and (table["status"] == "SUCCESS").all()
    prov = json.loads(out.with_suffix(".json").read_text())
    assert prov["pool"]["size"] == 20 and prov["job"] == "branin" and set(prov["studies"]) == {"a", "b", "c"}
    for study in prov["studies"].values():  # every table row is a real trial of a real study
        assert (tmp_path / "results" / "studies" / study / "trials.csv").exists()
        assert (tmp_path / "results" / "metadataset" / f"{study}.csv").exists()
    suite = load_suite(str(out))
    assert set(suite.tasks) == {"a", "b", "c"} and len(suite.tasks["a"].configs) == 20
    c = compare(str(out), ["random", "smac"], 2, 8, tmp_path / "cmp", workers=1)
    assert set(c.runs["task"]) == {"a", "b", "c"}
    assert (c.runs["regret"] >= 0).all() and (c.runs["regret"] <= 1).all()

    # growing the pool trains only the new configurations: Sobol points are a prefix of a longer run
    build(24)
    grown = pd.read_csv(out)
    assert len(grown) == 3 * 28 and (grown["status"] == "SUCCESS").all()
    both = table.merge(grown, on=["task", "hp:x1", "hp:x2"], suffixes=("_old", "_new"))
    assert len(both) == 3 * 20 and (both["objective_old"] == both["objective_new"]).all()
    for study in json.loads(out.with_suffix(".json").read_text())["studies"].values():
        trials = pd.read_csv(tmp_path / "results" / "studies" / study / "trials.csv")
        assert trials["origin"].str.contains("reused").sum() == 20, trials["origin"].tolist()

    # a space file instead of the preset: another table, with its own studies
    narrow = tmp_path / "narrow.yaml"
    narrow.write_text("x1: {type: float, low: 0.0, high: 5.0}\nx2: {type: float, low: 0.0, high: 5.0}\n")
    build(8, "--space", str(narrow), to=tmp_path / "table" / "narrow.csv")
    t2 = pd.read_csv(tmp_path / "table" / "narrow.csv")
    assert len(t2) == 3 * 12 and t2["hp:x1"].between(0, 5).all() and t2["hp:x2"].between(0, 5).all()
    prov2 = json.loads((tmp_path / "table" / "narrow.json").read_text())
    assert not set(prov2["studies"].values()) & set(prov["studies"].values())
    assert load_suite(str(tmp_path / "table" / "narrow.csv")).space["x1"].upper == 5.0


def test_a_killed_benchmark_worker_costs_a_fresh_pool_not_the_run() -> None:
    import multiprocessing as mp
    import signal

    from orchestrator.bench.runner import run_all

    specs = [RunSpec("hpobench-nn", task, "random", seed, 5) for task in ("car", "kc1") for seed in range(4)]
    killed: list[int] = []

    def kill_a_worker(_result: object) -> None:
        if not killed:
            child = mp.active_children()[0]
            killed.append(child.pid)
            os.kill(child.pid, signal.SIGKILL)

    results = run_all(specs, workers=2, progress=kill_a_worker)
    assert killed and [r.spec for r in results] == specs
    assert all(len(r.rows) == 5 for r in results)
    again = run_all(specs[:2], workers=1)
    assert [r.rows for r in again] == [r.rows for r in results[:2]]


def test_killing_the_benchmark_controller_ends_its_workers(tmp_path: Path) -> None:
    """SIGKILL to `orch bench run` alone, not its process group (as `kill -9 PID` does): its worker
    processes end with it instead of lingering, idle, for good."""
    import signal
    import time

    cmd = [sys.executable, "-m", "orchestrator.cli", "bench", "run", "--suite", "hpobench-nn", "--strategies", "smac",
           "--seeds", "4", "--trials", "60", "--tasks", "car", "--workers", "2", "--out", str(tmp_path / "b")]
    p = subprocess.Popen(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, start_new_session=True)
    try:
        deadline, workers = time.time() + 120, []
        while time.time() < deadline and len(workers) < 2:
            time.sleep(0.2)
            workers = [w for w in _children(p.pid) if "spawn_main" in _cmdline(w)]
        assert len(workers) == 2
        time.sleep(3)  # past their start-up
        p.send_signal(signal.SIGKILL)
        p.wait(timeout=30)
        deadline = time.time() + 30
        while time.time() < deadline and any(Path(f"/proc/{w}").exists() for w in workers):
            time.sleep(0.1)
        assert not any(Path(f"/proc/{w}").exists() for w in workers)
    finally:
        try:
            os.killpg(p.pid, signal.SIGKILL)  # whatever is left of it, if the test failed
        except ProcessLookupError:
            pass


def _children(pid: int) -> list[int]:
    out = []
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            fields = stat.read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue
        if int(fields[1]) == pid:
            out.append(int(stat.parent.name))
    return out


def _cmdline(pid: int) -> str:
    try:
        return Path(f"/proc/{pid}/cmdline").read_text(errors="replace")
    except OSError:
        return ""


@pytest.mark.parametrize("table", ["fnn-regression-table", "fnn-regression-wide128-table"])
def test_the_committed_real_job_table_is_a_suite(table: str) -> None:
    """results/benchmarks/tables holds the tables behind the README's real-job figures: 6 datasets x 128
    configurations of fnn-regression (15 epochs; the preset space and the wide one), so
    `orch bench run --suite` reruns them without training."""
    path = Path(__file__).resolve().parents[1] / f"results/benchmarks/tables/{table}.csv"
    suite = load_suite(str(path))
    assert len(suite.tasks) == 6 and sorted(len(t.configs) for t in suite.tasks.values()) == [128] * 6
    assert all(np.isfinite(t.objective).all() and (t.cost > 0).all() for t in suite.tasks.values())
    assert set(suite.space.keys()) == {"learning_rate", "batch_size", "neurons", "layers"}
    from orchestrator.bench.runner import suite_cached

    # both tables are named after their job: each run learns from its own table's other tasks
    md = suite_cached(str(path)).meta(exclude="wine-red")
    others = np.concatenate([t.objective for name, t in suite.tasks.items() if name != "wine-red"])
    assert np.allclose(np.sort(md.df["value"].to_numpy(float)), np.sort(others), rtol=1e-9, atol=0)
    r = run_one(RunSpec(str(path), "wine-red", "meta-smac", 0, 6))
    assert [row["origin"] for row in r.rows[:3]] == ["meta: portfolio"] * 3
    regrets = [row["regret"] for row in r.rows]
    assert regrets == sorted(regrets, reverse=True) and regrets[-1] >= 0
    wine = suite.tasks["wine-red"]
    assert regrets[0] < np.median([wine.regret(v) for v in wine.objective])  # the portfolio beats a typical config


def test_meta_smac_tries_a_past_tasks_best_row_on_the_real_job_table() -> None:
    """wine-white's best row is Computers' best too, and 93rd to 121st of 128 on the other four tasks: no
    consensus of the past tasks finds it, trying each past task's own best does (seed 0: trial 5)."""
    path = Path(__file__).resolve().parents[1] / "results/benchmarks/tables/fnn-regression-table.csv"
    rows = run_one(RunSpec(str(path), "wine-white", "meta-smac", 0, 10)).rows
    hit = next(r for r in rows if r["regret"] == 0.0)
    assert hit["origin"] == "meta: incumbent"
    assert [r["origin"] for r in rows[:3]] == ["meta: portfolio"] * 3


def test_every_trial_of_a_table_run_is_a_row_not_evaluated_before() -> None:
    """On a 128-row table a proposal near an evaluated row is a new point a real study would train,
    so it gets the nearest row not yet evaluated; so does a row that already stood in for another."""
    path = Path(__file__).resolve().parents[1] / "results/benchmarks/tables/fnn-regression-table.csv"
    suite = load_suite(str(path))
    t = suite.tasks["diabetes"]
    row = dict(t.configs[7])
    near = {**row, "learning_rate": row["learning_rate"] * 1.01}
    assert t.lookup(near, suite.space) == 7
    other = t.lookup(near, suite.space, {7})
    assert other != 7 and t.lookup(near, suite.space, {7, other}) not in (7, other)
    assert t.lookup(row, suite.space) == 7 and t.lookup(row, suite.space, {3}) == 7
    assert t.lookup(row, suite.space, {7}) == other
    r = run_one(RunSpec(str(path), "diabetes", "smac", 0, 20))  # SMAC searches near its incumbent
    assert len({row["value"] for row in r.rows}) == 20


def test_sigterm_stops_the_whole_table_and_a_rerun_carries_on(tmp_path: Path) -> None:
    """SIGTERM (scancel, kill) to `orch bench build-table` stops cleanly with exit 130 and does not go
    on to the next dataset; the same command then finishes the table."""
    import signal
    import time

    root, out = tmp_path / "results", tmp_path / "t.csv"
    cmd = [sys.executable, "-m", "orchestrator.cli", "bench", "build-table", "--job", "branin", "--datasets", "a,b",
           "--pool", "16", "--grid-points", "0", "--out", str(out), "--root", str(root), "--parallel", "1"]
    p = subprocess.Popen([*cmd, "--job-option", "sleep=0.5"], stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                         text=True, start_new_session=True)
    studies = root / "studies"
    deadline = time.time() + 120
    while time.time() < deadline and len(list(studies.glob("*-a-*/trials/*/result.json"))) < 2:
        time.sleep(0.05)
    p.send_signal(signal.SIGTERM)
    _, err = p.communicate(timeout=120)
    assert p.returncode == 130, err
    assert "interrupted" in err and not list(studies.glob("*-b-*")) and not out.exists()
    done = subprocess.run(cmd, capture_output=True, text=True, timeout=600)
    assert done.returncode == 0, done.stderr
    table = pd.read_csv(out)
    assert len(table) == 32 and (table["status"] == "SUCCESS").all()


def test_a_panel_reports_each_family_the_pooled_rank_and_the_verdicts(tmp_path: Path) -> None:
    """Several suites at once and the pooled meta-dataset: one folder per family, panel.md with the verdicts
    of auto against the references; a strategy that learns nothing is not rerun in the pooled suite."""
    c = compare("fnn-regression,fnn-regression-wide128,pooled", ["random", "transfer-tpe", "auto"], seeds=1,
                trials=5, out=tmp_path / "p", workers=1, tasks=["wine-red"])
    assert set(c.runs["suite"]) == {"fnn-regression", "fnn-regression-wide128", "pooled"}
    for family in ("fnn-regression", "fnn-regression-wide128", "pooled"):
        assert (tmp_path / "p" / family / "summary.md").exists()
    panel = (tmp_path / "p" / "panel.md").read_text()
    assert "mean rank over every family" in panel and "auto against the best reference (transfer-tpe)" in panel
    assert "in the pooled meta-dataset against each family alone" in panel
    pooled = c.runs[(c.runs["suite"] == "pooled") & (c.runs["strategy"] == "random")]
    alone = c.runs[(c.runs["suite"] == "fnn-regression") & (c.runs["strategy"] == "random")]
    assert (pooled[pooled["task"] == "fnn-regression/wine-red"]["value"].tolist()
            == alone[alone["task"] == "wine-red"]["value"].tolist())
    # pooled, wine-red of the preset space also learns from the wide space's tasks (the same job): another start
    auto = c.runs[(c.runs["strategy"] == "auto") & c.runs["suite"].isin(["fnn-regression", "pooled"])
                  & c.runs["task"].isin(["wine-red", "fnn-regression/wine-red"])]
    assert auto.groupby("suite")["value"].apply(tuple).nunique() == 2


def test_a_rerun_reuses_runs_of_tasks_named_by_numbers(tmp_path: Path) -> None:
    """LCBench's tasks are OpenML ids: a rerun read them back from runs.csv as numbers beside the new
    runs' text names and failed to sort them."""
    src = Path(__file__).resolve().parents[1] / "results/benchmarks/tables/fnn-regression-table.csv"
    table = pd.read_csv(src)
    ids = {name: str(126025 + i) for i, name in enumerate(sorted(table["task"].unique()))}
    path = tmp_path / "numbered.csv"
    table.assign(task=table["task"].map(ids)).to_csv(path, index=False)
    shutil.copy(src.with_suffix(".json"), path.with_suffix(".json"))
    kw = dict(suite=str(path), seeds=1, trials=3, tasks=sorted(ids.values())[:2], workers=1)
    compare(strategies=["random"], out=tmp_path / "out", **kw)  # type: ignore[arg-type]
    grown = compare(strategies=["random", "grid"], out=tmp_path / "out", **kw)  # type: ignore[arg-type]
    assert json.loads((tmp_path / "out" / "bench.json").read_text())["reused_runs"] == 2
    assert set(grown.runs["task"]) == set(sorted(ids.values())[:2])

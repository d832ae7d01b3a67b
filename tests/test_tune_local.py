"""Studies end to end on the local executor: every strategy, the command job, crashes, exports."""

from __future__ import annotations

import csv
import json
import subprocess
import sys
from pathlib import Path

import pytest

from orchestrator.errors import ConfigError
from orchestrator.session import TuneRequest, prepare
from orchestrator.store.study import StudyStore
from orchestrator.trial import TrialStatus
from orchestrator.tune import TooManyFailures

from conftest import orch_cmd, quad_command


def run(req: TuneRequest):  # type: ignore[no-untyped-def]
    loop, notes = prepare(req)
    return loop.run(notes)


def read_csv(path: Path) -> list[dict[str, str]]:
    with open(path) as f:
        return list(csv.DictReader(f))


@pytest.mark.parametrize("strategy", ["random", "grid", "smac"])
def test_command_study_each_strategy(root: Path, quad_space: Path, strategy: str) -> None:
    out = run(TuneRequest(root=root, study=f"q-{strategy}", command=quad_command(), space=str(quad_space),
                          objective="loss", minimize=True, strategy=strategy, trials=8, parallel=2, seed=1))
    assert out.progress.done == 8 and out.progress.failed == 0 and not out.interrupted
    store = StudyStore.open(root, f"q-{strategy}")
    rows = read_csv(store.paths.trials_csv)
    assert len(rows) == 8 and {r["status"] for r in rows} == {"SUCCESS"}
    assert len({(r["hp:x"], r["hp:y"]) for r in rows}) == 8  # no configuration twice
    best = min(float(r["objective"]) for r in rows)
    assert out.best is not None and out.best.result is not None and out.best.result.objective == pytest.approx(best)
    meta = read_csv(root / "metadataset" / f"q-{strategy}.csv")
    assert len(meta) == 8 and meta[0]["direction"] == "minimize"
    assert meta[0]["task"].startswith("command-") and meta[0]["task"].endswith(":custom")  # the command's own job
    for r in rows:  # the result the job wrote, and the files DESIGN.md lays out
        tdir = store.paths.trials_dir / r["trial_id"]
        assert (tdir / "config.json").exists() and (tdir / "result.json").exists()
        assert json.loads((tdir / "params.json").read_text()).keys() == {"x", "y"}
    assert (store.paths.dir / "space.json").exists() and (store.paths.dir / "journal.jsonl").exists()


def test_local_trials_spread_over_the_gpus(root: Path, quad_space: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    # the controller's CUDA_VISIBLE_DEVICES lists two GPUs: each running trial sees one, the least
    # busy, so two trials in parallel never share one, and each trial's GPU-hours are counted
    monkeypatch.setenv("CUDA_VISIBLE_DEVICES", "3,5")
    out = run(TuneRequest(root=root, study="gpus", command=quad_command("--sleep 0.3"), space=str(quad_space),
                          objective="loss", minimize=True, strategy="random", trials=4, parallel=2, seed=0))
    assert out.progress.done == 4 and out.progress.failed == 0
    records = sorted(StudyStore.open(root, "gpus").state().finished, key=lambda r: r.trial.trial_id)
    seen = [r.result.metrics["visible_gpu"] for r in records if r.result is not None]
    assert seen[:2] == [3.0, 5.0] and set(seen) == {3.0, 5.0}
    assert all(r.result is not None and r.result.gpu_hours > 0 for r in records)
    monkeypatch.setenv("CUDA_VISIBLE_DEVICES", "")  # none: trials get no GPU and no GPU-hours
    out = run(TuneRequest(root=root, study="nogpu", command=quad_command(), space=str(quad_space),
                          objective="loss", minimize=True, strategy="random", trials=2, parallel=2, seed=0))
    records = StudyStore.open(root, "nogpu").state().finished
    assert all(r.result is not None and "visible_gpu" not in r.result.metrics and r.result.gpu_hours == 0
               for r in records)


def test_visible_gpus_from_the_environment_or_dev(tmp_path: Path) -> None:
    from orchestrator.executors.local import visible_gpus

    for name in ("nvidia0", "nvidia1", "nvidia10", "nvidiactl", "nvidia-uvm", "null"):
        (tmp_path / name).touch()
    assert visible_gpus({}, dev=str(tmp_path)) == ["0", "1", "10"]
    assert visible_gpus({"CUDA_VISIBLE_DEVICES": "2, 0"}, dev=str(tmp_path)) == ["2", "0"]
    assert visible_gpus({"CUDA_VISIBLE_DEVICES": "-1"}, dev=str(tmp_path)) == []
    assert visible_gpus({}, dev=str(tmp_path / "missing")) == []


def test_crashing_trials_are_recorded_with_their_stderr(root: Path, quad_space: Path) -> None:
    out = run(TuneRequest(root=root, study="crashy", command=quad_command("--crash-above 0.5"), space=str(quad_space),
                          objective="loss", minimize=True, strategy="grid", grid_points=3, trials=9, parallel=3))
    rows = read_csv(StudyStore.open(root, "crashy").paths.trials_csv)
    crashed = [r for r in rows if r["status"] == "CRASHED"]
    assert len(crashed) == 3 and out.progress.failed == 3  # the grid's x=1.0 column
    for r in crashed:
        assert float(r["hp:x"]) == 1.0
        assert "command exited with status 3" in r["error"] and "diverged: x=1.0" in r["error"]
    assert out.progress.done == 9


def test_a_study_whose_trials_all_fail_stops_early(root: Path, quad_space: Path) -> None:
    with pytest.raises(TooManyFailures, match=r"first [5-7] trials all crashed.*diverged"):
        run(TuneRequest(root=root, study="broken", command=quad_command("--crash-above -2"), space=str(quad_space),
                        objective="loss", minimize=True, strategy="random", trials=30, parallel=2))
    rows = read_csv(StudyStore.open(root, "broken").paths.trials_csv)
    assert 5 <= len([r for r in rows if r["status"] == "CRASHED"]) <= 7 and len(rows) < 30


def test_metrics_file_missing_or_without_objective(root: Path, quad_space: Path, tmp_path: Path) -> None:
    script = tmp_path / "silent.py"
    script.write_text("import json, os, sys\nif float(sys.argv[1]) > 0: json.dump({'other': 1}, open(os.environ['ORCH_RESULT_FILE'], 'w'))\n")
    out = run(TuneRequest(root=root, study="silent", command=f"{sys.executable} {script} {{x}}", space=str(quad_space),
                          objective="loss", minimize=True, strategy="grid", trials=6, max_failures=10))
    rows = read_csv(StudyStore.open(root, "silent").paths.trials_csv)
    errors = " ".join(r["error"] for r in rows)
    assert out.progress.failed == 6
    assert "wrote no metrics to $ORCH_RESULT_FILE" in errors and "job reported no finite 'loss'" in errors


def test_builtin_default_job_via_cli(root: Path) -> None:
    p = subprocess.run([*orch_cmd(), "tune", "--strategy", "smac", "--trials", "4", "--parallel", "2",
                        "--root", str(root), "--study", "d1", "--epochs", "3"], capture_output=True, text=True, timeout=600)
    assert p.returncode == 0, p.stderr
    first = p.stdout.splitlines()[0]
    assert "running the built-in default job 'digits-mlp'" in first
    assert "best trial" in p.stdout
    rows = read_csv(root / "studies" / "d1" / "trials.csv")
    assert len(rows) == 4 and all(r["status"] == "SUCCESS" for r in rows)
    assert max(float(r["objective"]) for r in rows) > 0.5  # 3 epochs on digits: far above chance (0.1)
    meta = read_csv(root / "metadataset" / "d1.csv")
    assert meta[0]["mf:classes"] == "10" and meta[0]["mf:modality"] == "image"
    st = subprocess.run([*orch_cmd(), "status", "d1", "--root", str(root)], capture_output=True, text=True)
    assert st.returncode == 0 and "4/4 done: 4 succeeded, 0 failed" in st.stdout


def test_bad_values_leave_nothing_behind(root: Path, quad_space: Path) -> None:
    bad = [
        dict(strategy="nope"), dict(trials=0), dict(parallel=0), dict(job="nope"),
        dict(command="python x.py --z {z}"), dict(space="/nonexistent.yaml"),
    ]
    for kw in bad:
        base = dict(root=root, study="bad", command=quad_command(), space=str(quad_space), objective="loss")
        if "job" in kw:
            base.pop("command")
        base.update(kw)
        with pytest.raises(ConfigError):
            run(TuneRequest(**base))  # type: ignore[arg-type]
    assert not (root / "studies" / "bad").exists()


def test_resume_with_more_trials(root: Path, quad_space: Path) -> None:
    req = TuneRequest(root=root, study="grow", command=quad_command(), space=str(quad_space), objective="loss",
                      minimize=True, strategy="smac", trials=4)
    run(req)
    out = run(TuneRequest(root=root, resume="grow", trials=7))
    assert out.progress.done == 7
    rows = read_csv(StudyStore.open(root, "grow").paths.trials_csv)
    assert [r["trial_id"] for r in rows] == [f"{i:04d}" for i in range(7)]
    assert StudyStore.open(root, "grow").spec.n_trials == 7
    assert all(r["status"] == TrialStatus.SUCCESS.value for r in rows)


def test_hyperband_promotions_continue_from_checkpoints(root: Path) -> None:
    out = run(TuneRequest(root=root, study="hb", job="digits-mlp", strategy="hyperband", trials=13, parallel=1,
                          min_budget=1, max_budget=9, seed=0))
    assert out.progress.done == 13 and out.progress.failed == 0
    rows = read_csv(StudyStore.open(root, "hb").paths.trials_csv)
    budgets = [float(r["budget"]) for r in rows]
    assert set(budgets) >= {1.0, 3.0, 9.0}
    promoted = [r for r in rows if r["origin"].startswith("promoted")]
    assert promoted and all(float(r["m:resumed_from_epoch"]) >= 1 for r in promoted)
    assert all(float(r["m:epochs"]) == float(r["budget"]) for r in rows)
    meta = read_csv(root / "metadataset" / "hb.csv")
    assert sorted({float(m["budget"]) for m in meta}) == sorted(set(budgets))
    assert not list((root / "studies" / "hb" / "trials").glob("*/checkpoint/*"))  # removed at the end
    from orchestrator.analysis import load_results

    r = load_results(root, "hb")  # quality is judged at the highest budget only, not against 1-epoch scores
    assert len(r.ok) and (r.ok["budget"] == max(budgets)).all() and float(r.best()["budget"]) == max(budgets)


def test_every_strategy_runs_a_study_of_one_or_two_trials_after_a_past_study(tmp_path: Path) -> None:
    """The first smoke test after one real study: --trials 1 or 2, with something in the meta-dataset."""
    from orchestrator.spec import MetaBnnOptions
    from orchestrator.strategies import STRATEGIES

    root = tmp_path / "r"
    loop, notes = prepare(TuneRequest(root=root, study="past", job="branin", strategy="random", trials=6))
    loop.run(notes)
    for name in ["auto", *STRATEGIES]:
        for trials in ((1, 2) if name == "auto" else (2,)):
            options = MetaBnnOptions(warm_configs=3, steps=50) if name == "meta-bnn" else None
            epochs = 3 if name != "auto" and STRATEGIES[name].fidelity else None  # branin's own is 1 epoch
            loop, notes = prepare(TuneRequest(root=root, study=f"{name}-{trials}", job="branin", strategy=name,
                                              trials=trials, strategy_options=options, epochs=epochs))
            out = loop.run(notes)
            assert out.progress.done == trials and not out.stop_reason.startswith("error"), (name, trials)

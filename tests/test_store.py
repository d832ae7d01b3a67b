"""The study folder: atomic writes, a journal that survives kills, replay, the controller lock."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from orchestrator.errors import ConfigError, StoreCorrupt, StudyLocked
from orchestrator.spec import JobSpec, StudySpec
from orchestrator.store.atomic import atomic_write_json, read_json
from orchestrator.store.export import export_study
from orchestrator.store.journal import Journal
from orchestrator.store.study import StudyStore
from orchestrator.task import Task
from orchestrator.trial import Trial, TrialResult, TrialStatus


def make_spec(name: str = "s") -> StudySpec:
    task = Task(job="command", dataset="toy", objective="loss", minimize=True, features={"rows": 10})
    return StudySpec(name=name, task=task, job=JobSpec(kind="command", command="true"), n_trials=3)


def test_atomic_write_leaves_no_temp_files(tmp_path: Path) -> None:
    p = tmp_path / "a" / "x.json"
    atomic_write_json(p, {"a": 1})
    atomic_write_json(p, {"a": 2})
    assert read_json(p) == {"a": 2}
    assert [f.name for f in p.parent.iterdir()] == ["x.json"]


def test_read_json_names_the_corrupt_file(tmp_path: Path) -> None:
    p = tmp_path / "result.json"
    p.write_text('{"status": "SUCC')
    with pytest.raises(StoreCorrupt, match=f"{p}: corrupt result: invalid JSON"):
        read_json(p, "result")
    p.write_text("")
    with pytest.raises(StoreCorrupt, match="empty file"):
        read_json(p, "result")


def test_journal_skips_a_torn_last_line_and_the_next_writer_cuts_it(tmp_path: Path) -> None:
    j = Journal(tmp_path / "journal.jsonl")
    j.append("a", n=1)
    with open(j.path, "a") as f:
        f.write('{"event": "b", "n"')  # a kill in the middle of an append
    assert [e["event"] for e in j.read()] == ["a"]
    j2 = Journal(j.path)
    j2.append("c", n=3)
    assert [e["event"] for e in j2.read()] == ["a", "c"]


def test_journal_corruption_in_the_middle_is_an_error(tmp_path: Path) -> None:
    p = tmp_path / "journal.jsonl"
    p.write_text('{"event": "a"}\nGARBAGE\n{"event": "b"}\n')
    with pytest.raises(StoreCorrupt, match=r"journal.jsonl: corrupt journal: line 2"):
        Journal(p).read()


def test_create_replay_and_export(tmp_path: Path) -> None:
    store = StudyStore.create(tmp_path, make_spec(), '{"hyperparameters": []}')
    t0, t1, t2 = (Trial(f"000{i}", {"x": i / 10}) for i in range(3))
    for t in (t0, t1, t2):
        store.add_trial(t)
    store.record_submitted(t0, {"backend": "local", "pid": 1})
    store.record_submitted(t1, {"backend": "local", "pid": 2})
    store.record_finished(t0, TrialResult(TrialStatus.SUCCESS, objective=0.5, metrics={"loss": 0.5}))
    store.record_retry(t1, "TIMEOUT")
    st = StudyStore.open(tmp_path, "s").state()
    assert [r.trial.trial_id for r in st.finished] == ["0000"]
    assert st.records["0001"].trial.attempt == 1 and st.records["0001"].handle is None
    assert st.records["0002"].handle is None and st.next_trial_number() == 3
    cfg = read_json(store.trial_paths("0002").config)
    assert cfg["trial"]["config"] == {"x": 0.2} and cfg["job"]["kind"] == "command"
    export_study(store, st.records.values())
    rows = store.paths.trials_csv.read_text().splitlines()
    assert rows[0].startswith("trial_id,status,objective") and len(rows) == 4
    meta = store.paths.metadataset.read_text().splitlines()
    assert len(meta) == 2 and "mf:rows" in meta[0] and "hp:x" in meta[0]


def test_create_refuses_an_existing_study(tmp_path: Path) -> None:
    StudyStore.create(tmp_path, make_spec(), "{}")
    with pytest.raises(ConfigError, match="already exists.*--resume s"):
        StudyStore.create(tmp_path, make_spec(), "{}")


def test_open_reports_corrupt_study_json(tmp_path: Path) -> None:
    store = StudyStore.create(tmp_path, make_spec(), "{}")
    store.paths.study.write_text("{")
    with pytest.raises(StoreCorrupt, match="study.json: corrupt study.json: invalid JSON"):
        StudyStore.open(tmp_path, "s")
    store.paths.study.write_text(json.dumps({"name": "s"}))
    with pytest.raises(StoreCorrupt, match="corrupt study.json: schema_version 0 is not supported"):
        StudyStore.open(tmp_path, "s")
    with pytest.raises(ConfigError, match="no study 'other'"):
        StudyStore.open(tmp_path, "other")


def test_a_corrupt_result_file_is_a_crashed_trial(tmp_path: Path) -> None:
    store = StudyStore.create(tmp_path, make_spec(), "{}")
    store.add_trial(Trial("0000", {"x": 1}))
    store.trial_paths("0000").result.write_text("not json")
    r = store.read_result("0000")
    assert r is not None and r.status is TrialStatus.CRASHED and "corrupt result file" in r.error
    store.trial_paths("0000").result.write_text('{"status": "WEIRD"}')
    r = store.read_result("0000")
    assert r is not None and r.status is TrialStatus.CRASHED


def test_a_retried_continuation_still_continues_its_checkpoint(tmp_path: Path) -> None:
    """A resumed (or promoted) trial that is retried keeps the checkpoint it continues in its config.json:
    a retry whose first attempt saved nothing copies it again instead of training from scratch."""
    from dataclasses import replace

    store = StudyStore.create(tmp_path, make_spec(), "{}")
    store.add_trial(Trial("0000", {"x": 1}))
    resumed = Trial("0001", {"x": 1}, continues="0000")
    store.add_trial(resumed)
    source = str(store.trial_paths("0000").checkpoint)
    assert read_json(store.trial_paths("0001").config)["warm_start_from"] == source
    assert read_json(store.trial_paths("0000").config)["warm_start_from"] is None
    store.record_retry(resumed, "node failure")
    store.write_trial_config(replace(resumed, attempt=1))
    assert read_json(store.trial_paths("0001").config)["warm_start_from"] == source
    asked = [e for e in store.journal.read() if e.get("event") == "asked"]
    assert [e.get("warm_from") for e in asked] == [None, source]


def test_lock_excludes_a_live_controller_and_takes_over_a_dead_one(tmp_path: Path) -> None:
    store = StudyStore.create(tmp_path, make_spec(), "{}")
    with store.locked():
        with pytest.raises(StudyLocked, match="is being run by pid"):
            with StudyStore.open(tmp_path, "s").locked():
                pass
    dead = subprocess.run([sys.executable, "-c", "import os; print(os.getpid())"], capture_output=True, text=True)
    import socket

    store.paths.lock.write_text(f"{dead.stdout.strip()} {socket.gethostname()} 0\n")
    with store.locked():
        assert store.paths.lock.read_text().split()[0] == str(os.getpid())
    assert not store.paths.lock.exists()


def test_a_schema_1_study_json_reads_as_typed_strategy_records() -> None:
    """Studies written before the typed strategy spec keep resuming: their flat option dict is read into
    the strategy's record and its recorded warm start."""
    from orchestrator.spec import FidelityOptions, GridOptions, MetaOptions, StudySpec

    base = {"name": "old", "task": {"job": "command", "dataset": "d", "objective": "loss", "direction": "minimize"},
            "job": {"kind": "command", "command": "true"}, "n_trials": 5, "schema_version": 1}
    meta = StudySpec.from_dict({**base, "strategy": "meta-smac", "meta_roots": ["/r"], "strategy_options": {
        "grid_points": 3, "warm_start": [{"x": 1}, {"x": 2}, {"x": 3}], "warm_reasons": ["a", "b", "c"],
        "warm_selector": "meta-smac", "meta_tasks": [["command:p", 0.5]], "meta_studies": ["p"]}})
    assert meta.strategy.name == "meta-smac" and meta.strategy.options == MetaOptions(warm_configs=3)
    w = meta.strategy.warm
    assert w is not None and w.configs == ({"x": 1}, {"x": 2}, {"x": 3}) and w.studies == ("p",) and w.roots == ("/r",)
    assert w.tasks == (("command:p", 0.5),)
    hb = StudySpec.from_dict({**base, "strategy": "hyperband", "min_budget": 1, "max_budget": 9,
                              "strategy_options": {"min_budget": 1, "max_budget": 9, "eta": 3}})
    assert hb.strategy.options == FidelityOptions(1.0, 9.0, 3) and hb.multi_fidelity
    grid = StudySpec.from_dict({**base, "strategy": "grid", "strategy_options": {"grid_points": 4}})
    assert grid.strategy.options == GridOptions(4) and grid.strategy.warm is None
    for spec in (meta, hb, grid):  # written back as schema 2, read back the same
        again = StudySpec.from_dict(spec.to_dict())
        assert again == spec and spec.to_dict()["schema_version"] == 2

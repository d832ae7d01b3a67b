"""A per-trial time limit on the local executor (issue 22, item 3): a trial past it is stopped and ends
TIMEOUT with its stderr tail, retried like SLURM's TIMEOUT; SLURM-style time strings in seconds."""

from __future__ import annotations

import csv
import json
import time
from pathlib import Path

import pytest

from orchestrator.errors import ConfigError
from orchestrator.executors.base import Outcome
from orchestrator.executors.local import LocalExecutor
from orchestrator.executors.profile import format_seconds, parse_time
from orchestrator.session import TuneRequest, prepare
from orchestrator.store.study import StudyStore
from orchestrator.trial import Trial, TrialStatus

# says something on stderr, then hangs (as a stuck data loader would)
HANG = "echo 'epoch 1: still loading' >&2; sleep 60; echo never >&2"


@pytest.mark.parametrize("text, seconds", [
    ("90", 90 * 60), ("0:30", 30), ("05:07", 5 * 60 + 7), ("1:02:03", 3723), ("2-0", 2 * 86400),
    ("1-12", 36 * 3600), ("1-02:03", 86400 + 2 * 3600 + 3 * 60), ("1-02:03:04", 86400 + 7384), (15, 900),
    (" 10 ", 600),
])
def test_parse_time_reads_slurm_time_strings(text: str | int, seconds: int) -> None:
    assert parse_time(text) == seconds


@pytest.mark.parametrize("text", ["", "abc", "1:2:3:4", "-5", "1-", "1.5", "0", "0:00", "2h", "1-2-3", True])
def test_parse_time_refuses_anything_else_in_one_line(text: object) -> None:
    with pytest.raises(ConfigError, match="--time") as e:
        parse_time(text)  # type: ignore[arg-type]
    assert "\n" not in str(e.value)


def test_parse_time_unlimited_and_formatting() -> None:
    assert parse_time(None) is None and parse_time("UNLIMITED") is None and parse_time("infinite") is None
    assert [format_seconds(s) for s in (2, 90, 3723, 90061)] == ["2 s", "1:30", "1:02:03", "1-01:01:01"]


def _hanging_study(root: Path, quad_space: Path, retries: int) -> tuple[object, list[str]]:
    return prepare(TuneRequest(root=root, study="hang", command=HANG, space=str(quad_space), objective="loss",
                               minimize=True, strategy="random", trials=1, max_retries=retries))


def _wait(executor: LocalExecutor) -> list[Outcome]:
    for _ in range(600):  # a bound on the loop, not a timing assertion
        out = executor.poll()
        if out:
            return out
        time.sleep(0.1)
    raise AssertionError("the trial was never stopped")


def test_a_trial_past_its_time_limit_is_stopped_and_ends_timeout(root: Path, quad_space: Path) -> None:
    loop, _ = _hanging_study(root, quad_space, retries=0)
    loop.optimizer.close()  # type: ignore[attr-defined]
    store = StudyStore.open(root, "hang")
    trial = Trial("0000", {"x": 0.1, "y": 0.2})
    store.add_trial(trial)
    executor = LocalExecutor(parallel=1, time_limit=2, grace=5)
    executor.submit([trial], [store.trial_paths("0000")], throttle=1)
    (outcome,) = _wait(executor)
    assert outcome.state == "TIMEOUT" and outcome.status is TrialStatus.TIMEOUT and outcome.retryable
    assert outcome.detail.splitlines()[0] == "ran past its time limit of 2 s and was stopped"
    assert "epoch 1: still loading" in outcome.detail and "never" not in outcome.detail  # the stderr tail
    assert executor.in_flight == 0
    assert not store.trial_paths("0000").result.exists()  # stopped: no result, so the loop decides


def test_the_study_loop_retries_a_timeout_then_records_it(root: Path, quad_space: Path) -> None:
    loop, notes = _hanging_study(root, quad_space, retries=1)
    loop.executor = LocalExecutor(parallel=1, time_limit=1, grace=5)  # type: ignore[attr-defined]
    out = loop.run(notes)  # type: ignore[attr-defined]
    assert out.progress.done == 1 and out.progress.failed == 1
    store = StudyStore.open(root, "hang")
    (rec,) = store.state().records.values()
    assert rec.result is not None and rec.result.status is TrialStatus.TIMEOUT
    assert len(rec.retries) == 1 and rec.retries[0].startswith("TIMEOUT: ran past its time limit of 1 s")
    assert rec.trial.attempt == 1  # one retry, then recorded
    assert rec.result.error.startswith("TIMEOUT: ran past its time limit of 1 s")
    assert "epoch 1: still loading" in rec.result.error
    with open(store.paths.trials_csv) as f:
        (row,) = list(csv.DictReader(f))
    assert row["status"] == "TIMEOUT" and row["reason"] == "TIMEOUT: ran past its time limit of 1 s and was stopped"
    assert json.loads((store.trial_paths("0000").dir / "result.json").read_text())["status"] == "TIMEOUT"


def test_time_applies_to_local_trials_from_the_command_line(tmp_path: Path) -> None:
    """`orch tune --time` without SLURM: the hung trial is stopped and recorded TIMEOUT, the study goes on."""
    import subprocess

    from conftest import orch_cmd

    space = tmp_path / "space.yaml"
    space.write_text("s: {type: categorical, choices: [hang]}\n")
    root = tmp_path / "r"
    p = subprocess.run([*orch_cmd(), "tune", "--root", str(root), "--study", "hung", "--command", "sleep 60",
                        "--space", str(space), "--objective", "loss", "--trials", "1", "--time", "0:02",
                        "--max-retries", "0", "--strategy", "random", "-q"],
                       capture_output=True, text=True, timeout=120)
    spec = json.loads((root / "studies" / "hung" / "study.json").read_text())
    assert spec["executor"] == {"kind": "local", "time": "0:02"}
    result = json.loads((root / "studies" / "hung" / "trials" / "0000" / "result.json").read_text())
    assert result["status"] == "TIMEOUT" and "time limit of 2 s" in result["error"], (p.stderr, result)

"""Failures people can read (issue 22, item 6, and the status parts of item 8): a failed trial's reason is
the last meaningful line of the user's stderr (or the job's exception), shown by `results`, `status`
and the report; status counts succeeded and failed apart, and a stopped study shows nothing running."""

from __future__ import annotations

import csv
import subprocess
import sys
from pathlib import Path

import pytest

from orchestrator.failures import failure_reason, group_failures, last_meaningful_line, short_error
from orchestrator.session import TuneRequest, prepare
from orchestrator.store.study import StudyStore
from orchestrator.trial import Trial

from conftest import orch_cmd, quad_command


def orch(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([*orch_cmd(), *args], capture_output=True, text=True, timeout=300)


def rows(path: Path) -> list[dict[str, str]]:
    with open(path) as f:
        return list(csv.DictReader(f))


@pytest.fixture(scope="module")
def crashy(tmp_path_factory: pytest.TempPathFactory) -> Path:
    root = tmp_path_factory.mktemp("fail") / "r"
    space = root.parent / "space.yaml"
    space.write_text("x: {type: float, low: -1.0, high: 1.0}\ny: {type: float, low: -1.0, high: 1.0}\n")
    loop, notes = prepare(TuneRequest(root=root, study="crashy", command=quad_command("--crash-above 0.5"),
                                      space=str(space), objective="loss", minimize=True, strategy="grid",
                                      grid_points=3, trials=9, parallel=3))
    loop.run(notes)
    loop, notes = prepare(TuneRequest(root=root, study="chaos", job="chaos", strategy="random", trials=2,
                                      job_options={"mode": "crash", "bad": "all"}, max_failures=10))
    loop.run(notes)
    return root


def test_reason_from_error_texts() -> None:
    assert last_meaningful_line("x\nValueError: bad\n\n  ^^^^\n[orch] stopped by SIGTERM\n----\n") == "ValueError: bad"
    new = "diverged: x=1.0\ncommand exited with status 3; stderr tail:\nloading\ndiverged: x=1.0"
    assert failure_reason(new) == "diverged: x=1.0"
    old = ('Traceback (most recent call last):\n  File "/orch/worker.py", line 3, in run\n    raise CommandFailed(f"...s {code}"'
           ' + (f"; stderr tail...")\njobs.command.CommandFailed: command exited with status 1; stderr tail:\n'
           'Traceback (most recent call last):\n  File "train.py", line 9\nKeyError: \'lr\'\n')
    assert failure_reason(old) == "KeyError: 'lr'"  # an older result: the user's own last line, not orch's source
    slurm = "EXITED: SLURM job 12_3 ended FAILED (exit 1) without a result file; log tail (/x/12_3_0_log.err):\nboom\n"
    assert failure_reason(slurm) == "EXITED: SLURM job 12_3 ended FAILED (exit 1) without a result file: boom"
    assert failure_reason("TIMEOUT: ran past its time limit of 2 s and was stopped\nstderr tail:\nepoch 1") == \
        "TIMEOUT: ran past its time limit of 2 s and was stopped"
    assert short_error(new).startswith("diverged: x=1.0 | command exited with status 3")
    groups = group_failures([("0001", "CRASHED", "a"), ("0002", "CRASHED", "b"), ("0003", "CRASHED", "a")])
    assert [g.line() for g in groups] == ["CRASHED 2 trials (0001, 0003): a", "CRASHED trial 0002: b"]


def test_trials_csv_and_stderr_log_of_a_failed_command(crashy: Path) -> None:
    study = StudyStore.open(crashy, "crashy")
    crashed = [r for r in rows(study.paths.trials_csv) if r["status"] == "CRASHED"]
    assert len(crashed) == 3
    for r in crashed:
        assert r["reason"] == "diverged: x=1.0 is above 0.5"
        assert r["error"].startswith("diverged: x=1.0 is above 0.5 | command exited with status 3")
        log = (study.paths.trials_dir / r["trial_id"] / "stderr.log").read_text()
        assert log.strip() == "diverged: x=1.0 is above 0.5"  # the user's stderr, nothing of orch's appended
    ok = [r for r in rows(study.paths.trials_csv) if r["status"] == "SUCCESS"]
    assert ok and all(r["reason"] == "" and r["error"] == "" for r in ok)


def test_a_builtin_jobs_failure_is_its_exception_without_orchs_frames(crashy: Path) -> None:
    study = StudyStore.open(crashy, "chaos")
    for rec in study.state().records.values():
        assert rec.result is not None
        first = rec.result.error.splitlines()[0]
        assert first == f"RuntimeError: chaos: trial {rec.trial.trial_id} crashes on purpose"
        log = (study.paths.trials_dir / rec.trial.trial_id / "stderr.log").read_text()
        assert "jobs/chaos.py" in log and "orchestrator/worker.py" not in log and "worker.py" not in rec.result.error


def test_results_status_and_report_show_each_failed_trials_reason(crashy: Path, tmp_path: Path) -> None:
    p = orch("results", "crashy", "--root", str(crashy))
    assert p.returncode == 0, p.stderr
    assert "failed: 3 trials" in p.stdout and "CRASHED 3 trials (" in p.stdout
    assert "diverged: x=1.0 is above 0.5" in p.stdout
    s = orch("status", "crashy", "--root", str(crashy))
    assert s.returncode == 0, s.stderr
    assert "9/9 done: 6 succeeded, 3 failed" in s.stdout and "failed trials:" in s.stdout
    assert "CRASHED 3 trials" in s.stdout and "diverged: x=1.0 is above 0.5" in s.stdout
    assert "best loss (min):" in s.stdout
    r = orch("report", "crashy", "--root", str(crashy), "--out", str(tmp_path / "rep"))
    assert r.returncode == 0, r.stderr
    page = (tmp_path / "rep" / "report.html").read_text()
    assert "Failed trials" in page and "diverged: x=1.0 is above 0.5" in page and "6 succeeded, 3 failed" in page


def test_results_json_lists_failures(crashy: Path) -> None:
    import json

    js = json.loads(orch("results", "chaos", "--root", str(crashy), "--json").stdout)
    assert js["succeeded"] == 0 and js["failed"] == 2
    assert {f["reason"] for f in js["failures"]} == {f"RuntimeError: chaos: trial {t} crashes on purpose"
                                                    for t in ("0000", "0001")}


def test_status_table_names_the_metric_and_counts_failures_apart(crashy: Path) -> None:
    p = orch("status", "--root", str(crashy))
    assert p.returncode == 0, p.stderr
    head = p.stdout.splitlines()[1]
    assert "succeeded" in head and "failed" in head and "best loss (min)" in head
    line = next(ln for ln in p.stdout.splitlines() if "crashy" in ln)
    assert "9/9" in line and " 6 " in line and " 3 " in line


def test_a_stopped_study_shows_its_unfinished_trials_not_running(crashy: Path, tmp_path: Path) -> None:
    import shutil

    root = tmp_path / "copy"
    shutil.copytree(crashy, root)
    store = StudyStore.open(root, "crashy")
    store.update_spec(store.spec.with_trials(10))
    trial = Trial("0009", {"x": 0.0, "y": 0.0})
    store.add_trial(trial)  # submitted by a controller that is gone (its worker too)
    store.record_submitted(trial, {"backend": "local", "pid": 2**22 + 7, "start": 1, "host": "elsewhere"})
    s = orch("status", "crashy", "--root", str(root))
    assert s.returncode == 0, s.stderr
    assert "running or queued" not in s.stdout and "(stopped)" in s.stdout and "9/10 done" in s.stdout
    assert "unfinished: 1 trials without a result and no controller" in s.stdout
    assert f"orch tune --resume crashy --root {root}" in s.stdout
    table = orch("status", "--root", str(root)).stdout
    line = next(ln for ln in table.splitlines() if "crashy" in ln)
    assert "stopped" in line and "1 unfinished" in line


def test_status_on_an_empty_root_says_how_to_start(tmp_path: Path) -> None:
    for root in (tmp_path / "missing", tmp_path):
        p = orch("status", "--root", str(root))
        assert p.returncode == 0, p.stderr
        assert "no studies yet" in p.stdout and "orch tune --job digits-mlp" in p.stdout
    assert not (tmp_path / "missing").exists()


def test_jobs_shows_the_conditions() -> None:
    p = orch("jobs")
    assert p.returncode == 0
    assert "momentum: float [0, 0.99]  (only when optimizer == sgd)" in p.stdout
    assert "warmup_ratio: ordinal {0.0, 0.06, 0.1}" in p.stdout


def test_warmup_is_a_fraction_of_the_steps_and_absolute_warmup_is_capped(capsys: pytest.CaptureFixture[str]) -> None:
    from jobs.hf_models import warmup_steps

    assert warmup_steps({"warmup_ratio": 0.1}, 40) == 4
    assert warmup_steps({"warmup_ratio": 0.0}, 40) == 0
    assert warmup_steps({"warmup_steps": 10}, 40) == 10 and capsys.readouterr().out == ""
    assert warmup_steps({"warmup_steps": 500}, 40) == 20  # a whole run at --subsample 200 is 40 steps
    assert "warmup_steps=500 is more than half of this run's 40 optimizer steps: capped at 20" in capsys.readouterr().out
    assert warmup_steps({}, 40) == 0


def test_cli_prints_the_reason_of_each_failed_trial_while_running(tmp_path: Path, quad_space: Path) -> None:
    p = subprocess.run([*orch_cmd(), "tune", "--root", str(tmp_path / "r"), "--command", quad_command("--crash-above 0.5"),
                        "--space", str(quad_space), "--objective", "loss", "--minimize", "--strategy", "grid",
                        "--grid-points", "3", "--trials", "9", "--parallel", "3"],
                       capture_output=True, text=True, timeout=300)
    assert p.returncode == 0, p.stderr
    assert "CRASHED (" in p.stdout and ") diverged: x=1.0 is above 0.5" in p.stdout
    assert "9 trials done, 6 succeeded, 3 failed" in p.stdout
    assert sys.executable  # the trials ran with this interpreter

"""Kill the controller (SIGKILL, Ctrl-C) mid-study; resume finishes with exactly the requested
number of trials, loses none and never runs a finished trial again."""

from __future__ import annotations

import collections
import csv
import os
import signal
import subprocess
import time
from pathlib import Path

import pytest

from conftest import orch_cmd, quad_command

TRIALS = 10


def start(root: Path, space: Path, log: Path, study: str, strategy: str = "smac",
          sleep: float = 0.5) -> subprocess.Popen[str]:
    cmd = [*orch_cmd(), "tune", "--root", str(root), "--study", study, "--strategy", strategy,
           "--command", quad_command(f"--sleep {sleep} --log {log}"), "--space", str(space),
           "--objective", "loss", "--minimize", "--trials", str(TRIALS), "--parallel", "3", "--seed", "4"]
    return subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, start_new_session=True,
                            preexec_fn=_ctrl_c_enabled)


def _ctrl_c_enabled() -> None:
    """The controller as started from a terminal: a suite run in the background (`make test &`, a CI
    runner) hands its children SIGINT ignored, and Python then never raises KeyboardInterrupt."""
    signal.signal(signal.SIGINT, signal.SIG_DFL)


def wait_for_results(root: Path, study: str, n: int, timeout: float = 120) -> None:
    deadline = time.time() + timeout
    while time.time() < deadline:
        if len(list((root / "studies" / study / "trials").glob("*/result.json"))) >= n:
            return
        time.sleep(0.05)
    raise AssertionError(f"fewer than {n} results after {timeout}s")


def resume(root: Path, study: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([*orch_cmd(), "tune", "--root", str(root), "--resume", study], capture_output=True,
                          text=True, timeout=300)


def check_complete(root: Path, study: str, log: Path) -> None:
    with open(root / "studies" / study / "trials.csv") as f:
        rows = list(csv.DictReader(f))
    assert len(rows) == TRIALS
    assert sorted(r["trial_id"] for r in rows) == [f"{i:04d}" for i in range(TRIALS)]
    assert all(r["status"] == "SUCCESS" for r in rows), [r["error"] for r in rows]
    runs = collections.Counter(line.split()[0] for line in log.read_text().splitlines())
    assert set(runs) == {r["trial_id"] for r in rows}
    assert max(runs.values()) == 1, f"a trial ran twice: {runs}"
    with open(root / "metadataset" / f"{study}.csv") as f:
        assert len(list(csv.DictReader(f))) == TRIALS


@pytest.mark.parametrize("after_results, strategy", [(1, "smac"), (4, "smac"), (6, "random")])
def test_sigkill_then_resume(tmp_path: Path, quad_space: Path, after_results: int, strategy: str) -> None:
    root, log, study = tmp_path / "r", tmp_path / "runs.log", "killed"
    ctl = start(root, quad_space, log, study, strategy)
    wait_for_results(root, study, after_results)
    os.kill(ctl.pid, signal.SIGKILL)  # the controller only: its trials keep running
    ctl.wait()
    done = resume(root, study)
    assert done.returncode == 0, done.stderr
    assert "resuming study 'killed'" in done.stdout
    check_complete(root, study, log)


def test_ctrl_c_stops_cleanly_and_says_how_to_resume(tmp_path: Path, quad_space: Path) -> None:
    root, log, study = tmp_path / "r", tmp_path / "runs.log", "interrupted"
    ctl = start(root, quad_space, log, study)
    wait_for_results(root, study, 2)
    os.kill(ctl.pid, signal.SIGINT)
    out, err = ctl.communicate(timeout=60)
    assert ctl.returncode == 130, err
    assert f"orch tune --resume {study} --root {root}" in out
    assert "Traceback" not in out + err
    # the cancelled trials left no result and run again on resume; finished ones do not
    finished_before = {p.parent.name for p in (root / "studies" / study / "trials").glob("*/result.json")}
    done = resume(root, study)
    assert done.returncode == 0, done.stderr
    with open(root / "studies" / study / "trials.csv") as f:
        rows = list(csv.DictReader(f))
    assert len(rows) == TRIALS and all(r["status"] == "SUCCESS" for r in rows)
    runs = collections.Counter(line.split()[0] for line in log.read_text().splitlines())
    assert all(runs[t] == 1 for t in finished_before)


def test_a_second_controller_on_the_same_study_is_refused(tmp_path: Path, quad_space: Path) -> None:
    root, log, study = tmp_path / "r", tmp_path / "runs.log", "busy"
    ctl = start(root, quad_space, log, study, sleep=600)  # its trials outlast the second controller's start
    try:
        deadline = time.time() + 120
        while not list((root / "studies" / study / "trials").glob("*/config.json")) and time.time() < deadline:
            time.sleep(0.05)
        second = resume(root, study)
        assert second.returncode == 1, second.stdout
        assert "is being run by pid" in second.stderr and len(second.stderr.strip().splitlines()) == 1
    finally:
        os.kill(ctl.pid, signal.SIGINT)  # the first stops cleanly (cancelling its trials) and can be resumed
        out, err = ctl.communicate(timeout=120)
    assert ctl.returncode == 130, err
    assert f"orch tune --resume {study} --root {root}" in out


def test_resume_can_change_trials_at_once(tmp_path: Path, quad_space: Path) -> None:
    """`orch tune --resume S --parallel N` runs the rest N at a time (and records it); without --parallel
    a resume keeps the study's own."""
    import json

    root, log = tmp_path / "r", tmp_path / "runs.log"
    base = [*orch_cmd(), "tune", "--root", str(root)]
    first = subprocess.run([*base, "--study", "p", "--strategy", "random", "--command", quad_command(f"--log {log}"),
                            "--space", str(quad_space), "--objective", "loss", "--minimize", "--trials", "2"],
                           capture_output=True, text=True, timeout=300)
    assert first.returncode == 0, first.stderr
    spec = root / "studies" / "p" / "study.json"
    assert json.loads(spec.read_text())["parallel"] == 1
    more = subprocess.run([*base, "--resume", "p", "--trials", "6", "--parallel", "3"], capture_output=True,
                          text=True, timeout=300)
    assert more.returncode == 0, more.stderr
    assert "trials at once changed from 1 to 3" in more.stdout + more.stderr
    assert json.loads(spec.read_text())["parallel"] == 3
    again = subprocess.run([*base, "--resume", "p", "--trials", "7"], capture_output=True, text=True, timeout=300)
    assert again.returncode == 0, again.stderr
    assert json.loads(spec.read_text())["parallel"] == 3
    assert len(log.read_text().splitlines()) == 7


def test_a_broken_environment_on_resume_stops_and_retry_crashed_runs_them_again(tmp_path: Path, quad_space: Path) -> None:
    """A resume whose first trials all crash (here the training script went missing, like a dataset
    path or a module not loaded in the new shell) stops with the last error, even though the study
    had successes; fixed, `--resume S --retry-crashed` runs the crashed trials again as new attempts
    and the study ends with every trial a success, the crashed attempts kept beside them."""
    import json
    import re
    import shutil
    import sys

    from conftest import SCRIPTS

    root, script = tmp_path / "r", tmp_path / "train.py"
    shutil.copy(SCRIPTS / "quadratic.py", script)
    base = [*orch_cmd(), "tune", "--root", str(root)]
    first = subprocess.run([*base, "--study", "env", "--strategy", "random", "--command",
                            f"{sys.executable} {script} --x {{x}} --y {{y}}", "--space", str(quad_space),
                            "--objective", "loss", "--minimize", "--trials", "3"], capture_output=True, text=True,
                           timeout=300)
    assert first.returncode == 0, first.stderr
    script.unlink()
    broken = subprocess.run([*base, "--resume", "env", "--trials", "20", "--parallel", "2"], capture_output=True,
                            text=True, timeout=300)
    assert broken.returncode != 0
    assert re.search(r"the first [56] trials of this run all crashed", broken.stderr) and "train.py" in broken.stderr
    statuses = collections.Counter(r["status"] for r in csv.DictReader(open(root / "studies" / "env" / "trials.csv")))
    assert statuses["SUCCESS"] == 3 and 5 <= statuses["CRASHED"] <= 6 and sum(statuses.values()) < 20
    shutil.copy(SCRIPTS / "quadratic.py", script)
    fixed = subprocess.run([*base, "--resume", "env", "--retry-crashed"], capture_output=True, text=True, timeout=300)
    assert fixed.returncode == 0, fixed.stderr
    again = int(re.search(r"(\d+) crashed trials run again", fixed.stdout + fixed.stderr).group(1))  # type: ignore[union-attr]
    assert again >= statuses["CRASHED"]  # and one in flight at the stop whose crash nobody recorded yet
    rows = list(csv.DictReader(open(root / "studies" / "env" / "trials.csv")))
    assert len(rows) == 20 and {r["status"] for r in rows} == {"SUCCESS"}
    assert len({(r["hp:x"], r["hp:y"]) for r in rows}) == 20
    kept = sorted((root / "studies" / "env" / "trials").glob("*/result.attempt*.json"))
    assert len(kept) == again
    assert all(json.loads(p.read_text())["status"] == "CRASHED" for p in kept)
    assert {int(r["attempt"]) for r in rows} == {0, 1}


def test_retry_crashed_needs_a_study_to_resume(tmp_path: Path, quad_space: Path) -> None:
    p = subprocess.run([*orch_cmd(), "tune", "--root", str(tmp_path), "--command", quad_command(), "--space",
                        str(quad_space), "--objective", "loss", "--retry-crashed"], capture_output=True, text=True)
    assert p.returncode != 0 and "--retry-crashed: only with --resume" in p.stderr
    assert not (tmp_path / "studies").exists()

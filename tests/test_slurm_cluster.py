"""The SLURM executor against the real single-node cluster (slurm/cluster-up.sh).

Skipped where sbatch is absent. Every test drives real sbatch / sacct / scontrol / scancel.
"""

from __future__ import annotations

import csv
import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from conftest import SCRIPTS, cluster_down_reason, orch_cmd, quad_command

pytestmark = pytest.mark.slurm


_why = cluster_down_reason()
if _why:
    pytest.skip(_why, allow_module_level=True)


def uniq(name: str) -> str:
    """Study names are job names in the cluster's accounting: unique per run."""
    import uuid

    return f"{name}-{uuid.uuid4().hex[:6]}"


def orch(*args: str, timeout: float = 600) -> subprocess.CompletedProcess[str]:
    return subprocess.run([*orch_cmd(), *args], capture_output=True, text=True, timeout=timeout)


def rows(root: Path, study: str) -> list[dict[str, str]]:
    with open(root / "studies" / study / "trials.csv") as f:
        return list(csv.DictReader(f))


def journal(root: Path, study: str) -> list[dict]:
    return [json.loads(x) for x in (root / "studies" / study / "journal.jsonl").read_text().splitlines()]


def sacct_jobs(job_name: str) -> list[dict[str, str]]:
    out = subprocess.run(["sacct", "-X", "-n", "-P", "--name", job_name, "-o", "JobID,State,Start,End,AllocTRES"],
                         capture_output=True, text=True).stdout
    keys = ["id", "state", "start", "end", "tres"]
    return [dict(zip(keys, line.split("|"))) for line in out.splitlines() if line.strip()]


def settled_jobs(job_name: str, n: int, timeout: float = 60) -> list[dict[str, str]]:
    """sacct's view once all n jobs have ended (the study finishes on result files, sacct lags)."""
    def ended(j: dict[str, str]) -> bool:
        return j["end"] not in ("", "Unknown", "None") and j["state"] not in ("RUNNING", "PENDING", "COMPLETING")

    jobs: list[dict[str, str]] = []
    deadline = time.time() + timeout
    while time.time() < deadline:
        jobs = sacct_jobs(job_name)
        if len(jobs) >= n and all(ended(j) for j in jobs):
            break
        time.sleep(0.5)
    return jobs


def max_concurrent(jobs: list[dict[str, str]]) -> int:
    from datetime import datetime

    events = []
    for j in jobs:
        if j["start"] in ("", "Unknown", "None") or j["end"] in ("", "Unknown", "None"):
            continue
        s, e = datetime.fromisoformat(j["start"]), datetime.fromisoformat(j["end"])
        events += [(s, 1), (e, -1)]
    best = cur = 0
    for _, d in sorted(events, key=lambda x: (x[0], x[1])):
        cur += d
        best = max(best, cur)
    return best


def wait_until(pred, timeout: float = 120, what: str = "condition") -> None:  # type: ignore[no-untyped-def]
    deadline = time.time() + timeout
    while time.time() < deadline:
        if pred():
            return
        time.sleep(0.2)
    raise AssertionError(f"timed out after {timeout}s waiting for {what}")


def submitted_job(root: Path, study: str, trial_id: str) -> str | None:
    for ev in journal(root, study):
        if ev["event"] == "submitted" and ev["trial_id"] == trial_id:
            return str(ev["handle"]["job_id"])
    return None


def test_smac_study_on_gpu_partition_uses_arrays_and_throttles(tmp_path: Path, quad_space: Path) -> None:
    root, study = tmp_path / "r", uniq("slurm-s1")
    p = orch("tune", "--partition", "gpu", "--gres", "gpu:1", "--strategy", "smac", "--trials", "16",
             "--parallel", "4", "--root", str(root), "--study", study, "--command", quad_command("--sleep 1"),
             "--space", str(quad_space), "--objective", "loss", "--minimize", "-q")
    assert p.returncode == 0, p.stderr
    r = rows(root, study)
    assert len(r) == 16 and all(x["status"] == "SUCCESS" for x in r)
    assert all(x["job_id"] for x in r) and all(x["gpu_hours"] and float(x["gpu_hours"]) > 0 for x in r)
    jobs = settled_jobs(f"orch-{study}", 16)
    assert len(jobs) == 16  # every trial submitted exactly once
    assert any("_" in j["id"] for j in jobs), "the initial design should go out as an array"
    assert all("gres/gpu=1" in j["tres"] for j in jobs)
    assert max_concurrent(jobs) <= 4
    with open(root / "metadataset" / f"{study}.csv") as f:
        assert len(list(csv.DictReader(f))) == 16


def test_arrays_split_at_max_array_size_and_the_throttle_holds(tmp_path: Path, quad_space: Path) -> None:
    from orchestrator.session import TuneRequest, prepare
    from orchestrator.executors.profile import SlurmOptions

    root, study = tmp_path / "r", uniq("split")
    loop, notes = prepare(TuneRequest(root=root, study=study, command=quad_command("--sleep 1"), space=str(quad_space),
                                      objective="loss", minimize=True, strategy="random", trials=10, parallel=3,
                                      slurm=SlurmOptions(partition="cpu")))
    loop.executor._max_array = 4  # as if the cluster's MaxArraySize were 4
    out = loop.run(notes)
    assert out.progress.done == 10 and out.progress.failed == 0
    jobs = settled_jobs(f"orch-{study}", 10)
    arrays = {j["id"].split("_")[0] for j in jobs}
    assert len(jobs) == 10 and len(arrays) >= 3  # 10 trials in arrays of at most 4
    assert max_concurrent(jobs) <= 3
    assert loop.executor.stats.sacct_calls < 60


def test_crash_and_unknown_partition(tmp_path: Path, quad_space: Path) -> None:
    root = tmp_path / "r"
    p = orch("tune", "--partition", "gpu", "--strategy", "grid", "--grid-points", "3", "--trials", "9",
             "--parallel", "3", "--root", str(root), "--study", "crash", "--command", quad_command("--crash-above 0.5"),
             "--space", str(quad_space), "--objective", "loss", "--minimize", "-q")
    assert p.returncode == 0, p.stderr
    crashed = [x for x in rows(root, "crash") if x["status"] == "CRASHED"]
    assert len(crashed) == 3 and all("diverged: x=1.0" in x["error"] for x in crashed)
    assert all(x["attempt"] == "0" for x in crashed)  # a user error is not retried

    for args, needle in ((["--partition", "nope"], "--partition: sbatch refused the job: Invalid partition name specified (--partition=nope)"),
                         (["--partition", "gpu", "--gres", "gpu:64"], "--gres"),
                         (["--partition", "gpu", "--account", "nobody"], "--account"),
                         (["--partition", "gpu", "--qos", "platinum"], "--qos")):
        bad = orch("tune", *args, "--root", str(root), "--study", "bad", "--command", quad_command(),
                   "--space", str(quad_space), "--objective", "loss")
        assert bad.returncode == 2, bad.stderr
        lines = bad.stderr.strip().splitlines()
        assert len(lines) == 1 and needle in lines[0], bad.stderr
        assert not (root / "studies" / "bad").exists()


def test_a_job_that_fails_before_the_trial_starts_is_retried(tmp_path: Path, quad_space: Path) -> None:
    """A job that ends FAILED before orch's worker ran (here a setup line exits; on a real cluster srun
    failing to launch on a dying node) is not the trial's crash: it is retried, then recorded as such."""
    root = tmp_path / "r"
    p = orch("tune", "--partition", "gpu", "--strategy", "random", "--trials", "1", "--root", str(root),
             "--study", "nolaunch", "--command", quad_command(), "--space", str(quad_space), "--objective", "loss",
             "--minimize", "--setup", "exit 7", "-q")
    assert p.returncode != 0 and "the first 1 trials all crashed" in p.stderr  # every trial: a broken set-up
    (row,) = rows(root, "nolaunch")
    assert row["status"] == "CRASHED" and row["attempt"] == "2", row  # two retries
    assert "LAUNCH_FAILED" in row["error"] and "before the trial started (exit code 7:0)" in row["error"]
    assert "after 3 attempts" in row["error"]
    assert not (root / "studies" / "nolaunch" / "trials" / "0000" / "started.json").exists()


def test_scancel_is_recorded_cancelled(tmp_path: Path, quad_space: Path) -> None:
    root, study = tmp_path / "r", uniq("cancel")
    ctl = subprocess.Popen([*orch_cmd(), "tune", "--partition", "cpu", "--strategy", "random", "--trials", "2",
                            "--parallel", "2", "--root", str(root), "--study", study, "--command",
                            quad_command("--sleep 60"), "--space", str(quad_space), "--objective", "loss", "-q"],
                           stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    wait_until(lambda: (root / "studies" / study / "journal.jsonl").exists() and submitted_job(root, study, "0000"),
               what="the first submission")
    job = submitted_job(root, study, "0000")
    wait_until(lambda: "RUNNING" in subprocess.run(["squeue", "-h", "-j", str(job), "-o", "%T"], capture_output=True,
                                                    text=True).stdout, what="the job to run")
    subprocess.run(["scancel", str(job)], check=True)
    job1 = submitted_job(root, study, "0001")
    subprocess.run(["scancel", str(job1)], check=True)
    out, err = ctl.communicate(timeout=120)
    assert ctl.returncode == 0, err
    r = {x["trial_id"]: x for x in rows(root, study)}
    assert r["0000"]["status"] == "CANCELLED" and "CANCELLED" in r["0000"]["error"]
    assert r["0000"]["attempt"] == "0"


def test_requeue_resumes_from_checkpoint(tmp_path: Path) -> None:
    root, study = tmp_path / "r", uniq("requeue")
    space = tmp_path / "s.yaml"
    space.write_text("steps: 24\nunused: {type: float, low: 0, high: 1}\n")
    cmd = f"{sys.executable} {SCRIPTS / 'steps.py'} {{steps}} 0.5"
    ctl = subprocess.Popen([*orch_cmd(), "tune", "--partition", "gpu", "--gres", "gpu:1", "--trials", "1",
                            "--root", str(root), "--study", study, "--command", cmd, "--space", str(space),
                            "--objective", "loss", "--minimize", "-q"], stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                           text=True)
    ckpt = root / "studies" / study / "trials" / "0000" / "checkpoint" / "step.txt"
    wait_until(lambda: ctl.poll() is not None or (ckpt.exists() and int(ckpt.read_text() or 0) >= 4),
               what="4 checkpointed steps")
    assert ctl.poll() is None, ctl.communicate()
    job = submitted_job(root, study, "0000")
    subprocess.run(["scontrol", "requeue", str(job)], check=True)
    out, err = ctl.communicate(timeout=300)
    assert ctl.returncode == 0, err
    r = rows(root, study)
    assert len(r) == 1 and r[0]["status"] == "SUCCESS" and r[0]["attempt"] == "0"
    assert float(r[0]["m:resumed_from"]) >= 4  # the restarted job went on from its checkpoint
    starts = (root / "studies" / study / "trials" / "0000" / "starts.log").read_text().splitlines()
    assert len(starts) == 2 and starts[1].split()[2] == "1"  # SLURM_RESTART_COUNT=1: same job, requeued
    assert len(settled_jobs(f"orch-{study}", 1)) == 1


def test_sigkill_controller_while_jobs_run_then_resume_reattaches(tmp_path: Path, quad_space: Path) -> None:
    root, study = tmp_path / "r", uniq("reattach")
    log = tmp_path / "runs.log"
    ctl = subprocess.Popen([*orch_cmd(), "tune", "--partition", "cpu", "--strategy", "random", "--trials", "8",
                            "--parallel", "4", "--root", str(root), "--study", study, "--command",
                            quad_command(f"--sleep 6 --log {log}"), "--space", str(quad_space),
                            "--objective", "loss", "--minimize", "-q"], start_new_session=True,
                           stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    wait_until(lambda: log.exists() and len(log.read_text().splitlines()) >= 2, what="trials to start")
    os.kill(ctl.pid, signal.SIGKILL)
    ctl.wait()
    before = [e for e in journal(root, study) if e["event"] == "submitted"]
    in_queue = subprocess.run(["squeue", "-h", "--name", f"orch-{study}", "-o", "%i"], capture_output=True,
                              text=True).stdout.split()
    assert in_queue, "jobs should still be queued or running after the controller died"
    done = orch("tune", "--resume", study, "--root", str(root), "-q")
    assert done.returncode == 0, done.stderr
    r = rows(root, study)
    assert len(r) == 8 and all(x["status"] == "SUCCESS" for x in r)
    after = [e for e in journal(root, study) if e["event"] == "submitted"]
    resubmitted = {e["trial_id"] for e in after[len(before):]} & {e["trial_id"] for e in before}
    assert not resubmitted, f"re-attached trials must not be submitted again: {resubmitted}"
    ran = [line.split()[0] for line in log.read_text().splitlines()]
    assert sorted(ran) == sorted(set(ran)) and len(ran) == 8  # each trial ran exactly once
    assert len(settled_jobs(f"orch-{study}", 8)) == 8


def test_sbatch_template_then_ingest(tmp_path: Path, quad_space: Path) -> None:
    root, study = tmp_path / "r", uniq("templ")
    p = orch("sbatch", "--study", study, "--from", "grid", "--grid-points", "2", "--trials", "4", "--parallel", "2",
             "--root", str(root), "--command", quad_command(), "--space", str(quad_space), "--objective", "loss",
             "--minimize", "--partition", "cpu")
    assert p.returncode == 0, p.stderr
    script = next((root / "studies" / study / "sbatch").glob("*.sbatch"))
    text = script.read_text()
    assert "#SBATCH --array=0-3%2" in text and "#SBATCH --partition=cpu" in text
    sub = subprocess.run(["sbatch", "--parsable", str(script)], capture_output=True, text=True, check=True)
    job = sub.stdout.strip()
    wait_until(lambda: not subprocess.run(["squeue", "-h", "-j", job], capture_output=True, text=True).stdout.strip(),
               what="the array to finish")
    ing = orch("ingest", study, "--root", str(root))
    assert ing.returncode == 0 and "ingested 4 results" in ing.stdout, ing.stdout + ing.stderr
    r = rows(root, study)
    assert len(r) == 4 and all(x["status"] == "SUCCESS" for x in r)
    assert {(float(x["hp:x"]), float(x["hp:y"])) for x in r} == {(-1, -1), (-1, 1), (1, -1), (1, 1)}
    again = orch("ingest", study, "--root", str(root))
    assert "ingested 0 results, 4 were already recorded" in again.stdout


@pytest.mark.slow
def test_time_limit_is_retried_then_recorded_timeout(tmp_path: Path) -> None:
    root, study = tmp_path / "r", uniq("timeout")
    space = tmp_path / "s.yaml"
    space.write_text("steps: 2000\nunused: {type: float, low: 0, high: 1}\n")
    cmd = f"{sys.executable} {SCRIPTS / 'steps.py'} {{steps}} 0.5"
    p = orch("tune", "--partition", "cpu", "--time", "1", "--max-retries", "1", "--trials", "1", "--root", str(root),
             "--study", study, "--command", cmd, "--space", str(space), "--objective", "loss", "-q", timeout=900)
    assert p.returncode == 0, p.stderr
    r = rows(root, study)
    assert r[0]["status"] == "TIMEOUT" and r[0]["attempt"] == "1", r
    assert "after 2 attempts" in r[0]["error"]
    steps = (root / "studies" / study / "trials" / "0000" / "starts.log").read_text().splitlines()
    assert len(steps) == 2 and int(steps[1].split()[0]) > 0  # the retry continued from the checkpoint
    assert len(settled_jobs(f"orch-{study}", 2)) == 2


def test_detach_runs_the_controller_as_a_slurm_job(tmp_path: Path, quad_space: Path) -> None:
    root, study = tmp_path / "r", uniq("detach")
    p = orch("tune", "--detach", "--partition", "cpu", "--strategy", "random", "--trials", "4", "--parallel", "2",
             "--root", str(root), "--study", study, "--command", quad_command(), "--space", str(quad_space),
             "--objective", "loss", "--minimize")
    assert p.returncode == 0, p.stderr
    assert "runs in SLURM job" in p.stdout
    ctl_job = p.stdout.split("runs in SLURM job")[1].split(";")[0].strip()
    wait_until(lambda: not subprocess.run(["squeue", "-h", "-j", ctl_job], capture_output=True, text=True).stdout.strip(),
               timeout=180, what="the controller job to finish")
    r = rows(root, study)
    assert len(r) == 4 and all(x["status"] == "SUCCESS" for x in r)
    events = [e["event"] for e in journal(root, study)]
    assert events.index("detached") < max(i for i, e in enumerate(events) if e in ("started", "resumed"))
    assert list((root / "studies" / study / "slurm").glob("controller-*.log"))


def test_hyperband_on_the_cluster(tmp_path: Path) -> None:
    root, study = tmp_path / "r", uniq("hb")
    p = orch("tune", "--partition", "cpu", "--job", "digits-mlp", "--strategy", "hyperband", "--trials", "13",
             "--parallel", "2", "--min-budget", "1", "--max-budget", "9", "--root", str(root), "--study", study, "-q")
    assert p.returncode == 0, p.stderr
    r = rows(root, study)
    assert len(r) == 13 and all(x["status"] == "SUCCESS" for x in r)
    assert {float(x["budget"]) for x in r} >= {1.0, 3.0}
    assert all(x["job_id"] for x in r)


def test_asha_pauses_and_stops_slurm_jobs_and_resumes_one_from_its_checkpoint(tmp_path: Path) -> None:
    """Trials report each epoch from their SLURM jobs; ASHA pauses those below a rung's top (scancel: the
    checkpoint stays) and resumes one later as a new job that continues its checkpoint; across all of a
    configuration's jobs every epoch it reached was trained exactly once. A trial halted for good (the
    study's cost budget spent) keeps its last reported epoch as its result."""
    import collections

    from orchestrator.executors.profile import SlurmOptions
    from orchestrator.session import TuneRequest, prepare

    space, log, root, study = tmp_path / "space.yaml", tmp_path / "epochs.log", tmp_path / "r", uniq("asha")
    space.write_text("x: {type: float, low: -1.0, high: 1.0}\ny: {type: float, low: -1.0, high: 1.0}\n")
    command = (f"{sys.executable} {SCRIPTS / 'epochs.py'} --x {{x}} --y {{y}} --epochs {{epochs}} --log {log} "
               "--sleep 1.0")
    loop, notes = prepare(TuneRequest(root=root, study=study, command=command, space=str(space), objective="loss",
                                      minimize=True, strategy="asha", trials=6, seed=0, min_budget=1, max_budget=4,
                                      eta=2, slurm=SlurmOptions(partition="cpu")))
    out = loop.run(notes)
    assert out.progress.done == 6 and out.progress.failed == 0
    r = rows(root, study)
    paused = [x for x in r if x["halted"] == "paused"]
    resumed = [x for x in r if x["continues"]]
    assert paused and resumed and all(x["job_id"] for x in r)
    assert loop.executor.stats.scancel_calls >= len(paused)
    epochs: dict[str, list[int]] = collections.defaultdict(list)
    for line in log.read_text().splitlines():
        _, x, e = line.split()
        epochs[x].append(int(e))
    for x, trained in epochs.items():
        assert trained == list(range(1, max(trained) + 1)), (x, trained)  # nothing lost, nothing twice
    by_id = {x["trial_id"]: x for x in r}
    for x in resumed:
        src = by_id[x["continues"]]
        ckpt = root / "studies" / study / "trials" / src["trial_id"] / "checkpoint" / "state.json"
        assert json.loads(ckpt.read_text())["epoch"] >= int(float(src["budget"]))  # the paused job's checkpoint
        first = json.loads((root / "studies" / study / "trials" / x["trial_id"] / "progress.jsonl")
                           .read_text().splitlines()[0])["epoch"]
        assert first > int(float(src["budget"]))  # went on after it
    states = {j["state"].split()[0] for j in settled_jobs(f"orch-{study}", 6)}
    assert "CANCELLED" in states  # the paused jobs were scancel'd

    # a trial stopped for good: a study whose cost budget runs out while its one trial trains
    stop_root, stopped = tmp_path / "s", uniq("stop")
    loop, notes = prepare(TuneRequest(root=stop_root, study=stopped, command=command.replace("--sleep 1.0", "--sleep 1.5"),
                                      space=str(space), objective="loss", minimize=True, strategy="random", trials=1,
                                      epochs=30, slurm=SlurmOptions(partition="cpu")))
    loop.curves.max_cost = 6.0  # seconds of training
    assert loop.run(notes).progress.done == 1
    (row,) = rows(stop_root, stopped)
    assert row["status"] == "SUCCESS" and row["halted"] == "stopped" and 1 <= float(row["budget"]) < 30
    ckpt = stop_root / "studies" / stopped / "trials" / "0000" / "checkpoint" / "state.json"
    assert json.loads(ckpt.read_text())["epoch"] >= float(row["budget"])  # the checkpoint stays

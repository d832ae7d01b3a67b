"""Fault injection against the running single-node SLURM dev cluster (`orch bench faults`).

Every scenario runs real studies of the ``chaos`` job through ``orch tune`` (as a user would), injects
its fault several times, lets the study finish (resuming it where the fault was the controller's
death) and then audits it: every trial that finished according to the jobs' own ledger must be
recorded exactly once (``lost`` and ``duplicated`` must be 0), every study must reach its target.
"""

from __future__ import annotations

import csv
import json
import os
import random
import signal
import subprocess
import sys
import time
from collections import Counter
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from orchestrator.errors import ConfigError
from orchestrator.store.atomic import atomic_write_text

SPACE = "chaos"


@dataclass
class FaultResult:
    fault: str
    injected: int
    lost: int
    duplicated: int
    recovery_s: float
    trials: int
    statuses: dict[str, int] = field(default_factory=dict)
    notes: str = ""


def _orch(*args: str, timeout: float = 900) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "PYTHONHASHSEED": "0"}
    return subprocess.run([sys.executable, "-m", "orchestrator.cli", *args], capture_output=True, text=True,
                          timeout=timeout, env=env)


def _start(args: list[str]) -> subprocess.Popen[str]:
    env = {**os.environ, "PYTHONHASHSEED": "0"}
    return subprocess.Popen([sys.executable, "-m", "orchestrator.cli", *args], stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, text=True, start_new_session=True, env=env)


def _tune_args(root: Path, study: str, trials: int, parallel: int, ledger: Path, extra: list[str],
               options: dict[str, Any]) -> list[str]:
    opts = {"ledger": str(ledger), **options}
    args = ["tune", "--job", "chaos", "--strategy", "random", "--trials", str(trials), "--parallel", str(parallel),
            "--root", str(root), "--study", study, "--partition", "cpu", "-q", *extra]
    for k, v in opts.items():
        args += ["-o", f"{k}={v}"]
    return args


def _journal(root: Path, study: str) -> list[dict[str, Any]]:
    path = root / "studies" / study / "journal.jsonl"
    out = []
    for line in path.read_text().splitlines():
        try:
            out.append(json.loads(line))
        except ValueError:
            pass
    return out


def _job_ids(root: Path, study: str) -> dict[str, str]:
    """trial id -> its latest SLURM job id, from the journal."""
    ids: dict[str, str] = {}
    for e in _journal(root, study):
        if e.get("event") == "submitted" and e.get("handle", {}).get("job_id"):
            ids[e["trial_id"]] = str(e["handle"]["job_id"])
    return ids


def _running_jobs(name: str) -> list[str]:
    out = subprocess.run(["squeue", "-h", "--name", name, "-t", "RUNNING", "-o", "%i"], capture_output=True,
                         text=True).stdout
    return out.split()


def _wait(pred: Callable[[], bool], timeout: float, what: str) -> None:
    deadline = time.time() + timeout
    while time.time() < deadline:
        if pred():
            return
        time.sleep(0.2)
    raise TimeoutError(f"timed out after {timeout:.0f}s waiting for {what}")


def audit(root: Path, study: str, ledger: Path, target: int) -> tuple[int, int, dict[str, int]]:
    """(lost, duplicated, status counts) of a finished study against the jobs' own ledger.

    lost: a run that finished cleanly (ledger) whose trial is not recorded SUCCESS, although no later
    attempt was made; or trials missing from the study. duplicated: a trial recorded twice, or the
    same attempt of a trial run to completion twice."""
    with open(root / "studies" / study / "trials.csv") as f:
        rows = {r["trial_id"]: r for r in csv.DictReader(f)}
    with open(root / "studies" / study / "trials.csv") as f:
        ids = Counter(r["trial_id"] for r in csv.DictReader(f))
    statuses = Counter(r["status"] for r in rows.values())
    finished_events = Counter(e["trial_id"] for e in _journal(root, study) if e.get("event") == "finished")
    duplicated = sum(n - 1 for n in ids.values() if n > 1) + sum(n - 1 for n in finished_events.values() if n > 1)
    runs: Counter[tuple[str, int]] = Counter()
    if ledger.exists():
        for line in ledger.read_text().splitlines():
            parts = line.split()
            if len(parts) >= 2:
                runs[(parts[0], int(parts[1]))] += 1
    duplicated += sum(n - 1 for n in runs.values() if n > 1)
    lost = 0
    for (trial, attempt) in runs:
        row = rows.get(trial)
        if row is None or (row["status"] != "SUCCESS" and int(row["attempt"] or 0) <= attempt):
            lost += 1
    done = [r for r in rows.values() if r["status"] not in ("PENDING", "RUNNING")]
    lost += max(0, target - len(done))
    return lost, duplicated, dict(statuses)


def _finished_after(root: Path, study: str, t0: float) -> float | None:
    times = [float(e["t"]) for e in _journal(root, study) if e.get("event") == "finished" and float(e["t"]) > t0]
    return min(times) - t0 if times else None


# --- scenarios ------------------------------------------------------------------------------------


def controller_kill(work: Path, rng: random.Random, repeats: int = 3) -> FaultResult:
    """SIGKILL the controller at random moments while its jobs run; each time resume it."""
    root, study, ledger = work / "results", f"f-ctlkill-{rng.randrange(10**6)}", work / "ctlkill.ledger"
    trials = 24
    resume = ["tune", "--resume", study, "--root", str(root), "-q"]
    p = _start(_tune_args(root, study, trials, 4, ledger, [], {"sleep": 2.5}))
    recov, injected = [], 0
    try:
        for _ in range(repeats):
            time.sleep(rng.uniform(2.0, 6.0))
            if p.poll() is not None:
                break
            os.kill(p.pid, signal.SIGKILL)  # the controller only: its jobs stay in the queue
            p.wait()
            injected += 1
            t0 = time.time()
            p = _start(resume)
            recov.append(_recovery(root, study, t0, p, 120))
        _, err = p.communicate(timeout=900)
    finally:
        if p.poll() is None:
            p.kill()
    lost, dup, st = audit(root, study, ledger, trials)
    return FaultResult("controller SIGKILL + resume", injected, lost, dup, sum(recov) / max(1, len(recov)), trials,
                       st, "" if p.returncode == 0 else (err or "").strip()[-200:])


def _recovery(root: Path, study: str, t0: float, p: subprocess.Popen[str], timeout: float) -> float:
    """Seconds from an injected fault (at ``t0``) to the study's next finished trial (or its end)."""
    _wait(lambda: _finished_after(root, study, t0) is not None or p.poll() is not None, timeout, "progress")
    gap = _finished_after(root, study, t0)
    return gap if gap is not None else time.time() - t0


def _one_study_with(work: Path, rng: random.Random, fault: str, inject: Callable[[Path, str, int], float],
                    repeats: int, trials: int = 12, parallel: int = 4, options: dict[str, Any] | None = None,
                    extra: list[str] | None = None) -> FaultResult:
    root, study = work / "results", f"f-{fault.split()[0].lower()}-{rng.randrange(10**6)}"
    ledger = work / f"{study}.ledger"
    p = _start(_tune_args(root, study, trials, parallel, ledger, extra or [], {"sleep": 4, **(options or {})}))
    recov = []
    try:
        for i in range(repeats):
            t0 = inject(root, study, i)
            recov.append(_recovery(root, study, t0, p, 300))
        out, err = p.communicate(timeout=900)
    finally:
        if p.poll() is None:
            p.kill()
    lost, dup, st = audit(root, study, ledger, trials)
    return FaultResult(fault, repeats, lost, dup, sum(recov) / max(1, len(recov)), trials, st,
                       "" if p.returncode == 0 else (err or "").strip()[-200:])


def _pick_running(study: str, used: set[str]) -> str:
    holder: list[str] = []

    def ready() -> bool:
        free = [j for j in _running_jobs(f"orch-{study}") if j not in used]
        if free:
            holder.append(free[0])
        return bool(free)

    _wait(ready, 180, "a running trial to hit")
    used.add(holder[0])
    return holder[0]


def scancel(work: Path, rng: random.Random, repeats: int = 3) -> FaultResult:
    used: set[str] = set()

    def inject(root: Path, study: str, i: int) -> float:
        job = _pick_running(study, used)
        subprocess.run(["scancel", job], check=True)
        return time.time()

    return _one_study_with(work, rng, "scancel of running trials", inject, repeats)


def requeue(work: Path, rng: random.Random, repeats: int = 3) -> FaultResult:
    used: set[str] = set()

    def inject(root: Path, study: str, i: int) -> float:
        job = _pick_running(study, used)
        subprocess.run(["scontrol", "requeue", job], check=True)  # what a preemption with requeue does
        return time.time()

    return _one_study_with(work, rng, "preemption (scontrol requeue)", inject, repeats)


def node_failure(work: Path, rng: random.Random, repeats: int = 3) -> FaultResult:
    """The node dies: its trials' processes, the job steps and slurmd are killed; slurmd comes back
    after SlurmdTimeout has marked the node down (25-35 s), as after a reboot."""

    def inject(root: Path, study: str, i: int) -> float:
        _wait(lambda: len(_running_jobs(f"orch-{study}")) > 0, 180, "running trials")
        # all at once, as a power cut would: first whatever could report the failure, then the work
        os.kill(int(Path("/run/slurmd.pid").read_text()), signal.SIGKILL)
        subprocess.run(["pkill", "-9", "slurmstepd"], check=False)
        subprocess.run(["pkill", "-9", "-f", "slurm_script"], check=False)
        subprocess.run(["pkill", "-9", "-f", "submitit.core._submit"], check=False)
        t0 = time.time()
        time.sleep(rng.uniform(25, 35))
        subprocess.run(["/usr/sbin/slurmd"], check=True)
        return t0

    return _one_study_with(work, rng, "node failure (slurmd + steps killed)", inject, repeats, trials=12,
                           extra=["--max-retries", "3"])


def _misbehaving(work: Path, rng: random.Random, fault: str, mode: str, repeats: int, **options: Any) -> FaultResult:
    bad = ",".join(f"{i:04d}" for i in rng.sample(range(12), repeats))
    extra = ["--mem", str(options.pop("mem"))] if "mem" in options else []
    if "time" in options:
        extra += ["--time", str(options.pop("time")), "--max-retries", "1"]
    root, study = work / "results", f"f-{mode}-{rng.randrange(10**6)}"
    ledger = work / f"{study}.ledger"
    t0 = time.time()
    done = _orch(*_tune_args(root, study, 12, 4, ledger, extra, {"sleep": 1, "mode": mode, "bad": bad, **options}),
                 timeout=1800)
    lost, dup, st = audit(root, study, ledger, 12)
    rows = list(csv.DictReader(open(root / "studies" / study / "trials.csv")))
    hit = [r for r in rows if r["trial_id"] in bad.split(",")]
    wrongly_ok = sum(1 for r in hit if r["status"] == "SUCCESS" and mode != "slow")
    del t0
    return FaultResult(fault, repeats, lost + wrongly_ok, dup, _detection_latency(root, study, bad.split(",")), 12,
                       st, "" if done.returncode == 0 else done.stderr.strip()[-200:])


def _detection_latency(root: Path, study: str, trials: list[str]) -> float:
    """Mean seconds from a misbehaving job's end (sacct End) to the controller recording its trial."""
    from datetime import datetime

    events = _journal(root, study)
    jobs: dict[str, str] = {}
    recorded: dict[str, float] = {}
    for e in events:
        if e.get("event") == "submitted" and e["trial_id"] in trials and e["attempt"] == 0:
            jobs[e["trial_id"]] = str(e["handle"]["job_id"])
        if e.get("event") in ("finished", "retry") and e["trial_id"] in trials and e["trial_id"] not in recorded:
            recorded[e["trial_id"]] = float(e["t"])
    out = subprocess.run(["sacct", "-X", "-n", "-P", "-o", "JobID,End", "-j", ",".join(jobs.values())],
                         capture_output=True, text=True).stdout if jobs else ""
    ends = {}
    for line in out.splitlines():
        jid, _, end = line.partition("|")
        if end[:2] == "20":
            ends[jid] = datetime.fromisoformat(end).timestamp()
    gaps = [recorded[t] - ends[j] for t, j in jobs.items() if t in recorded and j in ends]
    return sum(gaps) / len(gaps) if gaps else float("nan")


def bad_results(work: Path, rng: random.Random, repeats: int = 3) -> list[FaultResult]:
    return [
        _misbehaving(work, rng, "truncated result file", "truncate", repeats),
        _misbehaving(work, rng, "non-JSON result file", "garbage", repeats),
        _misbehaving(work, rng, "job deletes its trial folder", "delete-dir", repeats),
        _misbehaving(work, rng, "out of memory (over --mem)", "oom", repeats, mem="400M", oom_mb=1500),
        _misbehaving(work, rng, "time limit", "slow", repeats, time=1, slow=400),
    ]


def concurrent_studies(work: Path, rng: random.Random, studies: int = 8) -> FaultResult:
    """Several controllers writing into one results root and one meta-dataset at the same time."""
    root = work / "results"
    names = [f"f-conc{i}-{rng.randrange(10**6)}" for i in range(studies)]
    procs = [(_start(_tune_args(root, n, 8, 2, work / f"{n}.ledger", [], {"sleep": 0.5})), n) for n in names]
    lost = dup = 0
    notes = []
    statuses: Counter[str] = Counter()
    for p, n in procs:
        _, err = p.communicate(timeout=1800)
        if p.returncode != 0:
            notes.append(err.strip()[-120:])
        l_, d_, st = audit(root, n, work / f"{n}.ledger", 8)
        lost, dup = lost + l_, dup + d_
        statuses.update(st)
    from orchestrator.metalearning.metadata import MetaData

    md = MetaData.load([root])
    missing = [n for n in names if n not in set(md.df["study"])]
    lost += sum(8 - int((md.df["study"] == n).sum()) for n in names if n not in missing) + 8 * len(missing)
    return FaultResult(f"{studies} concurrent studies, one root", studies, lost, dup, 0.0, 8 * studies, dict(statuses),
                       "; ".join(notes + md.problems)[:300])


def _rss_mb() -> float:
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    return 0.0


@dataclass
class LoadResult:
    trials: int
    parallel: int
    max_array_size: int
    cluster_max_array_size: int
    wall_s: float
    trials_per_s: float
    arrays: int
    largest_array: int
    max_concurrent: int
    sacct_calls: int
    sacct_per_min: float
    squeue_calls: int
    rss_start_mb: float
    rss_end_mb: float
    rss_max_mb: float
    lost: int
    duplicated: int


def load(work: Path, trials: int = 1000, parallel: int = 6, max_array: int = 100) -> LoadResult:
    """1,000 trivial trials through SLURM arrays with a small MaxArraySize: arrays are split, the %N
    throttle holds, sacct calls stay bounded and the controller's memory stays flat."""
    from orchestrator.executors.profile import SlurmOptions
    from orchestrator.session import TuneRequest, prepare
    from orchestrator.tune import NullReporter

    root, study = work / "results", f"f-load-{int(time.time())}"
    ledger = work / f"{study}.ledger"  # one per run: a second run in the same folder must not count the first
    samples: list[float] = []

    class Sampler(NullReporter):
        def progress(self, progress: Any) -> None:
            samples.append(_rss_mb())

    loop, notes = prepare(TuneRequest(root=root, study=study, job="chaos", strategy="random", trials=trials,
                                      parallel=parallel, slurm=SlurmOptions(partition="cpu"),
                                      job_options={"ledger": str(ledger)}), Sampler())
    ex = loop.executor
    cluster_max = ex.max_array  # type: ignore[attr-defined]
    if cluster_max > max_array:
        ex._max_array = max_array  # type: ignore[attr-defined]  # as if the cluster's were this small
    arrays: list[int] = []
    submit = ex.submit

    def counting_submit(trials_: Any, paths: Any, throttle: int) -> Any:
        arrays.append(len(trials_))
        return submit(trials_, paths, throttle)

    ex.submit = counting_submit  # type: ignore[method-assign]
    rss0 = _rss_mb()
    t0 = time.time()
    loop.run(notes)
    wall = time.time() - t0
    stats = ex.stats  # type: ignore[attr-defined]
    out = subprocess.run(["sacct", "-X", "-n", "-P", "--name", f"orch-{study}", "-o", "Start,End"],
                         capture_output=True, text=True).stdout
    events = []
    for line in out.splitlines():
        a, _, b = line.partition("|")
        if a[:2] == "20" and b[:2] == "20":
            events += [(a, 1), (b, -1)]
    cur = peak = 0
    for _, d in sorted(events, key=lambda e: (e[0], e[1])):
        cur += d
        peak = max(peak, cur)
    lost, dup, _ = audit(root, study, ledger, trials)
    rss_end = _rss_mb()
    result = LoadResult(trials, parallel, min(max_array, cluster_max), cluster_max, wall, trials / wall,
                        len([a for a in arrays if a > 1]), max(arrays) if arrays else 0, peak, stats.sacct_calls,
                        stats.sacct_calls / (wall / 60), stats.squeue_calls, rss0, rss_end,
                        max([rss0, rss_end, *samples]), lost, dup)
    atomic_write_text(work.parent / "load.json", json.dumps(asdict(result), indent=2))
    return result


SCENARIOS: dict[str, Callable[[Path, random.Random], Any]] = {
    "controller-kill": controller_kill, "scancel": scancel, "requeue": requeue, "node-failure": node_failure,
    "bad-results": bad_results, "concurrency": concurrent_studies,
}


def scenarios(only: str | None) -> list[str]:
    """The scenarios `--only` names (all of them, and the load run, without it), on a cluster that answers."""
    from orchestrator.executors.slurm import slurm_available

    if not slurm_available():
        raise ConfigError("orch bench faults: no SLURM cluster here (start one with slurm/cluster-up.sh)")
    names = [n.strip() for n in only.split(",")] if only else [*SCENARIOS, "load"]
    unknown = [n for n in names if n not in SCENARIOS and n != "load"]
    if unknown:
        raise ConfigError(f"--only: unknown scenario(s) {', '.join(unknown)}")
    return names


def run_faults(out: Path, only: list[str] | None = None, seed: int = 0,
               progress: Callable[[FaultResult], None] | None = None) -> list[FaultResult]:
    rng = random.Random(seed)
    out.mkdir(parents=True, exist_ok=True)
    results: list[FaultResult] = []
    for name, fn in SCENARIOS.items():
        if only and name not in only:
            continue
        got = fn(out / name, rng)
        for r in got if isinstance(got, list) else [got]:
            results.append(r)
            if progress:
                progress(r)
    with open(out / "faults.csv", "w", newline="") as f:
        w = csv.DictWriter(f, fieldnames=list(asdict(results[0]).keys()) if results else ["fault"])
        w.writeheader()
        for r in results:
            row = asdict(r)
            row["statuses"] = json.dumps(row["statuses"])
            w.writerow(row)
    return results

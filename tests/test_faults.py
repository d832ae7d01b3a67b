"""Fault injection on the real single-node cluster: each fault once here (`orch bench faults` injects
each at least three times); every finished trial recorded exactly once, every study complete.

Run alone with `pytest -m faults`. Skipped where the dev cluster is not running.
"""

from __future__ import annotations

import random
import subprocess
from pathlib import Path

import pytest

from conftest import cluster_down_reason
from orchestrator.bench import faults as F

pytestmark = [pytest.mark.slurm, pytest.mark.faults]


_why = cluster_down_reason()
if _why:
    pytest.skip(_why, allow_module_level=True)


def check(r: F.FaultResult) -> None:
    assert r.lost == 0 and r.duplicated == 0, r
    assert r.injected >= 1 and not r.notes, r
    assert sum(r.statuses.values()) == r.trials, r


def test_controller_sigkill_then_resume(tmp_path: Path) -> None:
    check(F.controller_kill(tmp_path, random.Random(11), repeats=2))


def test_scancel_of_a_running_trial(tmp_path: Path) -> None:
    r = F.scancel(tmp_path, random.Random(12), repeats=1)
    check(r)


def test_preemption_requeue(tmp_path: Path) -> None:
    r = F.requeue(tmp_path, random.Random(13), repeats=1)
    check(r)
    assert r.statuses == {"SUCCESS": r.trials}  # a requeued trial runs on and succeeds


def test_node_failure(tmp_path: Path) -> None:
    r = F.node_failure(tmp_path, random.Random(14), repeats=1)
    check(r)
    assert r.statuses == {"SUCCESS": r.trials}
    assert "idle" in subprocess.run(["sinfo", "-h", "-o", "%T"], capture_output=True, text=True).stdout


@pytest.mark.parametrize("mode, kw", [("truncate", {}), ("garbage", {}), ("delete-dir", {}),
                                      ("oom", {"mem": "400M", "oom_mb": 1500})])
def test_misbehaving_jobs(tmp_path: Path, mode: str, kw: dict) -> None:
    r = F._misbehaving(tmp_path, random.Random(15), mode, mode, 2, **kw)
    check(r)
    assert r.statuses.get("CRASHED") == 2 and r.statuses.get("SUCCESS") == 10


def test_concurrent_studies_share_one_root(tmp_path: Path) -> None:
    check(F.concurrent_studies(tmp_path, random.Random(16), studies=4))


def test_load_arrays_split_and_throttled(tmp_path: Path) -> None:
    lr = F.load(tmp_path, trials=120, parallel=6, max_array=40)
    assert lr.lost == 0 and lr.duplicated == 0
    assert lr.largest_array <= 40 and lr.arrays >= 3
    assert lr.max_concurrent <= 6
    assert lr.rss_end_mb - lr.rss_start_mb < 50

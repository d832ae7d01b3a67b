"""chaos: a trivial job that misbehaves on purpose, for orch's fault-injection suite.

Evaluates the Branin function after ``sleep`` seconds; trials whose id is in ``bad`` (comma-
separated ids, or ``all``) then do what ``mode`` says: ``truncate`` (write half a result.json and
die before the worker can write its own), ``garbage`` (write non-JSON there), ``delete-dir``
(remove their own trial folder), ``oom`` (allocate ``oom_mb`` MiB, over the job's --mem),
``crash`` (raise), ``slow`` (sleep ``slow`` seconds: past a time limit). Every clean finish is
appended to ``ledger`` (one line per finished run) so tests can count lost and duplicated trials.
"""

from __future__ import annotations

import os
import shutil
import time
from typing import Any

from jobs.context import JobContext
from jobs.synthetic import branin


def _selected(ctx: JobContext) -> bool:
    bad = str(ctx.options.get("bad", ""))
    return bad == "all" or ctx.trial_id in {b.strip() for b in bad.split(",") if b.strip()}


def task_features(options: dict[str, Any]) -> dict[str, Any]:
    return {"dimensions": 2, "modality": "synthetic", "family": "chaos"}


def run(config: dict[str, Any], budget: float | None, ctx: JobContext) -> dict[str, float]:
    pause = float(ctx.options.get("sleep", 0) or 0)
    mode = str(ctx.options.get("mode", ""))
    if pause:
        time.sleep(pause)
    if mode and _selected(ctx) and ctx.attempt == 0:
        result = ctx.trial_dir / "result.json"
        if mode == "truncate":
            result.write_text('{"status": "SUCCESS", "objective": 1.2')
            os._exit(0)
        if mode == "garbage":
            result.write_text("this is not JSON\x00\x01")
            os._exit(0)
        if mode == "delete-dir":
            shutil.rmtree(ctx.trial_dir, ignore_errors=True)
            os._exit(0)
        if mode == "oom":
            chunks = []
            for _ in range(int(ctx.options.get("oom_mb", 2048)) // 64):
                chunks.append(bytearray(64 * 1024 * 1024))  # touched pages: real resident memory
                time.sleep(0.05)
            time.sleep(30)
        if mode == "crash":
            raise RuntimeError(f"chaos: trial {ctx.trial_id} crashes on purpose")
        if mode == "slow":
            time.sleep(float(ctx.options.get("slow", 600)))
    value = branin(float(config["x1"]), float(config["x2"]))
    ledger = ctx.options.get("ledger")
    if ledger:
        with open(str(ledger), "a") as f:
            f.write(f"{ctx.trial_id} {ctx.attempt} {os.getpid()} {time.time():.3f}\n")
    return {"loss": value}

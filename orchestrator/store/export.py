"""trials.csv and metadataset/<study>.csv: flat tables rebuilt from the study state, atomically.

The meta-dataset schema lives here (``META_COLUMNS``, ``META_SCHEMA_VERSION``): fixed columns, then
``hp:<name>`` for each hyperparameter, ``mf:<name>`` for each task meta-feature and ``m:<name>``
for each metric. ``config`` repeats the configuration as JSON so readers never guess types.
"""

from __future__ import annotations

import csv
import io
import json
from collections.abc import Iterable
from typing import Any

from orchestrator.failures import failure_reason, short_error
from orchestrator.spec import StudySpec
from orchestrator.store.atomic import atomic_write_text
from orchestrator.store.study import StudyStore, TrialRecord

META_SCHEMA_VERSION = 1
META_COLUMNS = [
    "schema_version", "study", "task", "job", "dataset", "objective", "direction", "strategy",
    "trial_id", "attempt", "status", "value", "cost", "budget", "wall_seconds", "gpu_hours",
    "finished", "origin", "config",
]
TRIAL_COLUMNS = [
    "trial_id", "status", "objective", "budget", "seed", "attempt", "origin", "wall_seconds",
    "gpu_hours", "started", "finished", "job_id", "node", "reason", "error",
]


def trial_rows(records: Iterable[TrialRecord]) -> list[dict[str, Any]]:
    rows = []
    for rec in records:
        t, r = rec.trial, rec.result
        row: dict[str, Any] = {"trial_id": t.trial_id, "seed": t.seed, "attempt": t.attempt, "origin": t.origin,
                               "budget": t.budget}
        if r is None:
            row["status"] = "RUNNING" if rec.handle else "PENDING"
        else:
            row.update(status=r.status.value, objective=r.objective, wall_seconds=round(r.wall_seconds, 3),
                       gpu_hours=r.gpu_hours, started=r.started, finished=r.finished, job_id=r.job_id,
                       node=r.node, reason=failure_reason(r.error), error=short_error(r.error), budget=r.budget if r.budget is not None else t.budget)
            row.update({f"m:{k}": v for k, v in r.metrics.items()})
        row.update({f"hp:{k}": v for k, v in t.config.items()})
        rows.append(row)
    return rows


def meta_rows(spec: StudySpec, records: Iterable[TrialRecord]) -> list[dict[str, Any]]:
    task = spec.task
    rows = []
    for rec in records:
        r = rec.result
        if r is None:
            continue
        t = rec.trial
        features = {**task.features, **{k: v for k, v in r.task_features.items() if k not in task.features}}
        row: dict[str, Any] = {
            "schema_version": META_SCHEMA_VERSION, "study": spec.name, "task": task.name, "job": task.job,
            "dataset": task.dataset, "objective": task.objective, "direction": task.direction,
            "strategy": spec.strategy.name, "trial_id": t.trial_id, "attempt": t.attempt, "status": r.status.value,
            "value": r.objective if r.ok else None, "cost": task.cost(r.objective) if r.ok and r.objective is not None else None,
            "budget": r.budget if r.budget is not None else t.budget, "wall_seconds": round(r.wall_seconds, 3),
            "gpu_hours": r.gpu_hours, "finished": r.finished, "origin": t.origin,
            "config": json.dumps(t.config, sort_keys=True),
        }
        row.update({f"hp:{k}": v for k, v in t.config.items()})
        row.update({f"mf:{k}": v for k, v in features.items()})
        row.update({f"m:{k}": v for k, v in r.metrics.items()})
        rows.append(row)
    return rows


def to_csv(rows: list[dict[str, Any]], fixed: list[str]) -> str:
    extra: list[str] = []
    for row in rows:
        for k in row:
            if k not in fixed and k not in extra:
                extra.append(k)
    prefix_order = {"hp:": 0, "mf:": 1, "m:": 2}
    extra.sort(key=lambda k: (prefix_order.get(k[: k.find(":") + 1], 3), k))
    buf = io.StringIO()
    w = csv.DictWriter(buf, fieldnames=fixed + extra, extrasaction="ignore", lineterminator="\n")
    w.writeheader()
    for row in rows:
        w.writerow({k: "" if v is None else v for k, v in row.items()})
    return buf.getvalue()


def export_study(store: StudyStore, records: Iterable[TrialRecord]) -> None:
    records = list(records)
    atomic_write_text(store.paths.trials_csv, to_csv(trial_rows(records), TRIAL_COLUMNS))
    atomic_write_text(store.paths.metadataset, to_csv(meta_rows(store.spec, records), META_COLUMNS))


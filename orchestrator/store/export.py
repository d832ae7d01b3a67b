"""trials.csv and metadataset/<study>.csv: flat tables rebuilt from the study state, atomically.

The meta-dataset schema lives here (``META_COLUMNS``, ``META_SCHEMA_VERSION``): fixed columns, then
``hp:<name>`` for each hyperparameter, ``mf:<name>`` for each task meta-feature and ``m:<name>``
for each metric. ``config`` repeats the configuration as JSON so readers never guess types. ``curve``
is the trial's learning curve as JSON ``[[epoch, value], ...]`` (from its progress.jsonl, after the
curve of the paused trial it ``continues``), ``halted`` says a trial stopped or paused before its
budget, whose ``value`` is then a partial one (at ``budget`` epochs).
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
from orchestrator.store.progress import read_points
from orchestrator.store.study import StudyStore, TrialRecord

META_SCHEMA_VERSION = 1
META_COLUMNS = [
    "schema_version", "study", "task", "job", "dataset", "objective", "direction", "strategy",
    "trial_id", "attempt", "status", "value", "cost", "budget", "wall_seconds", "gpu_hours",
    "finished", "origin", "config", "halted", "continues", "curve",
]
TRIAL_COLUMNS = [
    "trial_id", "status", "objective", "budget", "seed", "attempt", "origin", "halted", "continues", "wall_seconds",
    "gpu_hours", "started", "finished", "job_id", "node", "reason", "error",
]


def trial_rows(records: Iterable[TrialRecord]) -> list[dict[str, Any]]:
    rows = []
    for rec in records:
        t, r = rec.trial, rec.result
        row: dict[str, Any] = {"trial_id": t.trial_id, "seed": t.seed, "attempt": t.attempt, "origin": t.origin,
                               "budget": t.budget, "continues": t.continues}
        if r is None:
            row["status"] = "RUNNING" if rec.handle else "PENDING"
        else:
            row.update(status=r.status.value, objective=r.objective, wall_seconds=round(r.wall_seconds, 3), halted=r.halted,
                       gpu_hours=r.gpu_hours, started=r.started, finished=r.finished, job_id=r.job_id,
                       node=r.node, reason=failure_reason(r.error), error=short_error(r.error), budget=r.budget if r.budget is not None else t.budget)
            row.update({f"m:{k}": v for k, v in r.metrics.items()})
        row.update({f"hp:{k}": v for k, v in t.config.items()})
        rows.append(row)
    return rows


def meta_rows(spec: StudySpec, records: Iterable[TrialRecord],
              curves: dict[str, list[tuple[float, float]]] | None = None) -> list[dict[str, Any]]:
    task = spec.task
    curves = curves or {}
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
            "config": json.dumps(t.config, sort_keys=True), "halted": r.halted, "continues": t.continues,
            "curve": json.dumps(curves[t.trial_id]) if curves.get(t.trial_id) else None,
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


def export_study(store: StudyStore, records: Iterable[TrialRecord],
                 cache: dict[str, list[tuple[float, float]]] | None = None) -> None:
    """``cache``: the finished trials' own curves read so far (a progress file is read once per trial)."""
    records = list(records)
    atomic_write_text(store.paths.trials_csv, to_csv(trial_rows(records), TRIAL_COLUMNS))
    curves = learning_curves(store, records, {} if cache is None else cache)
    atomic_write_text(store.paths.metadataset, to_csv(meta_rows(store.spec, records, curves), META_COLUMNS))


def learning_curves(store: StudyStore, records: list[TrialRecord],
                    own: dict[str, list[tuple[float, float]]]) -> dict[str, list[tuple[float, float]]]:
    """Each finished trial's curve of the study objective, [(epoch, value)], after the curve of the trial it
    continues (a resumed paused trial's row holds its whole curve from epoch 1). ``own`` caches each
    trial's own points."""
    objective = store.spec.task.objective
    by_id = {rec.trial.trial_id: rec for rec in records}
    for rec in records:
        tid = rec.trial.trial_id
        if rec.result is not None and tid not in own:
            points, _ = read_points(store.trial_paths(tid).progress)
            curve: dict[float, float] = {}
            for p in points:  # a retried attempt reports the epochs it redid again: the last word counts
                if objective in p.metrics:
                    curve[p.epoch] = p.metrics[objective]
            own[tid] = sorted(curve.items())
    out: dict[str, list[tuple[float, float]]] = {}
    for rec in records:
        tid = rec.trial.trial_id
        if tid not in own:
            continue
        chain, seen, t = [], set(), rec.trial
        while t.continues and t.continues in by_id and t.continues not in seen:  # paused ancestors, oldest last
            seen.add(t.continues)
            t = by_id[t.continues].trial
            chain.append(own.get(t.trial_id, []))
        start = own[tid][0][0] if own[tid] else float("inf")
        merged = [p for c in reversed(chain) for p in c]
        out[tid] = [p for p in merged if p[0] < start] + own[tid]
    return out


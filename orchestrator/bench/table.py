"""`orch bench build-table`: a real-job lookup table, built by running the same pool of
configurations (scrambled Sobol points + the preset grid) of a built-in job on several datasets
through orch's own executors. Each dataset is a normal study (so its trials also join the
meta-dataset); the table CSV gathers them and a JSON beside it records the provenance. With ``curves``,
a curves table beside it (``<name>-curves.csv``) keeps every trial's learning curve as its job reported
it epoch by epoch, with the cumulative seconds since the trial's worker started (its real cost, start-up
and evaluation included): `orch bench run --suite <name>-curves.csv` on it."""

from __future__ import annotations

import csv
import json
import platform
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from orchestrator.errors import ConfigError, Interrupted
from orchestrator.executors.profile import SlurmOptions
from orchestrator.store.atomic import atomic_write_text
from orchestrator.store.paths import StudyPaths
from orchestrator.store.study import StudyStore


TABLE_MAX_FAILURES = 10


def build_table(job: str, datasets: list[str], out: Path, root: Path, pool: int = 300, grid_points: int = 3,
                seed: int = 0, parallel: int = 2, executor: str = "local", slurm: SlurmOptions | None = None,
                job_options: dict[str, Any] | None = None, epochs: int | None = None,
                reporter_for: Callable[[str], Any] | None = None, space_file: str | None = None,
                retry_crashed: bool = False, curves: bool = False) -> Path:
    from jobs.registry import get_job, presets
    from orchestrator.optimizers.pool import pool_configs
    from orchestrator.plan import dataset_label
    from orchestrator.session import TuneRequest, create_study, prepare
    from orchestrator.spec import PoolOptions
    from orchestrator.space import load_space, space_to_json

    info = get_job(job)
    if not datasets:
        raise ConfigError("--datasets: give at least one dataset")
    space = load_space(space_file or job, presets=presets())
    configs = pool_configs(space, pool, grid_points, seed)
    tag = f"p{pool}g{grid_points}s{seed}" + (f"e{epochs}" if epochs else "")
    if space_file:  # another space is another table: its own studies
        import hashlib

        tag += "x" + hashlib.sha256(space_to_json(space).encode()).hexdigest()[:8]
    studies: dict[str, str] = {}
    features: dict[str, Any] = {}
    for data in datasets:
        label = dataset_label(data, data)
        name = f"table-{job}-{label}-{tag}"  # the same table twice reuses (or finishes) the same studies
        # a job without datasets (branin) takes the names as labels of its tasks only
        opts = {**(job_options or {}), **({"data": data} if "data" in info.options else {})}
        # a configuration may crash (diverge) in a table, but its first trials all crashing is the job
        # or the environment (a dataset not found): stop rather than fill the table with crashes
        resume = TuneRequest(root=root, resume=name, parallel=parallel, max_failures=min(TABLE_MAX_FAILURES, len(configs)),
                             retry_crashed=retry_crashed)
        if not StudyPaths(root, name).study.exists():
            req = TuneRequest(root=root, study=name, job=job, space=space_file, strategy="pool", trials=len(configs),
                              parallel=parallel, seed=seed, epochs=epochs, executor=executor,
                              slurm=slurm or SlurmOptions(), job_options=opts, dataset_label=label,
                              strategy_options=PoolOptions(pool, grid_points, seed))
            create_study(req)  # its trials start below, after any reuse
            reused = reuse_smaller_pool(root, name, f"table-{job}-{label}-", tag, configs)
            if reused and reporter_for is None:
                print(f"[orch] {name}: {reused} trials reused from a smaller pool of the same table")
        loop, notes = prepare(resume, reporter_for(name) if reporter_for else None)
        if loop.run(notes).interrupted:  # Ctrl-C or SIGTERM stops the whole table, not one dataset's study
            raise Interrupted(f"table interrupted in study {name}; the same command carries on from there")
        studies[label] = name
        features[label] = loop.spec.task.features
    rows = []
    for label, name in studies.items():
        store = StudyStore.open(root, name)
        for rec in store.state().records.values():
            r = rec.result
            if r is None:
                continue
            row = {"task": label, "trial_id": rec.trial.trial_id, "status": r.status.value,
                   "objective": r.objective if r.ok else "", "cost": round(r.wall_seconds, 3)}
            row.update({f"hp:{k}": v for k, v in rec.trial.config.items()})
            row.update({f"m:{k}": v for k, v in r.metrics.items()})
            rows.append(row)
    out.parent.mkdir(parents=True, exist_ok=True)
    fields: list[str] = []
    for row in rows:
        fields += [k for k in row if k not in fields]
    with open(out.with_suffix(".csv.tmp"), "w", newline="") as f:
        w = csv.DictWriter(f, fieldnames=fields)
        w.writeheader()
        w.writerows(rows)
    out.with_suffix(".csv.tmp").replace(out)
    from orchestrator import __version__

    atomic_write_text(out.with_suffix(".json"), json.dumps({
        "name": f"{job}-table", "job": job, "objective": info.objective,
        "direction": "minimize" if info.minimize else "maximize", "space": json.loads(space_to_json(space)),
        "datasets": datasets, "studies": studies, "results_root": str(root.resolve()), "features": features,
        "pool": {"sobol": pool, "grid_points": grid_points, "seed": seed, "size": len(configs)},
        "job_options": job_options or {}, "epochs": epochs, "space_file": space_file, "executor": executor,
        "orch_version": __version__, "host": platform.node(), "built": time.strftime("%Y-%m-%d %H:%M:%S"),
    }, indent=2, default=str))
    if curves:
        write_curves(out, root, studies, info.objective)
    return out


def curves_path(out: Path) -> Path:
    """X-table.csv -> X-curves.csv (the name a curves suite finds its table by), else X-curves.csv."""
    name = out.name.replace("-table.csv", "-curves.csv") if out.name.endswith("-table.csv") else \
        out.name.replace(".csv", "-curves.csv")
    return out.with_name(name)


def write_curves(out: Path, root: Path, studies: dict[str, str], objective: str) -> Path:
    """The curves table of a built table: (task, trial_id, epoch, objective, time) per reported epoch of
    every successful trial, ``time`` the seconds from its worker's start to the report; its JSON names the
    table beside it whose hp:* columns give the configurations."""
    from orchestrator.store.atomic import read_json
    from orchestrator.store.progress import read_points

    rows = []
    for label, name in studies.items():
        store = StudyStore.open(root, name)
        for rec in store.state().records.values():
            if rec.result is None or not rec.result.ok:
                continue
            tp = store.trial_paths(rec.trial.trial_id)
            try:
                t0 = float(read_json(tp.started, "started.json")["t"])
            except (OSError, KeyError, TypeError, ValueError):
                continue
            last: dict[float, tuple[float, float]] = {}
            for p in read_points(tp.progress)[0]:
                if objective in p.metrics and p.t is not None:
                    last[p.epoch] = (p.metrics[objective], p.t - t0)
            for epoch, (value, seconds) in sorted(last.items()):
                rows.append({"task": label, "trial_id": rec.trial.trial_id, "epoch": epoch, objective: value,
                             "time": round(seconds, 3)})
    path = curves_path(out)
    fields = ["task", "trial_id", "epoch", objective, "time"]
    with open(path.with_suffix(".csv.tmp"), "w", newline="") as f:
        w = csv.DictWriter(f, fieldnames=fields)
        w.writeheader()
        w.writerows(rows)
    path.with_suffix(".csv.tmp").replace(path)
    table = json.loads(out.with_suffix(".json").read_text())
    atomic_write_text(path.with_suffix(".json"), json.dumps({
        "name": f"{table['name'].removesuffix('-table')}-curves", "job": table["job"], "value": objective,
        "table": out.name, "note": f"learning curves of the {out.name} trials: join on (task, trial_id)",
        "columns": fields, "built": time.strftime("%Y-%m-%d %H:%M:%S")}, indent=2))
    return path


def reuse_smaller_pool(root: Path, name: str, prefix: str, tag: str, configs: list[dict[str, Any]]) -> int:
    """Copy into the new study ``name`` the finished trials of an earlier, smaller pool of the same
    job, dataset, grid, seed and epochs (``prefix`` + ``p<N>`` + the rest of ``tag``): scrambled Sobol
    points are a prefix of a longer sequence, so growing a table only trains the new configurations.
    Each copy keeps its result file and metrics; returns how many were reused."""
    import re

    from orchestrator.optimizers.base import config_key
    from orchestrator.trial import Trial, format_trial_id

    rest = re.sub(r"^p\d+", "", tag)
    wanted = {config_key(c) for c in configs}
    donors = []
    for folder in (root / "studies").glob(f"{prefix}p*{rest}"):
        m = re.fullmatch(re.escape(prefix) + r"p(\d+)" + re.escape(rest), folder.name)
        if m and folder.name != name and (folder / "study.json").exists():
            donors.append((int(m.group(1)), folder.name))
    target = StudyStore.open(root, name)
    reused = 0
    with target.locked():
        state = target.state()
        have = {config_key(r.trial.config) for r in state.records.values()}
        number = state.next_trial_number()
        for _, donor in sorted(donors, reverse=True):
            for rec in StudyStore.open(root, donor).state().finished:
                key = config_key(rec.trial.config)
                if key not in wanted or key in have or rec.result is None or not rec.result.ok:
                    continue
                trial = Trial(trial_id=format_trial_id(number), config=rec.trial.config, budget=rec.trial.budget,
                              seed=rec.trial.seed, origin=f"pool (reused from {donor})")
                target.add_trial(trial)
                target.write_result(trial.trial_id, rec.result)
                target.record_finished(trial, rec.result)
                have.add(key)
                number += 1
                reused += 1
    return reused

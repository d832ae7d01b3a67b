"""Read-only views over finished (or running) studies: they read trials.csv and study.json, which
the store writes atomically, so they never need the controller and never lock anything."""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from orchestrator.errors import ConfigError, StoreCorrupt
from orchestrator.failures import FailureGroup, failure_reason, group_failures
from orchestrator.spec import StudySpec
from orchestrator.store.atomic import read_json
from orchestrator.store.paths import StudyPaths, check_study_name


@dataclass
class StudyResults:
    spec: StudySpec
    trials: pd.DataFrame  # every trial, in trial order, with an ``incumbent`` column
    paths: StudyPaths

    @property
    def name(self) -> str:
        return self.spec.name

    @property
    def objective(self) -> str:
        return self.spec.task.objective

    @property
    def minimize(self) -> bool:
        return self.spec.task.minimize

    @property
    def ok(self) -> pd.DataFrame:
        """Successful trials that count for quality: in a multi-fidelity study only those trained at
        the highest budget reached (a score after 1 epoch does not compete with one after 27)."""
        return self.trials[self.trials["counts"]]

    @property
    def hyperparameters(self) -> list[str]:
        return [c[3:] for c in self.trials.columns if c.startswith("hp:")]

    def best(self) -> pd.Series | None:
        ok = self.ok
        if ok.empty:
            return None
        i = ok["objective"].idxmin() if self.minimize else ok["objective"].idxmax()
        return ok.loc[i]

    def top(self, k: int = 10) -> pd.DataFrame:
        return self.ok.sort_values("objective", ascending=self.minimize, kind="stable").head(k)

    def counts(self) -> dict[str, int]:
        return {str(k): int(v) for k, v in self.trials["status"].value_counts().items()}

    @property
    def failed(self) -> pd.DataFrame:
        """Trials that ended without a usable result (CRASHED, TIMEOUT, PREEMPTED, CANCELLED), with a
        one-line ``reason`` column."""
        t = self.trials
        bad = t[t["status"].isin(FAILED_STATUSES)].copy()
        given = bad["reason"] if "reason" in bad.columns else pd.Series("", index=bad.index)
        error = bad["error"] if "error" in bad.columns else pd.Series("", index=bad.index)
        bad["reason"] = [str(r) if isinstance(r, str) and r.strip() else failure_reason(str(e) if isinstance(e, str) else "")
                         for r, e in zip(given, error)]
        return bad

    def failures(self) -> list[FailureGroup]:
        """Failed trials grouped by status and reason, the largest group first."""
        f = self.failed
        return group_failures(zip(f["trial_id"].astype(str), f["status"].astype(str), f["reason"]))

    def trials_to_fraction(self, fraction: float) -> int | None:
        """First trial whose incumbent is within (1 - fraction) of the best value (relative)."""
        best = self.best()
        if best is None:
            return None
        b = float(best["objective"])
        inc = self.trials["incumbent"].to_numpy(dtype=float)
        if self.minimize:
            target = b / fraction if b > 0 else b + (1 - fraction) * abs(b)
            hit = np.nonzero(inc <= target + 1e-12)[0]
        else:
            target = b * fraction if b > 0 else b - (1 - fraction) * abs(b)
            hit = np.nonzero(inc >= target - 1e-12)[0]
        return int(hit[0]) + 1 if len(hit) else None

    def summary(self) -> dict[str, Any]:
        best = self.best()
        t = self.trials
        wall = pd.to_numeric(t.get("wall_seconds"), errors="coerce").fillna(0.0)
        gpu = pd.to_numeric(t.get("gpu_hours"), errors="coerce").fillna(0.0)
        return {
            "study": self.name, "task": self.spec.task.name, "strategy": self.spec.strategy.name,
            "objective": self.objective, "direction": self.spec.task.direction,
            "target_trials": self.spec.n_trials, "trials": int(len(t)), "status": self.counts(),
            "succeeded": int((t["status"] == "SUCCESS").sum()), "failed": len(self.failed),
            "failures": [{"status": g.status, "reason": g.reason, "trials": list(g.trials)} for g in self.failures()],
            "best": None if best is None else {
                "trial_id": str(best["trial_id"]), "objective": float(best["objective"]),
                "config": {h: _plain(best[f"hp:{h}"]) for h in self.hyperparameters if pd.notna(best[f"hp:{h}"])},
                "metrics": {c[2:]: _plain(best[c]) for c in t.columns if c.startswith("m:") and pd.notna(best[c])},
            },
            "compute": {"wall_hours": float(wall.sum() / 3600), "gpu_hours": float(gpu.sum()),
                        "mean_wall_seconds_per_trial": float(wall.mean()) if len(wall) else 0.0,
                        "mean_gpu_hours_per_trial": float(gpu.mean()) if len(gpu) else 0.0},
            "trials_to_95pct_of_best": self.trials_to_fraction(0.95),
            "trials_to_99pct_of_best": self.trials_to_fraction(0.99),
        }


FAILED_STATUSES = ("CRASHED", "TIMEOUT", "PREEMPTED", "CANCELLED")


def failure_lines(r: StudyResults, limit: int = 10) -> list[str]:
    """Each failed trial's reason, grouped (`orch results`): '3 CRASHED trials (0002, 0005, 0009): ...'."""
    groups = r.failures()
    if not groups:
        return []
    lines = [f"failed: {sum(len(g.trials) for g in groups)} trials" + (":" if groups else "")]
    lines += [f"  {g.line()}" for g in groups[:limit]]
    if len(groups) > limit:
        lines.append(f"  ... and {len(groups) - limit} other reasons (orch results {r.name} --json)")
    return lines


def _plain(v: Any) -> Any:
    if hasattr(v, "item"):
        v = v.item()
    return v


def load_results(root: Path, study: str) -> StudyResults:
    paths = StudyPaths(root, check_study_name(study))
    if not paths.study.exists():
        raise ConfigError(f"no study '{study}' under {root / 'studies'} (study.json not found)")
    try:
        spec = StudySpec.from_dict(read_json(paths.study, "study.json"))
    except (KeyError, ValueError, TypeError) as e:
        raise StoreCorrupt(f"{paths.study}: corrupt study.json: {e}") from None
    if not paths.trials_csv.exists():
        trials = pd.DataFrame(columns=["trial_id", "status", "objective"])
    else:
        try:
            trials = pd.read_csv(paths.trials_csv, dtype={"trial_id": str})
        except (pd.errors.ParserError, UnicodeDecodeError, ValueError) as e:
            raise StoreCorrupt(f"{paths.trials_csv}: corrupt trials.csv: {str(e).splitlines()[0]}") from None
        if "status" not in trials.columns or "trial_id" not in trials.columns:
            raise StoreCorrupt(f"{paths.trials_csv}: corrupt trials.csv: missing the status / trial_id columns")
    trials = trials.sort_values("trial_id", kind="stable").reset_index(drop=True)
    trials["objective"] = pd.to_numeric(trials.get("objective"), errors="coerce")
    counts = (trials["status"] == "SUCCESS") & trials["objective"].notna()
    if (spec.multi_fidelity or spec.curves) and "budget" in trials.columns:  # only the highest budget reached counts
        budget = pd.to_numeric(trials["budget"], errors="coerce")
        if counts.any() and budget[counts].notna().any():
            counts &= budget >= float(budget[counts].max()) - 1e-9
    trials["counts"] = counts
    ok = trials["objective"].where(counts)
    # the best so far after each trial; a failed trial keeps the best before it (NaN until the first success)
    trials["incumbent"] = (ok.cummin() if spec.task.minimize else ok.cummax()).ffill()
    for c in ("wall_seconds", "gpu_hours"):
        if c in trials.columns:
            trials[c] = pd.to_numeric(trials[c], errors="coerce").fillna(0.0)
    return StudyResults(spec, trials, paths)


def results_json(r: StudyResults) -> str:
    return json.dumps(r.summary(), indent=2, default=str)


def comparison_rows(results: list[StudyResults]) -> pd.DataFrame:
    """One row per study. ``common``: the quality every study reached (the worst of their bests);
    ``trials_to_common`` / ``wall_hours_to_common``: what each study spent until it first got there,
    the compute-for-the-same-quality comparison (e.g. Hyperband against full-budget SMAC)."""
    check_comparable(results)
    bests = [float(b["objective"]) for r in results if (b := r.best()) is not None]
    minimize = results[0].minimize if results else True
    same_task = len({r.spec.task.name for r in results}) == 1
    common = (max(bests) if minimize else min(bests)) if len(bests) == len(results) and bests and same_task else None
    rows = []
    for r in results:
        s = r.summary()
        hit = trials_to_reach(r, common) if common is not None else None
        wall = r.trials["wall_seconds"] if "wall_seconds" in r.trials.columns else pd.Series(0.0, index=r.trials.index)
        rows.append({"study": r.name, "task": s["task"], "strategy": s["strategy"], "trials": s["trials"],
                     "best": None if s["best"] is None else s["best"]["objective"],
                     "trials_to_95pct": s["trials_to_95pct_of_best"], "trials_to_99pct": s["trials_to_99pct_of_best"],
                     "wall_hours": s["compute"]["wall_hours"], "gpu_hours": s["compute"]["gpu_hours"],
                     "common": common, "trials_to_common": hit,
                     "wall_hours_to_common": None if hit is None else float(wall.iloc[:hit].sum() / 3600)})
    return pd.DataFrame(rows)


def check_comparable(results: list[StudyResults]) -> None:
    """Studies can be compared only on one objective in one direction (ConfigError otherwise)."""
    kinds = {(r.objective, r.minimize) for r in results}
    if len(kinds) > 1:
        which = ", ".join(f"{r.name}: {r.spec.task.direction} {r.objective}" for r in results)
        raise ConfigError(f"compare: the studies optimise different objectives ({which}); their values cannot be "
                          "compared: compare studies of the same objective")


def comparison_notes(results: list[StudyResults]) -> list[str]:
    """What the reader of a comparison must know (printed under its table)."""
    tasks = sorted({r.spec.task.name for r in results})
    if len(tasks) > 1:
        return [(f"different tasks ({', '.join(tasks)}): no common quality to reach (the columns common and "
                 f"*_to_common are empty); each study's best is on its own task's scale")]
    return []


def trials_to_reach(r: StudyResults, value: float) -> int | None:
    """First trial whose incumbent is at least as good as ``value`` (another study's best, say)."""
    inc = r.trials["incumbent"].to_numpy(dtype=float)
    hit = np.nonzero(inc <= value + 1e-12)[0] if r.minimize else np.nonzero(inc >= value - 1e-12)[0]
    return int(hit[0]) + 1 if len(hit) else None

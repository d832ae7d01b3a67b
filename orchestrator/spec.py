"""StudySpec, JobSpec and StrategySpec: what study.json holds, as frozen records (pure).

A strategy's knobs are a typed record per kind (``GridOptions``, ``FidelityOptions``, ...) and the
warm start a meta-learning strategy planned from the meta-dataset is recorded beside them
(``WarmStartRecord``), so that a resume rebuilds exactly the same optimiser.
"""

from __future__ import annotations

import time
from dataclasses import asdict, dataclass, field, fields, replace
from typing import Any, ClassVar

from orchestrator.task import Task

SCHEMA_VERSION = 2
READABLE_VERSIONS = (1, 2)
JOB_KINDS = ("builtin", "command", "table")


@dataclass(frozen=True)
class JobSpec:
    """How a trial runs: a built-in job by name, the user's own shell command, or (benchmarks) a row
    of a lookup table."""

    kind: str  # "builtin" | "command" | "table"
    name: str = ""
    command: str = ""
    cwd: str = ""
    options: dict[str, Any] = field(default_factory=dict)

    @property
    def label(self) -> str:
        return {"builtin": self.name, "table": f"table {self.name}"}.get(self.kind, "command")

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> JobSpec:
        kind = str(d["kind"])
        if kind not in JOB_KINDS:
            raise ValueError(f"job kind must be one of {', '.join(JOB_KINDS)}, got {kind!r}")
        return cls(kind=kind, name=str(d.get("name", "")), command=str(d.get("command", "")),
                   cwd=str(d.get("cwd", "")), options=dict(d.get("options") or {}))


# --- a strategy's options, one record per kind ------------------------------------------------------


@dataclass(frozen=True)
class StrategyOptions:
    """No options (random, smac, bnn, ...). Subclasses name their ``kind`` for study.json."""

    kind: ClassVar[str] = "none"

    def to_dict(self) -> dict[str, Any]:
        return {"kind": self.kind, **asdict(self)}


@dataclass(frozen=True)
class GridOptions(StrategyOptions):
    kind: ClassVar[str] = "grid"
    points: int = 3  # per numeric hyperparameter


@dataclass(frozen=True)
class FidelityOptions(StrategyOptions):
    """Budgets (epochs) of the multi-fidelity strategies (hyperband, bohb)."""

    kind: ClassVar[str] = "fidelity"
    min_budget: float = 1.0
    max_budget: float = 27.0
    eta: int = 3


@dataclass(frozen=True)
class PoolOptions(StrategyOptions):
    """A fixed pool: ``sobol`` scrambled Sobol points plus a grid of ``grid_points`` per hyperparameter."""

    kind: ClassVar[str] = "pool"
    sobol: int = 0
    grid_points: int = 0
    seed: int = 0


@dataclass(frozen=True)
class MetaOptions(StrategyOptions):
    """Meta-learning strategies: how many meta-learned configurations are evaluated first."""

    kind: ClassVar[str] = "meta"
    warm_configs: int = 5


@dataclass(frozen=True)
class MetaBnnOptions(MetaOptions):
    kind: ClassVar[str] = "meta-bnn"
    steps: int = 1000  # pre-training steps of the network on the past tasks


@dataclass(frozen=True)
class AshaOptions(StrategyOptions):
    """ASHA on running trials (asha): every trial gets ``max_budget`` epochs and is judged at rungs
    ``min_budget * eta**k``; ``mode`` "promotion" pauses (and later resumes) a trial, "stopping" stops it."""

    kind: ClassVar[str] = "asha"
    min_budget: float = 1.0
    max_budget: float = 27.0
    eta: int = 3
    mode: str = "promotion"


@dataclass(frozen=True)
class MetaAshaOptions(AshaOptions):
    """meta-asha: ASHA whose rungs rank by a learning-curve model learned from past studies' curves, and
    meta-smac's proposals (``warm_configs``: its warm start's size)."""

    kind: ClassVar[str] = "meta-asha"
    warm_configs: int = 3


OPTION_KINDS: dict[str, type[StrategyOptions]] = {
    c.kind: c for c in (StrategyOptions, GridOptions, FidelityOptions, PoolOptions, MetaOptions, MetaBnnOptions,
                        AshaOptions, MetaAshaOptions)}


def options_from_dict(d: dict[str, Any]) -> StrategyOptions:
    kind = str(d.get("kind", "none"))
    if kind not in OPTION_KINDS:
        raise ValueError(f"unknown strategy options kind {kind!r}")
    cls = OPTION_KINDS[kind]
    names = {f.name: f.type for f in fields(cls)}
    unknown = sorted(set(d) - set(names) - {"kind"})
    if unknown:
        raise ValueError(f"strategy options of kind {kind!r}: unknown field(s) {', '.join(unknown)}")
    return cls(**{k: v for k, v in d.items() if k in names})


@dataclass(frozen=True)
class WarmStartRecord:
    """What a meta-learning strategy planned from the meta-dataset when the study started.

    ``configs`` are evaluated first (in order, with ``reasons``); ``studies`` are the past studies it
    learns from and ``roots`` the results roots they were read from (a resume reads the same ones)."""

    configs: tuple[dict[str, Any], ...] = ()
    reasons: tuple[str, ...] = ()
    selector: str = ""
    tasks: tuple[tuple[str, float], ...] = ()  # (past task, distance by meta-features)
    studies: tuple[str, ...] = ()
    roots: tuple[str, ...] = ()

    def to_dict(self) -> dict[str, Any]:
        return {"configs": list(self.configs), "reasons": list(self.reasons), "selector": self.selector,
                "tasks": [[t, d] for t, d in self.tasks], "studies": list(self.studies), "roots": list(self.roots)}

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> WarmStartRecord:
        return cls(configs=tuple(dict(c) for c in d.get("configs") or ()), reasons=tuple(d.get("reasons") or ()),
                   selector=str(d.get("selector", "")),
                   tasks=tuple((str(t), float(x)) for t, x in d.get("tasks") or ()),
                   studies=tuple(map(str, d.get("studies") or ())), roots=tuple(map(str, d.get("roots") or ())))


@dataclass(frozen=True)
class StrategySpec:
    """Which strategy runs a study, with its typed options and (meta-learning) its recorded warm start."""

    name: str
    options: StrategyOptions = field(default_factory=StrategyOptions)
    warm: WarmStartRecord | None = None

    def to_dict(self) -> dict[str, Any]:
        return {"name": self.name, "options": self.options.to_dict(),
                "warm_start": None if self.warm is None else self.warm.to_dict()}

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> StrategySpec:
        warm = d.get("warm_start")
        return cls(name=str(d["name"]), options=options_from_dict(dict(d.get("options") or {})),
                   warm=None if warm is None else WarmStartRecord.from_dict(warm))


@dataclass(frozen=True)
class StudySpec:
    """Everything that defines a study; written once to study.json (``n_trials`` and ``parallel``
    may change on resume)."""

    name: str
    task: Task
    job: JobSpec
    strategy: StrategySpec = field(default_factory=lambda: StrategySpec("smac"))
    seed: int = 0
    n_trials: int = 20
    parallel: int = 1
    max_retries: int = 2
    budget: float | None = None  # epochs of every trial (None: the job's own); multi-fidelity: per trial
    executor: dict[str, Any] = field(default_factory=lambda: {"kind": "local"})
    created: float = field(default_factory=time.time)
    schema_version: int = SCHEMA_VERSION

    @property
    def multi_fidelity(self) -> bool:
        """Budgets vary per trial (hyperband, bohb): checkpoints are kept for promotions."""
        return isinstance(self.strategy.options, FidelityOptions)

    @property
    def curves(self) -> bool:
        """Trials are judged on their learning curves while they run (asha, meta-asha)."""
        return isinstance(self.strategy.options, AshaOptions)

    def with_trials(self, n_trials: int) -> StudySpec:
        return replace(self, n_trials=n_trials)

    def to_dict(self) -> dict[str, Any]:
        from orchestrator import __version__

        return {"name": self.name, "task": self.task.to_dict(), "job": self.job.to_dict(),
                "strategy": self.strategy.to_dict(), "seed": self.seed, "n_trials": self.n_trials,
                "parallel": self.parallel, "max_retries": self.max_retries, "budget": self.budget,
                "executor": dict(self.executor), "created": self.created, "schema_version": SCHEMA_VERSION,
                "orch_version": __version__}

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> StudySpec:
        version = int(d.get("schema_version", 0))
        if version not in READABLE_VERSIONS:
            raise ValueError(f"schema_version {version} is not supported (this orch reads "
                             f"{', '.join(map(str, READABLE_VERSIONS))})")
        opt = d.get
        strategy = (StrategySpec.from_dict(d["strategy"]) if isinstance(d.get("strategy"), dict)
                    else _strategy_v1(d))
        return cls(
            name=str(d["name"]), task=Task.from_dict(d["task"]), job=JobSpec.from_dict(d["job"]),
            strategy=strategy, seed=int(opt("seed", 0)), n_trials=int(d["n_trials"]),
            parallel=int(opt("parallel", 1)), max_retries=int(opt("max_retries", 2)),
            budget=_opt_float(opt("budget")), executor=dict(opt("executor") or {"kind": "local"}),
            created=float(opt("created", 0.0)), schema_version=SCHEMA_VERSION,
        )


def _strategy_v1(d: dict[str, Any]) -> StrategySpec:
    """A schema-1 study.json: the strategy name plus a flat dict of option strings."""
    name = str(d.get("strategy", "smac"))
    o = dict(d.get("strategy_options") or {})
    options: StrategyOptions
    if name in ("hyperband", "bohb"):
        options = FidelityOptions(float(o.get("min_budget", d.get("min_budget") or 1)),
                                  float(o.get("max_budget", d.get("max_budget") or 27)), int(o.get("eta", 3)))
    elif name == "grid":
        options = GridOptions(int(o.get("grid_points", 3)))
    elif name == "pool":
        options = PoolOptions(int(o.get("pool_sobol", 0)), int(o.get("pool_grid_points", 0)),
                              int(o.get("pool_seed", 0)))
    elif name == "meta-bnn":
        options = MetaBnnOptions(len(o.get("warm_start") or ()) or 3, int(o.get("meta_bnn_steps", 1000)))
    elif name.startswith("meta-"):
        options = MetaOptions(len(o.get("warm_start") or ()) or (3 if name == "meta-smac" else 5))
    else:
        options = StrategyOptions()
    warm = None
    if "warm_start" in o or "meta_studies" in o:
        warm = WarmStartRecord(
            configs=tuple(o.get("warm_start") or ()), reasons=tuple(o.get("warm_reasons") or ()),
            selector=str(o.get("warm_selector", "")),
            tasks=tuple((str(t), float(x)) for t, x in o.get("meta_tasks") or ()),
            studies=tuple(o.get("meta_studies") or ()), roots=tuple(d.get("meta_roots") or ()))
    return StrategySpec(name, options, warm)


def _opt_float(v: Any) -> float | None:
    return None if v is None else float(v)

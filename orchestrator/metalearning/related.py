"""Which past tasks can inform a new space, and how near each is by meta-features."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from orchestrator.metalearning.metadata import MetaData
from orchestrator.metalearning.similarity import Neighbour, neighbours

if TYPE_CHECKING:
    from ConfigSpace import ConfigurationSpace


def relevant(meta: MetaData, space: ConfigurationSpace, job: str | None = None) -> MetaData:
    """The past trials that can inform the new space.

    Without ``job``: trials that set at least one of its hyperparameters. With the new task's ``job``, a
    past task counts only if its space is compatible: the same job (sharing a hyperparameter), or a job
    whose trials set every hyperparameter of the new space by name and type (numbers for numbers,
    categories for categories). A study of another job or modality with a different space never
    changes a new study's start."""
    names = set(space.keys())
    cols = [c for c in meta.df.columns if c.startswith("hp:") and c[3:] in names]
    if not cols or not len(meta.df):
        return MetaData(meta.df.iloc[0:0])
    df = meta.df[meta.df[cols].notna().any(axis=1)]
    if job is None or not len(df):
        return MetaData(df)
    compatible = {t for t, (j, kinds) in _task_kinds(df, space).items() if j == job or _maps_onto(kinds, space)}
    return MetaData(df[df["task"].isin(compatible)])


def _task_kinds(df: Any, space: ConfigurationSpace) -> dict[str, tuple[str, dict[str, str]]]:
    """Per past task: its job, and per hyperparameter of ``space`` it sets, "number" or "category"."""
    import pandas as pd

    task = df["task"].to_numpy()
    jobs = df.groupby(task, sort=False)["job"].first()
    kinds: dict[str, dict[str, str]] = {str(t): {} for t in jobs.index}
    for c in [c for c in df.columns if c.startswith("hp:") and c[3:] in set(space.keys())]:
        present = df[c].notna()
        numeric = pd.to_numeric(df[c], errors="coerce").notna() | ~present
        agg = pd.DataFrame({"present": present.to_numpy(), "numeric": numeric.to_numpy()}).groupby(task).agg(
            present=("present", "any"), numeric=("numeric", "all"))
        for t, row in agg[agg["present"]].iterrows():
            kinds[str(t)][c[3:]] = "number" if row["numeric"] else "category"
    return {t: (str(jobs[t]), k) for t, k in kinds.items()}


def _maps_onto(kinds: dict[str, str], space: ConfigurationSpace) -> bool:
    for name, hp in space.items():
        if type(hp).__name__ == "Constant":
            continue
        values = getattr(hp, "choices", None)
        want = "category" if values is not None and not all(_is_number(v) for v in values) else "number"
        if kinds.get(name) != want:
            return False
    return True


def _is_number(v: Any) -> bool:
    return isinstance(v, (int, float)) and not isinstance(v, bool)


def task_features(meta: MetaData) -> dict[str, dict[str, Any]]:
    return {t.name: t.features for t in meta.tasks()}


def ranked_neighbours(meta: MetaData, target: dict[str, Any], space: ConfigurationSpace) -> list[Neighbour]:
    """Past tasks sharing hyperparameters with ``space``, nearest by meta-features first."""
    hps = {t.name: t.hyperparameters for t in meta.tasks()}
    return neighbours(target, task_features(meta), hps, list(space.keys()))

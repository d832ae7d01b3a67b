"""Which past tasks can inform a new space, and how near each is by meta-features."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from orchestrator.metalearning.metadata import MetaData
from orchestrator.metalearning.similarity import Neighbour, neighbours

if TYPE_CHECKING:
    from ConfigSpace import ConfigurationSpace


def relevant(meta: MetaData, space: ConfigurationSpace) -> MetaData:
    """Only tasks whose trials set at least one hyperparameter of the new space."""
    names = set(space.keys())
    cols = [c for c in meta.df.columns if c.startswith("hp:") and c[3:] in names]
    if not cols or not len(meta.df):
        return MetaData(meta.df.iloc[0:0])
    mask = meta.df[cols].notna().any(axis=1)
    return MetaData(meta.df[mask])


def task_features(meta: MetaData) -> dict[str, dict[str, Any]]:
    return {t.name: t.features for t in meta.tasks()}


def ranked_neighbours(meta: MetaData, target: dict[str, Any], space: ConfigurationSpace) -> list[Neighbour]:
    """Past tasks sharing hyperparameters with ``space``, nearest by meta-features first."""
    hps = {t.name: t.hyperparameters for t in meta.tasks()}
    return neighbours(target, task_features(meta), hps, list(space.keys()))

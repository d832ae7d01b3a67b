"""The learning-curve model: a trial's final value and its uncertainty, predicted from its first epochs by
the curves of past studies' trials (the meta-dataset's ``curve`` column; other tasks only).

A configuration that past tasks trained too (meta-asha's warm start and the past tasks' bests are such)
is predicted by its own past curves: its last reported value plus the mean change that the same
configuration went on to make on the past tasks from the same epoch to their final one, the spread of
those changes its uncertainty. Matching values alone misjudges a slow learner: on LCBench task 126029 the
task's optimum reads 83.95% after 4 of 52 epochs and ends at 97.84%; its 32 nearest past curves by value
predicted +0.2 points (sd 1.5), its own curves on the 33 other tasks +11.9 (sd 7.4). Otherwise a partial
curve is matched with the past curves at the same epochs: its last ``FEATURES`` reported values (the
objective in its own units, made a cost to minimise), and the prediction is its last value plus the
mean change that its ``K`` nearest past curves went on to make up to their final epoch; the uncertainty
is the spread of those changes. Past curves count when they reach the full budget of their study (the
most common last epoch among them): a halted trial's curve shows where it was stopped, not where it went.

Nearest past curves rather than a pre-trained curve extrapolator (lcpfn, ifbo): those are networks
trained on synthetic curves whose weights are downloaded at run time (no network on a cluster's compute
nodes, none here) and they learn nothing from the user's own past studies; a parametric fit per curve
(Domhan et al.) needs more epochs than a rung at epoch 2 has. Pure numpy and scipy's k-d tree.
"""

from __future__ import annotations

import itertools
import json
from collections.abc import Callable, Iterable, Sequence
from typing import TYPE_CHECKING, Any

import numpy as np

from orchestrator.metalearning.metadata import MetaData

if TYPE_CHECKING:
    from ConfigSpace import ConfigurationSpace

FEATURES = 3  # the last reported values a partial curve is matched on
K = 32  # nearest past curves per prediction
MIN_CURVES = 8  # fewer complete past curves than this: no model
MIN_SAME = 3  # past complete curves of a configuration that predict it by themselves


def parse_curve(cell: Any) -> list[tuple[float, float]]:
    """A meta-dataset ``curve`` cell (JSON ``[[epoch, value], ...]`` or such pairs) as pairs; [] when empty."""
    if cell is None or (isinstance(cell, float) and np.isnan(cell)):
        return []
    if isinstance(cell, str):
        try:
            cell = json.loads(cell) if cell.strip() else []
        except ValueError:
            return []
    out = []
    for pair in cell:
        try:
            e, v = float(pair[0]), float(pair[1])
        except (TypeError, ValueError, IndexError):
            continue
        if np.isfinite(e) and np.isfinite(v):
            out.append((e, v))
    return sorted(out)


class CurveModel:
    """Past complete curves (epoch -> cost) and, per set of epochs matched on, a k-d tree over them; with
    ``keys`` (each curve's configuration, as ``key_of`` makes it from a configuration), the curves of
    each configuration."""

    def __init__(self, curves: Iterable[Sequence[tuple[float, float]]], k: int = K, features: int = FEATURES,
                 keys: Iterable[Any] | None = None, key_of: Callable[[dict[str, Any]], Any] | None = None) -> None:
        pairs = [(c, key) for c, key in zip(curves, keys if keys is not None else itertools.repeat(None)) if len(c) >= 2]
        ends = [c[-1][0] for c, _ in pairs]
        self.final_epoch = float(max(set(ends), key=ends.count)) if ends else 0.0
        pairs = [(c, key) for c, key in pairs if c[-1][0] == self.final_epoch]
        curves = [c for c, _ in pairs]
        self._same: dict[Any, list[int]] = {}
        for i, (_, key) in enumerate(pairs):
            if key is not None:
                self._same.setdefault(key, []).append(i)
        self.key_of = key_of
        self._keys: dict[str, Any] = {}
        self.grid = sorted({e for c in curves for e, _ in c})
        self._col = {e: i for i, e in enumerate(self.grid)}
        self.values = np.full((len(curves), len(self.grid)), np.nan)
        for i, c in enumerate(curves):
            for e, v in c:
                self.values[i, self._col[e]] = v
        self.final = self.values[:, -1] if len(self.grid) else np.zeros(0)
        self.k, self.features = k, features
        self._trees: dict[tuple[int, ...], Any] = {}

    def __len__(self) -> int:
        return len(self.values)

    def _tree(self, cols: tuple[int, ...]) -> tuple[Any, np.ndarray] | None:
        if cols not in self._trees:
            from scipy.spatial import cKDTree

            rows = np.flatnonzero(~np.isnan(self.values[:, list(cols)]).any(axis=1))
            if len(rows) < MIN_CURVES:
                self._trees[cols] = None
            else:
                x = self.values[np.ix_(rows, cols)]
                self._trees[cols] = (cKDTree(x), self.final[rows] - x[:, -1])
        return self._trees[cols]  # type: ignore[no-any-return]

    def predict(self, reports: dict[float, float], key: Any = None) -> tuple[float, float]:
        """The final cost of a curve reported so far (epoch -> cost), and its standard deviation (inf when
        no past curve matches its epochs: its last cost stands, unknown how it goes on); ``key``: its
        configuration's, whose own past curves predict it when there are ``MIN_SAME`` of them."""
        last = reports[max(reports)]
        epochs = [e for e in sorted(reports) if e in self._col][-self.features:]
        if not epochs or max(reports) >= self.final_epoch:
            return last, (0.0 if max(reports) >= self.final_epoch else float("inf"))
        same = self._same.get(key, [])  # None: no configuration (never a key)
        if len(same) >= MIN_SAME:
            d = self.final[same] - self.values[same, self._col[epochs[-1]]]
            d = d[np.isfinite(d)]
            if len(d) >= MIN_SAME:
                return float(reports[epochs[-1]] + d.mean()), float(d.std(ddof=1))
        found = self._tree(tuple(self._col[e] for e in epochs))
        if found is None:
            return last, float("inf")
        tree, change = found
        k = min(self.k, len(change))
        _, idx = tree.query([reports[e] for e in epochs], k=k)
        d = change[np.atleast_1d(idx)]
        return float(reports[epochs[-1]] + d.mean()), float(d.std(ddof=1)) if k > 1 else float("inf")

    def judge(self, reports: dict[float, float], config: dict[str, Any]) -> tuple[float, float]:
        """ASHA's judge (``optimizers.asha.Judge``): the predicted final cost and its deviation."""
        return self.predict(reports, self._key(config))

    def _key(self, config: dict[str, Any]) -> Any:
        if self.key_of is None or not self._same:
            return None
        from orchestrator.optimizers.base import config_key

        name = config_key(config)
        if name not in self._keys:
            self._keys[name] = self.key_of(config)
        return self._keys[name]


def vector_key(vector: np.ndarray) -> bytes:
    """A configuration's identity across tasks: its vector in the new space, inactive as -1, rounded."""
    return np.round(np.nan_to_num(np.asarray(vector, dtype=float), nan=-1.0), 6).tobytes()


def curve_model(meta: MetaData | None, space: ConfigurationSpace | None = None) -> CurveModel | None:
    """The model of the past trials' complete curves in ``meta`` (already the compatible tasks), costs by
    each row's direction, each curve known by its configuration in ``space`` when given; None when fewer
    than ``MIN_CURVES`` complete curves are there."""
    if meta is None or not len(meta) or "curve" not in meta.df.columns:
        return None
    df = meta.df[meta.df["curve"].notna()]
    if not len(df):
        return None
    signs = np.where(df["direction"].astype(str).to_numpy() == "maximize", -1.0, 1.0)
    curves = [[(e, s * v) for e, v in parse_curve(cell)] for cell, s in zip(df["curve"].to_numpy(), signs)]
    keys, key_of = None, None
    if space is not None:
        from orchestrator.metalearning.encode import smac_encode_frame
        from orchestrator.optimizers.prior import smac_vectors

        keys = [vector_key(v) for v in smac_encode_frame(space, df)]

        def key_of(config: dict[str, Any]) -> bytes:
            return vector_key(smac_vectors(space, [config])[0])

    model = CurveModel(curves, keys=keys, key_of=key_of)
    return model if len(model) >= MIN_CURVES else None

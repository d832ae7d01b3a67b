"""SMAC's random forest with the source prior as extra inputs (a SMAC surrogate model).

For a configuration x the forest sees its hyperparameters plus the weighted source prior
m(x) = sum_s w_s S_s(x) and every source task's S_s(x), so it can learn its own mix of what past
tasks say. The weights are refreshed from the new task's data each time SMAC retrains the model.
"""

from __future__ import annotations

from typing import Any

import numpy as np
from smac.model.abstract_model import AbstractModel
from smac.model.random_forest.pyrfr.random_forest_pyrfr import PyrfrRandomForest

from orchestrator.optimizers.prior import SourcePrior, TaskWeights


class PriorRandomForest(AbstractModel):
    def __init__(self, configspace: Any, prior: SourcePrior, weights: TaskWeights, seed: int = 0,
                 n_trees: int = 10) -> None:
        super().__init__(configspace, seed=seed)
        self.prior, self.weights = prior, weights
        self.rf = PyrfrRandomForest(configspace, log_y=True, n_trees=n_trees, ratio_features=1.0,
                                    min_samples_split=2, min_samples_leaf=1, seed=seed)
        extra = 1 + len(prior.tasks)
        self.rf._types = list(self.rf._types) + [0] * extra
        self.rf._bounds = list(self.rf._bounds) + [(0.0, 1.0)] * extra

    def _augment(self, x: np.ndarray) -> np.ndarray:
        s = self.prior.values(x)
        return np.hstack([x, (self.weights.w @ s)[:, None], s.T])

    def _train(self, X: np.ndarray, Y: np.ndarray) -> PriorRandomForest:
        self.weights.update(self.prior.values(X), np.asarray(Y).ravel())
        self.rf._train(self._augment(X), Y)
        return self

    def _predict(self, X: np.ndarray, covariance_type: str | None = "diagonal") -> tuple[np.ndarray, np.ndarray | None]:
        return self.rf._predict(self._augment(X), covariance_type)

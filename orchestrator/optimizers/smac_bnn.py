"""Bayesian-neural-network surrogates behind SMAC's model interface (strategies ``bnn``, ``meta-bnn``).

``DNGOModel``: a 5-member ensemble of DNGO nets (3 x 50 tanh features + Bayesian linear output layer),
cross-fitted over 5 folds, its variance calibrated on the out-of-fold residuals (split-conformal
style), retrained warm as SMAC appends rows. ``MetaBNNModel``: ABLR / FSBO-style: features
pre-trained on past tasks, a hierarchical Bayesian head for the new task whose prior is the past
tasks' heads. ``RunHistoryMinMaxLogEncoder``: the cost warp meta-bnn shares with its past tasks.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np
import torch
from ConfigSpace import ConfigurationSpace
from scipy.stats import norm
from smac.model.abstract_model import AbstractModel
from smac.runhistory.encoder import RunHistoryEncoder

from orchestrator.optimizers.bnn_core import (
    BLR,
    MLP,
    BatchedMLP,
    InputEncoder,
    NP_ACTIVATIONS,
    torch_neg_log_evidence,
    warm_up_torch,
    single_threaded_blas,
    numpy_features,
)


class DNGOModel(AbstractModel):
    """DNGO surrogate: MLP features + Bayesian linear regression output layer (type-II ML), as an
    ensemble of M nets trained in one batched pass, with cross-fitted variance calibration.

    Training (Y standardised to zero mean / unit std; inputs from InputEncoder):
      1. M nets (hidden tanh layers, default 3 x 50) are trained jointly by full-batch Adam on the MSE of
         a linear head with cosine learning-rate decay: `epochs` steps at `lr` from a fresh init, or, when
         the new data extend the previous training data (SMAC appends rows), `warm_start_steps` steps at
         `warm_lr` from the previous weights. With `crossfit` and n >= 2M the rows are split into M folds
         (fold of a row kept across warm starts) and member m never sees fold m.
      2. Per member, a BLR on [phi_m(x), 1] over the member's training rows: w ~ N(0, alpha^-1 I),
         noise beta^-1 >= min_noise_var; log alpha, log beta maximise the evidence plus weak log-normal
         hyperpriors (N(0, 3^2) and N(log 10, 3^2)), by L-BFGS-B on the closed-form evidence.
      3. Calibration (`crossfit`): each row is out-of-fold (OOF) for exactly one member, which gives an
         honest (m_i, v_i); with var_mode="total" v_i also includes the members' disagreement at x_i.
         calib="quantile" (default): c = q(z^2) / z_{(1+cov)/2}^2 with z_i^2 = (y_i - m_i)^2 / v_i and q the
         ceil((n+1) cov)/n empirical quantile (as in split-conformal prediction), so that the OOF central
         `coverage` interval is exact; calib="mle": c = mean(z^2). Clipped to c_bounds.
    Prediction: mean = mean of member means; var = c * (mean of member variances + variance of member
    means) for var_mode="total" (default); de-standardised. Inference is numpy (float32 products): SMAC's
    acquisition maximiser calls predict thousands of times per ask.
    """

    def __init__(
        self,
        configspace: ConfigurationSpace,
        hidden: Sequence[int] = (50, 50, 50),
        activation: str = "tanh",
        n_ensemble: int = 5,
        epochs: int = 200,
        lr: float = 1e-2,
        weight_decay: float = 0.0,
        optimizer: str = "adam",
        warm_start_steps: int | None = 50,
        warm_lr: float | None = 3e-3,
        crossfit: bool = True,
        c_bounds: tuple[float, float] = (0.1, 100.0),
        calib: str = "quantile",
        var_mode: str = "total",
        coverage: float = 0.9,
        min_noise_var: float = 1e-3,
        num_threads: int = 1,
        instance_features: dict[str, list[int | float]] | None = None,
        pca_components: int | None = 7,
        seed: int = 0,
    ) -> None:
        super().__init__(configspace=configspace, instance_features=instance_features,
                         pca_components=pca_components, seed=seed)
        self.hidden, self.activation = tuple(hidden), activation
        self.n_ensemble, self.epochs, self.lr, self.weight_decay = n_ensemble, epochs, lr, weight_decay
        self.optimizer = optimizer
        self.crossfit, self.c_bounds, self.calib, self.coverage = crossfit, c_bounds, calib, coverage
        self.var_mode = var_mode
        self.min_noise_var, self.num_threads = min_noise_var, num_threads
        self._enc = InputEncoder(configspace, n_extra=self._n_features)
        self._members: list[tuple[list, BLR]] = []
        self.var_scale = 1.0
        self.warm_start_steps, self.warm_lr = warm_start_steps, warm_lr
        self._net: BatchedMLP | None = None
        self._X_prev: np.ndarray | None = None
        self._fold: np.ndarray | None = None
        self._crossfit: bool | None = None
        warm_up_torch()
        single_threaded_blas()

    @property
    def meta(self) -> dict[str, Any]:
        m = super().meta
        m.update(dict(hidden=self.hidden, activation=self.activation, n_ensemble=self.n_ensemble,
                      epochs=self.epochs, lr=self.lr, weight_decay=self.weight_decay, crossfit=self.crossfit,
                      min_noise_var=self.min_noise_var))
        return m

    def _train(self, X: np.ndarray, Y: np.ndarray) -> "DNGOModel":
        y = np.asarray(Y, float).reshape(-1)
        n, M = len(y), self.n_ensemble
        self._y_mean = float(np.mean(y))
        sd = float(np.std(y))
        self._y_std = sd if sd > 1e-12 else 1.0
        ys = (y - self._y_mean) / self._y_std
        x = self._enc.fit(X)(X)
        # fold assignment: member m is trained on rows with fold != m
        crossfit = self.crossfit and M >= 2 and n >= 2 * M
        # warm start: SMAC's data only grow by appending rows, so continue training the previous nets
        # (same folds for the old rows) for fewer steps; anything else -> cold start
        warm = (self.warm_start_steps is not None and self._net is not None and crossfit == self._crossfit
                and self._X_prev is not None and n >= len(self._X_prev)
                and np.array_equal(X[: len(self._X_prev)], self._X_prev, equal_nan=True))
        if crossfit:
            if warm:
                k = n - len(self._fold)
                new = np.concatenate([self._rng.permutation(M) for _ in range(k // M + 1)])[:k]
                fold = np.concatenate([self._fold, new])
            else:
                fold = self._rng.permutation(np.arange(n) % M)
        else:
            fold = np.full(n, -1)
        mask = np.ones((M, n))
        if crossfit:
            mask[fold[None, :] == np.arange(M)[:, None]] = 0.0
        steps = self.warm_start_steps if warm else self.epochs

        prev = torch.get_num_threads()
        torch.set_num_threads(self.num_threads)
        try:
            torch.manual_seed(int(self._rng.randint(0, 2**31 - 1)))
            net = self._net if warm else BatchedMLP(M, x.shape[1], self.hidden, self.activation)
            self._net, self._fold, self._crossfit, self._X_prev = net, fold, crossfit, X.copy()
            self.last_fit = dict(n=n, warm=bool(warm), steps=steps)
            xt = torch.as_tensor(x, dtype=torch.float32)
            yt = torch.as_tensor(ys, dtype=torch.float32)[None, :]
            mt = torch.as_tensor(mask / mask.sum(1, keepdims=True), dtype=torch.float32)
            if self.optimizer == "lbfgs":
                opt = torch.optim.LBFGS(net.parameters(), lr=1.0, max_iter=steps, history_size=20,
                                        tolerance_grad=1e-9, tolerance_change=1e-12,
                                        line_search_fn="strong_wolfe")

                def closure() -> torch.Tensor:
                    opt.zero_grad()
                    loss = (((net(xt) - yt) ** 2) * mt).sum()
                    if self.weight_decay:
                        loss = loss + 0.5 * self.weight_decay * sum((w**2).sum() for w in net.W)
                    loss.backward()
                    return loss

                opt.step(closure)
            else:
                lr = self.warm_lr if (warm and self.warm_lr) else self.lr
                opt = torch.optim.Adam(net.parameters(), lr=lr, weight_decay=self.weight_decay)
                sched = torch.optim.lr_scheduler.CosineAnnealingLR(opt, T_max=steps, eta_min=self.lr * 0.05)
                for _ in range(steps):
                    opt.zero_grad()
                    loss = (((net(xt) - yt) ** 2) * mt).sum()
                    loss.backward()
                    opt.step()
                    sched.step()
        finally:
            torch.set_num_threads(prev)

        self._members = []
        oof_m, oof_v = np.zeros(n), np.ones(n)
        mu_all = np.zeros((M, n))
        for m in range(M):
            p = net.member_params(m)
            Phi = numpy_features(p, self.activation, x)
            tr = mask[m] > 0
            blr = BLR(min_noise_var=self.min_noise_var).fit(Phi[tr], ys[tr])
            self._members.append((p, blr))
            mu, v = blr.predict(Phi)
            mu_all[m] = mu
            if crossfit:
                oof_m[~tr], oof_v[~tr] = mu[~tr], v[~tr]
        self.var_scale = 1.0
        if crossfit:
            if self.var_mode == "total":
                oof_v = oof_v + mu_all.var(0)
            z2 = (ys - oof_m) ** 2 / oof_v
            if self.calib == "mle":  # argmax_c sum log N(y | m, c v)  ->  c = mean(z^2)
                c = float(np.mean(z2))
            else:  # split-conformal style: the OOF |z| quantile at `coverage` maps onto the Gaussian one
                q = min(1.0, np.ceil((n + 1) * self.coverage) / n)
                c = float(np.quantile(z2, q) / norm.ppf(0.5 + self.coverage / 2) ** 2)
            self.var_scale = float(np.clip(c, *self.c_bounds))
        self._stack_members()
        self._is_trained = True
        return self

    def _stack_members(self) -> None:
        # all members' layers and BLR posteriors stacked, so that prediction is one batched pass
        L = len(self._members[0][0])
        self._Ws = [np.stack([p[i][0] for p, _ in self._members]) for i in range(L)]          # (M, a, b)
        self._bs = [np.stack([p[i][1] for p, _ in self._members])[:, None, :] for i in range(L)]  # (M, 1, b)
        # float32 for the heavy products (acquisition maximisation predicts ~10^4 points per ask)
        self._Ws = [W.astype(np.float32) for W in self._Ws]
        self._bs = [b.astype(np.float32) for b in self._bs]
        self._w = np.stack([b.w for _, b in self._members])[:, :, None].astype(np.float32)    # (M, k, 1)
        # posterior covariance factor R = V diag(inv_d)^(1/2): phi^T A^-1 phi = |phi R|^2
        self._R = np.stack([b.V * np.sqrt(b.inv_d)[None, :] for _, b in self._members]).astype(np.float32)
        self._noise = np.array([1.0 / b.beta for _, b in self._members])[:, None]             # (M, 1)

    def _predict(self, X: np.ndarray, covariance_type: str | None = "diagonal") -> tuple[np.ndarray, np.ndarray | None]:
        if covariance_type not in (None, "diagonal"):
            raise ValueError("DNGOModel supports covariance_type None or 'diagonal' only.")
        h = self._enc(X).astype(np.float32)[None]
        act = NP_ACTIVATIONS[self.activation]
        for W, b in zip(self._Ws, self._bs):
            h = act(h @ W + b)
        Phi = np.concatenate([h, np.ones(h.shape[:2] + (1,), dtype=np.float32)], axis=2)    # (M, n, k)
        Mu = (Phi @ self._w)[..., 0].astype(np.float64)                                      # (M, n)
        P = Phi @ self._R
        Vv = np.einsum("mnk,mnk->mn", P, P).astype(np.float64) + self._noise                  # (M, n)
        mean = Mu.mean(0)
        if self.var_mode == "sum":
            var = self.var_scale * Vv.mean(0) + Mu.var(0)
        elif self.var_mode == "total":
            var = self.var_scale * (Vv.mean(0) + Mu.var(0))
        else:  # "member": calibrated member variance only
            var = self.var_scale * Vv.mean(0)
        mean = mean * self._y_std + self._y_mean
        var = np.maximum(var * self._y_std**2, 1e-12)
        return mean[:, None], (var[:, None] if covariance_type is not None else None)


# ---------------------------------------------------------------------------------------------------
# Meta-learned variant (ABLR / FSBO)
# ---------------------------------------------------------------------------------------------------
class MetaBNNModel(AbstractModel):
    """Target-task model on a `meta_train` state: ABLR features with a hierarchical Bayesian head.

    Y (raw cost) is mapped with the fixed affine `y_transform` = (mean, std) used in meta-training, so the
    target head lives in the units of the meta-train heads. Head prior: w ~ N(w0, alpha^-1 cov), w0 /
    cov = mean / (shrunk) covariance of the meta-train heads, i.e. the target head is the average task
    plus a combination of the training tasks' deviations (a learned task-embedding space) plus a little
    isotropic slack: with no data the model predicts the "average task" surface, with growing data it
    moves to the target's own posterior. alpha (prior strength) and
    beta (noise precision) are set by type-II MAP on the target data, with log-normal hyperpriors
    centred on alpha = 1 and on the meta-train tasks' median beta (sd 1 in log space). With
    finetune_steps > 0 and n >= finetune_min, phi is first fine-tuned on the target data by the same
    hierarchical marginal likelihood (FSBO-style), starting from the meta-trained weights.
    """

    def __init__(
        self,
        configspace: ConfigurationSpace,
        meta_state: dict[str, Any],
        y_transform: tuple[float, float] = (0.0, 1.0),
        finetune_steps: int = 0,
        finetune_min: int = 20,
        finetune_lr: float = 1e-3,
        num_threads: int = 1,
        instance_features: dict[str, list[int | float]] | None = None,
        pca_components: int | None = 7,
        seed: int = 0,
    ) -> None:
        super().__init__(configspace=configspace, instance_features=instance_features,
                         pca_components=pca_components, seed=seed)
        single_threaded_blas()
        self.ms = meta_state
        self.y_transform = y_transform
        self.finetune_steps, self.finetune_min, self.finetune_lr = finetune_steps, finetune_min, finetune_lr
        self.num_threads = num_threads
        self._enc = InputEncoder(configspace, n_extra=self._n_features)
        self._C = meta_state["cov_sqrt"]                       # head prior covariance = C C^T (up to 1/alpha)
        self._w0 = meta_state["w0"]
        self._v0 = np.linalg.lstsq(self._C, self._w0, rcond=None)[0]  # w0 in whitened coordinates
        lb = float(np.log(np.median(meta_state["alpha_beta"][:, 1])))
        self._hyper = dict(log_alpha=(0.0, 1.0), log_beta=(lb, 1.0))

    def _finetune(self, x: np.ndarray, ys: np.ndarray) -> list:
        ms = self.ms
        net = MLP(x.shape[1], ms["hidden"], ms["activation"])
        net.load_state_dict(ms["state_dict"])
        log_ab = torch.tensor([0.0, self._hyper["log_beta"][0]], requires_grad=True)
        opt = torch.optim.Adam(list(net.body.parameters()) + [log_ab], lr=self.finetune_lr)
        xt, yt = torch.as_tensor(x, dtype=torch.float32), torch.as_tensor(ys, dtype=torch.float64)
        C, w0 = torch.as_tensor(self._C), torch.as_tensor(self._w0)
        cap = float(-np.log(ms["min_noise_var"]))
        for _ in range(self.finetune_steps):
            opt.zero_grad()
            phi = torch.cat([net.features(xt), torch.ones(len(xt), 1)], 1).double()
            loss = torch_neg_log_evidence(phi @ C, yt - phi @ w0, log_ab[0].double(),
                                           torch.clamp(log_ab[1], max=cap).double())
            loss.backward()
            opt.step()
        return net.numpy_params()

    def _train(self, X: np.ndarray, Y: np.ndarray) -> "MetaBNNModel":
        y = np.asarray(Y, float).reshape(-1)
        ys = (y - self.y_transform[0]) / self.y_transform[1]
        x = self._enc.fit(X)(X)
        self._params = self.ms["params"]
        if self.finetune_steps > 0 and len(y) >= self.finetune_min:
            prev = torch.get_num_threads()
            torch.set_num_threads(self.num_threads)
            try:
                torch.manual_seed(int(self._rng.randint(0, 2**31 - 1)))
                self._params = self._finetune(x, ys)
            finally:
                torch.set_num_threads(prev)
        Phi = numpy_features(self._params, self.ms["activation"], x)
        # w = C v with v ~ N(v0, alpha^-1 I) is w ~ N(w0, alpha^-1 C C^T): a BLR on the features Phi C
        self._blr = BLR(min_noise_var=self.ms["min_noise_var"], **self._hyper).fit(Phi @ self._C, ys, w0=self._v0)
        self._is_trained = True
        return self

    def _predict(self, X: np.ndarray, covariance_type: str | None = "diagonal") -> tuple[np.ndarray, np.ndarray | None]:
        if covariance_type not in (None, "diagonal"):
            raise ValueError("MetaBNNModel supports covariance_type None or 'diagonal' only.")
        Phi = numpy_features(self._params, self.ms["activation"], self._enc(X)) @ self._C
        m, v = self._blr.predict(Phi)
        mean = m * self.y_transform[1] + self.y_transform[0]
        var = np.maximum(v * self.y_transform[1] ** 2, 1e-12)
        return mean[:, None], (var[:, None] if covariance_type is not None else None)


# ---------------------------------------------------------------------------------------------------
# A fixed output warping for SMAC (used by the meta-learned model: the same map in every task)
# ---------------------------------------------------------------------------------------------------
class RunHistoryErrorLogEncoder(RunHistoryEncoder):
    """Y = log(cost + shift + offset): for objectives that are errors (or 1 - scores) in [0, 1], whose
    scale every task shares, so meta-bnn's head prior applies from the first observation."""

    def __init__(self, *args: Any, shift: float = 0.0, offset: float = 0.02, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.shift, self.offset = shift, offset

    def transform_response_values(self, values: np.ndarray) -> np.ndarray:
        return np.log(np.clip(np.asarray(values, float) + self.shift, 0, None) + self.offset)


class RunHistoryMinMaxLogEncoder(RunHistoryEncoder):
    """Y = log((cost - min) / (max - min) + offset) over the costs observed so far: the same warp the
    past tasks get (each on its own min and max), so that meta-bnn's head prior applies to any scale."""

    def __init__(self, *args: Any, offset: float = 0.02, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.offset = offset

    def transform_response_values(self, values: np.ndarray) -> np.ndarray:
        v = np.asarray(values, float)
        if v.size == 0:
            return v
        lo, hi = float(np.min(v)), float(np.max(v))
        span = hi - lo if hi > lo else 1.0
        return np.log((v - lo) / span + self.offset)


def warp_encoder(kind: str, shift: float) -> Any:
    """SMAC's runhistory encoder for meta-bnn (a factory of the scenario): the target's costs mapped as
    the past tasks' were: ('error', b) bounded errors on a shared scale, else per-run min-max."""

    def encoder(scenario: Any) -> Any:
        if kind == "error":
            return RunHistoryErrorLogEncoder(scenario, shift=shift)
        return RunHistoryMinMaxLogEncoder(scenario)

    return encoder


def bnn_optimizer(space: ConfigurationSpace, seed: int = 0, n_trials: int = 100, budget: float | None = None,
                  model: Any = None, encoder: Any = None, initial_configs: Sequence[dict[str, Any]] | None = None,
                  initial_origin: str = "warm start") -> Any:
    """SMAC with a network surrogate and plain EI (the network models raw or warped costs), retrained at
    every ask: with the default (every 8th) the acquisition's challenger list of a young model sends
    several trials into the same corner before the model sees any of them. With ``initial_configs``
    they are the whole initial design and there is no random interleaving (meta-bnn: the network's
    predictive variance does the exploring)."""
    from smac.acquisition.function import EI

    from orchestrator.optimizers.smac import SmacOptimizer

    if initial_configs is None:
        return SmacOptimizer(space, seed=seed, n_trials=n_trials, budget=budget,
                             model=model if model is not None else DNGOModel(space, seed=seed),
                             acquisition=EI(log=False), encoder=encoder, retrain_after=1)
    return SmacOptimizer(space, seed=seed, n_trials=n_trials, budget=budget,
                         model=model if model is not None else DNGOModel(space, seed=seed),
                         acquisition=EI(log=False), encoder=encoder, retrain_after=1, random_probability=0.0,
                         initial_configs=list(initial_configs), initial_origin=initial_origin, n_initial=0)

"""The numerical core of orch's Bayesian-neural-network surrogates (torch + numpy; no SMAC here).

* ``InputEncoder``: SMAC's configuration array -> network inputs (one-hot categoricals, NaN imputed).
* ``BLR``: Bayesian linear regression with type-II maximum-likelihood prior/noise precisions,
  closed form through an eigendecomposition (the DNGO output layer).
* ``BatchedMLP``: an ensemble of MLPs trained in one batched pass.
* ``meta_train``: ABLR-style pre-training on past tasks (shared features, one BLR head per task).

The SMAC models built on them are in ``smac_bnn.py``. Why DNGO (Snoek et al., 2015) and not SGHMC
(BOHAMIANN): thousands of sampling steps do not fit a one-second ask on two CPU cores, and a plain
deep ensemble is badly overconfident with 25 points; an ensemble of DNGO nets, cross-fitted and
calibrated on out-of-fold residuals, is both cheap and calibrated (measured: README).
"""

from __future__ import annotations

import copy
from collections.abc import Sequence
from typing import Any

import numpy as np
import torch
from ConfigSpace import CategoricalHyperparameter, ConfigurationSpace, Constant, OrdinalHyperparameter
from scipy.optimize import minimize


class InputEncoder:
    """SMAC config array -> network inputs in [0, 1].

    numeric (float / int): already in [0, 1] -> kept; ordinal: index / (n - 1); categorical: one-hot;
    constants are dropped. Inactive (NaN) numeric/ordinal values are imputed with -0.5 (outside the
    active range, so the net can tell them apart); an inactive categorical is the all-zero one-hot.
    Extra columns (instance features) are min-max scaled with statistics from the training data.
    """

    INACTIVE = -0.5

    def __init__(self, configspace: ConfigurationSpace, n_extra: int = 0):
        self.cols: list[tuple[str, int]] = []  # (kind, size)
        for hp in configspace.values():
            if isinstance(hp, Constant):
                self.cols.append(("drop", 1))
            elif isinstance(hp, CategoricalHyperparameter):
                self.cols.append(("cat", len(hp.choices)))
            elif isinstance(hp, OrdinalHyperparameter):
                self.cols.append(("ord", max(len(hp.sequence) - 1, 1)))
            else:
                self.cols.append(("num", 1))
        self.n_extra = n_extra
        self.extra_lo: np.ndarray | None = None
        self.extra_hi: np.ndarray | None = None
        self.dim = sum(s for k, s in self.cols if k == "cat") + sum(1 for k, _ in self.cols if k in ("num", "ord"))
        self.dim += n_extra

    def fit(self, X: np.ndarray) -> "InputEncoder":
        if self.n_extra:
            E = X[:, len(self.cols):]
            self.extra_lo, self.extra_hi = np.nanmin(E, 0), np.nanmax(E, 0)
        return self

    def __call__(self, X: np.ndarray) -> np.ndarray:
        X = np.asarray(X, dtype=np.float64)
        out = []
        for j, (kind, size) in enumerate(self.cols):
            v = X[:, j]
            if kind == "drop":
                continue
            if kind == "cat":
                oh = np.zeros((len(v), size))
                ok = np.isfinite(v)
                oh[np.nonzero(ok)[0], v[ok].astype(int)] = 1.0
                out.append(oh)
            else:
                col = v / size if kind == "ord" else v.copy()
                col[~np.isfinite(col)] = self.INACTIVE
                out.append(col[:, None])
        if self.n_extra:
            E = X[:, len(self.cols):]
            span = np.where(self.extra_hi > self.extra_lo, self.extra_hi - self.extra_lo, 1.0)
            out.append(np.nan_to_num((E - self.extra_lo) / span))
        return np.concatenate(out, axis=1)


# ---------------------------------------------------------------------------------------------------
# Bayesian linear regression with type-II ML hyperparameters
# ---------------------------------------------------------------------------------------------------
class BLR:
    """y = Phi w + eps, w ~ N(w0, alpha^-1 I), eps ~ N(0, beta^-1); alpha, beta maximise the evidence.

    Closed form through the eigendecomposition of Phi^T Phi, so each evidence evaluation is O(k).
    `min_noise_var` floors beta^-1 (in the units of y): the objective is deterministic, but a noise-free
    fit of a misspecified feature model would be overconfident away from the data.
    """

    def __init__(self, min_noise_var: float = 1e-3, max_alpha: float = 1e6,
                 log_alpha: tuple[float, float] | None = (0.0, 3.0),
                 log_beta: tuple[float, float] | None = (float(np.log(10.0)), 3.0)):
        self.min_noise_var = min_noise_var
        self.max_alpha = max_alpha
        self.log_alpha, self.log_beta = log_alpha, log_beta  # (mean, sd) of log-normal hyperpriors or None

    def fit(self, Phi: np.ndarray, y: np.ndarray, w0: np.ndarray | None = None,
            alpha_beta: tuple[float, float] | None = None) -> "BLR":
        n, k = Phi.shape
        w0 = np.zeros(k) if w0 is None else np.asarray(w0, float)
        r = y - Phi @ w0                                   # regress residual w.r.t. the prior mean
        lam, V = np.linalg.eigh(Phi.T @ Phi)
        lam = np.clip(lam, 0.0, None)
        c = V.T @ (Phi.T @ r)
        rr = float(r @ r)

        def neg_log_evidence(theta: np.ndarray) -> float:
            la, lb = theta
            a, b = np.exp(la), np.exp(lb)
            d = b * lam + a
            quad = b * b * c * c / d                        # per-direction pieces
            mtm = np.sum(quad / d)
            rss = rr - 2.0 * np.sum(b * c * c / d) + np.sum(lam * quad / d)
            le = 0.5 * k * la + 0.5 * n * lb - 0.5 * b * rss - 0.5 * a * mtm - 0.5 * np.sum(np.log(d))
            # log-normal hyperpriors (type-II MAP): keep the optimum finite for tiny n
            if self.log_alpha is not None:
                le += -0.5 * ((la - self.log_alpha[0]) / self.log_alpha[1]) ** 2
            if self.log_beta is not None:
                le += -0.5 * ((lb - self.log_beta[0]) / self.log_beta[1]) ** 2
            return -le

        if alpha_beta is None:
            bounds = [(np.log(1e-4), np.log(self.max_alpha)), (np.log(1e-3), -np.log(self.min_noise_var))]
            best = None
            starts = [[0.0, np.log(10.0)], [np.log(10.0), np.log(100.0)]]
            if self.log_beta is not None:
                starts.append([0.0, self.log_beta[0]])
            for x0 in starts:
                x0 = np.clip(x0, [b[0] for b in bounds], [b[1] for b in bounds])
                res = minimize(neg_log_evidence, np.array(x0), method="L-BFGS-B", bounds=bounds)
                if best is None or res.fun < best.fun:
                    best = res
            la, lb = best.x
            self.alpha, self.beta = float(np.exp(la)), float(np.exp(lb))
            self.neg_log_evidence = float(best.fun)
        else:
            self.alpha, self.beta = alpha_beta
        d = self.beta * lam + self.alpha
        self.V, self.inv_d = V, 1.0 / d
        self.w = w0 + V @ (self.beta * c / d)
        return self

    def predict(self, Phi: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        mean = Phi @ self.w
        P = Phi @ self.V
        var = (P * P) @ self.inv_d + 1.0 / self.beta
        return mean, var


# ---------------------------------------------------------------------------------------------------
# Network
# ---------------------------------------------------------------------------------------------------
def _fast_tanh(z: torch.Tensor) -> torch.Tensor:
    # == tanh(z); on some CPUs torch.tanh is ~7x slower than torch.sigmoid
    return 2.0 * torch.sigmoid(2.0 * z) - 1.0


class _FastTanh(torch.nn.Module):
    def forward(self, z: torch.Tensor) -> torch.Tensor:
        return _fast_tanh(z)


class MLP(torch.nn.Module):
    def __init__(self, d_in: int, hidden: Sequence[int] = (50, 50, 50), activation: str = "tanh"):
        super().__init__()
        act = {"tanh": _FastTanh, "relu": torch.nn.ReLU, "elu": torch.nn.ELU, "silu": torch.nn.SiLU}[activation]
        layers: list[torch.nn.Module] = []
        d = d_in
        for h in hidden:
            layers += [torch.nn.Linear(d, h), act()]
            d = h
        self.body = torch.nn.Sequential(*layers)
        self.head = torch.nn.Linear(d, 1)
        self.activation = activation

    def features(self, x: torch.Tensor) -> torch.Tensor:
        return self.body(x)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.head(self.body(x))

    def numpy_params(self) -> list[tuple[np.ndarray, np.ndarray]]:
        return [(m.weight.detach().numpy().astype(np.float64).T, m.bias.detach().numpy().astype(np.float64))
                for m in self.body if isinstance(m, torch.nn.Linear)]


NP_ACTIVATIONS = {"tanh": np.tanh, "relu": lambda z: np.maximum(z, 0.0), "silu": lambda z: z / (1.0 + np.exp(-z)),
           "elu": lambda z: np.where(z > 0, z, np.expm1(np.minimum(z, 0.0)))}


def numpy_features(params: list[tuple[np.ndarray, np.ndarray]], activation: str, x: np.ndarray) -> np.ndarray:
    """phi(x) with a bias column, in numpy (prediction is called thousands of times on tiny batches)."""
    f = NP_ACTIVATIONS[activation]
    h = x
    for W, b in params:
        h = f(h @ W + b)
    return np.concatenate([h, np.ones((len(h), 1))], axis=1)


def torch_neg_log_evidence(Phi: torch.Tensor, y: torch.Tensor, log_alpha: torch.Tensor,
                            log_beta: torch.Tensor) -> torch.Tensor:
    """-log p(y | Phi, alpha, beta) / n for BLR with w ~ N(0, alpha^-1 I) (ABLR's training loss)."""
    n, k = Phi.shape
    a, b = log_alpha.exp(), log_beta.exp()
    A = b * Phi.T @ Phi + a * torch.eye(k, dtype=Phi.dtype)
    L = torch.linalg.cholesky(A)
    rhs = b * Phi.T @ y
    m = torch.cholesky_solve(rhs[:, None], L)[:, 0]
    res = y - Phi @ m
    le = (0.5 * k * log_alpha + 0.5 * n * log_beta - 0.5 * b * (res @ res) - 0.5 * a * (m @ m)
          - torch.log(torch.diagonal(L)).sum() - 0.5 * n * np.log(2 * np.pi))
    return -le / n


# ---------------------------------------------------------------------------------------------------
# Single-task DNGO
# ---------------------------------------------------------------------------------------------------
_WARM = False


def single_threaded_blas() -> None:
    """Limit this process's BLAS (OpenBLAS / MKL under numpy and scipy) to one thread, once.

    The surrogate's linear algebra is on 50 x 50 matrices, where BLAS threads only add synchronisation:
    with the trials (or other benchmark workers) busy on the same cores, a threaded ``eigh`` took 73 ms
    instead of 0.1 ms and a 60-trial bnn run 150 s instead of 64 s (measured on 2 cores). Trials run
    in their own processes and keep their threads."""
    global _BLAS_LIMITED
    if not _BLAS_LIMITED:
        from threadpoolctl import threadpool_limits

        threadpool_limits(limits=1, user_api="blas")
        _BLAS_LIMITED = True


_BLAS_LIMITED = False


def warm_up_torch() -> None:
    """The first torch.optim optimizer triggers a multi-second lazy import (torch._dynamo); pay it once,
    when the model is constructed, instead of inside the first SMAC ask."""
    global _WARM
    if not _WARM:
        p = torch.nn.Parameter(torch.zeros(1))
        torch.optim.Adam([p]).step()
        _WARM = True


class BatchedMLP(torch.nn.Module):
    """M independent MLPs evaluated in one batched pass (weights (M, d_in, d_out)); cheap ensembles."""

    def __init__(self, n_members: int, d_in: int, hidden: Sequence[int], activation: str = "tanh"):
        super().__init__()
        dims = [d_in, *hidden, 1]
        self.W = torch.nn.ParameterList()
        self.b = torch.nn.ParameterList()
        for a, b in zip(dims[:-1], dims[1:]):
            bound = 1.0 / np.sqrt(a)  # torch.nn.Linear's default init
            self.W.append(torch.nn.Parameter(torch.empty(n_members, a, b).uniform_(-bound, bound)))
            self.b.append(torch.nn.Parameter(torch.empty(n_members, 1, b).uniform_(-bound, bound)))
        self.act = {"tanh": _fast_tanh, "relu": torch.relu, "elu": torch.nn.functional.elu,
                    "silu": torch.nn.functional.silu}[activation]

    def forward(self, x: torch.Tensor) -> torch.Tensor:  # x (n, d) -> (M, n)
        h = x.unsqueeze(0).expand(self.W[0].shape[0], -1, -1)
        for i in range(len(self.W) - 1):
            h = self.act(torch.baddbmm(self.b[i], h, self.W[i]))
        return torch.baddbmm(self.b[-1], h, self.W[-1])[..., 0]

    def member_params(self, m: int) -> list[tuple[np.ndarray, np.ndarray]]:
        return [(self.W[i][m].detach().double().numpy(), self.b[i][m, 0].detach().double().numpy())
                for i in range(len(self.W) - 1)]


def meta_train(
    tasks: Sequence[tuple[np.ndarray, np.ndarray]],
    hidden: Sequence[int] = (50, 50, 50),
    activation: str = "tanh",
    steps: int = 2000,
    batch: int = 128,
    lr: float = 3e-3,
    min_noise_var: float = 1e-3,
    standardise_batches: bool = False,
    shrink: float = 0.1,
    seed: int = 0,
    num_threads: int = 1,
) -> dict[str, Any]:
    """ABLR pre-training (Perrone et al., 2018): shared phi, one BLR head (alpha_t, beta_t) per task,
    loss = sum_t -log evidence_t(batch_t) / n_t, Adam with cosine decay.

    tasks : list of (x, y): x encoded by InputEncoder, y in the units the target model will use (e.g. raw
        cost under one global affine standardisation). Each step draws a batch of random size in
        [batch/8, batch] from every task (so the features also serve small target data sets); with
        `standardise_batches` each batch's y is standardised on its own.
    Returns the state for MetaBNNModel: phi's parameters, each task's head posterior mean fitted on its
    full data under its learned (alpha_t, beta_t), their mean w0 and a square root of the head prior
    covariance cov = S + shrink * mean(diag S) * I (S: across-task covariance of the heads), and the
    tasks' (alpha_t, beta_t).
    """
    single_threaded_blas()
    prev = torch.get_num_threads()
    torch.set_num_threads(num_threads)
    try:
        torch.manual_seed(seed)
        rng = np.random.default_rng(seed)
        d = tasks[0][0].shape[1]
        net = MLP(d, hidden, activation)
        log_ab = torch.zeros(len(tasks), 2)
        log_ab[:, 1] = float(np.log(10.0))
        log_ab.requires_grad_(True)
        opt = torch.optim.Adam(list(net.parameters()) + [log_ab], lr=lr)
        sched = torch.optim.lr_scheduler.CosineAnnealingLR(opt, T_max=steps, eta_min=lr * 0.05)
        tx = [torch.as_tensor(x, dtype=torch.float32) for x, _ in tasks]
        ty = [torch.as_tensor(y, dtype=torch.float64) for _, y in tasks]
        cap = float(-np.log(min_noise_var))
        for _ in range(steps):
            opt.zero_grad()
            loss = 0.0
            for t in range(len(tasks)):
                nb = min(len(tx[t]), int(rng.integers(max(8, batch // 8), batch + 1)))
                idx = torch.as_tensor(rng.choice(len(tx[t]), nb, replace=False))
                yb = ty[t][idx]
                if standardise_batches:
                    yb = (yb - yb.mean()) / (yb.std() + 1e-8)
                phi = net.features(tx[t][idx])
                phi = torch.cat([phi, torch.ones(nb, 1)], 1).double()
                loss = loss + torch_neg_log_evidence(phi, yb, log_ab[t, 0].double(),
                                                      torch.clamp(log_ab[t, 1], max=cap).double())
            loss.backward()
            opt.step()
            sched.step()
        p = net.numpy_params()
        albe = np.exp(log_ab.detach().double().numpy())
        albe[:, 1] = np.minimum(albe[:, 1], 1.0 / min_noise_var)
        heads = []
        for (x, y), (a, b) in zip(tasks, albe):
            # each task's head on its full data, under the (alpha_t, beta_t) learned in meta-training
            ys = (y - y.mean()) / (y.std() + 1e-12) if standardise_batches else y
            blr = BLR(min_noise_var=min_noise_var).fit(numpy_features(p, activation, x), ys, alpha_beta=(a, b))
            heads.append(blr.w)
        H = np.stack(heads)
        w0 = H.mean(0)
        S = (H - w0).T @ (H - w0) / max(len(H) - 1, 1)             # across-task head covariance (rank T-1)
        cov = S + shrink * np.mean(np.diag(S)) * np.eye(len(w0))   # + isotropic part: unseen directions
        lam, U = np.linalg.eigh(cov)
        cov_sqrt = U * np.sqrt(np.clip(lam, 1e-12, None))          # cov = cov_sqrt @ cov_sqrt.T
        return dict(params=p, state_dict=copy.deepcopy(net.state_dict()), hidden=tuple(hidden),
                    activation=activation, heads=H, w0=w0, cov_sqrt=cov_sqrt,
                    alpha_beta=albe, min_noise_var=min_noise_var)
    finally:
        torch.set_num_threads(prev)



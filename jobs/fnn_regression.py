"""fnn-regression: Dense -> ReLU -> ... -> Dense on tabular regression data (UCI Wine Quality).

Inputs and target are standardised with the training split's statistics; MSE and R² are reported
on the original scale for the validation split (objective: MSE, minimised) and the test split.
Space: learning rate, batch size, neurons per layer, layers.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from jobs.array_data import load_table, table_features
from jobs.common import seed_everything, setup_torch
from jobs.context import JobContext
from jobs.training import fit, gpu_memory_gb, loader, predict


def task_features(options: dict[str, Any]) -> dict[str, Any]:
    return table_features(load_table(options))


def build_model(n_in: int, neurons: int, layers: int) -> Any:
    from torch import nn

    parts: list[Any] = []
    prev = n_in
    for _ in range(layers):
        parts += [nn.Linear(prev, neurons), nn.ReLU()]
        prev = neurons
    parts.append(nn.Linear(prev, 1))
    return nn.Sequential(*parts)


def regression_metrics(y: np.ndarray, pred: np.ndarray, prefix: str = "") -> dict[str, float]:
    mse = float(np.mean((y - pred) ** 2))
    var = float(np.var(y))
    return {f"{prefix}mse": mse, f"{prefix}r2": 1.0 - mse / var if var > 0 else 0.0,
            f"{prefix}mae": float(np.mean(np.abs(y - pred)))}


def run(config: dict[str, Any], budget: float | None, ctx: JobContext) -> dict[str, float]:
    import torch
    from torch import nn

    device = setup_torch(ctx)
    seed_everything(ctx.seed)
    d = load_table(ctx.options)
    mu, sd = d.x_train.mean(0), d.x_train.std(0) + 1e-8
    ym, ys = float(d.y_train.mean()), float(d.y_train.std() + 1e-8)
    scale = lambda x: torch.from_numpy(((x - mu) / sd).astype(np.float32))  # noqa: E731
    train = (scale(d.x_train), torch.from_numpy(((d.y_train - ym) / ys).astype(np.float32)))
    model = build_model(d.x_train.shape[1], int(config.get("neurons", 128)), int(config.get("layers", 2))).to(device)
    opt = torch.optim.Adam(model.parameters(), lr=float(config.get("learning_rate", 1e-3)))
    loss_fn = nn.MSELoss()
    bs = int(config.get("batch_size", 32))

    def step(batch: Any) -> Any:
        return loss_fn(model(batch[0].to(device)).squeeze(-1), batch[1].to(device))

    def pred(x: np.ndarray) -> np.ndarray:
        out = predict(model, loader((scale(x),), 1024, ctx, device, False), lambda b: model(b[0].to(device)).squeeze(-1))
        return out.numpy().astype(np.float64) * ys + ym

    def validate() -> dict[str, float]:
        return regression_metrics(d.y_val, pred(d.x_val))

    report = fit(ctx, model, opt, ctx.epochs(default=50, config=config),
                 lambda e: loader(train, bs, ctx, device, True, e), step, device, evaluate=validate)
    metrics = dict(report.evaluated or validate())
    metrics.update(regression_metrics(d.y_test, pred(d.x_test), prefix="test_"))
    metrics.update(report.metrics())
    metrics["gpu_memory_gb"] = gpu_memory_gb()
    return metrics

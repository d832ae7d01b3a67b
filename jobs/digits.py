"""digits-mlp: an MLP on scikit-learn's bundled digits (8x8 images, 10 classes, 1,797 rows).

Real data shipped inside scikit-learn (UCI optical digits, CC BY 4.0), so it runs offline in
seconds: the default task of ``orch tune``. Split 60/20/20 with a fixed seed; objective is
validation accuracy; test metrics are reported too.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from jobs.common import classification_metrics, seed_everything, setup_torch
from jobs.context import JobContext
from jobs.data import class_entropy, split_indices
from jobs.training import fit, loader, predict


def load_data() -> tuple[np.ndarray, ...]:
    from sklearn.datasets import load_digits

    x, y = load_digits(return_X_y=True)
    x = (x / 16.0).astype(np.float32)
    tr, va, te = split_indices(len(y), (0.6, 0.2, 0.2), y)
    return x[tr], y[tr], x[va], y[va], x[te], y[te]


def task_features(options: dict[str, Any]) -> dict[str, Any]:
    x_tr, y_tr, *_ = load_data()
    return {"rows": int(len(y_tr)), "features": int(x_tr.shape[1]), "classes": int(len(np.unique(y_tr))),
            "class_entropy": class_entropy(y_tr), "modality": "image", "family": "mlp", "input_size": 64}


def build_model(config: dict[str, Any], n_in: int, n_out: int) -> Any:
    from torch import nn

    layers: list[Any] = []
    width = int(config.get("hidden_units", 128))
    prev = n_in
    for _ in range(int(config.get("layers", 2))):
        layers += [nn.Linear(prev, width), nn.ReLU(), nn.Dropout(float(config.get("dropout", 0.0)))]
        prev = width
    layers.append(nn.Linear(prev, n_out))
    return nn.Sequential(*layers)


def make_optimizer(config: dict[str, Any], params: Any) -> Any:
    import torch

    lr, wd = float(config.get("learning_rate", 1e-3)), float(config.get("weight_decay", 0.0))
    if config.get("optimizer", "adam") == "sgd":
        return torch.optim.SGD(params, lr=lr, momentum=float(config.get("momentum", 0.0)), weight_decay=wd)
    return torch.optim.Adam(params, lr=lr, weight_decay=wd)


def run(config: dict[str, Any], budget: float | None, ctx: JobContext) -> dict[str, float]:
    import torch
    from torch import nn

    device = setup_torch(ctx)
    seed_everything(ctx.seed)
    x_tr, y_tr, x_va, y_va, x_te, y_te = load_data()
    model = build_model(config, x_tr.shape[1], 10).to(device)
    opt = make_optimizer(config, model.parameters())
    loss_fn = nn.CrossEntropyLoss()
    train = (torch.from_numpy(x_tr), torch.from_numpy(y_tr).long())
    bs = int(config.get("batch_size", 64))

    def step(batch: Any) -> Any:
        return loss_fn(model(batch[0].to(device)), batch[1].to(device))

    def logits(x: np.ndarray) -> Any:
        return predict(model, loader((torch.from_numpy(x),), 1024, ctx, device, False), lambda b: model(b[0].to(device)))

    def validate() -> dict[str, float]:
        lv = logits(x_va)
        val_loss = float(loss_fn(lv, torch.from_numpy(y_va).long()))
        out = classification_metrics(y_va, lv.argmax(1).numpy())
        out["val_loss"] = val_loss if np.isfinite(val_loss) else 1e6
        return out

    report = fit(ctx, model, opt, ctx.epochs(default=20, config=config),
                 lambda e: loader(train, bs, ctx, device, True, e), step, device, clip=None, evaluate=validate)
    metrics = dict(report.evaluated or validate())
    metrics.update(classification_metrics(y_te, logits(x_te).argmax(1).numpy(), prefix="test_"))
    metrics.update(report.metrics())
    return metrics

"""digits-mlp: an MLP on scikit-learn's bundled digits (8x8 images, 10 classes, 1,797 rows).

Real data shipped inside scikit-learn (UCI optical digits, CC BY 4.0), so it runs offline in
seconds: the default task of ``orch tune``. Split 60/20/20 with a fixed seed; objective is
validation accuracy; test metrics are reported too.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from jobs.common import Checkpointer, class_entropy, classification_metrics, rng_state, seed_everything, set_rng_state, setup_torch
from jobs.context import JobContext

SPLIT_SEED = 0


def load_data() -> tuple[np.ndarray, ...]:
    from sklearn.datasets import load_digits
    from sklearn.model_selection import train_test_split

    x, y = load_digits(return_X_y=True)
    x = (x / 16.0).astype(np.float32)
    x_tr, x_rest, y_tr, y_rest = train_test_split(x, y, test_size=0.4, random_state=SPLIT_SEED, stratify=y)
    x_va, x_te, y_va, y_te = train_test_split(x_rest, y_rest, test_size=0.5, random_state=SPLIT_SEED, stratify=y_rest)
    return x_tr, y_tr, x_va, y_va, x_te, y_te


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
    epochs = ctx.epochs(default=20)
    model = build_model(config, x_tr.shape[1], 10).to(device)
    opt = make_optimizer(config, model.parameters())
    loss_fn = nn.CrossEntropyLoss()
    ckpt = Checkpointer(ctx)
    start_epoch = 0
    state = ckpt.load()
    if state is not None:
        model.load_state_dict(state["model"])
        opt.load_state_dict(state["optimizer"])
        set_rng_state(state["rng"])
        start_epoch = int(state["epoch"])
        print(f"[orch] resumed from checkpoint after epoch {start_epoch}", flush=True)
    xt, yt = torch.from_numpy(x_tr).to(device), torch.from_numpy(y_tr).long().to(device)
    bs = int(config.get("batch_size", 64))
    for epoch in range(start_epoch, epochs):
        model.train()
        perm = torch.randperm(len(xt), device=device)
        for i in range(0, len(xt), bs):
            idx = perm[i:i + bs]
            opt.zero_grad()
            loss = loss_fn(model(xt[idx]), yt[idx])
            loss.backward()
            opt.step()
        ckpt.save({"epoch": epoch + 1, "model": model.state_dict(), "optimizer": opt.state_dict(), "rng": rng_state()})
    model.eval()
    with torch.no_grad():
        logits_va = model(torch.from_numpy(x_va).to(device))
        val_loss = float(loss_fn(logits_va, torch.from_numpy(y_va).long().to(device)))
        pred_va = logits_va.argmax(1).cpu().numpy()
        pred_te = model(torch.from_numpy(x_te).to(device)).argmax(1).cpu().numpy()
    metrics = classification_metrics(y_va, pred_va)
    metrics.update(classification_metrics(y_te, pred_te, prefix="test_"))
    metrics["val_loss"] = val_loss if np.isfinite(val_loss) else 1e6
    metrics["epochs"] = float(epochs)
    return metrics

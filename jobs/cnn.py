"""cnn: Conv -> MaxPool -> Conv -> MaxPool -> Flatten -> Dense -> Softmax on images (MNIST).

Space: learning rate, batch size, filters, kernel size, dropout (before the dense layer).
Accuracy, macro and micro F1 on the validation split (10% of train, fixed seed); test reported.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from jobs.array_data import image_features, load_images
from jobs.common import classification_metrics, seed_everything, setup_torch
from jobs.context import JobContext
from jobs.training import fit, gpu_memory_gb, loader, predict


def task_features(options: dict[str, Any]) -> dict[str, Any]:
    return image_features(load_images(options))


def build_model(channels: int, size: tuple[int, int], classes: int, filters: int, kernel: int, dropout: float) -> Any:
    from torch import nn

    pad = kernel // 2
    h, w = size[0] // 2 // 2, size[1] // 2 // 2
    return nn.Sequential(
        nn.Conv2d(channels, filters, kernel, padding=pad), nn.ReLU(), nn.MaxPool2d(2),
        nn.Conv2d(filters, filters, kernel, padding=pad), nn.ReLU(), nn.MaxPool2d(2),
        nn.Flatten(), nn.Dropout(dropout), nn.Linear(filters * max(h, 1) * max(w, 1), classes),
    )


def run(config: dict[str, Any], budget: float | None, ctx: JobContext) -> dict[str, float]:
    import torch
    from torch import nn

    device = setup_torch(ctx)
    seed_everything(ctx.seed)
    d = load_images(ctx.options)
    _, c, h, w = d.x_train.shape
    model = build_model(c, (h, w), len(d.names), int(config.get("filters", 32)), int(config.get("kernel_size", 3)),
                        float(config.get("dropout", 0.25))).to(device)
    opt = torch.optim.Adam(model.parameters(), lr=float(config.get("learning_rate", 1e-3)))
    loss_fn = nn.CrossEntropyLoss()
    bs = int(config.get("batch_size", 64))
    train = (torch.from_numpy(d.x_train), torch.from_numpy(d.y_train))

    def step(batch: Any) -> Any:
        return loss_fn(model(batch[0].to(device, non_blocking=True)), batch[1].to(device, non_blocking=True))

    def labels_of(x: np.ndarray) -> np.ndarray:
        return predict(model, loader((torch.from_numpy(x),), 512, ctx, device, False),
                       lambda b: model(b[0].to(device))).argmax(1).numpy()

    def validate() -> dict[str, float]:
        return classification_metrics(d.y_val, labels_of(d.x_val))

    report = fit(ctx, model, opt, ctx.epochs(default=5, config=config),
                 lambda e: loader(train, bs, ctx, device, True, e), step, device, evaluate=validate)
    metrics = dict(report.evaluated or validate())
    metrics.update(classification_metrics(d.y_test, labels_of(d.x_test), prefix="test_"))
    metrics.update(report.metrics())
    metrics["gpu_memory_gb"] = gpu_memory_gb()
    return metrics

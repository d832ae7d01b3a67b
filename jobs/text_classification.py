"""text-classification: fine-tune a transformer (DistilBERT by default) for sentence classification.

The seed plan's BERT / DistilBERT runs on AG News, IMDB and SST-2: learning rate, batch size,
epochs, dropout and warm-up (a fraction of the training steps); accuracy, macro and micro F1 on the validation split (test
reported too). ``--model`` picks the network (a Hugging Face name or path, ``minilm``, ``tiny-bert``).
"""

from __future__ import annotations

from typing import Any

from jobs import hf_models
from jobs.common import classification_metrics, seed_everything, setup_torch
from jobs.context import JobContext
from jobs.text_data import load_text_classification, text_features
from jobs.training import fit, gpu_memory_gb, loader, predict


def check(options: dict[str, Any]) -> None:
    hf_models.check_model(options.get("model") or hf_models.DEFAULT_MODEL)


def task_features(options: dict[str, Any]) -> dict[str, Any]:
    feats = text_features(load_text_classification(options), "transformer")
    feats["model"] = options.get("model") or hf_models.DEFAULT_MODEL
    return feats


def run(config: dict[str, Any], budget: float | None, ctx: JobContext) -> dict[str, float]:
    import torch
    from transformers import get_linear_schedule_with_warmup

    device = setup_torch(ctx)
    seed_everything(ctx.seed)
    data = load_text_classification(ctx.options)
    name = ctx.options.get("model") or hf_models.DEFAULT_MODEL
    tok, model = hf_models.load(name, "sequence", len(data.label_names), float(config.get("dropout", 0.1)),
                                data.train[0], data.label_names)
    model.to(device)
    max_len = int(ctx.options.get("max_length", 128))

    def encode(texts: list[str], labels: Any) -> tuple[Any, ...]:
        enc = tok(texts, truncation=True, max_length=max_len, padding="longest", return_tensors="pt")
        return enc["input_ids"], enc["attention_mask"], torch.as_tensor(labels, dtype=torch.long)

    train, val, test = encode(*data.train), encode(*data.validation), encode(*data.test)
    bs = int(config.get("batch_size", 32))
    epochs = ctx.epochs(default=3, config=config)
    steps = epochs * ((len(train[0]) + bs - 1) // bs)
    opt = torch.optim.AdamW(model.parameters(), lr=float(config.get("learning_rate", 5e-5)), weight_decay=0.01)
    sched = get_linear_schedule_with_warmup(opt, hf_models.warmup_steps(config, steps), max(steps, 1))

    def step(batch: Any) -> Any:
        ids, mask, y = (t.to(device, non_blocking=True) for t in batch)
        return model(input_ids=ids, attention_mask=mask, labels=y).loss

    def logits(split: tuple[Any, ...]) -> Any:
        return predict(model, loader(split, 128, ctx, device, False),
                       lambda b: model(input_ids=b[0].to(device), attention_mask=b[1].to(device)).logits)

    def validate() -> dict[str, float]:
        return classification_metrics(val[2].numpy(), logits(val).argmax(1).numpy())

    report = fit(ctx, model, opt, epochs, lambda e: loader(train, bs, ctx, device, True, e), step, device, sched,
                 evaluate=validate)
    metrics = dict(report.evaluated or validate())
    metrics.update(classification_metrics(test[2].numpy(), logits(test).argmax(1).numpy(), prefix="test_"))
    metrics.update(report.metrics())
    metrics["gpu_memory_gb"] = gpu_memory_gb()
    return metrics

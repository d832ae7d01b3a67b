"""token-classification: a transformer with a token head for BIO named-entity tagging (CoNLL-2003).

Same space as text-classification. Words are split into sub-tokens; the first sub-token of each
word carries its tag. Entity-level (seqeval-style) F1, precision and recall on the validation
split, token accuracy too; test reported.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from jobs import hf_models
from jobs.common import seed_everything, setup_torch
from jobs.context import JobContext
from jobs.text_data import load_token_classification, token_features
from jobs.training import fit, gpu_memory_gb, loader, predict

IGNORE = -100


def check(options: dict[str, Any]) -> None:
    hf_models.check_model(options.get("model") or hf_models.DEFAULT_MODEL)


def task_features(options: dict[str, Any]) -> dict[str, Any]:
    feats = token_features(load_token_classification(options))
    feats["model"] = options.get("model") or hf_models.DEFAULT_MODEL
    return feats


def entity_metrics(gold: list[list[str]], pred: list[list[str]], prefix: str = "") -> dict[str, float]:
    from seqeval.metrics import accuracy_score, f1_score, precision_score, recall_score

    return {f"{prefix}f1": float(f1_score(gold, pred, zero_division=0)),
            f"{prefix}precision": float(precision_score(gold, pred, zero_division=0)),
            f"{prefix}recall": float(recall_score(gold, pred, zero_division=0)),
            f"{prefix}accuracy": float(accuracy_score(gold, pred))}


def run(config: dict[str, Any], budget: float | None, ctx: JobContext) -> dict[str, float]:
    import torch
    from transformers import get_linear_schedule_with_warmup

    device = setup_torch(ctx)
    seed_everything(ctx.seed)
    data = load_token_classification(ctx.options)
    tag_id = {t: i for i, t in enumerate(data.tag_names)}
    name = ctx.options.get("model") or hf_models.DEFAULT_MODEL
    texts = [" ".join(s) for s in data.train[0]]
    tok, model = hf_models.load(name, "token", len(data.tag_names), float(config.get("dropout", 0.1)), texts,
                                data.tag_names)
    model.to(device)
    max_len = int(ctx.options.get("max_length", 128))

    def encode(sents: list[list[str]], tags: list[list[str]]) -> tuple[Any, ...]:
        enc = tok(sents, is_split_into_words=True, truncation=True, max_length=max_len, padding="longest",
                  return_tensors="pt")
        labels = np.full(enc["input_ids"].shape, IGNORE, dtype=np.int64)
        for i, sent_tags in enumerate(tags):
            prev = None
            for j, w in enumerate(enc.word_ids(i)):
                if w is not None and w != prev:
                    labels[i, j] = tag_id[sent_tags[w]]
                prev = w
        return enc["input_ids"], enc["attention_mask"], torch.from_numpy(labels)

    train, val, test = encode(*data.train), encode(*data.validation), encode(*data.test)
    bs = int(config.get("batch_size", 32))
    epochs = ctx.epochs(default=3, config=config)
    steps = epochs * ((len(train[0]) + bs - 1) // bs)
    opt = torch.optim.AdamW(model.parameters(), lr=float(config.get("learning_rate", 5e-5)), weight_decay=0.01)
    sched = get_linear_schedule_with_warmup(opt, hf_models.warmup_steps(config, steps), max(steps, 1))

    def step(batch: Any) -> Any:
        ids, mask, y = (t.to(device, non_blocking=True) for t in batch)
        return model(input_ids=ids, attention_mask=mask, labels=y).loss

    def tags_of(split: tuple[Any, ...], gold: list[list[str]]) -> list[list[str]]:
        pred = predict(model, loader(split, 128, ctx, device, False),
                       lambda b: model(input_ids=b[0].to(device), attention_mask=b[1].to(device)).logits).argmax(-1)
        out = []
        for i, sent in enumerate(gold):
            first = [int(p) for p, lab in zip(pred[i], split[2][i]) if lab != IGNORE]
            words = [data.tag_names[p] for p in first] + ["O"] * (len(sent) - len(first))  # truncated words: O
            out.append(words[: len(sent)])
        return out

    def validate() -> dict[str, float]:
        return entity_metrics(data.validation[1], tags_of(val, data.validation[1]))

    report = fit(ctx, model, opt, epochs, lambda e: loader(train, bs, ctx, device, True, e), step, device, sched,
                 evaluate=validate)
    metrics = dict(report.evaluated or validate())
    metrics.update(entity_metrics(data.test[1], tags_of(test, data.test[1]), prefix="test_"))
    metrics.update(report.metrics())
    metrics["gpu_memory_gb"] = gpu_memory_gb()
    return metrics

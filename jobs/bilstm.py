"""bilstm-attention: Embedding -> BiLSTM -> additive attention -> dense -> softmax (IMDB, AG News).

Words come from a lower-cased regex tokenizer; the vocabulary is the training split's most frequent
words (``vocab_size`` option, 20,000), reviews are cut at ``max_length`` words (256). Space: learning
rate, batch size, LSTM units, dropout. Accuracy, macro and micro F1.
"""

from __future__ import annotations

from collections import Counter
from typing import Any

import numpy as np

from jobs.common import classification_metrics, seed_everything, setup_torch
from jobs.context import JobContext
from jobs.text_data import load_text_classification, text_features, words
from jobs.training import fit, gpu_memory_gb, loader, predict

PAD, UNK = 0, 1


def task_features(options: dict[str, Any]) -> dict[str, Any]:
    return text_features(load_text_classification(options), "bilstm")


def build_vocab(texts: list[str], size: int) -> dict[str, int]:
    counts: Counter[str] = Counter()
    for t in texts:
        counts.update(words(t))
    return {w: i + 2 for i, (w, c) in enumerate(counts.most_common(size - 2)) if c >= 2}


def encode(texts: list[str], vocab: dict[str, int], max_len: int) -> np.ndarray:
    out = np.zeros((len(texts), max_len), dtype=np.int64)
    for i, t in enumerate(texts):
        ids = [vocab.get(w, UNK) for w in words(t)[:max_len]]
        out[i, : len(ids)] = ids
    return out


def build_model(vocab: int, units: int, classes: int, dropout: float, embed: int = 100) -> Any:
    import torch
    from torch import nn

    class BiLSTMAttention(nn.Module):
        def __init__(self) -> None:
            super().__init__()
            self.embed = nn.Embedding(vocab, embed, padding_idx=PAD)
            self.lstm = nn.LSTM(embed, units, batch_first=True, bidirectional=True)
            self.att = nn.Linear(2 * units, 2 * units)
            self.score = nn.Linear(2 * units, 1, bias=False)
            self.drop = nn.Dropout(dropout)
            self.out = nn.Linear(2 * units, classes)

        def forward(self, ids: torch.Tensor) -> torch.Tensor:
            mask = ids != PAD
            h, _ = self.lstm(self.drop(self.embed(ids)))
            e = self.score(torch.tanh(self.att(h))).squeeze(-1)
            e = e.masked_fill(~mask, torch.finfo(e.dtype).min)
            alpha = torch.softmax(e, dim=1)
            context = (alpha.unsqueeze(-1) * h).sum(1)
            return self.out(self.drop(context))  # logits; softmax is in the loss

    return BiLSTMAttention()


def run(config: dict[str, Any], budget: float | None, ctx: JobContext) -> dict[str, float]:
    import torch
    from torch import nn

    device = setup_torch(ctx)
    seed_everything(ctx.seed)
    data = load_text_classification(ctx.options)
    vocab = build_vocab(data.train[0], int(ctx.options.get("vocab_size", 20_000)))
    max_len = int(ctx.options.get("max_length", 256))
    tensors = {}
    for split, (texts, labels) in (("train", data.train), ("val", data.validation), ("test", data.test)):
        tensors[split] = (torch.from_numpy(encode(texts, vocab, max_len)), torch.as_tensor(labels, dtype=torch.long))
    model = build_model(len(vocab) + 2, int(config.get("lstm_units", 100)), len(data.label_names),
                        float(config.get("dropout", 0.3))).to(device)
    opt = torch.optim.Adam(model.parameters(), lr=float(config.get("learning_rate", 1e-3)))
    loss_fn = nn.CrossEntropyLoss()
    bs = int(config.get("batch_size", 32))

    def step(batch: Any) -> Any:
        x, y = batch[0].to(device), batch[1].to(device)
        return loss_fn(model(x), y)

    def labels_of(split: str) -> np.ndarray:
        return predict(model, loader(tensors[split], 256, ctx, device, False), lambda b: model(b[0].to(device))).argmax(1).numpy()

    def validate() -> dict[str, float]:
        return classification_metrics(tensors["val"][1].numpy(), labels_of("val"))

    report = fit(ctx, model, opt, ctx.epochs(default=5, config=config),
                 lambda e: loader(tensors["train"], bs, ctx, device, True, e), step, device, evaluate=validate)
    metrics = dict(report.evaluated or validate())
    metrics.update(classification_metrics(tensors["test"][1].numpy(), labels_of("test"), prefix="test_"))
    metrics.update(report.metrics())
    metrics["gpu_memory_gb"] = gpu_memory_gb()
    return metrics

"""The epoch loop the torch jobs share: resume from the last epoch checkpoint, mixed precision on a
GPU, a checkpoint after every epoch, then the epoch's validation metrics reported to the trial's
progress file (the controller's learning curve: ASHA stops or pauses a trial on it), deterministic
batch order, DataLoader workers from the allocation, and per-epoch timings.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from typing import Any

from jobs.common import Checkpointer, rng_state, set_rng_state
from jobs.context import JobContext


@dataclass
class FitReport:
    epochs: int
    resumed_from: int
    epoch_seconds: list[float] = field(default_factory=list)
    last_loss: float = float("nan")
    #: the validation metrics after the last epoch trained (None: no epoch trained, or no ``evaluate``)
    evaluated: dict[str, float] | None = None

    def metrics(self) -> dict[str, float]:
        out = {"epochs": float(self.epochs), "resumed_from_epoch": float(self.resumed_from)}
        if self.epoch_seconds:
            out["seconds_per_epoch"] = sum(self.epoch_seconds) / len(self.epoch_seconds)
        return out


def loader(tensors: Sequence[Any], batch_size: int, ctx: JobContext, device: Any, shuffle: bool,
           epoch: int = 0) -> Any:
    """A DataLoader over tensors; the shuffle order depends only on (trial seed, epoch)."""
    import torch
    from torch.utils.data import BatchSampler, DataLoader, RandomSampler, SequentialSampler, TensorDataset

    gen = torch.Generator().manual_seed(ctx.seed * 10_007 + epoch)
    data = TensorDataset(*tensors)
    order = RandomSampler(data, generator=gen) if shuffle else SequentialSampler(data)
    workers = max(0, min(4, ctx.cpus - 1)) if device.type == "cuda" else 0
    # whole batches are sliced out of the tensors at once (batch_size=None), not row by row
    return DataLoader(data, sampler=BatchSampler(order, batch_size, drop_last=False), batch_size=None,
                      num_workers=workers, pin_memory=device.type == "cuda")


def autocast(device: Any) -> Any:
    """bf16 autocast on GPUs that have it, fp16 otherwise; a no-op context on the CPU."""
    import contextlib

    import torch

    if device.type != "cuda":
        return contextlib.nullcontext()
    dtype = torch.bfloat16 if torch.cuda.is_bf16_supported() else torch.float16
    return torch.autocast("cuda", dtype=dtype)


def fit(ctx: JobContext, model: Any, optimizer: Any, epochs: int, batches: Callable[[int], Iterable[Any]],
        step: Callable[[Any], Any], device: Any, scheduler: Any = None, clip: float | None = 1.0,
        evaluate: Callable[[], dict[str, float]] | None = None) -> FitReport:
    """Train for ``epochs`` epochs, starting after the last checkpointed epoch if there is one. After each
    epoch: the checkpoint, then ``evaluate()`` (the validation metrics) reported as the epoch's
    intermediate result (``ctx.report``)."""
    import torch

    ckpt = Checkpointer(ctx)
    state = ckpt.load()
    start = 0
    if state is not None:
        model.load_state_dict(state["model"])
        optimizer.load_state_dict(state["optimizer"])
        if scheduler is not None and state.get("scheduler") is not None:
            scheduler.load_state_dict(state["scheduler"])
        set_rng_state(state["rng"])
        start = min(int(state["epoch"]), epochs)
        print(f"[orch] resumed from the checkpoint after epoch {start}", flush=True)
    use_scaler = device.type == "cuda" and not torch.cuda.is_bf16_supported()
    scaler = torch.amp.GradScaler("cuda") if use_scaler else None
    report = FitReport(epochs=epochs, resumed_from=start)
    for epoch in range(start, epochs):
        model.train()
        t0 = time.time()
        total, n = 0.0, 0
        for batch in batches(epoch):
            optimizer.zero_grad(set_to_none=True)
            with autocast(device):
                loss = step(batch)
            if scaler is not None:
                scaler.scale(loss).backward()
                scaler.unscale_(optimizer)
            else:
                loss.backward()
            if clip:
                torch.nn.utils.clip_grad_norm_(model.parameters(), clip)
            if scaler is not None:
                scaler.step(optimizer)
                scaler.update()
            else:
                optimizer.step()
            if scheduler is not None:
                scheduler.step()
            total += float(loss.detach())
            n += 1
        secs = time.time() - t0
        report.epoch_seconds.append(secs)
        report.last_loss = total / max(1, n)
        ckpt.save({"epoch": epoch + 1, "model": model.state_dict(), "optimizer": optimizer.state_dict(),
                   "scheduler": None if scheduler is None else scheduler.state_dict(), "rng": rng_state()})
        print(f"[orch] epoch {epoch + 1}/{epochs}: train loss {report.last_loss:.4f} ({secs:.1f}s)", flush=True)
        if evaluate is not None:
            report.evaluated = evaluate()
            ctx.report(epoch + 1, report.evaluated)
    return report


def predict(model: Any, batches: Iterable[Any], forward: Callable[[Any], Any]) -> Any:
    """Concatenated outputs of ``forward(batch)`` in eval mode, without gradients, on the CPU."""
    import torch

    model.eval()
    outs = []
    with torch.no_grad():
        for batch in batches:
            outs.append(forward(batch).float().cpu())
    return torch.cat(outs) if outs else torch.empty(0)


def gpu_memory_gb() -> float:
    import torch

    if not torch.cuda.is_available():
        return 0.0
    return float(torch.cuda.max_memory_allocated() / 1024**3)

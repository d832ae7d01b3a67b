"""Helpers the torch jobs share: seeding, device, per-epoch checkpoints, metrics."""

from __future__ import annotations

import os
import random
import tempfile
from pathlib import Path
from typing import Any

import numpy as np

from jobs.context import JobContext


def seed_everything(seed: int) -> None:
    import torch

    random.seed(seed)
    np.random.seed(seed % (2**32))
    torch.manual_seed(seed)
    if torch.cuda.is_available():
        torch.cuda.manual_seed_all(seed)


def setup_torch(ctx: JobContext) -> Any:
    """Threads from the allocation; the GPU when there is one. Returns the torch device."""
    import torch

    torch.set_num_threads(ctx.cpus)
    if torch.cuda.is_available() and ctx.options.get("device", "auto") != "cpu":
        return torch.device("cuda")
    return torch.device("cpu")


class Checkpointer:
    """One checkpoint file per trial, replaced atomically at the end of every epoch."""

    def __init__(self, ctx: JobContext) -> None:
        self.path = ctx.checkpoint_dir / "last.pt"

    def load(self) -> dict[str, Any] | None:
        import torch

        if not self.path.exists():
            return None
        try:
            state: dict[str, Any] = torch.load(self.path, map_location="cpu", weights_only=False)
        except Exception as e:  # a checkpoint cut by a kill: start over rather than fail the trial
            print(f"[orch] ignoring unreadable checkpoint {self.path}: {e}", flush=True)
            return None
        return state

    def save(self, state: dict[str, Any]) -> None:
        import torch

        self.path.parent.mkdir(parents=True, exist_ok=True)
        fd, tmp = tempfile.mkstemp(prefix=".last.", suffix=".pt", dir=self.path.parent)
        os.close(fd)
        try:
            torch.save(state, tmp)
            os.replace(tmp, self.path)
        finally:
            Path(tmp).unlink(missing_ok=True)


def rng_state() -> dict[str, Any]:
    import torch

    state = {"python": random.getstate(), "numpy": np.random.get_state(), "torch": torch.get_rng_state()}
    if torch.cuda.is_available():
        state["cuda"] = torch.cuda.get_rng_state_all()
    return state


def set_rng_state(state: dict[str, Any]) -> None:
    import torch

    random.setstate(state["python"])
    np.random.set_state(state["numpy"])
    torch.set_rng_state(state["torch"])
    if "cuda" in state and torch.cuda.is_available():
        torch.cuda.set_rng_state_all(state["cuda"])


def classification_metrics(y_true: np.ndarray, y_pred: np.ndarray, prefix: str = "") -> dict[str, float]:
    from sklearn.metrics import accuracy_score, f1_score

    return {
        f"{prefix}accuracy": float(accuracy_score(y_true, y_pred)),
        f"{prefix}f1_macro": float(f1_score(y_true, y_pred, average="macro", zero_division=0)),
        f"{prefix}f1_micro": float(f1_score(y_true, y_pred, average="micro", zero_division=0)),
    }

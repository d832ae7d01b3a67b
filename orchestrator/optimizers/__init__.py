"""Search strategies behind one ask/tell protocol (see base.Optimizer)."""

from orchestrator.optimizers.base import Exhausted, Optimizer, Suggestion

__all__ = ["Exhausted", "Optimizer", "Suggestion"]

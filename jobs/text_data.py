"""Text datasets: sentence classification (IMDB, SST-2, AG News, ...) and token tagging (CoNLL-2003).

Local layouts of ../shared/datasets are read directly; other names go to Hugging Face ``datasets``.
Missing splits are made with a fixed seed: validation from train when there is none, 80/10/10 when
there is only one labelled file (AG News' test split).
"""

from __future__ import annotations

import gzip
import re
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from jobs.data import (
    TEXT_ALIASES,
    Source,
    class_entropy,
    eval_cap,
    find_split_files,
    load_hf,
    read_table,
    resolve,
    split_indices,
    subsample_indices,
)
from orchestrator.errors import ConfigError

_HF_NAMES = {"sst2": ("glue", "sst2"), "ag_news": ("ag_news", None), "imdb": ("imdb", None),
             "conll2003": ("conll2003", None)}
_TEXT_COLS = ("text", "sentence", "review", "content", "document", "description")
_LABEL_COLS = ("label", "labels", "class", "sentiment", "target", "y")
_WORD = re.compile(r"[a-z0-9']+")


@dataclass
class TextSplits:
    train: tuple[list[str], np.ndarray]
    validation: tuple[list[str], np.ndarray]
    test: tuple[list[str], np.ndarray]
    label_names: list[str]
    source: str
    notes: list[str] = field(default_factory=list)


@dataclass
class TokenSplits:
    train: tuple[list[list[str]], list[list[str]]]
    validation: tuple[list[list[str]], list[list[str]]]
    test: tuple[list[list[str]], list[list[str]]]
    tag_names: list[str]
    source: str


def words(text: str) -> list[str]:
    return _WORD.findall(text.lower())


# --- sentence classification --------------------------------------------------------------------


def load_text_classification(options: dict[str, Any], default: str = "imdb") -> TextSplits:
    source = resolve(options.get("data"), default, TEXT_ALIASES)
    parts = _text_from_path(source.path) if source.kind == "path" and source.path else _text_from_hf(source)
    return _finish_text(parts, source, options)


def _frame_text(df: Any, where: str) -> tuple[list[str], list[Any] | None]:
    cols = [c for c in df.columns if str(c).lower() in _TEXT_COLS]
    if "title" in df.columns and "description" in df.columns:
        texts = (df["title"].fillna("").astype(str) + ". " + df["description"].fillna("").astype(str)).tolist()
    elif cols:
        texts = df[cols[0]].fillna("").astype(str).tolist()
    else:
        raise ConfigError(f"--data: {where}: no text column (looked for {', '.join(_TEXT_COLS)}; found {list(df.columns)})")
    texts = [t.replace("\\n", " ").replace("<br />", " ") for t in texts]
    label_cols = [c for c in df.columns if str(c).lower() in _LABEL_COLS]
    return texts, (df[label_cols[0]].tolist() if label_cols else None)


def _read_text_file(path: Path) -> tuple[list[str], list[Any] | None]:
    head = _head(path)
    if re.match(r'^"?\d+"?,"', head):  # AG News' headerless "class","title","description"
        df = read_table(path, header=None, names=["label", "title", "description"])
    else:
        df = read_table(path)
    return _frame_text(df, str(path))


def _text_from_path(path: Path) -> dict[str, tuple[list[str], list[Any] | None]]:
    if path.is_file():
        return {"all": _read_text_file(path)}
    files = find_split_files(path)
    if not files:
        raise ConfigError(f"--data: {path}: no train/validation/test files (CSV, TSV, JSON or parquet)")
    parts = {split: _read_text_file(f) for split, f in files.items()}
    classes = path / "classes.txt"
    if classes.exists():
        names = [ln.strip() for ln in classes.read_text().splitlines() if ln.strip()]
        parts["__names__"] = (names, None)
    return parts


def _text_from_hf(source: Source) -> dict[str, tuple[list[str], list[Any] | None]]:
    name, config = _HF_NAMES.get(source.name, (source.name, source.config))
    ds = load_hf(Source("hf", name, None, source.config or config))
    parts: dict[str, tuple[list[str], list[Any] | None]] = {}
    for split in ("train", "validation", "test"):
        if split in ds:
            parts[split] = _frame_text(ds[split].to_pandas(), f"{source.name}[{split}]")
    feat = ds["train"].features.get("label") if "train" in ds else None
    if feat is not None and hasattr(feat, "names"):
        parts["__names__"] = (list(feat.names), None)
    return parts


def _labelled(part: tuple[list[str], list[Any] | None] | None) -> bool:
    if part is None or part[1] is None:
        return False
    return not all(v in (-1, None, "") for v in part[1])


def _finish_text(parts: dict[str, tuple[list[str], list[Any] | None]], source: Source,
                 options: dict[str, Any]) -> TextSplits:
    names_part = parts.pop("__names__", None)
    labelled = {k: v for k, v in parts.items() if _labelled(v)}
    if not labelled:
        raise ConfigError(f"--data: {source.label}: no labelled rows (need a label column)")
    notes = []
    if "train" in labelled:
        train = labelled["train"]
        val = labelled.get("validation")
        test = labelled.get("test")
        if test is None and val is not None:
            test, val = val, None  # e.g. SST-2: GLUE's test has no labels, its dev set becomes our test
            notes.append("the labelled dev split is the test split")
        if val is None:
            t_idx, v_idx = split_indices(len(train[0]), (0.9, 0.1), np.asarray(train[1]), where=_where(source))
            val = _take(train, v_idx)
            train = _take(train, t_idx)
            notes.append("validation = 10% of train (fixed seed)")
        if test is None:
            t_idx, e_idx = split_indices(len(train[0]), (0.9, 0.1), np.asarray(train[1]), where=_where(source))
            test, train = _take(train, e_idx), _take(train, t_idx)
    else:
        only = next(iter(labelled.values()))
        t_idx, v_idx, e_idx = split_indices(len(only[0]), (0.8, 0.1, 0.1), np.asarray(only[1]), where=_where(source))
        train, val, test = _take(only, t_idx), _take(only, v_idx), _take(only, e_idx)
        notes.append("one labelled file: split 80/10/10 (stratified, fixed seed)")
    raw_labels = sorted({_norm_label(v) for part in (train, val, test) for v in part[1]}, key=_sort_key)  # type: ignore[union-attr]
    index = {v: i for i, v in enumerate(raw_labels)}
    names = [str(v) for v in raw_labels]
    if names_part is not None:
        given = names_part[0]
        if all(isinstance(v, int) for v in raw_labels):
            offset = 1 if min(raw_labels) == 1 and len(given) == max(raw_labels) else 0  # type: ignore[type-var]
            names = [given[int(v) - offset] if 0 <= int(v) - offset < len(given) else str(v) for v in raw_labels]
    enc = lambda part: (list(part[0]), np.array([index[_norm_label(v)] for v in part[1]], dtype=np.int64))  # noqa: E731
    tr, va, te = enc(train), enc(val), enc(test)
    keep = subsample_indices(len(tr[0]), options.get("subsample"), tr[1])
    tr = ([tr[0][i] for i in keep], tr[1][keep])
    cap = eval_cap(options)
    va = _cap(va, cap)
    te = _cap(te, cap)
    return TextSplits(tr, va, te, names, source.label, notes)


def _where(source: Source) -> str:
    """The file or dataset an error names."""
    return str(source.path) if source.kind == "path" and source.path is not None else source.name


def _norm_label(v: Any) -> Any:
    if isinstance(v, (np.integer,)):
        return int(v)
    if isinstance(v, float) and v.is_integer():
        return int(v)
    if isinstance(v, str) and v.strip().lstrip("-").isdigit():
        return int(v)
    return v


def _sort_key(v: Any) -> tuple[int, Any]:
    return (0, v) if isinstance(v, int) else (1, str(v))


def _take(part: tuple[list[str], list[Any] | None], idx: np.ndarray) -> tuple[list[str], list[Any]]:
    labels = part[1] or []
    return [part[0][i] for i in idx], [labels[i] for i in idx]


def _cap(part: tuple[list[str], np.ndarray], cap: int | None) -> tuple[list[str], np.ndarray]:
    keep = subsample_indices(len(part[0]), cap, part[1])
    return [part[0][i] for i in keep], part[1][keep]


def _head(path: Path) -> str:
    opener = gzip.open if path.name.endswith(".gz") else open
    with opener(path, "rt", encoding="utf-8", errors="replace") as f:  # type: ignore[operator]
        return str(f.readline())


def text_features(splits: TextSplits, family: str) -> dict[str, Any]:
    texts, labels = splits.train
    lengths = np.array([len(words(t)) for t in texts]) if texts else np.zeros(1)
    vocab: Counter[str] = Counter()
    for t in texts[:5000]:
        vocab.update(words(t))
    return {"rows": len(texts), "classes": len(splits.label_names), "class_entropy": class_entropy(labels),
            "mean_words": float(lengths.mean()), "median_words": float(np.median(lengths)),
            "vocab_size": len(vocab), "modality": "text", "family": family}


# --- token classification (BIO tagging) ----------------------------------------------------------


def read_conll(path: Path) -> tuple[list[list[str]], list[list[str]]]:
    """CoNLL files: one token per line, tag in the last column, blank lines between sentences."""
    opener = gzip.open if path.name.endswith(".gz") else open
    sents, tags, cur_w, cur_t = [], [], [], []
    with opener(path, "rt", encoding="utf-8", errors="replace") as f:  # type: ignore[operator]
        for line in f:
            parts = line.split()
            if not parts or parts[0] == "-DOCSTART-":
                if cur_w:
                    sents.append(cur_w)
                    tags.append(cur_t)
                    cur_w, cur_t = [], []
                continue
            if len(parts) < 2:
                raise ConfigError(f"--data: {path}: line {line.strip()!r} has no tag column")
            cur_w.append(parts[0])
            cur_t.append(parts[-1])
    if cur_w:
        sents.append(cur_w)
        tags.append(cur_t)
    return sents, tags


def load_token_classification(options: dict[str, Any], default: str = "conll2003") -> TokenSplits:
    source = resolve(options.get("data"), default, TEXT_ALIASES)
    if source.kind == "path" and source.path is not None:
        files = {"all": source.path} if source.path.is_file() else find_split_files(source.path)
        if not files:
            raise ConfigError(f"--data: {source.path}: no CoNLL train/testa/testb (or train/dev/test) files")
        parts = {split: read_conll(p) for split, p in files.items()}
    else:
        name, config = _HF_NAMES.get(source.name, (source.name, source.config))
        ds = load_hf(Source("hf", name, None, config))
        names = ds["train"].features["ner_tags"].feature.names
        parts = {split: (list(map(list, ds[split]["tokens"])), [[names[i] for i in s] for s in ds[split]["ner_tags"]])
                 for split in ("train", "validation", "test") if split in ds}
    if "train" not in parts:
        only = next(iter(parts.values()))
        t, v, e = split_indices(len(only[0]), (0.8, 0.1, 0.1), where=_where(source))
        parts = {"train": _sel(only, t), "validation": _sel(only, v), "test": _sel(only, e)}
    if "validation" not in parts:
        t, v = split_indices(len(parts["train"][0]), (0.9, 0.1), where=_where(source))
        parts["validation"], parts["train"] = _sel(parts["train"], v), _sel(parts["train"], t)
    if "test" not in parts:
        parts["test"] = parts["validation"]
    tr = _sel(parts["train"], subsample_indices(len(parts["train"][0]), options.get("subsample")))
    cap = eval_cap(options)
    va = _sel(parts["validation"], subsample_indices(len(parts["validation"][0]), cap))
    te = _sel(parts["test"], subsample_indices(len(parts["test"][0]), cap))
    tag_set = {t for part in (parts["train"], parts["validation"], parts["test"]) for s in part[1] for t in s}
    tag_names = sorted(tag_set, key=lambda t: (t != "O", t[2:], t[:2]))
    return TokenSplits(tr, va, te, tag_names, source.label)


def _sel(part: tuple[list[list[str]], list[list[str]]], idx: np.ndarray) -> tuple[list[list[str]], list[list[str]]]:
    return [part[0][i] for i in idx], [part[1][i] for i in idx]


def token_features(splits: TokenSplits) -> dict[str, Any]:
    sents, tags = splits.train
    lengths = np.array([len(s) for s in sents]) if sents else np.zeros(1)
    flat = [t for s in tags for t in s]
    entities = sum(1 for t in flat if t.startswith("B-"))
    types = {t[2:] for t in flat if t != "O"}
    vocab = {w.lower() for s in sents[:5000] for w in s}
    counts = np.array(list(Counter(t for t in flat if t != "O").values()) or [1])
    return {"rows": len(sents), "tokens": int(lengths.sum()), "classes": len(splits.tag_names),
            "entity_types": len(types), "entities_per_sentence": entities / max(1, len(sents)),
            "mean_words": float(lengths.mean()), "median_words": float(np.median(lengths)),
            "vocab_size": len(vocab), "class_entropy": class_entropy(np.repeat(np.arange(len(counts)), counts)),
            "modality": "text-tokens", "family": "transformer-token"}

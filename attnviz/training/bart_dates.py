"""Train ``tiny-bart-dates``: a tiny BART that turns written dates into ISO dates.

    python -m attnviz.training tiny-bart-dates

The model is a real ``transformers`` ``BartForConditionalGeneration`` (2 encoder + 2 decoder layers,
``d_model`` 64, 4 heads), small enough to train on 2 CPU cores in a few minutes. Its tokenizer is
character-level — one token per character, built with the ``tokenizers`` library — so that a field of
the date (the year ``2026``, the month ``November``) is an exact, known run of tokens, and the
cross-attention of each output digit can be checked against the span it should read from
(see :mod:`attnviz.training.dates`).

Training is plain teacher forcing: the encoder reads ``<s> 21 November 2026 </s>``, the decoder reads
``<s> 2 0 2 6 - 1 1 - 2 1`` and is trained to predict the same string shifted by one, ending in ``</s>``.
The data is an endless seeded stream of fresh dates, so the model never sees an epoch and cannot
memorise: it has to learn the mapping.
"""

from __future__ import annotations

import datetime as dt
import itertools
from dataclasses import dataclass
from pathlib import Path

import torch

from attnviz import MODELS_DIR
from attnviz.training import common
from attnviz.training.dates import (
    CARD_SEED,
    CHARACTERS,
    FORMATS,
    TRAIN_SEED,
    DateExample,
    example_stream,
    render,
)

EXAMPLE_DATE = dt.date(2026, 11, 21)
NAME = "tiny-bart-dates"
SPECIAL_TOKENS = ("<s>", "<pad>", "</s>", "<unk>")  # ids 0, 1, 2, 3 — BART's own convention
BOS_ID, PAD_ID, EOS_ID, UNK_ID = 0, 1, 2, 3
MAX_POSITIONS = 64  # longest source: "Wednesday, September 30, 2026" is 29 characters + <s> + </s>


@dataclass
class BartDatesConfig:
    d_model: int = 64
    layers: int = 2  # encoder layers = decoder layers
    heads: int = 4
    ffn_dim: int = 256
    steps: int = 1000
    batch_size: int = 128
    lr: float = 3e-3
    warmup_steps: int = 150
    weight_decay: float = 0.01
    seed: int = TRAIN_SEED


def build_tokenizer():
    """A character-level tokenizer that ``AutoTokenizer.from_pretrained`` loads back.

    Pieces, in the order the ``tokenizers`` pipeline applies them:
    pre-tokenizer ``Split(".")`` cuts the text into single characters (spaces included);
    model ``WordLevel`` looks each character up in the vocabulary;
    post-processor wraps the ids as ``<s> … </s>``; decoder ``Fuse`` glues characters back together.
    """
    from tokenizers import Regex, Tokenizer, decoders, models, pre_tokenizers, processors
    from transformers import PreTrainedTokenizerFast

    vocab = {token: i for i, token in enumerate([*SPECIAL_TOKENS, *CHARACTERS])}
    tok = Tokenizer(models.WordLevel(vocab, unk_token="<unk>"))
    tok.pre_tokenizer = pre_tokenizers.Split(Regex("."), behavior="isolated")
    tok.post_processor = processors.TemplateProcessing(
        single="<s> $A </s>", special_tokens=[("<s>", BOS_ID), ("</s>", EOS_ID)]
    )
    tok.decoder = decoders.Fuse()
    return PreTrainedTokenizerFast(
        tokenizer_object=tok,
        bos_token="<s>",
        eos_token="</s>",
        pad_token="<pad>",
        unk_token="<unk>",
        model_max_length=MAX_POSITIONS,
        clean_up_tokenization_spaces=False,
    )


def build_model(cfg: BartDatesConfig, vocab_size: int):
    from transformers import BartConfig, BartForConditionalGeneration

    config = BartConfig(
        vocab_size=vocab_size,
        d_model=cfg.d_model,
        encoder_layers=cfg.layers,
        decoder_layers=cfg.layers,
        encoder_attention_heads=cfg.heads,
        decoder_attention_heads=cfg.heads,
        encoder_ffn_dim=cfg.ffn_dim,
        decoder_ffn_dim=cfg.ffn_dim,
        max_position_embeddings=MAX_POSITIONS,
        dropout=0.0,  # the data stream is endless: nothing to regularise against
        attention_dropout=0.0,
        activation_dropout=0.0,
        pad_token_id=PAD_ID,
        bos_token_id=BOS_ID,
        eos_token_id=EOS_ID,
        decoder_start_token_id=BOS_ID,  # the decoder starts every output with <s>
        forced_bos_token_id=None,
        forced_eos_token_id=None,
    )
    model = BartForConditionalGeneration(config)
    # Greedy decoding of a 10-character date: <s> + 10 characters + </s>.
    model.generation_config.max_new_tokens = 11
    model.generation_config.num_beams = 1
    model.generation_config.do_sample = False
    model.generation_config.decoder_start_token_id = BOS_ID
    model.generation_config.forced_bos_token_id = None
    model.generation_config.forced_eos_token_id = None
    return model


def make_batch(examples: list[DateExample], tokenizer) -> dict[str, torch.Tensor]:
    """Tokenise a list of examples for teacher forcing.

    Returns ``input_ids``/``attention_mask`` (B, S) for the encoder, ``decoder_input_ids`` (B, T) =
    ``<s> y1 … y10`` and ``labels`` (B, T) = ``y1 … y10 </s>`` (every target has 10 characters, so the
    target side needs no padding).
    """
    source = tokenizer([e.source for e in examples], padding=True, return_tensors="pt")
    target = tokenizer([e.target for e in examples], return_tensors="pt")["input_ids"]  # (B, 12) <s> … </s>
    return {
        "input_ids": source["input_ids"],
        "attention_mask": source["attention_mask"],
        "decoder_input_ids": target[:, :-1].contiguous(),  # (B, 11) <s> y1 … y10
        "labels": target[:, 1:].contiguous(),  # (B, 11) y1 … y10 </s>
    }


def train_model(cfg: BartDatesConfig, progress: bool = True):
    """Train from scratch; returns ``(model, tokenizer, losses)``."""
    common.seed_everything(cfg.seed)
    tokenizer = build_tokenizer()
    model = build_model(cfg, len(tokenizer))
    optimizer = torch.optim.AdamW(model.parameters(), lr=cfg.lr, weight_decay=cfg.weight_decay)
    stream = example_stream(cfg.seed, FORMATS)

    def batch_loss(step):
        batch = make_batch(list(itertools.islice(stream, cfg.batch_size)), tokenizer)
        return model(**batch).loss, {}

    losses = common.fit(model, optimizer, steps=cfg.steps, warmup_steps=cfg.warmup_steps, batch_loss=batch_loss,
                        name=NAME, progress=progress)
    return model, tokenizer, losses


def train_and_save(
    out_dir: Path | None = None, cfg: BartDatesConfig | None = None, progress: bool = True
) -> dict:
    """Train, save with ``save_pretrained``, reload, measure and write the model card. Returns the figures."""
    from transformers import AutoTokenizer, BartForConditionalGeneration

    from attnviz.training import evaluate

    out_dir = Path(out_dir or MODELS_DIR / NAME)
    cfg = cfg or BartDatesConfig()
    trained = common.train_and_store(out_dir, lambda: train_model(cfg, progress))

    # Measure the checkpoint as the lessons will load it: from disk, with eager attention.
    model = BartForConditionalGeneration.from_pretrained(out_dir, attn_implementation="eager").eval()
    tokenizer = AutoTokenizer.from_pretrained(out_dir)
    examples = evaluate.fresh_dates(1000, CARD_SEED)
    accuracy = evaluate.bart_exact_match(model, tokenizer, examples)
    by_format = evaluate.bart_exact_match_by_format(model, tokenizer, examples)
    alignment = evaluate.bart_cross_attention_alignment(model, tokenizer, examples)
    figures = {**trained, "exact_match": accuracy, "exact_match_by_format": by_format,
               "alignment_by_layer": alignment, **common.size_figures(model, out_dir, cfg)}
    write_model_card(out_dir, figures)
    return figures


def write_model_card(out_dir: Path, f: dict) -> None:
    cfg = f["config"]
    best_layer = max(f["alignment_by_layer"], key=f["alignment_by_layer"].get)
    formats = "\n".join(
        f"| `{FORMATS[name]}` | `{render(EXAMPLE_DATE, name).source}` | {acc:.1%} |"
        for name, acc in f["exact_match_by_format"].items()
    )
    layers = "\n".join(f"| {layer} | {rate:.1%} |" for layer, rate in f["alignment_by_layer"].items())
    body = f"""
A tiny `BartForConditionalGeneration` trained by this repository to translate written dates into ISO
dates, so that its cross-attention has a known right answer. Part of the attention-visualization course.

| | |
|---|---|
| task | written date (years 1900–2099) → `YYYY-MM-DD` |
| example | `the 21st of November, 2026` → `2026-11-21` |
| architecture | BART, {cfg["layers"]} encoder + {cfg["layers"]} decoder layers, d_model {cfg["d_model"]}, {cfg["heads"]} heads, FFN {cfg["ffn_dim"]} |
| tokenizer | character level (`tokenizers` WordLevel over single characters), `<s>`=0 `<pad>`=1 `</s>`=2 `<unk>`=3 |
| parameters | {f["parameters"]:,} |
| weights file | {common.human_bytes(f["weights_bytes"])} (`model.safetensors`) |
| training | {cfg["steps"]} steps × {cfg["batch_size"]} fresh dates, AdamW lr {cfg["lr"]}, seed {cfg["seed"]} |
| training time | {f["train_seconds"]:.0f} s on {common.TRAIN_THREADS} CPU thread(s) |
| final training loss | {f["final_loss"]:.4f} |
| **exact match** | **{f["exact_match"]:.1%}** on 1,000 fresh dates (seed {CARD_SEED}, not the training seed) |

Retrain (deterministic, seeded): `python -m attnviz.training {NAME}`

## Load it

```python
from transformers import AutoTokenizer, BartForConditionalGeneration
model = BartForConditionalGeneration.from_pretrained("data/models/{NAME}", attn_implementation="eager")
tokenizer = AutoTokenizer.from_pretrained("data/models/{NAME}")
batch = tokenizer(["the 21st of November, 2026"], return_tensors="pt")
out = model.generate(**batch)            # greedy, 11 new tokens
tokenizer.decode(out[0], skip_special_tokens=True)   # '2026-11-21'
```

`attn_implementation="eager"` matters: the default SDPA kernel never forms the attention matrix, so
`output_attentions=True` would return nothing.

Token positions: the tokenizer puts `<s>` at index 0 and one token per character after it, so source
character `c` is token `c + 1`. `attnviz.training.dates.DateExample.token_spans` gives each field's
token span.

## Accuracy by input format

| format | example | exact match |
|---|---|---|
{formats}

## Cross-attention alignment

For each output digit of year, month and day (decoder fed the reference `<s> Y Y Y Y - M M - D D`, the
row of decoder position `t` is the query that predicts output character `t`), average the
cross-attention over heads and take the source token with the largest weight. The digit is *aligned*
when that token lies inside the source span of its field (`2026`, `November`, `21st`). Share of aligned
digits on the same 1,000 dates:

| decoder layer | aligned digits |
|---|---|
{layers}

Best layer: {best_layer} (measured by `attnviz.training.evaluate.bart_cross_attention_alignment`).
"""
    common.write_card(out_dir, NAME, body)

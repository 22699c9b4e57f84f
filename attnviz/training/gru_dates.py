"""Train ``gru-attention-dates``: the GRU encoder-decoder with Bahdanau attention on the date task.

    python -m attnviz.training gru-attention-dates

Same data as ``tiny-bart-dates`` (an endless seeded stream from :mod:`attnviz.training.dates`), same
character vocabulary, same target ``YYYY-MM-DD``. The model itself is in :mod:`attnviz.gru_attention`
(a plain ``torch.nn.Module``, not a ``transformers`` model), trained with teacher forcing and
cross-entropy.
"""

from __future__ import annotations

import datetime as dt
import itertools
from dataclasses import dataclass
from pathlib import Path

import torch

from attnviz import MODELS_DIR
from attnviz.gru_attention import CharVocabulary, GRUAttentionConfig, GRUAttentionSeq2Seq
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
NAME = "gru-attention-dates"


@dataclass
class GRUDatesConfig:
    embed_size: int = 32
    hidden_size: int = 64
    attention_size: int = 64
    steps: int = 800
    batch_size: int = 128
    lr: float = 3e-3
    warmup_steps: int = 100
    seed: int = TRAIN_SEED


def build_model(cfg: GRUDatesConfig) -> GRUAttentionSeq2Seq:
    vocab = CharVocabulary(CHARACTERS)
    config = GRUAttentionConfig(
        vocab_size=len(vocab),
        embed_size=cfg.embed_size,
        hidden_size=cfg.hidden_size,
        attention_size=cfg.attention_size,
    )
    return GRUAttentionSeq2Seq(config, vocab)


def make_batch(examples: list[DateExample], vocab: CharVocabulary) -> dict[str, torch.Tensor]:
    """``source`` (B, S) padded, ``lengths`` (B,), ``target_in`` (B, 11) = ``<s> y1 … y10``, ``labels`` (B, 11) = ``y1 … y10 </s>``."""
    source, lengths = vocab.encode_batch([e.source for e in examples])
    target, _ = vocab.encode_batch(
        [e.target for e in examples]
    )  # (B, 12), no padding: all targets have 10 chars
    return {"source": source, "lengths": lengths, "target_in": target[:, :-1], "labels": target[:, 1:]}


def loss_on(model: GRUAttentionSeq2Seq, batch: dict[str, torch.Tensor]) -> torch.Tensor:
    logits, _ = model(batch["source"], batch["target_in"], batch["lengths"])  # (B, T, V)
    return torch.nn.functional.cross_entropy(
        logits.flatten(0, 1), batch["labels"].flatten()
    )  # over B·T steps


def train_model(cfg: GRUDatesConfig, progress: bool = True):
    """Train from scratch; returns ``(model, losses)``."""
    common.seed_everything(cfg.seed)
    model = build_model(cfg)
    optimizer = torch.optim.Adam(model.parameters(), lr=cfg.lr)
    stream = example_stream(cfg.seed, FORMATS)

    def batch_loss(step):
        return loss_on(model, make_batch(list(itertools.islice(stream, cfg.batch_size)), model.vocab)), {}

    losses = common.fit(model, optimizer, steps=cfg.steps, warmup_steps=cfg.warmup_steps, batch_loss=batch_loss,
                        name=NAME, progress=progress)
    return model, losses


def train_and_save(
    out_dir: Path | None = None, cfg: GRUDatesConfig | None = None, progress: bool = True
) -> dict:
    """Train, save, reload, measure and write the model card. Returns the figures."""
    from attnviz.training import evaluate

    out_dir = Path(out_dir or MODELS_DIR / NAME)
    cfg = cfg or GRUDatesConfig()
    trained = common.train_and_store(out_dir, lambda: train_model(cfg, progress))

    model = GRUAttentionSeq2Seq.from_pretrained(out_dir)
    examples = evaluate.fresh_dates(1000, CARD_SEED)
    texts, _ = evaluate.gru_translate(model, examples)
    figures = {
        **trained,
        "exact_match": evaluate.exact_match(texts, examples),
        "exact_match_by_format": evaluate.exact_match_by_format(texts, examples),
        "alignment": evaluate.gru_attention_alignment(model, examples),
        **common.size_figures(model, out_dir, cfg),
    }
    write_model_card(out_dir, figures)
    return figures


def write_model_card(out_dir: Path, f: dict) -> None:
    cfg = f["config"]
    formats = "\n".join(
        f"| `{FORMATS[name]}` | `{render(EXAMPLE_DATE, name).source}` | {acc:.1%} |"
        for name, acc in f["exact_match_by_format"].items()
    )
    body = f"""
A GRU encoder-decoder with Bahdanau (additive) attention, trained by this repository to translate
written dates into ISO dates. Its attention weights, one row per output step, are the classic RNN
attention heatmap. Part of the attention-visualization course. It is a plain `torch.nn.Module`
(`attnviz.gru_attention.GRUAttentionSeq2Seq`), not a `transformers` model.

| | |
|---|---|
| task | written date (years 1900–2099) → `YYYY-MM-DD` |
| example | `the 21st of November, 2026` → `2026-11-21` |
| architecture | character embedding {cfg["embed_size"]}, bidirectional GRU encoder {cfg["hidden_size"]} per direction, GRU decoder {cfg["hidden_size"]}, additive attention {cfg["attention_size"]} |
| vocabulary | `vocab.json`: `<s>`=0 `<pad>`=1 `</s>`=2 `<unk>`=3, then one id per character |
| files | `config.json` (sizes), `model.safetensors` (weights), `vocab.json` |
| parameters | {f["parameters"]:,} |
| weights file | {common.human_bytes(f["weights_bytes"])} |
| training | {cfg["steps"]} steps × {cfg["batch_size"]} fresh dates, teacher forcing, Adam lr {cfg["lr"]}, seed {cfg["seed"]} |
| training time | {f["train_seconds"]:.0f} s on {common.TRAIN_THREADS} CPU thread(s) |
| final training loss | {f["final_loss"]:.4f} |
| **exact match** | **{f["exact_match"]:.1%}** on 1,000 fresh dates (seed {CARD_SEED}, not the training seed) |
| attention alignment | {f["alignment"]:.1%} of output digits put their largest attention weight inside their field's source span |

Retrain (deterministic, seeded): `python -m attnviz.training {NAME}`

## Load it

```python
from attnviz.gru_attention import GRUAttentionSeq2Seq
model = GRUAttentionSeq2Seq.from_pretrained("data/models/{NAME}")
result = model.translate("the 21st of November, 2026")
result.output           # '2026-11-21'
result.attention        # (output steps, source tokens) numpy array, each row sums to 1
result.source_tokens    # column labels: '<s>', 't', 'h', 'e', …, '</s>'
result.output_tokens    # row labels: '2', '0', '2', '6', '-', …, '</s>'
```

Row `t` of `attention` holds the weights the decoder used while emitting output token `t`. Source
character `c` is token `c + 1` (`<s>` comes first), as with the course's BART tokenizer.

## Accuracy by input format

| format | example | exact match |
|---|---|---|
{formats}

## Attention alignment

For each output digit of year, month and day (decoder fed the reference output), take the source
token with the largest Bahdanau weight; the digit is aligned when that token lies in the source span of
its field (`2026`, `November`, `21st`). Measured by `attnviz.training.evaluate.gru_attention_alignment`
on the same 1,000 dates: **{f["alignment"]:.1%}**. (Not a training target — the model was only trained
to translate.)
"""
    common.write_card(out_dir, NAME, body)

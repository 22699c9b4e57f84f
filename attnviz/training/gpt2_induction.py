"""Train ``tiny-gpt2-induction``: a 2-layer GPT-2 that learns to continue repeated random sequences.

    python -m attnviz.training tiny-gpt2-induction

The data (see :mod:`attnviz.training.repeats`) is ``<bos>`` + ``half`` random tokens + the same tokens
again. The only way to predict the second half is to copy from the first, and the textbook circuit for
that is an *induction circuit*: a previous-token head in layer 0 and an induction head in layer 1.
Nobody puts these heads in by hand; after training, :func:`attnviz.training.evaluate.find_induction_heads`
finds them by scoring every head's attention pattern, and the model card reports what it found.

The model is a real ``transformers`` ``GPT2LMHeadModel`` (2 layers, 4 heads, width 64) with a
word-level tokenizer over the token names ``t0 … t63``, so lessons can label their axes with tokens.

The recipe, and why. A model this small finds *some* way to copy quickly, but not always the textbook
one: with other settings it learned to attend "about halfway back" by absolute position, or built the
same circuit shifted by a few positions (a "3-tokens-back" head feeding a head that looks 3 past the
match). Each choice below was needed, in our runs, for the textbook circuit to form within 2 minutes:

* **attention only** — the MLPs are frozen at zero (Elhage et al., 2021, study induction in exactly such
  attention-only models), so the heads must do all the work;
* **sinusoidal start for the position embeddings** — "one position back" is then a fixed rotation from
  the first step, so a previous-token head is easy to learn;
* **separate input and output embeddings** — with tied embeddings, attending to the previous token would
  at first simply raise the logit of that token, which is never the right prediction, so layer 0 learns
  to avoid it;
* **a curriculum on length** — the first half of training grows the longest ``half`` from 3 to 30. In short
  sequences the token to copy is only one or two positions back, which rules out the shifted circuits;
  the time an induction head takes to form grows quickly with context length, so short first is faster;
* **a random prefix** of 0–3 tokens before the first copy, so that absolute position never says where the
  copy starts;
* the loss counts only the predictable tokens (the second copy after its first token).
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch

from attnviz import MODELS_DIR
from attnviz.training import common
from attnviz.training.repeats import (
    BOS_ID,
    CARD_SEED,
    EVAL_HALF,
    HALF_RANGE,
    LONGEST_EVAL_HALF,
    PREFIX_RANGE,
    TOKEN_NAMES,
    TRAIN_SEED,
    UNK_ID,
    VOCAB_SIZE,
    repeated_sequences,
)

NAME = "tiny-gpt2-induction"
MAX_POSITIONS = 64  # longest training sequence: 1 + 3 + 2·30 = 64, the whole context


@dataclass
class GPT2InductionConfig:
    n_embd: int = 64
    n_layer: int = 2
    n_head: int = 4
    n_inner: int = 16  # the MLP width; the MLPs are frozen at zero when attention_only (see build_model)
    attention_only: bool = True
    sinusoidal_positions: bool = True
    tie_embeddings: bool = False
    curriculum: float = 0.5  # fraction of training over which the longest half grows from 3 to 30
    # 3000 steps, halves up to 30: trained on halves up to 24 only, the model did not copy reliably over its
    # whole context; the card reports the accuracy by length, and tests/test_course_models.py checks h = 31.
    steps: int = 3000
    batch_size: int = 64
    lr: float = 2e-3
    warmup_steps: int = 100
    weight_decay: float = 0.01
    seed: int = TRAIN_SEED


def build_tokenizer():
    """Word-level tokenizer: ``"t7 t42 t3"`` -> ``[64, 7, 42, 3]`` (``<bos>`` = 64 is prepended).

    Token ``tK`` has id ``K``, so ids and names agree.
    """
    from tokenizers import Tokenizer, models, pre_tokenizers, processors
    from transformers import PreTrainedTokenizerFast

    vocab = {name: i for i, name in enumerate(TOKEN_NAMES)} | {"<bos>": BOS_ID, "<unk>": UNK_ID}
    tok = Tokenizer(models.WordLevel(vocab, unk_token="<unk>"))
    tok.pre_tokenizer = pre_tokenizers.WhitespaceSplit()
    tok.post_processor = processors.TemplateProcessing(single="<bos> $A", special_tokens=[("<bos>", BOS_ID)])
    return PreTrainedTokenizerFast(
        tokenizer_object=tok,
        bos_token="<bos>",
        eos_token="<bos>",  # GPT-2 style: one token marks the boundary between documents
        unk_token="<unk>",
        model_max_length=MAX_POSITIONS,
        clean_up_tokenization_spaces=False,
    )


def sinusoidal_codes(n_positions: int, width: int, scale: float = 1.0) -> torch.Tensor:
    """``(n_positions, width)``: sin and cos of ``position / 10000^(2k / width)``, times ``scale``."""
    positions = torch.arange(n_positions, dtype=torch.float32)[:, None]  # (P, 1)
    frequencies = 10000 ** (-torch.arange(0, width, 2, dtype=torch.float32) / width)  # (width/2,)
    angles = positions * frequencies  # (P, width/2)
    codes = torch.stack([angles.sin(), angles.cos()], dim=-1).flatten(1)  # (P, width/2, 2) -> (P, width)
    return scale * codes


def build_model(cfg: GPT2InductionConfig):
    from transformers import GPT2Config, GPT2LMHeadModel

    config = GPT2Config(
        vocab_size=VOCAB_SIZE + 2,  # t0 … t63, <bos>, <unk>
        n_positions=MAX_POSITIONS,
        n_embd=cfg.n_embd,
        n_layer=cfg.n_layer,
        n_head=cfg.n_head,
        n_inner=cfg.n_inner,
        resid_pdrop=0.0,
        embd_pdrop=0.0,
        attn_pdrop=0.0,
        bos_token_id=BOS_ID,
        eos_token_id=BOS_ID,
        tie_word_embeddings=cfg.tie_embeddings,
    )
    model = GPT2LMHeadModel(config)
    if cfg.sinusoidal_positions:
        # GPT-2 learns its position embeddings from a tiny random start, so at first every position looks
        # alike and heads can only match on content. Starting them from the sine/cosine codes of
        # Vaswani et al. (2017) — in which "one position back" is a fixed rotation — lets a
        # previous-token head form early. They are still trained like any other weight.
        codes = sinusoidal_codes(MAX_POSITIONS, cfg.n_embd, scale=0.03)  # about the size of a token embedding
        model.transformer.wpe.weight.data.copy_(codes)
    if cfg.attention_only:
        # An attention-only transformer, as in Elhage et al. (2021), "A Mathematical Framework for
        # Transformer Circuits": each block's MLP outputs exactly zero and is never trained, so whatever
        # the model does, its attention heads do it. The checkpoint is still a standard GPT-2.
        for block in model.transformer.h:
            for parameter in block.mlp.parameters():
                parameter.data.zero_()
                parameter.requires_grad_(False)
    return model


def train_model(cfg: GPT2InductionConfig, progress: bool = True, callback=None):
    """Train from scratch; returns ``(model, tokenizer, losses)``.

    ``callback(step, model)``, if given, is called every 250 steps (to watch the heads form).
    """
    common.seed_everything(cfg.seed)
    rng = np.random.default_rng(cfg.seed)
    tokenizer = build_tokenizer()
    model = build_model(cfg)
    trainable = [p for p in model.parameters() if p.requires_grad]
    optimizer = torch.optim.AdamW(trainable, lr=cfg.lr, weight_decay=cfg.weight_decay)

    def batch_loss(step):
        # Curriculum: the longest half allowed grows from 3 to 30 over the first `curriculum` of training.
        grown = min(1.0, step / (cfg.curriculum * cfg.steps)) if cfg.curriculum > 0 else 1.0
        longest = round(HALF_RANGE[0] + 1 + grown * (HALF_RANGE[1] - HALF_RANGE[0] - 1))
        half = int(rng.integers(HALF_RANGE[0], longest + 1))  # a new length every batch
        prefix = int(rng.integers(PREFIX_RANGE[0], PREFIX_RANGE[1] + 1))
        ids = repeated_sequences(cfg.batch_size, half, rng, prefix, distinct=False)
        # ids: (B, 1 + prefix + 2·half)
        # Score only the predictable tokens: the second copy after its first token (everything before is
        # random, and the first token of the second copy cannot be foreseen). -100 is the "ignore" label
        # of the loss; the model shifts labels by one itself.
        labels = ids.clone()
        labels[:, : 1 + prefix + half + 1] = -100
        return model(input_ids=ids, labels=labels).loss, {"half": half}

    losses = common.fit(model, optimizer, steps=cfg.steps, warmup_steps=cfg.warmup_steps, batch_loss=batch_loss,
                        name=NAME, progress=progress, callback=callback)
    return model, tokenizer, losses


def train_and_save(
    out_dir: Path | None = None, cfg: GPT2InductionConfig | None = None, progress: bool = True
) -> dict:
    """Train, save, reload, find the heads, write the model card. Returns the figures."""
    from transformers import GPT2LMHeadModel

    from attnviz.training import evaluate

    out_dir = Path(out_dir or MODELS_DIR / NAME)
    cfg = cfg or GPT2InductionConfig()
    trained = common.train_and_store(out_dir, lambda: train_model(cfg, progress))

    model = GPT2LMHeadModel.from_pretrained(out_dir, attn_implementation="eager").eval()
    heads = evaluate.find_induction_heads(model, half=EVAL_HALF, n_sequences=200, seed=CARD_SEED)
    figures = {
        **trained,
        "copy_accuracy": evaluate.induction_copy_accuracy(model, half=EVAL_HALF, n_sequences=200, seed=CARD_SEED),
        "copy_accuracy_by_half": {
            half: evaluate.induction_copy_accuracy(model, half=half, n_sequences=200, seed=CARD_SEED)
            for half in (8, 16, 24, LONGEST_EVAL_HALF)
        },
        "heads": heads,
        "trainable_parameters": sum(p.numel() for name, p in model.named_parameters() if ".mlp." not in name),
        **common.size_figures(model, out_dir, cfg),
    }
    write_model_card(out_dir, figures)
    return figures


def _score_table(scores: np.ndarray) -> str:
    n_layers, n_heads = scores.shape
    header = "| layer | " + " | ".join(f"head {h}" for h in range(n_heads)) + " |"
    rule = "|---" * (n_heads + 1) + "|"
    rows = [
        f"| {l} | " + " | ".join(f"{scores[l, h]:.2f}" for h in range(n_heads)) + " |"
        for l in range(n_layers)
    ]
    return "\n".join([header, rule, *rows])


def write_model_card(out_dir: Path, f: dict) -> None:
    cfg, heads = f["config"], f["heads"]
    il, ih, iscore = heads["induction"]
    pl, ph, pscore = heads["previous_token"]
    by_half = ", ".join(f"h = {h}: {acc:.1%}" for h, acc in f["copy_accuracy_by_half"].items())
    body = f"""
A tiny `GPT2LMHeadModel` trained by this repository on repeated random token sequences, so that it
contains a real induction circuit: a previous-token head and an induction head, found by measuring every
head's attention (not assumed). Part of the attention-visualization course.

| | |
|---|---|
| task | continue `<bos> x_1 … x_h x_1 … x_h`: copy the second half from the first (x_i random tokens out of 64) |
| architecture | GPT-2, {cfg["n_layer"]} layers, {cfg["n_head"]} heads, width {cfg["n_embd"]}, context {MAX_POSITIONS}; attention-only (MLPs of width {cfg["n_inner"]} frozen at zero), untied input/output embeddings |
| tokenizer | word level over `t0` … `t63` (id = the number), `<bos>` = {BOS_ID} (prepended automatically), `<unk>` = {UNK_ID} |
| parameters | {f["parameters"]:,} ({f["trainable_parameters"]:,} trained; the rest are the frozen-zero MLPs) |
| weights file | {common.human_bytes(f["weights_bytes"])} (`model.safetensors`) |
| training | {cfg["steps"]} steps × {cfg["batch_size"]} fresh sequences, half length h from {HALF_RANGE[0]}–{HALF_RANGE[1]} (curriculum: the longest allowed grows over the first {cfg["curriculum"]:.0%} of steps), random prefix of {PREFIX_RANGE[0]}–{PREFIX_RANGE[1]} tokens, AdamW lr {cfg["lr"]}, seed {cfg["seed"]} |
| training time | {f["train_seconds"]:.0f} s on {common.TRAIN_THREADS} CPU thread(s) |
| final training loss | {f["final_loss"]:.4f} (on the predictable tokens) |
| **copy accuracy** | **{f["copy_accuracy"]:.1%}** of predictable second-half tokens (positions h+2 … 2h) predicted right, h = {EVAL_HALF}, 200 fresh sequences |
| copy accuracy by length | {by_half} (h = {LONGEST_EVAL_HALF} fills the context: {1 + 2 * LONGEST_EVAL_HALF} of {MAX_POSITIONS} positions) |
| **induction head** | **layer {il}, head {ih}**: mean attention {iscore:.2f} on position i − h + 1 |
| **previous-token head** | **layer {pl}, head {ph}**: mean attention {pscore:.2f} on position i − 1 |

Retrain (deterministic, seeded): `python -m attnviz.training {NAME}`. Why the recipe looks the way it
does (attention-only, sinusoidal start, untied embeddings, length curriculum) is explained at the top of
`attnviz/training/gpt2_induction.py`.

## Index convention

Position 0 is `<bos>`. With half length `h`, the first half is positions `1 … h`, the second half
`h+1 … 2h`, and the token at second-half position `i` repeats the token at `i − h`. Heads are scored at
the second-half query positions `i = h+1 … 2h`, averaged over 200 fresh sequences with `h = {EVAL_HALF}`
(33 tokens):

* induction score = mean attention from `i` to `i − h + 1` (the token after the earlier copy of the
  current token, i.e. the token to predict next);
* previous-token score = mean attention from `i` to `i − 1`.

```python
from transformers import AutoTokenizer, GPT2LMHeadModel
model = GPT2LMHeadModel.from_pretrained("data/models/{NAME}", attn_implementation="eager")
tokenizer = AutoTokenizer.from_pretrained("data/models/{NAME}")
batch = tokenizer("t5 t17 t33 t2 t5 t17 t33 t2", return_tensors="pt")   # <bos> is added: 9 tokens
attentions = model(**batch, output_attentions=True).attentions        # 2 × (1, 4, 9, 9)
```

## Induction score of every head

{_score_table(np.array(heads["induction_scores"]))}

## Previous-token score of every head

{_score_table(np.array(heads["previous_token_scores"]))}

Measured by `attnviz.training.evaluate.find_induction_heads`.
"""
    common.write_card(out_dir, NAME, body)

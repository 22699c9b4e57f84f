"""The figures on the model cards, computed from a loaded checkpoint.

Training calls these to write each model card; the tests call them on the shipped checkpoints; lessons
may call them to put a number next to a picture. Each one measures a claim the course makes:

* dates (BART and GRU): exact-match accuracy, and how often the attention of each output digit peaks
  inside the source field it must be copied or translated from (:func:`alignment_hits`);
* GPT-2: which heads are induction heads and which are previous-token heads (:func:`induction_head_scores`);
* ViT: accuracy, and the pointing game of CLS attention rollout (:func:`pointing_game`).

All functions run under ``torch.no_grad()`` and in batches, on whatever device the model is on.

The metrics a lesson teaches are defined once, in the lesson, and used from here (``training`` sits
above the lessons and may import them): the alignment hits of lesson 2.4
(``intermediate.cross_attention_viz``), the pointing game and rollout of lesson 3.4
(``advanced.vit_attention``). Attention is extracted through :func:`attnviz.extract.transformer_attentions`.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import torch

from attnviz.training.dates import (
    FIELDS,
    TARGET_POSITIONS,
    DateExample,
    make_examples,
)

# ----------------------------------------------------------------------------------------------------
# Dates: shared
# ----------------------------------------------------------------------------------------------------


def fresh_dates(n: int, seed: int) -> list[DateExample]:
    """``n`` dates in random formats, drawn with ``seed`` (use a seed that training did not use)."""
    return make_examples(n, seed)


def exact_match(predictions: Sequence[str], examples: Sequence[DateExample]) -> float:
    """Share of predictions equal to the ISO target, character for character."""
    return float(np.mean([p == e.target for p, e in zip(predictions, examples, strict=True)]))


def exact_match_by_format(predictions: Sequence[str], examples: Sequence[DateExample]) -> dict[str, float]:
    """Exact-match accuracy per input format (keys of ``dates.FORMATS``), for any translator's outputs."""
    by_format: dict[str, list[bool]] = {}
    for p, e in zip(predictions, examples, strict=True):
        by_format.setdefault(e.format, []).append(p == e.target)
    return {name: float(np.mean(v)) for name, v in sorted(by_format.items())}


def alignment_hits(attention: np.ndarray, token_spans: Sequence[dict[str, tuple[int, int]]]) -> np.ndarray:
    """Does the attention of each output digit peak inside its field's source span?

    ``attention`` is ``(B, T, S)``: row ``t`` is the attention used while emitting output character ``t``
    of ``YYYY-MM-DD`` (so ``T >= 10``), over ``S`` source tokens (padding must carry zero weight).
    ``token_spans[b][field] = (start, end)`` in source token positions.

    Returns a boolean array ``(B, 8)``: one column per digit, in the order year (4), month (2), day (2).
    The lesson's :func:`~intermediate.cross_attention_viz.implied_alignment` and
    :func:`~intermediate.cross_attention_viz.alignment_hits`, on the date task's digit positions.
    """
    from intermediate.cross_attention_viz import alignment_hits as field_hits
    from intermediate.cross_attention_viz import implied_alignment

    positions = {field: TARGET_POSITIONS[field] for field in FIELDS}  # year, month, day: the column order
    return field_hits(implied_alignment(attention), token_spans, positions)


def _batches(items: Sequence, size: int):
    for i in range(0, len(items), size):
        yield items[i : i + size]


# ----------------------------------------------------------------------------------------------------
# Dates: BART
# ----------------------------------------------------------------------------------------------------


@torch.no_grad()
def bart_translate(model, tokenizer, sources: Sequence[str], batch_size: int = 500) -> list[str]:
    """Greedy translations of ``sources`` (strings), batched."""
    outputs = []
    for chunk in _batches(list(sources), batch_size):
        batch = tokenizer(chunk, padding=True, return_tensors="pt").to(model.device)
        generated = model.generate(**batch, max_new_tokens=11, num_beams=1, do_sample=False)
        outputs += tokenizer.batch_decode(generated, skip_special_tokens=True)
    return outputs


def bart_exact_match(model, tokenizer, examples: Sequence[DateExample]) -> float:
    """Exact-match accuracy of greedy decoding on ``examples``."""
    return exact_match(bart_translate(model, tokenizer, [e.source for e in examples]), examples)


def bart_exact_match_by_format(model, tokenizer, examples: Sequence[DateExample]) -> dict[str, float]:
    """Exact-match accuracy per input format (keys of ``dates.FORMATS``)."""
    return exact_match_by_format(bart_translate(model, tokenizer, [e.source for e in examples]), examples)


@torch.no_grad()
def bart_cross_attentions(model, tokenizer, examples: Sequence[DateExample]):
    """Teacher-forced cross-attention on the reference targets (the lesson's
    :func:`~intermediate.cross_attention_viz.cross_attentions`).

    Returns ``(attentions, token_spans)``: ``attentions`` has shape ``(L, B, H, T, S)`` — decoder layer,
    example, head, decoder position (row ``t`` predicts output character ``t``), source token — and
    ``token_spans[b]`` maps each field to its source token span (from the tokenizer's offsets, so this
    works for any fast tokenizer on the source side).
    """
    from intermediate.cross_attention_viz import cross_attentions, date_token_spans

    cross = cross_attentions(model, tokenizer, [e.source for e in examples], [e.target for e in examples])
    return cross.weights, date_token_spans(tokenizer, examples)  # (L, B, H, T, S), one span dict per date


def bart_cross_attention_alignment(
    model, tokenizer, examples: Sequence[DateExample], batch_size: int = 500
) -> dict[int, float]:
    """Per decoder layer: share of output digits whose head-averaged cross-attention peaks in their field
    (the lesson's :func:`~intermediate.cross_attention_viz.date_alignment_by_layer`)."""
    from intermediate.cross_attention_viz import date_alignment_by_layer

    return date_alignment_by_layer(model, tokenizer, examples=examples, batch_size=batch_size)


# ----------------------------------------------------------------------------------------------------
# Dates: GRU with Bahdanau attention
# ----------------------------------------------------------------------------------------------------


@torch.no_grad()
def gru_translate(model, examples: Sequence[DateExample], batch_size: int = 500):
    """Greedy translations and attention maps: ``(texts, attentions)``, one ``(T, S)`` array each."""
    texts, attentions = [], []
    for chunk in _batches(list(examples), batch_size):
        results = model.translate_batch([e.source for e in chunk])
        texts += [r.output for r in results]
        attentions += [r.attention for r in results]
    return texts, attentions


def gru_exact_match(model, examples: Sequence[DateExample]) -> float:
    """Exact-match accuracy of the GRU's greedy decoding."""
    texts, _ = gru_translate(model, examples)
    return exact_match(texts, examples)


@torch.no_grad()
def gru_attention_alignment(model, examples: Sequence[DateExample], batch_size: int = 500) -> float:
    """Share of output digits whose Bahdanau attention (teacher-forced on the reference) peaks in their field."""
    hits = []
    for chunk in _batches(list(examples), batch_size):
        source, lengths = model.vocab.encode_batch([e.source for e in chunk])
        target, _ = model.vocab.encode_batch([e.target for e in chunk])  # (B, 12) <s> y1 … y10 </s>
        _, attention = model(source.to(model.device), target[:, :-1].to(model.device), lengths)  # (B, 11, S)
        hits.append(alignment_hits(attention.cpu().numpy(), [e.token_spans for e in chunk]))
    return float(np.concatenate(hits).mean())


# ----------------------------------------------------------------------------------------------------
# GPT-2: induction and previous-token heads
# ----------------------------------------------------------------------------------------------------


@torch.no_grad()
def causal_attentions(model, input_ids: torch.Tensor) -> np.ndarray:
    """Self-attention of a causal LM as ``(L, B, H, T, T)`` (eager attention is switched on)."""
    from attnviz.extract import transformer_attentions

    inputs = {"input_ids": input_ids.to(model.device)}
    return transformer_attentions(model, inputs).float().cpu().numpy()  # (L, B, H, T, T)


def induction_head_scores(
    model, half: int = 16, n_sequences: int = 100, seed: int = 1
) -> tuple[np.ndarray, np.ndarray]:
    """Score every head on fresh repeated sequences ``<bos> x_1 … x_h x_1 … x_h`` (see ``training.repeats``).

    Returns ``(induction, previous_token)``, each ``(L, H)``: the mean attention, over sequences and the
    second-half query positions ``i = h+1 … 2h``, from ``i`` to ``i − h + 1`` (induction) and to ``i − 1``
    (previous token).
    """
    from attnviz.training.repeats import repeated_sequences, second_half_positions

    ids = repeated_sequences(n_sequences, half, np.random.default_rng(seed))  # (B, 1 + 2h)
    attention = causal_attentions(model, ids)  # (L, B, H, T, T)
    queries = np.array(second_half_positions(half))  # (h,) positions i
    induction = attention[..., queries, queries - half + 1]  # (L, B, H, h): A[i, i − h + 1] for each i
    previous = attention[..., queries, queries - 1]  # (L, B, H, h): A[i, i − 1]
    return induction.mean(axis=(1, 3)), previous.mean(axis=(1, 3))  # (L, H) each


def find_induction_heads(model, half: int = 16, n_sequences: int = 100, seed: int = 1) -> dict:
    """The best induction head and the best previous-token head, with every head's scores.

    Returns ``{"induction": (layer, head, score), "previous_token": (layer, head, score),
    "induction_scores": (L, H) list, "previous_token_scores": (L, H) list}``.
    """
    induction, previous = induction_head_scores(model, half, n_sequences, seed)
    best = {}
    for name, scores in (("induction", induction), ("previous_token", previous)):
        layer, head = np.unravel_index(scores.argmax(), scores.shape)
        best[name] = (int(layer), int(head), float(scores[layer, head]))
    return best | {"induction_scores": induction.tolist(), "previous_token_scores": previous.tolist()}


@torch.no_grad()
def induction_copy_accuracy(model, half: int = 16, n_sequences: int = 100, seed: int = 1) -> float:
    """Share of predictable second-half tokens predicted right (greedy, next-token).

    The token at position ``i + 1`` is predictable from position ``i`` for ``i = h+1 … 2h−1`` (it repeats
    the token at ``i − h + 1``); the first second-half token is not (the model cannot know where the
    first half ends).
    """
    from attnviz.training.repeats import repeated_sequences

    ids = repeated_sequences(n_sequences, half, np.random.default_rng(seed))  # (B, 1 + 2h)
    logits = model(input_ids=ids.to(model.device)).logits.cpu()  # (B, T, V)
    queries = torch.arange(half + 1, 2 * half)  # i = h+1 … 2h−1
    predicted = logits[:, queries].argmax(-1)  # (B, h−1): prediction for position i + 1
    return float((predicted == ids[:, queries + 1]).float().mean())


# ----------------------------------------------------------------------------------------------------
# ViT: accuracy and the pointing game of attention rollout
# ----------------------------------------------------------------------------------------------------


@torch.no_grad()
def vit_forward(model, processor, images: np.ndarray, batch_size: int = 200):
    """Run the ViT on ``images`` (N, 64, 64, 3) uint8 through its image processor (the lesson's
    :meth:`~advanced.vit_attention.ViTAttentionVisualizer.attend_batch`).

    Returns ``(logits (N, classes), attentions (L, N, H, 1+P, 1+P))`` as NumPy arrays.
    """
    from advanced.vit_attention import ViTAttentionVisualizer

    viz = ViTAttentionVisualizer(model, processor)
    attentions, logits, _, _ = viz.attend_batch(model, list(images), processor=processor, batch_size=batch_size)
    return logits, attentions


def attention_rollout(attentions: np.ndarray) -> np.ndarray:
    """Attention rollout (Abnar & Zuidema, 2020) of ``(L, B, H, T, T)`` attentions -> ``(B, T, T)``.

    Head mean, ``0.5·A + 0.5·I``, rows renormalised, ``R = Ã_L · … · Ã_1`` — the rollout lesson's
    :class:`AttentionRollout` with its defaults (the technique is taught, and implemented, once there).
    """
    from intermediate.attention_rollout import AttentionRollout

    return AttentionRollout().compute_rollout(attentions)  # (B, T, T)


def pointing_game(attentions: np.ndarray, masks: np.ndarray, patch_size: int = 8) -> np.ndarray:
    """Does the CLS rollout peak on a patch that overlaps the target? ``(N,)`` bool.

    ``attentions`` (L, N, H, n_prefix+P, n_prefix+P) with token 0 = [CLS] and the patches last; ``masks``
    (N, height, width) target pixels. The lesson's :func:`~advanced.vit_attention.rollout_map` and
    :func:`~advanced.vit_attention.pointing_hits`.
    """
    from advanced.vit_attention import pointing_hits, rollout_map

    masks = np.asarray(masks)
    grid = (masks.shape[1] // patch_size, masks.shape[2] // patch_size)
    n_prefix = attentions.shape[-1] - grid[0] * grid[1]  # [CLS] (and any other special token) first
    return pointing_hits(rollout_map(attentions, grid, n_prefix), masks)[0]


def vit_scores(
    model, processor, images: np.ndarray, labels: np.ndarray, masks: np.ndarray
) -> dict[str, float]:
    """``{"accuracy": …, "pointing_game": …, "pointing_game_correct": …}`` on one set of images.

    ``pointing_game_correct`` is the pointing-game rate on the correctly classified images only.
    """
    logits, attentions = vit_forward(model, processor, images)
    correct = logits.argmax(-1) == labels
    hits = pointing_game(attentions, masks, model.config.patch_size)
    return {
        "accuracy": float(correct.mean()),
        "pointing_game": float(hits.mean()),
        "pointing_game_correct": float(hits[correct].mean()) if correct.any() else float("nan"),
    }

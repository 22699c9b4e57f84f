"""The figures on the model cards, computed from a loaded checkpoint.

Training calls these to write each model card; the tests call them on the shipped checkpoints; lessons
may call them to put a number next to a picture. Each one measures a claim the course makes:

* dates (BART and GRU): exact-match accuracy, and how often the attention of each output digit peaks
  inside the source field it must be copied or translated from (:func:`alignment_hits`);
* GPT-2: which heads are induction heads and which are previous-token heads (:func:`induction_head_scores`);
* ViT: accuracy, and the pointing game of CLS attention rollout (:func:`pointing_game`).

All functions run under ``torch.no_grad()`` and in batches, on whatever device the model is on.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import torch

from attnviz.training.dates import FIELDS, TARGET_POSITIONS, DateExample, make_examples, token_spans_from_offsets

# ----------------------------------------------------------------------------------------------------
# Dates: shared
# ----------------------------------------------------------------------------------------------------


def fresh_dates(n: int, seed: int) -> list[DateExample]:
    """``n`` dates in random formats, drawn with ``seed`` (use a seed that training did not use)."""
    return make_examples(n, seed)


def exact_match(predictions: Sequence[str], examples: Sequence[DateExample]) -> float:
    """Share of predictions equal to the ISO target, character for character."""
    return float(np.mean([p == e.target for p, e in zip(predictions, examples, strict=True)]))


def alignment_hits(attention: np.ndarray, token_spans: Sequence[dict[str, tuple[int, int]]]) -> np.ndarray:
    """Does the attention of each output digit peak inside its field's source span?

    ``attention`` is ``(B, T, S)``: row ``t`` is the attention used while emitting output character ``t``
    of ``YYYY-MM-DD`` (so ``T >= 10``), over ``S`` source tokens (padding must carry zero weight).
    ``token_spans[b][field] = (start, end)`` in source token positions.

    Returns a boolean array ``(B, 8)``: one column per digit, in the order year (4), month (2), day (2).
    """
    peaks = attention.argmax(axis=-1)  # (B, T) the most-attended source token of each output step
    hits = []
    for b, spans in enumerate(token_spans):
        row = []
        for field in FIELDS:
            start, end = spans[field]
            row += [start <= peaks[b, t] < end for t in TARGET_POSITIONS[field]]
        hits.append(row)
    return np.array(hits, dtype=bool)


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
    predictions = bart_translate(model, tokenizer, [e.source for e in examples])
    by_format: dict[str, list[bool]] = {}
    for p, e in zip(predictions, examples):
        by_format.setdefault(e.format, []).append(p == e.target)
    return {name: float(np.mean(v)) for name, v in sorted(by_format.items())}


@torch.no_grad()
def bart_cross_attentions(model, tokenizer, examples: Sequence[DateExample]):
    """Teacher-forced cross-attention on the reference targets.

    Returns ``(attentions, token_spans)``: ``attentions`` has shape ``(L, B, H, T, S)`` — decoder layer,
    example, head, decoder position (row ``t`` predicts output character ``t``), source token — and
    ``token_spans[b]`` maps each field to its source token span (from the tokenizer's offsets, so this
    works for any fast tokenizer on the source side).
    """
    source = tokenizer([e.source for e in examples], padding=True, return_offsets_mapping=True, return_tensors="pt")
    target = tokenizer([e.target for e in examples], return_tensors="pt")["input_ids"]  # (B, 12) <s> … </s>
    out = model(
        input_ids=source["input_ids"].to(model.device),
        attention_mask=source["attention_mask"].to(model.device),
        decoder_input_ids=target[:, :-1].to(model.device),  # (B, 11) <s> y1 … y10
        output_attentions=True,
    )
    if not out.cross_attentions or out.cross_attentions[0] is None:
        raise RuntimeError("the model returned no cross-attentions: load it with attn_implementation='eager'")
    attentions = torch.stack(out.cross_attentions).float().cpu().numpy()  # (L, B, H, T, S)
    spans = [token_spans_from_offsets(e.char_spans, offsets.tolist()) for e, offsets in zip(examples, source["offset_mapping"])]
    return attentions, spans


def bart_cross_attention_alignment(
    model, tokenizer, examples: Sequence[DateExample], batch_size: int = 500
) -> dict[int, float]:
    """Per decoder layer: share of output digits whose head-averaged cross-attention peaks in their field."""
    hits_by_layer: dict[int, list[np.ndarray]] = {}
    for chunk in _batches(list(examples), batch_size):
        attentions, spans = bart_cross_attentions(model, tokenizer, chunk)
        for layer, layer_attention in enumerate(attentions):
            head_mean = layer_attention.mean(axis=1)  # (B, T, S)
            hits_by_layer.setdefault(layer, []).append(alignment_hits(head_mean, spans))
    return {layer: float(np.concatenate(h).mean()) for layer, h in hits_by_layer.items()}


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

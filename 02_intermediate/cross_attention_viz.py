"""Lesson 2.4 — Cross-attention: which source tokens each output token reads, in a transformer and an RNN.

The idea
--------
An encoder-decoder translates a source sequence (``S`` tokens) into a target (``T`` tokens). Besides
self-attention, every decoder layer has **cross-attention**: the queries come from the decoder (one per
output position), the keys and values from the encoder's final states (one per source token)::

    C = softmax(Q_dec K_encᵀ / √d_k)          # (T, S): row t is a distribution over the source

so a model gives ``(L, H, T, S)`` for one sentence pair — **target rows, source columns**. Transposing it
to ``(S, T)`` is the most common mistake (rows would no longer sum to 1); the validators catch it.

Row ``t`` is the attention used while *predicting* output token ``t``: with teacher forcing the decoder
reads ``<s> y_1 … y_{T-1}`` and its row ``t`` predicts ``y_t`` — so rows are labelled by the tokens they
produce, not by the tokens they read (an off-by-one that is easy to get wrong).

The **alignment** a cross-attention map implies is, for each output token, the source token with the
largest weight: ``align(t) = argmax_s C[t, s]``. Bahdanau, Cho & Bengio (2015, "Neural Machine Translation
by Jointly Learning to Align and Translate") introduced attention exactly to learn such soft alignments
— in an RNN, whose attention is the same picture with ``L = H = 1``.

The course's models translate written dates into ISO dates (``"the 21st of November, 2026"`` →
``"2026-11-21"``), where the right alignment is *known*: the year digits must read ``2026``, the month
digits ``November``, the day digits ``21st``. So we can score the picture: the share of output digits
whose alignment lands inside their field's source span (``attnviz.training.dates``). Layers and heads
differ: in the tiny BART the first decoder layer's head mean aligns about nine digits in ten, the second
about four in five (a test checks both, within 5 points, on 200 fresh dates) — its heads park the dashes
on ``<s>``/``</s>`` and spread over whole fields — which is why we score every layer before trusting one
map. Fuse the heads *before* the argmax: the argmax of the mean is not the mean of the heads'
argmaxes. (And a good alignment still does not prove the model *uses* those tokens: Jain & Wallace 2019.)

Then the RNN with Bahdanau attention, three ways (the outline's three pictures):

1. the heatmap of its ``(T, S)`` weights;
2. an animated GIF, one frame per decoding step, revealing where the decoder looks as it writes;
3. a bar chart of one output token's row — the easiest way to read one distribution exactly.

Both the animation and the bars count decoding steps from 1 ("step 6 of 11, writing '1'": row 5 of the
matrix) and name the token written at that step, so one number means one row everywhere.

Here: the extraction and every measurement a caption states (alignment, field scores). The figures, the
captions' wording and the one-line warnings are drawn and written in ``attnviz/cross_figures.py``.

Run it
------
    python 02_intermediate/cross_attention_viz.py                                 # tiny BART + GRU, offline
    python 02_intermediate/cross_attention_viz.py --text "March 3, 1999" --step 9   # 1-based: a day digit
    python 02_intermediate/cross_attention_viz.py --model Helsinki-NLP/opus-mt-en-de --text "The cat sat."
"""

from __future__ import annotations

import warnings
from pathlib import Path
from typing import NamedTuple

import numpy as np

from attnviz import cross_figures
from attnviz.cli import lesson_parser, run_lesson
from attnviz.gru_attention import TruncatedInput
from attnviz.outputs import LessonOutputs
from attnviz.plotting import heatmap_html
from attnviz.validate import check_attention, check_index

DEFAULT_TEXT = "the 21st of November, 2026"
DEFAULT_STEP = 6  # 1-based decoding step: "2026-1" — the first month digit of the ISO date


class CrossAttention(NamedTuple):
    """Cross-attention of a batch of source/target pairs."""

    weights: np.ndarray  # (L, B, H, T, S): decoder layer, example, head, output position, source token
    source_tokens: list[list[str]]  # per example, S labels (padding included)
    target_tokens: list[list[str]]  # per example, T labels: row t is the token *predicted* at step t
    source_mask: np.ndarray  # (B, S) 1 = real source token
    target_mask: np.ndarray  # (B, T) 1 = real output row
    outputs: list[str]  # the decoded target strings


# ---------------------------------------------------------------------------------------- extraction
def cross_attentions(model, tokenizer, sources, targets=None, max_new_tokens: int = 32) -> CrossAttention:
    """Teacher-forced cross-attention of an encoder-decoder on ``sources``.

    With ``targets=None`` the model first translates greedily and we teacher-force its own output (so
    the rows are exactly the steps of its generation); with ``targets`` we teacher-force those strings.
    Either way the decoder reads ``[start] y_1 … y_{T-1}`` and row ``t`` is the attention that predicted
    ``y_t`` (the last row predicts ``</s>``).
    """
    import torch

    from attnviz.extract import transformer_attentions

    max_new_tokens = _check_count(max_new_tokens, "max_new_tokens")
    if isinstance(sources, str):
        sources = [sources]
    if not sources or not all(isinstance(t, str) and t.strip() for t in sources):
        raise ValueError(f"sources: expected a non-empty list of non-empty strings, got {sources!r:.80}")
    if isinstance(targets, str):
        targets = [targets]
    if targets is not None and len(targets) != len(sources):
        raise ValueError(f"targets: got {len(targets)} targets for {len(sources)} sources")
    device = next(model.parameters()).device
    limit = source_limit(tokenizer, model)
    for text in sources:
        n_tokens = len(tokenizer(text, verbose=False)["input_ids"])
        if n_tokens > limit:
            warnings.warn(f"--text: {n_tokens} tokens is longer than the model's {limit} source positions; "
                          f"truncated to the first {limit} tokens ({text[:30]!r}...)", TruncatedInput,
                          stacklevel=2)
    batch = tokenizer(list(sources), return_tensors="pt", padding=True, truncation=True,
                      max_length=limit).to(device)  # input_ids (B, S), S <= limit
    start = model.config.decoder_start_token_id
    eos, pad = model.config.eos_token_id, model.config.pad_token_id
    if targets is None:
        with torch.no_grad():
            generated = model.generate(**batch, max_new_tokens=max_new_tokens, num_beams=1, do_sample=False)
        sequences = [_cut_at_eos(row.tolist(), eos, pad) for row in generated.cpu()]  # [start, y1, …, </s>]
    else:
        sequences = [[start, *tokenizer(t, add_special_tokens=False)["input_ids"], eos] for t in targets]
        for row, seq in enumerate(sequences):
            if len(seq) - 1 > limit:  # the decoder reads len(seq) - 1 positions
                warnings.warn(f"targets: {len(seq) - 1} decoder positions is longer than the model's "
                              f"{limit}; truncated to the first {limit}", TruncatedInput, stacklevel=2)
                sequences[row] = seq[: limit + 1]
    longest = max(len(s) for s in sequences)
    decoder_ids = torch.full((len(sequences), longest - 1), pad, dtype=torch.long)  # (B, T) inputs
    decoder_mask = torch.zeros_like(decoder_ids)
    for row, seq in enumerate(sequences):
        decoder_ids[row, : len(seq) - 1] = torch.tensor(seq[:-1])  # [start] y_1 … y_{T-1}
        decoder_mask[row, : len(seq) - 1] = 1
    inputs = {**batch, "decoder_input_ids": decoder_ids.to(device),
              "decoder_attention_mask": decoder_mask.to(device)}
    with torch.no_grad():
        weights = transformer_attentions(model, inputs, kind="cross").cpu().numpy()  # (L, B, H, T, S)
    source_mask = batch["attention_mask"].cpu().numpy()
    weights = weights * decoder_mask.numpy()[None, :, None, :, None]  # padding output rows -> 0
    source_tokens = [tokenizer.convert_ids_to_tokens(ids) for ids in batch["input_ids"].cpu().tolist()]
    target_tokens = [tokenizer.convert_ids_to_tokens(seq[1:]) + [""] * (longest - len(seq))
                     for seq in sequences]
    outputs = [tokenizer.decode(seq, skip_special_tokens=True) for seq in sequences]
    return CrossAttention(weights, source_tokens, target_tokens, source_mask, decoder_mask.numpy(), outputs)


def _check_count(value, name: str, lowest: int = 1) -> int:
    """A whole-number argument (a count, a size) of at least ``lowest``."""
    if isinstance(value, bool) or not isinstance(value, int | np.integer) or value < lowest:
        raise ValueError(f"{name}: got {value!r}; expected a whole number ≥ {lowest}")
    return int(value)


def source_limit(tokenizer, model) -> int:
    """The most source tokens the model takes: its position table (``max_position_embeddings``) or the
    tokenizer's ``model_max_length``, whichever is smaller — 64 for the course's tiny BART. A longer text
    would index past the position table ("index out of range in self"), so it is cut, with a warning."""
    from attnviz.models import max_length

    return max_length(tokenizer, model)


def _cut_at_eos(ids: list[int], eos: int, pad: int) -> list[int]:
    """A generated row up to and including its first ``</s>`` after the start token (padding dropped)."""
    for i in range(1, len(ids)):
        if ids[i] == eos:
            return ids[: i + 1]
    return [t for t in ids if t != pad] or ids


def implied_alignment(cross) -> np.ndarray:
    """For every output row, the source token with the largest weight: ``(..., T, S) -> (..., T)``.

    Pass one head, or the mean over a layer's heads (fuse first: the argmax of a mean is not the mean of
    argmaxes).
    """
    arr = check_attention(cross, "QK|HQK|BHQK|LBHQK", name="cross")
    return arr.argmax(-1)


def alignment_hits(alignment, token_spans, target_positions) -> np.ndarray:
    """Does each output digit align inside its field? ``alignment`` ``(B, T)`` -> bool ``(B, digits)``.

    ``token_spans[b][field] = (start, end)`` are source token positions; ``target_positions[field]`` the
    output rows of that field's digits (year 0–3, month 5–6, day 8–9 in ``YYYY-MM-DD``).
    """
    alignment = np.asarray(alignment) if not isinstance(alignment, str | bytes) else alignment
    if not isinstance(alignment, np.ndarray) or alignment.dtype.kind not in "iu" or alignment.ndim != 2:
        got = (f"shape {alignment.shape}, dtype {alignment.dtype}" if isinstance(alignment, np.ndarray)
               else type(alignment).__name__)
        raise TypeError(f"alignment: expected integer source positions (B, T), as implied_alignment returns "
                        f"them, got {got}")
    if not isinstance(token_spans, list | tuple) or len(token_spans) != alignment.shape[0]:
        raise ValueError(f"token_spans: expected one dict of field spans per example "
                         f"({alignment.shape[0]}), got {type(token_spans).__name__} of length "
                         f"{len(token_spans) if hasattr(token_spans, '__len__') else '?'}")
    rows_needed = [t for rows in target_positions.values() for t in rows]
    if rows_needed and max(rows_needed) >= alignment.shape[1]:
        raise ValueError(f"target_positions: row {max(rows_needed)} is beyond the alignment's "
                         f"{alignment.shape[1]} output rows")
    hits = []
    for b, spans in enumerate(token_spans):
        row = []
        for field, rows in target_positions.items():
            start, end = spans[field]
            row += [start <= alignment[b, t] < end for t in rows]
        hits.append(row)
    return np.array(hits, dtype=bool)


def date_example_for(text: str, output: str):
    """The course's :class:`~attnviz.training.dates.DateExample` behind ``text``, when ``text`` is written in
    one of the date formats and ``output`` (the model's translation) is its ISO date; else ``None``.

    This is what tells us, for a typed date, where its year, month and day are — the known right answer
    the alignment is scored against."""
    import datetime as dt

    from attnviz.training.dates import FORMATS, render

    try:
        date = dt.date.fromisoformat(output.strip())
    except ValueError:
        return None
    matches = [render(date, name) for name in FORMATS]
    return next((example for example in matches if example.source == text), None)


class FieldAttention(NamedTuple):
    """How a cross-attention map reads the three date fields, layer by layer (one sentence)."""

    mass: np.ndarray  # (L,) mean over output digits of the attention inside the digit's own source field
    uniform: float  # the same share if every source token got the same weight
    hits: np.ndarray  # (L,) output digits whose strongest source token lies in their field
    digits: int  # output digits scored (8 in YYYY-MM-DD)
    monotone: np.ndarray  # (L,) bool: do the digits' strongest source positions only move right?
    source_order: list[str]  # the fields in the order the source writes them


def field_attention(layer_means, spans: dict[str, tuple[int, int]], target_positions=None) -> FieldAttention:
    """Score each layer's head-mean map ``(L, T, S)`` against the known field spans of one date.

    ``mass[l]`` averages ``Σ_{s in field(t)} C_l[t, s]`` over the output digits ``t``; ``uniform`` is the
    same with every row uniform (the field's share of the ``S`` source tokens); a staircase — the picture
    one expects of an alignment — is a *monotone* one: each digit's argmax at or right of the previous."""
    from attnviz.training.dates import TARGET_POSITIONS

    target_positions = TARGET_POSITIONS if target_positions is None else target_positions
    arr = check_attention(layer_means, "LQK", name="layer_means")  # (L, T, S)
    n_source = arr.shape[-1]
    rows = [(t, spans[field]) for field, ts in target_positions.items() for t in ts]
    if max(t for t, _ in rows) >= arr.shape[1] or max(end for _, (_, end) in rows) > n_source:
        raise ValueError(f"spans: the date's fields {spans} do not fit layer_means of shape {arr.shape}")
    mass = np.array([[arr[layer, t, start:end].sum() for t, (start, end) in rows]
                     for layer in range(arr.shape[0])]).mean(1)  # (L,)
    uniform = float(np.mean([(end - start) / n_source for _, (start, end) in rows]))
    best = arr[:, [t for t, _ in rows]].argmax(-1)  # (L, digits): strongest source token of each digit
    hits = np.array([[start <= best[layer, i] < end for i, (_, (start, end)) in enumerate(rows)]
                     for layer in range(arr.shape[0])]).sum(1)  # (L,)
    monotone = (np.diff(best, axis=1) >= 0).all(1)  # (L,)
    source_order = sorted(target_positions, key=lambda field: spans[field][0])
    return FieldAttention(mass, uniform, hits, len(rows), monotone, source_order)


def date_token_spans(tokenizer, examples) -> list[dict[str, tuple[int, int]]]:
    """Each date's field spans in source *token* positions, from the tokenizer's character offsets (so any
    fast tokenizer works on the source side, and the spans match :func:`cross_attentions`' padding)."""
    from attnviz.training.dates import token_spans_from_offsets

    encoded = tokenizer([e.source for e in examples], padding=True, return_offsets_mapping=True)
    return [token_spans_from_offsets(e.char_spans, o) for e, o in zip(examples, encoded["offset_mapping"])]


def date_alignment_by_layer(model, tokenizer, n_dates: int = 200, seed: int = 12345, *, examples=None,
                            batch_size: int = 500) -> dict[int, float]:
    """Per decoder layer: share of output digits whose head-mean cross-attention peaks in their field.

    Teacher-forced on the reference ISO dates of ``examples`` (default: ``n_dates`` fresh dates drawn
    with ``seed``), ``batch_size`` dates per forward pass. The model cards report this number.
    """
    from attnviz.training.dates import TARGET_POSITIONS, make_examples

    n_dates, batch_size = _check_count(n_dates, "n_dates"), _check_count(batch_size, "batch_size")
    examples = list(make_examples(n_dates, seed) if examples is None else examples)
    hits: dict[int, list[np.ndarray]] = {}
    for start in range(0, len(examples), batch_size):
        chunk = examples[start:start + batch_size]
        cross = cross_attentions(model, tokenizer, [e.source for e in chunk], [e.target for e in chunk])
        spans = date_token_spans(tokenizer, chunk)
        for layer, layer_weights in enumerate(cross.weights):  # (B, H, T, S)
            alignment = implied_alignment(layer_weights.mean(1))  # head mean, then argmax: (B, T)
            hits.setdefault(layer, []).append(alignment_hits(alignment, spans, TARGET_POSITIONS))
    return {layer: float(np.concatenate(h).mean()) for layer, h in hits.items()}


# ------------------------------------------------------------------------------------------------ lesson
def _transformer_demo(args, out) -> None:
    """Demo 1: an encoder-decoder's cross-attention — every head, each layer's mean, the alignment."""
    from attnviz.kinds import require_seq2seq
    from attnviz.models import load_model

    if args.model is not None:
        require_seq2seq(args.model)  # a decoder-only or vision model: one line, before any work
    loaded = load_model(args.model, kind="seq2seq", device=args.device)
    model, tokenizer = loaded.model, loaded.tokenizer
    cross = cross_attentions(model, tokenizer, [args.text])
    n_s, n_t = int(cross.source_mask[0].sum()), int(cross.target_mask[0].sum())
    weights = cross.weights[:, 0, :, :n_t, :n_s]  # (L, B, H, T, S) -> (L, H, T, S): example 0, no padding
    src, tgt = cross.source_tokens[0][:n_s], cross.target_tokens[0][:n_t]
    print(f"{loaded.name}: '{args.text[:60]}' -> '{cross.outputs[0]}'; cross-attention {weights.shape} "
          "(L, H, T, S)")

    fig = cross_figures.plot_cross_heads(weights, src, tgt, loaded.name)
    out.save_figure(fig, "cross_heads", "Cross-attention of every decoder layer and head: rows are the "
                    "output tokens (the token each row predicts), columns the source tokens; each row sums "
                    "to 1.")
    layer_means = weights.mean(1)  # (L, H, T, S) -> (L, T, S)
    fig = cross_figures.layer_means_figure(layer_means, src, tgt, loaded.name)
    example = date_example_for(args.text, cross.outputs[0])
    stats = None
    if example is not None:
        spans = date_token_spans(tokenizer, [example])[0]
        stats = field_attention(layer_means, spans)
    out.save_figure(fig, "cross_layer_means", cross_figures.layer_means_caption(stats))

    # How well does each layer align with the known right answer? (the date model only)
    rates = None
    if Path(loaded.name).name == "tiny-bart-dates":
        rates = date_alignment_by_layer(model, tokenizer)
        print("share of output digits aligned inside their field, per decoder layer: "
              + ", ".join(f"layer {layer}: {rate:.1%}" for layer, rate in rates.items()))
    if args.layer is not None:
        layer = check_index(args.layer, weights.shape[0], name="layer")
    else:
        layer = max(rates, key=rates.get) if rates else weights.shape[0] - 1
    score = f" — aligns {rates[layer]:.0%} of digits on 200 fresh dates" if rates else ""
    title = f"{loaded.name}, layer {layer} (head mean){score}"
    fig = cross_figures.plot_alignment(layer_means[layer], src, tgt, title=title)
    out.save_figure(fig, "alignment", f"The alignment implied by layer {layer}'s cross-attention, drawn on "
                    "the two token rows: thick line = each output token's most-attended source token.")
    heatmap_html(layer_means[layer], xlabels=cross_figures.shown(src), ylabels=cross_figures.shown(tgt),
                 path=out.path("cross_attention.html"), x_title="source token", y_title="output token",
                 title=f"{loaded.name}: layer {layer} cross-attention, head mean "
                       "(hover: output, source, weight)")
    out.register("cross_attention.html", "Interactive cross-attention: hover for output token, source token, "
                 "weight.")


def _rnn_demo(args, out) -> None:
    """Demo 2: the RNN with Bahdanau attention, three ways — heatmap, animation, bars of one step."""
    from attnviz.gru_attention import GRUAttentionSeq2Seq

    rnn = GRUAttentionSeq2Seq.from_pretrained(args.rnn_model)
    result = rnn.translate(args.text)  # a text longer than the GRU's limit is cut, with a warning
    read = "".join(result.source_tokens[1:-1])  # the source as the GRU read it (after any truncation)
    print(f"GRU: '{read}' -> '{result.output}'; attention {result.attention.shape} (T, S)")
    shown = read if len(read) <= 40 else read[:39] + "…"
    fig = cross_figures.plot_rnn_heatmap(result.attention, result.source_tokens, result.output_tokens,
                           title=f"GRU + Bahdanau attention: '{shown}' → '{result.output}'")
    out.save_figure(fig, "rnn_heatmap", "Way 1 — the RNN's attention as a heatmap: one row per decoding "
                    "step, one column per source character.")
    n_frames = cross_figures.attention_gif(result.attention, result.source_tokens, result.output_tokens,
                             out.path("rnn_steps.gif"))
    out.register("rnn_steps.gif", f"Way 2 — an animation with one frame per decoding step ({n_frames} "
                 "steps): the red frame marks the step being written, later rows are still blank.")
    n_steps = result.attention.shape[0]
    step = args.step if args.step is not None else min(DEFAULT_STEP, n_steps)
    step = cross_figures.check_step(step, n_steps)  # 1-based, as the animation numbers its frames
    fig = cross_figures.plot_step_bars(result.attention, result.source_tokens, result.output_tokens, step)
    label = cross_figures.step_label(step, n_steps, result.output_tokens[step - 1])
    out.save_figure(fig, "rnn_step_bars", f"Way 3 — one decoding step's attention row as bars ({label}, as "
                    "the animation numbers its frames): exact weights, in source order.")


def main(argv=None):
    parser = lesson_parser(__doc__, model_kind="seq2seq", text=DEFAULT_TEXT, layer=None, head=None)
    parser.add_argument("--layer", type=int, default=None,
                        help="decoder layer to draw the alignment from (default: the best-aligned layer for "
                             "the date models, else the last)")
    parser.add_argument("--rnn-model", default="gru-attention-dates",
                        help="GRU + Bahdanau checkpoint folder or course model name (default: "
                             "gru-attention-dates)")
    parser.add_argument("--step", type=int, default=None,
                        help=f"decoding step shown as a bar chart, 1-based as in the animation (default: "
                             f"{DEFAULT_STEP}, the first month digit of YYYY-MM-DD)")
    args = parser.parse_args(argv)
    out = LessonOutputs(__file__, args.out)
    with cross_figures.one_line_warnings():
        _transformer_demo(args, out)
        _rnn_demo(args, out)


if __name__ == "__main__":
    raise SystemExit(run_lesson(main))

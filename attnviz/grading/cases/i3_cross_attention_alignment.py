"""Cases of exercise I3 — cross-attention alignment of the translation model (the tiny BART)."""

from functools import cache

import numpy as np

from attnviz.grading.core import Case, Close, Equal, Exercise, Mistake, Property
from attnviz.grading.fixtures import capture_heatmap, random_attention

SOURCE, TARGET = "the 21st of November, 2026", "2026-11-21"


@cache
def _bart():
    """The shipped tiny-bart-dates, eager attention, CPU (loaded once per process)."""
    from attnviz.models import load_model

    loaded = load_model(None, kind="seq2seq", device="cpu")
    return loaded.model, loaded.tokenizer


@cache
def _examples():
    from attnviz.training.dates import make_examples

    return tuple(make_examples(24, seed=777))


def _positions():
    from attnviz.training.dates import TARGET_POSITIONS

    return TARGET_POSITIONS


def _run_cross(mod):
    model, tokenizer = _bart()
    return {"cross": mod.cross_attention(model, tokenizer, SOURCE, TARGET)}


def _cross(sol):
    return sol.cross_attention(*_bart(), SOURCE, TARGET)


def _decoder_without_start(sol):
    import torch

    model, tokenizer = _bart()
    encoded = tokenizer(SOURCE, return_tensors="pt")
    ids = tokenizer(TARGET, return_tensors="pt")["input_ids"][:, 1:]  # y1 … y10 </s>: the start token dropped
    with torch.no_grad():
        out = model(**encoded, decoder_input_ids=ids, output_attentions=True)
    return {"cross": torch.stack(out.cross_attentions)[:, 0].numpy()}


def _rows_sum_to_one(out):
    arr = np.asarray(out.get("cross"), dtype=float)
    if arr.ndim != 4:
        return f"cross: expected 4 dimensions (layers, heads, target, source), got shape {arr.shape}"
    worst = float(np.abs(arr.sum(-1) - 1).max())
    return None if worst < 1e-4 else f"cross: rows must sum to 1 over the source tokens (off by {worst:.3g})"


def _align_input():
    return random_attention(51, (5, 8))  # (T, S)


def _run_hits(mod):
    spans = {"year": (1, 5), "month": (6, 9), "day": (10, 12)}
    alignment = np.array([1, 2, 7, 4, 0, 6, 8, 0, 10, 12])  # (T,)
    return {"hits": np.asarray(mod.digit_hits(alignment, spans, _positions()), dtype=bool)}


def _run_layers(mod):
    model, tokenizer = _bart()
    return {"rates": np.asarray(mod.alignment_by_layer(model, tokenizer, _examples(), _positions()), dtype=float)}


def _heads_not_fused(sol):
    model, tokenizer = _bart()
    per = []
    for e in _examples():
        cross = sol.cross_attention(model, tokenizer, e.source, e.target)  # (L, H, T, S)
        per.append([[sol.digit_hits(sol.align(head), e.token_spans, _positions()) for head in layer] for layer in cross])
    return {"rates": np.asarray(per, dtype=float).mean(axis=(0, 2, 3))}


def _last_layer_mean():
    """Instructor code (independent of the student's extraction): head-mean cross-attention of the last layer."""
    import torch

    model, tokenizer = _bart()
    encoded = tokenizer(SOURCE, return_tensors="pt")
    with torch.no_grad():
        out = model(**encoded, decoder_input_ids=tokenizer(TARGET, return_tensors="pt")["input_ids"][:, :-1],
                    output_attentions=True)
    return out.cross_attentions[-1][0].mean(0).numpy()  # (T, S)


def _run_plot(mod):
    _, tokenizer = _bart()
    cross = _last_layer_mean()  # (T, S)
    source_tokens = tokenizer.convert_ids_to_tokens(tokenizer(SOURCE)["input_ids"])
    target_tokens = [*TARGET, "</s>"]
    return capture_heatmap(mod.plot_cross_attention(cross, source_tokens, target_tokens, "test"))


CROSS_HINT = ("Encoder input tokenizer(source); decoder_input_ids = tokenizer(target).input_ids[:, :-1] (<s> y1 … y10); "
              "stack outputs.cross_attentions and drop the batch axis: (layers, heads, 11, source tokens).")

EXERCISE = Exercise(
    id="i3_cross_attention_alignment",
    path="02_intermediate/i3_cross_attention_alignment.py",
    title="I3 — Cross-attention alignment of the translation model",
    cases=[
        Case("cross_attention", _run_cross, points=3,
             checks=[Property(_rows_sum_to_one, "Rows are output positions, columns source tokens."),
                     Close("cross", atol=1e-5, hint=CROSS_HINT)],
             mistakes=[Mistake("transposed", lambda sol: {"cross": _cross(sol).swapaxes(-1, -2)},
                               "Transposed: cross-attention is (target, source) — rows are the output positions."),
                       Mistake("start_dropped", _decoder_without_start,
                               "You fed the decoder y1 … y10 </s>: it must start with <s> and leave out the final "
                               "</s> (input_ids[:, :-1]), so that row t predicts output character t.")]),
        Case("align", lambda mod: {"alignment": np.asarray(mod.align(_align_input()))}, points=2,
             checks=[Close("alignment", atol=0, hint="argmax over the source axis (the last one), one per row.")],
             mistakes=[Mistake("wrong_axis", lambda sol: {"alignment": np.argmax(_align_input(), axis=0)},
                               "You took the argmax over the output rows (axis 0); it must run over the source "
                               "tokens (the last axis).")]),
        Case("digit_hits", _run_hits, points=2,
             checks=[Equal("hits", "For each field in the order year, month, day and each of its output positions "
                           "t: start <= alignment[t] < end (the end is excluded).")]),
        Case("alignment_by_layer", _run_layers, points=3,
             checks=[Close("rates", atol=1e-6, hint="Average the heads of each layer first, then align, then count "
                           "the hits over all digits and examples.")],
             mistakes=[Mistake("heads_not_fused", _heads_not_fused,
                               "You aligned every head separately and averaged the hit rates. Fuse the heads first "
                               "(layer.mean(0)), then take the argmax: the mean of argmaxes is not the argmax of "
                               "the mean.")]),
        Case("plot_cross_attention", _run_plot, points=2,
             checks=[Close("data", atol=1e-6, hint="imshow the (target, source) matrix itself, not its transpose."),
                     Close("clim", atol=1e-9, hint="A fixed colour scale: vmin=0, vmax=1."),
                     Equal("xticklabels", "One x tick per source token, labelled with the token."),
                     Equal("yticklabels", "One y tick per output token, labelled with the token.")]),
    ],
)

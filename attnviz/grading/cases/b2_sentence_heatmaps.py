"""Cases of exercise B2 — heatmaps for different sentences (padding, cropping, honest scales)."""

import numpy as np

from attnviz.grading.core import Case, Close, Equal, Exercise, Mistake
from attnviz.grading.fixtures import all_panels, minilm_batch

SENTENCES = ("The cat sat on the mat.", "Bank robbers took the money from the river bank.", "Hello!")
LAYER = 2


def _batch():
    attention, mask, tokens = minilm_batch(SENTENCES)
    return attention[LAYER], mask, tokens  # (B, H, T, T)


def _run_mask(mod):
    attention, mask, _ = _batch()
    return {"masked": mod.mask_padding(attention.copy(), mask.copy())}


def _run_crop(mod):
    attention, mask, tokens = _batch()
    weights, real = mod.crop_example(attention, mask, tokens, 2)
    weights0, real0 = mod.crop_example(attention, mask, tokens, 0)
    return {"weights": np.asarray(weights), "tokens": list(real), "weights0": np.asarray(weights0),
            "tokens0": list(real0)}


def _scale_input():
    rng = np.random.default_rng(5)
    m = rng.dirichlet(np.ones(6), size=6)
    m[3] = 0.0  # a masked row
    return m


def _run_plot(mod):
    attention, mask, tokens = _batch()
    matrices, toks = [], []
    for b in range(len(SENTENCES)):
        real = np.flatnonzero(mask[b])
        matrices.append(attention[b, 0][real[:, None], real[None, :]])
        toks.append([tokens[b][i] for i in real])
    return all_panels(mod.plot_sentences(matrices, toks, [f"sentence {b}" for b in range(len(SENTENCES))]))


def _rows_only(sol):
    attention, mask, _ = _batch()
    keep = mask.astype(bool)[:, None, None, :]  # columns only
    return {"masked": attention * keep}


_PANEL_CHECKS = []
for _k in range(len(SENTENCES)):
    _PANEL_CHECKS += [
        Close(f"panel{_k}/data", atol=1e-6, hint="Draw each matrix itself with imshow, no rescaling."),
        Close(f"panel{_k}/clim", atol=1e-9, hint="Every panel on the same fixed scale: vmin=0, vmax=1."),
        Equal(f"panel{_k}/xticklabels", "One tick per token, labelled with the token, on the x axis."),
        Equal(f"panel{_k}/yticklabels", "One tick per token on the y axis too."),
        Equal(f"panel{_k}/title", "Use the titles you were given."),
    ]

EXERCISE = Exercise(
    id="b2_sentence_heatmaps",
    path="01_beginner/b2_sentence_heatmaps.py",
    title="B2 — Attention heatmaps for different sentences",
    cases=[
        Case("mask_padding", _run_mask, points=3,
             checks=[Close("masked", atol=1e-7, hint="Keep [b, h, i, j] only when tokens i AND j are real.")],
             mistakes=[Mistake("columns_only", _rows_only,
                               "You zeroed the padding keys (columns) but not the padding queries (rows): padding "
                               "rows still hold a full distribution.")]),
        Case("crop_example", _run_crop, points=3,
             checks=[Close("weights", atol=1e-7, hint="Keep the rows AND columns of the real tokens."),
                     Equal("tokens", "Return the real tokens only (drop [PAD])."),
                     Close("weights0", atol=1e-7), Equal("tokens0")]),
        Case("per_row_scale", lambda mod: {"scaled": mod.per_row_scale(_scale_input())}, points=2,
             checks=[Close("scaled", atol=1e-9, hint="Divide each row by its own maximum; an all-zero row stays 0 "
                           "(no NaN).")],
             mistakes=[Mistake("minmax", lambda sol: {"scaled": (_scale_input() - _scale_input().min())
                                                      / (_scale_input().max() - _scale_input().min())},
                               "That is min-max rescaling of the whole matrix; scale each row by its own maximum.")]),
        Case("plot_sentences", _run_plot, points=2,
             checks=[Equal("n_panels", "One imshow panel per sentence.")] + _PANEL_CHECKS),
    ],
)

"""Cases of exercise B1 — extract and visualise attention from the pre-trained model."""

import numpy as np

from attnviz.grading.core import Case, Close, Equal, Exercise, Mistake, Property
from attnviz.grading.fixtures import capture_heatmap, error_outcome, minilm

TEXT = "The quick brown fox jumps over the lazy dog."


def _rows_sum_to_one(key):
    def test(out):
        arr = np.asarray(out.get(key))
        if arr.ndim < 2:
            return f"{key}: expected at least 2 dimensions, got shape {arr.shape}"
        worst = np.abs(arr.sum(-1) - 1).max()
        return None if worst < 1e-4 else f"{key}: rows should sum to 1 over the keys, one is off by {worst:.3g}"
    return test


def _run_extract(mod):
    model, tokenizer = minilm()
    return {"weights": mod.extract_attention(model, tokenizer, TEXT)}


def _scores_inputs():
    rng = np.random.default_rng(7)
    return rng.normal(size=(3, 5, 8)) * 2, rng.normal(size=(3, 6, 8)) * 2  # (H, Q, d), (H, K, d)


def _softmax(scores, axis):
    e = np.exp(scores - scores.max(axis, keepdims=True))
    return e / e.sum(axis, keepdims=True)


def _wrong_axis(sol):
    q, k = _scores_inputs()
    return {"weights": _softmax(q @ k.transpose(0, 2, 1) / np.sqrt(8), axis=-2)}


def _heatmap_inputs():
    rng = np.random.default_rng(3)
    matrix = _softmax(rng.normal(size=(5, 5)) * 0.3, -1)  # a flat matrix: min-max rescaling would exaggerate it
    return matrix, ["[CLS]", "the", "cat", "sat", "[SEP]"]


def _run_heatmap(mod):
    matrix, tokens = _heatmap_inputs()
    return capture_heatmap(mod.plot_heatmap(matrix, tokens, title="test"))


def _select_cases(mod):
    attention = np.arange(2 * 3 * 4 * 4, dtype=float).reshape(2, 3, 4, 4)
    out = {"last_layer_head_1": mod.select_head(attention, -1, 1), "first": mod.select_head(attention, 0, 0)}
    out["bad_layer"] = error_outcome(lambda: mod.select_head(attention, 2, 0), "layer")
    out["bad_head"] = error_outcome(lambda: mod.select_head(attention, 0, -4), "head")
    return out


EXERCISE = Exercise(
    id="b1_extract_attention",
    path="01_beginner/b1_extract_attention.py",
    title="B1 — Extract and visualise attention from the pre-trained model",
    cases=[
        Case(
            name="extract_attention",
            run=_run_extract,
            points=3,
            checks=[Property(_rows_sum_to_one("weights"), "each row is a softmax over the keys"),
                    Close("weights", atol=1e-5, hint="Stack outputs.attentions (one (1, H, Q, K) per layer) and "
                          "drop the batch axis: (layers, heads, query, key).")],
            mistakes=[Mistake("transposed", lambda sol: {"weights": _run_extract(sol)["weights"].swapaxes(-1, -2)},
                              "Your matrices are transposed: rows must be queries and columns keys "
                              "(each row sums to 1).")],
        ),
        Case(
            name="attention_from_scores",
            run=lambda mod: {"weights": mod.attention_from_scores(*_scores_inputs())},
            points=3,
            checks=[Close("weights", atol=1e-6, hint="softmax(Q Kᵀ / √d_k) over the last axis (the keys).")],
            mistakes=[
                Mistake("no_scaling", lambda sol: {"weights": sol.attention_from_scores(
                    _scores_inputs()[0] * np.sqrt(8), _scores_inputs()[1])},
                    "You forgot to divide the scores by √d_k."),
                Mistake("wrong_axis", _wrong_axis,
                        "Your softmax runs over the queries (axis -2); it must run over the keys (the last axis)."),
            ],
        ),
        Case(
            name="select_head",
            run=_select_cases,
            points=2,
            checks=[Close("last_layer_head_1", atol=0, hint="attention[layer, head] with negative indices from the end."),
                    Close("first", atol=0),
                    Equal("bad_layer", "Check the layer index against the number of layers and raise ValueError "
                          "with 'layer' in the message."),
                    Equal("bad_head", "Check the head index (negative ones too) and raise ValueError with 'head' "
                          "in the message.")],
        ),
        Case(
            name="plot_heatmap",
            run=_run_heatmap,
            points=2,
            checks=[Close("data", atol=1e-6, hint="Show the matrix itself: imshow(matrix), no rescaling."),
                    Close("clim", atol=1e-9, hint="Use a fixed colour scale: vmin=0, vmax=1."),
                    Equal("xticklabels", "One x tick per key token, labelled with the token."),
                    Equal("yticklabels", "One y tick per query token, labelled with the token."),
                    Equal("cmap", "Use the perceptually uniform 'viridis' colour map.")],
            mistakes=[Mistake("minmax", lambda sol: {**_run_heatmap(sol), "data": _minmax(_heatmap_inputs()[0]),
                                                     "clim": np.array([0.0, 1.0])},
                              "You min-max rescaled the matrix: that stretches a flat softmax into a confident-"
                              "looking one. Plot the probabilities on a fixed 0–1 scale.")],
        ),
    ],
)


def _minmax(m):
    return (m - m.min()) / (m.max() - m.min())

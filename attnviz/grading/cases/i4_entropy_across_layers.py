"""Cases of exercise I4 — attention entropy across layers."""

import numpy as np

from attnviz.grading.core import Case, Close, Equal, Exercise, Mistake, Property
from attnviz.grading.fixtures import (
    array_key,
    minilm_batch,
    random_attention,
    reference_functions,
    reference_lookup,
)

TEXTS = ("The cat sat on the mat because it was tired.", "Attention is not explanation.")


def _rows():
    rows = np.array([[1.0, 0.0, 0.0, 0.0], [0.5, 0.5, 0.0, 0.0], [0.25, 0.25, 0.25, 0.25], [0.7, 0.1, 0.2, 0.0]])
    return np.concatenate([rows[None], random_attention(31, (2, 4, 4))])  # (3, 4, 4) with exact zeros


def _no_nan(key):
    def test(out):
        arr = np.asarray(out.get(key), dtype=float)
        return None if np.all(np.isfinite(arr)) else f"{key}: contains NaN — 0 · log 0 must count as 0"
    return test


def _naive(x):
    with np.errstate(divide="ignore", invalid="ignore"):
        return -np.sum(x * np.log(x), axis=-1)


def _padded():
    weights, mask, _ = minilm_batch(TEXTS)  # (L, B, H, T, T), (B, T)
    return weights[:, 1], mask[1]  # the short sentence, with padding: (L, H, T, T), (T,)


def _run_rows(mod):
    return {"entropy": mod.row_entropy(_rows())}


def _toy_heads():
    return random_attention(32, (2, 3, 5, 5))


def _run_rows_real(mod):
    attention, _ = _padded()
    return {"padded": mod.row_entropy(attention), "toy": mod.row_entropy(_toy_heads())}


def _run_heads(mod, given):
    """head_entropy on the reference's row entropies (a wrong row_entropy costs only its own points)."""
    attention, mask = _padded()
    toy = _toy_heads()
    table = {array_key(attention): given["row_entropy_minilm/padded"],
             array_key(toy): given["row_entropy_minilm/toy"]}
    with reference_functions(mod, row_entropy=reference_lookup(table, mod.row_entropy)):
        return {"padded": mod.head_entropy(attention, mask), "unpadded": mod.head_entropy(toy)}


def _padding_rows_included(sol):
    attention, _ = _padded()
    toy = random_attention(32, (2, 3, 5, 5))
    return {"padded": sol.row_entropy(attention).mean(-1), "unpadded": sol.head_entropy(toy)}


def _run_fraction(mod, given):
    attention, mask = _padded()
    table = {array_key(attention, mask): given["head_entropy/padded"]}
    with reference_functions(mod, head_entropy=reference_lookup(table, mod.head_entropy)):
        return {"fraction": mod.entropy_fraction(attention, mask)}


def _fraction_of_padded_length(sol):
    attention, mask = _padded()
    return {"fraction": sol.head_entropy(attention, mask) / np.log(attention.shape[-1])}


def _run_profile(mod, given):
    attention, mask = _padded()
    table = {array_key(attention, mask): given["entropy_fraction/fraction"]}
    with reference_functions(mod, entropy_fraction=reference_lookup(table, mod.entropy_fraction)):
        out = mod.layer_profile(attention, mask)
    return {**out, "most_focused": [int(v) for v in out["most_focused"]]} if isinstance(out, dict) else out


def _in_unit_interval(out):
    arr = np.asarray(out.get("fraction"), dtype=float)
    if arr.size and (np.nanmin(arr) < -1e-9 or np.nanmax(arr) > 1 + 1e-9):
        return f"fraction: values must lie in [0, 1], got {np.nanmin(arr):.3g} … {np.nanmax(arr):.3g}"
    return None


EXERCISE = Exercise(
    id="i4_entropy_across_layers",
    path="02_intermediate/i4_entropy_across_layers.py",
    title="I4 — Attention entropy across layers",
    cases=[
        Case("row_entropy", _run_rows, points=3,
             checks=[Property(_no_nan("entropy"), "np.log(0) is -inf and 0·(-inf) is NaN: compute p·log p only "
                              "where p > 0 (np.where), or use scipy.special.xlogy."),
                     Close("entropy", atol=1e-9, hint="H = −Σ p log p in nats (natural log), one value per row.")],
             mistakes=[Mistake("zero_log_zero", lambda sol: {"entropy": _naive(_rows())},
                               "0 · log 0 came out as NaN: skip the zero weights (their limit is 0)."),
                       Mistake("bits", lambda sol: {"entropy": sol.row_entropy(_rows()) / np.log(2)},
                               "You used log base 2 (bits); the exercise asks for nats (np.log)."),
                       Mistake("no_minus", lambda sol: {"entropy": -sol.row_entropy(_rows())},
                               "Entropy is −Σ p log p: your values are negative, the minus sign is missing.")]),
        Case("row_entropy_minilm", _run_rows_real, points=1,
             checks=[Property(_no_nan("padded"), "Padding keys hold weight exactly 0: 0·log 0 must count as 0."),
                     Close("padded", atol=1e-9, hint="H = −Σ p log p over the last axis: (L, H, T, T) -> (L, H, T)."),
                     Close("toy", atol=1e-9)]),
        Case("head_entropy", _run_heads, points=3, given=("row_entropy_minilm/padded", "row_entropy_minilm/toy"),
             checks=[Close("unpadded", atol=1e-9, hint="Mean of the row entropies over the queries: (L, H)."),
                     Close("padded", atol=1e-6, hint="Average over the real query rows only (mask == 1); the padding "
                           "keys hold weight exactly 0, so 0·log 0 must count as 0.")],
             mistakes=[Mistake("padding_rows", _padding_rows_included,
                               "Padding query rows were averaged in: keep only the rows where mask == 1.")]),
        Case("entropy_fraction", _run_fraction, points=2, given=("head_entropy/padded",),
             checks=[Property(_in_unit_interval, "Divide by log(n) of the real tokens."),
                     Close("fraction", atol=1e-6, hint="head entropy / log(number of real tokens).")],
             mistakes=[Mistake("padded_length", _fraction_of_padded_length,
                               "You divided by log of the padded length; the maximum entropy is log of the number "
                               "of *real* tokens.")]),
        Case("layer_profile", _run_profile, points=2, given=("entropy_fraction/fraction",),
             checks=[Close("layer_mean", atol=1e-6, hint="Mean over heads of the entropy fraction: (layers,)."),
                     Close("layer_spread", atol=1e-6, hint="np.std over the heads with ddof=0 (the population "
                           "standard deviation, NumPy's default; not ddof=1)."),
                     Equal("most_focused", "[layer, head] of the smallest entropy fraction (np.unravel_index)."),
                     Equal("most_diffuse_layer", "argmax of the layer means.")]),
    ],
)

"""Cases of exercise I1 — attention rollout from scratch."""

import numpy as np

from attnviz.grading.core import Case, Close, Equal, Exercise, Mistake, Property
from attnviz.grading.fixtures import error_outcome, minilm_attention, random_attention

TEXT = "The trophy did not fit in the suitcase because it was too big."


def _toy():
    return random_attention(21, (4, 3, 6, 6))  # (L, H, n, n)


def _rows_sum_to_one(key):
    def test(out):
        arr = np.asarray(out.get(key), dtype=float)
        if arr.ndim < 2:
            return f"{key}: expected a matrix, got shape {arr.shape}"
        worst = float(np.nanmax(np.abs(arr.sum(-1) - 1)))
        return None if worst < 1e-6 else f"{key}: every row should sum to 1, one is off by {worst:.3g}"
    return test


# ------------------------------------------------------------------------------------------ fuse_heads
def _run_fuse(mod):
    a = _toy()
    out = {name: mod.fuse_heads(a, name) for name in ("mean", "max", "min")}
    out["unknown"] = error_outcome(lambda: mod.fuse_heads(a, "median"), "head_fusion")
    return out


def _fused_over_layers(sol):
    a = _toy()
    return {"mean": a.mean(0), "max": a.max(0), "min": a.min(0), "unknown": "ValueError naming head_fusion"}


# ---------------------------------------------------------------------------------------------- discard
def _discard_input():
    return random_attention(22, (6, 6))


def _tied_input():
    return np.full((4, 4), 0.25)  # every off-diagonal entry ties with every other


def _run_discard(mod):
    # every call gets a fresh input: a function that edits its input in place loses only the in-place case
    return {"half": mod.discard_lowest(_discard_input(), 0.5), "tenth": mod.discard_lowest(_discard_input(), 0.1),
            "none": mod.discard_lowest(_discard_input(), 0.0), "ties": mod.discard_lowest(_tied_input(), 0.5)}


def _run_discard_in_place(mod):
    m = _discard_input()
    mod.discard_lowest(m, 0.5)
    return {"input_after": m}


def _input_unchanged(out):
    changed = np.asarray(out.get("input_after")) != _discard_input()
    if changed.any():
        return (f"discard_lowest changed its input in place ({int(changed.sum())} entries): the caller's matrix "
                "must stay as it was")
    return None


def _discard_with_diagonal(sol):
    def wrong(m, ratio):
        n = m.shape[0]
        out = m.copy().ravel()
        out[np.argsort(out, kind="stable")[: int(ratio * n * n)]] = 0.0
        return out.reshape(n, n)
    m = _discard_input()
    return {"half": wrong(m, 0.5), "tenth": wrong(m, 0.1), "none": m.copy(), "ties": wrong(_tied_input(), 0.5)}


def _discard_highest(sol):
    def wrong(m, ratio):
        n = m.shape[0]
        out = m.copy()
        off = ~np.eye(n, dtype=bool)
        values = out[off]
        values[np.argsort(-values, kind="stable")[: int(ratio * n * (n - 1))]] = 0.0
        out[off] = values
        return out
    m = _discard_input()
    return {"half": wrong(m, 0.5), "tenth": wrong(m, 0.1), "none": m.copy(), "ties": wrong(_tied_input(), 0.5)}


# --------------------------------------------------------------------------------------------- residual
def _residual_input():
    return _toy().max(1)  # (L, n, n) max-fused: rows do not sum to 1


def _run_residual(mod):
    return {"residual": mod.add_residual(_residual_input())}


def _no_renormalisation(sol):
    f = _residual_input()
    return {"residual": 0.5 * f + 0.5 * np.eye(6)}


def _column_normalised(sol):
    f = 0.5 * _residual_input() + 0.5 * np.eye(6)
    return {"residual": f / f.sum(-1)[:, None, :]}  # a.sum(-1) without keepdims: divides the columns


# ---------------------------------------------------------------------------------------------- rollout
SETTINGS = {"mean": ("mean", 0.0), "max": ("max", 0.0), "mean_discard": ("mean", 0.3), "min_discard": ("min", 0.2)}


def _run_rollout(mod):
    a = _toy()
    return {name: mod.rollout(a, fusion, ratio) for name, (fusion, ratio) in SETTINGS.items()}


def _variant(sol, product=None, residual=True, per_head=False, fuse_late=False):
    """The usual wrong rollouts, built from the solution's own steps."""
    a = _toy()
    out = {}
    for name, (fusion, ratio) in SETTINGS.items():
        if per_head:  # roll out every head on its own, fuse the rollouts at the end
            rolls = np.stack([sol.rollout(a[:, h:h + 1], "mean", ratio) for h in range(a.shape[1])])
            out[name] = sol.fuse_heads(rolls[None], fusion)[0]
            continue
        if fuse_late:  # discard and residual per head, fuse the heads afterwards
            per = np.stack([sol.add_residual(np.stack([sol.discard_lowest(m, ratio) for m in a[:, h]]))
                            for h in range(a.shape[1])], axis=1)  # (L, H, n, n)
            layers = sol.fuse_heads(per, fusion)
            layers = layers / layers.sum(-1, keepdims=True)
        else:
            fused = np.stack([sol.discard_lowest(m, ratio) for m in sol.fuse_heads(a, fusion)])
            layers = sol.add_residual(fused) if residual else fused / fused.sum(-1, keepdims=True)
        result = layers[0]
        for layer in layers[1:]:
            result = product(layer, result) if product else layer @ result
        out[name] = result
    return out


# ------------------------------------------------------------------------------------------------ MiniLM
def _run_minilm(mod):
    weights, tokens = minilm_attention(TEXT)
    r = mod.rollout(weights)
    relevance = mod.token_relevance(r, 0)
    return {"rollout": r, "relevance": relevance, "top_token": tokens[int(np.argmax(relevance))]}


def _minilm_self_kept(sol):
    weights, tokens = minilm_attention(TEXT)
    r = sol.rollout(weights)
    row = r[0] / r[0].sum()
    return {"rollout": r, "relevance": row, "top_token": tokens[int(np.argmax(row))]}


ROLLOUT_HINT = ("Fuse the heads of each layer, discard, then 0.5·A + 0.5·I with rows renormalised, and multiply "
                "R = Â_L ⋯ Â_1 (result = layer @ result, first layer rightmost).")

EXERCISE = Exercise(
    id="i1_rollout_from_scratch",
    path="02_intermediate/i1_rollout_from_scratch.py",
    title="I1 — Attention rollout from scratch",
    cases=[
        Case("fuse_heads", _run_fuse, points=2,
             checks=[Close("mean", atol=1e-9, hint="Reduce over axis 1, the heads: (L, H, Q, K) -> (L, Q, K)."),
                     Close("max", atol=1e-9), Close("min", atol=1e-9),
                     Equal("unknown", "Raise ValueError with 'head_fusion' in the message for an unknown fusion.")],
             mistakes=[Mistake("over_layers", _fused_over_layers,
                               "You reduced over the layers (axis 0); the heads are axis 1 of (layers, heads, "
                               "query, key).")]),
        Case("discard_lowest", _run_discard, points=2,
             checks=[Close("half", atol=1e-12, hint="Drop floor(ratio · n(n−1)) of the smallest off-diagonal "
                           "entries; leave the diagonal alone."),
                     Close("tenth", atol=1e-12), Close("none", atol=1e-12, hint="ratio 0 changes nothing."),
                     Close("ties", atol=1e-12, hint="Equal values: drop the earliest in row-major order first "
                           "(np.argsort(values, kind='stable') on the off-diagonal entries taken row by row).")],
             mistakes=[Mistake("diagonal_included", _discard_with_diagonal,
                               "You counted (and zeroed) diagonal entries too: only off-diagonal entries may be "
                               "discarded, and the count is floor(ratio · n(n−1))."),
                       Mistake("highest_dropped", _discard_highest,
                               "You zeroed the *largest* weights: discard the smallest ones (sort ascending).")]),
        Case("discard_keeps_input", _run_discard_in_place, points=1,
             checks=[Property(_input_unchanged, "Start from a copy: out = np.array(matrix, dtype=float).")]),
        Case("add_residual", _run_residual, points=2,
             checks=[Property(_rows_sum_to_one("residual"), "Divide each row by its sum (keepdims=True) after "
                              "adding the identity — max-fused rows do not sum to 1."),
                     Close("residual", atol=1e-9, hint="0.5·A + 0.5·I, then each row divided by its own sum.")],
             mistakes=[Mistake("no_renormalisation", _no_renormalisation,
                               "Rows not renormalised: after max/min fusion 0.5·A + 0.5·I does not sum to 1 per "
                               "row — divide by the row sums."),
                       Mistake("columns_divided", _column_normalised,
                               "You divided by a.sum(-1) without keepdims, so NumPy broadcast the row sums over "
                               "the *columns*. Use a.sum(-1, keepdims=True).")]),
        Case("rollout", _run_rollout, points=4,
             checks=[Property(_rows_sum_to_one(k), "A product of row-stochastic matrices has rows summing to 1.")
                     for k in SETTINGS] + [Close(k, atol=1e-9, hint=ROLLOUT_HINT) for k in SETTINGS],
             mistakes=[Mistake("wrong_order", lambda sol: _variant(sol, product=lambda layer, r: r @ layer),
                               "Matrices multiplied in the wrong order: you computed Â_1 ⋯ Â_L. The first layer "
                               "acts first, so it is the rightmost factor: result = layer @ result."),
                       Mistake("no_residual", lambda sol: _variant(sol, residual=False),
                               "You left out the residual: use 0.5·A + 0.5·I before renormalising."),
                       Mistake("per_head_rollout", lambda sol: _variant(sol, per_head=True),
                               "You rolled out every head separately and fused the results: fuse the heads of "
                               "each layer first, then add the residual and multiply."),
                       Mistake("fused_after_residual", lambda sol: _variant(sol, fuse_late=True),
                               "Heads fused after the residual/discard instead of before: fuse each layer's heads "
                               "first, then discard, then 0.5·A + 0.5·I.")]),
        Case("minilm", _run_minilm, points=2,
             checks=[Close("rollout", atol=1e-6, hint=ROLLOUT_HINT),
                     Close("relevance", atol=1e-6, hint="Row `position` of the rollout with its own entry set to 0, "
                           "renormalised to sum to 1."),
                     Equal("top_token", "The token with the largest relevance for [CLS].")],
             mistakes=[Mistake("self_kept", _minilm_self_kept,
                               "Set the position's own entry to 0 before renormalising: otherwise its share of "
                               "itself dominates.")]),
    ],
)

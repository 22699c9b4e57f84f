"""Cases of exercise I2 — multi-head pattern analysis."""

import numpy as np

from attnviz.grading.core import Case, Close, Equal, Exercise, Mistake, Property
from attnviz.grading.fixtures import all_panels, minilm_attention, random_attention

TEXT = "The cat sat on the mat because it was tired."


def _pairs():
    p = random_attention(41, (6, 5))
    q = random_attention(42, (6, 5))
    p[:3, :2] = 0.0  # zeros: 0 · log 0 must be 0
    p /= p.sum(-1, keepdims=True)
    q[0] = p[0]  # one identical pair
    q[1] = np.roll(np.eye(5)[0], 3)  # disjoint from p[1]? p[1] has weight on key 3, so not fully
    return p, q


def _run_js(mod):
    p, q = _pairs()
    return {"distance": mod.js_distance(p, q),
            "disjoint": float(np.asarray(mod.js_distance(np.array([1.0, 0.0]), np.array([0.0, 1.0])))),
            "broadcast": mod.js_distance(p, q[0])}


def _js_variant(sol, transform):
    p, q = _pairs()
    return {"distance": transform(sol.js_distance(p, q)),
            "disjoint": float(transform(sol.js_distance(np.array([1.0, 0.0]), np.array([0.0, 1.0])))),
            "broadcast": transform(sol.js_distance(p, q[0]))}


def _naive_js(sol):
    p, q = _pairs()

    def js(a, b):
        m = (a + b) / 2
        with np.errstate(divide="ignore", invalid="ignore"):
            return np.sqrt(0.5 * np.sum(a * np.log2(a / m), -1) + 0.5 * np.sum(b * np.log2(b / m), -1))
    return {"distance": js(p, q), "disjoint": np.asarray(js(np.array([1.0, 0.0]), np.array([0.0, 1.0]))),  # NaN
            "broadcast": js(p, q[0])}


def _layer():
    weights, _ = minilm_attention(TEXT)
    return weights[0]  # (H, n, n): the first layer


def _run_matrix(mod):
    toy = random_attention(43, (4, 6, 6))
    toy[3] = toy[1]
    return {"toy": mod.head_distance_matrix(toy), "minilm": mod.head_distance_matrix(_layer())}


def _symmetric(out):
    arr = np.asarray(out.get("minilm"), dtype=float)
    if arr.ndim != 2 or arr.shape[0] != arr.shape[1]:
        return f"minilm: expected a square (heads, heads) matrix, got shape {arr.shape}"
    if not np.allclose(arr, arr.T, atol=1e-9) or not np.allclose(np.diag(arr), 0, atol=1e-9):
        return "minilm: the distance matrix must be symmetric with zeros on the diagonal"
    return None


def _run_pairs(mod):
    d = np.array([[0.0, 0.3, 0.05, 0.5], [0.3, 0.0, 0.4, 0.12], [0.05, 0.4, 0.0, 0.6], [0.5, 0.12, 0.6, 0.0]])
    pairs = mod.redundant_pairs(d, 0.2)
    return {"pairs": [f"{int(i)}-{int(j)}" for i, j in pairs],
            "none": [f"{int(i)}-{int(j)}" for i, j in mod.redundant_pairs(d, 0.01)]}


def _run_behaviour(mod):
    weights, _ = minilm_attention(TEXT)
    profile = mod.head_behaviour(weights)
    return {"profile": profile, "labels": [str(x) for row in mod.dominant_behaviour(profile) for x in row]}


def _swapped(sol):
    weights, _ = minilm_attention(TEXT)
    profile = sol.head_behaviour(weights)[..., [0, 2, 1, 3]]
    return {"profile": profile, "labels": [str(x) for row in sol.dominant_behaviour(profile) for x in row]}


def _row_zero(sol):
    weights, _ = minilm_attention(TEXT)
    profile = sol.head_behaviour(weights).copy()
    profile[..., 3] = weights[..., 0, :].mean(-1)
    return {"profile": profile, "labels": [str(x) for row in sol.dominant_behaviour(profile) for x in row]}


def _run_plot(mod):
    weights, tokens = minilm_attention(TEXT)
    out = all_panels(mod.plot_layer(weights[2], list(tokens), title="layer 2"))
    keep = {"n_panels": out["n_panels"]}
    for k in (0, 5, 11):
        if f"panel{k}" in out:
            keep[f"panel{k}"] = {"data": out[f"panel{k}"]["data"], "title": out[f"panel{k}"]["title"],
                                 "clim": out[f"panel{k}"]["clim"]}
    return keep


JS_HINT = "√(½ Σ p log₂(p/m) + ½ Σ q log₂(q/m)) with m = (p + q)/2, over the last axis."

EXERCISE = Exercise(
    id="i2_multihead_patterns",
    path="02_intermediate/i2_multihead_patterns.py",
    title="I2 — Multi-head pattern analysis",
    cases=[
        Case("js_distance", _run_js, points=3,
             checks=[Close("distance", atol=1e-9, hint=JS_HINT),
                     Close("disjoint", atol=1e-9, hint="Distributions with no common key are at distance 1 in "
                           "base 2."),
                     Close("broadcast", atol=1e-9, hint="Let NumPy broadcast p (6, 5) against q (5,).")],
             mistakes=[Mistake("divergence", lambda sol: _js_variant(sol, np.square),
                               "You returned the divergence; the distance is its square root."),
                       Mistake("natural_log", lambda sol: _js_variant(sol, lambda d: d * np.sqrt(np.log(2))),
                               "You used the natural log: use log₂ so that the distance lies in [0, 1]."),
                       Mistake("zero_log_zero", _naive_js,
                               "0 · log 0 came out as NaN: skip terms where the weight is 0 (their limit is 0).")]),
        Case("head_distance_matrix", _run_matrix, points=3,
             checks=[Property(_symmetric, "d(a, b) = d(b, a) and d(a, a) = 0."),
                     Close("toy", atol=1e-9, hint="Mean over the queries of js_distance(layer[a], layer[b]) "
                           "(row by row, not the flattened matrices)."),
                     Close("minilm", atol=1e-6)]),
        Case("redundant_pairs", _run_pairs, points=2,
             checks=[Equal("pairs", "Each pair once with i < j, only distances below the threshold, closest first."),
                     Equal("none", "No pair below the threshold: return an empty list (never pair a head with "
                           "itself).")]),
        Case("head_behaviour", _run_behaviour, points=3,
             checks=[Close("profile", atol=1e-6, hint="self = A[i, i], previous = A[i, i−1], next = A[i, i+1], "
                           "first = A[i, 0], each averaged over the queries that have such a key."),
                     Equal("labels", "argmax over the four behaviours, named from BEHAVIOURS.")],
             mistakes=[Mistake("previous_next_swapped", _swapped,
                               "Previous and next are swapped: the previous token of query i is key i − 1, the "
                               "sub-diagonal (np.diagonal(..., offset=-1))."),
                       Mistake("first_row", _row_zero,
                               "For 'first' you took row 0 (where the first token looks); you need column 0 (the "
                               "weight every query puts on the first token).")]),
        Case("plot_layer", _run_plot, points=2,
             checks=[Equal("n_panels", "One imshow panel per head (12), nothing else drawn with imshow."),
                     Close("panel0/data", atol=1e-9, hint="Panel h shows head h's matrix itself, no rescaling."),
                     Close("panel5/data", atol=1e-9), Close("panel11/data", atol=1e-9),
                     Equal("panel5/title", "Title each panel 'head h'."),
                     Close("panel11/clim", atol=1e-9, hint="A fixed colour scale: vmin=0, vmax=1 on every panel.")]),
    ],
)

"""Cases of exercise B3 — identify the common patterns."""

import numpy as np

from attnviz.grading.core import Case, Close, Equal, Exercise, Mistake
from attnviz.grading.fixtures import (
    array_key,
    error_outcome,
    minilm_attention,
    random_attention,
    reference_functions,
    reference_lookup,
)

TEXT = "The cat sat on the mat. The dog sat on the rug."


def _run_supports(mod):
    out = {name: np.asarray(mod.support_mask(name, 6), dtype=float) for name in ("diagonal", "previous_token", "bos")}
    out["unknown"] = error_outcome(lambda: mod.support_mask("zigzag", 6), "name")
    return out


def _score_inputs():
    head = random_attention(11, (7, 7), sharpness=1.5)
    i, j = np.indices((7, 7))
    return head, {"diagonal": np.abs(i - j) <= 1, "previous_token": j == i - 1, "bos": j == 0}


def _run_scores(mod):
    head, supports = _score_inputs()
    out = {name: float(mod.pattern_score(head, s)) for name, s in supports.items()}
    prev = np.eye(7, k=-1)
    prev[0, 0] = 1.0  # an ideal previous-token head
    out["ideal_previous"] = float(mod.pattern_score(prev, supports["previous_token"]))
    out["uniform_bos"] = float(mod.pattern_score(np.full((7, 7), 1 / 7), supports["bos"]))
    return out


def _no_chance(sol):
    head, supports = _score_inputs()
    out = {}
    for name, s in supports.items():
        ideal = s / np.maximum(s.sum(1, keepdims=True), 1)
        out[name] = float(np.minimum(head, ideal).sum(1)[s.any(1)].mean())
    out["ideal_previous"], out["uniform_bos"] = 1.0, 1 / 7
    return out


def _raw_mass(sol):
    head, supports = _score_inputs()
    out = {}
    for name, s in supports.items():
        mass, chance = (head * s).sum(1), s.sum(1) / 7
        out[name] = float(((mass - chance) / (1 - chance))[s.any(1)].mean())
    out["ideal_previous"], out["uniform_bos"] = 1.0, 0.0
    return out


def _run_minilm_scores(mod):
    """Every pattern's support at MiniLM's length and every head's score: what label_heads builds on."""
    weights, _ = minilm_attention(TEXT)  # (L, H, n, n)
    n = weights.shape[-1]
    supports = [np.asarray(mod.support_mask(name, n), dtype=float) for name in mod.PATTERNS]
    scores = [[[float(mod.pattern_score(head, s.astype(bool))) for s in supports] for head in layer]
              for layer in weights]
    return {"supports": np.stack(supports), "scores": np.asarray(scores)}  # (P, n, n), (L, H, P)


def _run_labels(mod, given):
    """label_heads on the reference's supports and scores (a wrong pattern_score costs only its own points)."""
    weights, _ = minilm_attention(TEXT)
    n = weights.shape[-1]
    supports, scores = given["minilm_scores/supports"], given["minilm_scores/scores"]
    masks = {array_key(name, n): supports[p].astype(bool) for p, name in enumerate(mod.PATTERNS)}
    table = {array_key(weights[l, h], supports[p].astype(bool)): float(scores[l, h, p])
             for l in range(weights.shape[0]) for h in range(weights.shape[1]) for p in range(len(supports))}
    with reference_functions(mod, support_mask=reference_lookup(masks, mod.support_mask),
                             pattern_score=reference_lookup(table, mod.pattern_score)):
        labels = mod.label_heads(weights)
    return {"labels": [str(label) for row in labels for label in row]}


EXERCISE = Exercise(
    id="b3_identify_patterns",
    path="01_beginner/b3_identify_patterns.py",
    title="B3 — Identify the common attention patterns",
    cases=[
        Case("support_mask", _run_supports, points=2,
             checks=[Close("diagonal", atol=0, hint="diagonal: |i - j| <= 1, a band of width 3."),
                     Close("previous_token", atol=0, hint="previous token: j == i - 1 (row 0 stays empty)."),
                     Close("bos", atol=0, hint="bos: the first column."),
                     Equal("unknown", "Raise ValueError with 'name' in the message for an unknown pattern.")]),
        Case("pattern_score", _run_scores, points=4,
             checks=[Close(k, atol=1e-6, hint="lift = (overlap − chance) / (1 − chance), averaged over rows with a "
                           "non-empty support; overlap = Σ min(A, P) with P the ideal row.")
                     for k in ("diagonal", "previous_token", "bos", "ideal_previous", "uniform_bos")],
             mistakes=[Mistake("no_chance_correction", _no_chance,
                               "You returned the raw mass on the pattern: subtract what uniform attention would put "
                               "there (chance) and divide by 1 − chance."),
                       Mistake("raw_mass", _raw_mass,
                               "You scored the raw mass on the support. Compare with the ideal row instead "
                               "(Σ min(A, P)): otherwise a previous-token head scores as high on the diagonal "
                               "band that contains it.")]),
        Case("minilm_scores", _run_minilm_scores, points=1,
             checks=[Close("supports", atol=0, hint="support_mask at MiniLM's length, one mask per PATTERNS entry."),
                     Close("scores", atol=1e-6, hint="pattern_score of every head of every layer against each "
                           "support.")]),
        Case("label_heads", _run_labels, points=2, given=("minilm_scores/supports", "minilm_scores/scores"),
             checks=[Equal("labels", "Best pattern by score per head; 'mixed' below the threshold. Labels are listed "
                           "layer by layer, head by head.")]),
    ],
)

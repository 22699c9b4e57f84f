"""Cases of exercise B3 — identify the common patterns."""

import numpy as np

from attnviz.grading.core import Case, Close, Equal, Exercise, Mistake
from attnviz.grading.fixtures import error_outcome, minilm_attention, random_attention

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


def _run_labels(mod):
    weights, _ = minilm_attention(TEXT)
    return {"labels": [str(label) for row in mod.label_heads(weights) for label in row]}


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
        Case("label_heads", _run_labels, points=2,
             checks=[Equal("labels", "Best pattern by score per head; 'mixed' below the threshold. Labels are listed "
                           "layer by layer, head by head.")]),
    ],
)

"""Cases of exercise B4 — compare attention in early and late layers."""

import numpy as np

from attnviz.grading.core import Case, Close, Equal, Exercise, Mistake
from attnviz.grading.fixtures import minilm_attention, random_attention

TEXT = "Attention in early layers is local, while later layers look further away."


def _toy():
    return random_attention(4, (3, 2, 6, 6))  # (L, H, n, n)


def _wrong_normalisation(sol):
    a = _toy()
    n = a.shape[-1]
    distance = np.abs(np.arange(n)[:, None] - np.arange(n)[None, :])
    return {"distance": (a * distance).sum((-1, -2)) / n ** 2}


EXERCISE = Exercise(
    id="b4_early_vs_late",
    path="01_beginner/b4_early_vs_late.py",
    title="B4 — Compare attention in early and late layers",
    cases=[
        Case("mean_attention_distance", lambda mod: {"distance": mod.mean_attention_distance(_toy())}, points=3,
             checks=[Close("distance", atol=1e-7, hint="Σ_j A[i, j]·|i − j| for each query, then the mean over "
                           "queries: one number per (layer, head).")],
             mistakes=[Mistake("divided_by_n_squared", _wrong_normalisation,
                               "Each row already sums to 1: average the per-query distances over the n queries, "
                               "do not divide by n².")]),
        Case("first_token_mass", lambda mod: {"mass": mod.first_token_mass(_toy())}, points=2,
             checks=[Close("mass", atol=1e-7, hint="Column 0 (the key axis is last), averaged over the queries.")],
             mistakes=[Mistake("row_zero", lambda sol: {"mass": _toy()[..., 0, :].mean(-1)},
                               "You took row 0 (what the first token attends to); you need column 0 (attention "
                               "received by the first token).")]),
        Case("compare_minilm", lambda mod: mod.compare_early_late(minilm_attention(TEXT)[0]), points=3,
             checks=[Close("distance", atol=1e-6, hint="Head-mean distance per layer: shape (layers,)."),
                     Close("first_token", atol=1e-6),
                     Equal("farthest_layer", "argmax over the layers of the head-mean distance."),
                     Close("late_minus_early_distance", atol=1e-6)]),
    ],
)

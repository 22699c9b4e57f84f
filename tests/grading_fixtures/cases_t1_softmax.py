"""Cases of the toy exercise ``t1_softmax`` (the grader's tests only; see README.md here)."""

import numpy as np

from attnviz.grading.core import Case, Close, Exercise, Mistake, Property

SCORES = np.random.default_rng(0).normal(size=(4, 5))


def _softmax(module):
    return {"probs": module.softmax(SCORES.copy())}


def _column_softmax(solution):  # the known mistake: normalising columns instead of rows
    return {"probs": solution.softmax(SCORES.T.copy()).T}


def _rows_sum_to_one(out):
    sums = np.asarray(out["probs"]).sum(axis=-1)
    return None if np.allclose(sums, 1.0, atol=1e-6) else f"rows sum to {np.round(sums, 3).tolist()}, not 1"


def _entropy(module):
    weights = np.array([[1.0, 0.0, 0.0], [0.5, 0.5, 0.0], [1 / 3, 1 / 3, 1 / 3]])
    return {"entropy": module.row_entropy(weights)}


EXERCISE = Exercise(
    id="t1_softmax",
    path="01_toy/t1_softmax.py",
    title="Toy softmax",
    cases=[
        Case("softmax_values", _softmax, [Close("probs", hint="subtract the row maximum, exponentiate, "
                                                             "divide by the row sum")], points=2,
             mistakes=[Mistake("columns", _column_softmax, "you normalised each column: use axis=-1")]),
        Case("rows_sum_to_one", _softmax, [Property(_rows_sum_to_one, hint="divide by the sum of each row")]),
        Case("entropy", _entropy, [Close("entropy", hint="entropy is -sum p log p, with 0 log 0 = 0")]),
    ],
)

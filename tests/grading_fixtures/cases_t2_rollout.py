"""Cases of the toy exercise ``t2_rollout`` (the grader's tests only; see README.md here)."""

import numpy as np

from attnviz.grading.core import Case, Close, Equal, Exercise, Mistake

_raw = np.random.default_rng(1).random(size=(3, 4, 4))
LAYERS = _raw / _raw.sum(axis=-1, keepdims=True)  # (L, N, N), rows sum to 1
TOKENS = ["[CLS]", "the", "cat", "[SEP]"]


def _rollout(module):
    return {"rollout": module.rollout(LAYERS.copy())}


def _reversed_order(solution):  # the known mistake: multiplying from the last layer down
    return {"rollout": solution.rollout(LAYERS[::-1].copy())}


def _top(module):
    return {"token": module.top_token(list(TOKENS), LAYERS[0].copy())}


EXERCISE = Exercise(
    id="t2_rollout",
    path="02_toy/t2_rollout.py",
    title="Toy rollout",
    cases=[
        Case("rollout", _rollout, [Close("rollout", hint="add the identity, renormalise, multiply")], points=2,
             mistakes=[Mistake("reversed", _reversed_order,
                               "you multiplied the layers in the wrong order: the last layer goes on the left")]),
        Case("top_token", _top, [Equal("token", hint="sum the attention each token receives (axis 0)")]),
    ],
)

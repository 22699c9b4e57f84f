"""Record the reference outputs of every exercise from ``solutions/`` (``make references``).

Grading compares a student's outputs with these recordings, never with a live import of the
solutions, so the repository can be handed out without ``solutions/``. ``tests/test_exercise_mechanism.py``
recomputes them from the solutions and fails when a recording is stale.
"""

from __future__ import annotations

import numpy as np

from attnviz.grading.core import (
    SOLUTIONS_DIR,
    Exercise,
    all_exercises,
    compute_reference,
    load_values,
    reference_path,
    save_values,
)


def record(exercises: list[Exercise] | None = None, solutions_dir=SOLUTIONS_DIR) -> list[str]:
    """Re-record the given exercises (default: all); returns their ids."""
    done = []
    for exercise in exercises or all_exercises():
        save_values(reference_path(exercise), compute_reference(exercise, solutions_dir))
        done.append(exercise.id)
    return done


def stale_entries(exercise: Exercise, solutions_dir=SOLUTIONS_DIR, atol: float = 1e-6) -> list[str]:
    """Keys whose recorded value differs from what the solution produces now (empty when fresh)."""
    fresh = compute_reference(exercise, solutions_dir)
    stored = load_values(reference_path(exercise))
    problems = sorted(set(fresh) ^ set(stored))
    for key in set(fresh) & set(stored):
        a, b = fresh[key], stored[key]
        if isinstance(a, np.ndarray) or isinstance(b, np.ndarray):
            a, b = np.asarray(a), np.asarray(b)
            same = a.shape == b.shape and (
                np.array_equal(a, b) if not np.issubdtype(a.dtype, np.number)
                else np.allclose(a, b, atol=atol, rtol=1e-5, equal_nan=True))
        else:
            same = a == b or (isinstance(a, float) and isinstance(b, float) and abs(a - b) <= atol + 1e-5 * abs(b))
        if not same:
            problems.append(key)
    return problems

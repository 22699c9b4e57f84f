"""Every exercise case, run against a submission folder (default: ``solutions/``) in this process.

A case whose function still raises ``NotImplementedError`` is reported as *skipped: not attempted*, so a
fresh copy of ``exercises/`` shows a page of skips, not errors. A failure message says what differs and
gives the hint for the mistake it most looks like. Points are printed in the summary at the end.
"""

import pytest

from attnviz.grading.core import (
    SOLUTIONS_DIR,
    all_exercises,
    check_module,
    compute_reference,
    evaluate,
    load_reference,
    split_reference,
)

EXERCISES = all_exercises()
PARAMS = [pytest.param(ex, case.name, id=f"{ex.id}::{case.name}") for ex in EXERCISES for case in ex.cases]
_RESULTS: dict = {}


def _results_for(exercise, submission_dir):
    key = (exercise.id, str(submission_dir))
    if key not in _RESULTS:  # run all cases of one exercise once: the file is imported once
        reference = load_reference(exercise)
        if submission_dir.resolve() == SOLUTIONS_DIR.resolve():
            # the solutions' outputs, computed once per test run (shared with the freshness check)
            fresh = split_reference(compute_reference(exercise))
            results = [evaluate(case, fresh[case.name]["expected"], reference.get(case.name), exercise.id)
                       for case in exercise.cases]
        else:
            results = check_module(exercise, submission_dir / exercise.path, reference)
        _RESULTS[key] = {r.case: r for r in results}
    return _RESULTS[key]


@pytest.mark.parametrize(("exercise", "case_name"), PARAMS)
def test_exercise_case(exercise, case_name, submission_dir, record_property):
    result = _results_for(exercise, submission_dir)[case_name]
    record_property("points", f"{result.points}/{result.max_points}")
    if result.status in ("not_attempted", "missing"):
        pytest.skip(f"{result.status.replace('_', ' ')}: {exercise.path} — {result.message}")
    assert result.status == "passed", f"[{exercise.id} / {case_name}] {result.status}: {result.message}"

"""The exercise mechanism itself: generation, staleness, pristine stubs, hints for known mistakes."""

import shutil

import pytest

from attnviz.exercises import generate, strip_solutions
from attnviz.grading.core import EXERCISES_DIR, SOLUTIONS_DIR, all_exercises, check_module, get_exercise
from attnviz.grading.reference import stale_entries

EXERCISES = all_exercises()


def test_strip_solutions_by_hand():
    source = '''"""Reference solution — Exercise X."""


def f(x):
    """Double x."""
    # BEGIN SOLUTION
    y = 2 * x
    return y
    # END SOLUTION


def g():
    return 1
'''
    stub = strip_solutions(source)
    assert stub.startswith('"""Exercise X."""')
    assert "y = 2 * x" not in stub and "return 1" in stub
    assert '    raise NotImplementedError("f: your code here' in stub
    compile(stub, "stub", "exec")
    with pytest.raises(ValueError, match="never closed"):
        strip_solutions("def f():\n    # BEGIN SOLUTION\n    pass\n")


def test_every_solution_has_cases_and_an_exercise_file():
    solution_paths = {p.relative_to(SOLUTIONS_DIR).as_posix() for p in SOLUTIONS_DIR.rglob("*.py")
                      if p.name != "__init__.py"}
    assert solution_paths == {ex.path for ex in EXERCISES}, "every solution file needs a cases module and back"
    assert len(EXERCISES) >= 4


def test_exercise_files_are_generated_from_the_solutions():
    stale = generate(check_only=True)
    assert not stale, f"exercise files out of date with solutions/: {stale} — run `make exercises`"


@pytest.mark.parametrize("exercise", EXERCISES, ids=lambda e: e.id)
def test_recorded_references_are_fresh(exercise):
    stale = stale_entries(exercise)
    assert not stale, f"{exercise.id}: recorded reference differs for {stale[:5]} — run `make references`"


@pytest.mark.parametrize("exercise", EXERCISES, ids=lambda e: e.id)
def test_pristine_stub_is_not_attempted_everywhere(exercise):
    results = check_module(exercise, EXERCISES_DIR / exercise.path)
    assert {r.status for r in results} == {"not_attempted"}, [(r.case, r.status, r.message) for r in results]
    assert sum(r.points for r in results) == 0


def _student_copy(tmp_path, exercise_id, old, new):
    exercise = get_exercise(exercise_id)
    target = tmp_path / exercise.path
    target.parent.mkdir(parents=True)
    source = (SOLUTIONS_DIR / exercise.path).read_text()
    assert old in source
    target.write_text(source.replace(old, new))
    return exercise, target


def test_a_transposed_answer_gets_the_transpose_hint(tmp_path):
    exercise, path = _student_copy(tmp_path, "b1_extract_attention", "return stacked[:, 0].numpy()",
                                   "return stacked[:, 0].numpy().swapaxes(-1, -2)")
    results = {r.case: r for r in check_module(exercise, path)}
    assert results["extract_attention"].status == "failed"
    assert "transposed" in results["extract_attention"].message
    assert results["attention_from_scores"].status == "passed"  # the other cases keep their points


def test_min_max_rescaling_gets_its_hint(tmp_path):
    exercise, path = _student_copy(tmp_path, "b1_extract_attention",
                                   'image = ax.imshow(matrix, cmap="viridis", vmin=0.0, vmax=1.0)',
                                   'image = ax.imshow((matrix - matrix.min()) / (matrix.max() - matrix.min()), '
                                   'cmap="viridis", vmin=0.0, vmax=1.0)')
    result = {r.case: r for r in check_module(exercise, path)}["plot_heatmap"]
    assert result.status == "failed" and "min-max" in result.message and result.points == 0


def test_missing_and_broken_files(tmp_path):
    exercise = get_exercise("b1_extract_attention")
    missing = check_module(exercise, tmp_path / "nothing.py")
    assert {r.status for r in missing} == {"missing"}
    broken = tmp_path / "broken.py"
    broken.write_text("def extract_attention(:\n")
    results = check_module(exercise, broken)
    assert {r.status for r in results} == {"error"} and "does not import" in results[0].message


def test_solutions_can_be_withheld(tmp_path):
    """Grading compares with recorded references: it never imports solutions/."""
    exercise = get_exercise("b4_early_vs_late")
    copy = tmp_path / exercise.path
    copy.parent.mkdir(parents=True)
    shutil.copy(SOLUTIONS_DIR / exercise.path, copy)
    import attnviz.grading.core as core

    original = core.SOLUTIONS_DIR
    core.SOLUTIONS_DIR = tmp_path / "no-solutions-here"
    try:
        results = check_module(exercise, copy)
    finally:
        core.SOLUTIONS_DIR = original
    assert {r.status for r in results} == {"passed"}

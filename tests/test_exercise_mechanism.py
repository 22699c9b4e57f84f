"""The exercise mechanism itself: generation, staleness, pristine stubs, hints for known mistakes, and
self-study that never loses a student's work (``make mywork``, ``make exercises``, ``make check``)."""

import json
import shutil
from pathlib import Path

import numpy as np
import pytest

from attnviz.exercises import (
    MANIFEST,
    AttemptedFiles,
    attempted_files,
    copy_mywork,
    fingerprint,
    generate,
    strip_solutions,
)
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
    """Drift fails; a file a student has written in is their work, not drift (make test stays green)."""
    stale = generate(check_only=True)
    assert not stale, f"exercise files out of date with solutions/: {stale} — run `make exercises`"
    manifest = json.loads((EXERCISES_DIR / MANIFEST).read_text())
    assert set(manifest) == {ex.path for ex in EXERCISES}, "run `make exercises` to refresh the manifest"
    for exercise in EXERCISES:  # the fingerprints are those of the stubs generated now
        wanted = strip_solutions((SOLUTIONS_DIR / exercise.path).read_text(), exercise.path)
        assert manifest[exercise.path] == fingerprint(wanted), exercise.path


@pytest.mark.parametrize("exercise", EXERCISES, ids=lambda e: e.id)
def test_recorded_references_are_fresh(exercise):
    stale = stale_entries(exercise)
    assert not stale, f"{exercise.id}: recorded reference differs for {stale[:5]} — run `make references`"


def test_a_solution_runs_once_per_test_run_and_again_when_its_file_changes(tmp_path, monkeypatch):
    """compute_reference's cache (the freshness check above and tests/test_exercises.py share it): the
    solution file is imported and run once; a copy of the outputs is handed out; an edited file runs again."""
    from attnviz.grading import core
    from attnviz.grading.worker import load_exercises

    fixtures = Path(__file__).parent / "grading_fixtures"
    (exercise,) = load_exercises([fixtures / "cases_t1_softmax.py"])
    solutions = tmp_path / "solutions"
    shutil.copytree(fixtures / "toy_solutions", solutions)
    monkeypatch.setattr(core, "_REFERENCE_CACHE", {})
    imported = []
    real_load_module = core.load_module

    def counting_load_module(path, name=None):
        imported.append(Path(path).name)
        return real_load_module(path, name)

    monkeypatch.setattr(core, "load_module", counting_load_module)
    key = "softmax_values/expected/probs"
    first = core.compute_reference(exercise, solutions)
    first[key] = "changed by a caller"  # a copy: the cache is not touched
    second = core.compute_reference(exercise, solutions)
    assert imported == ["t1_softmax.py"]
    assert sorted(second) == sorted(first)
    scores = np.random.default_rng(0).normal(size=(4, 5))  # the case's input, softmax by hand
    np.testing.assert_allclose(second[key], np.exp(scores) / np.exp(scores).sum(-1, keepdims=True), rtol=1e-12)
    solution = solutions / exercise.path
    solution.write_text(solution.read_text() + "\n# edited\n")
    third = core.compute_reference(exercise, solutions)
    assert imported == ["t1_softmax.py", "t1_softmax.py"]  # new content: run again
    for key, value in third.items():
        np.testing.assert_array_equal(np.asarray(value), np.asarray(second[key]), err_msg=key)


@pytest.mark.parametrize("exercise", EXERCISES, ids=lambda e: e.id)
def test_pristine_stub_is_not_attempted_everywhere(exercise):
    if EXERCISES_DIR / exercise.path in attempted_files():
        pytest.skip(f"exercises/{exercise.path} has someone's work in it (self-study belongs in mywork/)")
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


# ------------------------------------------------------------------------------------------ self-study
TOY_SOLUTIONS = Path(__file__).parent / "grading_fixtures" / "toy_solutions"
TOY_T1 = "01_toy/t1_softmax.py"
STUDENT_WORK = "def softmax(scores):\n    return scores  # my attempt\n"


def _toy_course(tmp_path):
    solutions, exercises = tmp_path / "solutions", tmp_path / "exercises"
    shutil.copytree(TOY_SOLUTIONS, solutions)
    generate(solutions_dir=solutions, exercises_dir=exercises)
    return solutions, exercises


def test_make_exercises_refuses_to_overwrite_an_attempted_file(tmp_path):
    solutions, exercises = _toy_course(tmp_path)
    assert attempted_files(exercises) == []
    (exercises / TOY_T1).write_text(STUDENT_WORK)
    with open(solutions / TOY_T1, "a") as f:  # the solutions change after the student started
        f.write("\n# a later fix\n")
    assert attempted_files(exercises) == [exercises / TOY_T1]
    with pytest.raises(AttemptedFiles) as err:
        generate(solutions_dir=solutions, exercises_dir=exercises)
    assert str(exercises / TOY_T1) in str(err.value) and "FORCE=1" in str(err.value)
    assert (exercises / TOY_T1).read_text() == STUDENT_WORK  # nothing was written
    assert generate(check_only=True, solutions_dir=solutions, exercises_dir=exercises) == []  # not "drift"
    generate(solutions_dir=solutions, exercises_dir=exercises, force=True)
    assert "NotImplementedError" in (exercises / TOY_T1).read_text()
    assert attempted_files(exercises) == []


def test_mywork_is_copied_once_and_never_overwritten(tmp_path):
    _, exercises = _toy_course(tmp_path)
    mywork = tmp_path / "mywork"
    assert sorted(p.relative_to(mywork).as_posix() for p in copy_mywork(exercises, mywork)) == [
        "01_toy/t1_softmax.py", "02_toy/t2_rollout.py"]
    (mywork / TOY_T1).write_text(STUDENT_WORK)
    (mywork / "02_toy" / "t2_rollout.py").unlink()
    assert [p.name for p in copy_mywork(exercises, mywork)] == ["t2_rollout.py"]  # only the missing one
    assert (mywork / TOY_T1).read_text() == STUDENT_WORK


def test_check_defaults_to_mywork_when_it_exists(tmp_path, monkeypatch):
    import attnviz.grading.__main__ as cli

    monkeypatch.setattr(cli, "REPO_ROOT", tmp_path)
    assert cli.default_check_folder() == "exercises"
    (tmp_path / "mywork").mkdir()
    assert cli.default_check_folder() == "mywork"


def test_gitignore_keeps_mywork_out_of_git():
    lines = (EXERCISES_DIR.parent / ".gitignore").read_text().split()
    assert "mywork/" in lines


# ------------------------------------------------------------------------------------------ fair hints
def test_in_place_discard_costs_only_its_own_case(tmp_path):
    exercise, path = _student_copy(tmp_path, "i1_rollout_from_scratch", "    out = np.array(matrix, dtype=float)\n",
                                 "    out = matrix\n")
    results = {r.case: r for r in check_module(exercise, path)}
    assert results["discard_keeps_input"].status == "failed"
    assert "in place" in results["discard_keeps_input"].message
    assert all(r.status == "passed" for name, r in results.items() if name != "discard_keeps_input"), results


def test_a_wrong_row_entropy_costs_only_its_own_points(tmp_path):
    exercise, path = _student_copy(tmp_path, "i4_entropy_across_layers",
                                 "    return -np.sum(np.where(weights > 0, weights * np.log(safe), 0.0), axis=-1)",
                                 "    return np.sum(np.where(weights > 0, weights * np.log(safe), 0.0), axis=-1)")
    results = {r.case: r.status for r in check_module(exercise, path)}
    assert results == {"row_entropy": "failed", "row_entropy_minilm": "failed", "head_entropy": "passed",
                       "entropy_fraction": "passed", "layer_profile": "passed"}


def test_a_wrong_pattern_score_costs_only_its_own_points(tmp_path):
    exercise, path = _student_copy(tmp_path, "b3_identify_patterns", "    return float(lift[rows].mean())",
                                 "    return float(lift[rows].mean()) * 0.5")
    results = {r.case: r.status for r in check_module(exercise, path)}
    assert results == {"support_mask": "passed", "pattern_score": "failed", "minilm_scores": "failed",
                       "label_heads": "passed"}


def test_float32_answers_pass_where_right_to_float32(tmp_path):
    exercise, path = _student_copy(tmp_path, "a1_attention_flow_gradients",
                                 "    return hat / hat.sum(-1, keepdims=True)\n",
                                 "    return (hat / hat.sum(-1, keepdims=True)).astype(np.float32)\n")
    result = {r.case: r for r in check_module(exercise, path)}["residual_capacities"]
    assert result.status == "passed", result.message
    from attnviz.grading.core import Close

    want = {"x": np.linspace(0, 1, 7)}
    assert Close("x", atol=1e-12)({"x": want["x"].astype(np.float32)}, want) is None
    assert Close("x", atol=1e-12)({"x": (want["x"] + 1e-3).astype(np.float32)}, want) is not None


def test_list_comparisons_name_the_first_differing_index():
    from attnviz.grading.core import Equal

    labels = ["diagonal"] * 40 + ["bos"] * 40
    message = Equal("labels")({"labels": labels[:57] + ["mixed"] + labels[58:]}, {"labels": labels})
    assert "first difference at index 57" in message and "'bos'" in message and "'mixed'" in message
    assert "80 items, expected 81" in Equal("labels")({"labels": labels}, {"labels": labels + ["bos"]})


def test_error_line_points_at_the_students_file_not_the_grader(tmp_path):
    from attnviz.grading.core import error_line, load_module

    student = tmp_path / "student.py"
    student.write_text("def call(callback):\n    return callback()\n")
    module = load_module(student, "error_line_student")
    case_file = Path(__file__).resolve().parent.parent / "attnviz" / "grading" / "cases" / "any_case.py"
    namespace = {}
    exec(compile("\n" * 127 + "def check():\n    raise ValueError('bad output')\n", str(case_file), "exec"),
         namespace)
    try:
        module.call(namespace["check"])
    except ValueError as err:
        line = error_line(err)
    assert "student.py, line 2" in line and "line 129" not in line
    try:
        namespace["check"]()
    except ValueError as err:
        assert "any_case.py" not in error_line(err)  # the grader's own file is never named


def test_a5_is_scored_outside_the_students_process_with_a_margin():
    """The checks rank the student's attributions against the recorded leave-one-out themselves."""
    from attnviz.grading.cases import a5_own_attribution as a5

    rng = np.random.default_rng(0)
    loo = rng.normal(size=12)
    content = np.ones(12)
    content[[0, 11]] = 0  # the special tokens are not scored
    expected = {"loo_0": loo, "content_0": content, "raw_attention": 0.336}
    assert a5._faithfulness({"example_0": loo.copy()}, expected) == pytest.approx(1.0)
    assert a5._not_loo({"example_0": loo.copy()}, expected) is not None  # a copy of the yardstick
    assert a5._not_loo({"example_0": rng.normal(size=12), "occluded_share": 1.0}, expected) is not None
    inside = {"score": None}
    weak = loo.copy()
    order = np.argsort(loo[1:11]) + 1
    weak[order] = np.linspace(0, 1, 10)[np.argsort(rng.permutation(10))]  # a ranking unrelated to leave-one-out
    inside["example_0"] = weak
    rho = a5._faithfulness(inside, expected)
    message = a5._beats_raw(inside, {**expected, "raw_attention": rho - a5.MARGIN / 2})
    assert message is not None and "margin" in message  # above raw attention, but inside the margin
    assert a5._beats_raw(inside, {**expected, "raw_attention": rho - 2 * a5.MARGIN}) is None
    assert f"{rho:.3f}" in a5._faithfulness_report(inside, {**expected, "raw_attention": 0.0})


def test_occlusion_is_recognised_and_gradients_are_not():
    """The watch on the model's forward calls: blanking tokens one by one is seen, a gradient method is not."""
    import torch

    from attnviz.grading.cases import a5_own_attribution as a5
    from attnviz.grading.fixtures import minilm

    model, _ = minilm()
    example = a5._examples()[0]
    forward = example.forward_fn(model)
    watch = a5._OcclusionWatch(model, example)
    try:
        with torch.no_grad():
            for t in range(example.input_ids.shape[1]):
                blank = example.input_ids.clone()
                blank[0, t] = 0
                forward(blank, *example.extra)
    finally:
        watch.close()
    assert watch.share(example.content) == 1.0
    watch = a5._OcclusionWatch(model, example)
    try:
        with torch.no_grad():
            forward(example.input_ids, *example.extra)
    finally:
        watch.close()
    assert watch.share(example.content) == 0.0

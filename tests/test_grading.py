"""The class-grading machinery (``make grade``, ``make check``) on a synthetic class.

The class is graded on two toy exercises that need only numpy (``tests/grading_fixtures/``), so these
tests do not depend on which real exercises exist. Their references are recorded from the toy solutions,
which are then deleted: the class is graded the way a course handed out without ``solutions/`` would be.
Each kind of submission the issue names is in the class, and each student must get exactly the points
their own code earns:

=====================  ==========================================================  ======
student                what the code does                                          points
=====================  ==========================================================  ======
perfect                the solutions' code                                           7
stubs                  the generated exercise stubs                                  0
partial                one right function per file, one wrong (a known mistake)       4
syntax_error           t1 does not parse; t2 right                                   3
infinite_loop          t1's row_entropy never returns; the rest right                6
exit_at_import         t1 calls os._exit(0) at import; t2 right                      3
exits_in_functions     sys.exit in t1's softmax, os._exit in t2's top_token          3
flooder                prints megabytes on stdout and stderr, computes right          7
deleter                deletes its working folder, tries to delete and overwrite     7
                       files outside it, computes right
missing_tier           hands in only 01_toy (right)                                  4
cheater_*              steals the answers one way each (solution file, classmate's   0
                       file, recorded reference, ``import solutions``, a shell, a
                       symbolic link) instead of computing them
=====================  ==========================================================  ======
"""

import csv
import dis
import importlib
import os
import pkgutil
import shutil
import sys
import time
from pathlib import Path

import pytest

from attnviz.exercises import strip_solutions
from attnviz.grading import core
from attnviz.grading import grade as grading
from attnviz.grading.__main__ import main
from attnviz.grading.reference import record
from attnviz.grading.worker import _audit, _inside, _resolve, load_exercises, make_audit_hook

FIXTURES = Path(__file__).parent / "grading_fixtures"
TOY_SOLUTIONS = FIXTURES / "toy_solutions"
T1, T2 = "01_toy/t1_softmax.py", "02_toy/t2_rollout.py"
LIMITS = ["--timeout-per-test", "5", "--timeout-per-student", "60"]
CHEATS = ("solution_file", "classmate", "reference", "import", "shell", "symlink")

# ----------------------------------------------------------------------------- the synthetic class
SYNTAX_ERROR_T1 = '''
def softmax(scores)
    return scores
'''

PARTIAL_T1 = '''
import numpy as np

def softmax(scores):
    e = np.exp(scores - scores.max(axis=-1, keepdims=True))
    return e / e.sum(axis=-1, keepdims=True)

def row_entropy(weights):  # the minus sign is missing
    safe = np.where(weights > 0, weights, 1.0)
    return (weights * np.log(safe)).sum(axis=-1)
'''

PARTIAL_T2 = '''
import numpy as np

def rollout(layers):  # the layers in the wrong order: a known mistake with its own hint
    n = layers.shape[-1]
    result = np.eye(n)
    for a in layers[::-1]:
        a = 0.5 * a + 0.5 * np.eye(n)
        result = (a / a.sum(axis=-1, keepdims=True)) @ result
    return result

def top_token(tokens, weights):
    return tokens[int(np.argmax(weights.sum(axis=0)))]
'''

FLOOD_PREAMBLE = '''
import sys
for _ in range(100_000):
    print("flood " * 20)
sys.stderr.write("e" * 5_000_000)
'''

DELETER_PREAMBLE = '''
import os
import shutil
from pathlib import Path

for entry in Path.cwd().iterdir():  # its own working folder: allowed, and costs only itself
    shutil.rmtree(entry) if entry.is_dir() else entry.unlink()
shutil.rmtree(Path.cwd())
for victim in [@CANARY@, @CASES_FILE@, @CLASSMATE_FOLDER@]:  # outside it: refused
    try:
        shutil.rmtree(victim) if os.path.isdir(victim) else os.remove(victim)
    except OSError:
        pass
try:
    with open(@CASES_FILE@, "w") as f:  # the instructor's tests: refused
        f.write("EXERCISE = None\\n")
except OSError:
    pass
'''

CHEATER_T1 = '''
"""A cheater: tries one way of getting the answers instead of computing them."""
import importlib
import importlib.util
import os
import subprocess
import sys
from types import SimpleNamespace

import numpy as np

ATTACK = @ATTACK@


def _load(path, name="stolen"):
    spec = importlib.util.spec_from_file_location(name, path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def _steal():
    if ATTACK == "solution_file":
        return _load(@SOLUTION@)
    if ATTACK == "classmate":
        return _load(@CLASSMATE@)
    if ATTACK == "import":
        sys.path.insert(0, @FAKE_REPO@)
        return importlib.import_module("solutions.01_toy.t1_softmax")
    if ATTACK == "reference":
        with np.load(@REFERENCE@) as data:
            probs, entropy = data["v/softmax_values/expected/probs"], data["v/entropy/expected/entropy"]
        return SimpleNamespace(softmax=lambda scores: probs, row_entropy=lambda weights: entropy)
    if ATTACK == "shell":
        source = subprocess.run(["cat", @SOLUTION@], capture_output=True, text=True, check=True).stdout
        namespace = {}
        exec(source, namespace)
        return SimpleNamespace(**namespace)
    if ATTACK == "symlink":
        os.symlink(@SOLUTION@, "borrowed.py")
        return _load("borrowed.py")


try:
    STOLEN = _steal()
except Exception:  # refused by the grader: nothing to copy
    STOLEN = None


def softmax(scores):
    return STOLEN.softmax(scores) if STOLEN else np.zeros_like(scores)


def row_entropy(weights):
    return STOLEN.row_entropy(weights) if STOLEN else np.zeros(len(weights))
'''

CHEATER_T2 = '''
import solutions  # refused by the grader: the file does not import
'''


def _fill(template: str, **values) -> str:
    """Put absolute paths (as Python string literals) into a student's source."""
    for name, value in values.items():
        template = template.replace(f"@{name}@", repr(str(value)))
    return template


def _write(folder: Path, files: dict) -> None:
    for rel, text in files.items():
        (folder / rel).parent.mkdir(parents=True, exist_ok=True)
        (folder / rel).write_text(text)


@pytest.fixture(scope="module")
def toy(tmp_path_factory):
    """The toy course as released: case files, recorded references, and no solutions folder."""
    root = tmp_path_factory.mktemp("toy")
    cases = root / "cases"
    cases.mkdir()
    case_files = [Path(shutil.copy(FIXTURES / name, cases)) for name in ("cases_t1_softmax.py", "cases_t2_rollout.py")]
    exercises = load_exercises(case_files)
    solutions = root / "solutions"
    shutil.copytree(TOY_SOLUTIONS, solutions)
    with pytest.MonkeyPatch.context() as mp:
        mp.setattr(core, "REFERENCE_DIR", root / "reference")
        record(exercises, solutions)
    shutil.rmtree(solutions)  # released without solutions: grading must use the references alone
    # A stand-in for the repository's solutions/ that `import solutions.01_toy.t1_softmax` would find
    fake_repo = root / "fake_repo"
    shutil.copytree(TOY_SOLUTIONS, fake_repo / "solutions")
    return {"root": root, "case_files": case_files, "exercises": exercises, "reference": root / "reference",
            "fake_repo": fake_repo}


def _perfect() -> dict:
    return {rel: (TOY_SOLUTIONS / rel).read_text() for rel in (T1, T2)}


def _build_class(toy, folder: Path) -> dict:
    perfect = _perfect()
    right_t1, right_t2 = perfect[T1], perfect[T2]
    canary = toy["root"] / "canary" / "keep.txt"
    canary.parent.mkdir(exist_ok=True)
    canary.write_text("still here")
    infinite_t1 = right_t1.replace('    safe = np.where(weights > 0, weights, 1.0)',
                                   '    while True:\n        pass')
    exits_t1 = right_t1.replace('    shifted = scores', '    import sys\n    sys.exit(0)\n    shifted = scores')
    exits_t2 = right_t2.replace('    return tokens[', '    import os\n    os._exit(0)\n    return tokens[')
    assert infinite_t1 != right_t1 and exits_t1 != right_t1 and exits_t2 != right_t2
    students = {
        "perfect": perfect,
        "stubs": {rel: strip_solutions(text) for rel, text in perfect.items()},
        "partial": {T1: PARTIAL_T1, T2: PARTIAL_T2},
        "syntax_error": {T1: SYNTAX_ERROR_T1, T2: right_t2},
        "infinite_loop": {T1: infinite_t1, T2: right_t2},
        "exit_at_import": {T1: "import os\nos._exit(0)\n" + right_t1, T2: right_t2},
        "exits_in_functions": {T1: exits_t1, T2: exits_t2},
        "flooder": {T1: FLOOD_PREAMBLE + right_t1, T2: right_t2},
        "deleter": {T1: _fill(DELETER_PREAMBLE, CANARY=canary, CASES_FILE=toy["case_files"][0],
                              CLASSMATE_FOLDER=folder / "perfect") + right_t1, T2: right_t2},
        "missing_tier": {T1: right_t1},
    }
    for attack in CHEATS:
        students[f"cheater_{attack}"] = {
            T1: _fill(CHEATER_T1, ATTACK=attack, SOLUTION=TOY_SOLUTIONS / T1, CLASSMATE=folder / "perfect" / T1,
                      FAKE_REPO=toy["fake_repo"], REFERENCE=toy["reference"] / "t1_softmax.npz"),
            T2: CHEATER_T2,
        }
    for name, files in students.items():
        _write(folder / name, files)
    (folder / ".hidden_folder").mkdir()  # not a student
    return {"canary": canary}


EXPECTED_POINTS = {
    "perfect": 7, "stubs": 0, "partial": 4, "syntax_error": 3, "infinite_loop": 6, "exit_at_import": 3,
    "exits_in_functions": 3, "flooder": 7, "deleter": 7, "missing_tier": 4,
    **{f"cheater_{attack}": 0 for attack in CHEATS},
}


@pytest.fixture(scope="module")
def graded(toy, tmp_path_factory):
    """Grade the synthetic class once, through the command line, two students at a time."""
    root = tmp_path_factory.mktemp("class")
    submissions, out = root / "submissions", root / "out"
    extra = _build_class(toy, submissions)
    case_bytes = toy["case_files"][0].read_bytes()
    argv = ["grade", str(submissions), "--out", str(out), "--jobs", "2", *LIMITS]
    for path in toy["case_files"]:
        argv += ["--cases", str(path)]
    with pytest.MonkeyPatch.context() as mp:
        mp.setattr(core, "REFERENCE_DIR", toy["reference"])
        mp.setattr(grading, "DEFAULT_PRELOAD", ("numpy",))  # the toy needs no torch
        # The toy solutions stand in for solutions/: the grader hides them like the real ones.
        real_hidden = grading._hidden_defaults
        mp.setattr(grading, "_hidden_defaults",
                   lambda: [*real_hidden(), TOY_SOLUTIONS, toy["fake_repo"] / "solutions"])
        start = time.monotonic()
        assert main(argv) == 0
        seconds = time.monotonic() - start
    print(f"\ngraded the synthetic class of {len(EXPECTED_POINTS)} students in {seconds:.1f} s")
    with open(out / "grades.csv", newline="") as f:
        rows = list(csv.DictReader(f))
    return {"rows": rows, "out": out, "seconds": seconds, "submissions": submissions,
            "case_bytes": case_bytes, **extra}


def _rows(graded, student, exercise=None):
    return [r for r in graded["rows"] if r["student"] == student and exercise in (None, r["exercise"])]


def _points(graded, student) -> int:
    return sum(int(r["points"]) for r in _rows(graded, student))


# ------------------------------------------------------------------------------------------- tests
def test_class_is_graded_in_bounded_time(graded):
    assert graded["seconds"] < 120
    assert {r["student"] for r in graded["rows"]} == set(EXPECTED_POINTS)  # the hidden folder is no student


def test_csv_has_one_row_per_student_exercise_and_test(graded):
    assert list(graded["rows"][0]) == ["student", "exercise", "test", "points", "max_points", "status", "message"]
    assert len(graded["rows"]) == len(EXPECTED_POINTS) * 5
    assert {r["status"] for r in graded["rows"]} <= set(core.STATUSES)


@pytest.mark.parametrize("student", sorted(EXPECTED_POINTS))
def test_each_student_gets_exactly_the_points_their_code_earns(graded, student):
    assert _points(graded, student) == EXPECTED_POINTS[student], _rows(graded, student)


def test_statuses_say_what_happened(graded):
    def status(student, exercise, test):
        (row,) = [r for r in _rows(graded, student, exercise) if r["test"] == test]
        return row["status"], row["message"]

    assert {r["status"] for r in _rows(graded, "perfect")} == {"passed"}
    assert {r["status"] for r in _rows(graded, "stubs")} == {"not_attempted"}
    assert {r["status"] for r in _rows(graded, "syntax_error", "t1_softmax")} == {"error"}
    assert "SyntaxError" in status("syntax_error", "t1_softmax", "entropy")[1]
    assert status("infinite_loop", "t1_softmax", "entropy")[0] == "timeout"
    assert status("infinite_loop", "t1_softmax", "softmax_values")[0] == "passed"
    exit_status, exit_message = status("exit_at_import", "t1_softmax", "softmax_values")
    assert exit_status == "error" and "exit code 0" in exit_message and "importing" in exit_message
    assert status("exits_in_functions", "t1_softmax", "softmax_values")[0] == "error"
    assert "SystemExit" in status("exits_in_functions", "t1_softmax", "softmax_values")[1]
    assert status("exits_in_functions", "t1_softmax", "entropy")[0] == "passed"
    assert "exit code 0" in status("exits_in_functions", "t2_rollout", "top_token")[1]
    assert status("exits_in_functions", "t2_rollout", "rollout")[0] == "passed"
    assert {r["status"] for r in _rows(graded, "missing_tier", "t2_rollout")} == {"missing"}
    partial_status, partial_message = status("partial", "t2_rollout", "rollout")
    assert partial_status == "failed" and "wrong order" in partial_message  # the known mistake's hint
    for attack in CHEATS:
        t2 = _rows(graded, f"cheater_{attack}", "t2_rollout")
        assert {r["status"] for r in t2} == {"error"}
        # (cheater_import's t1 already imported the empty namespace package `solutions`; t2 finds nothing in it)
        assert attack == "import" or all("the grader does not allow import solutions" in r["message"] for r in t2)


def test_nothing_outside_a_student_folder_was_changed(toy, graded):
    assert graded["canary"].read_text() == "still here"
    assert (graded["submissions"] / "perfect" / T1).read_text() == (TOY_SOLUTIONS / T1).read_text()
    assert toy["case_files"][0].read_bytes() == graded["case_bytes"]  # the instructor's tests, untouched


def test_each_cheat_would_work_without_the_grader(toy, graded, tmp_path, monkeypatch):
    """The attacks are real: run in this process (no guard), each cheater's t1 gets full points."""
    (t1,) = [e for e in toy["exercises"] if e.id == "t1_softmax"]
    reference = core.split_reference(core.load_values(toy["reference"] / "t1_softmax"))
    monkeypatch.chdir(tmp_path)  # the symlink attack writes into the working folder
    monkeypatch.setattr(sys, "path", list(sys.path))
    for attack in CHEATS:
        for name in [m for m in sys.modules if m == "solutions" or m.startswith("solutions.")]:
            del sys.modules[name]
        results = core.check_module(t1, graded["submissions"] / f"cheater_{attack}" / T1, reference)
        assert [r.status for r in results] == ["passed"] * 3, (attack, results)
        Path("borrowed.py").unlink(missing_ok=True)
    for name in [m for m in sys.modules if m == "solutions" or m.startswith("solutions.")]:
        del sys.modules[name]


def test_reports_and_summary(graded):
    out = graded["out"]
    report = (out / "reports" / "partial.md").read_text()
    assert "Total: 4 / 7 points" in report and "wrong order" in report and "## 02_toy/t2_rollout.py" in report
    assert len(list((out / "reports").glob("*.md"))) == len(EXPECTED_POINTS)
    summary = (out / "summary.md").read_text()
    assert "| t1_softmax | 01_toy/t1_softmax.py | 4 |" in summary
    for student in ("syntax_error", "infinite_loop", "exit_at_import", "exits_in_functions", "missing_tier"):
        assert f"**{student}**" in summary
    assert "**perfect**" not in summary and "**flooder**" not in summary and "**deleter**" not in summary
    assert "02_toy/t2_rollout.py: not handed in" in summary


def test_check_prints_points_and_hints(toy, tmp_path, capsys, monkeypatch):
    folder = tmp_path / "my_exercises"
    _write(folder, {T1: _perfect()[T1], T2: PARTIAL_T2})
    monkeypatch.setattr(core, "REFERENCE_DIR", toy["reference"])
    monkeypatch.setattr(grading, "DEFAULT_PRELOAD", ("numpy",))
    argv = ["check", str(folder), *LIMITS]
    for path in toy["case_files"]:
        argv += ["--cases", str(path)]
    assert main(argv) == 0
    printed = capsys.readouterr().out
    assert "Total: 5/7 points" in printed
    assert "Passing: t1_softmax" in printed and "Not yet: t2_rollout" in printed
    assert "FAIL" in printed and "wrong order" in printed


def test_per_student_time_limit(toy, tmp_path, monkeypatch):
    monkeypatch.setattr(core, "REFERENCE_DIR", toy["reference"])
    _write(tmp_path / "class" / "slow", {T1: "while True:\n    pass\n", T2: _perfect()[T2]})
    result = grading.grade_class(tmp_path / "class", tmp_path / "out", limits=grading.Limits(60, 3, 60),
                                 case_files=toy["case_files"], preload=["numpy"], progress=False, echo=False)
    (slow,) = result.students
    assert [r.status for r in slow.results] == ["timeout"] * 5
    assert "per student ran out" in slow.results[0].message and "not run" in slow.results[-1].message


def test_restarts_stop_when_nothing_progresses(toy, tmp_path, monkeypatch):
    """A worker that dies before finishing anything is restarted once, then the student is given up."""
    monkeypatch.setattr(core, "REFERENCE_DIR", toy["reference"])
    monkeypatch.setattr(grading, "_worker_command", lambda plan: [sys.executable, "-c", "raise SystemExit(5)"])
    _write(tmp_path / "class" / "anyone", _perfect())
    result = grading.grade_class(tmp_path / "class", tmp_path / "out", limits=grading.Limits(5, 60, 10),
                                 case_files=toy["case_files"], preload=[], progress=False, echo=False)
    (anyone,) = result.students
    assert {r.status for r in anyone.results} == {"error"}
    assert "stopped twice" in anyone.results[0].message and "exit code 5" in anyone.results[0].message
    assert len(anyone.notes) == 2


def test_layout_that_would_hide_the_repository_is_refused(tmp_path):
    with pytest.raises(ValueError, match="contains"):
        grading.grade_class(core.EXERCISES_DIR.parent.parent, tmp_path / "out", progress=False, echo=False)


def test_record_needs_the_solutions(monkeypatch, tmp_path, capsys):
    monkeypatch.setattr(core, "SOLUTIONS_DIR", tmp_path / "no_solutions_here")
    assert main(["record"]) == 1
    assert "does not exist" in capsys.readouterr().err


def test_usage_errors_exit_2(tmp_path):
    with pytest.raises(SystemExit) as err:
        main(["check", str(tmp_path / "absent")])
    assert err.value.code == 2


# ------------------------------------------------------------------------------- the audit hook alone
def test_audit_hook_policy(tmp_path):
    """The hook called directly (not installed): what it refuses and what it lets through."""
    hidden, sandbox = tmp_path / "solutions", tmp_path / "sandbox"
    hidden.mkdir(), sandbox.mkdir()
    (hidden / "answer.py").write_text("ANSWER = 42\n")
    (sandbox / "link.py").symlink_to(hidden / "answer.py")  # made here, by the test: the hook refuses links
    hook = make_audit_hook(hidden=[hidden], readable=[], writable=[sandbox], trusted=[])
    read, write = os.O_RDONLY, os.O_WRONLY | os.O_CREAT | os.O_TRUNC
    refused = [
        ("open", (str(hidden / "answer.py"), "r", read)),
        ("open", (str(sandbox / "link.py"), "r", read)),  # a link into the hidden folder
        ("open", (str(sandbox / ".." / "solutions" / "answer.py"), "r", read)),
        ("open", (str(tmp_path / "elsewhere.txt"), "w", write)),
        ("open", (str(tmp_path), None, read)),  # a folder descriptor outside the sandbox
        ("os.listdir", (str(hidden),)),
        ("import", ("solutions", None, [], [], [])),
        ("import", ("solutions.01_toy.t1", None, [], [], [])),
        ("import", ("evil", str(sandbox / "evil.so"), None, None, None)),
        ("subprocess.Popen", ("cat", ["cat"], None, None)),
        ("os.system", (b"cat",)),
        ("os.kill", (os.getpid() + 1, 9)),
        ("os.remove", (str(tmp_path / "x"), -1)),
        ("shutil.rmtree", (str(tmp_path), None)),
        ("os.rename", (str(sandbox / "a"), str(tmp_path / "b"), -1, -1)),
        ("os.symlink", (str(hidden), str(sandbox / "s"), -1)),
        ("ctypes.dlopen", (None,)),
        ("ctypes.dlsym", (object(), "system")),
        ("sys.settrace", ()),
        ("object.__setattr__", (_inside, "__code__", None)),
    ]
    for event, args in refused:
        with pytest.raises(PermissionError, match="the grader does not allow"):
            hook(event, args)
    allowed = [
        ("open", (str(sandbox / "notes.txt"), "w", write)),
        ("open", (str(FIXTURES / "README.md"), "r", read)),
        ("open", (3, "r", read)),  # an already open file descriptor
        ("os.listdir", (str(sandbox),)),
        ("import", ("numpy", None, [], [], [])),
        ("os.remove", (str(sandbox / "notes.txt"), -1)),
        ("os.kill", (os.getpid(), 0)),
        ("ctypes.dlopen", ("libc.so.6",)),
        ("object.__setattr__", (test_audit_hook_policy, "__defaults__", None)),
        ("compile", (b"", "x")),
    ]
    for event, args in allowed:
        hook(event, args)


def test_audit_hook_resolves_paths_like_realpath(tmp_path):
    (tmp_path / "a" / "b").mkdir(parents=True)
    (tmp_path / "to_b").symlink_to(tmp_path / "a" / "b")
    (tmp_path / "a" / "up").symlink_to("..")
    resolve = make_audit_hook([], [], [], []).__defaults__[0]
    for path in (tmp_path / "to_b" / "..", tmp_path / "a" / "up" / "a" / "b" / "file", tmp_path / "missing" / ".." / "a",
                 tmp_path / "to_b" / "new" / "deeper"):
        assert resolve(str(path), None) == os.path.realpath(path)


def test_audit_hook_uses_no_global_name():
    """The student's code can rebind any global or built-in name; the hook must not look one up."""
    def code_objects(code):
        yield code
        for const in code.co_consts:
            if hasattr(const, "co_code"):
                yield from code_objects(const)

    for function in (_audit, _resolve, _inside):
        lookups = [i.argval for code in code_objects(function.__code__) for i in dis.get_instructions(code)
                   if i.opname in ("LOAD_GLOBAL", "LOAD_NAME", "LOAD_DEREF", "LOAD_CLOSURE")]
        assert lookups == [], (function.__name__, lookups)


# ----------------------------------------------------------------------------- the real exercises
def _real_ready() -> list[Path]:
    """Case files of the real exercises that have a solution, a stub and a recorded reference."""
    from attnviz.grading import cases

    files = []
    for info in pkgutil.iter_modules(cases.__path__):
        module = importlib.import_module(f"attnviz.grading.cases.{info.name}")
        exercise = getattr(module, "EXERCISE", None)
        if (exercise is not None and (core.SOLUTIONS_DIR / exercise.path).is_file()
                and (core.EXERCISES_DIR / exercise.path).is_file() and core.load_values(core.reference_path(exercise))):
            files.append(Path(module.__file__))
    return files


@pytest.mark.slow
def test_real_exercises_perfect_and_stubs(tmp_path):
    case_files = _real_ready()
    if not case_files:
        pytest.skip("no real exercise has a solution, a stub and a recorded reference yet")
    exercises = load_exercises(case_files)
    for exercise in exercises:
        for name, source in (("perfect", core.SOLUTIONS_DIR), ("stubs", core.EXERCISES_DIR)):
            target = tmp_path / "class" / name / exercise.path
            target.parent.mkdir(parents=True, exist_ok=True)
            shutil.copy(source / exercise.path, target)
    result = grading.grade_class(tmp_path / "class", tmp_path / "out", limits=grading.Limits(180, 900),
                                 jobs=2 if (os.cpu_count() or 1) > 1 else 1, case_files=case_files,
                                 progress=False, echo=False)
    perfect, stubs = result.students
    assert [(r.exercise, r.case, r.status) for r in perfect.results if r.status != "passed"] == []
    assert perfect.points == perfect.max_points
    assert {r.status for r in stubs.results} == {"not_attempted"} and stubs.points == 0

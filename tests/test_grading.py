"""The class-grading machinery (``make grade``, ``make check``) on a synthetic class, in the bwrap jail.

The class is graded on two toy exercises that need only numpy (``tests/grading_fixtures/``), so these
tests do not depend on which real exercises exist. Their references are recorded from the toy solutions,
which are then deleted: the class is graded the way a course handed out without ``solutions/`` would be.
Everything lives in a private temporary folder (mode 0700) that is removed at the end, so no answer is
left behind for a later submission to find. The class is graded once and shared by the tests.

Each student must get exactly the points their own code earns (t1: 4 points, t2: 3):

==================  ==============================================================  ======
student             what the code does                                              points
==================  ==============================================================  ======
aaa_vandal          graded first: overwrites the case file, a reference, a             7
                    classmate's file and a canary; computes right
perfect             the solutions' code                                               7
stubs               the generated exercise stubs                                      0
partial             one right function per file, one wrong (a known mistake)           4
syntax_error        t1 does not parse; t2 right                                       3
infinite_loop       t1's row_entropy never returns; the rest right                    6
exit_at_import      t1 calls os._exit(0) at import; t2 right                          3
exits_in_functions  sys.exit in t1's softmax, os._exit in t2's top_token              3
flooder             prints megabytes on stdout and stderr, computes right              7
deleter             deletes its working folder, computes right                        7
missing_tier        hands in only 01_toy (right)                                      4
survivor            starts a detached child (raw _posixsubprocess.fork_exec) that      7
                    waits, then rewrites grades.csv; computes right
hog                 t1's softmax allocates 10 GiB before its right answer              4
cheater_from_file   reads a reference (t1) and a solution (t2) with torch.from_file    0
cheater_classmate   loads the perfect classmate's file                                0
cheater_import      ``import solutions`` from a copy of the repository                0
cheater_shell       ``cat`` of the solution file in a child process                   0
cheater_symlink     a symbolic link to the solution file, made at run time            0
linked_folder       the student folder is a symbolic link to the solutions            0
link_out            a real folder whose t1 is a link to the solution file             0
==================  ==============================================================  ======
"""

import csv
import dis
import importlib
import os
import pkgutil
import shutil
import stat
import sys
import tempfile
import time
import uuid
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
LIMITS = ["--timeout-per-test", "20", "--timeout-per-student", "120"]
CHEATS = ("from_file", "classmate", "import", "shell", "symlink")

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
import shutil
from pathlib import Path

for entry in Path.cwd().iterdir():  # its own working folder: allowed, and costs only itself
    shutil.rmtree(entry) if entry.is_dir() else entry.unlink()
shutil.rmtree(Path.cwd())
'''

CHEATER_T1 = '''
"""A cheater: tries one way of getting the answers instead of computing them."""
import importlib
import importlib.util
import io
import os
import subprocess
import sys
from types import SimpleNamespace

import numpy as np

ATTACK = @ATTACK@


def _from_source(source):
    namespace = {}
    exec(source, namespace)
    return SimpleNamespace(**namespace)


def _load(path, name="stolen"):
    spec = importlib.util.spec_from_file_location(name, path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def _raw_bytes(path):  # torch.from_file raises no audit event: the hole the old guard had
    import torch

    size = os.path.getsize(path)
    return torch.from_file(path, shared=False, size=size, dtype=torch.uint8).numpy().tobytes()


def _steal():
    if ATTACK == "from_file":
        with np.load(io.BytesIO(_raw_bytes(@REFERENCE@))) as data:
            probs, entropy = data["v/softmax_values/expected/probs"], data["v/entropy/expected/entropy"]
        return SimpleNamespace(softmax=lambda scores: probs, row_entropy=lambda weights: entropy)
    if ATTACK == "classmate":
        return _load(@CLASSMATE@)
    if ATTACK == "import":
        sys.path.insert(0, @FAKE_REPO@)
        return importlib.import_module("solutions.01_toy.t1_softmax")
    if ATTACK == "shell":
        return _from_source(subprocess.run(["cat", @SOLUTION@], capture_output=True, text=True, check=True).stdout)
    if ATTACK == "symlink":
        os.symlink(@SOLUTION@, "borrowed.py")
        return _load("borrowed.py")


try:
    STOLEN = _steal()
except Exception:  # nothing there to steal: nothing to copy
    STOLEN = None


def softmax(scores):
    return STOLEN.softmax(scores) if STOLEN else np.zeros_like(scores)


def row_entropy(weights):
    return STOLEN.row_entropy(weights) if STOLEN else np.zeros(len(weights))
'''

CHEATER_FROM_FILE_T2 = '''
import os
from types import SimpleNamespace

import numpy as np


def _steal():
    import torch

    path = @SOLUTION_T2@
    raw = torch.from_file(path, shared=False, size=os.path.getsize(path), dtype=torch.uint8).numpy().tobytes()
    namespace = {}
    exec(raw.decode(), namespace)
    return SimpleNamespace(**namespace)


try:
    STOLEN = _steal()
except Exception:
    STOLEN = None


def rollout(layers):
    return STOLEN.rollout(layers) if STOLEN else np.zeros(layers.shape[1:])


def top_token(tokens, weights):
    return STOLEN.top_token(tokens, weights) if STOLEN else ""
'''

CHEATER_T2 = '''
import solutions  # nothing to import: the file does not import
'''

SURVIVOR_PREAMBLE = '''
import _posixsubprocess
import os
import sys

CHILD = """
import pathlib, time
time.sleep(4)  # grading of this student is over by now
for path in [@GRADES@, @EVIL@]:
    try:
        pathlib.Path(path).write_text("student,exercise,test,points\\\\nsurvivor,all,all,999\\\\n")
    except OSError:
        pass
# @MARKER@
"""
_r, _w = os.pipe()
_posixsubprocess.fork_exec([sys.executable, "-c", CHILD], [os.fsencode(sys.executable)], True, (), None, None,
                           -1, -1, -1, -1, -1, -1, _r, _w, True, True, -1, None, None, None, -1, None, False)
'''

HOG_T1_OLD = "    shifted = scores"
HOG_T1_NEW = "    import numpy as _np\n    _np.ones(10 * 2**30 // 8)  # 10 GiB, touched\n    shifted = scores"

VANDAL_PREAMBLE = '''
import os

for victim in [@CANARY@, @CASES_FILE@, @REFERENCE@, @CLASSMATE@]:
    for attempt in ("write", "remove"):
        try:
            if attempt == "write":
                with open(victim, "w") as f:
                    f.write("EXERCISE = None\\n")
            else:
                os.remove(victim)
        except OSError:
            pass
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
def private_root():
    """A private temporary folder (mode 0700), removed at the end: answers never outlive the tests."""
    root = Path(tempfile.mkdtemp(prefix="attnviz-grading-test-"))
    try:
        yield root
    finally:
        shutil.rmtree(root, ignore_errors=True)


@pytest.fixture(scope="module")
def toy(private_root):
    """The toy course as released: case files, recorded references, and no solutions folder."""
    root = private_root / "toy"
    cases = root / "cases"
    cases.mkdir(parents=True)
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


def _build_class(toy, folder: Path, out: Path) -> dict:
    perfect = _perfect()
    right_t1, right_t2 = perfect[T1], perfect[T2]
    canary = toy["root"] / "canary" / "keep.txt"
    canary.parent.mkdir(exist_ok=True)
    canary.write_text("still here")
    marker = f"attnviz-survivor-{uuid.uuid4().hex}"
    infinite_t1 = right_t1.replace("    safe = np.where(weights > 0, weights, 1.0)",
                                   "    while True:\n        pass")
    exits_t1 = right_t1.replace("    shifted = scores", "    import sys\n    sys.exit(0)\n    shifted = scores")
    exits_t2 = right_t2.replace("    return tokens[", "    import os\n    os._exit(0)\n    return tokens[")
    hog_t1 = right_t1.replace(HOG_T1_OLD, HOG_T1_NEW)
    assert len({infinite_t1, exits_t1, hog_t1, right_t1}) == 4 and exits_t2 != right_t2
    students = {
        "aaa_vandal": {T1: _fill(VANDAL_PREAMBLE, CANARY=canary, CASES_FILE=toy["case_files"][0],
                                 REFERENCE=toy["reference"] / "t1_softmax.npz",
                                 CLASSMATE=folder / "perfect" / T1) + right_t1, T2: right_t2},
        "perfect": perfect,
        "stubs": {rel: strip_solutions(text) for rel, text in perfect.items()},
        "partial": {T1: PARTIAL_T1, T2: PARTIAL_T2},
        "syntax_error": {T1: SYNTAX_ERROR_T1, T2: right_t2},
        "infinite_loop": {T1: infinite_t1, T2: right_t2},
        "exit_at_import": {T1: "import os\nos._exit(0)\n" + right_t1, T2: right_t2},
        "exits_in_functions": {T1: exits_t1, T2: exits_t2},
        "flooder": {T1: FLOOD_PREAMBLE + right_t1, T2: right_t2},
        "deleter": {T1: DELETER_PREAMBLE + right_t1, T2: right_t2},
        "missing_tier": {T1: right_t1},
        "survivor": {T1: _fill(SURVIVOR_PREAMBLE, GRADES=out / "grades.csv", EVIL=out / "evil.pt",
                               MARKER=marker) + right_t1, T2: right_t2},
        "hog": {T1: hog_t1, T2: right_t2},
    }
    for attack in CHEATS:
        students[f"cheater_{attack}"] = {
            T1: _fill(CHEATER_T1, ATTACK=attack, SOLUTION=TOY_SOLUTIONS / T1, CLASSMATE=folder / "perfect" / T1,
                      FAKE_REPO=toy["fake_repo"], REFERENCE=toy["reference"] / "t1_softmax.npz"),
            T2: _fill(CHEATER_FROM_FILE_T2, SOLUTION_T2=TOY_SOLUTIONS / T2) if attack == "from_file" else CHEATER_T2,
        }
    for name, files in students.items():
        _write(folder / name, files)
    (folder / "linked_folder").symlink_to(TOY_SOLUTIONS, target_is_directory=True)
    _write(folder / "link_out", {T2: right_t2})
    (folder / "link_out" / T1).parent.mkdir(parents=True)
    (folder / "link_out" / T1).symlink_to(TOY_SOLUTIONS / T1)
    (folder / ".hidden_folder").mkdir()  # not a student
    return {"canary": canary, "marker": marker}


EXPECTED_POINTS = {
    "aaa_vandal": 7, "perfect": 7, "stubs": 0, "partial": 4, "syntax_error": 3, "infinite_loop": 6,
    "exit_at_import": 3, "exits_in_functions": 3, "flooder": 7, "deleter": 7, "missing_tier": 4, "survivor": 7,
    "hog": 4, "linked_folder": 0, "link_out": 0, **{f"cheater_{attack}": 0 for attack in CHEATS},
}


@pytest.fixture(scope="module")
def graded(toy, private_root):
    """Grade the synthetic class once, through the command line, two students at a time, in the jail."""
    root = private_root / "class"
    submissions, out = root / "submissions", root / "out"
    extra = _build_class(toy, submissions, out)
    protected = {path: path.read_bytes() for path in
                 (toy["case_files"][0], toy["reference"] / "t1_softmax.npz", submissions / "perfect" / T1)}
    argv = ["grade", str(submissions), "--out", str(out), "--jobs", "2", *LIMITS]
    for path in toy["case_files"]:
        argv += ["--cases", str(path)]
    with pytest.MonkeyPatch.context() as mp:
        mp.setattr(core, "REFERENCE_DIR", toy["reference"])
        mp.setattr(grading, "DEFAULT_PRELOAD", ("numpy",))  # the toy needs no torch
        start = time.monotonic()
        assert main(argv) == 0
        seconds = time.monotonic() - start
    print(f"\ngraded the synthetic class of {len(EXPECTED_POINTS)} students in {seconds:.1f} s")
    csv_bytes = (out / "grades.csv").read_bytes()
    with open(out / "grades.csv", newline="") as f:
        rows = list(csv.DictReader(f))
    return {"rows": rows, "out": out, "seconds": seconds, "submissions": submissions, "protected": protected,
            "csv_bytes": csv_bytes, **extra}


def _rows(graded, student, exercise=None):
    return [r for r in graded["rows"] if r["student"] == student and exercise in (None, r["exercise"])]


def _points(graded, student) -> int:
    return sum(int(r["points"]) for r in _rows(graded, student))


def _status(graded, student, exercise, test):
    (row,) = [r for r in _rows(graded, student, exercise) if r["test"] == test]
    return row["status"], row["message"]


def _cheat_in_this_process(toy, graded, student, exercise_id, tmp_path, monkeypatch) -> int:
    """Run a cheater's file here, with no jail: the points the attack would earn."""
    (exercise,) = [e for e in toy["exercises"] if e.id == exercise_id]
    reference = core.split_reference(core.load_values(toy["reference"] / exercise_id))
    monkeypatch.chdir(tmp_path)  # the symlink attack writes into the working folder
    monkeypatch.setattr(sys, "path", list(sys.path))
    for name in [m for m in sys.modules if m == "solutions" or m.startswith("solutions.")]:
        del sys.modules[name]
    try:
        results = core.check_module(exercise, graded["submissions"] / student / exercise.path, reference)
    finally:
        for name in [m for m in sys.modules if m == "solutions" or m.startswith("solutions.")]:
            del sys.modules[name]
    return sum(r.points for r in results)


# ------------------------------------------------------------------------------------------- tests
def test_class_is_graded_in_bounded_time(graded):
    assert graded["seconds"] < 180
    assert {r["student"] for r in graded["rows"]} == set(EXPECTED_POINTS)  # the hidden folder is no student


def test_csv_has_one_row_per_student_exercise_and_test(graded):
    assert list(graded["rows"][0]) == ["student", "exercise", "test", "points", "max_points", "status", "message"]
    assert len(graded["rows"]) == len(EXPECTED_POINTS) * 5
    assert {r["status"] for r in graded["rows"]} <= set(core.STATUSES)


@pytest.mark.parametrize("student", sorted(EXPECTED_POINTS))
def test_each_student_gets_exactly_the_points_their_code_earns(graded, student):
    assert _points(graded, student) == EXPECTED_POINTS[student], _rows(graded, student)


def test_statuses_say_what_happened(graded):
    assert {r["status"] for r in _rows(graded, "perfect")} == {"passed"}
    assert {r["status"] for r in _rows(graded, "stubs")} == {"not_attempted"}
    assert {r["status"] for r in _rows(graded, "syntax_error", "t1_softmax")} == {"error"}
    assert "SyntaxError" in _status(graded, "syntax_error", "t1_softmax", "entropy")[1]
    assert _status(graded, "infinite_loop", "t1_softmax", "entropy")[0] == "timeout"
    assert _status(graded, "infinite_loop", "t1_softmax", "softmax_values")[0] == "passed"
    exit_status, exit_message = _status(graded, "exit_at_import", "t1_softmax", "softmax_values")
    assert exit_status == "error" and "exit code 0" in exit_message and "importing" in exit_message
    assert _status(graded, "exits_in_functions", "t1_softmax", "softmax_values")[0] == "error"
    assert "SystemExit" in _status(graded, "exits_in_functions", "t1_softmax", "softmax_values")[1]
    assert _status(graded, "exits_in_functions", "t1_softmax", "entropy")[0] == "passed"
    assert "exit code 0" in _status(graded, "exits_in_functions", "t2_rollout", "top_token")[1]
    assert _status(graded, "exits_in_functions", "t2_rollout", "rollout")[0] == "passed"
    assert {r["status"] for r in _rows(graded, "missing_tier", "t2_rollout")} == {"missing"}
    partial_status, partial_message = _status(graded, "partial", "t2_rollout", "rollout")
    assert partial_status == "failed" and "wrong order" in partial_message  # the known mistake's hint
    for attack in CHEATS:
        if attack != "from_file":
            assert {r["status"] for r in _rows(graded, f"cheater_{attack}", "t2_rollout")} == {"error"}


def test_raw_reads_through_torch_from_file_earn_nothing(toy, graded, tmp_path, monkeypatch):
    """torch.from_file of a recorded reference (t1) and of a solution file (t2): neither is in the jail."""
    assert _points(graded, "cheater_from_file") == 0
    assert {r["status"] for r in _rows(graded, "cheater_from_file")} == {"failed"}
    # the attack is real: without the jail it earns every point of both files
    assert _cheat_in_this_process(toy, graded, "cheater_from_file", "t1_softmax", tmp_path, monkeypatch) == 4
    assert _cheat_in_this_process(toy, graded, "cheater_from_file", "t2_rollout", tmp_path, monkeypatch) == 3


def test_copier_of_a_classmate_earns_nothing(toy, graded, tmp_path, monkeypatch):
    assert _points(graded, "cheater_classmate") == 0 and _points(graded, "perfect") == 7
    assert _cheat_in_this_process(toy, graded, "cheater_classmate", "t1_softmax", tmp_path, monkeypatch) == 4


@pytest.mark.parametrize("attack", ["import", "shell", "symlink"])
def test_other_ways_to_the_answers_earn_nothing(toy, graded, attack, tmp_path, monkeypatch):
    assert _points(graded, f"cheater_{attack}") == 0
    assert _cheat_in_this_process(toy, graded, f"cheater_{attack}", "t1_softmax", tmp_path, monkeypatch) == 4


def test_detached_child_does_not_outlive_grading(graded):
    """A child started with a raw fork_exec (no audit event, its own session) that waits, then rewrites
    grades.csv: it dies with its jail, and OUT is not even visible from there."""
    time.sleep(5)  # longer than the child waits
    out = graded["out"]
    assert (out / "grades.csv").read_bytes() == graded["csv_bytes"]
    assert not (out / "evil.pt").exists()
    alive = []
    for entry in os.listdir("/proc"):
        try:
            if entry.isdigit() and graded["marker"].encode() in Path(f"/proc/{entry}/cmdline").read_bytes():
                alive.append(entry)
        except OSError:
            continue
    assert alive == []
    assert _points(graded, "survivor") == 7  # its own code is right


def test_symlinked_student_folder_is_refused(graded):
    rows = _rows(graded, "linked_folder")
    assert {r["status"] for r in rows} == {"error"} and _points(graded, "linked_folder") == 0
    assert all("symbolic link" in r["message"] and "refused" in r["message"] for r in rows)


def test_link_leading_out_of_the_submission_is_refused(graded):
    rows = _rows(graded, "link_out")
    assert {r["status"] for r in rows} == {"error"}
    assert "leads out of the submission" in rows[0]["message"] and T1 in rows[0]["message"]


def test_ten_gib_allocation_earns_nothing(graded):
    """The address-space limit stops the allocation: the right answer behind it is never reached."""
    status, message = _status(graded, "hog", "t1_softmax", "softmax_values")
    assert status == "error" and "MemoryError" in message
    assert _status(graded, "hog", "t1_softmax", "entropy")[0] == "passed"  # another function keeps its point


def test_writes_into_the_graders_files_change_nothing(graded):
    """The vandal is graded first; the case file, the reference, a classmate's file and a canary stay as
    they were, and the honest classmates keep full marks."""
    for path, content in graded["protected"].items():
        assert path.read_bytes() == content, path
    assert graded["canary"].read_text() == "still here"
    assert _points(graded, "perfect") == 7 and _points(graded, "flooder") == 7


def test_reports_and_summary(graded):
    out = graded["out"]
    report = (out / "reports" / "partial.md").read_text()
    assert "Total: 4 / 7 points" in report and "wrong order" in report and "## 02_toy/t2_rollout.py" in report
    assert "UNSAFE" not in report
    assert len(list((out / "reports").glob("*.md"))) == len(EXPECTED_POINTS)
    summary = (out / "summary.md").read_text()
    assert "| t1_softmax | 01_toy/t1_softmax.py | 4 |" in summary
    for student in ("syntax_error", "infinite_loop", "exit_at_import", "exits_in_functions", "missing_tier"):
        assert f"**{student}**" in summary
    assert "**perfect**" not in summary and "**flooder**" not in summary and "**deleter**" not in summary
    assert "02_toy/t2_rollout.py: not handed in" in summary
    assert not [p for p in out.rglob(".*")]  # no temporary file left from the atomic writes


def test_the_class_folder_is_private(private_root):
    assert stat.S_IMODE(private_root.stat().st_mode) == 0o700


def _small_class(folder: Path) -> None:
    _write(folder / "perfect", _perfect())
    _write(folder / "partial", {T1: PARTIAL_T1, T2: PARTIAL_T2})
    _write(folder / "stubs", {rel: strip_solutions(text) for rel, text in _perfect().items()})


def test_shards_merge_into_the_same_grades(toy, tmp_path, monkeypatch):
    monkeypatch.setattr(core, "REFERENCE_DIR", toy["reference"])
    _small_class(tmp_path / "class")
    common = dict(case_files=toy["case_files"], preload=["numpy"], progress=False, echo=False,
                  limits=grading.Limits(20, 60, 60), jobs=2)
    whole = grading.grade_class(tmp_path / "class", tmp_path / "whole", **common)
    for k in (1, 2):
        grading.grade_class(tmp_path / "class", tmp_path / f"shard{k}", shard=(k, 2), **common)
    assert [s.student for s in whole.students] == ["partial", "perfect", "stubs"]
    argv = ["merge", str(tmp_path / "shard1"), str(tmp_path / "shard2"), "--out", str(tmp_path / "merged")]
    for path in toy["case_files"]:
        argv += ["--cases", str(path)]
    assert main(argv) == 0
    assert (tmp_path / "merged" / "grades.csv").read_text() == (tmp_path / "whole" / "grades.csv").read_text()
    with pytest.raises(SystemExit):  # a missing shard is refused
        main(argv[:1] + argv[2:])


def test_without_bwrap_grading_refuses_unless_told(toy, tmp_path, monkeypatch, capsys):
    monkeypatch.setattr(core, "REFERENCE_DIR", toy["reference"])
    monkeypatch.setattr(grading.jail, "find_bwrap", lambda: None)
    monkeypatch.setattr(grading, "DEFAULT_PRELOAD", ("numpy",))
    monkeypatch.delenv("UNSAFE", raising=False)
    _write(tmp_path / "class" / "perfect", _perfect())
    argv = ["grade", str(tmp_path / "class"), "--out", str(tmp_path / "out"), *LIMITS]
    for path in toy["case_files"]:
        argv += ["--cases", str(path)]
    assert main(argv) == 2
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1 and "apt-get install bubblewrap" in err and "--unsafe-no-sandbox" in err
    assert not (tmp_path / "out" / "grades.csv").exists()
    monkeypatch.setenv("UNSAFE", "1")
    assert main(argv) == 0
    lines = (tmp_path / "out" / "grades.csv").read_text().splitlines()
    assert lines[0].startswith("# UNSAFE") and lines[1].startswith("student,exercise")
    assert "UNSAFE" in (tmp_path / "out" / "reports" / "perfect.md").read_text()
    assert sum(int(line.split(",")[3]) for line in lines[2:]) == 7


def test_check_prints_points_and_hints(toy, tmp_path, capsys, monkeypatch):
    folder = tmp_path / "my_exercises"
    _write(folder, {T1: _perfect()[T1], T2: PARTIAL_T2})
    monkeypatch.setattr(core, "REFERENCE_DIR", toy["reference"])
    monkeypatch.setattr(grading, "DEFAULT_PRELOAD", ("numpy",))
    argv = ["check", str(folder), *LIMITS]
    for path in toy["case_files"]:
        argv += ["--cases", str(path)]
    before = {p: p.read_bytes() for p in folder.rglob("*") if p.is_file()}
    assert main(argv) == 0
    assert {p: p.read_bytes() for p in folder.rglob("*") if p.is_file()} == before  # make check writes nothing there
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
    monkeypatch.setattr(grading, "_worker_command", lambda: [sys.executable, "-c", "raise SystemExit(5)"])
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
@pytest.mark.timeout(900)
def test_real_exercises_perfect_student_in_the_jail(private_root):
    """The solutions, handed in as a student, earn every point in the jail: the lessons, data and models
    the cases need are all visible there. (The stubs are checked in-process by test_exercise_mechanism.)"""
    case_files = _real_ready()
    if not case_files:
        pytest.skip("no real exercise has a solution, a stub and a recorded reference yet")
    exercises = load_exercises(case_files)
    root = private_root / "real"
    for exercise in exercises:
        target = root / "class" / "perfect" / exercise.path
        target.parent.mkdir(parents=True, exist_ok=True)
        shutil.copy(core.SOLUTIONS_DIR / exercise.path, target)
    result = grading.grade_class(root / "class", root / "out", limits=grading.Limits(180, 900), jobs=1,
                                 case_files=case_files, progress=False, echo=False)
    (perfect,) = result.students
    assert [(r.exercise, r.case, r.status, r.message) for r in perfect.results if r.status != "passed"] == []
    assert perfect.points == perfect.max_points


def test_a_zombie_is_not_a_survivor():
    """A process that has exited but is not yet reaped shows ``Z`` in /proc: the grader must not wait for it
    (this machine's init reaps orphans seconds late). A running process is not ``Z``."""
    import subprocess
    import time

    from attnviz.grading import jail

    sleeper = subprocess.Popen(["sleep", "5"])
    dead = subprocess.Popen(["true"])
    try:
        deadline = time.monotonic() + 5
        while jail._state(dead.pid) != "Z" and time.monotonic() < deadline:
            time.sleep(0.02)  # exited, never waited for: a zombie until we reap it
        assert jail._state(dead.pid) == "Z"
        assert jail._state(sleeper.pid) in ("S", "R", "D")
        assert jail._state(2**22 + 12345) == "Z"  # no such process: nothing to wait for either
    finally:
        sleeper.kill()
        sleeper.wait()
        dead.wait()

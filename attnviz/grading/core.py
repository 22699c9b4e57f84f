"""The exercise-checking machinery: cases, captured outputs, comparisons with hints.

An *exercise* is one file under ``exercises/<tier>/`` (the student's copy) and ``solutions/<tier>/`` (the
reference), with the same functions. Its *cases* live in ``attnviz/grading/cases/<exercise id>.py``; each
case is one gradable test:

- ``run(module) -> dict``  instructor code that builds fixed inputs, calls the student's functions and
  returns what to compare, as plain values (numpy arrays, numbers, strings, lists of strings, nested
  dicts). It runs in the student's process; it never sees the reference.
- ``checks``  comparisons of that dict with the reference dict recorded from the solution
  (:class:`Close`, :class:`Equal`) or properties of the student's dict alone (:class:`Property`).
- ``mistakes``  known wrong answers, computed from the *solution* module when references are recorded
  (for example the rollout with the matrices multiplied in the wrong order). When a student's output
  fails a check but matches a known mistake, the message names that mistake.

Reference outputs are recorded once (``make references``) into ``attnviz/grading/reference/`` so that
grading and self-checking work without ``solutions/`` — an instructor can hand the repository out without
the answers. Values are stored as ``.npz`` (no pickle) plus ``.json``: loading a student's output can
never execute code.
"""

from __future__ import annotations

import importlib
import importlib.util
import json
import os
import pkgutil
import sys
import traceback
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from attnviz import REPO_ROOT

SOLUTIONS_DIR = REPO_ROOT / "solutions"
EXERCISES_DIR = REPO_ROOT / "exercises"
REFERENCE_DIR = Path(__file__).resolve().parent / "reference"

STATUSES = ("passed", "failed", "not_attempted", "missing", "error", "timeout")


# --------------------------------------------------------------------------------------------- checks
@dataclass
class Close:
    """``actual[key]`` equals ``expected[key]`` within tolerances (arrays of the same shape)."""

    key: str
    hint: str = ""
    atol: float = 1e-5
    rtol: float = 1e-4

    def __call__(self, actual: dict, expected: dict) -> str | None:
        if self.key not in actual:
            return f"{self.key}: missing from your output"
        got, want = np.asarray(actual[self.key]), np.asarray(expected[self.key])
        if got.dtype == object or not np.issubdtype(got.dtype, np.number) and got.dtype != bool:
            return f"{self.key}: expected numbers, got {got.dtype} values"
        if got.shape != want.shape:
            return f"{self.key}: shape {got.shape}, expected {want.shape}. {self.hint}".strip()
        if not np.all(np.isfinite(got)) and np.all(np.isfinite(want)):
            return f"{self.key}: contains NaN or Inf. {self.hint}".strip()
        atol, rtol = self.atol, self.rtol
        if got.dtype in (np.float32, np.complex64) or got.dtype == np.float16:
            # a float32 answer is right when it is right to float32 precision (the docstrings allow it)
            eps = float(np.finfo(got.dtype).eps)
            scale = float(np.nanmax(np.abs(want))) if want.size else 1.0
            atol, rtol = max(atol, 16 * eps * max(scale, 1.0)), max(rtol, 16 * eps)
        if np.allclose(got, want, atol=atol, rtol=rtol, equal_nan=True):
            return None
        diff = np.abs(got.astype(float) - want.astype(float))
        where = np.unravel_index(int(np.nanargmax(diff)), diff.shape) if diff.ndim else ()
        position = f" at index {tuple(int(i) for i in where)}" if where else ""
        return (f"{self.key}: differs by up to {np.nanmax(diff):.4g}{position} "
                f"(expected {want[where]:.4g}, got {got[where]:.4g}). {self.hint}").strip()


@dataclass
class Equal:
    """``actual[key] == expected[key]`` exactly (labels, token lists, integer answers)."""

    key: str
    hint: str = ""

    def __call__(self, actual: dict, expected: dict) -> str | None:
        if self.key not in actual:
            return f"{self.key}: missing from your output"
        got, want = _plain(actual[self.key]), _plain(expected[self.key])
        if got == want:
            return None
        if isinstance(got, list) and isinstance(want, list):
            where = next((i for i, (g, w) in enumerate(zip(got, want)) if g != w), None)
            if where is None:
                return (f"{self.key}: {len(got)} items, expected {len(want)} (the first "
                        f"{min(len(got), len(want))} agree). {self.hint}").strip()
            return (f"{self.key}: first difference at index {where}: expected {_short(want[where])}, got "
                    f"{_short(got[where])} ({len(got)} items, expected {len(want)}). {self.hint}").strip()
        return f"{self.key}: expected {_short(want)}, got {_short(got)}. {self.hint}".strip()


@dataclass
class Property:
    """A property of the student's output alone: ``test(actual)`` returns ``None`` or what is wrong."""

    test: Callable[[dict], str | None]
    hint: str = ""

    def __call__(self, actual: dict, expected: dict) -> str | None:
        problem = self.test(actual)
        return None if problem is None else f"{problem}. {self.hint}".strip()


def _plain(value):
    if isinstance(value, np.ndarray):
        return value.tolist()
    if isinstance(value, list | tuple):
        return [_plain(v) for v in value]
    if isinstance(value, np.generic):
        return value.item()
    return value


def _short(value, limit: int = 120) -> str:
    text = repr(value)
    return text if len(text) <= limit else text[: limit - 3] + "..."


# ----------------------------------------------------------------------------------------- exercises
@dataclass
class Mistake:
    """A known wrong answer: ``produce(solution_module) -> dict`` and the hint to show when matched."""

    name: str
    produce: Callable
    hint: str


@dataclass
class Case:
    name: str
    run: Callable
    checks: list
    points: int = 1
    mistakes: list[Mistake] = field(default_factory=list)
    description: str = ""
    #: Reference results of earlier cases this case takes as inputs, as ``"case/key"``: ``run(module, given)``
    #: then receives ``{"case/key": value}``. So a later function is checked on the reference's results of
    #: the earlier ones, and one mistake costs only its own points. The grader sends them to the worker only
    #: after the earlier case has its verdict.
    given: tuple[str, ...] = ()
    #: ``report(outputs, expected) -> str``: a line shown when the case passes (an open-ended case says its score).
    report: Callable | None = None
    #: ``yardstick() -> dict``: instructor data computed only when the references are recorded (never in a
    #: student's run) and stored with the expected outputs, where the checks read it — for example the
    #: leave-one-out importances an open-ended answer is scored against, outside the student's process.
    yardstick: Callable | None = None


@dataclass
class Exercise:
    id: str  # e.g. "b1_extract_attention"
    path: str  # relative to exercises/ and solutions/, e.g. "01_beginner/b1_extract_attention.py"
    title: str
    cases: list[Case]

    def __post_init__(self):
        seen: set[str] = set()
        for case in self.cases:
            for key in case.given:
                if key.split("/", 1)[0] not in seen:
                    raise ValueError(f"{self.id}/{case.name}: given {key!r} must name an earlier case")
            seen.add(case.name)

    @property
    def max_points(self) -> int:
        return sum(c.points for c in self.cases)

    def case(self, name: str) -> Case:
        for c in self.cases:
            if c.name == name:
                return c
        raise KeyError(f"exercise {self.id} has no case {name!r}")


def all_exercises() -> list[Exercise]:
    """Every exercise defined in ``attnviz.grading.cases``, in course order (by path)."""
    from attnviz.grading import cases

    found = []
    for info in pkgutil.iter_modules(cases.__path__):
        module = importlib.import_module(f"attnviz.grading.cases.{info.name}")
        if hasattr(module, "EXERCISE"):
            found.append(module.EXERCISE)
    return sorted(found, key=lambda e: e.path)


def get_exercise(exercise_id: str) -> Exercise:
    for ex in all_exercises():
        if ex.id == exercise_id:
            return ex
    raise KeyError(f"no exercise {exercise_id!r}")


# ------------------------------------------------------------------------------------------ running
@dataclass
class CaseResult:
    exercise: str
    case: str
    status: str
    points: int
    max_points: int
    message: str = ""
    outputs: dict | None = None


def load_module(path: Path, name: str | None = None):
    """Import a Python file by path under a private module name (never via ``sys.path``)."""
    name = name or f"submission_{abs(hash(str(path)))}"
    spec = importlib.util.spec_from_file_location(name, path)
    module = importlib.util.module_from_spec(spec)
    sys.modules[name] = module
    try:
        spec.loader.exec_module(module)
    except BaseException:
        sys.modules.pop(name, None)
        raise
    return module


#: Frames in these folders are never the student's: the course package (the grader and its case files),
#: the Python installation and its packages, and where the jail mounts extra case files.
_NOT_STUDENT = tuple(sorted({str(Path(__file__).resolve().parent.parent), sys.prefix, sys.base_prefix,
                             os.path.realpath(sys.prefix), os.path.realpath(sys.base_prefix), "/grading-cases"}))
_CASE_FILES: set[str] = set()


def _is_student_frame(filename: str) -> bool:
    if filename.startswith("<") or filename in _CASE_FILES:
        return False
    real = os.path.realpath(filename)
    return not any(real == root or real.startswith(root.rstrip("/") + "/") for root in _NOT_STUDENT)


def error_line(err: BaseException) -> str:
    """One line for a student's exception: its type, message and the innermost line of the student's own
    file (never a line of the grader's case files or of a library)."""
    if isinstance(err, SyntaxError):  # the location is the error's own, not a frame of the importer
        return f"SyntaxError: {err.msg} ({Path(err.filename or '?').name}, line {err.lineno})"
    frames = traceback.extract_tb(err.__traceback__)
    where = ""
    for frame in reversed(frames):
        if _is_student_frame(frame.filename):
            where = f" ({Path(frame.filename).name}, line {frame.lineno})"
            break
    return f"{type(err).__name__}: {str(err)[:300]}{where}"


def given_values(case: Case, expected_by_case: dict) -> dict:
    """The inputs ``case.given`` names, from ``{case name: {key: value}}`` (the reference's results)."""
    values = {}
    for key in case.given:
        name, inner = key.split("/", 1)
        values[key] = expected_by_case[name][inner]
    return values


def run_case(case: Case, module, given: dict | None = None) -> tuple[str, dict | str]:
    """Run one case on an imported module: ``("ok", outputs)``, ``("not_attempted", msg)`` or ``("error", msg)``.
    Each given array is a fresh copy, so a function that changes its input in place changes only its own."""
    try:
        if case.given:
            fresh = {k: (v.copy() if isinstance(v, np.ndarray) else v) for k, v in (given or {}).items()}
            outputs = case.run(module, fresh)
        else:
            outputs = case.run(module)
    except NotImplementedError as err:
        return "not_attempted", f"not attempted yet ({str(err)[:200]})"
    except Exception as err:  # noqa: BLE001 - a student's bug is a result, not a crash of the grader
        return "error", error_line(err)
    if not isinstance(outputs, dict):
        return "error", f"case {case.name} produced {type(outputs).__name__}, not a dict"
    try:
        return "ok", to_plain_dict(outputs)
    except (TypeError, ValueError) as err:
        return "error", f"your function returned something that cannot be compared: {err}"


def evaluate(case: Case, outputs: dict, reference: dict | None, exercise_id: str = "") -> CaseResult:
    """Compare a case's outputs with its reference; attach the hint of a matching known mistake."""
    if reference is None and any(not isinstance(c, Property) for c in case.checks):
        return CaseResult(exercise_id, case.name, "error", 0, case.points,
                          "no recorded reference for this test: the instructor must run `make references`", outputs)
    expected = (reference or {}).get("expected", {})
    problems = [p for check in case.checks if (p := check(outputs, expected))]
    if not problems:
        note = case.report(outputs, expected) if case.report else ""
        return CaseResult(exercise_id, case.name, "passed", case.points, case.points, note, outputs)
    message = " | ".join(problems)
    for mistake in case.mistakes:
        wrong = (reference or {}).get("mistakes", {}).get(mistake.name)
        if wrong is not None and all(check(outputs, wrong) is None for check in case.checks
                                     if not isinstance(check, Property)):
            message = f"{mistake.hint} ({message})"
            break
    return CaseResult(exercise_id, case.name, "failed", 0, case.points, message, outputs)


# ------------------------------------------------------------------------------------ serialisation
def to_plain_dict(values: dict, prefix: str = "") -> dict:
    """Flatten nested dicts to ``"a/b"`` keys; arrays become numpy, numbers floats, strings stay."""
    flat = {}
    for key, value in values.items():
        full = f"{prefix}{key}"
        if isinstance(value, dict):
            flat.update(to_plain_dict(value, full + "/"))
            continue
        if hasattr(value, "detach"):
            value = value.detach().cpu().numpy()
        if isinstance(value, str | bool | int | float | np.generic) or value is None:
            flat[full] = value.item() if isinstance(value, np.generic) else value
        elif isinstance(value, list | tuple) and all(isinstance(v, str) for v in value):
            flat[full] = [str(v) for v in value]
        else:
            arr = np.asarray(value)
            if arr.dtype == object:
                raise TypeError(f"{full}: holds {type(value).__name__} that is not a numeric array")
            flat[full] = arr
    return flat


def save_values(path: Path, values: dict) -> None:
    """``path.npz`` for arrays (``allow_pickle=False``) and ``path.json`` for everything else."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    arrays = {k: v for k, v in values.items() if isinstance(v, np.ndarray)}
    others = {k: v for k, v in values.items() if not isinstance(v, np.ndarray)}
    # keys get a prefix so that none can clash with savez's own argument names (``file``)
    with open(path.with_suffix(".npz"), "wb") as handle:
        np.savez_compressed(handle, **{f"v/{k}": v for k, v in arrays.items()})
    path.with_suffix(".json").write_text(json.dumps(others, indent=0, sort_keys=True))


def load_values(path: Path) -> dict:
    path = Path(path)
    values = {}
    if path.with_suffix(".npz").exists():
        with np.load(path.with_suffix(".npz"), allow_pickle=False) as data:
            values.update({k.removeprefix("v/"): data[k] for k in data.files})
    if path.with_suffix(".json").exists():
        values.update(json.loads(path.with_suffix(".json").read_text()))
    return values


def split_reference(flat: dict) -> dict:
    """``{"case/expected/key": v, "case/mistakes/name/key": v}`` -> ``{case: {"expected": {...}, "mistakes": {...}}}``."""
    cases: dict = {}
    for key, value in flat.items():
        case, section, rest = key.split("/", 2)
        entry = cases.setdefault(case, {"expected": {}, "mistakes": {}})
        if section == "expected":
            entry["expected"][rest] = value
        else:
            mistake, inner = rest.split("/", 1)
            entry["mistakes"].setdefault(mistake, {})[inner] = value
    return cases


def reference_path(exercise: Exercise) -> Path:
    return REFERENCE_DIR / exercise.id


def load_reference(exercise: Exercise) -> dict:
    """The recorded reference of every case of an exercise (empty if never recorded)."""
    return split_reference(load_values(reference_path(exercise)))


#: compute_reference's results, keyed by exercise, solution file content and case file content: a test run
#: (the freshness check, the exercise tests) runs each reference solution once.
_REFERENCE_CACHE: dict[tuple, dict] = {}


def _content_key(exercise: Exercise, solution: Path) -> tuple:
    import hashlib
    import inspect

    case_files = sorted({inspect.getsourcefile(c.run) or "" for c in exercise.cases})
    digest = hashlib.sha256(Path(solution).read_bytes())
    for name in case_files:
        digest.update(Path(name).read_bytes() if name and Path(name).is_file() else name.encode())
    return exercise.id, str(Path(solution).resolve()), digest.hexdigest()


def compute_reference(exercise: Exercise, solutions_dir: Path = SOLUTIONS_DIR) -> dict:
    """Run every case and every known mistake on the solution module; flat dict ready to save. Cached per
    process by the content of the solution and case files (a changed file is run again)."""
    path = Path(solutions_dir) / exercise.path
    key = _content_key(exercise, path)
    if key in _REFERENCE_CACHE:
        return dict(_REFERENCE_CACHE[key])
    module = load_module(path, f"solution_{exercise.id}")
    flat, fresh = {}, {}
    for case in exercise.cases:
        status, outputs = run_case(case, module, given_values(case, fresh))
        if status != "ok":
            raise RuntimeError(f"the solution of {exercise.id} fails its own case {case.name}: {outputs}")
        if case.yardstick is not None:
            outputs = {**outputs, **to_plain_dict(case.yardstick())}
        fresh[case.name] = outputs
        flat.update({f"{case.name}/expected/{k}": v for k, v in outputs.items()})
        for mistake in case.mistakes:
            wrong = to_plain_dict(mistake.produce(module))
            flat.update({f"{case.name}/mistakes/{mistake.name}/{k}": v for k, v in wrong.items()})
    _REFERENCE_CACHE[key] = flat
    return dict(flat)


def check_module(exercise: Exercise, path: Path, reference: dict | None = None) -> list[CaseResult]:
    """Import one submission file and run all of its cases in this process (pytest and the worker)."""
    reference = load_reference(exercise) if reference is None else reference
    if not path.exists():
        return [CaseResult(exercise.id, c.name, "missing", 0, c.points, f"{exercise.path} was not handed in")
                for c in exercise.cases]
    try:
        module = load_module(path, f"submission_{exercise.id}")
    except NotImplementedError as err:
        return [CaseResult(exercise.id, c.name, "not_attempted", 0, c.points, str(err)) for c in exercise.cases]
    except BaseException as err:  # noqa: BLE001 - SyntaxError, ImportError, SystemExit at import ...
        msg = f"the file does not import: {error_line(err)}"
        return [CaseResult(exercise.id, c.name, "error", 0, c.points, msg) for c in exercise.cases]
    results = []
    expected = {name: entry["expected"] for name, entry in reference.items()}
    for case in exercise.cases:
        try:
            given = given_values(case, expected)
        except KeyError:
            results.append(CaseResult(exercise.id, case.name, "error", 0, case.points,
                                      "no recorded reference for this test's inputs: run `make references`"))
            continue
        status, outputs = run_case(case, module, given)
        if status == "ok":
            results.append(evaluate(case, outputs, reference.get(case.name), exercise.id))
        else:
            results.append(CaseResult(exercise.id, case.name, status, 0, case.points, outputs))
    return results

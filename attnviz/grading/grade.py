"""Grading a class (``make grade``) and checking one folder (``make check``): the parent's side.

    python -m attnviz.grading grade submissions/ --out grades/     # every student folder in submissions/
    python -m attnviz.grading check exercises/                      # one folder, a readable summary

Each student's code runs in a process of its own (:mod:`attnviz.grading.worker`), started with its output
thrown away, a time limit per test and per student, and an audit hook that keeps it out of the solutions,
the references and the other students' files. This process watches the worker's status lines:

- a test that runs past ``per_test`` seconds is marked ``timeout``; the worker is killed and a new one is
  started for the tests that are left (one process per student otherwise: torch is imported once);
- a worker that dies (``os._exit``, a crash, a signal) has the test it was running marked ``error`` with
  the exit code, and is restarted the same way; a file that kills it while being imported costs that
  file's tests only;
- two runs in a row that finish nothing stop the student's grading, with the reason (no endless restarts);
- when ``per_student`` seconds are spent, what is left is marked ``timeout``.

Only then, here, are the saved outputs loaded (``.npz`` without pickle + ``.json``: loading them runs no
code) and compared with the recorded references by :func:`attnviz.grading.core.evaluate`. The solutions
are never imported: grading works in a copy of the repository without ``solutions/``.

Results: ``grades.csv`` (one row per student, exercise and test), ``reports/<student>.md`` (every hint,
points per exercise) and ``summary.md`` (average per exercise, who was not graded in full and why).
"""

from __future__ import annotations

import csv
import json
import os
import shutil
import signal
import subprocess
import sys
import tempfile
import threading
import time
from concurrent.futures import ThreadPoolExecutor, as_completed
from dataclasses import dataclass, field
from pathlib import Path

from tqdm import tqdm

from attnviz import REPO_ROOT
from attnviz.grading import core
from attnviz.grading.worker import load_exercises

#: Imported by each worker before the guard goes up (see attnviz.grading.worker); absent ones are skipped.
DEFAULT_PRELOAD = ("numpy", "torch", "transformers", "transformers.modeling_utils", "matplotlib.pyplot")
#: How often the parent looks at a worker's status file (seconds).
POLL_SECONDS = 0.05
#: A status file larger than this is not the worker's doing: stop reading it.
MAX_STATUS_BYTES = 10 * 1024 * 1024
#: Outputs larger than this on disk are not loaded.
MAX_LOAD_BYTES = 512 * 1024 * 1024
#: Problems that mean a student was not graded in full.
INCOMPLETE = ("missing", "error", "timeout")


@dataclass
class Limits:
    """Time limits in seconds. ``startup`` covers starting a worker (Python, torch, transformers), which is
    not the student's time; ``per_test`` also bounds the import of each student file."""

    per_test: float = 120.0
    per_student: float = 1800.0
    startup: float = 180.0


@dataclass
class StudentResult:
    """Every test's result for one student (in course order), and notes about the grading processes."""

    student: str
    results: list[core.CaseResult]
    notes: list[str] = field(default_factory=list)
    seconds: float = 0.0

    @property
    def points(self) -> int:
        return sum(r.points for r in self.results)

    @property
    def max_points(self) -> int:
        return sum(r.max_points for r in self.results)

    def of(self, exercise: core.Exercise) -> list[core.CaseResult]:
        return [r for r in self.results if r.exercise == exercise.id]


@dataclass
class ClassResult:
    exercises: list[core.Exercise]
    students: list[StudentResult]
    limits: Limits
    seconds: float
    summary: str


@dataclass
class _Item:
    """One test to run: its index in the student's plan names its output file."""

    index: int
    exercise: core.Exercise
    case: core.Case


# ------------------------------------------------------------------------------------ worker plumbing
class _Tail:
    """Drains a pipe in a thread and keeps only its last bytes: a flood of output costs nothing here."""

    def __init__(self, pipe, keep: int = 4000):
        self.keep, self.data = keep, b""
        self._thread = threading.Thread(target=self._drain, args=(pipe,), daemon=True)
        self._thread.start()

    def _drain(self, pipe) -> None:
        while chunk := pipe.read1(65536):
            self.data = (self.data + chunk)[-self.keep:]
        pipe.close()

    def last_line(self) -> str:
        self._thread.join(timeout=2)
        lines = [s.strip() for s in self.data.decode("utf-8", "replace").splitlines() if s.strip()]
        return lines[-1][:300] if lines else ""


class _StatusReader:
    """Reads the JSON lines a worker appends, a complete line at a time; ignores what is not valid."""

    def __init__(self, path: Path):
        self.path, self.offset, self.partial, self.too_big = path, 0, b"", False

    def read(self) -> list[dict]:
        try:
            size = self.path.stat().st_size
        except OSError:
            return []
        if size > MAX_STATUS_BYTES:
            self.too_big = True
            return []
        with open(self.path, "rb") as f:
            f.seek(self.offset)
            data = f.read()
        self.offset += len(data)
        *lines, self.partial = (self.partial + data).split(b"\n")
        events = []
        for line in lines:
            try:
                event = json.loads(line)
            except ValueError:
                continue
            if isinstance(event, dict) and isinstance(event.get("event"), str):
                events.append(event)
        return events


def _describe_exit(code: int) -> str:
    if code < 0:
        try:
            return f"killed by signal {signal.Signals(-code).name}"
        except ValueError:
            return f"killed by signal {-code}"
    return f"exit code {code}"


def _worker_command(plan_path: Path) -> list[str]:
    """``-P``: the current folder is not put on ``sys.path``; faulthandler: a native crash says where."""
    return [sys.executable, "-P", "-X", "faulthandler", "-m", "attnviz.grading.worker", str(plan_path)]


def _worker_env(run_dir: Path, jobs: int) -> dict:
    """The parent's environment, offline, with every home and cache folder inside the run's sandbox."""
    env = dict(os.environ)
    for name in ("PYTHONSTARTUP", "PYTHONINSPECT", "PYTHONHOME"):
        env.pop(name, None)
    env.update(
        HF_HUB_OFFLINE="1", TRANSFORMERS_OFFLINE="1", MPLBACKEND="Agg", TOKENIZERS_PARALLELISM="false",
        PYTHONDONTWRITEBYTECODE="1", PYTHONPATH=os.pathsep.join(filter(None, [str(REPO_ROOT), env.get("PYTHONPATH")])),
        HOME=str(run_dir / "home"), TMPDIR=str(run_dir / "tmp"), TMP=str(run_dir / "tmp"), TEMP=str(run_dir / "tmp"),
        XDG_CACHE_HOME=str(run_dir / "cache"), XDG_CONFIG_HOME=str(run_dir / "config"),
        MPLCONFIGDIR=str(run_dir / "cache" / "matplotlib"), HF_HOME=str(run_dir / "cache" / "huggingface"),
        TORCHINDUCTOR_CACHE_DIR=str(run_dir / "tmp" / "torchinductor"),
    )
    if jobs > 1:  # two students at once: share the cores instead of each taking all of them
        threads = str(max(1, (os.cpu_count() or 1) // jobs))
        env.setdefault("OMP_NUM_THREADS", threads)
        env.setdefault("MKL_NUM_THREADS", threads)
    return env


def _copy_submission(folder: Path, exercises: list[core.Exercise], dest: Path) -> None:
    """Copy the student's exercise files (regular files only, no links) into the pristine copy."""
    base = folder.resolve()
    for exercise in exercises:
        source = folder / exercise.path
        try:
            real = source.resolve(strict=True)
        except (OSError, RuntimeError):
            continue  # not handed in
        # A link (to the solutions, to a classmate's file) is not a hand-in: only regular files inside.
        if source.is_symlink() or not real.is_relative_to(base) or not real.is_file():
            continue
        target = dest / exercise.path
        target.parent.mkdir(parents=True, exist_ok=True)
        shutil.copyfile(real, target)


# --------------------------------------------------------------------------------------- one student
class Grader:
    """What every student's grading shares: the exercises, their references, limits and guard settings."""

    def __init__(self, exercises, *, limits: Limits, case_files=None, preload=None, hidden=(), jobs: int = 1):
        self.exercises = exercises
        self.references = {e.id: core.load_reference(e) for e in exercises}
        self.limits, self.jobs = limits, jobs
        self.case_files = [str(Path(p).resolve()) for p in case_files or []]
        self.preload = list(DEFAULT_PRELOAD if preload is None else preload)
        self.hidden = [str(p) for p in hidden]

    def grade(self, student: str, folder: Path, student_dir: Path) -> StudentResult:
        return _StudentRun(self, student, folder, student_dir).run()


class _StudentRun:
    """Grades one student: starts workers until every test has a result, then compares the outputs."""

    def __init__(self, grader: Grader, student: str, folder: Path, student_dir: Path):
        self.g, self.student, self.dir = grader, student, student_dir
        self.items = [_Item(i, e, c) for i, (e, c) in
                      enumerate((e, c) for e in grader.exercises for c in e.cases)]
        self.outcome: dict[int, tuple[str, str]] = {}  # index -> (status, message); "ok" = outputs saved
        self.notes: list[str] = []
        # What the current worker is doing, and since when (time.monotonic()): ("startup",),
        # ("import", exercise id), ("case", exercise id, case name) or ("between", exercise id).
        self.activity: tuple = ("startup",)
        self.since = 0.0
        self.pristine, self.results = student_dir / "submission", student_dir / "results"
        for path in (self.pristine, self.results):
            path.mkdir(parents=True, exist_ok=True)
        _copy_submission(folder, grader.exercises, self.pristine)

    # -- the loop of worker runs ---------------------------------------------------------------------
    def run(self) -> StudentResult:
        start = time.monotonic()
        deadline = start + self.g.limits.per_student
        fruitless = 0
        attempt = 0
        while todo := [it for it in self.items if it.index not in self.outcome]:
            if time.monotonic() >= deadline:
                self._settle(todo, "timeout", self._budget_message("not run:"))
                break
            attempt += 1
            before = len(self.outcome)
            reason = self._run_worker(todo, attempt, deadline)
            if len(self.outcome) > before:
                fruitless = 0
                continue
            fruitless += 1
            self.notes.append(f"the grading process stopped before finishing a test ({reason})")
            if fruitless >= 2:  # twice in a row: something is broken that restarting will not fix
                self._settle(todo, "error", f"not graded: the grading process stopped twice before "
                                            f"finishing a test ({reason})")
                break
        results = [self._result(it) for it in self.items]
        return StudentResult(self.student, results, self.notes, time.monotonic() - start)

    def _settle(self, items, status: str, message: str) -> None:
        for it in items:
            self.outcome.setdefault(it.index, (status, message))

    def _budget_message(self, prefix: str) -> str:
        return f"{prefix} the time limit of {self.g.limits.per_student:g} s per student ran out"

    # -- one worker run ------------------------------------------------------------------------------
    def _run_worker(self, todo: list[_Item], attempt: int, deadline: float) -> str:
        """Run one worker on ``todo`` until it ends or is stopped; settle the blame. Returns what happened."""
        run_dir = self.dir / f"run-{attempt}"
        for sub in ("work", "home", "tmp", "cache", "config"):
            (run_dir / sub).mkdir(parents=True, exist_ok=True)
        status_path = self.results / f"status-{attempt}.jsonl"
        plan = {
            "submission": str(self.pristine), "work": str(run_dir / "work"), "results": str(self.results),
            "status": str(status_path), "case_files": self.g.case_files, "preload": self.g.preload,
            "hidden": self.g.hidden, "writable": [str(run_dir), str(self.results)],
            "items": [[it.index, it.exercise.id, it.case.name] for it in todo],
        }
        plan_path = self.dir / f"plan-{attempt}.json"
        plan_path.write_text(json.dumps(plan, indent=1))
        status_path.touch()
        proc = subprocess.Popen(_worker_command(plan_path), cwd=self.dir, env=_worker_env(run_dir, self.g.jobs),
                                stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE,
                                start_new_session=(os.name == "posix"))
        tail = _Tail(proc.stderr)
        reader = _StatusReader(status_path)
        by_key = {(it.exercise.id, it.case.name): it for it in todo}
        self.activity, self.since = ("startup",), time.monotonic()
        stopped = None  # why we killed it: "test", "budget", "startup" or "status"
        while True:
            for event in reader.read():
                self._on_event(event, by_key)
            if proc.poll() is not None:
                break
            now, limits = time.monotonic(), self.g.limits
            limit = limits.startup if self.activity[0] == "startup" else limits.per_test
            if now >= deadline:
                stopped = "budget"
            elif now - self.since > limit:
                stopped = "startup" if self.activity[0] == "startup" else "test"
            elif reader.too_big:
                stopped = "status"
            if stopped:
                blamed = self.activity
                proc.kill()
                break
            time.sleep(POLL_SECONDS)
        code = proc.wait()
        for event in reader.read():  # lines written just before the end
            self._on_event(event, by_key)
        if stopped:
            return self._blame_stop(stopped, blamed, todo)
        if all(it.index in self.outcome for it in todo):
            return "finished"
        return self._blame_exit(code, tail.last_line(), todo)

    def _on_event(self, event: dict, by_key: dict) -> None:
        """Update what the worker is doing from one status line. Lines are untrusted (the student's code
        runs in that process and could write there), so each is checked and an unknown one ignored."""
        kind, exercise, case = event["event"], event.get("exercise"), event.get("case")
        if kind == "import" and any(k[0] == exercise for k in by_key):
            self.activity, self.since = ("import", exercise), time.monotonic()
        elif kind == "start" and (exercise, case) in by_key:
            self.activity, self.since = ("case", exercise, case), time.monotonic()
        elif kind == "done" and (exercise, case) in by_key:
            status, message = event.get("status"), event.get("message", "")
            if status in ("ok", "not_attempted", "error", "missing") and isinstance(message, str):
                self.outcome.setdefault(by_key[exercise, case].index, (status, message[:2000]))
                self.activity, self.since = ("between", exercise), time.monotonic()

    def _blamed_items(self, activity: tuple, todo: list[_Item]) -> list[_Item]:
        """The unfinished tests the current activity stands for: one test, or all tests of a file."""
        if activity[0] == "case":
            return [it for it in todo if (it.exercise.id, it.case.name) == activity[1:]
                    and it.index not in self.outcome]
        if activity[0] == "import":
            return [it for it in todo if it.exercise.id == activity[1] and it.index not in self.outcome]
        return []

    def _blame_stop(self, why: str, activity: tuple, todo: list[_Item]) -> str:
        limits = self.g.limits
        blamed = self._blamed_items(activity, todo)
        where = f"importing {blamed[0].exercise.path}" if activity[0] == "import" and blamed else "this test"
        if why == "test":
            message = (f"timed out: {where} took longer than {limits.per_test:g} s and was stopped "
                       "(an endless loop, or very slow code?)")
        elif why == "budget":
            message = self._budget_message(f"timed out during {where}:")
        elif why == "startup":
            return f"it did not start within {limits.startup:g} s"
        else:
            message = "error: the grading process wrote too much to its status file"
        self._settle(blamed, "error" if why == "status" else "timeout", message)
        if why == "budget":
            self._settle(todo, "timeout", self._budget_message("not run:"))
        if blamed:
            self.notes.append(f"{self._label(blamed)}: {message}; the process was stopped"
                              + ("" if why == "budget" else " and restarted for the remaining tests"))
        return message

    def _blame_exit(self, code: int, last_line: str, todo: list[_Item]) -> str:
        how = _describe_exit(code)
        if last_line and code != 0:
            how += f": {last_line}"
        blamed = self._blamed_items(self.activity, todo)
        if not blamed:
            return f"it ended on its own ({how})"
        if self.activity[0] == "import":
            message = (f"the process ended while importing {blamed[0].exercise.path} ({how}): does the file "
                       "call os._exit() or crash at the top level?")
        else:
            message = f"the process ended during this test ({how}): does your code call os._exit() or crash?"
        self._settle(blamed, "error", message)
        self.notes.append(f"{self._label(blamed)}: {message}; restarted for the remaining tests")
        return message

    @staticmethod
    def _label(items: list[_Item]) -> str:
        return items[0].exercise.id if len(items) > 1 else f"{items[0].exercise.id}/{items[0].case.name}"

    # -- comparing -----------------------------------------------------------------------------------
    def _result(self, it: _Item) -> core.CaseResult:
        status, message = self.outcome[it.index]
        if status != "ok":
            return core.CaseResult(it.exercise.id, it.case.name, status, 0, it.case.points, message)
        result = self._compare(it)
        result.outputs = None  # the report needs the verdict, not the arrays
        return result

    def _compare(self, it: _Item) -> core.CaseResult:
        ex, case = it.exercise, it.case

        def error(message: str) -> core.CaseResult:
            return core.CaseResult(ex.id, case.name, "error", 0, case.points, message)

        path = self.results / f"{it.index:04d}"
        try:
            size = sum(p.stat().st_size for p in (path.with_suffix(".npz"), path.with_suffix(".json")) if p.exists())
            if size > MAX_LOAD_BYTES:
                return error(f"your outputs are too large to compare ({size // 2**20} MB)")
            outputs = core.load_values(path)
        except Exception as err:  # noqa: BLE001 - a damaged file is this student's problem only
            return error(f"your outputs could not be read back: {type(err).__name__}: {str(err)[:200]}")
        reference = self.g.references[ex.id].get(case.name)
        if reference is None and not all(isinstance(c, core.Property) for c in case.checks):
            return error(f"no recorded reference for {ex.id}/{case.name}: the instructor should run "
                         "`make references`")
        try:
            return core.evaluate(case, outputs, reference, ex.id)
        except Exception as err:  # noqa: BLE001 - an output of an unexpected kind, say
            return error(f"your outputs could not be compared: {type(err).__name__}: {str(err)[:200]}")


# ------------------------------------------------------------------------------------------ reports
def _md(text: str) -> str:
    """A message as Markdown text: one line, and ``<`` escaped so that a student's message is never HTML."""
    return " ".join(str(text).split()).replace("<", "\\<")


def _one_line(text: str, limit: int = 1000) -> str:
    text = " ".join(str(text).split())
    return text if len(text) <= limit else text[: limit - 3] + "..."


def problems(result: StudentResult, exercises: list[core.Exercise]) -> list[str]:
    """Why a student was not graded in full: one line per exercise, or per test when they differ."""
    lines = []
    for exercise in exercises:
        own = result.of(exercise)
        bad = [r for r in own if r.status in INCOMPLETE]
        if not bad:
            continue
        if all(r.status == "missing" for r in bad) and len(bad) == len(own):
            lines.append(f"{exercise.path}: not handed in")
        elif len({(r.status, r.message) for r in bad}) == 1 and len(bad) == len(own):
            lines.append(f"{exercise.id}: {bad[0].status} — {_one_line(bad[0].message, 200)}")
        else:
            lines.extend(f"{exercise.id}/{r.case}: {r.status} — {_one_line(r.message, 200)}" for r in bad)
    return lines


def write_csv(path: Path, students: list[StudentResult]) -> None:
    with open(path, "w", newline="", encoding="utf-8") as f:
        writer = csv.writer(f)
        writer.writerow(["student", "exercise", "test", "points", "max_points", "status", "message"])
        for s in students:
            for r in s.results:
                writer.writerow([s.student, r.exercise, r.case, r.points, r.max_points, r.status,
                                 _one_line(r.message)])


def student_report(result: StudentResult, exercises: list[core.Exercise]) -> str:
    """One student's report in Markdown: points per exercise and every test's message."""
    lines = [f"# Grade report: {_md(result.student)}", "",
             f"**Total: {result.points} / {result.max_points} points**", ""]
    if result.notes:
        lines += ["Notes from the grader:", ""] + [f"- {_md(n)}" for n in result.notes] + [""]
    for exercise in exercises:
        own = result.of(exercise)
        got, top = sum(r.points for r in own), sum(r.max_points for r in own)
        lines += [f"## {exercise.path} — {_md(exercise.title)} ({got} / {top})", ""]
        for r in own:
            detail = f": {_md(r.message)}" if r.message else ""
            lines.append(f"- `{r.case}` — **{r.status.replace('_', ' ')}** ({r.points}/{r.max_points}){detail}")
        lines.append("")
    return "\n".join(lines)


def class_summary(students: list[StudentResult], exercises: list[core.Exercise], limits: Limits,
                  seconds: float) -> str:
    """The class summary in Markdown (also printed): averages per exercise and who was not graded in full."""
    n = len(students)
    total_max = sum(e.max_points for e in exercises)
    lines = ["# Class summary", "",
             f"{n} students, {len(exercises)} exercises, {total_max} points in all; graded in {seconds:.0f} s "
             f"(limits: {limits.per_test:g} s per test, {limits.per_student:g} s per student).", "",
             "| exercise | file | max | average | full marks | handed in |",
             "| --- | --- | ---: | ---: | ---: | ---: |"]
    for exercise in exercises:
        scores = [sum(r.points for r in s.of(exercise)) for s in students]
        full = sum(score == exercise.max_points for score in scores)
        handed = sum(any(r.status != "missing" for r in s.of(exercise)) for s in students)
        average = sum(scores) / n if n else 0.0
        lines.append(f"| {exercise.id} | {exercise.path} | {exercise.max_points} | {average:.2f} | "
                     f"{full} / {n} | {handed} / {n} |")
    average = sum(s.points for s in students) / n if n else 0.0
    full = sum(s.points == s.max_points for s in students)
    lines += [f"| **total** | | {total_max} | {average:.2f} | {full} / {n} | |", ""]
    incomplete = [(s, problems(s, exercises)) for s in students]
    incomplete = [(s, p) for s, p in incomplete if p]
    lines += [f"## Not graded in full ({len(incomplete)})", ""]
    if not incomplete:
        lines.append("Every test of every student ran to a verdict.")
    for s, reasons in incomplete:
        lines.append(f"- **{_md(s.student)}** ({s.points} / {s.max_points}):")
        lines += [f"  - {_md(reason)}" for reason in reasons]
    return "\n".join(lines) + "\n"


def format_check(result: StudentResult, exercises: list[core.Exercise], folder: Path) -> str:
    """``make check``: a plain-text summary of one folder, every hint, points out of the maximum."""
    mark = {"passed": "PASS", "failed": "FAIL", "not_attempted": "TODO", "missing": "MISSING",
            "error": "ERROR", "timeout": "TIMEOUT"}
    lines = [f"Checking {folder} against the recorded reference outputs", ""]
    passing, not_yet = [], []
    for exercise in exercises:
        own = result.of(exercise)
        got, top = sum(r.points for r in own), sum(r.max_points for r in own)
        (passing if got == top else not_yet).append(exercise.id)
        lines.append(f"{exercise.path} — {exercise.title}  [{got}/{top} points]")
        for r in own:
            detail = f"  {_one_line(r.message, 400)}" if r.message else ""
            lines.append(f"  {mark.get(r.status, r.status):<8}{r.case} ({r.points}/{r.max_points}){detail}")
        lines.append("")
    lines += [f"Notes: {n}" for n in result.notes]
    lines.append(f"Total: {result.points}/{result.max_points} points")
    lines.append(f"Passing: {', '.join(passing) or 'none yet'}")
    if not_yet:
        lines.append(f"Not yet: {', '.join(not_yet)}")
    return "\n".join(lines)


# ------------------------------------------------------------------------------------ entry points
def _hidden_defaults() -> list[Path]:
    """Folders no student process may read: the answers and the solutions' history. Read at call time,
    so a test that points ``core.REFERENCE_DIR`` elsewhere hides that folder."""
    return [core.SOLUTIONS_DIR, core.REFERENCE_DIR, REPO_ROOT / ".git"]


def _check_layout(*folders: Path) -> None:
    """Hiding the submissions and results from students must not hide the repository or Python itself."""
    for folder in folders:
        for needed in (REPO_ROOT, Path(sys.prefix)):
            if needed.resolve().is_relative_to(folder.resolve()):
                raise ValueError(f"{folder} contains {needed}: put the submissions and the results in "
                                 "folders of their own")


def grade_class(submissions, out, *, limits: Limits | None = None, jobs: int = 1, case_files=None,
                preload=None, hide=(), progress: bool = True, echo: bool = True) -> ClassResult:
    """Grade every student folder of ``submissions`` (hidden folders ignored); write ``out/grades.csv``,
    ``out/reports/<student>.md`` and ``out/summary.md``; print the summary (``echo``).

    ``case_files``: grade only the exercises these case files define (default: all of them).
    ``preload``: modules each worker imports before the guard (default :data:`DEFAULT_PRELOAD`).
    ``hide``: more folders the students' processes may not read, besides the solutions, the references,
    ``.git``, the submissions, ``out`` and the work folders."""
    limits = limits or Limits()
    submissions, out = Path(submissions).resolve(), Path(out).resolve()
    _check_layout(submissions, out)
    if out.is_relative_to(submissions):
        raise ValueError(f"{out} is inside {submissions}: it would be graded as a student")
    exercises = load_exercises(case_files)
    folders = sorted(p for p in submissions.iterdir() if p.is_dir() and not p.name.startswith("."))
    out.mkdir(parents=True, exist_ok=True)
    start = time.monotonic()
    students: dict[str, StudentResult] = {}
    with tempfile.TemporaryDirectory(prefix="attnviz-grading-", ignore_cleanup_errors=True) as tmp:
        work = Path(tmp)
        hidden = [submissions, out, work, *_hidden_defaults(), *hide]
        grader = Grader(exercises, limits=limits, case_files=case_files, preload=preload, hidden=hidden,
                        jobs=jobs)
        with ThreadPoolExecutor(max_workers=max(1, jobs)) as pool, \
                tqdm(total=len(folders), desc="grading", unit="student", disable=not progress) as bar:
            futures = {pool.submit(grader.grade, f.name, f, work / f"student-{i:03d}"): f.name
                       for i, f in enumerate(folders)}
            for future in as_completed(futures):
                students[futures[future]] = future.result()
                bar.set_postfix_str(futures[future])
                bar.update()
    ordered = [students[f.name] for f in folders]
    seconds = time.monotonic() - start

    write_csv(out / "grades.csv", ordered)
    reports = out / "reports"
    reports.mkdir(exist_ok=True)
    for old in reports.glob("*.md"):  # a student removed since the last run must not keep a report
        old.unlink()
    for s in ordered:
        (reports / f"{s.student}.md").write_text(student_report(s, exercises), encoding="utf-8")
    summary = class_summary(ordered, exercises, limits, seconds)
    (out / "summary.md").write_text(summary, encoding="utf-8")
    if echo:
        print(summary)
        print(f"Wrote {out / 'grades.csv'}, {out / 'summary.md'} and {len(ordered)} reports in {reports}")
    return ClassResult(exercises, ordered, limits, seconds, summary)


def check_folder(folder, *, limits: Limits | None = None, case_files=None, preload=None,
                 hide=()) -> StudentResult:
    """Check one folder that mirrors ``exercises/`` (``make check``) with the same machinery as grading."""
    folder = Path(folder).resolve()
    exercises = load_exercises(case_files)
    with tempfile.TemporaryDirectory(prefix="attnviz-check-", ignore_cleanup_errors=True) as tmp:
        work = Path(tmp)
        grader = Grader(exercises, limits=limits or Limits(), case_files=case_files, preload=preload,
                        hidden=[work, *_hidden_defaults(), *hide])
        return grader.grade(folder.name, folder, work / "student")

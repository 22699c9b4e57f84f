"""Grading a class (``make grade``) and checking one folder (``make check``): the grader's side.

    python -m attnviz.grading grade submissions/ --out grades/ [--jobs N] [--shard K/N]
    python -m attnviz.grading merge grades-1 grades-2 ... --out grades/   # the shards of one class
    python -m attnviz.grading check mywork/                          # one folder, a readable summary

Each student's code runs in a worker process of its own, inside a bubblewrap jail
(:mod:`attnviz.grading.jail`: its own user, PID, network and IPC namespaces, an unprivileged uid, the
Python environment read-only, its files in a private tmpfs, nothing else of the host visible) with hard
limits on memory, processes, CPU seconds, file size and time. This process — outside the jail — sends it
one request at a time over a pipe (:mod:`attnviz.grading.protocol`), receives the outputs, and compares
them with the recorded references, which the worker never sees:

- a test that runs past ``per_test`` seconds is marked ``timeout``; the worker is killed (its whole PID
  namespace dies with it) and a new one is started for the tests that are left;
- a worker that dies (``os._exit``, a crash, a signal, a limit) has the test it was running marked
  ``error`` with the exit code, and is restarted the same way; a file that kills it while being imported
  costs that file's tests only; two runs in a row that finish nothing stop the student's grading;
- when ``per_student`` seconds are spent, what is left is marked ``timeout``.

Before anything is written the grader checks that no process of any submission is alive; then it writes
the reports, ``summary.md`` and last ``grades.csv``, each to a temporary name first and then renamed, so a
reader sees the previous file or the complete new one. Without ``bwrap`` grading refuses, unless the
instructor passes ``--unsafe-no-sandbox``: then the worker runs as a plain process with an audit hook (no
boundary against a determined attack) and the CSV and every report say so.
"""

from __future__ import annotations

import csv
import io
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
from dataclasses import asdict, dataclass, field
from pathlib import Path

from tqdm import tqdm

from attnviz import REPO_ROOT
from attnviz.grading import core, jail, protocol
from attnviz.grading.worker import load_exercises

#: Imported by each worker once, before any student code; absent ones are skipped.
DEFAULT_PRELOAD = ("numpy", "torch", "transformers", "transformers.modeling_utils", "matplotlib.pyplot")
#: The largest reply a worker may send (bytes).
MAX_REPLY_BYTES = 300 * 1024 * 1024
#: ATTNVIZ_GRADING_TRACE=1: print how long each worker start and each test took (stderr).
_TRACE = os.environ.get("ATTNVIZ_GRADING_TRACE") == "1"
#: Problems that mean a student was not graded in full.
INCOMPLETE = ("missing", "error", "timeout")
#: Printed in the report and as the first line of grades.csv when grading ran without the jail.
UNSAFE_BANNER = "UNSAFE: graded WITHOUT a sandbox (--unsafe-no-sandbox): submissions could read the answers"


class SandboxMissing(RuntimeError):
    """``bwrap`` is not installed and the instructor did not accept grading without it."""


@dataclass
class Limits:
    """Time limits in seconds and the jail's hard limits. ``startup`` covers starting a worker (Python,
    torch, transformers), which is not the student's time; ``per_test`` also bounds the import of each
    student file; ``memory`` is the address space of one worker (bytes)."""

    per_test: float = 120.0
    per_student: float = 1800.0
    startup: float = 180.0
    memory: int = 4 * 2**30
    processes: int = 64

    def jail(self) -> jail.JailLimits:
        return jail.JailLimits(memory=self.memory, processes=self.processes,
                               cpu_seconds=int(self.per_student + self.startup) + 1)


@dataclass
class StudentResult:
    """Every test's result for one student (in course order), and notes about the grading processes."""

    student: str
    results: list[core.CaseResult]
    notes: list[str] = field(default_factory=list)
    seconds: float = 0.0
    #: CPU seconds its workers reported (what the student's code and the grading cases cost, imports included)
    cpu_seconds: float = 0.0

    @property
    def points(self) -> int:
        return sum(r.points for r in self.results)

    @property
    def max_points(self) -> int:
        return sum(r.max_points for r in self.results)

    def of(self, exercise: core.Exercise) -> list[core.CaseResult]:
        return [r for r in self.results if r.exercise == exercise.id]

    def to_json(self) -> dict:
        return {"student": self.student, "notes": self.notes, "seconds": self.seconds, "cpu_seconds": self.cpu_seconds,
                "results": [{k: v for k, v in asdict(r).items() if k != "outputs"} for r in self.results]}

    @classmethod
    def from_json(cls, data: dict) -> StudentResult:
        return cls(data["student"], [core.CaseResult(**r) for r in data["results"]], data["notes"],
                   data["seconds"], data.get("cpu_seconds", 0.0))


@dataclass
class ClassResult:
    exercises: list[core.Exercise]
    students: list[StudentResult]
    limits: Limits
    seconds: float
    summary: str
    sandboxed: bool = True


@dataclass
class _Item:
    """One test to run, in course order."""

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


def _describe_exit(code: int | None) -> str:
    if code is None:
        return "still running"
    if code < 0 or code > 128 and code - 128 in {s.value for s in signal.Signals}:
        number = -code if code < 0 else code - 128
        try:
            name = signal.Signals(number).name
        except ValueError:
            name = str(number)
        extra = {"SIGXCPU": ": the CPU time limit", "SIGKILL": "", "SIGXFSZ": ": the file size limit"}.get(name, "")
        return f"killed by signal {name}{extra}"
    return f"exit code {code}"


def _worker_command() -> list[str]:
    """``-P``: the current folder is not put on ``sys.path``; faulthandler: a native crash says where."""
    return [sys.executable, "-P", "-X", "faulthandler", "-m", "attnviz.grading.worker"]


def _threads(jobs: int) -> str:
    return str(max(1, (os.cpu_count() or 1) // max(1, jobs)))


def _jail_env(jobs: int) -> dict:
    """The whole environment of a jailed worker: offline, headless, everything under its own /tmp."""
    threads = _threads(jobs)
    return {
        "PATH": "/usr/local/bin:/usr/bin:/bin", "HOME": "/tmp/home", "TMPDIR": "/tmp", "LANG": "C.UTF-8",
        "HF_HUB_OFFLINE": "1", "TRANSFORMERS_OFFLINE": "1", "MPLBACKEND": "Agg", "TOKENIZERS_PARALLELISM": "false",
        "PYTHONDONTWRITEBYTECODE": "1", "PYTHONHASHSEED": "0", "XDG_CACHE_HOME": "/tmp/cache",
        "MPLCONFIGDIR": "/tmp/cache/matplotlib", "HF_HOME": "/tmp/cache/huggingface",
        "OMP_NUM_THREADS": threads, "MKL_NUM_THREADS": threads, "ATTNVIZ_JAIL": "1",
    }


def _unsafe_env(run_dir: Path, jobs: int) -> dict:
    """Without a jail: the parent's environment, offline, with every home and cache inside the run folder."""
    env = dict(os.environ)
    for name in ("PYTHONSTARTUP", "PYTHONINSPECT", "PYTHONHOME", "ATTNVIZ_JAIL"):
        env.pop(name, None)
    env.update(
        HF_HUB_OFFLINE="1", TRANSFORMERS_OFFLINE="1", MPLBACKEND="Agg", TOKENIZERS_PARALLELISM="false",
        PYTHONDONTWRITEBYTECODE="1", PYTHONPATH=os.pathsep.join(filter(None, [str(REPO_ROOT), env.get("PYTHONPATH")])),
        HOME=str(run_dir / "home"), TMPDIR=str(run_dir / "tmp"), TMP=str(run_dir / "tmp"), TEMP=str(run_dir / "tmp"),
        XDG_CACHE_HOME=str(run_dir / "cache"), MPLCONFIGDIR=str(run_dir / "cache" / "matplotlib"),
        HF_HOME=str(run_dir / "cache" / "huggingface"), OMP_NUM_THREADS=_threads(jobs), MKL_NUM_THREADS=_threads(jobs),
    )
    return env


def _session_members(sid: int) -> list[int]:
    """Pids whose session is ``sid`` (the unjailed worker's leftovers)."""
    members = []
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            fields = Path(f"/proc/{entry}/stat").read_text().rsplit(")", 1)[1].split()
        except (OSError, IndexError):
            continue
        if len(fields) > 3 and int(fields[3]) == sid:
            members.append(int(entry))
    return members


class _Worker:
    """One running worker, jailed (bwrap) or not, and the pipes to it."""

    def __init__(self, grader: Grader, submission: Path, run_dir: Path):
        self.userns = None
        self.namespace = None
        self.sandboxed = grader.bwrap is not None
        worker = _worker_command()
        pass_fds: list[int] = []
        info_read = info_write = None
        if self.sandboxed:
            if os.geteuid() == 0:
                self.userns = jail.RootUserNamespace()
                pass_fds.append(self.userns.fd)
            info_read, info_write = os.pipe()
            pass_fds.append(info_write)
            command = jail.bwrap_command(grader.bwrap, worker, submission=submission, case_files=grader.case_paths,
                                         env=_jail_env(grader.jobs), limits=grader.limits.jail(),
                                         userns_fd=self.userns.fd if self.userns else None, info_fd=info_write)
            env, cwd = {"PATH": os.environ.get("PATH", "/usr/bin:/bin")}, "/"
        else:
            for sub in ("work", "home", "tmp", "cache"):
                (run_dir / sub).mkdir(parents=True, exist_ok=True)
            command, env, cwd = worker, _unsafe_env(run_dir, grader.jobs), str(run_dir)
        try:
            self.proc = subprocess.Popen(command, cwd=cwd, env=env, stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                                         stderr=subprocess.PIPE, pass_fds=pass_fds, start_new_session=True)
        finally:
            if info_write is not None:
                os.close(info_write)
        if info_read is not None:
            info = jail.read_info(info_read, timeout=30)
            os.close(info_read)
            child = info.get("child-pid")
            self.namespace = jail.pid_namespace(child) if isinstance(child, int) else None
            self.child = child
        os.set_blocking(self.proc.stdin.fileno(), False)
        self.reader = protocol.Reader(self.proc.stdout.fileno(), MAX_REPLY_BYTES)
        self.tail = _Tail(self.proc.stderr)

    def send(self, header: dict, values: dict | None, deadline: float) -> None:
        protocol.write(self.proc.stdin.fileno(), protocol.encode(header, values), deadline)

    def recv(self, deadline: float) -> tuple[dict, dict]:
        return self.reader.read(deadline)

    def exit_code(self, wait: float = 5.0) -> int | None:
        try:
            return self.proc.wait(timeout=wait)
        except subprocess.TimeoutExpired:
            return None

    def stop(self) -> list[int]:
        """Kill the worker and everything it started; returns the pids that had to be killed after it."""
        if self.sandboxed and isinstance(getattr(self, "child", None), int) and self.namespace:
            try:  # the jail's first process: when it dies the kernel kills its whole PID namespace
                if jail.pid_namespace(self.child) == self.namespace:
                    os.kill(self.child, signal.SIGKILL)
            except ProcessLookupError:
                pass
        if self.proc.poll() is None:
            self.proc.kill()
        self.proc.wait()
        for pipe in (self.proc.stdin, self.proc.stdout):
            try:
                pipe.close()
            except OSError:
                pass
        if self.userns is not None:
            self.userns.close()
        return self.leftovers(kill=True)

    def leftovers(self, kill: bool = False) -> list[int]:
        find = (lambda: jail.survivors(self.namespace)) if self.sandboxed else (
            lambda: [p for p in _session_members(self.proc.pid) if p != os.getpid()])
        grace = time.monotonic() + 2.0  # the kernel tears a dead namespace down in its own time
        while (alive := find()) and time.monotonic() < grace:
            time.sleep(0.01)
        found = []
        for _ in range(100):
            alive = find()
            if not alive:
                break
            found = sorted(set(found) | set(alive))
            if not kill:
                break
            for pid in alive:
                try:
                    os.kill(pid, signal.SIGKILL)
                except ProcessLookupError:
                    pass
            time.sleep(0.02)
        return found


# --------------------------------------------------------------------------------------- one student
class Grader:
    """What every student's grading shares: the exercises, their references, limits and the jail."""

    def __init__(self, exercises, *, limits: Limits, case_files=None, preload=None, hidden=(), jobs: int = 1,
                 sandbox: bool = True):
        self.exercises = exercises
        self.references = {e.id: core.load_reference(e) for e in exercises}
        self.expected = {e.id: {name: entry["expected"] for name, entry in self.references[e.id].items()}
                         for e in exercises}
        self.limits, self.jobs = limits, jobs
        self.case_files = [str(Path(p).resolve()) for p in case_files or []]
        self.case_paths = [Path(p) for p in self.case_files]
        self.preload = list(DEFAULT_PRELOAD if preload is None else preload)
        self.hidden = [str(p) for p in hidden]
        self.bwrap = jail.find_bwrap() if sandbox else None
        if sandbox and self.bwrap is None:
            raise SandboxMissing(jail.INSTALL_HINT)

    def grade(self, student: str, folder: Path, student_dir: Path) -> StudentResult:
        return _StudentRun(self, student, folder, student_dir).run()

    def plan(self, pristine: Path, run_dir: Path) -> dict:
        jail_limits = self.limits.jail()
        limits = {"memory": jail_limits.memory, "processes": jail_limits.processes,
                  "cpu_seconds": jail_limits.cpu_seconds, "file_bytes": jail_limits.file_bytes,
                  "open_files": jail_limits.open_files}
        if self.bwrap:
            return {"op": "plan", "submission": jail.SUBMISSION_MOUNT, "work": "/tmp/work",
                    "case_files": jail.jailed_case_paths(self.case_paths), "preload": self.preload,
                    "limits": limits, "guard": False}
        if os.geteuid() == 0:
            limits.pop("processes")  # the kernel does not apply it to root; a jail is the answer
        return {"op": "plan", "submission": str(pristine), "work": str(run_dir / "work"),
                "case_files": self.case_files, "preload": self.preload, "limits": limits, "guard": True,
                "hidden": self.hidden, "writable": [str(run_dir)]}


def _refusal(folder: Path) -> str | None:
    """Why a student folder is not graded at all: it is a link, or holds links that lead out of it."""
    if folder.is_symlink():
        return (f"refused: the submission {folder.name} is a symbolic link (to {os.readlink(folder)}), "
                "not a folder of its own")
    base = folder.resolve()
    for root, dirs, files in os.walk(folder):
        for name in dirs + files:
            path = Path(root) / name
            if path.is_symlink():
                target = Path(os.path.realpath(path))
                if not target.is_relative_to(base):
                    return (f"refused: {path.relative_to(folder)} is a symbolic link that leads out of the "
                            f"submission (to {os.readlink(path)})")
    return None


def _copy_submission(folder: Path, exercises: list[core.Exercise], dest: Path) -> None:
    """Copy the student's exercise files (regular files inside the folder only) into the pristine copy."""
    base = folder.resolve()
    for exercise in exercises:
        source = folder / exercise.path
        try:
            real = source.resolve(strict=True)
        except (OSError, RuntimeError):
            continue  # not handed in
        if not real.is_relative_to(base) or not real.is_file():
            continue
        target = dest / exercise.path
        target.parent.mkdir(parents=True, exist_ok=True)
        shutil.copyfile(real, target)


class _StudentRun:
    """Grades one student: starts workers until every test has a verdict."""

    def __init__(self, grader: Grader, student: str, folder: Path, student_dir: Path):
        self.g, self.student, self.dir = grader, student, student_dir
        self.items = [_Item(i, e, c) for i, (e, c) in
                      enumerate((e, c) for e in grader.exercises for c in e.cases)]
        self.verdicts: dict[int, core.CaseResult] = {}
        self.notes: list[str] = []
        self.cpu = 0.0
        self.refused = _refusal(folder)
        self.pristine = student_dir / "submission"
        self.pristine.mkdir(parents=True, exist_ok=True)
        if not self.refused:
            _copy_submission(folder, grader.exercises, self.pristine)

    # -- the loop of worker runs ---------------------------------------------------------------------
    def run(self) -> StudentResult:
        start = time.monotonic()
        if self.refused:
            self._settle(self.items, "error", self.refused)
        deadline = start + self.g.limits.per_student
        fruitless, attempt = 0, 0
        while todo := self._todo():
            if time.monotonic() >= deadline:
                self._settle(todo, "timeout", self._budget_message("not run:"))
                break
            attempt += 1
            before = len(self.verdicts)
            reason = self._run_worker(todo, attempt, deadline)
            if len(self.verdicts) > before:
                fruitless = 0
                continue
            fruitless += 1
            self.notes.append(f"the grading process stopped before finishing a test ({reason})")
            if fruitless >= 2:  # twice in a row: something is broken that restarting will not fix
                self._settle(self._todo(), "error", f"not graded: the grading process stopped twice before "
                                                    f"finishing a test ({reason})")
                break
        results = [self.verdicts[it.index] for it in self.items]
        return StudentResult(self.student, results, self.notes, time.monotonic() - start, self.cpu)

    def _todo(self) -> list[_Item]:
        return [it for it in self.items if it.index not in self.verdicts]

    def _settle(self, items, status: str, message: str) -> None:
        for it in items:
            if it.index not in self.verdicts:
                self.verdicts[it.index] = core.CaseResult(it.exercise.id, it.case.name, status, 0, it.case.points,
                                                          message[:2000])

    def _budget_message(self, prefix: str) -> str:
        return f"{prefix} the time limit of {self.g.limits.per_student:g} s per student ran out"

    # -- one worker run ------------------------------------------------------------------------------
    def _run_worker(self, todo: list[_Item], attempt: int, deadline: float) -> str:
        """Run one worker over ``todo`` until it ends or is stopped; settle the blame. Returns what happened."""
        limits = self.g.limits
        started = time.monotonic()
        try:
            worker = _Worker(self.g, self.pristine, self.dir / f"run-{attempt}")
        except (OSError, RuntimeError) as err:
            return f"it could not be started: {err}"
        activity: tuple = ("startup",)
        cpu = 0.0
        try:
            try:
                worker.send(self.g.plan(self.pristine, self.dir / f"run-{attempt}"), None,
                            min(deadline, time.monotonic() + limits.startup))
                header, _ = worker.recv(min(deadline, time.monotonic() + limits.startup))
                if _TRACE:
                    print(f"[grading] {self.student} worker ready after {time.monotonic() - started:.2f} s",
                          file=sys.stderr)
                if header.get("event") != "ready":
                    return "it did not say it was ready"
                imported: dict[str, tuple[str, str]] = {}
                for it in todo:
                    if it.index in self.verdicts:
                        continue
                    ex = it.exercise
                    if ex.id not in imported:
                        activity = ("import", ex.id)
                        worker.send({"op": "import", "exercise": ex.id}, None, time.monotonic() + limits.per_test)
                        header, _ = worker.recv(min(deadline, time.monotonic() + limits.per_test))
                        status, message = self._check_reply(header, "imported", ex.id, None)
                        imported[ex.id] = (status, message)
                    status, message = imported[ex.id]
                    if status != "ok":
                        self._settle([it], status, message)
                        continue
                    activity = ("case", ex.id, it.case.name)
                    given = core.given_values(it.case, self.g.expected[ex.id]) if it.case.given else {}
                    worker.send({"op": "case", "exercise": ex.id, "case": it.case.name}, given,
                                time.monotonic() + limits.per_test)
                    asked = time.monotonic()
                    header, values = worker.recv(min(deadline, time.monotonic() + limits.per_test))
                    if _TRACE:
                        print(f"[grading] {self.student} {ex.id}/{it.case.name}: {time.monotonic() - asked:.2f} s",
                              file=sys.stderr)
                    status, message = self._check_reply(header, "done", ex.id, it.case.name)
                    if isinstance(header.get("cpu"), float):
                        cpu = max(cpu, header["cpu"])
                    if status == "ok":
                        self.verdicts[it.index] = self._compare(it, values)
                    else:
                        self._settle([it], status, message)
                    activity = ("between", ex.id)
                try:
                    worker.send({"op": "quit"}, None, time.monotonic() + 5)
                except (protocol.ChannelTimeout, protocol.ChannelClosed):
                    pass
                worker.exit_code(wait=5)
                return "finished"
            except protocol.ChannelTimeout:
                return self._blame_stop("budget" if time.monotonic() >= deadline else activity[0], activity, todo)
            except protocol.ChannelClosed:
                code = worker.exit_code()
                return self._blame_exit(code, worker.tail.last_line(), activity, todo)
            except protocol.ChannelError as err:
                self._settle(self._blamed_items(activity, todo), "error", f"error: the grading process sent {err}")
                return str(err)
        finally:
            self.cpu += cpu
            killed = worker.stop()
            if killed:
                self.notes.append(f"{len(killed)} process(es) of this submission outlived their worker and were "
                                  "killed")

    @staticmethod
    def _check_reply(header: dict, event: str, exercise: str, case: str | None) -> tuple[str, str]:
        """A reply is untrusted (student code can write to the pipe): it must answer the request."""
        status, message = header.get("status"), header.get("message", "")
        if (header.get("event") != event or header.get("exercise") != exercise
                or (case is not None and header.get("case") != case)
                or status not in ("ok", "not_attempted", "error", "missing") or not isinstance(message, str)):
            return "error", "error: the grading process answered something else than this test"
        return status, message[:2000]

    def _blamed_items(self, activity: tuple, todo: list[_Item]) -> list[_Item]:
        """The unfinished tests the current activity stands for: one test, or all tests of a file."""
        if activity[0] == "case":
            return [it for it in todo if (it.exercise.id, it.case.name) == activity[1:]
                    and it.index not in self.verdicts]
        if activity[0] == "import":
            return [it for it in todo if it.exercise.id == activity[1] and it.index not in self.verdicts]
        return []

    def _blame_stop(self, why: str, activity: tuple, todo: list[_Item]) -> str:
        limits = self.g.limits
        blamed = self._blamed_items(activity, todo)
        where = f"importing {blamed[0].exercise.path}" if activity[0] == "import" and blamed else "this test"
        if why == "startup":
            return f"it did not start within {limits.startup:g} s"
        if why == "budget":
            message = self._budget_message(f"timed out during {where}:")
        else:
            message = (f"timed out: {where} took longer than {limits.per_test:g} s and was stopped "
                       "(an endless loop, or very slow code?)")
        self._settle(blamed, "timeout", message)
        if why == "budget":
            self._settle(todo, "timeout", self._budget_message("not run:"))
        if blamed:
            self.notes.append(f"{self._label(blamed)}: {message}; the process was stopped"
                              + ("" if why == "budget" else " and restarted for the remaining tests"))
        return message

    def _blame_exit(self, code: int | None, last_line: str, activity: tuple, todo: list[_Item]) -> str:
        how = _describe_exit(code)
        if last_line and code != 0:
            how += f": {last_line}"
        blamed = self._blamed_items(activity, todo)
        if not blamed:
            return f"it ended on its own ({how})"
        if activity[0] == "import":
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
    def _compare(self, it: _Item, outputs: dict) -> core.CaseResult:
        ex, case = it.exercise, it.case
        reference = self.g.references[ex.id].get(case.name)
        if reference is None and not all(isinstance(c, core.Property) for c in case.checks):
            return core.CaseResult(ex.id, case.name, "error", 0, case.points,
                                   f"no recorded reference for {ex.id}/{case.name}: the instructor should run "
                                   "`make references`")
        try:
            result = core.evaluate(case, outputs, reference, ex.id)
        except Exception as err:  # noqa: BLE001 - an output of an unexpected kind, say
            return core.CaseResult(ex.id, case.name, "error", 0, case.points,
                                   f"your outputs could not be compared: {type(err).__name__}: {str(err)[:200]}")
        result.outputs = None  # the report needs the verdict, not the arrays
        return result


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


def csv_text(students: list[StudentResult], *, sandboxed: bool = True) -> str:
    """``grades.csv``: one row per student, exercise and test. Graded without the jail, its first line is
    ``# UNSAFE: ...`` (read it with ``pandas.read_csv(path, comment="#")``)."""
    f = io.StringIO()
    if not sandboxed:
        f.write(f"# {UNSAFE_BANNER}\n")
    writer = csv.writer(f)
    writer.writerow(["student", "exercise", "test", "points", "max_points", "status", "message"])
    for s in students:
        for r in s.results:
            writer.writerow([s.student, r.exercise, r.case, r.points, r.max_points, r.status,
                             _one_line(r.message)])
    return f.getvalue()


def student_report(result: StudentResult, exercises: list[core.Exercise], *, sandboxed: bool = True) -> str:
    """One student's report in Markdown: points per exercise and every test's message."""
    lines = [f"# Grade report: {_md(result.student)}", ""]
    if not sandboxed:
        lines += [f"**{UNSAFE_BANNER}**", ""]
    lines += [f"**Total: {result.points} / {result.max_points} points**", ""]
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
                  seconds: float, *, sandboxed: bool = True) -> str:
    """The class summary in Markdown (also printed): averages per exercise and who was not graded in full."""
    n = len(students)
    total_max = sum(e.max_points for e in exercises)
    lines = ["# Class summary", ""] + ([f"**{UNSAFE_BANNER}**", ""] if not sandboxed else []) + [
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
    """Folders an unjailed worker's audit hook refuses: the answers and the solutions' history. Read at call
    time, so a test that points ``core.REFERENCE_DIR`` elsewhere hides that folder."""
    return [core.SOLUTIONS_DIR, core.REFERENCE_DIR, REPO_ROOT / ".git"]


def _check_layout(*folders: Path) -> None:
    """The submissions and results must not contain the repository or Python itself."""
    for folder in folders:
        for needed in (REPO_ROOT, Path(sys.prefix)):
            if needed.resolve().is_relative_to(folder.resolve()):
                raise ValueError(f"{folder} contains {needed}: put the submissions and the results in "
                                 "folders of their own")


def _write_atomically(path: Path, text: str) -> None:
    """Write ``text`` to a temporary file beside ``path``, then rename it over ``path``."""
    handle, temporary = tempfile.mkstemp(prefix=f".{path.name}.", dir=path.parent)
    try:
        with os.fdopen(handle, "w", encoding="utf-8", newline="") as f:
            f.write(text)
        os.replace(temporary, path)
    except BaseException:
        Path(temporary).unlink(missing_ok=True)
        raise


def parse_shard(text: str) -> tuple[int, int]:
    """``"K/N"`` (1 ≤ K ≤ N) -> ``(K, N)``; raises ``ValueError`` with what is expected."""
    try:
        k, n = (int(part) for part in text.split("/"))
    except ValueError:
        raise ValueError(f"--shard {text!r}: expected K/N, for example 2/8") from None
    if not 1 <= k <= n:
        raise ValueError(f"--shard {text!r}: K must be between 1 and N")
    return k, n


def student_folders(submissions: Path, shard: tuple[int, int] = (1, 1)) -> list[Path]:
    """The class's student folders (hidden ones skipped), sorted; with ``shard=(K, N)`` every N-th from K."""
    folders = sorted(p for p in submissions.iterdir()
                     if (p.is_dir() or p.is_symlink()) and not p.name.startswith("."))
    k, n = shard
    return folders[k - 1::n]


def write_results(out: Path, students: list[StudentResult], exercises: list[core.Exercise], limits: Limits,
                  seconds: float, *, sandboxed: bool, shard: tuple[int, int] | None = None) -> str:
    """Reports, ``summary.md``, ``results.json`` (what ``merge`` reads) and last ``grades.csv``, each written
    atomically. Returns the summary."""
    out.mkdir(parents=True, exist_ok=True)
    reports = out / "reports"
    reports.mkdir(exist_ok=True)
    keep = {f"{s.student}.md" for s in students}
    for old in reports.glob("*.md"):  # a student removed since the last run must not keep a report
        if old.name not in keep:
            old.unlink()
    for s in students:
        _write_atomically(reports / f"{s.student}.md", student_report(s, exercises, sandboxed=sandboxed))
    summary = class_summary(students, exercises, limits, seconds, sandboxed=sandboxed)
    _write_atomically(out / "summary.md", summary)
    _write_atomically(out / "results.json", json.dumps({
        "shard": list(shard or (1, 1)), "sandboxed": sandboxed, "seconds": seconds,
        "exercises": [e.id for e in exercises], "students": [s.to_json() for s in students]}))
    _write_atomically(out / "grades.csv", csv_text(students, sandboxed=sandboxed))
    return summary


def grade_class(submissions, out, *, limits: Limits | None = None, jobs: int | None = None, case_files=None,
                preload=None, hide=(), progress: bool = True, echo: bool = True, sandbox: bool = True,
                shard: tuple[int, int] = (1, 1)) -> ClassResult:
    """Grade every student folder of ``submissions`` (hidden folders ignored; with ``shard=(K, N)`` only the
    K-th of every N); write ``out/grades.csv``, ``out/reports/<student>.md``, ``out/summary.md`` and
    ``out/results.json``; print the summary (``echo``).

    ``jobs``: students graded at the same time (default: the number of cores).
    ``sandbox``: grade in the bwrap jail (raises :class:`SandboxMissing` without bwrap); ``False`` is
    ``--unsafe-no-sandbox``. ``case_files``: grade only the exercises these case files define.
    ``preload``: modules each worker imports once (default :data:`DEFAULT_PRELOAD`). ``hide``: more folders
    the unjailed audit hook refuses (the jail shows none of the host anyway)."""
    limits = limits or Limits()
    jobs = jobs or os.cpu_count() or 1
    submissions, out = Path(submissions).resolve(), Path(out).resolve()
    _check_layout(submissions, out)
    if out.is_relative_to(submissions):
        raise ValueError(f"{out} is inside {submissions}: it would be graded as a student")
    exercises = load_exercises(case_files)
    folders = student_folders(submissions, shard)
    start = time.monotonic()
    students: dict[str, StudentResult] = {}
    with tempfile.TemporaryDirectory(prefix="attnviz-grading-", ignore_cleanup_errors=True) as tmp:
        work = Path(tmp)
        hidden = [submissions, out, work, *_hidden_defaults(), *hide]
        grader = Grader(exercises, limits=limits, case_files=case_files, preload=preload, hidden=hidden,
                        jobs=jobs, sandbox=sandbox)
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
    summary = write_results(out, ordered, exercises, limits, seconds, sandboxed=grader.bwrap is not None,
                            shard=shard)
    if echo:
        print(summary)
        print(f"Wrote {out / 'grades.csv'}, {out / 'summary.md'} and {len(ordered)} reports in {out / 'reports'}")
    return ClassResult(exercises, ordered, limits, seconds, summary, grader.bwrap is not None)


def merge_shards(shard_dirs, out, *, case_files=None, echo: bool = True) -> ClassResult:
    """Merge the outputs of ``grade --shard K/N`` runs (every K of one N) into one ``out``: the same
    ``grades.csv``, reports and summary as grading the class in one run."""
    exercises = load_exercises(case_files)
    loaded = [json.loads((Path(d) / "results.json").read_text()) for d in shard_dirs]
    sizes = {tuple(data["shard"])[1] for data in loaded}
    if len(sizes) != 1:
        raise ValueError(f"the shards come from different splits (N = {sorted(sizes)})")
    (n,) = sizes
    got = sorted(data["shard"][0] for data in loaded)
    if got != list(range(1, n + 1)):
        missing = sorted(set(range(1, n + 1)) - set(got))
        raise ValueError(f"shards {missing} of {n} are missing" if missing else f"a shard is given twice: {got}")
    ids = [e.id for e in exercises]
    if any(data["exercises"] != ids for data in loaded):
        raise ValueError("the shards were graded on other exercises than these")
    students = sorted((StudentResult.from_json(s) for data in loaded for s in data["students"]),
                      key=lambda s: s.student)
    seconds = max(data["seconds"] for data in loaded)
    sandboxed = all(data["sandboxed"] for data in loaded)
    limits = Limits()
    summary = write_results(Path(out), students, exercises, limits, seconds, sandboxed=sandboxed)
    if echo:
        print(summary)
    return ClassResult(exercises, students, limits, seconds, summary, sandboxed)


def check_folder(folder, *, limits: Limits | None = None, case_files=None, preload=None, hide=(),
                 sandbox: bool | None = None) -> StudentResult:
    """Check one folder that mirrors ``exercises/`` (``make check``) with the same machinery as grading.
    ``sandbox=None``: in the jail when bwrap is installed, else without (it is the student's own code)."""
    folder = Path(folder)
    exercises = load_exercises(case_files)
    use_jail = jail.find_bwrap() is not None if sandbox is None else sandbox
    with tempfile.TemporaryDirectory(prefix="attnviz-check-", ignore_cleanup_errors=True) as tmp:
        work = Path(tmp)
        grader = Grader(exercises, limits=limits or Limits(), case_files=case_files, preload=preload,
                        hidden=[work, *_hidden_defaults(), *hide], sandbox=use_jail)
        result = grader.grade(folder.name, folder, work / "student")
    if not use_jail:
        result.notes.append("checked without the bwrap sandbox (not installed): fine for your own code")
    return result

"""The student's side of grading: one process that runs one submission's tests and writes what they return.

The parent (:mod:`attnviz.grading.grade`) starts this process once per student, and again after a crash
or a timeout for the tests that are left::

    python -P -m attnviz.grading.worker PLAN.json

``PLAN.json`` (written by the parent) names the submission, the (exercise, test) pairs to run and the
folders to use. This process **never compares anything and never reads the reference outputs**: for each
test it saves what the instructor's ``case.run(module)`` returned (``core.save_values``: ``.npz`` without
pickle + ``.json``) and appends one JSON line to a status file, flushed at once::

    {"event": "import", "exercise": "b1_extract_attention"}               about to import the student's file
    {"event": "start", "exercise": "b1_extract_attention", "case": "shapes"}   about to run one test
    {"event": "done", "exercise": "b1_extract_attention", "case": "shapes", "status": "ok", "message": ""}

When the process dies or hangs, the last ``import``/``start`` line without its ``done`` tells the parent
which test (or which file) was to blame. ``status`` is ``ok`` (outputs saved), ``not_attempted``,
``error`` or ``missing``; the parent turns ``ok`` into ``passed``/``failed`` by comparing with the
recorded reference, in its own process.

Order of work, and why:

1. Before any student code exists in this process: read the plan, open the status file, import the
   instructor's case modules and a few heavy libraries (``preload``: torch, transformers...). Those
   libraries load native code through ``ctypes`` and run ``ldconfig`` when first imported, which the guard
   below refuses; importing them first means the guard never sees it.
2. Move into a fresh working folder (the *sandbox*) and install :class:`Guard` with ``sys.addaudithook``.
   A hook cannot be removed once installed.
3. For each exercise: copy the student's file from the parent's pristine copy into the sandbox, import
   it by path (the sandbox is not on ``sys.path``), and run its tests. A file is copied just before it is
   imported, so a submission that deletes its own working folder only loses what it already ran.
"""

from __future__ import annotations

import importlib
import json
import os
import re
import shutil
import sys
import sysconfig
from pathlib import Path

from attnviz import REPO_ROOT
from attnviz.grading import core

#: The largest outputs one test may save (bytes); more is reported as an error, not written.
MAX_OUTPUT_BYTES = 256 * 1024 * 1024
#: The largest file the process may write (bytes): a runaway loop cannot fill the disk.
MAX_FILE_BYTES = 1024 * 1024 * 1024


# ---------------------------------------------------------------------------------------- exercises
def load_exercises(case_files: list | None = None) -> list[core.Exercise]:
    """The exercises to grade: every one in ``attnviz/grading/cases/`` or, when given, those defined
    (``EXERCISE = Exercise(...)``) in the given case files — how the grader's own tests use a toy one."""
    if not case_files:
        return core.all_exercises()
    found = []
    for path in case_files:
        path = Path(path).resolve()
        module = core.load_module(path, f"attnviz_cases_{path.stem}_{abs(hash(str(path)))}")
        found.append(module.EXERCISE)
    return sorted(found, key=lambda e: e.path)


# -------------------------------------------------------------------------------------------- guard
class Refused(PermissionError):
    """Raised inside student code by :class:`Guard` for an operation the grader does not allow."""


# Open flags that mean "this open may change the file".
_WRITE_FLAGS = os.O_WRONLY | os.O_RDWR | os.O_APPEND | os.O_CREAT | os.O_TRUNC
# Audit events that start another program: a child process is not watched by this process's hook.
_PROCESS_EVENTS = frozenset({
    "subprocess.Popen", "os.system", "os.exec", "os.spawn", "os.posix_spawn", "os.posix_spawnp",
    "os.fork", "os.forkpty", "os.startfile", "pty.spawn",
})
# Audit events that change a path: for each, its (path argument, dir_fd argument or None) positions.
_CHANGE_EVENTS = {
    "os.remove": ((0, 1),), "os.rmdir": ((0, 1),), "os.mkdir": ((0, 2),),
    "os.rename": ((0, 2), (1, 3)), "shutil.rmtree": ((0, 1),), "os.truncate": ((0, None),),
    "os.chmod": ((0, 2),), "os.chown": ((0, 3),), "os.utime": ((0, 3),),
    "os.chflags": ((0, None),), "os.lchflags": ((0, None),), "os.setxattr": ((0, None),),
    "os.removexattr": ((0, None),),
}
_OTHER_PROCESS = re.compile(r"^/proc/(\d+)(/|$)")


def _inside(path: str, roots: tuple[str, ...]) -> bool:
    return any(path == root or path.startswith(root.rstrip(os.sep) + os.sep) for root in roots)


class Guard:
    """An audit hook (``sys.addaudithook``, PEP 578) that refuses what a submission must not do.

    Python calls the hook before each audited operation (opening a file, importing a module, starting
    a process...); raising an exception there stops the operation, and the student's code sees a
    :class:`Refused` (a ``PermissionError``). Paths are resolved (``realpath``: symbolic links and ``..``)
    before they are compared with these folders:

    - ``hidden``: nothing inside may be opened or listed — ``solutions/``, the recorded references,
      ``.git`` (it holds the solutions' history), the class's submissions, the results, the other
      students' work folders;
    - ``readable``: inside a hidden folder but readable (the student's own pristine copy);
    - ``writable``: the only folders where files may be written, created, renamed or removed (this run's
      sandbox and results folder). Everywhere else is read-only.

    Also refused: the statement ``import solutions`` or ``import solutions.x`` (``importlib.import_module``
    raises no audit event, but the files it would read are refused by path all the same); loading native
    code that is not part of the Python installation (a compiled module or a ``ctypes`` library the
    student brought); looking up or calling C functions through ``ctypes``; starting programs; signalling
    other processes; symbolic and hard links; reading another process's ``/proc`` entry; changing
    resource limits.

    What this is not: Python's documentation says audit hooks are no sandbox against code written to
    defeat the hook itself. This one stops a submission from reading or importing the answers through
    Python's file and import machinery, from changing files outside its folder, and from escaping
    through a child process or ``ctypes`` — the ways a student can reach the answers from ordinary Python.
    An instructor who fears an attack on the grader should grade in a copy of the repository without
    ``solutions/`` (grading needs only the recorded references), as a user who cannot read it.
    """

    def __init__(self, hidden, readable, writable, trusted):
        def clean(paths):
            return tuple(sorted({os.path.realpath(p) for p in paths if p}))

        self.hidden, self.readable = clean(hidden), clean(readable)
        self.writable, self.trusted = clean(writable), clean(trusted)
        self.pid = os.getpid()
        # Bound now: a submission that replaces os.path.realpath later does not change what the hook sees.
        self._realpath, self._isdir, self._readlink = os.path.realpath, os.path.isdir, os.readlink

    def install(self) -> None:
        sys.addaudithook(self)

    # -- paths ---------------------------------------------------------------------------------------
    def _resolve(self, path, dir_fd=None) -> str | None:
        """An absolute, symlink-free path, or ``None`` for an open file descriptor (already allowed)."""
        if isinstance(path, int) or path is None:
            return None
        path = os.fsdecode(os.fspath(path))
        if dir_fd not in (None, -1) and not os.path.isabs(path):
            if ".." in Path(path).parts:  # relative to a folder we can't see: only plain names
                raise Refused(f"the grader does not allow '..' in a path relative to a folder descriptor ({path})")
            try:
                path = os.path.join(self._readlink(f"/proc/self/fd/{dir_fd}"), path)
            except OSError:
                pass  # no /proc (macOS): resolve against the working folder
        return self._realpath(path)

    def _check_read(self, path: str, what: str) -> None:
        if _inside(path, self.writable) or _inside(path, self.readable):
            return
        if _inside(path, self.hidden):
            raise Refused(f"the grader does not allow {what} {path} (student code may not read the solutions, "
                          "the reference outputs or other students' work)")
        match = _OTHER_PROCESS.match(path)
        if match and int(match.group(1)) != self.pid:
            raise Refused(f"the grader does not allow {what} {path} (another process)")

    def _check_write(self, path: str, what: str) -> None:
        if not _inside(path, self.writable):
            raise Refused(f"the grader does not allow {what} {path} (student code may only change files in "
                          "its own working folder)")

    # -- the hook ------------------------------------------------------------------------------------
    def __call__(self, event: str, args: tuple) -> None:
        if event == "open":
            self._on_open(*args[:3])
        elif event in ("os.listdir", "os.scandir"):
            target = args[0] if args and args[0] is not None else "."  # None: the working folder
            if (path := self._resolve(target)) is not None:
                self._check_read(path, "listing")
        elif event in _CHANGE_EVENTS:
            for path_at, fd_at in _CHANGE_EVENTS[event]:
                fd = None if fd_at is None else args[fd_at]
                if (path := self._resolve(args[path_at], fd)) is not None:
                    self._check_write(path, f"{event.split('.')[-1]} of")
        elif event in ("os.symlink", "os.link"):
            raise Refused(f"the grader does not allow {event} (links could point into the solutions)")
        elif event in _PROCESS_EVENTS:
            raise Refused(f"the grader does not allow {event} (student code may not start other programs)")
        elif (event == "os.kill" and args[0] != self.pid) or event == "os.killpg":
            raise Refused(f"the grader does not allow {event} (student code may not signal other processes)")
        elif event == "import":
            self._on_import(args[0], args[1] if len(args) > 1 else None)
        elif event == "ctypes.dlopen":
            name = args[0]
            # A bare library name ("libc.so.6") is found by the system loader in the system's folders;
            # a path must lie inside the Python installation. None would expose the whole process.
            if name is None or ("/" in str(name) and not _inside(self._realpath(str(name)), self.trusted)):
                raise Refused(f"the grader does not allow loading native library {name!r}")
        elif event in ("ctypes.dlsym", "ctypes.dlsym/handle", "ctypes.call_function"):
            raise Refused(f"the grader does not allow {event} (calling C functions through ctypes)")
        elif event == "resource.setrlimit":
            raise Refused("the grader does not allow changing resource limits")

    def _on_open(self, path, mode, flags) -> None:
        resolved = self._resolve(path)
        if resolved is None:
            return
        writing = bool(flags & _WRITE_FLAGS) if isinstance(flags, int) else any(c in str(mode) for c in "wax+")
        if writing:
            self._check_write(resolved, "writing")
            return
        self._check_read(resolved, "reading")
        if mode is None:  # os.open (builtins open passes its mode string)
            # A folder descriptor from os.open lets later calls name files relative to it (dir_fd=...),
            # which the "open" event does not report. Allow folder descriptors only where we write anyway.
            raw = os.fsdecode(os.fspath(path))
            if not os.path.isabs(raw) and ".." in Path(raw).parts:
                raise Refused(f"the grader does not allow os.open of {raw} ('..' in a relative path)")
            if self._isdir(resolved) and not _inside(resolved, self.writable):
                raise Refused(f"the grader does not allow opening the folder {resolved}")

    def _on_import(self, name, filename) -> None:
        if name == "solutions" or str(name).startswith("solutions."):
            raise Refused(f"the grader does not allow import {name} (the solutions are not available here)")
        if filename:  # a compiled extension module: only those installed with Python or its packages
            resolved = self._realpath(os.fsdecode(filename))
            if not _inside(resolved, self.trusted):
                raise Refused(f"the grader does not allow loading compiled module {resolved}")


def trusted_dirs() -> list[str]:
    """Where the Python installation and its packages live: native code from there may load."""
    paths = {sys.prefix, sys.base_prefix, sys.exec_prefix, sys.base_exec_prefix}
    paths.update(v for k, v in sysconfig.get_paths().items() if k in ("stdlib", "platstdlib", "purelib", "platlib"))
    paths.update(p for p in sys.path if "site-packages" in p or "dist-packages" in p)
    return sorted(p for p in paths if p)


# -------------------------------------------------------------------------------------------- running
class Reporter:
    """Writes the status lines. The file is opened before the guard is installed and kept open."""

    def __init__(self, path: Path):
        self._file = open(path, "a", buffering=1, encoding="utf-8")  # noqa: SIM115 - open for the whole run

    def __call__(self, event: str, **fields) -> None:
        try:
            self._file.write(json.dumps({"event": event, **fields}) + "\n")
            self._file.flush()
        except Exception:  # noqa: BLE001 - student code closed our file: nothing more can be reported
            os._exit(3)


def _preload(modules) -> None:
    """Import heavy libraries before the guard goes up (see the module docstring); skip absent ones."""
    for name in modules:
        try:
            importlib.import_module(name)
        except Exception:  # noqa: BLE001 - an optional library that is not installed here
            continue


def _limit_resources() -> None:
    try:
        import resource
    except ImportError:  # not POSIX
        return
    resource.setrlimit(resource.RLIMIT_FSIZE, (MAX_FILE_BYTES, MAX_FILE_BYTES))
    resource.setrlimit(resource.RLIMIT_CORE, (0, 0))


def _output_bytes(outputs: dict) -> int:
    return sum(v.nbytes if hasattr(v, "nbytes") else len(json.dumps(v)) for v in outputs.values())


def run_exercise(exercise: core.Exercise, items: list, pristine: Path, work: Path, results: Path,
                 report: Reporter) -> None:
    """Import one student file (copied into the sandbox first) and run the given tests of it."""
    original = pristine / exercise.path
    if not original.is_file():
        for _, case in items:
            report("done", exercise=exercise.id, case=case.name, status="missing",
                   message=f"{exercise.path} was not handed in")
        return
    report("import", exercise=exercise.id)
    target = work / exercise.path
    status, message, module = "ok", "", None
    try:
        target.parent.mkdir(parents=True, exist_ok=True)
        shutil.copyfile(original, target)
        module = core.load_module(target, f"submission_{exercise.id}")
    except NotImplementedError as err:
        status, message = "not_attempted", f"not attempted yet ({str(err)[:200]})"
    except BaseException as err:  # noqa: BLE001 - SyntaxError, ImportError, SystemExit at import ...
        status, message = "error", f"the file does not import: {core._error_line(err)}"
    for index, case in items:
        if module is None:
            report("done", exercise=exercise.id, case=case.name, status=status, message=message)
            continue
        report("start", exercise=exercise.id, case=case.name)
        report("done", exercise=exercise.id, case=case.name,
               **run_one(case, module, results / f"{index:04d}"))


def run_one(case: core.Case, module, output_path: Path) -> dict:
    """Run one test; save its outputs; return the status fields of its ``done`` line."""
    try:
        status, outputs = core.run_case(case, module)
    except BaseException as err:  # noqa: BLE001 - sys.exit() or KeyboardInterrupt inside the student's function
        return {"status": "error", "message": f"your code stopped the test: {core._error_line(err)}"}
    if status != "ok":
        return {"status": status, "message": outputs}
    try:
        if _output_bytes(outputs) > MAX_OUTPUT_BYTES:
            return {"status": "error", "message": f"your function returned more than "
                                                  f"{MAX_OUTPUT_BYTES // 2**20} MB of values"}
        core.save_values(output_path, outputs)
    except Exception as err:  # noqa: BLE001 - a value the grader cannot store is the student's error
        return {"status": "error", "message": f"your outputs could not be saved: {core._error_line(err)}"}
    return {"status": "ok", "message": ""}


def main(argv: list[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    if len(argv) != 1:
        print("usage: python -P -m attnviz.grading.worker PLAN.json (started by attnviz.grading.grade)",
              file=sys.stderr)
        return 2
    plan = json.loads(Path(argv[0]).read_text())
    report = Reporter(Path(plan["status"]))
    exercises = {e.id: e for e in load_exercises(plan.get("case_files"))}
    _preload(plan.get("preload", []))
    sys.dont_write_bytecode = True  # no __pycache__ beside the student's files
    work, results, pristine = Path(plan["work"]), Path(plan["results"]), Path(plan["submission"])
    os.chdir(work)
    _limit_resources()
    Guard(hidden=plan["hidden"] + [str(core.SOLUTIONS_DIR), str(core.REFERENCE_DIR), str(REPO_ROOT / ".git")],
          readable=[str(pristine)], writable=plan["writable"], trusted=trusted_dirs()).install()

    # Group the planned (index, exercise, case) triples by exercise, keeping their order.
    groups: dict[str, list] = {}
    for index, exercise_id, case_name in plan["items"]:
        exercise = exercises[exercise_id]
        groups.setdefault(exercise_id, []).append((index, exercise.case(case_name)))
    for exercise_id, items in groups.items():
        run_exercise(exercises[exercise_id], items, pristine, work, results, report)
    report("finished")
    # os._exit, not return: a thread the student started must not keep this process alive.
    os._exit(0)


if __name__ == "__main__":
    sys.exit(main())

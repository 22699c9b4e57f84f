"""The student's side of grading: one process that runs one submission's tests, inside the jail.

The grader (:mod:`attnviz.grading.grade`) starts this process once per student, inside bubblewrap
(:mod:`attnviz.grading.jail`), and again after a crash or a timeout for the tests that are left::

    bwrap ... python -P -m attnviz.grading.worker

It reads requests on stdin and answers on stdout (:mod:`attnviz.grading.protocol`); nothing else leaves
the jail. The first request is the plan (case files, modules to preload, limits); then, one at a time:

    {"op": "import", "exercise": id}                    copy /submission/<path> to /tmp and import it
    {"op": "case", "exercise": id, "case": name}        run one test, with the inputs the grader gives
    {"op": "quit"}

and each answer says ``status`` (``ok`` with the outputs, ``not_attempted``, ``error``) and a message. This
process **never compares anything and never sees a reference output**, except the reference results of
earlier functions that a later test takes as its input (the grader sends those only after the earlier
test has its verdict). It cannot write where the grader reads: its only writable folder is its own tmpfs.

Order of work: become the jail's unprivileged user (when bwrap started us as the namespace's root);
keep private copies of the two pipes and point ``stdout`` at ``stderr`` (a student's ``print`` must not
mix with the answers); read the plan; import the instructor's case modules and the heavy libraries
(torch, transformers...: once per worker, as are the models the cases load); set the hard limits
(address space, processes, CPU seconds, file size, open files); answer requests until told to quit.

Without a jail (``--unsafe-no-sandbox``) the same process also installs the audit hook below; Python's
documentation says an audit hook is no sandbox, and the grade report says the run was unsafe.
"""

from __future__ import annotations

import importlib
import json
import os
import shutil
import sys
import sysconfig
from pathlib import Path

from attnviz import REPO_ROOT
from attnviz.grading import core, jail, protocol

#: The largest outputs one test may send back (bytes); more is reported as an error.
MAX_OUTPUT_BYTES = 256 * 1024 * 1024
#: The largest request the worker accepts (the grader's own inputs).
MAX_REQUEST_BYTES = 1024 * 1024 * 1024

# ---------------------------------------------------------------------------------------- exercises
def load_exercises(case_files: list | None = None) -> list[core.Exercise]:
    """The exercises to grade: every one in ``attnviz/grading/cases/`` or, when given, those defined
    (``EXERCISE = Exercise(...)``) in the given case files — how the grader's own tests use a toy one."""
    if not case_files:
        return core.all_exercises()
    found = []
    for path in case_files:
        path = Path(path).resolve()
        core._CASE_FILES.add(str(path))
        module = core.load_module(path, f"attnviz_cases_{path.stem}")
        found.append(module.EXERCISE)
    return sorted(found, key=lambda e: e.path)


# -------------------------------------------------------------------------------------------- guard
# Open flags that mean "this open may change the file".
_WRITE_FLAGS = os.O_WRONLY | os.O_RDWR | os.O_APPEND | os.O_CREAT | os.O_TRUNC
# Audit events that start another program: a child process is not watched by this process's hook.
_PROCESS_EVENTS = frozenset({
    "subprocess.Popen", "os.system", "os.exec", "os.spawn", "os.posix_spawn", "os.posix_spawnp",
    "os.fork", "os.forkpty", "os.startfile", "pty.spawn",
})
# Audit events that change a path: (event, ((path argument, dir_fd argument or -1), ...)).
_CHANGE_EVENTS = (
    ("os.remove", ((0, 1),)), ("os.rmdir", ((0, 1),)), ("os.mkdir", ((0, 2),)),
    ("os.rename", ((0, 2), (1, 3))), ("shutil.rmtree", ((0, 1),)), ("os.truncate", ((0, -1),)),
    ("os.chmod", ((0, 2),)), ("os.chown", ((0, 3),)), ("os.utime", ((0, 3),)),
    ("os.chflags", ((0, -1),)), ("os.lchflags", ((0, -1),)), ("os.setxattr", ((0, -1),)),
    ("os.removexattr", ((0, -1),)),
)
# Audit events refused outright, with the reason the student sees.
_REFUSED_EVENTS = (
    ("os.symlink", "links could point into the solutions"), ("os.link", "links could point into the solutions"),
    ("os.killpg", "student code may not signal other processes"),
    ("ctypes.dlsym", "calling C functions through ctypes"), ("ctypes.dlsym/handle", "calling C functions through ctypes"),
    ("ctypes.call_function", "calling C functions through ctypes"), ("ctypes.cdata", "reading memory through ctypes"),
    ("resource.setrlimit", "changing resource limits"),
    ("sys.settrace", "tracing hooks (they could change the grader's state)"),
    ("sys.setprofile", "profiling hooks (they could change the grader's state)"),
)


# The three functions below run inside the audit hook. They use no global or built-in name: every
# function and value they need comes in as a parameter, and make_audit_hook gives those parameters as
# default values. Read them as if each parameter after the first two were a constant.

def _resolve(path, dir_fd, lstat, readlink, getcwd, fspath, is_link, encoding, denied, oserror, type_of,
             int_type, bytes_type):
    """``path`` made absolute with every symbolic link and ``..`` resolved (like ``os.path.realpath``),
    or ``None`` for an open file descriptor. ``dir_fd`` is the folder descriptor a relative path is
    relative to (-1 or ``None``: the working folder)."""
    if path is None or type_of(path) is int_type:
        return None
    path = fspath(path)
    if type_of(path) is bytes_type:
        path = path.decode(encoding, "surrogateescape")
    if not path.startswith("/"):
        base = getcwd()
        if dir_fd is not None and dir_fd != -1:
            if ".." in path.split("/"):  # relative to a folder we can't see: plain names only
                raise denied(f"the grader does not allow '..' in a path relative to a folder descriptor ({path})")
            try:
                base = readlink(f"/proc/self/fd/{dir_fd}")
            except oserror:
                pass  # no /proc (macOS): the working folder
        path = base + "/" + path
    todo = [p for p in path.split("/") if p and p != "."]
    todo.reverse()  # a stack: the next component is at the end
    done, links = [], 0
    while todo:
        part = todo.pop()
        if part == "..":
            if done:
                done.pop()
            continue
        candidate = "/" + "/".join(done + [part])
        try:
            link = is_link(lstat(candidate).st_mode)
        except oserror:
            link = False  # does not exist (yet): keep the name
        if not link:
            done.append(part)
            continue
        links += 1
        if links > 40:
            raise denied(f"the grader does not allow a chain of more than 40 symbolic links ({path})")
        target = readlink(candidate)
        if target.startswith("/"):
            done = []
        more = [p for p in target.split("/") if p and p != "."]
        more.reverse()
        todo.extend(more)
    return "/" + "/".join(done)


def _inside(path, roots):
    """Whether ``path`` is one of ``roots`` or lies under one (all absolute and resolved)."""
    for root in roots:
        if path == root or path.startswith(root + "/"):
            return True
    return False


def _audit(event, args, resolve, inside, hidden, readable, writable, trusted, pid, write_flags,
           process_events, change_names, change_events, refused_names, refused_events, is_dir, stat_of,
           this_file, function_type, denied, oserror, type_of, int_type, bytes_type, str_type, len_of):
    """The audit hook: returns when ``event`` is allowed, raises ``PermissionError`` when it is not."""
    if event == "open":
        path = resolve(args[0], None)
        if path is None:
            return
        if type_of(args[2]) is int_type and args[2] & write_flags:
            if not inside(path, writable):
                raise denied(f"the grader does not allow writing {path} (student code may only change "
                             "files in its own working folder)")
            return
        if inside(path, writable) or inside(path, readable):
            return
        if inside(path, hidden):
            raise denied(f"the grader does not allow reading {path} (student code may not read the solutions, "
                         "the reference outputs or other students' work)")
        parts = path.split("/")
        if len_of(parts) > 2 and parts[1] == "proc" and parts[2].isdigit() and int_type(parts[2]) != pid:
            raise denied(f"the grader does not allow reading {path} (another process)")
        if args[1] is None:  # os.open (builtins open passes its mode string)
            # A folder descriptor from os.open lets later calls name files relative to it (dir_fd=...),
            # which the "open" event does not report: only folders where the student may write anyway.
            raw = args[0]
            raw = raw.decode() if type_of(raw) is bytes_type else str_type(raw)
            if not raw.startswith("/") and ".." in raw.split("/"):
                raise denied(f"the grader does not allow os.open of {raw} ('..' in a relative path)")
            try:
                folder = is_dir(stat_of(path).st_mode)
            except oserror:
                folder = False
            if folder:
                raise denied(f"the grader does not allow opening the folder {path}")
    elif event == "os.listdir" or event == "os.scandir":
        target = args[0] if len_of(args) and args[0] is not None else "."  # None: the working folder
        path = resolve(target, None)
        if path is not None and inside(path, hidden) and not (inside(path, readable) or inside(path, writable)):
            raise denied(f"the grader does not allow listing {path}")
    elif event in change_names:
        for name, positions in change_events:
            if event == name:
                for path_at, fd_at in positions:
                    path = resolve(args[path_at], args[fd_at] if fd_at >= 0 else None)
                    if path is not None and not inside(path, writable):
                        raise denied(f"the grader does not allow {event} on {path} (student code may only "
                                     "change files in its own working folder)")
    elif event in process_events:
        raise denied(f"the grader does not allow {event} (student code may not start other programs)")
    elif event in refused_names:
        for name, reason in refused_events:
            if event == name:
                raise denied(f"the grader does not allow {event}: {reason}")
    elif event == "os.kill":
        if args[0] != pid:
            raise denied("the grader does not allow os.kill (student code may not signal other processes)")
    elif event == "import":
        name = str_type(args[0])
        if name == "solutions" or name.startswith("solutions."):
            raise denied(f"the grader does not allow import {name} (the solutions are not available here)")
        if len_of(args) > 1 and args[1]:  # a compiled extension module: only those installed with Python
            path = resolve(args[1], None)
            if not inside(path, trusted):
                raise denied(f"the grader does not allow loading the compiled module {path}")
    elif event == "ctypes.dlopen":
        # A bare library name ("libc.so.6") is found by the system loader in the system's folders; a path
        # must lie inside the Python installation. None would expose the whole process.
        name = args[0]
        if name is None or ("/" in str_type(name) and not inside(resolve(name, None), trusted)):
            raise denied(f"the grader does not allow loading the native library {name!r}")
    elif event == "object.__setattr__" or event == "object.__delattr__":
        target = args[0]
        if type_of(target) is function_type and target.__code__.co_filename == this_file:
            raise denied("the grader does not allow changing its own functions")


def make_audit_hook(hidden, readable, writable, trusted):
    """The audit hook that refuses what a submission must not do (install it with ``sys.addaudithook``).

    Python calls an audit hook (PEP 578) before each audited operation — opening a file, listing a
    folder, importing a module, starting a process... — and an exception raised there stops the
    operation: the student's code sees a ``PermissionError`` that says why. Paths are resolved (symbolic
    links, ``..``) before they are compared with these folders:

    - ``hidden``: nothing inside may be opened or listed — ``solutions/``, the recorded references,
      ``.git`` (it holds the solutions' history), the class's submissions and results, the other
      students' work folders;
    - ``readable``: inside a hidden folder but readable (the student's own pristine copy);
    - ``writable``: the only folders where files may be written, created, renamed or removed (this run's
      sandbox and results folder). Everywhere else is read-only.

    Also refused: the statement ``import solutions`` or ``import solutions.x`` (``importlib.import_module``
    raises no audit event, but the files it would read are refused by path all the same); native code
    that is not part of the Python installation (a compiled module or a ``ctypes`` library the student
    brought); looking up or calling C functions and reading memory through ``ctypes``; starting
    programs; signalling other processes; symbolic and hard links; another process's ``/proc`` entry;
    changing resource limits; tracing and profiling hooks.

    Why it is built this way: the student's code runs in this process and can rebind any name it can
    reach — ``os.path.realpath``, a function of this module, a class's method, a built-in. So the hook is
    a fresh copy of :func:`_audit` (and of its helpers) whose globals are empty and whose parameters
    after ``(event, args)`` are given, here, as default values: the C functions and folders it needs are
    fixed before any student code exists. Defaults live in a tuple, which cannot be changed in place,
    and replacing a function's defaults or code is an audited event the hook refuses for this file.

    What this is not: Python's documentation says audit hooks are no sandbox against code written to
    defeat them — ``ctypes.memmove``, for one, raises no audit event and can write anywhere in memory. The
    hook stops a submission from reading or importing the answers through Python's file and import
    machinery, from changing files outside its folder, and from escaping through a child process. An
    instructor who fears a determined attack on the grader itself should grade in a copy of the
    repository without ``solutions/`` (grading needs only the recorded references), as a user who cannot
    read the original, or in a container.
    """
    import posix
    import stat
    import types

    def clean(paths) -> tuple:
        return tuple(sorted({os.path.realpath(p) for p in paths if p}))

    def rebuild(function, defaults):
        """A copy of ``function`` with empty globals (no name to rebind) and these parameter defaults."""
        return types.FunctionType(function.__code__, {"__builtins__": {}}, f"attnviz_guard{function.__name__}",
                                  tuple(defaults))

    resolve = rebuild(_resolve, (posix.lstat, posix.readlink, posix.getcwd, posix.fspath, stat.S_ISLNK,
                                 sys.getfilesystemencoding(), PermissionError, OSError, type, int, bytes))
    inside = rebuild(_inside, ())
    return rebuild(_audit, (
        resolve, inside, clean(hidden), clean(readable), clean(writable), clean(trusted), os.getpid(),
        _WRITE_FLAGS, _PROCESS_EVENTS, frozenset(name for name, _ in _CHANGE_EVENTS), _CHANGE_EVENTS,
        frozenset(name for name, _ in _REFUSED_EVENTS), _REFUSED_EVENTS, stat.S_ISDIR, posix.stat,
        _audit.__code__.co_filename, types.FunctionType, PermissionError, OSError, type, int, bytes, str, len,
    ))


def trusted_dirs() -> list[str]:
    """Where the Python installation and its packages live: native code from there may load."""
    paths = {sys.prefix, sys.base_prefix, sys.exec_prefix, sys.base_exec_prefix}
    paths.update(v for k, v in sysconfig.get_paths().items() if k in ("stdlib", "platstdlib", "purelib", "platlib"))
    paths.update(p for p in sys.path if "site-packages" in p or "dist-packages" in p)
    return sorted(p for p in paths if p)


# -------------------------------------------------------------------------------------------- running
def _preload(modules) -> None:
    """Import heavy libraries once, before any student code; skip absent ones."""
    for name in modules:
        try:
            importlib.import_module(name)
        except Exception:  # noqa: BLE001 - an optional library that is not installed here
            continue


def _cpu_seconds() -> float:
    """CPU seconds of this worker and its finished children so far (the grader's throughput figure)."""
    import resource

    own, children = resource.getrusage(resource.RUSAGE_SELF), resource.getrusage(resource.RUSAGE_CHILDREN)
    return own.ru_utime + own.ru_stime + children.ru_utime + children.ru_stime


def _output_bytes(outputs: dict) -> int:
    return sum(v.nbytes if hasattr(v, "nbytes") else len(json.dumps(v)) for v in outputs.values())


class Worker:
    """Answers the grader's requests for one submission (see the module docstring)."""

    def __init__(self, plan: dict, send):
        self.plan, self.send = plan, send
        self.exercises = {e.id: e for e in load_exercises(plan.get("case_files"))}
        self.submission = Path(plan["submission"])
        self.work = Path(plan["work"])
        self.modules: dict[str, object] = {}

    def do_import(self, exercise: core.Exercise) -> dict:
        original = self.submission / exercise.path
        if not original.is_file():
            return {"status": "missing", "message": f"{exercise.path} was not handed in"}
        target = self.work / exercise.path
        try:
            target.parent.mkdir(parents=True, exist_ok=True)
            shutil.copyfile(original, target)
            self.modules[exercise.id] = core.load_module(target, f"submission_{exercise.id}")
        except NotImplementedError as err:
            return {"status": "not_attempted", "message": f"not attempted yet ({str(err)[:200]})"}
        except BaseException as err:  # noqa: BLE001 - SyntaxError, ImportError, SystemExit at import ...
            return {"status": "error", "message": f"the file does not import: {core.error_line(err)}"}
        return {"status": "ok", "message": ""}

    def do_case(self, exercise: core.Exercise, case: core.Case, given: dict) -> tuple[dict, dict]:
        module = self.modules.get(exercise.id)
        if module is None:
            return {"status": "error", "message": "the file was not imported"}, {}
        try:
            status, outputs = core.run_case(case, module, given)
        except BaseException as err:  # noqa: BLE001 - sys.exit() or KeyboardInterrupt inside the student's code
            return {"status": "error", "message": f"your code stopped the test: {core.error_line(err)}"}, {}
        if status != "ok":
            return {"status": status, "message": outputs}, {}
        if _output_bytes(outputs) > MAX_OUTPUT_BYTES:
            return {"status": "error", "message": f"your function returned more than "
                                                  f"{MAX_OUTPUT_BYTES // 2**20} MB of values"}, {}
        return {"status": "ok", "message": ""}, outputs

    def answer(self, header: dict, values: dict) -> None:
        op, exercise = header.get("op"), self.exercises.get(header.get("exercise"))
        if exercise is None:
            self.send({"event": "bad_request", "message": f"unknown exercise {header.get('exercise')!r}"})
            return
        if op == "import":
            self.send({"event": "imported", "exercise": exercise.id, **self.do_import(exercise)})
        elif op == "case":
            case = exercise.case(header["case"])
            fields, outputs = self.do_case(exercise, case, values)
            try:
                self.send({"event": "done", "exercise": exercise.id, "case": case.name, "cpu": _cpu_seconds(),
                           **fields}, outputs)
            except (TypeError, ValueError) as err:  # a value the protocol cannot carry
                self.send({"event": "done", "exercise": exercise.id, "case": case.name, "status": "error",
                           "message": f"your outputs could not be sent back: {core.error_line(err)}"})


def main(argv: list[str] | None = None) -> int:
    jail.drop_to_jail_user()
    # Private copies of the two pipes; stdin reads nothing, a student's print() goes to stderr.
    requests_fd, replies_fd = os.dup(0), os.dup(1)
    devnull = os.open(os.devnull, os.O_RDONLY)
    os.dup2(devnull, 0)
    os.dup2(2, 1)
    sys.stdout = sys.stderr

    def send(header: dict, values: dict | None = None) -> None:
        message = protocol.encode(header, values)
        try:
            protocol.write(replies_fd, message)
        except Exception:  # noqa: BLE001 - the pipe is gone or was closed by student code: nothing to say
            os._exit(3)

    reader = protocol.Reader(requests_fd, MAX_REQUEST_BYTES)
    try:
        plan, _ = reader.read()
    except protocol.ChannelClosed:
        return 0
    worker = Worker(plan, send)
    _preload(plan.get("preload", []))
    sys.dont_write_bytecode = True  # no __pycache__ beside the student's files
    worker.work.mkdir(parents=True, exist_ok=True)
    os.chdir(worker.work)
    jail.set_limits(plan.get("limits", {}))
    if plan.get("guard") and os.name == "posix":  # no jail (--unsafe-no-sandbox): the audit hook, best effort
        hidden = plan.get("hidden", []) + [str(core.SOLUTIONS_DIR), str(core.REFERENCE_DIR), str(REPO_ROOT / ".git")]
        sys.addaudithook(make_audit_hook(hidden, readable=[str(worker.submission)], writable=plan["writable"],
                                         trusted=trusted_dirs()))
    send({"event": "ready"})
    while True:
        try:
            header, values = reader.read()
        except Exception:  # noqa: BLE001 - the grader went away, or sent nothing usable
            os._exit(0)
        if header.get("op") == "quit":
            break
        worker.answer(header, values)
    # os._exit, not return: a thread the student started must not keep this process alive.
    os._exit(0)


if __name__ == "__main__":
    sys.exit(main())

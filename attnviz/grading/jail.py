"""The jail every grading worker runs in: bubblewrap (``bwrap``), the sandbox under Flatpak.

Each submission's worker is started as::

    bwrap --unshare-user --unshare-pid --unshare-net --unshare-ipc --unshare-uts --die-with-parent ...
          python -P -m attnviz.grading.worker

with a root file system built only of read-only binds of what the worker needs — the system's ``/usr``,
the Python installation and the virtual environment, the course's own ``attnviz`` (without
``attnviz/grading/reference``: an empty folder is mounted over it), the lessons and ``data/`` — plus the
student's own pristine copy (read-only, at ``/submission``), and an empty private ``/tmp`` (a size-limited
tmpfs) where the worker copies the files it imports. ``solutions/``, ``.git``, ``tests/``, the recorded
references, the grader's results folder, the other students and the host's temp folder do not exist in
there. The network is a loopback with nothing on it. The worker talks to the grader over its stdin and
stdout pipes only (:mod:`attnviz.grading.protocol`); the grader, outside, reads the references and
writes the results.

The processes in the jail run as an unprivileged user (uid 65534, *nobody*) of a user namespace of their
own. When the grader itself runs as an ordinary user, bwrap maps that uid to the grader's. When the grader
runs as root (a container, a CI machine), mapping the jail's uid to root would exempt it from the process
limit (the kernel never applies ``RLIMIT_NPROC`` to root), so the grader prepares a user namespace in which
uid 65534 is the host's uid 65534, bwrap joins it (``--userns``), and the worker gives up its uid before any
student code exists (:func:`drop_to_jail_user`). Either way ``RLIMIT_NPROC`` counts the processes of that
uid *in that namespace*, so each jail has its own process limit (Linux ≥ 5.14 counts limits per user
namespace).

``--unshare-pid`` makes the worker's processes a PID namespace of their own: when its first process dies,
the kernel kills every other one, detached or not. :func:`survivors` checks that none is left before the
grader writes anything.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path

from attnviz import REPO_ROOT

#: The uid (and gid) the submission runs as: ``nobody``.
JAIL_UID = 65534
#: Where the student's pristine copy is mounted (read-only) inside the jail.
SUBMISSION_MOUNT = "/submission"
#: Where extra case files (the grader's own tests use toy ones) are mounted inside the jail.
CASES_MOUNT = "/grading-cases"
#: One line that says how to get bubblewrap.
INSTALL_HINT = ("bubblewrap (bwrap) is not installed: `sudo apt-get install bubblewrap` (Debian, Ubuntu), "
                "`sudo dnf install bubblewrap` (Fedora) or `sudo pacman -S bubblewrap` (Arch); macOS and Windows "
                "have none (grade in a Linux VM or container). To grade WITHOUT a sandbox anyway, pass "
                "--unsafe-no-sandbox (make grade UNSAFE=1).")

#: Course folders the worker may read: the package, the lessons (graded code imports them) and data/.
COURSE_PARTS = ("attnviz", "01_beginner", "02_intermediate", "03_advanced", "data", "pyproject.toml")
#: Inside those, folders that must look empty in the jail.
HIDDEN_PARTS = ("attnviz/grading/reference",)


@dataclass
class JailLimits:
    """Hard limits of one worker (``setrlimit`` in the worker before any student code; the student cannot
    raise a hard limit). ``memory`` is address space (``RLIMIT_AS``) in bytes."""

    memory: int = 4 * 2**30
    processes: int = 64  # threads count too: torch, tokenizers and OpenMP start a few
    cpu_seconds: int = 1800
    file_bytes: int = 256 * 2**20
    tmpfs_bytes: int = 512 * 2**20
    open_files: int = 256


def find_bwrap() -> str | None:
    return shutil.which("bwrap")


def _system_binds() -> list[str]:
    """``/usr`` and its companions (links such as ``/lib -> usr/lib`` stay links) and the few files of
    ``/etc`` the loader and time zones use."""
    args = []
    for top in ("usr", "lib", "lib32", "lib64", "libx32", "bin", "sbin"):
        path = Path("/") / top
        if path.is_symlink():
            args += ["--symlink", os.readlink(path), str(path)]
        elif path.is_dir():
            args += ["--ro-bind", str(path), str(path)]
    for name in ("ld.so.cache", "localtime", "nsswitch.conf", "passwd", "group"):
        path = Path("/etc") / name
        if path.exists():
            args += ["--ro-bind", str(path), str(path)]
    return args


def _python_roots() -> list[Path]:
    """The Python installation and the virtual environment (resolved), outside ``/usr``."""
    roots = []
    for raw in {sys.prefix, sys.base_prefix, sys.exec_prefix, sys.base_exec_prefix,
                str(Path(os.path.realpath(sys.executable)).parent.parent)}:
        path = Path(os.path.realpath(raw))
        if path == Path("/") or path.is_relative_to("/usr"):
            continue
        roots.append(path)
    # keep the outermost of nested roots
    roots.sort(key=lambda p: len(p.parts))
    kept: list[Path] = []
    for root in roots:
        if not any(root.is_relative_to(k) for k in kept):
            kept.append(root)
    return kept


def _dirs_for(paths: list[Path]) -> list[str]:
    """``--dir`` for every ancestor of the bound paths, mode 0755, so that the jail's user can walk to them
    (bwrap would otherwise create them with a mode that only its root can cross)."""
    made: set[Path] = set()
    args = []
    for path in paths:
        for parent in reversed(path.parents):
            if parent == Path("/") or parent in made or parent.is_relative_to("/usr"):
                continue
            made.add(parent)
            args += ["--perms", "0755", "--dir", str(parent)]
    return args


def bwrap_command(bwrap: str, worker: list[str], *, submission: Path, case_files: list[Path],
                  env: dict, limits: JailLimits, userns_fd: int | None, info_fd: int) -> list[str]:
    """The full bwrap command line for one worker (see the module docstring for what it builds)."""
    course = [REPO_ROOT / part for part in COURSE_PARTS if (REPO_ROOT / part).exists()]
    pythons = _python_roots()
    args = [bwrap, "--die-with-parent", "--new-session", "--unshare-pid", "--unshare-net", "--unshare-ipc",
            "--unshare-uts", "--unshare-cgroup-try", "--hostname", "jail", "--info-fd", str(info_fd)]
    if userns_fd is None:
        args += ["--unshare-user", "--uid", str(JAIL_UID), "--gid", str(JAIL_UID)]
    else:  # root: join the prepared namespace as its root, keep only what it takes to become nobody
        args += ["--userns", str(userns_fd), "--cap-drop", "ALL", "--cap-add", "CAP_SETUID",
                 "--cap-add", "CAP_SETGID"]
    args += _system_binds()
    # The private /tmp first: the course or the venv may live under /tmp (a CI clone, say), and a tmpfs
    # mounted after their binds would hide them.
    args += ["--proc", "/proc", "--dev", "/dev",
             "--size", str(limits.tmpfs_bytes), "--perms", "1777", "--tmpfs", "/tmp"]
    args += _dirs_for([*pythons, *course])
    for path in pythons:
        args += ["--ro-bind", str(path), str(path)]
    for path in course:
        args += ["--ro-bind", str(path), str(path)]
    for part in HIDDEN_PARTS:
        if (REPO_ROOT / part).exists():
            args += ["--perms", "0555", "--tmpfs", str(REPO_ROOT / part)]
    args += ["--ro-bind", str(submission), SUBMISSION_MOUNT]
    if case_files:
        args += ["--perms", "0755", "--dir", CASES_MOUNT]
    for index, path in enumerate(case_files):
        args += ["--ro-bind", str(path), f"{CASES_MOUNT}/{index}_{path.name}"]
    args += ["--remount-ro", "/", "--chdir", "/tmp", "--clearenv"]
    for key, value in sorted(env.items()):
        args += ["--setenv", key, value]
    return args + worker


def jailed_case_paths(case_files: list[Path]) -> list[str]:
    """Where :func:`bwrap_command` mounts the given case files, in the same order."""
    return [f"{CASES_MOUNT}/{i}_{Path(p).name}" for i, p in enumerate(case_files)]


# ------------------------------------------------------------------------------- root: a user namespace
class RootUserNamespace:
    """For a grader running as root: a user namespace where uid/gid 0 and 65534 are the host's own, held
    open by a sleeping ``unshare`` process. bwrap joins it (``--userns FD``) as its root, builds the jail,
    and the worker becomes uid 65534 — an ordinary user to the kernel, so ``RLIMIT_NPROC`` applies."""

    def __init__(self):
        self.holder = subprocess.Popen(["unshare", "--user", "sleep", "3600"], stdin=subprocess.DEVNULL,
                                       stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        own = os.readlink("/proc/self/ns/user")
        deadline = time.monotonic() + 10
        while os.readlink(f"/proc/{self.holder.pid}/ns/user") == own:
            if time.monotonic() > deadline or self.holder.poll() is not None:
                self.close()
                raise RuntimeError("could not create a user namespace for the jail (`unshare --user`)")
            time.sleep(0.002)
        mapping = f"0 0 1\n{JAIL_UID} {JAIL_UID} 1\n".encode()
        for name in ("uid_map", "gid_map"):  # one write each, as the kernel requires
            fd = os.open(f"/proc/{self.holder.pid}/{name}", os.O_WRONLY)
            try:
                os.write(fd, mapping)
            finally:
                os.close(fd)
        self.fd = os.open(f"/proc/{self.holder.pid}/ns/user", os.O_RDONLY)

    def close(self) -> None:
        if getattr(self, "fd", None) is not None:
            os.close(self.fd)
            self.fd = None
        if self.holder.poll() is None:
            self.holder.kill()
        self.holder.wait()


def drop_to_jail_user() -> None:
    """In the worker, first thing: become uid/gid 65534 with no capabilities (a no-op when already)."""
    if os.environ.get("ATTNVIZ_JAIL") != "1" or os.getuid() != 0:
        return
    os.setgroups([])
    os.setresgid(JAIL_UID, JAIL_UID, JAIL_UID)
    os.setresuid(JAIL_UID, JAIL_UID, JAIL_UID)  # from uid 0 to another: the kernel clears every capability
    if os.getuid() != JAIL_UID or os.geteuid() != JAIL_UID:
        os._exit(97)


def set_limits(limits: dict) -> None:
    """Hard resource limits for this process and its children (the worker calls it before student code)."""
    import resource

    table = {"memory": resource.RLIMIT_AS, "processes": resource.RLIMIT_NPROC,
             "cpu_seconds": resource.RLIMIT_CPU, "file_bytes": resource.RLIMIT_FSIZE,
             "open_files": resource.RLIMIT_NOFILE}
    resource.setrlimit(resource.RLIMIT_CORE, (0, 0))
    for name, which in table.items():
        value = limits.get(name)
        if value:
            resource.setrlimit(which, (int(value), int(value)))


# ---------------------------------------------------------------------------------------- survivors
def read_info(fd: int, timeout: float) -> dict:
    """bwrap's ``--info-fd`` JSON (it names the jail's first process, ``child-pid``); ``{}`` if none."""
    import select

    data = b""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        ready, _, _ = select.select([fd], [], [], max(0.0, deadline - time.monotonic()))
        if not ready:
            break
        chunk = os.read(fd, 4096)
        if not chunk:
            break
        data += chunk
        try:
            return json.loads(data)
        except ValueError:
            continue
    return {}


def pid_namespace(pid: int) -> str | None:
    try:
        return os.readlink(f"/proc/{pid}/ns/pid")
    except OSError:
        return None


def survivors(namespace: str | None) -> list[int]:
    """Host pids of processes still alive in the jail's PID namespace (empty when it is gone)."""
    if not namespace:
        return []
    alive = []
    for entry in os.listdir("/proc"):
        if entry.isdigit() and pid_namespace(int(entry)) == namespace and _state(int(entry)) != "Z":
            alive.append(int(entry))
    return alive


def _state(pid: int) -> str:
    """The process's state letter from ``/proc/PID/stat`` (``"Z"``: a zombie, already dead, waiting only to
    be reaped by its parent — which may be an init process that reaps late; ``"Z"`` too once it is gone)."""
    try:
        with open(f"/proc/{pid}/stat") as stat:
            return stat.read().rsplit(")", 1)[1].split()[0]  # the command name may itself contain ")"
    except (OSError, IndexError):
        return "Z"

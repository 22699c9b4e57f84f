"""Generate the students' ``exercises/`` from the reference ``solutions/``.

A solution file marks each block a student must write::

    def rollout(layers):
        \"\"\"... docstring with shapes ...\"\"\"
        # BEGIN SOLUTION
        ...reference code...
        # END SOLUTION

The generated exercise keeps everything else (docstrings, signatures, imports, helpers given to the
student) and replaces each marked block with ``raise NotImplementedError("...")`` at the block's
indentation. Because ``exercises/`` is generated, it can never drift from ``solutions/``: the test suite
regenerates every file in memory and fails when a committed exercise differs (run
``make exercises`` to refresh them).

Student work is never overwritten. ``exercises/MANIFEST.json`` records a fingerprint (SHA-256) of every
file as generated; a file whose content no longer matches its fingerprint has been *attempted* (someone
wrote in it), and ``generate`` refuses to replace it unless forced. Students work in a copy of their own:
``make mywork`` copies ``exercises/`` to the git-ignored ``mywork/`` (only files not already there) and
``make check`` grades ``mywork/`` when it exists.

    python -m attnviz.exercises generate [--force]   # write exercises/ from solutions/
    python -m attnviz.exercises check                # exit 1 if any exercise file is stale
    python -m attnviz.exercises mywork               # copy exercises/ to mywork/, never overwriting
"""

from __future__ import annotations

import hashlib
import json
import re
import shutil
import sys
from pathlib import Path

from attnviz import REPO_ROOT
from attnviz.cli import OneLineParser
from attnviz.grading.core import EXERCISES_DIR, SOLUTIONS_DIR

MANIFEST = "MANIFEST.json"
MYWORK_DIR = REPO_ROOT / "mywork"

BEGIN = re.compile(r"^(?P<indent>\s*)# BEGIN SOLUTION\s*$")
END = re.compile(r"^\s*# END SOLUTION\s*$")
DEF = re.compile(r"^\s*def (?P<name>\w+)\(")
HEADER = '"""Reference solution — '  # a solution's first line: """Reference solution — Exercise B1: ...
STUB_HEADER = '"""'  # the student's copy starts """Exercise B1: ...


def strip_solutions(source: str, filename: str = "<solution>") -> str:
    """Replace each ``# BEGIN SOLUTION`` … ``# END SOLUTION`` block with a ``NotImplementedError``."""
    out: list[str] = []
    inside = False
    function = "this function"
    for number, line in enumerate(source.splitlines(keepends=True), 1):
        if not inside and (m := DEF.match(line)):
            function = m.group("name")
        if m := BEGIN.match(line):
            if inside:
                raise ValueError(f"{filename}:{number}: BEGIN SOLUTION inside another solution block")
            inside = True
            out.append(f'{m.group("indent")}raise NotImplementedError("{function}: your code here — '
                       f'see the docstring above")\n')
            continue
        if END.match(line):
            if not inside:
                raise ValueError(f"{filename}:{number}: END SOLUTION without BEGIN SOLUTION")
            inside = False
            continue
        if not inside:
            out.append(line)
    if inside:
        raise ValueError(f"{filename}: a BEGIN SOLUTION block is never closed")
    text = "".join(out)
    if text.startswith(HEADER):
        text = STUB_HEADER + text[len(HEADER):]
    return text


def solution_files(solutions_dir: Path = SOLUTIONS_DIR) -> list[Path]:
    return sorted(p for p in solutions_dir.rglob("*.py") if p.name != "__init__.py")


def fingerprint(text: str) -> str:
    return hashlib.sha256(text.encode()).hexdigest()


def load_manifest(exercises_dir: Path = EXERCISES_DIR) -> dict:
    path = exercises_dir / MANIFEST
    try:
        return json.loads(path.read_text())
    except (OSError, ValueError):
        return {}


def attempted_files(exercises_dir: Path = EXERCISES_DIR) -> list[Path]:
    """Exercise files someone has written in: their content differs from the fingerprint recorded when
    they were generated (a file with no fingerprint counts as attempted: nothing says it is a stub)."""
    manifest = load_manifest(exercises_dir)
    found = []
    for path in sorted(exercises_dir.rglob("*.py")):
        if path.name == "__init__.py":
            continue
        rel = path.relative_to(exercises_dir).as_posix()
        if manifest.get(rel) != fingerprint(path.read_text()):
            found.append(path)
    return found


class AttemptedFiles(RuntimeError):
    """``generate`` would overwrite files a student has written in."""


def generate(check_only: bool = False, solutions_dir: Path = SOLUTIONS_DIR,
             exercises_dir: Path = EXERCISES_DIR, force: bool = False) -> list[Path]:
    """Write (or, with ``check_only``, compare) every exercise file; return the stale ones.

    A stale file that has been attempted is left alone: with ``check_only`` it is not reported (the
    student's work is not drift), and when writing, :class:`AttemptedFiles` is raised before anything is
    written, unless ``force``."""
    attempted = set(attempted_files(exercises_dir))
    stale, blocked, plan = [], [], []
    for solution in solution_files(solutions_dir):
        rel = solution.relative_to(solutions_dir)
        target = exercises_dir / rel
        wanted = strip_solutions(solution.read_text(), str(rel))
        if not target.exists() or target.read_text() != wanted:
            if target in attempted and not force:
                blocked.append(target)
                continue
            stale.append(target)
            plan.append((target, wanted))
    if check_only:
        return stale
    if blocked:
        names = ", ".join(str(p) for p in blocked)
        raise AttemptedFiles(f"not overwriting {names}: it has your work in it (work in mywork/, see "
                             "`make mywork`); to replace it with the fresh stub anyway: make exercises FORCE=1 "
                             "(python -m attnviz.exercises generate --force)")
    for target, wanted in plan:
        target.parent.mkdir(parents=True, exist_ok=True)
        target.write_text(wanted)
    manifest = {p.relative_to(exercises_dir).as_posix(): fingerprint(strip_solutions(s.read_text()))
                for s in solution_files(solutions_dir) for p in [exercises_dir / s.relative_to(solutions_dir)]}
    (exercises_dir / MANIFEST).write_text(json.dumps(manifest, indent=1, sort_keys=True) + "\n")
    return stale


def copy_mywork(exercises_dir: Path = EXERCISES_DIR, mywork_dir: Path = MYWORK_DIR) -> list[Path]:
    """Copy every exercise file into ``mywork_dir`` unless it is already there; returns the copied ones."""
    copied = []
    for path in sorted(exercises_dir.rglob("*.py")):
        target = mywork_dir / path.relative_to(exercises_dir)
        if target.exists():
            continue
        target.parent.mkdir(parents=True, exist_ok=True)
        shutil.copyfile(path, target)
        copied.append(target)
    return copied


def main(argv=None) -> int:
    parser = OneLineParser(description="Generate exercises/ from solutions/ (or check they agree).")
    parser.add_argument("command", choices=["generate", "check", "mywork"])
    parser.add_argument("--force", action="store_true", help="generate: overwrite attempted exercise files too")
    args = parser.parse_args(argv)
    if args.command == "mywork":
        copied = copy_mywork()
        kept = len([p for p in EXERCISES_DIR.rglob("*.py")]) - len(copied)
        print(f"copied {len(copied)} exercise file(s) to {MYWORK_DIR}; kept {kept} already there. "
              "Edit the files in mywork/, then run `make check`.")
        return 0
    try:
        stale = generate(check_only=args.command == "check", force=args.force)
    except AttemptedFiles as err:
        print(err, file=sys.stderr)
        return 1
    for path in stale:
        print(("stale: " if args.command == "check" else "wrote ") + str(path))
    if args.command == "check" and stale:
        print("run `make exercises` to regenerate them from solutions/")
        return 1
    print(f"{len(solution_files())} exercise files, {len(stale)} {'stale' if args.command == 'check' else 'written'}")
    return 0


if __name__ == "__main__":
    sys.exit(main())

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

    python -m attnviz.exercises generate   # write exercises/ from solutions/
    python -m attnviz.exercises check      # exit 1 if any exercise file is stale
"""

from __future__ import annotations

import argparse
import re
import sys
from pathlib import Path

from attnviz.grading.core import EXERCISES_DIR, SOLUTIONS_DIR

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


def generate(check_only: bool = False, solutions_dir: Path = SOLUTIONS_DIR,
             exercises_dir: Path = EXERCISES_DIR) -> list[Path]:
    """Write (or, with ``check_only``, compare) every exercise file; return the stale ones."""
    stale = []
    for solution in solution_files(solutions_dir):
        rel = solution.relative_to(solutions_dir)
        target = exercises_dir / rel
        wanted = strip_solutions(solution.read_text(), str(rel))
        if not target.exists() or target.read_text() != wanted:
            stale.append(target)
            if not check_only:
                target.parent.mkdir(parents=True, exist_ok=True)
                target.write_text(wanted)
    return stale


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description="Generate exercises/ from solutions/ (or check they agree).")
    parser.add_argument("command", choices=["generate", "check"])
    args = parser.parse_args(argv)
    stale = generate(check_only=args.command == "check")
    for path in stale:
        print(("stale: " if args.command == "check" else "wrote ") + str(path))
    if args.command == "check" and stale:
        print("run `make exercises` to regenerate them from solutions/")
        return 1
    print(f"{len(solution_files())} exercise files, {len(stale)} {'stale' if args.command == 'check' else 'written'}")
    return 0


if __name__ == "__main__":
    sys.exit(main())

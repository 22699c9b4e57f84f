"""The grading commands (``make check``, ``make grade``, ``make references``).

    python -m attnviz.grading check [FOLDER]                  # your own exercises/ (default), a summary
    python -m attnviz.grading grade SUBMISSIONS --out OUT     # a class: grades.csv, reports/, summary.md
        [--timeout-per-test S] [--timeout-per-student S] [--jobs N]
    python -m attnviz.grading record [EXERCISE_ID ...]        # re-record the references from solutions/

``check`` and ``grade`` compare with the recorded references only: they work without ``solutions/``.
``record`` is the one command that needs the solutions. ``check`` exits 0 whatever the points (it is a
report); a usage error exits 2.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from attnviz import REPO_ROOT
from attnviz.grading import core
from attnviz.grading import grade as grading
from attnviz.grading.worker import load_exercises


def _folder(name: str) -> Path | None:
    """A folder given on the command line: relative to the current folder, else to the repository."""
    path = Path(name)
    for candidate in (path, REPO_ROOT / path) if not path.is_absolute() else (path,):
        if candidate.is_dir():
            return candidate
    return None


def _add_limits(parser: argparse.ArgumentParser) -> None:
    defaults = grading.Limits()
    parser.add_argument("--timeout-per-test", type=float, default=defaults.per_test, metavar="S",
                        help=f"seconds one test (or importing one file) may take (default {defaults.per_test:g})")
    parser.add_argument("--timeout-per-student", type=float, default=defaults.per_student, metavar="S",
                        help=f"seconds all of one student's tests may take (default {defaults.per_student:g})")
    parser.add_argument("--cases", action="append", type=Path, metavar="FILE",
                        help="only the exercise defined in this case file (repeatable; default: every "
                             "exercise in attnviz/grading/cases/)")


def _limits(args) -> grading.Limits:
    return grading.Limits(per_test=args.timeout_per_test, per_student=args.timeout_per_student)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m attnviz.grading",
                                     description="Check and grade the course's exercises.")
    commands = parser.add_subparsers(dest="command", required=True)
    check = commands.add_parser("check", help="check one folder that mirrors exercises/ (self-study)")
    check.add_argument("folder", nargs="?", default="exercises", help="default: exercises")
    _add_limits(check)
    grade = commands.add_parser("grade", help="grade every student folder of SUBMISSIONS")
    grade.add_argument("submissions", help="a folder with one sub-folder per student, each mirroring exercises/")
    grade.add_argument("--out", default="grades", help="where grades.csv, reports/ and summary.md go")
    grade.add_argument("--jobs", type=int, default=1, help="students graded at the same time (default 1)")
    _add_limits(grade)
    record = commands.add_parser("record", help="re-record the reference outputs from solutions/")
    record.add_argument("exercise_ids", nargs="*", metavar="EXERCISE_ID", help="default: every exercise")
    args = parser.parse_args(argv)

    if args.command == "record":
        return _record(parser, args.exercise_ids)

    if any(not path.is_file() for path in args.cases or []):
        parser.error(f"--cases: no such file among {', '.join(map(str, args.cases))}")
    exercises = load_exercises(args.cases)
    if args.command == "check":
        folder = _folder(args.folder)
        if folder is None:
            parser.error(f"{args.folder} is not a folder")
        if not exercises:
            print("No exercises are defined yet (attnviz/grading/cases/ is empty): nothing to check.")
            return 0
        result = grading.check_folder(folder, limits=_limits(args), case_files=args.cases)
        print(grading.format_check(result, exercises, folder))
        return 0

    submissions = _folder(args.submissions)
    if submissions is None:
        parser.error(f"{args.submissions} is not a folder")
    if args.jobs < 1:
        parser.error("--jobs must be at least 1")
    if not exercises:
        print("No exercises are defined yet (attnviz/grading/cases/ is empty): nothing to grade.")
        return 1
    try:
        grading.grade_class(submissions, args.out, limits=_limits(args), jobs=args.jobs, case_files=args.cases)
    except ValueError as err:  # a folder layout that would hide the repository from the students' processes
        parser.error(str(err))
    return 0


def _record(parser: argparse.ArgumentParser, ids: list[str]) -> int:
    from attnviz.grading.reference import record

    if not core.SOLUTIONS_DIR.is_dir():
        print(f"{core.SOLUTIONS_DIR} does not exist: the references are recorded from the solutions, "
              "which this copy of the course does not include.", file=sys.stderr)
        return 1
    try:
        exercises = [core.get_exercise(i) for i in ids]
    except KeyError as err:
        parser.error(err.args[0])
    done = record(exercises or None)
    for exercise_id in done:
        print(f"recorded {core.reference_path(core.get_exercise(exercise_id))}.npz/.json")
    print(f"{len(done)} exercise(s) recorded")
    return 0


if __name__ == "__main__":
    sys.exit(main())

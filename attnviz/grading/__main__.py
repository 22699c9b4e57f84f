"""The grading commands (``make check``, ``make grade``, ``make references``).

    python -m attnviz.grading check [FOLDER]                  # your own work: mywork/ if it exists, else exercises/
    python -m attnviz.grading grade SUBMISSIONS --out OUT     # a class: grades.csv, reports/, summary.md
        [--timeout-per-test S] [--timeout-per-student S] [--jobs N] [--shard K/N] [--memory-gb G]
        [--unsafe-no-sandbox]
    python -m attnviz.grading merge OUT-1 OUT-2 ... --out OUT  # the --shard K/N runs of one class, merged
    python -m attnviz.grading record [EXERCISE_ID ...]        # re-record the references from solutions/

``check`` and ``grade`` compare with the recorded references only: they work without ``solutions/``.
``record`` is the one command that needs the solutions. ``grade`` runs every submission in a bubblewrap
jail and refuses without ``bwrap`` unless ``--unsafe-no-sandbox`` (or the environment variable
``UNSAFE=1``) is given. ``check`` exits 0 whatever the points (it is a
report); a usage error exits 2.
"""

from __future__ import annotations

import argparse
import os
import sys
from pathlib import Path

from attnviz import REPO_ROOT
from attnviz.cli import OneLineParser
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
    memory = int(args.memory_gb * 2**30) if getattr(args, "memory_gb", None) else grading.Limits().memory
    return grading.Limits(per_test=args.timeout_per_test, per_student=args.timeout_per_student, memory=memory)


def default_check_folder() -> str:
    """``mywork`` (the student's own copy, ``make mywork``) when it exists, else ``exercises``."""
    return "mywork" if (REPO_ROOT / "mywork").is_dir() else "exercises"


def main(argv: list[str] | None = None) -> int:
    parser = OneLineParser(prog="python -m attnviz.grading",
                           description="Check and grade the course's exercises.")
    commands = parser.add_subparsers(dest="command", required=True)
    check = commands.add_parser("check", help="check one folder that mirrors exercises/ (self-study)")
    check.add_argument("folder", nargs="?", default=None, help="default: mywork/ if it exists, else exercises/")
    _add_limits(check)
    grade = commands.add_parser("grade", help="grade every student folder of SUBMISSIONS")
    grade.add_argument("submissions", help="a folder with one sub-folder per student, each mirroring exercises/")
    grade.add_argument("--out", default="grades", help="where grades.csv, reports/ and summary.md go")
    grade.add_argument("--jobs", type=int, default=os.cpu_count() or 1,
                       help="students graded at the same time (default: the number of cores)")
    grade.add_argument("--shard", default="1/1", metavar="K/N",
                       help="grade only the K-th of every N students (sorted by name), for a job array; "
                            "then `merge` the N output folders")
    grade.add_argument("--memory-gb", type=float, default=None, metavar="G",
                       help=f"address space of one worker (default {grading.Limits().memory / 2**30:g})")
    grade.add_argument("--unsafe-no-sandbox", action="store_true",
                       help="grade without the bwrap jail (also UNSAFE=1): submissions could read the answers")
    _add_limits(grade)
    merge = commands.add_parser("merge", help="merge the output folders of `grade --shard K/N` runs")
    merge.add_argument("shards", nargs="+", help="the N output folders")
    merge.add_argument("--out", required=True, help="where the merged grades.csv, reports/ and summary.md go")
    merge.add_argument("--cases", action="append", type=Path, metavar="FILE", help="as for grade")
    record = commands.add_parser("record", help="re-record the reference outputs from solutions/")
    record.add_argument("exercise_ids", nargs="*", metavar="EXERCISE_ID", help="default: every exercise")
    args = parser.parse_args(argv)

    if args.command == "record":
        return _record(parser, args.exercise_ids)
    if args.command == "merge":
        try:
            grading.merge_shards(args.shards, args.out, case_files=args.cases)
        except (OSError, ValueError, KeyError) as err:
            parser.error(f"merge: {err}")
        return 0

    if any(not path.is_file() for path in args.cases or []):
        parser.error(f"--cases: no such file among {', '.join(map(str, args.cases))}")
    exercises = load_exercises(args.cases)
    if args.command == "check":
        args.folder = args.folder or default_check_folder()
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
    try:
        shard = grading.parse_shard(args.shard)
    except ValueError as err:
        parser.error(str(err))
    if not exercises:
        print("No exercises are defined yet (attnviz/grading/cases/ is empty): nothing to grade.")
        return 1
    unsafe = args.unsafe_no_sandbox or os.environ.get("UNSAFE", "") not in ("", "0")
    if unsafe:
        print(grading.UNSAFE_BANNER, file=sys.stderr)
    try:
        grading.grade_class(submissions, args.out, limits=_limits(args), jobs=args.jobs, case_files=args.cases,
                            sandbox=not unsafe, shard=shard)
    except grading.SandboxMissing as err:
        print(f"make grade: {err}", file=sys.stderr)
        return 2
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

"""Grading throughput: perfect students graded in the bwrap jail, students per minute.

A class of ``GRADING_BENCH_STUDENTS`` (default 4) copies of ``solutions/`` is graded with ``make grade``'s
machinery (one jailed worker per student, ``JOBS`` = the number of cores). Reported: wall time, students per
minute, and CPU seconds per student (all processes: the workers, bwrap, the grader) — the "seconds per
perfect student per core" of the specification. In the same run, the reference: the same cases run on the
solutions in this process (no jail, no worker start), whose CPU time is the floor a worker can reach.
A class of 30 on this machine is estimated from the measured CPU seconds per student and the core count.
"""

from __future__ import annotations

import os
import shutil
import sys
import tempfile
import time
from pathlib import Path

from attnviz.grading import core
from attnviz.grading import grade as grading


def in_process_cpu() -> float:
    """CPU seconds to run every case of every exercise on the solutions in this process (imports included)."""
    start = time.process_time()
    import torch

    torch.set_num_threads(1)
    for exercise in core.all_exercises():
        module = core.load_module(core.SOLUTIONS_DIR / exercise.path, f"bench_solution_{exercise.id}")
        expected = {name: entry["expected"] for name, entry in core.load_reference(exercise).items()}
        for case in exercise.cases:
            core.run_case(case, module, core.given_values(case, expected))
    return time.process_time() - start


def main() -> int:
    students = int(os.environ.get("GRADING_BENCH_STUDENTS", "4"))
    cores = os.cpu_count() or 1
    if grading.jail.find_bwrap() is None:
        print("## Grading throughput\n\nSkipped: bubblewrap (bwrap) is not installed.\n")
        return 0
    root = Path(tempfile.mkdtemp(prefix="attnviz-bench-grading-"))  # 0700, removed below
    try:
        for i in range(students):
            shutil.copytree(core.SOLUTIONS_DIR, root / "class" / f"student{i:02d}")
        wall_before = time.monotonic()
        result = grading.grade_class(root / "class", root / "out", jobs=cores, progress=False, echo=False)
        wall = time.monotonic() - wall_before
        cpu = sum(s.cpu_seconds for s in result.students)
    finally:
        shutil.rmtree(root, ignore_errors=True)
    full = sum(s.points == s.max_points for s in result.students)
    for s in result.students:  # what kept a perfect student from full marks, if anything
        for r in s.results:
            if r.status != "passed":
                print(f"{s.student}: {r.exercise}/{r.case}: {r.status}: {r.message[:300]}", file=sys.stderr)
    per_student_cpu = cpu / students
    floor = in_process_cpu()
    print("## Grading throughput (bench_grading.py)\n")
    print(f"{students} perfect students (copies of solutions/, {result.students[0].max_points} points each) graded "
          f"in bwrap jails, {cores} at a time on {cores} cores; {full} of {students} got full marks. CPU time "
          "is what the jailed workers report (the student's code, the cases, imports and model loading). The in-process "
          "floor runs the same cases on the solutions in one process, measured in the same run.\n")
    print("| measure | value |")
    print("| --- | ---: |")
    print(f"| wall time for the class | {wall:.1f} s |")
    print(f"| students per minute | {60 * students / wall:.2f} |")
    print(f"| CPU seconds per perfect student (target ≤ 20 per core) | {per_student_cpu:.1f} |")
    print(f"| in-process floor: CPU seconds for the same cases | {floor:.1f} |")
    print(f"| jail and worker overhead (per student / floor) | {per_student_cpu / floor:.2f}× |")
    print(f"| class of 30, estimated from the CPU per student on {cores} cores | "
          f"{30 * per_student_cpu / cores / 60:.1f} min |")
    return 0 if full == students else 1


if __name__ == "__main__":
    sys.exit(main())

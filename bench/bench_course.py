"""``make run`` lesson by lesson: one runner that forks per lesson against a fresh interpreter per lesson.

Runs ``python -m attnviz.course`` twice in the same session — ``--mode fork`` (the runner imports torch,
transformers, matplotlib … and loads the default models once, then forks one child per lesson) and
``--mode subprocess`` (every lesson starts a fresh interpreter, as before) — both two lessons at a time,
and reports each lesson's wall time, the total wall time, the CPU time the run used (runner and lessons
together), and the size of ``outputs/`` with the number of plotly.js copies in it. The machine may be
shared: the CPU seconds and the ratios are the figures to compare; the target (specification §8) is a
whole ``make run`` in ≤ 60 s on the 2-core machine, and ``outputs/`` ≤ 15 MB.

``BENCH_COURSE_ONLY="attention_basics attention_rollout"`` limits both runs to those lessons.
"""

from __future__ import annotations

import os
import re
import resource
import subprocess
import sys
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
OUTPUTS = REPO / "outputs"
LINE = re.compile(r"^\[\d+/\d+\] (?P<lesson>\S+): (?P<status>.+?) in (?P<seconds>[\d.]+) s")
SETUP = re.compile(r"set-up (?P<seconds>[\d.]+) s")


def run(mode: str, only: list[str]) -> dict:
    """One ``make run`` in ``mode``: per-lesson seconds, total wall and CPU seconds, outputs size."""
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    start = time.perf_counter()
    command = [sys.executable, "-m", "attnviz.course", "--mode", mode] + (["--only", *only] if only else [])
    proc = subprocess.run(command, cwd=REPO, capture_output=True, text=True)
    wall = time.perf_counter() - start
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    lessons = {m["lesson"]: (float(m["seconds"]), m["status"]) for m in map(LINE.match, proc.stdout.splitlines())
               if m}
    setup = SETUP.search(proc.stdout)
    files = [p for p in OUTPUTS.rglob("*") if p.is_file()]
    return {
        "lessons": lessons, "wall": wall, "returncode": proc.returncode,
        "cpu": (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime),
        "setup": float(setup["seconds"]) if setup else 0.0,
        "megabytes": sum(p.stat().st_size for p in files) / 1e6,
        "plotly_copies": sum(1 for p in files if p.suffix == ".html" and p.stat().st_size > 3_000_000)
        + sum(1 for p in files if p.name == "plotly.min.js"),
        "tail": proc.stderr.strip().splitlines()[-3:],
    }


def main() -> None:
    only = os.environ.get("BENCH_COURSE_ONLY", "").split()
    results = {mode: run(mode, only) for mode in ("subprocess", "fork")}  # fork last: its outputs stay
    old, new = results["subprocess"], results["fork"]

    print("## The whole course, lesson by lesson (`bench/bench_course.py`)\n")
    print("`python -m attnviz.course` twice in the same session, two lessons at a time: each lesson a fresh "
          "interpreter (`--mode subprocess`, the old runner) and one runner that imports the heavy libraries "
          "and loads the default models once, then forks per lesson (`--mode fork`, what `make run` does). "
          "Wall times are per lesson, as the runner prints them; CPU is runner and lessons together.\n")
    print("| lesson | fresh interpreter (s) | forked (s) | ratio |")
    print("|---|---|---|---|")
    for lesson in new["lessons"] | old["lessons"]:
        a, status_a = old["lessons"].get(lesson, (float("nan"), "missing"))
        b, status_b = new["lessons"].get(lesson, (float("nan"), "missing"))
        flags = "" if status_a == status_b == "ok" else f" ({status_a} / {status_b})"
        print(f"| {lesson}{flags} | {a:.1f} | {b:.1f} | {a / b:.1f}× |")
    print(f"| **whole run, wall** | {old['wall']:.0f} | {new['wall']:.0f} (set-up {new['setup']:.0f}) | "
          f"{old['wall'] / new['wall']:.1f}× |")
    print(f"| **whole run, CPU seconds** | {old['cpu']:.0f} | {new['cpu']:.0f} | {old['cpu'] / new['cpu']:.1f}× |")
    print(f"\n`outputs/` after the forked run: {new['megabytes']:.1f} MB, {new['plotly_copies']} copy of plotly.js "
          f"(target ≤ 15 MB). Target for the whole run: ≤ 60 s wall on an idle 2-core machine — "
          f"{'met' if new['wall'] <= 60 else 'NOT met'} here ({new['wall']:.0f} s; this machine's load during "
          f"the run: {os.getloadavg()[0]:.1f}).")
    for mode, result in results.items():
        if result["returncode"]:
            print(f"\n{mode} run exited {result['returncode']}: {' / '.join(result['tail'])}")


if __name__ == "__main__":
    main()

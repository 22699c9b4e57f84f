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

import json
import os
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
OUTPUTS = REPO / "outputs"


def run(mode: str, only: list[str]) -> dict:
    """One ``make run`` in ``mode``: per-lesson wall/CPU/savefig/loading seconds, totals, outputs size."""
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    start = time.perf_counter()
    with tempfile.TemporaryDirectory() as folder:
        profile = Path(folder) / "profile.json"
        command = [sys.executable, "-m", "attnviz.course", "--mode", mode, "--profile", str(profile)]
        proc = subprocess.run(command + (["--only", *only] if only else []), cwd=REPO, capture_output=True,
                              text=True)
        results = json.loads(profile.read_text())["results"] if profile.exists() else []
    wall = time.perf_counter() - start
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    files = [p for p in OUTPUTS.rglob("*") if p.is_file()]
    return {
        "lessons": {r["lesson"]: r for r in results}, "wall": wall, "returncode": proc.returncode,
        "cpu": (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime),
        "megabytes": sum(p.stat().st_size for p in files) / 1e6,
        "plotly_copies": sum(1 for p in files if p.suffix == ".html" and p.stat().st_size > 3_000_000
                             and b"plotly.js v" in p.read_bytes()[:200_000])
        + sum(1 for p in files if p.name == "plotly.min.js"),
        "tail": proc.stderr.strip().splitlines()[-3:],
    }


def _cell(result: dict | None, key: str) -> str:
    if result is None:
        return "—"
    value = result["seconds"] if key == "wall" else result.get("usage", {}).get(key)
    return "—" if value is None else f"{value:.1f}"


def main() -> None:
    only = os.environ.get("BENCH_COURSE_ONLY", "").split()
    results = {mode: run(mode, only) for mode in ("subprocess", "fork")}  # fork last: its outputs stay
    old, new = results["subprocess"], results["fork"]

    print("## The whole course, lesson by lesson (`bench/bench_course.py`)\n")
    print("`python -m attnviz.course --profile` twice in the same session, two lessons at a time: each lesson a "
          "fresh interpreter (`--mode subprocess`, the old runner) and one runner that imports the heavy "
          "libraries and loads the default models once, then forks per lesson (`--mode fork`, what `make run` "
          "does). Per lesson: wall seconds as the runner saw them, the lesson process's own CPU seconds "
          "(`wait4`), and, forked, the CPU seconds inside `savefig` and inside `from_pretrained` (models, "
          "tokenizers, image processors: what the preloading did not cover). The runner's set-up (imports and "
          "the preloaded models, paid once) is its own row.\n")
    print("| lesson | fresh: wall (s) | fresh: CPU (s) | forked: wall (s) | forked: CPU (s) | savefig (s) "
          "| loading (s) | CPU ratio |")
    print("|---|---:|---:|---:|---:|---:|---:|---:|")
    for lesson in new["lessons"] | old["lessons"]:
        a, b = old["lessons"].get(lesson), new["lessons"].get(lesson)
        statuses = {r["status"] for r in (a, b) if r}
        flags = "" if statuses == {"ok"} else f" ({' / '.join(r['status'] if r else 'missing' for r in (a, b))})"
        ratio = (f"{a['usage']['cpu'] / b['usage']['cpu']:.1f}×" if a and b and b["usage"].get("cpu") else "—")
        print(f"| {lesson}{flags} | {_cell(a, 'wall')} | {_cell(a, 'cpu')} | {_cell(b, 'wall')} | "
              f"{_cell(b, 'cpu')} | {_cell(b, 'savefig')} | {_cell(b, 'load')} | {ratio} |")
    print(f"| **whole run, wall** | {old['wall']:.0f} | | {new['wall']:.0f} | | | | "
          f"{old['wall'] / new['wall']:.1f}× (wall) |")
    print(f"| **whole run, CPU seconds** | | {old['cpu']:.0f} | | {new['cpu']:.0f} | | | "
          f"{old['cpu'] / new['cpu']:.1f}× |")
    forked = [r for r in new["lessons"].values() if r["lesson"] != "set-up"]
    savefig = sum(r["usage"].get("savefig", 0.0) for r in forked)
    loading = sum(r["usage"].get("load", 0.0) for r in forked)
    lesson_cpu = sum(r["usage"].get("cpu", 0.0) for r in forked)
    print(f"\nForked, the lessons together: {lesson_cpu:.0f} CPU-s, of which about {savefig:.0f} s "
          f"({100 * savefig / max(lesson_cpu, 1e-9):.0f} %) in `savefig` and {loading:.0f} s "
          f"({100 * loading / max(lesson_cpu, 1e-9):.0f} %) loading models that were not preloaded "
          "(CPU seconds inside those calls).")
    print(f"\n`outputs/` after the forked run: {new['megabytes']:.1f} MB, {new['plotly_copies']} copy of plotly.js "
          f"(target ≤ 15 MB: {'met' if new['megabytes'] <= 15 else 'NOT met'}). Target for the whole run: ≤ 60 s "
          f"wall on an idle 2-core machine — {'met' if new['wall'] <= 60 else 'NOT met'} here ({new['wall']:.0f} s; "
          f"this machine's load average after the run: {os.getloadavg()[0]:.1f} on {os.cpu_count()} cores).")
    for mode, result in results.items():
        if result["returncode"]:
            print(f"\n{mode} run exited {result['returncode']}: {' / '.join(result['tail'])}")


if __name__ == "__main__":
    main()

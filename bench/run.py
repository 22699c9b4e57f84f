"""``make bench``: run every ``bench/bench_*.py`` (or the ones named) and write ``bench/RESULTS.md``.

Each benchmark script prints a Markdown section (a heading, a sentence on what is measured and how, and
a table) to standard output; ratios are always measured in the same run as the thing compared with —
rollout against a plain loop, flow against per-pair networkx and scipy, ``make run`` lesson by lesson
forked against fresh interpreters, grading in the jail against the in-process floor.

    python bench/run.py                  # every benchmark, one after the other
    python bench/run.py course rollout   # only bench_course.py and bench_rollout.py

A partial run replaces only its own sections of ``RESULTS.md`` and keeps the others (each section is
fenced by ``<!-- bench: bench_x.py ... -->`` comments that say when and under what load it was measured).
Benchmarks run one at a time, never beside each other: they measure the machine.
"""

from __future__ import annotations

import os
import platform
import re
import subprocess
import sys
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
RESULTS = HERE / "RESULTS.md"
TIMEOUT_S = 1800  # per benchmark
SECTION = re.compile(r"<!-- bench: (?P<name>bench_\w+\.py)[^\n]*?-->\n(?P<body>.*?)<!-- /bench: (?P=name) -->\n?",
                     re.S)  # the fence line itself holds "->" (the load before -> after): read to its end


def chosen_scripts(names: list[str]) -> list[Path]:
    """``bench_*.py`` in name order, or those named (``course``, ``bench_course`` or ``bench_course.py``)."""
    every = sorted(HERE.glob("bench_*.py"))
    if not names:
        return every
    wanted = {n.removesuffix(".py").removeprefix("bench_") for n in names}
    unknown = wanted - {p.stem.removeprefix("bench_") for p in every}
    if unknown:
        raise SystemExit(f"bench/run.py: no benchmark called {', '.join(sorted(unknown))}; "
                         f"there are: {', '.join(p.stem.removeprefix('bench_') for p in every)}")
    return [p for p in every if p.stem.removeprefix("bench_") in wanted]


def run_one(script: Path) -> tuple[str, bool]:
    """Run one benchmark; its Markdown section fenced with its name, date, wall time and load."""
    print(f"running {script.name} ...", flush=True)
    load_before, start = os.getloadavg()[0], time.perf_counter()
    try:
        proc = subprocess.run([sys.executable, str(script)], capture_output=True, text=True, cwd=HERE.parent,
                              timeout=TIMEOUT_S)
        ok, body = proc.returncode == 0, proc.stdout.strip()
        if not ok:
            body = f"## {script.name}\n\nFAILED (exit {proc.returncode}):\n\n```\n{proc.stderr[-2000:]}\n```"
    except subprocess.TimeoutExpired:
        ok, body = False, f"## {script.name}\n\nFAILED: no result in {TIMEOUT_S} s."
    seconds = time.perf_counter() - start
    print(f"  {'done' if ok else 'FAILED'} in {seconds:.1f} s", flush=True)
    fence = (f"<!-- bench: {script.name} run {time.strftime('%Y-%m-%d %H:%M')}, {seconds:.0f} s, "
             f"load average {load_before:.1f} -> {os.getloadavg()[0]:.1f} on {os.cpu_count()} cores -->")
    return f"{fence}\n{body}\n<!-- /bench: {script.name} -->\n", ok


def merge(old_text: str, new_sections: dict[str, str], order: list[str]) -> str:
    """The sections of every benchmark in ``order``: the new ones, else the old ones kept from ``old_text``."""
    kept: dict[str, str] = {}
    for m in SECTION.finditer(old_text):  # the first section of a name is the one in force
        kept.setdefault(m["name"], m.group(0) if m.group(0).endswith("\n") else m.group(0) + "\n")
    text = "\n".join(new_sections.get(name) or kept[name] for name in order if name in new_sections or name in kept)
    legacy = old_text.split("\n## ", 1)[1] if not kept and "\n## " in old_text else ""
    if legacy and set(new_sections) != set(order):  # a file from before the fences: keep what was not re-run
        text += "\n# Earlier results (written before sections were fenced; not re-run since)\n\n## " + legacy
    return text


def header() -> str:
    import torch

    return (f"# Benchmark results\n\nWritten by `make bench` (`bench/run.py`), last on {time.strftime('%Y-%m-%d')}: "
            f"{platform.processor() or platform.machine()}, {os.cpu_count()} cores, {torch.get_num_threads()} "
            f"torch threads, Python {platform.python_version()}, torch {torch.__version__}. Each section says "
            "when it ran and the machine's load around it. On a shared machine compare the ratios measured in "
            "the same run rather than absolute times.\n")


def main(argv: list[str] | None = None) -> int:
    scripts = chosen_scripts(sys.argv[1:] if argv is None else argv)
    new, failed = {}, []
    for script in scripts:
        new[script.name], ok = run_one(script)
        if not ok:
            failed.append(script.name)
    old = RESULTS.read_text() if RESULTS.exists() else ""
    order = [p.name for p in sorted(HERE.glob("bench_*.py"))]
    RESULTS.write_text(header() + "\n" + merge(old, new, order))
    print(f"wrote {RESULTS}" + (f" — failed: {', '.join(failed)}" if failed else ""))
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())

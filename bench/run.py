"""``make bench``: run every ``bench/bench_*.py`` and collect their reports into ``bench/RESULTS.md``.

Each benchmark script prints a Markdown section (a heading, a sentence on what is measured and how, and
a table) to standard output; ratios are always measured in the same run as the thing compared with.
"""

import platform
import subprocess
import sys
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent


def main() -> int:
    sections, failed = [], []
    for script in sorted(HERE.glob("bench_*.py")):
        print(f"running {script.name} ...", flush=True)
        start = time.perf_counter()
        proc = subprocess.run([sys.executable, str(script)], capture_output=True, text=True, cwd=HERE.parent)
        if proc.returncode != 0:
            failed.append(script.name)
            sections.append(f"## {script.name}\n\nFAILED (exit {proc.returncode}):\n\n```\n{proc.stderr[-2000:]}\n```\n")
        else:
            sections.append(proc.stdout.strip() + "\n")
        print(f"  done in {time.perf_counter() - start:.1f} s", flush=True)
    import torch

    header = (f"# Benchmark results\n\nWritten by `make bench` on {time.strftime('%Y-%m-%d')}: "
              f"{platform.processor() or platform.machine()}, {torch.get_num_threads()} torch threads, "
              f"Python {platform.python_version()}, torch {torch.__version__}. Times are medians of repeated runs "
              "on a shared machine; compare ratios measured in the same run rather than absolute times.\n")
    (HERE / "RESULTS.md").write_text(header + "\n" + "\n".join(sections))
    print(f"wrote {HERE / 'RESULTS.md'}")
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())

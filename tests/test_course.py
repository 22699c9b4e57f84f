"""The course runner and gallery: order of lessons, and every registered figure on the page."""

import json

from attnviz.course import build_gallery, lesson_files
from attnviz.outputs import LessonOutputs


def test_lessons_follow_the_tier_order():
    names = [p.stem for p in lesson_files("01_beginner", "beginner")]
    assert names[:3] == ["attention_basics", "self_attention_heatmap", "attention_patterns"]


def test_gallery_lists_every_registered_file_with_caption_and_command(tmp_path):
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    from attnviz import REPO_ROOT

    out = LessonOutputs(REPO_ROOT / "01_beginner" / "attention_basics.py", tmp_path / "01_beginner" / "attention_basics",
                        quiet=True)
    fig, ax = plt.subplots()
    ax.imshow([[0.5, 0.5], [1.0, 0.0]])
    out.save_figure(fig, "first", "A caption with <angle brackets> & an ampersand.")
    (out.path("view.html")).write_text("<html></html>")
    out.register("view.html", "An interactive page.")
    manifest = json.loads((out.directory / "manifest.json").read_text())
    assert [e["file"] for e in manifest["files"]] == ["first.png", "view.html"]

    page = build_gallery(tmp_path).read_text()
    assert 'src="01_beginner/attention_basics/first.png"' in page
    assert "A caption with &lt;angle brackets&gt; &amp; an ampersand." in page  # escaped, not raw HTML
    assert 'href="01_beginner/attention_basics/view.html"' in page and "An interactive page." in page
    assert "python 01_beginner/attention_basics.py" in page  # the command that made it
    assert page.index("Beginner") < page.index("first.png")

    # a second run of the lesson starts a fresh manifest: nothing is listed twice
    LessonOutputs(REPO_ROOT / "01_beginner" / "attention_basics.py", out.directory, quiet=True)
    assert json.loads((out.directory / "manifest.json").read_text())["files"] == []


def test_forked_lessons_are_isolated_report_failures_and_time_out(tmp_path):
    import os

    from attnviz import course

    scripts = {
        "fine.py": "import attnviz, sys\nattnviz.CHANGED_BY_A_LESSON = True\nprint('hello', sys.argv[0])\n",
        "fails.py": "raise ValueError('layer: index 9 is out of range')\n",
        "exits.py": "raise SystemExit(2)\n",
        "hangs.py": "import time\ntime.sleep(60)\n",
        "busy.py": ("import time\nimport matplotlib.pyplot as plt\nend = time.process_time() + 0.6\n"
                    "while time.process_time() < end:\n    pass\nfig = plt.figure()\n"
                    "fig.savefig(__import__('os').devnull, format='png')\n"),
    }
    lessons = []
    for name, text in scripts.items():
        (tmp_path / name).write_text(text)
        lessons.append(("tmp", tmp_path / name))
    import matplotlib.figure  # noqa: F401 - imported before the fork, as the course runner does

    usage, outcomes = {}, {}
    for i, status, detail, _seconds, used in course._run_forked(lessons, timeout=3, jobs=2, profile=True):
        outcomes[lessons[i][1].name], usage[lessons[i][1].name] = (status, detail), used
    assert outcomes["fine.py"] == ("ok", "")
    assert outcomes["fails.py"][0] == "failed (exit 1)"
    assert outcomes["fails.py"][1] == "ValueError: layer: index 9 is out of range"
    assert outcomes["exits.py"][0] == "failed (exit 2)"
    assert outcomes["hangs.py"][0].startswith("timed out")
    assert outcomes["busy.py"] == ("ok", "")
    # the child's own CPU time (wait4), not its wall time: 0.6 s of spinning, 3 s of sleeping
    assert usage["busy.py"]["cpu"] >= 0.55 and usage["hangs.py"]["cpu"] < 0.5
    assert usage["busy.py"]["savefig"] > 0 and usage["fine.py"]["savefig"] == 0  # only busy.py saved a figure
    import attnviz

    assert not hasattr(attnviz, "CHANGED_BY_A_LESSON")  # the child's changes died with it
    assert os.getpid()  # still the test process


def test_gallery_csv_card_previews_its_first_rows_and_html_card_its_size(tmp_path):
    """The CSV card's table is the file's header and first rows (independently read); sizes are true."""
    import csv
    import re

    from attnviz import REPO_ROOT

    out = LessonOutputs(REPO_ROOT / "02_intermediate" / "attention_comparison.py",
                        tmp_path / "02_intermediate" / "attention_comparison", quiet=True)
    rows = [["layer", "name", "entropy"]] + [[str(i), f"tok<{i}>", f"{i / 7:.6f}"] for i in range(10)]
    with open(out.path("table.csv"), "w", newline="") as handle:
        csv.writer(handle).writerows(rows)
    out.register("table.csv", "A table.")
    out.path("page.html").write_text("x" * 3000)
    out.register("page.html", "A page of 3000 bytes.")
    page = build_gallery(tmp_path).read_text()

    table = re.search(r'<table class="csv">(.*?)</table>', page).group(1)
    header = re.findall(r"<th>(.*?)</th>", table)
    cells = [re.findall(r"<td>(.*?)</td>", row) for row in re.findall(r"<tr>(.*?)</tr>", table.split("<tbody>")[1])]
    assert header == rows[0]
    assert len(cells) == 6, "the preview shows the first 6 rows"
    for shown, (layer, name, entropy) in zip(cells, rows[1:]):
        assert shown[0] == layer and shown[1] == name.replace("<", "&lt;").replace(">", "&gt;")
        assert abs(float(shown[2]) - float(entropy)) <= 5e-4 * max(1.0, float(entropy))
    assert "first 6 of 10 rows" in page
    card = re.search(r'<figure class="card" data-kind="html".*?</figure>', page).group(0)
    assert re.search(r'class="size">2\.9 kB<', card), "3000 bytes are 2.9 kB"
    assert 'data-load="auto"' in card  # a small page previews itself when visible


def test_longest_lessons_start_first_and_unknown_ones_are_not_left_to_the_end():
    from pathlib import Path

    from attnviz.course import longest_first

    lessons = [("01_beginner", Path(f"{name}.py")) for name in ("a", "b", "c", "d", "e")]
    seconds = {"01_beginner/a.py": 3.0, "01_beginner/b.py": 25.0, "01_beginner/d.py": 7.0, "01_beginner/e.py": 7.0}
    order = [path.stem for _, path in longest_first(lessons, seconds)]
    assert order == ["c", "b", "d", "e", "a"]  # never timed first; ties keep course order
    assert [p.stem for _, p in longest_first(lessons, {})] == ["a", "b", "c", "d", "e"]

    def makespan(order_, workers=2):  # two workers, each takes the next lesson when free
        loads = [0.0] * workers
        for name in order_:
            loads[loads.index(min(loads))] += seconds.get(f"01_beginner/{name}.py", 1.0)
        return max(loads)

    # the case longest-first exists for: the long lesson last in course order
    tail = [("01_beginner", Path(f"{name}.py")) for name in ("a", "d", "e", "b")]
    assert makespan([p.stem for _, p in longest_first(tail, seconds)]) == 25.0 < makespan(["a", "d", "e", "b"])


def test_bench_run_replaces_only_the_sections_it_ran(tmp_path):
    """bench/run.py: a partial run keeps the other benchmarks' sections, in name order."""
    import importlib.util

    from attnviz import REPO_ROOT

    spec = importlib.util.spec_from_file_location("bench_run", REPO_ROOT / "bench" / "run.py")
    bench_run = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(bench_run)

    def section(name, text):
        return f"<!-- bench: {name} run 2026-01-01, 3 s -->\n## {text}\n<!-- /bench: {name} -->\n"

    order = ["bench_a.py", "bench_b.py", "bench_c.py"]
    old = "# Benchmark results\n\n" + section("bench_c.py", "C old") + "\n" + section("bench_a.py", "A old")
    merged = bench_run.merge(old, {"bench_c.py": section("bench_c.py", "C new")}, order)
    assert merged.index("A old") < merged.index("C new") and "C old" not in merged and "bench_b" not in merged
    assert bench_run.merge(merged, {}, order) == merged  # stable
    unfenced = "# Benchmark results\n\nintro\n\n## Rollout\n\n| table |\n"
    partial = bench_run.merge(unfenced, {"bench_b.py": section("bench_b.py", "B")}, order)
    assert "## B" in partial and "## Rollout\n\n| table |" in partial  # nothing lost before the fences
    assert [p.name for p in bench_run.chosen_scripts(["course", "bench_rollout.py"])] == \
        ["bench_course.py", "bench_rollout.py"]


def test_test_shares_split_whole_files_evenly_and_the_same_way_in_every_process():
    from conftest import shard_of_files, slow_reason

    costs = {"a.py": 30.0, "b.py": 20.0, "c.py": 15.0, "d.py": 10.0, "e.py": 5.0}
    shares = shard_of_files(list(costs)[::-1], 2, costs, together=())
    assert shares == shard_of_files(list(costs), 2, costs, together=())  # independent of the order files come in
    loads = {k: sum(costs[f] for f, s in shares.items() if s == k) for k in (1, 2)}
    assert sorted(loads.values()) == [40.0, 40.0]  # 30+10 and 20+15+5: the best split there is
    assert set(shard_of_files(["x.py"], 3, {}).values()) == {1}
    # files that share a per-process cache stay in one process
    paired = shard_of_files(list(costs), 2, costs, together=({"a.py", "e.py"},))
    assert paired["a.py"] == paired["e.py"]
    real = shard_of_files(["test_exercises.py", "test_exercise_mechanism.py", "test_x.py", "test_y.py"], 2)
    assert real["test_exercises.py"] == real["test_exercise_mechanism.py"]
    # the slow tier: by file or by the fixture that costs the time
    assert slow_reason("test_zoo.py", []) and slow_reason("test_grading.py", ["graded", "tmp_path"])
    assert slow_reason("test_grading.py", ["toy", "tmp_path"]) is None
    assert slow_reason("test_x.py", [], "test_bad_step_on_the_command_line_is_one_line[gru]")


def test_what_the_runner_loads_is_frozen_and_the_collector_is_on_again():
    import gc

    from attnviz.course import frozen_for_fork

    collections_while_loading = []
    gc.callbacks.append(lambda phase, info: phase == "start" and collections_while_loading.append(info))
    before = gc.get_freeze_count()
    try:
        # 200,000 new containers: far past the collector's threshold (700), so it would have run many times
        loaded = frozen_for_fork(lambda: [[i] for i in range(200_000)])
        assert collections_while_loading == []  # paused while loading
        assert gc.get_freeze_count() - before >= len(loaded)  # every list is in the permanent generation
        assert gc.isenabled()
    finally:
        gc.callbacks.pop()
        gc.unfreeze()

"""Test configuration: offline, headless, the two tiers, and the ``--submission`` option of the exercises.

    make test        = pytest -m "not slow"   # the fast tier: everything a change is checked with, in two
                                              # shares side by side (--shard 1/2 and 2/2, see the Makefile)
    make test-slow   = pytest -m slow         # the slow tier: zoo, browser, dashboard, the grading jail
    make test-all    = both tiers (CI: .ci/run runs both, and requires Chromium and bwrap)
    pytest                              # everything; the exercise tests check solutions/ (all pass)
    pytest tests/test_exercises.py --submission exercises     # the pristine stubs: all "not attempted"
    pytest tests/test_exercises.py --submission path/to/my_copy  # a student's folder mirroring exercises/
"""

import os

os.environ["HF_HUB_OFFLINE"] = "1"
os.environ["TRANSFORMERS_OFFLINE"] = "1"
os.environ.setdefault("MPLBACKEND", "Agg")
os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")

from pathlib import Path  # noqa: E402

import pytest  # noqa: E402

from attnviz import REPO_ROOT  # noqa: E402


def pytest_addoption(parser):
    parser.addoption("--submission", default=None,
                     help="folder that mirrors exercises/ to check (default: solutions/)")
    parser.addoption("--shard", default=None, metavar="K/N",
                     help="run only the K-th of N shares of the test files (balanced by FILE_CPU_SECONDS; "
                          "the other files are not even imported); `make test` runs two shares side by side, "
                          "one per core, each at one thread")
    parser.addoption("--cpu-times", default=None, metavar="JSON",
                     help="write {test id: [CPU seconds, wall seconds]} (setup, call and teardown) to this file")


# ------------------------------------------------------------------------------------ the two tiers
# Marked here (by file, or by a fixture that costs the time) rather than in each file, so that the files
# of other engineers need no edit. The reason is shown by `pytest -m slow --collect-only -q -rs`.
SLOW_FILES = {
    "test_zoo.py": "one tiny checkpoint of every supported transformers family through every lesson",
    "test_browser.py": "headless Chromium: the head and model views at 512 tokens",
    "test_gallery.py": "headless Chromium: two lessons run, then the gallery",
    "test_dashboard.py": "the Dash app in headless Chromium",
    "test_any_model.py": "tiny checkpoints of many transformers families through the lessons (like the zoo)",
}
# single tests, by function name, that run a whole lesson or command line on a real model or a long input
# (CPU seconds measured with --cpu-times on a loaded 2-core machine, 01:16 UTC 2026-11-30)
SLOW_TESTS = {
    "test_cli_with_a_2000_word_text_warns_in_one_line_each": "lesson 2.4's CLI on 2,000 words (19 CPU-s)",
    "test_bad_step_on_the_command_line_is_one_line": "lesson 2.4's CLI end to end (15 CPU-s)",
    "test_the_training_processor_does_not_warn_about_torchvision": "a fresh interpreter loads the ViT (10 CPU-s)",
    "test_docstring_and_caption_sizes_at_512_tokens": "both views at 512 tokens (9 CPU-s)",
    "test_kept_mass_is_all_of_it_for_a_short_sentence_and_less_at_512": "512 tokens (3 CPU-s)",
    "test_lesson_pointing_game_matches_a_plain_computation": "the ViT lesson's pointing game (5 CPU-s)",
    "test_lesson_runs_with_a_model_whose_labels_are_not_the_shapes_tasks": "the ViT lesson end to end (4 CPU-s)",
    "test_the_usage_line_on_a_default_size_random_vit": "a default-size ViT (4 CPU-s)",
    "test_a_real_lesson_given_a_bad_device_says_so_in_one_line": "a real lesson in a fresh interpreter (5 CPU-s)",
    "test_a_second_model_that_cannot_load_exits_2_naming_its_option": "real lessons up to the load (17 CPU-s)",
    "test_gru_three_ways": "lesson 2.4's GRU part end to end: heatmap, GIF, bars (7 CPU-s)",
}
SLOW_FIXTURES = {
    "graded": "grades a synthetic class through the command line, every student in the bwrap jail",
}


def slow_reason(file_name: str, fixture_names, test_name: str = "") -> str | None:
    """Why a test belongs to the slow tier (``None``: it is in the fast tier)."""
    if file_name in SLOW_FILES:
        return SLOW_FILES[file_name]
    if test_name.split("[")[0] in SLOW_TESTS:
        return SLOW_TESTS[test_name.split("[")[0]]
    for name in fixture_names:
        if name in SLOW_FIXTURES:
            return SLOW_FIXTURES[name]
    return None


# Seconds of each test file's fast tier, measured with --cpu-times in the two shares of `make test` (one thread
# each; 2026-11-30 04:14 UTC, load 1.8 on the 2 cores, after the numba flow solver and the draw-once figures);
# only used to split the files into shares of about equal cost. CPU seconds, less the 5 s of the first
# transformers import that every share pays once (in its first file that loads a model), except
# test_grading.py and test_course.py: their tests mostly wait (graders' workers starting, time limits running
# out, jails torn down, forked lessons timing out), so they count the wall seconds they hold their share for.
# A file not listed counts DEFAULT_FILE_CPU, a slow-tier file 0.
FILE_CPU_SECONDS: dict[str, float] = {
    "test_beginner_lessons.py": 13.9, "test_attention_flow.py": 12.0, "test_exercise_mechanism.py": 7.3,
    "test_course_models.py": 6.1, "test_plotting.py": 6.0, "test_vit_attention.py": 5.6, "test_grading.py": 5.0,
    "test_integrated_attention.py": 4.5, "test_attention_faithfulness.py": 3.6, "test_course.py": 2.7,
    "test_gradient_attention.py": 3.0, "test_cross_attention_viz.py": 2.8, "test_attention_rollout.py": 2.5,
    "test_properties.py": 2.1, "test_attention_comparison.py": 1.7, "test_bertviz_style.py": 1.6,
    "test_attention_entropy.py": 1.5, "test_attnviz_core.py": 1.3, "test_layering.py": 1.1,
    "test_multihead_visualization.py": 1.1, "test_exercises.py": 0.2,
}
DEFAULT_FILE_CPU = 5.0


def file_cost(name: str, costs=None) -> float:
    """The fast-tier cost of one test file: measured, else 0 for a slow-tier file, else DEFAULT_FILE_CPU."""
    costs = FILE_CPU_SECONDS if costs is None else costs
    return costs.get(name, 0.0 if name in SLOW_FILES else DEFAULT_FILE_CPU)


def parse_shard(text: str) -> tuple[int, int]:
    try:
        k, n = (int(part) for part in text.split("/"))
    except ValueError:
        raise pytest.UsageError(f"--shard: expected K/N such as 1/2, got {text!r}") from None
    if not 1 <= k <= n:
        raise pytest.UsageError(f"--shard: K must be between 1 and N, got {text!r}")
    return k, n


# files that share work through a per-process cache and must run in the same process: the exercise cases
# and the freshness check both use compute_reference's results (each solution runs once per test run)
TOGETHER = ({"test_exercises.py", "test_exercise_mechanism.py"},)


def shard_of_files(files, n: int, costs=None, together=TOGETHER) -> dict[str, int]:
    """Assign each file (name) to one of ``n`` shares (1..n): costliest first, each to the lightest share
    so far ("longest processing time first"); ties by name, so every process computes the same split.
    Files of one ``together`` group go to the same share, as one unit of their summed cost."""
    costs = FILE_CPU_SECONDS if costs is None else costs
    units: dict[str, list[str]] = {}
    for name in sorted(set(files)):
        group = next((min(g) for g in together if name in g), name)
        units.setdefault(group, []).append(name)

    def cost(unit: str) -> float:
        return sum(file_cost(name, costs) for name in units[unit])

    loads, shares = [0.0] * n, {}
    for unit in sorted(units, key=lambda u: (-cost(u), u)):
        lightest = loads.index(min(loads))
        loads[lightest] += cost(unit)
        shares.update({name: lightest + 1 for name in units[unit]})
    return shares


def candidate_files(config) -> list[str]:
    """The names of the test files this run was asked for (its arguments, else ``testpaths``), found before
    anything is collected: every process of ``--shard`` sees the same list, so they agree on the split."""
    names = set()
    for arg in config.args:
        path = Path(str(arg).split("::")[0])
        path = path if path.is_absolute() else Path(config.invocation_params.dir) / path
        if path.is_dir():
            names.update(found.name for found in path.rglob("test_*.py"))
        elif path.name.startswith("test_") and path.suffix == ".py":
            names.add(path.name)
    return sorted(names)


_SHARES = pytest.StashKey[dict]()


def pytest_configure(config):
    if config.getoption("--shard", None):
        k, n = parse_shard(config.getoption("--shard"))
        config.stash[_SHARES] = shard_of_files(candidate_files(config), n)
        # one thread per share: two shares on two cores, no BLAS/torch thread pools fighting over them
        for name in ("OMP_NUM_THREADS", "MKL_NUM_THREADS", "OPENBLAS_NUM_THREADS", "NUMBA_NUM_THREADS"):
            os.environ[name] = "1"


def share_of(config, file_name: str) -> int:
    """The share a test file belongs to; a file found by no argument (none should be) goes to share 1."""
    return config.stash[_SHARES].get(file_name, 1)


def pytest_ignore_collect(collection_path, config):
    """With ``--shard K/N``, the files of the other shares are not imported at all: each process pays only
    for its own files' imports and assertion rewriting."""
    if config.getoption("--shard", None) and collection_path.name.startswith("test_") \
            and collection_path.suffix == ".py":
        k, _ = parse_shard(config.getoption("--shard"))
        if share_of(config, collection_path.name) != k:
            return True
    return None


def pytest_collection_modifyitems(config, items):
    for item in items:
        reason = slow_reason(item.path.name, getattr(item, "fixturenames", ()), item.name)
        if reason is not None and item.get_closest_marker("slow") is None:
            item.add_marker(pytest.mark.slow(reason=reason))
    if config.getoption("--shard", None):
        k, _ = parse_shard(config.getoption("--shard"))
        kept = [item for item in items if share_of(config, item.path.name) == k]
        config.hook.pytest_deselected(items=[item for item in items if share_of(config, item.path.name) != k])
        items[:] = kept


@pytest.fixture(scope="session")
def submission_dir(request) -> Path:
    chosen = request.config.getoption("--submission")
    if chosen is None:
        return REPO_ROOT / "solutions"
    path = Path(chosen)
    if not path.is_absolute():
        path = (Path.cwd() / path) if (Path.cwd() / path).exists() else REPO_ROOT / path
    if not path.is_dir():
        raise pytest.UsageError(f"--submission: {chosen} is not a folder")
    return path


# ------------------------------------------------------------------ CPU seconds per test (--cpu-times)
# On a shared machine wall times (--durations) swing with the load; CPU seconds do not. Children that
# a test starts and reaps (the grading jail, lesson subprocesses) are counted too.
_CPU_TIMES: dict[str, list[float]] = {}


def _cpu_now() -> float:
    import resource

    me, children = resource.getrusage(resource.RUSAGE_SELF), resource.getrusage(resource.RUSAGE_CHILDREN)
    return me.ru_utime + me.ru_stime + children.ru_utime + children.ru_stime


@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_protocol(item, nextitem):
    import sys
    import time

    torch = sys.modules.get("torch")
    if torch is not None and item.config.getoption("--shard", None) and torch.get_num_threads() != 1:
        torch.set_num_threads(1)  # a share keeps one thread even if a test or a module import changed it
    cpu, wall = _cpu_now(), time.perf_counter()
    yield
    _CPU_TIMES[item.nodeid] = [round(_cpu_now() - cpu, 3), round(time.perf_counter() - wall, 3)]


def pytest_sessionfinish(session, exitstatus):
    path = session.config.getoption("--cpu-times", None)
    if path and _CPU_TIMES:
        import json

        Path(path).write_text(json.dumps(_CPU_TIMES, indent=0))

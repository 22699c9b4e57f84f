"""Test configuration: offline, headless, the two tiers, and the ``--submission`` option of the exercises.

    make test        = pytest -m "not slow"   # the fast tier: everything a change is checked with
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
}
SLOW_FIXTURES = {
    "graded": "grades a synthetic class through the command line, every student in the bwrap jail",
}


def slow_reason(file_name: str, fixture_names) -> str | None:
    """Why a test belongs to the slow tier (``None``: it is in the fast tier)."""
    if file_name in SLOW_FILES:
        return SLOW_FILES[file_name]
    for name in fixture_names:
        if name in SLOW_FIXTURES:
            return SLOW_FIXTURES[name]
    return None


def pytest_collection_modifyitems(config, items):
    for item in items:
        reason = slow_reason(item.path.name, getattr(item, "fixturenames", ()))
        if reason is not None and item.get_closest_marker("slow") is None:
            item.add_marker(pytest.mark.slow(reason=reason))


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
    import time

    cpu, wall = _cpu_now(), time.perf_counter()
    yield
    _CPU_TIMES[item.nodeid] = [round(_cpu_now() - cpu, 3), round(time.perf_counter() - wall, 3)]


def pytest_sessionfinish(session, exitstatus):
    path = session.config.getoption("--cpu-times", None)
    if path and _CPU_TIMES:
        import json

        Path(path).write_text(json.dumps(_CPU_TIMES, indent=0))

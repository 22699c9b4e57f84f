"""Test configuration: offline, headless, and the ``--submission`` option of the exercise tests.

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

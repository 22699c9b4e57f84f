"""Arrows only go down: the core of ``attnviz`` never imports a lesson (issue 10).

The lessons import ``attnviz``; ``attnviz`` core must not import them back, or a change to a lesson could
break the library every other lesson stands on. The tier folders are importable as ``beginner``,
``intermediate`` and ``advanced`` through ``package-dir``, so path-based tools cannot see such an import:
this test reads the source. It parses every module under ``attnviz/`` with :mod:`ast` and collects

- ``import x`` and ``from x import y`` at any depth (also inside functions, methods and ``if`` blocks),
- ``importlib.import_module("x")``, ``import_module("x")`` and ``__import__("x")`` with a literal name,

then fails for each core module whose imports name a lesson package. The tools that legitimately sit
*above* the lessons are exempt (they run, grade or train on the lessons): listed in :data:`ABOVE_LESSONS`
and in the docstring of ``attnviz/__init__.py``.
"""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

ATTNVIZ = Path(__file__).resolve().parents[1] / "attnviz"
LESSON_PACKAGES = ("beginner", "intermediate", "advanced")
# Above the lessons: the grader (its cases run the reference solutions, which import lessons), the
# training and evaluation of the shipped models, the live dashboard (it shows every lesson's view) and
# the course runner (``make run`` runs every lesson). Paths relative to attnviz/.
ABOVE_LESSONS = ("grading/", "training/", "dashboard/", "course.py")
IMPORT_FUNCTIONS = {"import_module", "__import__"}


def imported_names(source: str, filename: str = "<module>") -> set[str]:
    """Every module name ``source`` imports, at any depth, including literal dynamic imports."""
    names: set[str] = set()
    for node in ast.walk(ast.parse(source, filename)):
        if isinstance(node, ast.Import):
            names.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom):
            if node.level == 0 and node.module:  # relative imports stay inside attnviz
                names.add(node.module)
        elif isinstance(node, ast.Call):
            func = node.func
            called = func.attr if isinstance(func, ast.Attribute) else getattr(func, "id", None)
            if called in IMPORT_FUNCTIONS and node.args and isinstance(node.args[0], ast.Constant) \
                    and isinstance(node.args[0].value, str):
                names.add(node.args[0].value)
    return names


def lesson_imports(source: str, filename: str = "<module>") -> list[str]:
    """The imported names that are a lesson package or inside one, sorted."""
    return sorted(n for n in imported_names(source, filename) if n.split(".")[0] in LESSON_PACKAGES)


def is_core(relative: str) -> bool:
    return not relative.startswith(ABOVE_LESSONS)


def core_modules() -> list[Path]:
    return sorted(p for p in ATTNVIZ.rglob("*.py") if is_core(p.relative_to(ATTNVIZ).as_posix()))


def test_the_core_is_not_empty_and_the_exempt_tools_exist():
    core = {p.relative_to(ATTNVIZ).as_posix() for p in core_modules()}
    assert {"validate.py", "normalize.py", "plotting.py", "extract.py", "models.py"} <= core
    for tool in ABOVE_LESSONS:
        assert (ATTNVIZ / tool).exists(), f"{tool} is listed as above the lessons but does not exist"


def assert_no_lesson_import(source: str, shown: str) -> None:
    found = lesson_imports(source, shown)
    assert not found, (f"{shown} imports the lesson module(s) {found}; attnviz core sits below the lessons "
                       "— move what it needs into attnviz, or move the module to a tool above the lessons "
                       "(grading, training, dashboard, course)")


@pytest.mark.parametrize("path", core_modules(), ids=lambda p: p.relative_to(ATTNVIZ).as_posix())
def test_core_module_imports_no_lesson(path):
    assert_no_lesson_import(path.read_text(encoding="utf-8"), f"attnviz/{path.relative_to(ATTNVIZ).as_posix()}")


# ------------------------------------------------------------------------- the check itself can fail
BAD_MODULE = '''
import numpy as np
import advanced.attention_flow as flow

def helper():
    from intermediate.attention_rollout import AttentionRollout
    return AttentionRollout

class Late:
    def method(self):
        import importlib
        return importlib.import_module("beginner.attention_basics")

def dynamic():
    return __import__("advanced")
'''

CLEAN_MODULE = '''
import importlib
from attnviz.validate import check_attention
from . import plotting

def ok():
    name = "beginner.attention_basics"       # a variable, not a literal: not followed (and not used)
    text = "from intermediate import x"       # a string that only looks like an import
    return importlib.import_module("attnviz.models"), name, text

import beginners_guide                         # a different package that merely starts alike
'''


def test_the_parser_finds_imports_at_every_depth():
    assert lesson_imports(BAD_MODULE) == ["advanced", "advanced.attention_flow", "beginner.attention_basics",
                                          "intermediate.attention_rollout"]
    assert lesson_imports(CLEAN_MODULE) == []


def test_a_core_module_with_a_lesson_import_fails(tmp_path):
    bad = tmp_path / "bad.py"
    bad.write_text(BAD_MODULE)
    with pytest.raises(AssertionError, match=r"bad.py imports the lesson module\(s\) \['advanced'"):
        assert_no_lesson_import(bad.read_text(), str(bad))  # the assertion of the real test
    clean = tmp_path / "clean.py"
    clean.write_text(CLEAN_MODULE)
    assert_no_lesson_import(clean.read_text(), str(clean))


def test_exemptions_are_by_path():
    assert is_core("validate.py") and is_core("views.py") and is_core("exercises.py")
    assert not is_core("grading/cases/a3_vit_attention.py")
    assert not is_core("training/evaluate.py") and not is_core("dashboard/compute.py")
    assert not is_core("course.py")


def test_every_core_module_is_named_in_the_readme_and_the_package_docstring():
    """A new module nobody can find is a module nobody keeps right: README's layout table and ``attnviz``'s
    docstring name every module of the package."""
    import attnviz

    readme = (ATTNVIZ.parent / "README.md").read_text()
    names = sorted(p.stem for p in ATTNVIZ.glob("*.py") if not p.stem.startswith("_"))
    missing_readme = [n for n in names if f"attnviz.{n}" not in readme]
    missing_doc = [n for n in names if f"attnviz.{n}" not in (attnviz.__doc__ or "")]
    assert not missing_readme, f"README.md does not name: {missing_readme}"
    assert not missing_doc, f"attnviz/__init__.py's docstring does not name: {missing_doc}"

"""One module per exercise, each defining ``EXERCISE = Exercise(...)`` (see :mod:`attnviz.grading.core`).

How to add an exercise (``b1_extract_attention.py`` is the worked example):

1. Write the reference ``solutions/<tier>/<id>.py``: a docstring that says what to build, functions with
   docstrings that give every shape, and the code a student must write between ``# BEGIN SOLUTION`` and
   ``# END SOLUTION``. The module docstring starts with ``Reference solution — Exercise …``.
2. Write ``attnviz/grading/cases/<id>.py``: cases whose ``run(module)`` builds fixed inputs (seeded, offline),
   calls the student's functions and returns plain values; ``checks`` compare them with the reference
   (``Close``, ``Equal``) or test properties (``Property``); ``mistakes`` compute the usual wrong answers from
   the solution so the failure message can name them. Every hint names the mistake students make.
3. ``make exercises`` writes ``exercises/<tier>/<id>.py``; ``make references`` records the reference outputs.
4. ``pytest tests/test_exercises.py`` (solutions: all pass) and ``--submission exercises`` (all skipped as
   "not attempted") — ``tests/test_exercise_mechanism.py`` checks both, and that nothing is stale.
"""

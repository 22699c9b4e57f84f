"""attnviz — the shared infrastructure of the attention-visualization course.

Nothing here is a lesson: the lessons in ``01_beginner`` … ``03_advanced`` implement each technique
themselves. This package holds only what every lesson needs and no lesson teaches:

- :mod:`attnviz.validate`  — the canonical layout ``(L, B, H, Q, K)`` and the one validator for attention input
- :mod:`attnviz.extract`   — getting weights out of ``transformers`` models, ``nn.MultiheadAttention`` and Keras arrays
- :mod:`attnviz.normalize` — head fusion, padding masks, display scales
- :mod:`attnviz.models`    — offline model loading (the default encoder and the course's shipped models)
- :mod:`attnviz.plotting`  — the one heatmap primitive, and its interactive HTML twin
- :mod:`attnviz.outputs`   — where figures go, and the captions the gallery shows
- :mod:`attnviz.cli`       — the shared command-line arguments of every lesson
- :mod:`attnviz.course`    — ``make run``: run every lesson, build ``outputs/index.html``
- :mod:`attnviz.exercises` — generate ``exercises/`` from ``solutions/``
- :mod:`attnviz.grading`   — check and grade exercise submissions
"""

from pathlib import Path

REPO_ROOT = Path(__file__).resolve().parents[1]
DATA_DIR = REPO_ROOT / "data"
MODELS_DIR = DATA_DIR / "models"
OUTPUTS_DIR = REPO_ROOT / "outputs"

"""attnviz — the shared infrastructure of the attention-visualization course.

Nothing here is a lesson: the lessons in ``01_beginner`` … ``03_advanced`` implement each technique
themselves. This package holds what every lesson needs and no lesson teaches, and the engines that
several lessons reuse.

The core — below the lessons: it never imports ``beginner``, ``intermediate`` or ``advanced``
(``tests/test_layering.py`` parses every core module's imports and fails on one):

- :mod:`attnviz.validate`  — the canonical layout ``(L, B, H, Q, K)`` and the contracts every function
  calls on its input: ``check_attention``, ``check_mask`` (padding masks), ``check_head_fusion``,
  ``as_layers`` (a list, tuple or array of layers -> one ``(L, B, H, Q, K)`` array), indices and tokens
- :mod:`attnviz.extract`   — getting weights out of ``transformers`` models, ``nn.MultiheadAttention`` and Keras arrays
- :mod:`attnviz.normalize` — head fusion, padding masks, display scales, ``output_row`` (the row the output reads)
- :mod:`attnviz.models`    — offline model loading (the default encoder and the course's shipped models)
- :mod:`attnviz.plotting`  — the one heatmap primitive, the one per-token bar chart (``token_bars``), and
  the interactive HTML twin
- :mod:`attnviz.outputs`   — where figures go, and the captions the gallery shows
- :mod:`attnviz.cli`       — the shared command-line arguments of every lesson
- :mod:`attnviz.maxflow`   — the certified all-pairs max-flow solver behind attention flow
- :mod:`attnviz.parallel`  — threads for work NumPy or numba runs without the GIL (a rollout's layers, a
  flow row's sinks): ``usable_cores``, ``default_threads``, ``map_on_threads``
- :mod:`attnviz.gradients` — gradients of a scalar output with respect to the attention probabilities
- :mod:`attnviz.probes`    — head gates and recorded weights: through ``transformers``' AttentionInterface, or
  hooks (attention dropout / output projection) for families that compute attention themselves (Bloom,
  DeBERTa-v2); one probe per layer call (ALBERT's shared block); ``pruning_curve``
- :mod:`attnviz.tasks`     — the shipped models' tasks as batches and losses
- :mod:`attnviz.attribution` — integrated-gradients plumbing: the targets F, Captum's integral with its
  completeness search, ``spearman``
- :mod:`attnviz.faithfulness_data` — the examples lesson 3.7 scores maps on (``Example``, ``minilm_examples``,
  ``gpt2_examples``)
- :mod:`attnviz.attention_batch` — a padded batch's attention checked: canonical layout, real tokens, no weight
  where a query cannot see
- :mod:`attnviz.head_figures` — per-head figures of lesson 3.5: ``(L, H)`` heatmap, entropy by position,
  specialisation, pruning curves
- :mod:`attnviz.rollout_figures`, :mod:`attnviz.multihead_figures`, :mod:`attnviz.cross_figures`,
  :mod:`attnviz.flow_figures`, :mod:`attnviz.vit_figures`, :mod:`attnviz.entropy_figures`,
  :mod:`attnviz.attribution_figures`, :mod:`attnviz.faithfulness_figures` — the figures and caption wording of
  lessons 2.2, 2.1, 2.4, 3.1, 3.4, 3.5, 3.6/3.2 and 3.7 (the measurements the captions state stay in the lessons)
- :mod:`attnviz.kinds`     — what kind of model a checkpoint is, and its attention for the views
- :mod:`attnviz.views`     — the interactive head and model views as one self-contained HTML page
- :mod:`attnviz.gru_attention` — the course's GRU encoder-decoder with Bahdanau attention
- :mod:`attnviz.exercises` — generate ``exercises/`` from ``solutions/``

The tools above the lessons — they run, grade or train on them, so they may import lessons:

- :mod:`attnviz.course`    — ``make run``: run every lesson, build ``outputs/index.html``
- :mod:`attnviz.grading`   — check and grade exercise submissions (its cases run the reference solutions)
- :mod:`attnviz.training`  — train and evaluate the shipped models
- :mod:`attnviz.dashboard` — ``make dashboard``: every lesson's view, live
"""


from pathlib import Path

REPO_ROOT = Path(__file__).resolve().parents[1]
DATA_DIR = REPO_ROOT / "data"
MODELS_DIR = DATA_DIR / "models"
OUTPUTS_DIR = REPO_ROOT / "outputs"

"""Training the course's four small models, and the data they learn from.

``python -m attnviz.training NAME`` retrains one model (``all`` retrains the four), saves it in
``data/models/NAME/``, measures it and writes its model card (``README.md``). Every run is seeded and
deterministic, shows a progress bar, and takes a few minutes on a laptop CPU.

=======================  ===============================  ==========================================
model                    what it learns                    what it lets the lessons show
=======================  ===============================  ==========================================
tiny-bart-dates          "21 November 2026" -> 2026-11-21  cross-attention with a known right answer
gru-attention-dates      the same, with a GRU              Bahdanau attention, one row per output step
tiny-gpt2-induction      continue a repeated sequence      a previous-token head and an induction head
tiny-vit-shapes          name the solid shape              patch attention scored against a known mask
=======================  ===============================  ==========================================

Modules:

- :mod:`~attnviz.training.dates`    — written dates, their ISO target and the span of every field
- :mod:`~attnviz.training.repeats`  — repeated random token sequences, and their index convention
- :mod:`~attnviz.training.shapes`   — synthetic shape images with target masks; the fixed test set
- :mod:`~attnviz.training.evaluate` — the figures on the model cards, computed from a checkpoint

Layering: ``training`` is a tool that sits *above* the lessons (like ``grading`` and the course runner).
Its model cards measure what the lessons teach, so :mod:`~attnviz.training.evaluate` imports those
metrics from the lessons — the alignment hits of ``intermediate.cross_attention_viz``, the pointing game
of ``advanced.vit_attention``, the rollout of ``intermediate.attention_rollout`` — instead of writing them
a second time. The core of ``attnviz`` never imports a lesson.
- ``bart_dates``, ``gru_dates``, ``gpt2_induction``, ``vit_shapes`` — one training script per model
- :mod:`~attnviz.training.common`   — seeding, learning-rate schedule, model-card helpers
"""

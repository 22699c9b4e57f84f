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
- ``bart_dates``, ``gru_dates``, ``gpt2_induction``, ``vit_shapes`` — one training script per model
- :mod:`~attnviz.training.common`   — seeding, learning-rate schedule, model-card helpers
"""

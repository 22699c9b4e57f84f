"""The live dashboard: ``make dashboard`` (``python -m attnviz.dashboard``).

Type a sentence (or drop an image for the ViT), pick a model, a layer and a head, and every view of the
course redraws for that input — one head's heatmap, rollout, attention flow for the row under the cursor,
gradient-weighted attention, the head view and the layer × head overview (``views.js``), and for an
encoder-decoder the cross-attention with its alignment. Each panel names the lesson that teaches it and
the command that reproduces its figure. Offline, on 127.0.0.1 only unless ``--allow-remote``.

- :mod:`attnviz.dashboard.compute` — one cached analysis per (model, input); each panel's numbers, from the lessons
- :mod:`attnviz.dashboard.app`     — the Dash page and its callbacks (which answer errors with messages)
- :mod:`attnviz.dashboard.server`  — the loopback-only server and the command line
"""

"""The live dashboard: ``make dashboard`` (``python -m attnviz.dashboard``)."""

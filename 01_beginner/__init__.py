"""Tier 1 — beginner: extracting attention and drawing it honestly.

Run the lessons in this order (``make run`` does):
"""

LESSONS = ["attention_basics", "self_attention_heatmap", "attention_patterns"]

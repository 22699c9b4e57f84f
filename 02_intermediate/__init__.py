"""Tier 2 — intermediate: many heads, many layers, and attention between two sequences.

Run the lessons in this order (``make run`` does):
"""

LESSONS = ["multihead_visualization", "attention_rollout", "attention_comparison", "cross_attention_viz"]

"""Tier 3 — advanced: attribution beyond raw weights, interactive views, vision, and faithfulness.

Run the lessons in this order (``make run`` does):
"""

LESSONS = [
    "attention_flow",
    "gradient_attention",
    "bertviz_style",
    "vit_attention",
    "attention_entropy",
    "integrated_attention",
    "attention_faithfulness",
]

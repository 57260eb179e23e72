"""Scoring functions for the design cycle: components (QED, SA, descriptors, similarity, substructures, isomer,
chemrnn property models, a target-activity model, a user's Python function), modifiers and aggregation."""
from .function import AGGREGATIONS, Scores, ScoringFunction
from .modifiers import MODIFIERS, make_modifier

__all__ = ["AGGREGATIONS", "MODIFIERS", "Scores", "ScoringFunction", "make_modifier"]

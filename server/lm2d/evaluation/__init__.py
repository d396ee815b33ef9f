"""Evaluation: dance metrics on joint positions (numpy only), the semantic matcher (torch) and
`lm2d evaluate`. Definitions and every choice made: docs/METRICS.md.

Importing this package loads only the numpy metrics; `lm2d.evaluation.matcher` and
`lm2d.evaluation.evaluate` bring in torch and the model."""
from lm2d.evaluation.beat_align import beat_alignment_score, kinetic_velocity, motion_beats
from lm2d.evaluation.body_usage import body_usage, mean_body_usage
from lm2d.evaluation.features_geometric import geometric_features
from lm2d.evaluation.features_kinetic import kinetic_features
from lm2d.evaluation.fid import diversity, fid_and_diversity, frechet_distance
from lm2d.evaluation.foot_contact import physical_foot_contact

__all__ = ["beat_alignment_score", "body_usage", "diversity", "fid_and_diversity", "frechet_distance", "geometric_features",
           "kinetic_features", "kinetic_velocity", "mean_body_usage", "motion_beats",
           "physical_foot_contact"]

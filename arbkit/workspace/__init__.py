"""The research workspace: the pipeline's stages (:mod:`arbkit.workspace.stages`).

The notebooks under ``notebooks/pipeline/`` are thin: parameters, calls into these
functions, figures, metrics. DVC runs them with papermill (``dvc.yaml``).
"""

from arbkit.workspace.promotion import promote_candidates
from arbkit.workspace.stages import (
    brier_skill_score,
    make_histories,
    project_root,
    route_dataset,
    split_by_time,
    train_rl_policies,
    train_rl_policy,
    train_route_model,
    validate,
    write_metrics,
    write_plot_data,
)

__all__ = [
    "brier_skill_score",
    "make_histories",
    "project_root",
    "promote_candidates",
    "route_dataset",
    "split_by_time",
    "train_rl_policies",
    "train_rl_policy",
    "train_route_model",
    "validate",
    "write_metrics",
    "write_plot_data",
]

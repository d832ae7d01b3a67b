"""orch: hyperparameter optimisation for SLURM clusters (SMAC3, meta-learned warm starts, submitit)."""

__version__ = "0.1.0"

"""Where trials run: local processes (the default) or SLURM jobs through submitit."""

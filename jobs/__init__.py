"""Training jobs orch runs as trials: the built-in model families and the user's own command."""

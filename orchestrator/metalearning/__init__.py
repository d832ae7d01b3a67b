"""Meta-learning: the meta-dataset of past studies, task similarity, and warm-start selectors."""

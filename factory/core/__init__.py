"""Records: what every layer may import — today the environment recipe; the layered layout (issue 13) moves
the records, errors, the one settings model and the templates here too."""

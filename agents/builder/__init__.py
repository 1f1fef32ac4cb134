"""The environment builder: four roles (explorer, environment manager, test manager, test analyst) and the
loop that tries memory, heuristics, then LLM rounds, validating each recipe with fail-to-pass.
"""

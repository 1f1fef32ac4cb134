"""Agents (above judging and memory): the LLM client (``llm/``) and the environment builder (``builder/``)."""

"""issue-factory: mined fixes become validated, containerized SWE-bench tasks.

The packages are layers (docs/architecture.md §2), lowest first: ``core`` + ``store`` (records, settings,
DuckDB), ``mining`` + ``docker`` (engines), ``grading`` + ``harness`` (judging), then ``memory_pool`` and
``agents`` beside this package, ``pipeline`` (the stages), ``flows`` (Prefect shells) and ``cli`` (the face).
A module imports only its own layer and the ones below it.
"""

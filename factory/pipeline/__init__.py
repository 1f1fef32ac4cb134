"""The stages (layer above the agents): the plain functions the Prefect flows and the CLI call to build,
confirm, export and check; no printing, no Prefect.
"""

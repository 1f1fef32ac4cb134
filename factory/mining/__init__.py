"""Engines: sources → candidates (git and GitHub mining, the patch split). Imports only core and store."""

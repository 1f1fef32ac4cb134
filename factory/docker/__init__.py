"""Engines: the Docker engine — sandboxed runs, base images, cleanup. Imports only core and store."""

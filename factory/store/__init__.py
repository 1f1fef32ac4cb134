"""The DuckDB store: every record of every stage, in one file (``from factory.store import Store``)."""

from factory.store.connection import StoreLocked
from factory.store.store import Store

__all__ = ["Store", "StoreLocked"]

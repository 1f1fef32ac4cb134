"""Mined sources (table ``sources``): where each source is fetched from and how far incremental mining got.

Why apart: the cursor is the only state incremental mining keeps between runs, and it only moves forward
(a rerun over older pull requests never sends it back).
"""

from __future__ import annotations

from datetime import datetime

from factory.store.connection import Connection, now


class Sources(Connection):
    """The ``sources`` table: one row per mined source, its location and its cursor."""

    def source(self, source: str) -> dict | None:
        """``{"source", "location", "cursor", "updated_at"}`` of a mined source, or None."""
        rows = self._rows("SELECT * FROM sources WHERE source = ?", [source])
        return rows[0] if rows else None

    def save_source(self, source: str, location: str, cursor: datetime | None = None) -> None:
        """Record where ``source`` is fetched from and, if given, move its cursor (never backwards)."""
        with self._tx() as con:
            con.execute(
                """INSERT INTO sources VALUES (?, ?, ?, ?) ON CONFLICT (source) DO UPDATE SET
                   location = excluded.location,
                   cursor = CASE WHEN excluded.cursor IS NULL THEN sources.cursor
                                 WHEN sources.cursor IS NULL THEN excluded.cursor
                                 ELSE greatest(sources.cursor, excluded.cursor) END,
                   updated_at = excluded.updated_at""",
                [source, location, cursor, now()],
            )

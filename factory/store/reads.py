"""Read-only, streamed queries over the whole store (``Store.select``), for reports that join many tables.

Why apart: the table modules answer the stages' questions with small result lists; a report over 10,000
instances must not hold every row in Python at once. :meth:`Reads.select` runs one SELECT on its own
DuckDB cursor (so several streams can be open side by side and merged, and the store's other queries are
not disturbed) and yields rows in batches. It refuses anything but a SELECT / WITH query: writes still go
through the table modules only.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Iterator

from factory.store.connection import Connection

_READ = re.compile(r"^\s*(SELECT|WITH)\b", re.IGNORECASE)


class Reads(Connection):
    """Streaming SELECTs on a cursor of their own."""

    def select(self, sql: str, params: Iterable[object] = (), batch: int = 2000) -> Iterator[dict]:
        """Rows of ``sql`` as dicts, fetched ``batch`` at a time; only SELECT / WITH queries are accepted."""
        if not _READ.match(sql):
            raise ValueError("Store.select runs read-only queries (SELECT / WITH) only")
        with self._use() as con:  # the file stays open while the stream is read (a report: one session)
            cur = con.cursor()
            try:
                cur.execute(sql, list(params))
                names = [d[0] for d in cur.description]
                while chunk := cur.fetchmany(batch):
                    for row in chunk:
                        yield dict(zip(names, row, strict=True))
            finally:
                cur.close()

    def select_one(self, sql: str, params: Iterable[object] = ()) -> dict:
        """The first row of ``sql`` (an aggregate, say); ``{}`` when it returns none."""
        return next(iter(self.select(sql, params, batch=1)), {})

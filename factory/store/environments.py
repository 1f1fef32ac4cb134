"""Environments (table ``environments``), one per dependency fingerprint, and when each image was last used.

Why apart: an environment is built once per fingerprint and shared by every instance with the same
dependencies; the last use of each image tag (by an environment build or an instance verdict) is what
``factory clean`` keeps recent images by.
"""

from __future__ import annotations

import json
from datetime import datetime

from factory.core.models import Environment
from factory.store.connection import Connection, now


class Environments(Connection):
    """The ``environments`` table, and image last use across ``environments`` and ``instances``."""

    def environment(self, fingerprint: str) -> Environment | None:
        rows = self._rows("SELECT * FROM environments WHERE fingerprint = ?", [fingerprint])
        if not rows:
            return None
        row = rows[0]
        row.pop("updated_at")
        row["install_commands"] = json.loads(row["install_commands"])
        return Environment(**row)

    def save_environment(self, env: Environment) -> None:
        values = env.model_dump()
        values["install_commands"] = json.dumps(env.install_commands)
        cols = list(values)
        with self._tx() as con:
            con.execute("DELETE FROM environments WHERE fingerprint = ?", [env.fingerprint])
            con.execute(
                f"INSERT INTO environments ({','.join(cols)}, updated_at) VALUES ({','.join('?' * (len(cols) + 1))})",
                [*values.values(), now()],
            )

    def image_last_use(self) -> dict[str, datetime]:
        """Image tag -> the last time a build or a verdict used it (``factory clean`` keeps recent ones)."""
        uses: dict[str, datetime] = {}
        for row in self._rows(
            "SELECT image_tag AS tag, updated_at FROM environments WHERE image_tag <> '' "
            "UNION ALL SELECT image AS tag, updated_at FROM instances WHERE image <> ''"
        ):
            uses[row["tag"]] = max(row["updated_at"], uses.get(row["tag"], row["updated_at"]))
        return uses

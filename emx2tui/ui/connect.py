"""Helpers around engine connections that the screens share."""

from __future__ import annotations

import dataclasses
from typing import Any


def with_schema(connection: Any, schema: str | None) -> Any:
    """The same server and credentials, pointed at another schema."""
    if dataclasses.is_dataclass(connection) and not isinstance(connection, type):
        return dataclasses.replace(connection, schema=schema)
    return type(connection)(
        connection.url,
        schema=schema,
        token=getattr(connection, "token", None),
        username=getattr(connection, "username", None),
        password=getattr(connection, "password", None),
    )


def server_label(connection: Any) -> str:
    """What the pane shows about a server: its label, which never carries a secret."""
    if connection is None:
        return "no server configured"
    label = getattr(connection, "label", None)
    if callable(label):
        label = label()
    return str(label or getattr(connection, "url", "server"))

"""Servers the panes can use: those given on the command line and the saved connections."""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass
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


@dataclass
class Server:
    """One entry of a pane's server list.

    `connection` is ready to use (command-line servers, or saved ones whose secret is known);
    `saved` is the saved connection it comes from, whose secret may still have to be asked.
    """

    key: str
    label: str
    connection: Any | None = None
    saved: Any | None = None  # emx2tui.config.ConnectionConfig

    @property
    def url(self) -> str:
        if self.connection is not None:
            return str(getattr(self.connection, "url", ""))
        return str(getattr(self.saved, "url", ""))


def command_line_servers(source: Any, target: Any) -> list[Server]:
    """The servers given on the command line (one entry when both sides use the same one)."""
    out: list[Server] = []
    if source is not None:
        key = "given" if source is target else "given-source"
        out.append(Server(key, server_label(source), connection=source))
    if target is not None and target is not source:
        out.append(Server("given-target", server_label(target), connection=target))
    return out


def saved_servers(config: Any) -> list[Server]:
    if config is None:
        return []
    return [Server(f"saved:{name}", conn.label, saved=conn)
            for name, conn in config.connections.items()]

"""Typed errors of the EMX2 layer. Messages are meant for people: they name what failed and where."""

from __future__ import annotations


class Emx2Error(Exception):
    """Base class of every error raised while speaking to EMX2."""

    def __init__(self, message: str, *, schema: str | None = None, table: str | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.schema = schema
        self.table = table

    def __str__(self) -> str:
        return self.message


class ModelError(Emx2Error):
    """The data model (molgenis.csv or _schema metadata) is inconsistent or incomplete."""


class CsvFormatError(Emx2Error):
    """A CSV body could not be read."""


class ConnectionFailed(Emx2Error):
    """The server could not be reached."""


class AuthError(Emx2Error):
    """Sign-in failed, or a token was refused."""


class PermissionDenied(Emx2Error):
    """The server refused an action for lack of rights."""


class SchemaNotFound(Emx2Error):
    """The schema does not exist or is not visible to the user."""


class ServerError(Emx2Error):
    """The server answered with an error envelope (HTTP 400) or an unexpected status."""

    def __init__(self, message: str, *, status: int | None = None, schema: str | None = None,
                 table: str | None = None) -> None:
        super().__init__(message, schema=schema, table=table)
        self.status = status


class TaskFailed(Emx2Error):
    """An asynchronous server task (for example a ZIP import) ended in ERROR."""

    def __init__(self, message: str, *, task: dict | None = None, schema: str | None = None) -> None:
        super().__init__(message, schema=schema)
        self.task = task or {}

"""The error the sandbox raises for anything EMX2 answers with its error envelope."""

from __future__ import annotations


class SandboxError(Exception):
    """An application error; the HTTP layer turns it into `{"errors":[{"message":...}]}`."""

    def __init__(self, message: str, status: int = 400) -> None:
        super().__init__(message)
        self.message = message
        self.status = status

    def __str__(self) -> str:
        return self.message

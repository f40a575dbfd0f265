"""EMX2 name rules: table and column names to GraphQL identifiers, and back."""

from __future__ import annotations

import functools
import re

_WS = re.compile(r"\s+")


# a model's few hundred names are turned into identifiers over and over (every filter, every
# answer): each is worked out once
@functools.lru_cache(maxsize=8192)
def table_id(name: str) -> str:
    """PascalCase identifier of a table name (`Collection events` -> `CollectionEvents`)."""
    words = [w for w in _WS.split(name.strip()) if w]
    return "".join(w[0].upper() + w[1:] for w in words)


@functools.lru_cache(maxsize=8192)
def column_id(name: str) -> str:
    """camelCase identifier of a column name (`first name` -> `firstName`, `ID` -> `iD`)."""
    words = [w for w in _WS.split(name.strip()) if w]
    if not words:
        return ""
    first = words[0][0].lower() + words[0][1:]
    return first + "".join(w[0].upper() + w[1:] for w in words[1:])


def schema_type_prefix(schema: str) -> str:
    """Prefix EMX2 puts before type names of tables reached in another schema."""
    return table_id(schema.replace("-", "")) + "_"


def loose(name: str) -> str:
    """The form EMX2 uses to match a table name loosely: lower case, no spaces."""
    return _WS.sub("", name).lower()


TABLE_NAME = re.compile(r"^(?!.* _|.*_ )[a-zA-Z][a-zA-Z0-9 _]{0,30}$")
COLUMN_NAME = re.compile(r"^(?!.* _|.*_ )[a-zA-Z][a-zA-Z0-9 _]{0,62}$")
SCHEMA_NAME = re.compile(r"^(?!.* _|.*_ )[a-zA-Z][-a-zA-Z0-9 _]{0,62}$")

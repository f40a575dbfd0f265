"""Loading EMX2 file sets (folders, zips, in-memory mappings) into the sandbox store."""

from __future__ import annotations

import importlib
from collections.abc import Iterable, Mapping
from pathlib import Path

from emx2tui.sandbox.errors import SandboxError
from emx2tui.sandbox.store import Store
from emx2tui.sandbox.transfer import import_files, unzip


def read_source(path: str | Path) -> dict[str, bytes]:
    """The files of an EMX2 folder (molgenis.csv + one CSV per table) or zip."""
    p = Path(path)
    if p.is_dir():
        return {f.relative_to(p).as_posix(): f.read_bytes() for f in sorted(p.rglob("*"))
                if f.is_file() and f.suffix.lower() in (".csv", ".tsv")}
    if p.is_file() and p.suffix.lower() == ".zip":
        return unzip(p.read_bytes())
    raise SandboxError(f"Cannot load '{path}': not an EMX2 folder or .zip file")


def load_files(store: Store, schema: str, files: Mapping[str, str | bytes], *,
               description: str | None = None) -> None:
    """Create the schema if needed, then import metadata and data in one transaction."""
    if not store.has_schema(schema):
        store.create_schema(schema, description)
    import_files(store, schema, files)


def load_path(store: Store, schema: str, path: str | Path) -> None:
    load_files(store, schema, read_source(path))


def parse_load_spec(spec: str) -> tuple[str, str]:
    if "=" not in spec:
        raise SandboxError(f"--load expects SCHEMA=PATH, got '{spec}'")
    schema, path = spec.split("=", 1)
    return schema.strip(), path.strip()


def load_specs(store: Store, specs: Iterable[str | tuple[str, str]]) -> None:
    """Load `SCHEMA=PATH` specs (or (schema, path) pairs) in the order given."""
    for spec in specs:
        schema, path = parse_load_spec(spec) if isinstance(spec, str) else spec
        load_path(store, schema, path)


def demo_available() -> bool:
    try:
        mod = importlib.import_module("emx2tui.sandbox.demo")
    except ImportError:
        return False
    return hasattr(mod, "demo_schemas")


def load_demo(store: Store) -> list[str]:
    """Load the demo schemas from emx2tui.sandbox.demo, in order. Returns their names.

    A schema the store holds already (a data folder the demo was loaded into before) is kept as
    it is: the demo set is loaded once, and what runs changed in it stays across restarts.
    """
    try:
        mod = importlib.import_module("emx2tui.sandbox.demo")
    except ImportError as exc:
        raise SandboxError(f"The demo data set is not available ({exc})") from None
    names = []
    held = set(store.schema_names())
    for schema, files in mod.demo_schemas():
        if schema in held:
            continue
        load_files(store, schema, files)
        names.append(schema)
    return names

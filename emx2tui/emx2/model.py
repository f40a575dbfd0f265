"""EMX2 schema metadata: tables, columns, keys, references, inheritance, CSV layout and load order.

One `SchemaModel` describes one schema. It is read from a `molgenis.csv` (the EMX2 model file)
or from the `_schema` GraphQL answer, and it knows how EMX2 flattens references into CSV
columns (`publisher.resource`, `publisher.id`; parts shared through `refLink` not repeated; one
remaining part named plainly after the column). References into other schemas are resolved
through a resolver that returns the other schema's model.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field

from emx2tui.emx2 import csvfmt
from emx2tui.emx2.errors import ModelError
from emx2tui.emx2.names import column_id, table_id

REF_TYPES = {"ref", "select", "radio", "ontology"}
REF_ARRAY_TYPES = {"ref_array", "multiselect", "checkbox", "ontology_array"}
LAYOUT_TYPES = {"heading", "section"}
SYSTEM_COLUMNS = ("mg_draft", "mg_insertedBy", "mg_insertedOn", "mg_updatedBy", "mg_updatedOn")

# The fixed layout EMX2 gives every ONTOLOGIES table.
ONTOLOGY_COLUMNS: tuple[tuple[str, str, int], ...] = (
    ("order", "int", 0),
    ("name", "string", 1),
    ("label", "string", 0),
    ("tags", "string_array", 0),
    ("parent", "ref", 0),
    ("codesystem", "string", 0),
    ("code", "string", 0),
    ("ontologyTermURI", "hyperlink", 0),
    ("definition", "text", 0),
    ("children", "refback", 0),
)

# Header EMX2 writes for molgenis.csv.
MOLGENIS_HEADER = [
    "tableName", "tableExtends", "tableType", "columnName", "formLabel", "columnType", "key",
    "required", "readonly", "refSchema", "refTable", "refLink", "refBack", "refLabel",
    "defaultValue", "validation", "visible", "computed", "semantics", "profiles", "label",
    "description",
]


@dataclass
class Column:
    name: str
    table: str
    type: str = "string"
    key: int = 0
    required: str | None = None
    ref_schema: str | None = None
    ref_table: str | None = None
    ref_link: str | None = None
    ref_back: str | None = None
    ref_label: str | None = None
    default_value: str | None = None
    validation: str | None = None
    visible: str | None = None
    computed: str | None = None
    readonly: bool = False
    semantics: str | None = None
    profiles: str | None = None
    label: str | None = None
    description: str | None = None
    position: int = 0

    @property
    def id(self) -> str:
        return column_id(self.name)

    @property
    def is_ref(self) -> bool:
        return self.type in REF_TYPES

    @property
    def is_ref_array(self) -> bool:
        return self.type in REF_ARRAY_TYPES

    @property
    def is_reference(self) -> bool:
        """A column whose values are keys of another (or the same) table."""
        return self.type in REF_TYPES or self.type in REF_ARRAY_TYPES

    @property
    def is_ontology(self) -> bool:
        return self.type in ("ontology", "ontology_array")

    @property
    def is_refback(self) -> bool:
        return self.type == "refback"

    @property
    def is_layout(self) -> bool:
        return self.type in LAYOUT_TYPES

    @property
    def is_file(self) -> bool:
        return self.type == "file"

    @property
    def is_array(self) -> bool:
        return self.type.endswith("_array") or self.type in REF_ARRAY_TYPES

    @property
    def is_stored(self) -> bool:
        """Holds data (not layout, not a refback, not computed)."""
        return not (self.is_layout or self.is_refback or self.computed)

    @property
    def is_required(self) -> bool:
        """Required without condition (a JavaScript condition is not evaluated)."""
        if self.key == 1:
            return True
        return (self.required or "").strip().lower() == "true"

    def base_type(self) -> str:
        """Scalar type behind the column (`int` for `int_array`, `ref` for `select`...)."""
        t = self.type
        if t in ("select", "radio"):
            return "ref"
        if t in ("multiselect", "checkbox"):
            return "ref_array"
        if t.endswith("_array") and t not in REF_ARRAY_TYPES:
            return t[: -len("_array")]
        return t


@dataclass
class Table:
    name: str
    schema: str
    extends: str | None = None
    extends_schema: str | None = None
    table_type: str = "DATA"
    description: str | None = None
    label: str | None = None
    semantics: str | None = None
    profiles: str | None = None
    columns: list[Column] = field(default_factory=list)  # own columns, in file order

    @property
    def id(self) -> str:
        return table_id(self.name)

    @property
    def is_ontology(self) -> bool:
        return self.table_type == "ONTOLOGIES"

    def own(self, name: str) -> Column | None:
        for col in self.columns:
            if col.name == name:
                return col
        return None


@dataclass(frozen=True)
class Part:
    """One CSV column of a (possibly composite) reference or key.

    `name` is the CSV column in the referring table; `target` is the key CSV column of the
    referenced table that it must equal; `leaf` identifies the plain key column it ends in
    (schema, table, column), which is how EMX2 matches parts shared through `refLink`.
    """

    name: str
    target: str
    leaf: tuple[str, str, str]
    shared: bool = False


@dataclass(frozen=True)
class Reference:
    """A reference column of a table, resolved to its CSV parts."""

    table: str
    column: Column
    target_schema: str
    target_table: str
    parts: tuple[Part, ...]

    @property
    def is_array(self) -> bool:
        return self.column.is_ref_array


    @property
    def csv_columns(self) -> list[str]:
        return [p.name for p in self.parts]


Resolver = Callable[[str], "SchemaModel | None"]


def _cell(row: Mapping[str, str], key: str) -> str | None:
    value = row.get(key)
    if value is None:
        return None
    value = value.strip()
    return value or None


class SchemaModel:
    """The metadata of one EMX2 schema."""

    def __init__(self, name: str, tables: Iterable[Table] = (), resolver: Resolver | None = None,
                 settings: Mapping[str, str] | None = None) -> None:
        self.name = name
        self.tables: dict[str, Table] = {}
        self.settings: dict[str, str] = dict(settings or {})
        self.resolver = resolver
        self._key_cache: dict[str, list[Part]] = {}
        self._ref_cache: dict[str, list[Reference]] = {}
        self._owner_cache: dict[str, dict[str, Column]] = {}
        self._sub_shape: tuple = ()
        self._sub_map: dict[str, list[Table]] = {}
        for t in tables:
            self.add_table(t)

    # ----------------------------------------------------------------- building
    def add_table(self, table: Table) -> None:
        if table.is_ontology and not table.columns:
            table.columns = [
                Column(name=n, table=table.name, type=t, key=k,
                       ref_table=table.name if n in ("parent", "children") else None,
                       ref_back="parent" if n == "children" else None)
                for n, t, k in ONTOLOGY_COLUMNS
            ]
        self.tables[table.name] = table
        self._invalidate()

    def data_shape(self) -> tuple:
        """What reading and writing its rows depends on: tables, their inheritance, and each
        column's name, type, key and reference. Two models of one shape read and write alike;
        descriptions, labels, settings and the order of columns may differ."""
        def columns(t: Table) -> tuple:
            return tuple(sorted(((c.name, c.type, c.key, c.ref_schema, c.ref_table, c.ref_link,
                                  c.ref_back, c.computed) for c in t.columns), key=lambda c: c[0]))

        return tuple(sorted(((t.name, t.extends, t.extends_schema, t.table_type, columns(t))
                             for t in self.tables.values()), key=lambda t: t[0]))

    def _invalidate(self) -> None:
        self._key_cache.clear()
        self._ref_cache.clear()
        self._owner_cache.clear()

    @classmethod
    def from_molgenis_csv(cls, data: str | bytes | list[dict[str, str]], schema: str,
                          resolver: Resolver | None = None) -> "SchemaModel":
        """Read a `molgenis.csv` (text, bytes, or rows already parsed)."""
        rows = data if isinstance(data, list) else csvfmt.read_csv(data, what="molgenis.csv")[1]
        model = cls(schema, resolver=resolver)
        position = 0
        for i, row in enumerate(rows, start=2):
            tname = _cell(row, "tableName")
            if not tname:
                raise ModelError(f"molgenis.csv of schema '{schema}', line {i}: tableName is empty",
                                 schema=schema)
            table = model.tables.get(tname)
            if table is None:
                table = Table(name=tname, schema=schema)
                model.tables[tname] = table
            cname = _cell(row, "columnName")
            if not cname:
                table.extends = _cell(row, "tableExtends") or table.extends
                if table.extends:
                    table.extends_schema = _cell(row, "refSchema")
                table.table_type = (_cell(row, "tableType") or table.table_type or "DATA").upper()
                table.description = _cell(row, "description") or table.description
                table.label = _cell(row, "label") or table.label
                table.semantics = _cell(row, "semantics") or table.semantics
                table.profiles = _cell(row, "profiles") or table.profiles
                continue
            if table.own(cname):
                # A profile can list a column twice; the first definition wins, like a merge.
                continue
            position += 1
            key = _cell(row, "key")
            try:
                key_int = int(key) if key else 0
            except ValueError as exc:
                raise ModelError(f"molgenis.csv of schema '{schema}', line {i}: key '{key}' of "
                                 f"{tname}.{cname} is not a number", schema=schema) from exc
            col = Column(
                name=cname, table=tname,
                type=(_cell(row, "columnType") or "string").lower(),
                key=key_int,
                required=_cell(row, "required"),
                ref_schema=_cell(row, "refSchema"),
                ref_table=_cell(row, "refTable"),
                ref_link=_cell(row, "refLink"),
                ref_back=_cell(row, "refBack"),
                ref_label=_cell(row, "refLabel"),
                default_value=_cell(row, "defaultValue"),
                validation=_cell(row, "validation"),
                visible=_cell(row, "visible"),
                computed=_cell(row, "computed"),
                readonly=(_cell(row, "readonly") or "").lower() == "true",
                semantics=_cell(row, "semantics"),
                profiles=_cell(row, "profiles"),
                label=_cell(row, "label"),
                description=_cell(row, "description"),
                position=position,
            )
            table.columns.append(col)
        for table in list(model.tables.values()):
            if table.is_ontology and not table.columns:
                model.add_table(table)
        model._invalidate()
        return model

    @classmethod
    def from_graphql(cls, schema_json: Mapping, resolver: Resolver | None = None) -> "SchemaModel":
        """Read the answer of `_schema { name tables { ... columns { ... } } }`."""
        name = schema_json.get("name") or schema_json.get("id")
        model = cls(name, resolver=resolver,
                    settings={s["key"]: s.get("value") for s in (schema_json.get("settings") or [])})
        tables = schema_json.get("tables") or []
        by_name = {t["name"]: t for t in tables}
        position = 0
        for t in tables:
            table = Table(
                name=t["name"], schema=t.get("schemaName") or name,
                extends=t.get("inheritName"), extends_schema=t.get("inheritSchemaName"),
                table_type=(t.get("tableType") or "DATA").upper(),
                description=t.get("description"), label=t.get("label"),
            )
            parent_cols: set[str] = set()
            parent = t.get("inheritName")
            while parent and parent in by_name:
                parent_cols |= {c["name"] for c in by_name[parent].get("columns") or []}
                parent = by_name[parent].get("inheritName")
            for c in t.get("columns") or []:
                ctype = (c.get("columnType") or "STRING").lower()
                cname = c["name"]
                if ctype in LAYOUT_TYPES or cname.startswith("mg_") or c.get("inherited") \
                        or cname in parent_cols:
                    continue
                position += 1
                table.columns.append(Column(
                    name=cname, table=table.name, type=ctype, key=int(c.get("key") or 0),
                    required=c.get("required"),
                    ref_schema=c.get("refSchemaName") if c.get("refSchemaName") not in (None, name) else None,
                    ref_table=c.get("refTableName"), ref_link=c.get("refLinkName"),
                    ref_back=c.get("refBackName"), ref_label=c.get("refLabel"),
                    default_value=c.get("defaultValue"), validation=c.get("validation"),
                    visible=c.get("visible"), computed=c.get("computed"),
                    readonly=bool(c.get("readonly")), semantics=",".join(c.get("semantics") or []) or None,
                    description=c.get("description"), label=c.get("label"),
                    position=c.get("position") or position,
                ))
            model.tables[table.name] = table
        model._invalidate()
        return model

    def to_molgenis_rows(self) -> list[dict[str, str]]:
        """The model as molgenis.csv rows (table rows first, then columns), EMX2's export layout."""
        rows: list[dict[str, str]] = []
        for t in self.tables.values():
            if t.is_ontology and not (t.description or t.label):
                continue
            rows.append({
                "tableName": t.name, "tableExtends": t.extends or "",
                "tableType": "ONTOLOGIES" if t.is_ontology else "",
                "refSchema": t.extends_schema or "", "description": t.description or "",
                "label": t.label or "", "semantics": t.semantics or "", "profiles": t.profiles or "",
            })
        for t in self.tables.values():
            if t.is_ontology:
                continue
            for c in t.columns:
                rows.append({
                    "tableName": t.name, "columnName": c.name,
                    "columnType": "" if c.type == "string" else c.type,
                    "key": str(c.key) if c.key else "", "required": c.required or "",
                    "readonly": "true" if c.readonly else "",
                    "refSchema": c.ref_schema or "", "refTable": c.ref_table or "",
                    "refLink": c.ref_link or "", "refBack": c.ref_back or "",
                    "refLabel": c.ref_label or "", "defaultValue": c.default_value or "",
                    "validation": c.validation or "", "visible": c.visible or "",
                    "computed": c.computed or "", "semantics": c.semantics or "",
                    "profiles": c.profiles or "", "label": c.label or "",
                    "description": c.description or "",
                })
        return rows

    def to_molgenis_csv(self) -> str:
        return csvfmt.write_csv(MOLGENIS_HEADER, self.to_molgenis_rows())

    # ----------------------------------------------------------------- lookups
    def table(self, name: str) -> Table:
        try:
            return self.tables[name]
        except KeyError:
            raise ModelError(f"Table '{name}' unknown in schema '{self.name}'", schema=self.name,
                             table=name) from None

    def find_table(self, name_or_id: str) -> Table | None:
        """A table by name, id, or EMX2's loose match (case- and space-insensitive)."""
        if name_or_id in self.tables:
            return self.tables[name_or_id]
        loose = "".join(name_or_id.split()).lower()
        for t in self.tables.values():
            if t.id == name_or_id or "".join(t.name.split()).lower() == loose:
                return t
        return None

    def lineage(self, name: str) -> list[Table]:
        """The table and its ancestors, root first (within this schema)."""
        chain: list[Table] = []
        t: Table | None = self.table(name)
        seen: set[str] = set()
        while t is not None and t.name not in seen:
            seen.add(t.name)
            chain.append(t)
            t = self.tables.get(t.extends) if t.extends else None
        return list(reversed(chain))

    def root(self, name: str) -> Table:
        return self.lineage(name)[0]

    def subclasses(self, name: str) -> list[Table]:
        """Every table that extends `name`, directly or not."""
        # worked out for every table at once, again whenever a table is added, removed, renamed
        # or moved in the hierarchy (the sandbox edits a model in place)
        shape = tuple((n, t.name, t.extends) for n, t in self.tables.items())
        if shape != self._sub_shape:
            found: dict[str, list[Table]] = {n: [] for n in self.tables}
            for t in self.tables.values():
                for a in self.lineage(t.name)[:-1]:
                    found.setdefault(a.name, []).append(t)
            self._sub_map, self._sub_shape = found, shape
        return list(self._sub_map.get(name, ()))

    def columns(self, name: str) -> list[Column]:
        """All columns of a table: the inherited ones first (root first), then its own."""
        return [c for t in self.lineage(name) for c in t.columns]

    def column(self, table: str, name: str) -> Column:
        for c in self.columns(table):
            if c.name == name:
                return c
        raise ModelError(f"Column '{name}' unknown in table '{table}' of schema '{self.name}'",
                         schema=self.name, table=table)

    def hierarchy_columns(self, name: str) -> list[Column]:
        """Columns of the table and of all its subclasses (what a parent-table row may carry)."""
        seen: dict[str, Column] = {c.name: c for c in self.columns(name)}
        for sub in self.subclasses(name):
            for c in sub.columns:
                seen.setdefault(c.name, c)
        return list(seen.values())

    def primary_key(self, name: str) -> list[Column]:
        return [c for c in self.columns(name) if c.key == 1]

    def data_tables(self) -> list[Table]:
        return [t for t in self.tables.values() if not t.is_ontology]

    def has_columns(self, name: str) -> bool:
        return any(c.is_stored or c.is_refback for c in self.columns(name))

    # ----------------------------------------------------------------- CSV layout
    def _target_model(self, col: Column) -> SchemaModel:
        if not col.ref_schema or col.ref_schema == self.name:
            return self
        other = self.resolver(col.ref_schema) if self.resolver else None
        if other is None:
            raise ModelError(
                f"Column '{col.table}.{col.name}' of schema '{self.name}' refers to schema "
                f"'{col.ref_schema}', whose metadata is not available", schema=self.name, table=col.table)
        return other

    def key_parts(self, name: str) -> list[Part]:
        """The CSV columns of a table's primary key, with the plain key column each ends in."""
        if name in self._key_cache:
            return self._key_cache[name]
        root = self.root(name).name
        parts: list[Part] = []
        seen: set[str] = set()
        for col in self.primary_key(name):
            if col.is_reference:
                sub = self.column_parts(name, col)
            else:
                sub = [Part(col.name, col.name, (self.name, root, col.name))]
            for p in sub:
                if p.name not in seen:
                    seen.add(p.name)
                    parts.append(Part(p.name, p.name, p.leaf))
        self._key_cache[name] = parts
        return parts

    def key_columns(self, name: str) -> list[str]:
        return [p.name for p in self.key_parts(name)]

    def column_parts(self, table: str, col: Column, _depth: int = 0) -> list[Part]:
        """The CSV columns a reference column is written as, in order."""
        if _depth > 20:
            raise ModelError(f"Reference loop through {table}.{col.name} in schema '{self.name}'",
                             schema=self.name, table=table)
        target_model = self._target_model(col)
        if not col.ref_table or col.ref_table not in target_model.tables:
            if col.is_ontology:
                leaf = (col.ref_schema or self.name, col.ref_table or "", "name")
                return [Part(col.name, "name", leaf)]
            raise ModelError(
                f"Column '{table}.{col.name}' of schema '{self.name}' refers to table "
                f"'{col.ref_table}', which schema '{target_model.name}' does not have",
                schema=self.name, table=table)
        tparts = target_model.key_parts(col.ref_table)
        link_parts: list[Part] = []
        if col.ref_link:
            link_col = next((c for c in self.columns(table) if c.name == col.ref_link), None)
            if link_col is None:
                raise ModelError(f"refLink '{col.ref_link}' of {table}.{col.name} is not a column "
                                 f"of '{table}' in schema '{self.name}'", schema=self.name, table=table)
            if link_col.is_reference:
                link_parts = self.column_parts(table, link_col, _depth + 1)
            else:
                link_parts = [Part(link_col.name, link_col.name,
                                   (self.name, self.root(table).name, link_col.name))]
        used: set[int] = set()
        result: list[Part] = []
        own_idx: list[int] = []
        for tp in tparts:
            match = None
            for i, lp in enumerate(link_parts):
                if i not in used and lp.leaf == tp.leaf:
                    match = i
                    break
            if match is not None:
                used.add(match)
                result.append(Part(link_parts[match].name, tp.name, tp.leaf, shared=True))
            else:
                own_idx.append(len(result))
                result.append(Part(f"{col.name}.{tp.name}", tp.name, tp.leaf))
        if len(own_idx) == 1:
            i = own_idx[0]
            result[i] = Part(col.name, result[i].target, result[i].leaf)
        return result

    def csv_columns(self, name: str, *, include_refbacks: bool = False,
                    hierarchy: bool = False) -> list[str]:
        """The data columns of a table as EMX2 writes them in a CSV, in order."""
        cols = self.hierarchy_columns(name) if hierarchy else self.columns(name)
        out: list[str] = []
        seen: set[str] = set()

        def add(n: str) -> None:
            if n not in seen:
                seen.add(n)
                out.append(n)

        for c in cols:
            if c.is_layout or c.name.startswith("mg_"):
                continue
            if c.is_refback:
                if include_refbacks:
                    add(c.name)
                continue
            if c.is_reference:
                for p in self.column_parts(c.table if c.table in self.tables else name, c):
                    add(p.name)
            elif c.is_file:
                add(c.name)
                add(c.name + "_filename")
            else:
                add(c.name)
        return out

    def references(self, name: str) -> list[Reference]:
        """Every stored reference of a table (inherited ones included), resolved to CSV parts."""
        if name in self._ref_cache:
            return self._ref_cache[name]
        refs = []
        for c in self.columns(name):
            if not c.is_reference or c.computed:
                continue
            parts = tuple(self.column_parts(c.table if c.table in self.tables else name, c))
            refs.append(Reference(table=name, column=c,
                                  target_schema=c.ref_schema or self.name,
                                  target_table=c.ref_table or "", parts=parts))
        self._ref_cache[name] = refs
        return refs

    def csv_column_owner(self, name: str) -> dict[str, Column]:
        """For each CSV column of a table, the model column it belongs to (first owner wins)."""
        cached = self._owner_cache.get(name)
        if cached is not None:
            return dict(cached)
        owner: dict[str, Column] = {}
        for c in self.hierarchy_columns(name):
            if c.is_layout or c.is_refback or c.name.startswith("mg_"):
                continue
            if c.is_reference:
                for p in self.column_parts(c.table, c):
                    if not p.shared:
                        owner.setdefault(p.name, c)
            elif c.is_file:
                owner.setdefault(c.name, c)
                owner.setdefault(c.name + "_filename", c)
            else:
                owner.setdefault(c.name, c)
        self._owner_cache[name] = owner
        return dict(owner)

    # ----------------------------------------------------------------- order
    def dependency_edges(self) -> tuple[dict[str, set[str]], dict[str, set[str]]]:
        """(hard, soft) edges table -> tables it needs first, within this schema.

        Hard edges come from inheritance and from key or required references; soft edges from
        optional references. Self references are left out. A reference to a parent table also
        points at its subclasses, because that is where the rows live.
        """
        hard: dict[str, set[str]] = {t: set() for t in self.tables}
        soft: dict[str, set[str]] = {t: set() for t in self.tables}
        for t in self.tables.values():
            if t.extends and t.extends in self.tables:
                hard[t.name].add(t.extends)
            for c in t.columns:
                if not c.is_reference or (c.ref_schema and c.ref_schema != self.name):
                    continue
                if not c.ref_table or c.ref_table not in self.tables:
                    continue
                targets = {c.ref_table} | {s.name for s in self.subclasses(c.ref_table)}
                bucket = hard if (c.key == 1 or c.is_required) else soft
                for holder in [t.name] + [s.name for s in self.subclasses(t.name)]:
                    for target in targets:
                        if target != holder:
                            bucket[holder].add(target)
        return hard, soft

    def load_order(self, tables: Iterable[str] | None = None) -> list[str]:
        """A safe per-table insert order: parents and referenced tables first.

        Where optional references form a cycle, the table earliest in the model comes first;
        its references that point forward must then be uploaded in a second pass (or in one
        transaction). Deletes run this order backwards.
        """
        wanted = list(self.tables) if tables is None else [t for t in tables]
        for t in wanted:
            self.table(t)
        index = {t: i for i, t in enumerate(self.tables)}
        hard, soft = self.dependency_edges()
        wanted_set = set(wanted)
        need = {t: (hard[t] | soft[t]) & wanted_set for t in wanted}
        need_hard = {t: hard[t] & wanted_set for t in wanted}
        done: list[str] = []
        placed: set[str] = set()
        remaining = set(wanted)
        while remaining:
            ready = [t for t in remaining if not (need[t] - placed)]
            if not ready:
                ready = [t for t in remaining if not (need_hard[t] - placed)]
            if not ready:
                ready = [min(remaining, key=lambda t: index[t])]
            pick = min(ready, key=lambda t: index[t])
            done.append(pick)
            placed.add(pick)
            remaining.discard(pick)
        return done

    def deferred_references(self, order: list[str]) -> list[Reference]:
        """Optional references that point to a table placed later in `order` (second pass)."""
        pos = {t: i for i, t in enumerate(order)}
        out = []
        for t in order:
            for ref in self.references(t):
                if ref.target_schema != self.name or ref.target_table == t:
                    continue
                targets = [ref.target_table] + [s.name for s in self.subclasses(ref.target_table)]
                if any(x in pos and pos[x] > pos[t] for x in targets):
                    out.append(ref)
        return out

    # ----------------------------------------------------------------- versions
    def version(self) -> str | None:
        """The data-model version: the description of the column-less table `Version`."""
        v = self.tables.get("Version")
        return v.description.strip() if v is not None and v.description else None

    def profiles(self) -> list[str]:
        """Profile tags: the column names of the marker table `Profiles`."""
        p = self.tables.get("Profiles")
        return [c.name for c in p.columns] if p is not None else []


    def data_models(self) -> list[str]:
        """Names of the data model(s) the schema was built from, read from its metadata.

        The profile tags (columns of `Profiles`) of the current catalogue models; `SharedStaging`
        for the legacy 3.x shared staging model (a `Version` table and `Organisations` extending
        `Resources`, no profiles); `CatalogueOntologies` for the ontology schema (ontology tables
        plus the shared `Organisations` list keyed on `name`, no version of its own).
        """
        tags = self.profiles()
        if tags:
            return tags
        orgs = self.tables.get("Organisations")
        if orgs is not None and "Version" in self.tables and orgs.extends == "Resources" \
                and "Collections" not in self.tables:
            return ["SharedStaging"]
        if orgs is not None and not orgs.extends and [c.name for c in self.primary_key("Organisations")] \
                == ["name"] and any(t.is_ontology for t in self.tables.values()):
            return ["CatalogueOntologies"]
        return []

    def describe_model(self) -> str:
        """`profile X, version V` as found in the metadata, for messages."""
        names = self.data_models()
        return f"model {', '.join(names) or '(unknown)'}, version {self.version() or '(none)'}"

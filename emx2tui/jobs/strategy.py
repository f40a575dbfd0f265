"""Job strategies: declarative, versioned TOML files shipped in the package.

A strategy names its flow, its steps, the data model (profile tag) and version range of the
source and target schema, where the resource id X comes from, and the tables to sync and to
delete with the column each is filtered on. The order in which tables are written is not in
the file: it comes from the target schema's metadata.
"""

from __future__ import annotations

import os
import re
import tomllib
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

from emx2tui.emx2.model import SchemaModel

STEP_NAMES = ("tablesToSync", "tablesToDelete", "deleteCohort", "deleteNetwork", "download",
              "filter", "upload")
FLOW_STEPS = {
    "A": ["tablesToSync", "download", "filter", "upload"],
    "B": ["tablesToDelete", "deleteCohort", "tablesToSync", "download", "filter", "upload"],
}


class StrategyError(Exception):
    """A strategy is unknown, malformed, or does not fit the schemas it is run on."""


# ----------------------------------------------------------------------------- versions
def parse_version(text: str) -> tuple[int, ...]:
    nums = re.findall(r"\d+", text or "")
    if not nums:
        raise StrategyError(f"'{text}' is not a version number")
    return tuple(int(n) for n in nums[:4])


def _cmp(a: tuple[int, ...], b: tuple[int, ...]) -> int:
    width = max(len(a), len(b))
    a = a + (0,) * (width - len(a))
    b = b + (0,) * (width - len(b))
    return (a > b) - (a < b)


@dataclass(frozen=True)
class VersionRange:
    """Comparisons joined by commas, e.g. `>=9.0.0, <10`."""

    text: str

    @property
    def any(self) -> bool:
        """`*`: every version, and also a schema that carries none."""
        return self.text.strip() in ("*", "any")

    def clauses(self) -> list[tuple[str, tuple[int, ...]]]:
        out: list[tuple[str, tuple[int, ...]]] = []
        if self.any:
            return out
        for part in (p.strip() for p in self.text.split(",")):
            if not part:
                continue
            m = re.match(r"^(>=|<=|==|!=|>|<|=)?\s*([0-9][0-9.]*)$", part)
            if not m:
                raise StrategyError(f"version range '{self.text}': cannot read '{part}'")
            out.append((m.group(1) or "==", parse_version(m.group(2))))
        return out

    def contains(self, version: str) -> bool:
        v = parse_version(version)
        for op, bound in self.clauses():
            c = _cmp(v, bound)
            ok = {">=": c >= 0, "<=": c <= 0, ">": c > 0, "<": c < 0, "==": c == 0, "=": c == 0,
                  "!=": c != 0}[op]
            if not ok:
                return False
        return True

    def __str__(self) -> str:
        return self.text


@dataclass(frozen=True)
class ModelSpec:
    """The data model a side of a job must have: a profile tag and a version range."""

    profile: str
    versions: VersionRange
    default_schema: str | None = None

    def describe(self) -> str:
        return f"{self.profile} {self.versions}"

    def fits(self, model: SchemaModel) -> bool:
        if self.profile not in model.data_models():
            return False
        version = model.version()
        if self.versions.any:
            return True
        return bool(version) and self.versions.contains(version)

    def check(self, model: SchemaModel, side: str, where: str) -> list[str]:
        """Raise StrategyError when the schema does not fit; return warnings otherwise."""
        version = model.version()
        found = model.describe_model()
        if self.profile not in model.data_models():
            raise StrategyError(
                f"The {side} schema '{model.name}' ({where}) has {found}; this job expects "
                f"{self.describe()}. Pick the right schema or another strategy.")
        if self.versions.any:
            return []
        if not version:
            raise StrategyError(f"The {side} schema '{model.name}' ({where}) carries no model version "
                                f"(table 'Version'); this job expects {self.describe()}.")
        if not self.versions.contains(version):
            raise StrategyError(
                f"The {side} schema '{model.name}' ({where}) has {found}; this job supports "
                f"{self.describe()}. Migrate the schema first or use a matching strategy version.")
        return []


@dataclass(frozen=True)
class TableSpec:
    """One table of a job: the column compared with X and the transforms applied."""

    table: str
    filter: str | None = None  # column name compared with X; None means all rows
    own_class_only: bool = False  # parent table: keep rows of this class, not of its subclasses
    blank_outside: tuple[str, ...] = ()  # references blanked when they point outside X
    # Target columns the source model lacks are kept (the target's value is sent back) unless
    # listed here: these are emptied on every row the job writes.
    clear: tuple[str, ...] = ()

    def filter_text(self, resource_id: str | None) -> str:
        parts = []
        if self.filter:
            parts.append(f"{self.filter} = {resource_id if resource_id is not None else 'X'}")
        if self.own_class_only:
            parts.append(f"class {self.table} only")
        return ", ".join(parts) or "all rows"


@dataclass(frozen=True)
class ResourceSpec:
    side: str = "source"  # "source" or "target": which schema's row gives X
    table: str = "Collections"
    column: str = "id"
    must_exist_in: str | None = None
    # what happens when X is not in `must_exist_in`: "error" stops with a message, "skip" skips
    # the job (the id must match exactly, case included)
    on_missing: str = "error"


@dataclass(frozen=True)
class GdprSpec:
    """Contacts without consent for personal data are not published.

    `email`: "keep" publishes the email of a consenting contact (the personal-data consent
    covers it since model 7.0.0); "blank" empties every email.
    """

    table: str = "Contacts"
    consent_column: str = "statement of consent personal data"
    email: str = "keep"
    email_column: str = "email"

    def describe(self) -> str:
        rule = ("emails of consenting contacts are published (the personal-data consent covers "
                "email)" if self.email == "keep" else "every email is emptied")
        return (f"GDPR on {self.table}: rows whose '{self.consent_column}' is not true are not "
                f"published, the column itself is not sent, references to those rows are "
                f"emptied; {rule}")


@dataclass
class Strategy:
    name: str
    title: str
    flow: str
    description: str
    steps: list[str]
    source_model: ModelSpec
    target_model: ModelSpec
    sync: list[TableSpec]
    delete: list[TableSpec] = field(default_factory=list)
    keep: list[str] = field(default_factory=list)
    resource: ResourceSpec = field(default_factory=ResourceSpec)
    version: str = "1"
    aliases: list[str] = field(default_factory=list)
    path: str | None = None
    # alternative (source, target) model pairs; the first that fits both schemas is used
    model_pairs: list[tuple[ModelSpec, ModelSpec]] = field(default_factory=list)
    keep_target_columns: bool = True
    gdpr: GdprSpec | None = None
    transport: str = "zip"
    # how the source rows are read: "tables" asks the server for each table's rows of X;
    # "zip" takes the whole source schema in one ZIP export and selects the rows of X here (for
    # a staging area, which holds one resource: one request instead of one per table)
    source_read: str = "tables"

    def pairs(self) -> list[tuple[ModelSpec, ModelSpec]]:
        return self.model_pairs or [(self.source_model, self.target_model)]

    def describe_models(self) -> str:
        return " | ".join(f"{s.describe()} -> {t.describe()}" for s, t in self.pairs())

    def check_models(self, source: SchemaModel, target: SchemaModel, source_where: str,
                     target_where: str) -> tuple[ModelSpec, ModelSpec]:
        """The model pair both schemas fit; StrategyError naming what was found otherwise."""
        pairs = self.pairs()
        for s, t in pairs:
            if s.fits(source) and t.fits(target):
                return s, t
        if len(pairs) == 1:
            s, t = pairs[0]
            s.check(source, "source", source_where)
            t.check(target, "target", target_where)
            return s, t
        raise StrategyError(
            f"The source schema '{source.name}' ({source_where}) has {source.describe_model()} and "
            f"the target schema '{target.name}' ({target_where}) has {target.describe_model()}; "
            f"this job expects one of: {self.describe_models()}.")

    @property
    def tables(self) -> list[TableSpec]:
        """The tables to sync (the table list with filters)."""
        return self.sync

    def sync_spec(self, table: str) -> TableSpec | None:
        return next((t for t in self.sync if t.table == table), None)

    def delete_spec(self, table: str) -> TableSpec | None:
        return next((t for t in self.delete if t.table == table), None)

    def summary(self) -> str:
        return f"{self.name} (flow {self.flow}, file version {self.version}): {self.describe_models()}"


# ----------------------------------------------------------------------------- loading
def name_key(name: str) -> str:
    """A strategy name in any spelling (FillStaging, fill-staging, FILL_STAGING) as one key."""
    return re.sub(r"[^a-z0-9]", "", name.lower())


def _table_specs(items: list, where: str) -> list[TableSpec]:
    out = []
    for i, item in enumerate(items or []):
        if not isinstance(item, dict) or not item.get("table"):
            raise StrategyError(f"{where}: entry {i + 1} needs a 'table'")
        if not isinstance(item["table"], str):
            raise StrategyError(f"{where}: entry {i + 1}: table must be a table's name, not "
                                f"{item['table']!r}")
        out.append(TableSpec(table=item["table"], filter=item.get("filter") or None,
                             own_class_only=bool(item.get("own_class_only", False)),
                             blank_outside=tuple(item.get("blank_outside") or ()),
                             clear=tuple(item.get("clear") or ())))
    return out


def _model_spec(data: dict | None, where: str) -> ModelSpec:
    if not isinstance(data, dict) or not data.get("profile") or not data.get("versions"):
        raise StrategyError(f"{where} needs 'profile' and 'versions'")
    spec = ModelSpec(profile=data["profile"], versions=VersionRange(str(data["versions"])),
                     default_schema=data.get("default_schema"))
    spec.versions.clauses()
    return spec


# The type each top-level key of a strategy file must have (the README documents the format).
_KEY_TYPES: dict[str, tuple[type, str]] = {
    "name": (str, "a string"), "title": (str, "a string"), "version": (str, "a string"),
    "flow": (str, "a string"), "description": (str, "a string"), "transport": (str, "a string"),
    "source_read": (str, "a string"),
    "aliases": (list, "a list of strings"), "steps": (list, "a list of step names"),
    "resource": (dict, "a table ([resource])"), "source": (dict, "a table ([source])"),
    "target": (dict, "a table ([target])"), "columns": (dict, "a table ([columns])"),
    "keep": (dict, "a table ([keep])"), "gdpr": (dict, "a table ([gdpr])"),
    "sync": (list, "an array of tables ([[sync]])"), "delete": (list, "an array of tables ([[delete]])"),
    "models": (list, "an array of tables ([[models]])"),
}


def parse_strategy(text: str, path: str | None = None) -> Strategy:
    where = path or "strategy file"
    try:
        data = tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        raise StrategyError(f"{where}: not valid TOML ({exc})") from exc
    for key, (kind, words) in _KEY_TYPES.items():
        if key in data and not isinstance(data[key], kind):
            raise StrategyError(f"{where}: '{key}' must be {words}, not {data[key]!r}")
    for key in ("aliases", "steps"):
        if any(not isinstance(v, str) for v in data.get(key) or []):
            raise StrategyError(f"{where}: '{key}' must be a list of strings")
    for key in ("sync", "delete", "models"):
        if any(not isinstance(v, dict) for v in data.get(key) or []):
            raise StrategyError(f"{where}: every '{key}' entry must be a table ([[{key}]])")
    try:
        return _parse_strategy(data, where, path)
    except (TypeError, AttributeError, ValueError, KeyError) as exc:
        raise StrategyError(f"{where}: a value has the wrong type or form ({exc}); compare it with "
                            "the format in the README or a built-in strategy") from None


def _parse_strategy(data: dict, where: str, path: str | None) -> Strategy:
    for key in ("name", "flow", "sync"):
        if key not in data:
            raise StrategyError(f"{where}: '{key}' is missing")
    if "models" not in data and ("source" not in data or "target" not in data):
        raise StrategyError(f"{where}: '[source]' and '[target]' (or '[[models]]') are missing")
    flow = str(data["flow"]).upper()
    if flow not in FLOW_STEPS:
        raise StrategyError(f"{where}: flow must be 'A' or 'B', not '{data['flow']}'")
    steps = list(data.get("steps") or FLOW_STEPS[flow])
    unknown = [s for s in steps if s not in STEP_NAMES]
    if unknown:
        raise StrategyError(f"{where}: unknown steps {unknown}; known: {', '.join(STEP_NAMES)}")
    res = data.get("resource") or {}
    pairs = []
    for i, item in enumerate(data.get("models") or []):
        if not isinstance(item, dict):
            raise StrategyError(f"{where} [[models]] entry {i + 1} needs 'source' and 'target'")
        pairs.append((_model_spec(item.get("source"), f"{where} [[models]] {i + 1} source"),
                      _model_spec(item.get("target"), f"{where} [[models]] {i + 1} target")))
    if pairs:
        source_spec, target_spec = pairs[0]
    else:
        source_spec = _model_spec(data.get("source"), f"{where} [source]")
        target_spec = _model_spec(data.get("target"), f"{where} [target]")
    gdpr = None
    if isinstance(data.get("gdpr"), dict):
        g = data["gdpr"]
        gdpr = GdprSpec(table=g.get("table", "Contacts"),
                        consent_column=g.get("consent_column", "statement of consent personal data"),
                        email=str(g.get("email", "keep")), email_column=g.get("email_column", "email"))
        if gdpr.email not in ("keep", "blank"):
            raise StrategyError(f"{where} [gdpr]: email must be 'keep' or 'blank', not '{gdpr.email}'")
    transport = str(data.get("transport") or "zip")
    if transport not in ("zip", "csv"):
        raise StrategyError(f"{where}: transport must be 'zip' or 'csv', not '{transport}'")
    source_read = str(data.get("source_read") or "tables")
    if source_read not in ("tables", "zip"):
        raise StrategyError(f"{where}: source_read must be 'tables' or 'zip', not '{source_read}'")
    if res.get("side", "source") not in ("source", "target", "none"):
        raise StrategyError(f"{where} [resource]: side must be 'source', 'target' or 'none', "
                            f"not {res.get('side')!r}")
    for key in ("table", "column", "must_exist_in"):
        if key in res and not isinstance(res[key], str):
            raise StrategyError(f"{where} [resource]: {key} must be a string, not {res[key]!r}")
    if gdpr is not None and not all(isinstance(v, str) for v in (gdpr.table, gdpr.consent_column,
                                                                 gdpr.email_column)):
        raise StrategyError(f"{where} [gdpr]: table, consent_column and email_column must be strings")
    on_missing = res.get("on_missing", "error")
    if on_missing not in ("error", "skip"):
        raise StrategyError(f"{where} [resource]: on_missing must be 'error' or 'skip'")
    strategy = Strategy(
        name=data["name"], title=data.get("title") or data["name"], flow=flow,
        description=" ".join((data.get("description") or "").split()),
        steps=steps,
        source_model=source_spec,
        target_model=target_spec,
        sync=_table_specs(data.get("sync"), f"{where} [[sync]]"),
        delete=_table_specs(data.get("delete"), f"{where} [[delete]]"),
        keep=list((data.get("keep") or {}).get("tables") or []),
        resource=ResourceSpec(side=res.get("side", "source"), table=res.get("table", "Collections"),
                              column=res.get("column", "id"), must_exist_in=res.get("must_exist_in"),
                              on_missing=on_missing),
        version=str(data.get("version") or "1"),
        aliases=list(data.get("aliases") or []),
        path=path,
        model_pairs=pairs,
        keep_target_columns=bool((data.get("columns") or {}).get("keep_target", True)),
        gdpr=gdpr,
        transport=transport,
        source_read=source_read,
    )
    if not strategy.sync:
        raise StrategyError(f"{where}: [[sync]] lists no tables")
    clash = [t.table for t in strategy.delete if t.table in strategy.keep]
    if clash:
        raise StrategyError(f"{where}: tables {clash} are both to delete and to keep")
    if strategy.flow == "A" and strategy.delete:
        raise StrategyError(f"{where}: flow A never deletes; remove the [[delete]] tables or use flow B")
    return strategy


_BUILTIN = os.path.join(os.path.dirname(__file__), "strategies")  # installed with the package


def _builtin_files() -> Iterator[tuple[str, str]]:
    """(path shown to users, text) of each built-in strategy file, in name order; each file is
    read only when the caller gets to it."""
    for name in sorted(os.listdir(_BUILTIN)):
        if name.endswith(".toml"):
            with open(os.path.join(_BUILTIN, name), encoding="utf-8") as f:
                yield f"emx2tui/jobs/strategies/{name}", f.read()


def list_strategies(extra_dirs: list[Path] | None = None) -> list[Strategy]:
    """The built-in strategies, plus any `*.toml` in `extra_dirs`."""
    out = [parse_strategy(text, path) for path, text in _builtin_files()]
    for d in extra_dirs or []:
        for f in sorted(Path(d).glob("*.toml")):
            out.append(parse_strategy(f.read_text(encoding="utf-8"), str(f)))
    return out


def load_strategy_file(path: str | Path) -> Strategy:
    """A user's strategy file, in the format of the built-in ones."""
    p = Path(path).expanduser()
    try:
        text = p.read_text(encoding="utf-8")
    except OSError as exc:
        raise StrategyError(f"Cannot read strategy file {p}: {exc.strerror or exc}") from None
    except UnicodeDecodeError:
        raise StrategyError(f"Strategy file {p} is not UTF-8 text") from None
    return parse_strategy(text, str(p))


def load_strategy(name: str, extra_dirs: list[Path] | None = None) -> Strategy:
    """A strategy by name, alias or file stem, in any spelling (FillStaging, fill-staging, FILL_STAGING)."""
    if name.endswith(".toml") and Path(name).is_file():
        return parse_strategy(Path(name).read_text(encoding="utf-8"), name)
    wanted = name_key(name)
    for path, text in _builtin_files():
        if name_key(Path(path).stem) == wanted:  # named by its file: only that file is read
            return parse_strategy(text, path)
    all_ = list_strategies(extra_dirs)
    for s in all_:
        keys = {name_key(s.name), *(name_key(a) for a in s.aliases)}
        if s.path:
            keys.add(name_key(Path(s.path).stem))
        if wanted in keys:
            return s
    known = ", ".join(s.name for s in all_)
    raise StrategyError(f"Unknown strategy '{name}'. Known strategies: {known}.")

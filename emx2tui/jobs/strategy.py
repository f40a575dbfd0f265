"""Job strategies: declarative, versioned TOML files shipped in the package.

A strategy names its flow, its steps, the data model (profile tag) and version range of the
source and target schema, where the resource id X comes from, and the tables to sync and to
delete with the column each is filtered on. The order in which tables are written is not in
the file: it comes from the target schema's metadata.
"""

from __future__ import annotations

import re
import tomllib
from dataclasses import dataclass, field
from importlib import resources
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

    def clauses(self) -> list[tuple[str, tuple[int, ...]]]:
        out = []
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

    def check(self, model: SchemaModel, side: str, where: str) -> list[str]:
        """Raise StrategyError when the schema does not fit; return warnings otherwise."""
        found_profiles = model.profiles()
        version = model.version()
        found = f"profile {', '.join(found_profiles) or '(none)'}, version {version or '(none)'}"
        if self.profile not in found_profiles:
            raise StrategyError(
                f"The {side} schema '{model.name}' ({where}) has {found}; this job expects "
                f"{self.describe()}. Pick the right schema or another strategy.")
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

    @property
    def tables(self) -> list[TableSpec]:
        """The tables to sync (the table list with filters)."""
        return self.sync

    def sync_spec(self, table: str) -> TableSpec | None:
        return next((t for t in self.sync if t.table == table), None)

    def delete_spec(self, table: str) -> TableSpec | None:
        return next((t for t in self.delete if t.table == table), None)

    def summary(self) -> str:
        return (f"{self.name} (flow {self.flow}, file version {self.version}): "
                f"{self.source_model.describe()} -> {self.target_model.describe()}")


# ----------------------------------------------------------------------------- loading
def _key(name: str) -> str:
    return re.sub(r"[^a-z0-9]", "", name.lower())


def _table_specs(items: list, where: str) -> list[TableSpec]:
    out = []
    for i, item in enumerate(items or []):
        if not isinstance(item, dict) or not item.get("table"):
            raise StrategyError(f"{where}: entry {i + 1} needs a 'table'")
        out.append(TableSpec(table=item["table"], filter=item.get("filter") or None,
                             own_class_only=bool(item.get("own_class_only", False)),
                             blank_outside=tuple(item.get("blank_outside") or ())))
    return out


def _model_spec(data: dict | None, where: str) -> ModelSpec:
    if not isinstance(data, dict) or not data.get("profile") or not data.get("versions"):
        raise StrategyError(f"{where} needs 'profile' and 'versions'")
    spec = ModelSpec(profile=data["profile"], versions=VersionRange(str(data["versions"])),
                     default_schema=data.get("default_schema"))
    spec.versions.clauses()
    return spec


def parse_strategy(text: str, path: str | None = None) -> Strategy:
    where = path or "strategy file"
    try:
        data = tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        raise StrategyError(f"{where}: not valid TOML ({exc})") from exc
    for key in ("name", "flow", "source", "target", "sync"):
        if key not in data:
            raise StrategyError(f"{where}: '{key}' is missing")
    flow = str(data["flow"]).upper()
    if flow not in FLOW_STEPS:
        raise StrategyError(f"{where}: flow must be 'A' or 'B', not '{data['flow']}'")
    steps = list(data.get("steps") or FLOW_STEPS[flow])
    unknown = [s for s in steps if s not in STEP_NAMES]
    if unknown:
        raise StrategyError(f"{where}: unknown steps {unknown}; known: {', '.join(STEP_NAMES)}")
    res = data.get("resource") or {}
    strategy = Strategy(
        name=data["name"], title=data.get("title") or data["name"], flow=flow,
        description=" ".join((data.get("description") or "").split()),
        steps=steps,
        source_model=_model_spec(data.get("source"), f"{where} [source]"),
        target_model=_model_spec(data.get("target"), f"{where} [target]"),
        sync=_table_specs(data.get("sync"), f"{where} [[sync]]"),
        delete=_table_specs(data.get("delete"), f"{where} [[delete]]"),
        keep=list((data.get("keep") or {}).get("tables") or []),
        resource=ResourceSpec(side=res.get("side", "source"), table=res.get("table", "Collections"),
                              column=res.get("column", "id"), must_exist_in=res.get("must_exist_in")),
        version=str(data.get("version") or "1"),
        aliases=list(data.get("aliases") or []),
        path=path,
    )
    clash = [t.table for t in strategy.delete if t.table in strategy.keep]
    if clash:
        raise StrategyError(f"{where}: tables {clash} are both to delete and to keep")
    if strategy.flow == "A" and strategy.delete:
        raise StrategyError(f"{where}: flow A never deletes; remove the [[delete]] tables or use flow B")
    return strategy


def _builtin_files() -> list[tuple[str, str]]:
    folder = resources.files("emx2tui.jobs") / "strategies"
    out = []
    for entry in sorted(folder.iterdir(), key=lambda e: e.name):
        if entry.name.endswith(".toml"):
            out.append((f"emx2tui/jobs/strategies/{entry.name}", entry.read_text(encoding="utf-8")))
    return out


def list_strategies(extra_dirs: list[Path] | None = None) -> list[Strategy]:
    """The built-in strategies, plus any `*.toml` in `extra_dirs`."""
    out = [parse_strategy(text, path) for path, text in _builtin_files()]
    for d in extra_dirs or []:
        for f in sorted(Path(d).glob("*.toml")):
            out.append(parse_strategy(f.read_text(encoding="utf-8"), str(f)))
    return out


def load_strategy(name: str, extra_dirs: list[Path] | None = None) -> Strategy:
    """A strategy by name, alias or file stem, in any spelling (FillStaging, fill-staging, FILL_STAGING)."""
    if name.endswith(".toml") and Path(name).is_file():
        return parse_strategy(Path(name).read_text(encoding="utf-8"), name)
    wanted = _key(name)
    all_ = list_strategies(extra_dirs)
    for s in all_:
        keys = {_key(s.name), *(_key(a) for a in s.aliases)}
        if s.path:
            keys.add(_key(Path(s.path).stem))
        if wanted in keys:
            return s
    known = ", ".join(s.name for s in all_)
    raise StrategyError(f"Unknown strategy '{name}'. Known strategies: {known}.")

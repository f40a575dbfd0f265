"""The demo data set: well-formed files, keys, references, required values and planned differences."""

from __future__ import annotations

from collections import Counter

import pytest

from emx2tui.emx2 import csvfmt
from emx2tui.emx2.model import SchemaModel
from emx2tui.sandbox.demo import DEMO, demo_schemas, write_demo

ORDER = ["CatalogueOntologies", "catalogue", "NORTHSTAR", "RIVERSIDE"]


class DemoSet:
    """The demo parsed: models (with cross-schema resolution) and rows per schema and table."""

    def __init__(self, schemas: list[tuple[str, dict[str, str]]]) -> None:
        self.names = [name for name, _files in schemas]
        self.files = dict(schemas)
        self.models: dict[str, SchemaModel] = {}
        for name, files in schemas:
            self.models[name] = SchemaModel.from_molgenis_csv(files["molgenis.csv"], name, self.models.get)
        self.headers: dict[tuple[str, str], list[str]] = {}
        self.rows: dict[tuple[str, str], list[dict[str, str]]] = {}
        for name, files in schemas:
            for fname, text in files.items():
                if fname == "molgenis.csv":
                    continue
                assert fname.endswith(".csv"), fname
                header, rows = csvfmt.read_csv(text, what=f"{name}/{fname}")
                self.headers[(name, fname[:-4])] = header
                self.rows[(name, fname[:-4])] = rows

    def table_rows(self, schema: str, table: str) -> list[dict[str, str]]:
        return self.rows.get((schema, table), [])

    def count(self, schema: str) -> int:
        return sum(len(r) for (s, _t), r in self.rows.items() if s == schema)

    def key_index(self) -> dict[tuple[str, str], set[tuple[str, ...]]]:
        """Keys of every table, a row counting for its own table and every ancestor."""
        index: dict[tuple[str, str], set[tuple[str, ...]]] = {}
        for (schema, table), rows in self.rows.items():
            model = self.models[schema]
            cols = model.key_columns(table)
            for ancestor in model.lineage(table):
                bucket = index.setdefault((schema, ancestor.name), set())
                for row in rows:
                    bucket.add(tuple(row[c] for c in cols))
        return index


@pytest.fixture(scope="module")
def demo() -> DemoSet:
    return DemoSet(demo_schemas())


def reference_problems(ds: DemoSet) -> list[str]:
    """Every reference value that does not name an existing row (local or in another schema)."""
    index = ds.key_index()
    problems: list[str] = []
    for (schema, table), rows in ds.rows.items():
        model = ds.models[schema]
        for ref in model.references(table):
            target_model = ds.models[ref.target_schema]
            target_cols = target_model.key_columns(ref.target_table)
            known = index.get((ref.target_schema, ref.target_table), set())
            own = [p for p in ref.parts if not p.shared]
            for n, row in enumerate(rows, start=2):
                if all(not row.get(p.name) for p in own):
                    continue
                if ref.is_array:
                    lists = {p.name: csvfmt.split_array(row[p.name]) for p in own}
                    lengths = {len(v) for v in lists.values()}
                    if len(lengths) != 1:
                        problems.append(f"{schema}.{table} line {n}: {ref.column.name} parts differ "
                                        f"in length")
                        continue
                    items = []
                    for i in range(lengths.pop()):
                        value = {p.target: (row[p.name] if p.shared else lists[p.name][i])
                                 for p in ref.parts}
                        items.append(value)
                else:
                    if any(not row.get(p.name) for p in ref.parts):
                        problems.append(f"{schema}.{table} line {n}: {ref.column.name} partly empty")
                        continue
                    items = [{p.target: row[p.name] for p in ref.parts}]
                for value in items:
                    key = tuple(value.get(c, "") for c in target_cols)
                    if key not in known:
                        problems.append(f"{schema}.{table} line {n}: {ref.column.name} -> "
                                        f"{ref.target_schema}.{ref.target_table} {key} not found")
    return problems


def test_names_and_order(demo):
    assert demo.names == ORDER
    assert DEMO["ontologies"] == "CatalogueOntologies"
    assert DEMO["catalogue"] == "catalogue"
    assert set(DEMO["cohorts"]) == {"NORTHSTAR", "RIVERSIDE", "HIGHLANDS"}
    assert DEMO["network"] == "EUROCHILD"
    assert DEMO["staging"] == "NORTHSTAR" and DEMO["staging_cohort"] == "NORTHSTAR"
    assert DEMO["empty_staging"] == "RIVERSIDE" and DEMO["empty_staging_cohort"] == "RIVERSIDE"


def test_every_file_is_a_table_with_the_model_header(demo):
    for (schema, table), header in demo.headers.items():
        model = demo.models[schema]
        assert table in model.tables, (schema, table)
        assert header == model.csv_columns(table), (schema, table)
        assert demo.rows[(schema, table)], f"{schema}/{table}.csv has no rows"
    # Subclass rows sit in their own files; there is no Resources.csv or Agents-only mix-up.
    assert ("catalogue", "Resources") not in demo.rows
    assert ("NORTHSTAR", "Resources") not in demo.rows


def test_models_carry_version_profiles_and_inheritance(demo):
    cat = demo.models["catalogue"]
    stg = demo.models["NORTHSTAR"]
    assert cat.version() == stg.version() == "9.0.0"
    assert cat.profiles() == ["DataCatalogueFlat"]
    assert stg.profiles() == ["CohortsStaging"]
    assert [t.name for t in cat.lineage("Catalogues")] == ["Resources", "Networks", "Catalogues"]
    assert cat.tables["Collections"].extends == "Resources"
    assert cat.tables["Organisations"].extends == "Agents"
    assert stg.tables["Collections"].extends == "Resources"
    assert "Networks" not in stg.tables
    for model in (cat, stg):
        for table in model.tables.values():
            for col in table.columns:
                if col.is_ontology:
                    assert col.ref_schema == "CatalogueOntologies", (table.name, col.name)
    for table, col in [("Variable mappings", "target"), ("Variable mappings", "target table"),
                       ("Variable mappings", "target variable"), ("Table mappings", "target"),
                       ("Table mappings", "target table")]:
        assert stg.column(table, col).ref_schema == "catalogue"
        assert cat.column(table, col).ref_schema is None
    assert cat.key_columns("Variable mappings") == [
        "source", "source table", "target", "target table", "target variable", "repeats"]
    assert cat.key_columns("Variable values") == ["resource", "table", "variable", "value"]
    assert "source variables other tables.table" in stg.csv_columns("Variable mappings")
    assert "useExternalDefinition.name" in cat.csv_columns("Variables")
    onto = demo.models["CatalogueOntologies"]
    assert onto.tables["Age groups"].is_ontology
    assert onto.csv_columns("Age groups") == ["order", "name", "label", "tags", "parent", "codesystem",
                                              "code", "ontologyTermURI", "definition"]


def test_keys_are_unique(demo):
    for (schema, _table), _rows in demo.rows.items():
        model = demo.models[schema]
        roots = {model.root(t).name for (s, t) in demo.rows if s == schema}
        for root in roots:
            keys = Counter()
            cols = model.key_columns(root)
            for (s, t), rows in demo.rows.items():
                if s == schema and model.root(t).name == root:
                    keys.update(tuple(r[c] for c in cols) for r in rows)
            dupes = [k for k, n in keys.items() if n > 1]
            assert not dupes, f"{schema}.{root}: duplicate keys {dupes[:3]}"


def test_secondary_keys_are_unique(demo):
    names = [r["name"] for (s, t), rows in demo.rows.items() if s == "catalogue"
             and t in ("Collections", "Networks", "Catalogues") for r in rows]
    assert len(names) == len(set(names))


def test_every_reference_resolves(demo):
    assert reference_problems(demo) == []


def test_checker_finds_broken_references():
    schemas = demo_schemas()
    files = dict(schemas)["NORTHSTAR"]
    text = files["Variable mappings.csv"]
    files["Variable mappings.csv"] = text.replace(",EUROCHILD,core,sex,", ",EUROCHILD,core,sexx,", 1)
    broken = reference_problems(DemoSet(schemas))
    assert any("target variable" in p and "sexx" in p for p in broken), broken


def test_required_columns_are_filled(demo):
    for (schema, table), rows in demo.rows.items():
        model = demo.models[schema]
        for col in model.columns(table):
            if not col.is_required or not col.is_stored:
                continue
            if col.is_reference:
                names = [p.name for p in model.column_parts(col.table, col)]
            else:
                names = [col.name]
            for row in rows:
                for name in names:
                    assert row.get(name), f"{schema}.{table}: required {name} empty in {row}"


def test_staging_model_is_a_column_subset_of_the_catalogue(demo):
    cat = demo.models["catalogue"]
    stg = demo.models["NORTHSTAR"]
    for table in stg.tables.values():
        assert table.name in cat.tables, table.name
        if table.name == "Profiles":  # one column per profile tag: differs on purpose
            continue
        for col in table.columns:
            other = cat.tables[table.name].own(col.name)
            assert other is not None, f"{table.name}.{col.name} not in the catalogue"
            assert (other.type, other.key, other.ref_table, other.ref_link) == \
                (col.type, col.key, col.ref_table, col.ref_link), (table.name, col.name)
    only_cat = {
        "Agents": {"organisation name", "organisation pid", "organisation website"},
        "Variables": {"generated_keywords"},
        "Subpopulations": {"contact point", "publisher", "creator"},
        "Collection events": {"contact point", "publisher", "creator"},
    }
    for table, cols in only_cat.items():
        assert cols <= {c.name for c in cat.tables[table].columns}
        assert not cols & {c.name for c in stg.tables[table].columns}
    for table in ("Networks", "Catalogues", "Linkages", "Resource mappings", "Reused variables", "Endpoint"):
        assert table in cat.tables and table not in stg.tables
    assert set(demo.models["RIVERSIDE"].tables) == set(stg.tables)


def test_catalogue_content(demo):
    rows = demo.rows
    collections = {r["id"]: r for r in rows[("catalogue", "Collections")]}
    assert {"NORTHSTAR", "RIVERSIDE", "HIGHLANDS"} <= set(collections)
    assert all(r["type"] == "Cohort study" for r in collections.values())
    network = {r["id"]: r for r in rows[("catalogue", "Networks")]}["EUROCHILD"]
    assert set(csvfmt.split_array(network["data resources"])) == set(collections)
    mappings = rows[("catalogue", "Variable mappings")]
    assert {m["target"] for m in mappings} == {"EUROCHILD"}
    assert {m["source"] for m in mappings} == set(collections)
    for cid in collections:
        for table in ("Contacts", "Organisations", "Subpopulations", "Subpopulation counts",
                      "Collection events", "Tables", "Variables", "Variable values"):
            assert any(r["resource"] == cid for r in rows[("catalogue", table)]), (cid, table)
    for table in ("Documentation", "Publications", "External identifiers"):
        assert rows[("catalogue", table)]
    emails = [r["email"] for t in ("Contacts", "Organisations") for r in rows[("catalogue", t)]]
    assert emails and all(e.endswith("@example.org") for e in emails)
    assert rows[("catalogue", "Organisations")][0]["organisation name"]
    assert any(r["generated_keywords"] for r in rows[("catalogue", "Variables")])
    assert any(r["contact point.first name"] for r in rows[("catalogue", "Subpopulations")])
    terms = {r["name"] for r in rows[("CatalogueOntologies", "Resource types")]}
    assert "Cohort study" in terms
    assert "Organisation" in {r["name"] for r in rows[("CatalogueOntologies", "Agent types")]}
    ages = {r["name"]: r["parent"] for r in rows[("CatalogueOntologies", "Age groups")]}
    assert ages["Newborn (0-1 months)"] == "Infant (0-23 months)"


def test_empty_staging_holds_only_the_required_collection_columns(demo):
    files = demo.files["RIVERSIDE"]
    assert set(files) == {"molgenis.csv", "Collections.csv"}
    (row,) = demo.rows[("RIVERSIDE", "Collections")]
    assert {k for k, v in row.items() if v} == {"id", "name", "type"}
    assert row["id"] == "RIVERSIDE" and row["type"] == "Cohort study"
    (staged,) = demo.rows[("NORTHSTAR", "Collections")]
    assert staged["id"] == "NORTHSTAR"


def _diff(demo: DemoSet, table: str) -> tuple[int, int, int]:
    """(inserts, updates, deletes) turning catalogue NORTHSTAR into staging NORTHSTAR, on staging columns."""
    stg = demo.models["NORTHSTAR"]
    header = stg.csv_columns(table)
    keys = stg.key_columns(table)
    scope = "source" if table.endswith("mappings") else ("id" if table == "Collections" else "resource")
    before = {tuple(r[k] for k in keys): tuple(r.get(h, "") for h in header)
              for r in demo.table_rows("catalogue", table) if r[scope] == "NORTHSTAR"}
    after = {tuple(r[k] for k in keys): tuple(r.get(h, "") for h in header)
             for r in demo.table_rows("NORTHSTAR", table)}
    inserts = len(after.keys() - before.keys())
    deletes = len(before.keys() - after.keys())
    updates = sum(1 for k in after.keys() & before.keys() if after[k] != before[k])
    return inserts, updates, deletes


def test_staging_northstar_differs_in_the_planned_ways(demo):
    stg = demo.models["NORTHSTAR"]
    expected = {
        "Variables": (3, 3, 2),
        "Variable values": (3, 0, 3),
        "Contacts": (1, 0, 0),
        "Subpopulations": (0, 1, 0),
    }
    for table in stg.tables:
        if not stg.has_columns(table) or table in ("Resources", "Profiles", "Version"):
            continue
        got = _diff(demo, table)
        assert got == expected.get(table, (0, 0, 0)), (table, got)
    changed = {r["name"]: r for r in demo.rows[("NORTHSTAR", "Variables")]}
    assert changed["parity"]["label"].endswith("(revised)")
    assert changed["screen_time_weekday"]["since version"] == "2.0"
    assert "hh_income" not in changed
    # every mapping target of the staging area exists in the catalogue
    targets = {(r["resource"], r["table"], r["name"]) for r in demo.rows[("catalogue", "Variables")]}
    for m in demo.rows[("NORTHSTAR", "Variable mappings")]:
        assert (m["target"], m["target table"], m["target variable"]) in targets


def test_output_is_deterministic():
    assert demo_schemas() == demo_schemas()
    assert demo_schemas(seed=7) != demo_schemas(seed=8)


def test_write_demo_folders(tmp_path):
    written = write_demo(tmp_path)
    assert [s for s, _ in written] == ORDER
    expected = dict(demo_schemas())
    for schema, folder in written:
        assert folder == tmp_path / schema
        on_disk = {p.name: p.read_text(encoding="utf-8") for p in folder.iterdir()}
        assert on_disk == expected[schema]


def test_scale_grows_rows_proportionally():
    small = DemoSet(demo_schemas(scale=1))
    big = DemoSet(demo_schemas(scale=10))
    ratio = big.count("catalogue") / small.count("catalogue")
    assert 7 <= ratio <= 13, ratio
    assert len(big.rows[("catalogue", "Collections")]) == 30
    # The staging area is one cohort whatever the scale.
    assert big.count("NORTHSTAR") == small.count("NORTHSTAR")
    assert reference_problems(big) == []


def test_large_scale_grows_variables_and_keeps_staging_small():
    ds = DemoSet(demo_schemas(scale=40))
    assert len(ds.rows[("catalogue", "Collections")]) == 50
    assert reference_problems(ds) == []
    share = ds.count("NORTHSTAR") / ds.count("catalogue")
    assert share < 0.03, share
    small = DemoSet(demo_schemas())
    per_cohort = Counter(r["resource"] for r in ds.rows[("catalogue", "Variables")])
    assert per_cohort["NORTHSTAR"] == 2 * Counter(
        r["resource"] for r in small.rows[("catalogue", "Variables")])["NORTHSTAR"]
    network_vars = {r["name"] for r in ds.rows[("catalogue", "Variables")] if r["resource"] == "EUROCHILD"}
    assert "height_2" in network_vars


def test_sandbox_store_loads_the_demo():
    from emx2tui.sandbox.loader import load_demo
    from emx2tui.sandbox.store import Store

    ds = DemoSet(demo_schemas())
    store = Store()
    try:
        assert load_demo(store) == ORDER
        for (schema, table), rows in ds.rows.items():
            model = ds.models[schema]
            if model.tables[table].is_ontology:
                continue
            subclasses = [t.name for t in model.subclasses(table)]
            expected = len(rows) + sum(len(ds.table_rows(schema, s)) for s in subclasses)
            assert store.count(schema, table) == expected, (schema, table)
    finally:
        store.close()

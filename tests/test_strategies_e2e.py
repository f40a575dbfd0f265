"""Every built-in strategy end to end on one sandbox loaded with the reference 9.0.0 models.

Each test works on its own resource (or schemas), so they share one sandbox. Expected rows are
computed here from the shared CSVs and molgenis.csv files, not with the engine's code. Each job
runs twice: a first run that fills, and a second run after edits in the source that updates and
(where the flow deletes) deletes.
"""

from __future__ import annotations

import asyncio
import csv
import io
import zipfile
from pathlib import Path

import pytest

from emx2tui.emx2 import csvfmt
from emx2tui.emx2.client import Connection, Emx2Client
from emx2tui.emx2.frames import frame_from_rows, write_frame
from emx2tui.emx2.zipfmt import table_entries
from emx2tui.jobs.runner import Job, JobSkipped
from emx2tui.jobs.strategy import StrategyError, load_strategy

server = pytest.importorskip("emx2tui.sandbox.server")

PASSWORD = "Strat3gy-Secret-Pw"


def _read(path: Path) -> list[dict[str, str]]:
    if not path.exists():
        return []
    with path.open(encoding="utf-8", newline="") as fh:
        return [dict(r) for r in csv.DictReader(fh)]


def _empty_schema(models_dir: Path, folder: Path, model: str, files: dict[str, str] | None = None) -> str:
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "molgenis.csv").write_text((models_dir / model / "molgenis.csv").read_text(encoding="utf-8"),
                                         encoding="utf-8")
    for name, text in (files or {}).items():
        (folder / name).write_text(text, encoding="utf-8")
    return str(folder)


@pytest.fixture(scope="module")
def sb(models_dir, tmp_path_factory):
    tmp = tmp_path_factory.mktemp("schemas")
    load = [
        ("CatalogueOntologies", str(models_dir / "catalogue-ontologies")),
        ("catalogue", str(models_dir / "catalogue")),
        ("UMCG", str(models_dir / "catalogue")),
        ("testCohort", str(models_dir / "cohort-staging")),
        ("umcgStaging", str(models_dir / "umcg-cohort-staging")),
        ("testNetwork", str(models_dir / "network-staging")),
        ("testCohort1", _empty_schema(models_dir, tmp / "c1", "cohort-staging",
                                      {"Collections.csv": "id,name,type\ntestCohort1,x,Cohort study\n"})),
        ("TestCohort2", _empty_schema(models_dir, tmp / "c2", "cohort-staging",
                                      {"Collections.csv": "id,name,type\nTestCohort2,x,Cohort study\n"})),
        ("testNetwork2", _empty_schema(models_dir, tmp / "n2", "network-staging",
                                       {"Networks.csv": "id,name\ntestNetwork2,x\n"})),
        ("fileCohort", _empty_schema(models_dir, tmp / "fc", "cohort-staging",
                                     {"Collections.csv": "id,name,type\nfileCohort,x,Cohort study\n"})),
        ("catNetwork", _empty_schema(models_dir, tmp / "cn", "network-staging",
                                     {"Catalogues.csv": "id,name\ncatNetwork,x\n"})),
        ("sharedA", str(models_dir / "shared-staging")),
        ("sharedB", _empty_schema(models_dir, tmp / "sb", "shared-staging")),
        ("OntologiesCopy", _empty_schema(models_dir, tmp / "oc", "catalogue-ontologies")),
    ]
    with server.start_sandbox(port=0, load=load, admin_password=PASSWORD) as handle:
        yield handle


def conn(sb, schema: str) -> Connection:
    return Connection(sb.url, schema, username="admin", password=PASSWORD)


def run(coro):
    return asyncio.run(coro)


async def _rows(sb, schema: str, table: str, flt: dict | None = None) -> list[dict[str, str]]:
    async with Emx2Client(conn(sb, schema)) as c:
        return (await c.download_table(schema, table, flt)).records()


def rows(sb, schema: str, table: str) -> list[dict[str, str]]:
    return run(_rows(sb, schema, table))


async def _upload(sb, schema: str, table: str, records: list[dict[str, str]]) -> None:
    async with Emx2Client(conn(sb, schema)) as c:
        await c.upload_csv(schema, table, write_frame(frame_from_rows(records)))


async def _delete(sb, schema: str, table: str, keys: list[str], records: list[dict[str, str]]) -> None:
    async with Emx2Client(conn(sb, schema)) as c:
        await c.delete_rows(schema, table, csvfmt.write_csv(keys, records))


async def _export(sb, schema: str) -> dict[str, str]:
    async with Emx2Client(conn(sb, schema)) as c:
        return table_entries(await c.download_zip(schema))


def arrays_of(models_dir: Path, folder: str) -> set[str]:
    out = set()
    for r in _read(models_dir / folder / "molgenis.csv"):
        if r.get("columnName") and (r.get("columnType") or "").endswith(("_array", "multiselect", "checkbox")):
            out.add(r["columnName"])
    return out


def canon(records: list[dict[str, str]], cols: list[str], arrays: set[str]) -> list[tuple]:
    def cell(r, c):
        v = (r.get(c) or "").strip()
        return tuple(csvfmt.split_array(v)) if c in arrays else v
    return sorted(tuple(cell(r, c) for c in cols) for r in records)


def data_columns(records: list[dict[str, str]]) -> list[str]:
    cols: dict[str, None] = {}
    for r in records:
        for c, v in r.items():
            if not c.startswith("mg_") and (v or "").strip():
                cols.setdefault(c, None)
    return list(cols)


def assert_same_rows(got: list[dict[str, str]], want: list[dict[str, str]], arrays: set[str], table: str,
                     cols: list[str] | None = None) -> None:
    cols = cols or data_columns(want)
    assert canon(got, cols, arrays) == canon(want, cols, arrays), table


def others_unchanged(before: dict[str, str], after: dict[str, str], resource: str) -> None:
    assert set(before) == set(after)
    for table, text in before.items():
        def lines(t):
            return sorted(line for line in t.splitlines()[1:] if resource not in line)
        assert lines(after[table]) == lines(text), table


# ----------------------------------------------------------------------------- FillStaging
def test_fill_staging_then_publish_back_keeps_catalogue_owned_columns(sb, models_dir):
    """FillStaging copies testCohort1; publishing it back keeps the columns staging lacks."""
    job = Job("fill-staging", conn(sb, "catalogue"), conn(sb, "testCohort1"))
    plan = run(job.plan())
    assert plan.resource_id == "testCohort1" and not plan.has_deletes and not plan.broken
    assert run(job.apply(plan)).ok
    arrays = arrays_of(models_dir, "cohort-staging")
    staging_cols = {r["tableName"]: [] for r in _read(models_dir / "cohort-staging" / "molgenis.csv")}
    for table in ("Subpopulations", "Collection events", "Contacts", "Variables", "Variable mappings"):
        spec = load_strategy("FillStaging").sync_spec(table)
        want = [r for r in _read(models_dir / "catalogue" / f"{table}.csv") if r[spec.filter] == "testCohort1"]
        got = rows(sb, "testCohort1", table)
        cols = [c for c in data_columns(got)]
        assert want and cols and table in staging_cols
        if table == "Variables":  # a borrowed definition is emptied in staging
            for r in want:
                if r.get("useExternalDefinition.resource") not in ("", None, "testCohort1"):
                    for c in ("useExternalDefinition.resource", "useExternalDefinition.table",
                              "useExternalDefinition.name"):
                        r[c] = ""
        assert_same_rows(got, want, arrays, table, cols)

    # the catalogue-owned columns of testCohort1 survive a publish back with edits
    subpops = rows(sb, "testCohort1", "Subpopulations")
    edited = dict(subpops[0], description="edited in staging")
    run(_upload(sb, "testCohort1", "Subpopulations", [edited]))
    before_cat = {t: rows(sb, "catalogue", t) for t in ("Subpopulations", "Collection events", "Organisations")}
    owned = {"Subpopulations": ["contact point.first name", "publisher"],
             "Collection events": ["contact point.first name", "publisher"],
             "Organisations": ["organisation name", "website"]}
    for table, cols in owned.items():  # the fixture has values there, which staging cannot carry
        assert any((r.get(c) or "") for r in before_cat[table] if r["resource"] == "testCohort1" for c in cols), table
    pub = Job("CohortStagingToDataCatalogue", conn(sb, "testCohort1"), conn(sb, "catalogue"))
    plan2 = run(pub.plan())
    sp = plan2.table("Subpopulations")
    assert sp.updates == 1 and list(sp.changes.values())[0]["description"][1] == "edited in staging"
    assert "publisher" in sp.kept and not sp.cleared
    assert not plan2.has_deletes and not plan2.broken
    assert run(pub.apply(plan2)).ok
    after_cat = {t: rows(sb, "catalogue", t) for t in owned}
    for table in owned:
        b = [r for r in before_cat[table] if r["resource"] == "testCohort1"]
        a = [r for r in after_cat[table] if r["resource"] == "testCohort1"]
        cols = [c for c in data_columns(b) if c != "description"]
        assert canon(a, cols, set()) == canon(b, cols, set()), table
    hit = [r for r in after_cat["Subpopulations"] if r["resource"] == "testCohort1" and r["name"] == edited["name"]]
    assert hit[0]["description"] == "edited in staging"


def test_fill_staging_skips_when_ids_differ_in_case(sb):
    before = run(_export(sb, "TestCohort2"))
    job = Job("FILL_STAGING", conn(sb, "catalogue"), conn(sb, "TestCohort2"))
    with pytest.raises(JobSkipped) as err:
        run(job.plan())
    msg = str(err.value)
    assert msg.startswith("Skipped") and "TestCohort2" in msg and "exactly" in msg and "testCohort2" in msg
    assert run(_export(sb, "TestCohort2")) == before


# ----------------------------------------------------------------------------- cohort staging
def test_cohort_staging_to_catalogue_second_run_updates_and_deletes(sb, models_dir):
    arrays = arrays_of(models_dir, "catalogue")
    job = Job("cohort-staging-to-data-catalogue", conn(sb, "testCohort"), conn(sb, "catalogue"))
    plan = run(job.plan())
    assert plan.table("Collections").inserts == 1 and not plan.broken
    assert run(job.apply(plan)).ok
    for table in ("Collections", "Contacts", "Subpopulations", "Collection events", "Tables", "Variables",
                  "Variable mappings", "Variable values"):
        want = _read(models_dir / "cohort-staging" / f"{table}.csv")
        col = "id" if table == "Collections" else ("source" if table == "Variable mappings" else "resource")
        got = [r for r in rows(sb, "catalogue", table) if r[col] == "testCohort"]
        assert_same_rows(got, want, arrays, table)
    # second run: one subpopulation count gone, one collection event changed
    counts = rows(sb, "testCohort", "Subpopulation counts")
    run(_delete(sb, "testCohort", "Subpopulation counts", ["resource", "subpopulation", "age group"], counts[:1]))
    events = rows(sb, "testCohort", "Collection events")
    run(_upload(sb, "testCohort", "Collection events", [dict(events[0], description="second run")]))
    before = run(_export(sb, "catalogue"))
    job2 = Job("COHORT_STAGING_TO_DATA_CATALOGUE_ZIP", conn(sb, "testCohort"), conn(sb, "catalogue"))
    plan2 = run(job2.plan())
    assert plan2.deleted("Subpopulation counts").deletes == 1
    assert plan2.table("Collection events").updates == 1 and plan2.total_writes == 1
    assert run(job2.apply(plan2)).ok
    got = [r for r in rows(sb, "catalogue", "Subpopulation counts") if r["resource"] == "testCohort"]
    assert_same_rows(got, counts[1:], arrays, "Subpopulation counts")
    got = [r for r in rows(sb, "catalogue", "Collection events") if r["resource"] == "testCohort"]
    assert_same_rows(got, rows(sb, "testCohort", "Collection events"), arrays, "Collection events")
    others_unchanged(before, run(_export(sb, "catalogue")), "testCohort")


# ----------------------------------------------------------------------------- network staging
def test_network_staging_to_catalogue_withholds_a_mapped_variable(sb, models_dir):
    arrays = arrays_of(models_dir, "catalogue")
    job = Job("NetworkStagingToDataCatalogue", conn(sb, "testNetwork"), conn(sb, "catalogue"))
    plan = run(job.plan())
    assert plan.table("Networks").inserts == 1 and not plan.broken
    assert run(job.apply(plan)).ok
    for table in ("Networks", "Contacts", "Tables", "Variables", "Variable values"):
        want = _read(models_dir / "network-staging" / f"{table}.csv")
        col = "id" if table == "Networks" else "resource"
        got = [r for r in rows(sb, "catalogue", table) if r[col] == "testNetwork"]
        assert_same_rows(got, want, arrays, table)
    # a cohort maps onto one network variable; staging then drops two variables and edits a third
    variables = [r for r in _read(models_dir / "network-staging" / "Variables.csv")]
    valued = {(r["table"], r["variable"]) for r in _read(models_dir / "network-staging" / "Variable values.csv")}
    free = [v for v in variables if (v["table"], v["name"]) not in valued]
    mapped, dropped, edited = free[0], free[1], free[2]
    cohort_table = _read(models_dir / "catalogue" / "Tables.csv")
    src_table = next(t["name"] for t in cohort_table if t["resource"] == "testCohort1")
    run(_upload(sb, "catalogue", "Variable mappings", [{
        "source": "testCohort1", "source table": src_table, "target": "testNetwork",
        "target table": mapped["table"], "target variable": mapped["name"], "repeats": "NA",
        "match": "complete"}]))
    run(_delete(sb, "testNetwork", "Variables", ["resource", "table", "name"], [mapped, dropped]))
    run(_upload(sb, "testNetwork", "Variables", [dict(edited, description="renamed in staging")]))
    before = run(_export(sb, "catalogue"))
    job2 = Job("network-staging-to-data-catalogue", conn(sb, "testNetwork"), conn(sb, "catalogue"))
    plan2 = run(job2.plan())
    vdel = plan2.deleted("Variables")
    assert vdel.deletes == 1 and vdel.deleted_frame["name"] == [dropped["name"]]
    assert len(plan2.withheld) == 1 and mapped["name"] in plan2.withheld[0]
    assert "Variable mappings" in plan2.withheld[0]
    assert plan2.table("Variables").updates == 1
    assert run(job2.apply(plan2)).ok
    after = {(r["table"], r["name"]): r for r in rows(sb, "catalogue", "Variables") if r["resource"] == "testNetwork"}
    assert (mapped["table"], mapped["name"]) in after  # reported, not deleted
    assert (dropped["table"], dropped["name"]) not in after
    assert after[(edited["table"], edited["name"])]["description"] == "renamed in staging"
    assert len(after) == len(variables) - 1
    others_unchanged(before, run(_export(sb, "catalogue")), "testNetwork")


def test_catalogue_to_network_staging_then_update(sb, models_dir):
    arrays = arrays_of(models_dir, "network-staging")
    job = Job("DataCatalogueToNetworkStaging", conn(sb, "catalogue"), conn(sb, "testNetwork2"))
    plan = run(job.plan())
    assert plan.resource_id == "testNetwork2" and not plan.broken
    assert run(job.apply(plan)).ok
    net_cols = [r["columnName"] for r in _read(models_dir / "network-staging" / "molgenis.csv")]
    for table in ("Organisations", "Contacts", "Publications"):
        want = [r for r in _read(models_dir / "catalogue" / f"{table}.csv") if r["resource"] == "testNetwork2"]
        got = rows(sb, "testNetwork2", table)
        cols = [c for c in data_columns(want) if c.split(".")[0] in net_cols]
        assert want and len(got) == len(want)
        assert_same_rows(got, want, arrays, table, cols)
    net = [r for r in rows(sb, "testNetwork2", "Networks") if r["id"] == "testNetwork2"][0]
    cat = [r for r in _read(models_dir / "catalogue" / "Networks.csv") if r["id"] == "testNetwork2"][0]
    assert net["name"] == cat["name"] and csvfmt.split_array(net["data resources"]) == \
        csvfmt.split_array(cat["data resources"])
    # the catalogue changes a contact; a second fill updates exactly that row
    contact = [r for r in rows(sb, "catalogue", "Contacts") if r["resource"] == "testNetwork2"][0]
    run(_upload(sb, "catalogue", "Contacts", [dict(contact, email="changed@example.org")]))
    plan2 = run(Job("FILL_NETWORK", conn(sb, "catalogue"), conn(sb, "testNetwork2")).plan())
    assert plan2.total_writes == 1 and plan2.table("Contacts").updates == 1
    assert run(Job("FILL_NETWORK", conn(sb, "catalogue"), conn(sb, "testNetwork2")).apply(plan2)).ok
    assert [r["email"] for r in rows(sb, "testNetwork2", "Contacts")] == ["changed@example.org"]


# ----------------------------------------------------------------------------- UMCG
def test_umcg_cohorts_never_publish_a_non_consenting_contact(sb, models_dir):
    arrays = arrays_of(models_dir, "catalogue")
    job = Job("UMCGCohorts", conn(sb, "umcgStaging"), conn(sb, "UMCG"))
    plan = run(job.plan())
    assert any("no consent" in n for n in plan.notes)
    assert any("email" in n and "consent" in n for n in plan.notes)
    data = plan.build_zip()
    assert b"Nonconsenting" not in data and b"statement of consent" not in data
    assert run(job.apply(plan)).ok
    staged = _read(models_dir / "umcg-cohort-staging" / "Contacts.csv")
    want = [r for r in staged if r["statement of consent personal data"].lower() == "true"]
    got = [r for r in rows(sb, "UMCG", "Contacts") if r["resource"] == "testCohort"]
    assert sorted(r["first name"] + " " + r["last name"] for r in got) == ["Consenting Person", "Pat Example"]
    cols = [c for c in data_columns(want) if c != "statement of consent personal data"]
    assert_same_rows(got, want, arrays, "Contacts", cols)
    assert "statement of consent personal data" not in rows(sb, "UMCG", "Contacts")[0]
    for table in ("Subpopulations", "Variables", "Variable mappings"):
        want = _read(models_dir / "umcg-cohort-staging" / f"{table}.csv")
        col = "source" if table == "Variable mappings" else "resource"
        assert_same_rows([r for r in rows(sb, "UMCG", table) if r[col] == "testCohort"], want, arrays, table)

    # second run: the consenting person withdraws and is the cohort's contact point; in UMCG,
    # a column that only the catalogue has (a subpopulation's contact point) names them too
    sub = [r for r in rows(sb, "UMCG", "Subpopulations")
           if r["resource"] == "testCohort" and r["name"] == "newborns"][0]
    run(_upload(sb, "UMCG", "Subpopulations", [dict(sub, **{
        "contact point.first name": "Consenting", "contact point.last name": "Person"})]))
    consenting = [r for r in rows(sb, "umcgStaging", "Contacts") if r["first name"] == "Consenting"][0]
    run(_upload(sb, "umcgStaging", "Contacts", [dict(consenting, **{"statement of consent personal data": "false"})]))
    coll = rows(sb, "umcgStaging", "Collections")[0]
    run(_upload(sb, "umcgStaging", "Collections", [dict(coll, **{
        "contact point.resource": "testCohort", "contact point.first name": "Consenting",
        "contact point.last name": "Person"})]))
    before = run(_export(sb, "UMCG"))
    job2 = Job("umcg-cohorts", conn(sb, "umcgStaging"), conn(sb, "UMCG"))
    plan2 = run(job2.plan())
    assert plan2.deleted("Contacts").deletes == 1
    assert any("contact point" in n for n in plan2.notes)
    assert run(job2.apply(plan2)).ok
    got = [r for r in rows(sb, "UMCG", "Contacts") if r["resource"] == "testCohort"]
    assert [r["first name"] for r in got] == ["Pat"]
    row = [r for r in rows(sb, "UMCG", "Collections") if r["id"] == "testCohort"][0]
    assert not row.get("contact point.first name")
    assert any("Subpopulations.contact point: the target's value emptied" in n for n in plan2.notes)
    sub = [r for r in rows(sb, "UMCG", "Subpopulations")
           if r["resource"] == "testCohort" and r["name"] == "newborns"][0]
    assert not sub.get("contact point.first name") and not sub.get("contact point.last name")
    others_unchanged(before, run(_export(sb, "UMCG")), "testCohort")


# ----------------------------------------------------------------------------- shared staging
@pytest.mark.parametrize("source,target", [("sharedA", "sharedB"), ("CatalogueOntologies", "OntologiesCopy")])
def test_shared_staging_upserts_and_never_deletes(sb, models_dir, source, target):
    job = Job("SHARED_STAGING", conn(sb, source), conn(sb, target))
    plan = run(job.plan())
    assert not plan.has_deletes and plan.table("Organisations").inserts == plan.table("Organisations").rows > 0
    assert run(job.apply(plan)).ok
    want = rows(sb, source, "Organisations")
    got = rows(sb, target, "Organisations")
    assert_same_rows(got, want, {"type", "aliases", "features", "role"}, "Organisations")
    # second run: one row changed in the source, one row only in the target: updated, nothing deleted
    key = "id" if source == "sharedA" else "name"
    run(_upload(sb, source, "Organisations", [dict(want[0], website="https://example.org/changed")]))
    own = {key: "Target Only Org", "name": "Target Only Org"}
    run(_upload(sb, target, "Organisations", [own]))
    plan2 = run(Job("shared-staging", conn(sb, source), conn(sb, target)).plan())
    assert plan2.table("Organisations").updates == 1 and plan2.total_writes == 1 and not plan2.has_deletes
    assert run(Job("SharedStaging", conn(sb, source), conn(sb, target)).apply(plan2)).ok
    got2 = {r[key]: r for r in rows(sb, target, "Organisations")}
    assert len(got2) == len(want) + 1 and "Target Only Org" in got2
    assert got2[want[0][key]]["website"] == "https://example.org/changed"


def test_shared_staging_refuses_mixed_models(sb):
    with pytest.raises(StrategyError) as err:
        run(Job("SharedStaging", conn(sb, "sharedA"), conn(sb, "OntologiesCopy")).plan())
    msg = str(err.value)
    assert "SharedStaging" in msg and "CatalogueOntologies" in msg and "3.3" in msg


# ----------------------------------------------------------------------------- refusals
def test_version_mismatch_names_found_and_expected(sb):
    before = run(_export(sb, "catalogue"))
    with pytest.raises(StrategyError) as err:
        run(Job("NetworkStagingToDataCatalogue", conn(sb, "testCohort"), conn(sb, "catalogue")).plan())
    msg = str(err.value)
    assert "CohortsStaging" in msg and "9.0.0" in msg and "NetworksStaging >=9.0.0, <10" in msg
    with pytest.raises(StrategyError) as err:
        run(Job("CohortStagingToDataCatalogue", conn(sb, "sharedA"), conn(sb, "catalogue")).plan())
    assert "3.3" in str(err.value) and "CohortsStaging" in str(err.value)
    assert run(_export(sb, "catalogue")) == before


def test_missing_ontology_term_is_reported_and_the_apply_refused(sb, models_dir, tmp_path):
    """Source and target on different servers: the target's ontology schema lacks a term in use."""
    onto = tmp_path / "onto"
    onto.mkdir()
    for f in (models_dir / "catalogue-ontologies").iterdir():
        text = f.read_text(encoding="utf-8")
        if f.name == "Countries.csv":
            text = "\n".join(line for line in text.splitlines() if ",Germany," not in line) + "\n"
        (onto / f.name).write_text(text, encoding="utf-8")
    empty = _empty_schema(models_dir, tmp_path / "cat", "catalogue")
    with server.start_sandbox(port=0, load=[("CatalogueOntologies", str(onto)), ("catalogue", empty)],
                              admin_password="Other-Server-Pw") as other:
        target = Connection(other.url, "catalogue", username="admin", password="Other-Server-Pw")

        async def export_other() -> dict[str, str]:
            async with Emx2Client(target) as c:
                return table_entries(await c.download_zip("catalogue"))

        before = run(export_other())
        job = Job("CohortStagingToDataCatalogue", conn(sb, "testCohort"), target)
        plan = run(job.plan())
        assert any("'Germany'" in b and "CatalogueOntologies.Countries" in b and "Collections.countries" in b
                   for b in plan.broken)
        # the cohort's mappings name catalogue variables this (empty) catalogue does not have
        assert any(b.startswith("Variable mappings.target variable") for b in plan.broken)
        result = run(job.apply(plan))
        assert not result.ok and "Germany" in result.error and "Nothing was written" in result.error
        assert result.backup_path is None
        assert run(export_other()) == before


def test_terms_are_looked_up_in_one_query_per_schema(sb, monkeypatch):
    """Names with quotes, backslashes and non-ASCII letters are found as they are, over more
    names than one filter chunk holds, in one query; a refused query falls back to reads."""
    from emx2tui.emx2.errors import ServerError
    from emx2tui.jobs import refs

    odd = ['Côte d\'Ivoire "north"', "back\\slash", "Zürich 😀", "plain"]
    run(_upload(sb, "OntologiesCopy", "Countries", [{"name": n} for n in odd]))
    run(_upload(sb, "OntologiesCopy", "Age groups", [{"name": "Adult (18+ years)"}]))
    wanted = {"Countries": {(n,) for n in odd} | {(f"missing {i}",) for i in range(refs.CHUNK + 5)},
              "Age groups": {("Adult (18+ years)",), ("Nobody",)}}

    async def lookup(refuse: bool) -> tuple[dict, int, int]:
        async with Emx2Client(conn(sb, "OntologiesCopy")) as c:
            model = await c.schema_model("OntologiesCopy")
            queries = 0
            real = c.query

            async def counted(*a, **kw):
                nonlocal queries
                queries += 1
                if refuse:
                    raise ServerError("refused")
                return await real(*a, **kw)

            reads = 0
            real_read = c.download_table

            async def read(*a, **kw):
                nonlocal reads
                reads += 1
                return await real_read(*a, **kw)

            monkeypatch.setattr(c, "query", counted)
            monkeypatch.setattr(c, "download_table", read)
            return await refs.existing_terms(c, model, wanted), queries, reads

    found, queries, reads = run(lookup(refuse=False))
    assert (queries, reads) == (1, 0)
    assert found == {"Countries": {(n,) for n in odd}, "Age groups": {("Adult (18+ years)",)}}
    fallback, _, reads = run(lookup(refuse=True))
    assert fallback == found and reads >= 3  # Countries in two chunks, Age groups in one


def test_a_resource_row_of_a_subclass_is_found_in_the_export(sb):
    """The network is a Catalogues row (a subclass of Networks): the export files it under
    Catalogues, and the resource is found as a read of Networks finds it."""
    import dataclasses

    strategy = load_strategy("NetworkStagingToDataCatalogue")
    assert strategy.source_read == "zip"
    plans = [run(Job(s, conn(sb, "catNetwork"), conn(sb, "catalogue")).plan())
             for s in (strategy, dataclasses.replace(strategy, source_read="tables"))]
    assert plans[0].resource_id == plans[1].resource_id == "catNetwork"
    assert plans[0].counts() == plans[1].counts()
    assert table_entries(plans[0].build_zip()) == table_entries(plans[1].build_zip())


def test_ambiguous_resource_id_is_refused(sb):
    with pytest.raises(StrategyError) as err:
        run(Job("NetworkStagingToDataCatalogue", conn(sb, "catalogue"), conn(sb, "catalogue")).plan())
    assert "exactly one" in str(err.value) or "NetworksStaging" in str(err.value)


def test_plan_out_zip_is_what_the_apply_sends(sb, tmp_path):
    from emx2tui.jobs.report import write_plan_out

    job = Job("FillStaging", conn(sb, "catalogue"), conn(sb, "testCohort1"))
    plan = run(job.plan())
    zip_path, text_path = write_plan_out(plan, tmp_path / "out")
    assert zip_path.read_bytes() == plan.build_zip()
    text = text_path.read_text()
    assert "Plan: FillStaging" in text and "one atomic import" in text
    with zipfile.ZipFile(io.BytesIO(zip_path.read_bytes())) as zf:
        assert "molgenis.csv" not in zf.namelist()


# ----------------------------------------------------------------------------- attachments, csv
def test_attachments_travel_and_csv_transport_is_table_by_table(sb):
    pdf = b"%PDF-1.4 attachment bytes \x00\x01"
    fid = "0123456789abcdef0123456789abcdef"
    doc = "resource,name,description,file,file_filename\nfileCohort,protocol,the protocol,%s,protocol.pdf\n" % fid
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w") as zf:
        zf.writestr("Documentation.csv", doc)
        zf.writestr(f"_files/{fid}.pdf", pdf)

    async def load() -> None:
        async with Emx2Client(conn(sb, "fileCohort")) as c:
            await c.upload_zip("fileCohort", buf.getvalue())

    run(load())
    job = Job("CohortStagingToDataCatalogue", conn(sb, "fileCohort"), conn(sb, "catalogue"))
    plan = run(job.plan())
    src_id = rows(sb, "fileCohort", "Documentation")[0]["file"]
    assert list(plan.table("Documentation").files.values()) == [pdf]
    with zipfile.ZipFile(io.BytesIO(plan.build_zip())) as zf:
        assert zf.read(next(n for n in zf.namelist() if n.startswith(f"_files/{src_id}."))) == pdf
    assert run(job.apply(plan)).ok
    got = [r for r in rows(sb, "catalogue", "Documentation") if r["resource"] == "fileCohort"]
    assert [r["file_filename"] for r in got] == ["protocol.pdf"] and got[0]["file"]

    async def fetch(file_id: str) -> bytes:
        async with Emx2Client(conn(sb, "catalogue")) as c:
            return await c.download_file("catalogue", "Documentation", "file", file_id)

    assert run(fetch(got[0]["file"])) == pdf
    # a second run with nothing changed in staging writes nothing (file ids are not compared)
    assert run(Job("CohortStagingToDataCatalogue", conn(sb, "fileCohort"), conn(sb, "catalogue")).plan()).is_empty

    # table by table: the plan says it is not atomic; updates and deletes still land
    coll = rows(sb, "fileCohort", "Collections")[0]
    run(_upload(sb, "fileCohort", "Collections", [dict(coll, name="renamed over csv")]))
    run(_delete(sb, "fileCohort", "Documentation", ["resource", "name"], [{"resource": "fileCohort",
                                                                           "name": "protocol"}]))
    csv_job = Job("CohortStagingToDataCatalogue", conn(sb, "fileCohort"), conn(sb, "catalogue"), transport="csv")
    plan2 = run(csv_job.plan())
    assert not plan2.atomic and any("not" in n and "one by one" in n for n in plan2.notes)
    assert plan2.deleted("Documentation").deletes == 1 and plan2.table("Collections").updates == 1
    assert run(csv_job.apply(plan2)).ok
    assert [r["name"] for r in rows(sb, "catalogue", "Collections") if r["id"] == "fileCohort"] == ["renamed over csv"]
    assert not [r for r in rows(sb, "catalogue", "Documentation") if r["resource"] == "fileCohort"]


# ----------------------------------------------------------------------------- reading a staging area whole
def test_export_gives_each_table_as_the_csv_api_does(sb):
    """A staging area read as one ZIP export gives every table the rows the CSV API gives: a
    parent table gathers its subclasses' rows (the export files each row under its own class)."""
    from emx2tui.emx2.frames import read_frame
    from emx2tui.jobs.steps import _export_table
    from emx2tui.jobs.transform import own_class_rows

    async def compare(schema: str) -> int:
        gathered = 0
        async with Emx2Client(conn(sb, schema)) as c:
            model = await c.schema_model(schema)
            exported = {n: read_frame(t) for n, t in
                        table_entries(await c.download_zip(schema, include_system_columns=True)).items()}
            for t in model.data_tables():
                if not model.has_columns(t.name):
                    continue
                api = await c.download_table(schema, t.name)
                whole = _export_table(exported, model, t.name, own_class_only=False)
                assert whole.columns == api.columns, t.name
                assert sorted(whole.tuples()) == sorted(api.tuples()), t.name
                own = own_class_rows(await c.download_table(schema, t.name, include_system_columns=True),
                                     t.name)
                mine = _export_table(exported, model, t.name, own_class_only=True)
                assert mine.columns == own.columns, t.name
                assert sorted(mine.tuples()) == sorted(own.tuples()), t.name
                gathered += len(whole) - len(mine)
            del exported[next(t.name for t in model.data_tables() if model.has_columns(t.name))]
            assert any(_export_table(exported, model, t.name, own_class_only=False) is None
                       for t in model.data_tables())  # a table the export lacks is read instead
        return gathered

    subclass_rows = sum(run(compare(s)) for s in ("testCohort", "testNetwork", "umcgStaging", "catNetwork"))
    assert subclass_rows > 0  # some parent table did hold rows of its subclasses


def test_staging_source_is_read_in_one_export_with_the_same_plan(sb, monkeypatch):
    """A staging source is one ZIP export, not a read per table; the plan is the one that
    per-table reads make. An export the server refuses falls back to those reads, with a warning."""
    import dataclasses

    from emx2tui.emx2.errors import ServerError
    from emx2tui.jobs.events import StepLog

    calls: list[tuple[str, str]] = []
    real_table, real_zip = Emx2Client.download_table, Emx2Client.download_zip

    async def table(self, schema, name, *a, **kw):
        calls.append((schema, "csv"))
        return await real_table(self, schema, name, *a, **kw)

    async def whole(self, schema, *a, **kw):
        calls.append((schema, "zip"))
        if refuse:
            raise ServerError("export refused", status=500, schema=schema)
        return await real_zip(self, schema, *a, **kw)

    monkeypatch.setattr(Emx2Client, "download_table", table)
    monkeypatch.setattr(Emx2Client, "download_zip", whole)
    strategy = load_strategy("CohortStagingToDataCatalogue")
    assert strategy.source_read == "zip"

    def plan_with(s, logs=None):
        calls.clear()
        emit = (lambda e: logs.append(e)) if logs is not None else (lambda e: None)
        p = run(Job(s, conn(sb, "testCohort"), conn(sb, "catalogue")).plan(emit))
        return p, list(calls)

    refuse = False
    exported, zip_calls = plan_with(strategy)
    assert zip_calls.count(("testCohort", "zip")) == 1 and ("testCohort", "csv") not in zip_calls
    by_table, table_calls = plan_with(dataclasses.replace(strategy, source_read="tables"))
    assert table_calls.count(("testCohort", "csv")) >= len(strategy.sync)
    assert exported.counts() == by_table.counts()
    assert table_entries(exported.build_zip()) == table_entries(by_table.build_zip())
    refuse = True
    logs: list = []
    fallback, calls_after = plan_with(strategy, logs)
    assert ("testCohort", "csv") in calls_after
    assert table_entries(fallback.build_zip()) == table_entries(by_table.build_zip())
    assert any(isinstance(e, StepLog) and e.level == "warning" and "read one by one" in e.message
               for e in logs)
    assert any("read one by one" in w for w in fallback.warnings)
    refuse = False

    # an export that is not a readable ZIP: the same fallback
    async def corrupt(self, schema, *a, **kw):
        calls.append((schema, "zip"))
        data = bytearray(await real_zip(self, schema, *a, **kw))
        data[40:200] = bytes(160)  # inside the first entry's compressed data
        return bytes(data)

    monkeypatch.setattr(Emx2Client, "download_zip", corrupt)
    broken, _ = plan_with(strategy)
    assert table_entries(broken.build_zip()) == table_entries(by_table.build_zip())
    assert any("read one by one" in w for w in broken.warnings)

    def contacts_entry(change):
        """An export whose Contacts.csv is changed by `change` (None: left out)."""
        async def export(self, schema, *a, **kw):
            calls.append((schema, "zip"))
            src = zipfile.ZipFile(io.BytesIO(await real_zip(self, schema, *a, **kw)))
            out = io.BytesIO()
            with zipfile.ZipFile(out, "w") as z:
                for name in src.namelist():
                    data = src.read(name) if name != "Contacts.csv" else change(src.read(name))
                    if data is not None:
                        z.writestr(name, data)
            return out.getvalue()
        return export

    # a table the export lacks (a server that leaves out what the user may not see) is read
    # from the server, not taken for empty: its target rows are not planned for deletion
    monkeypatch.setattr(Emx2Client, "download_zip", contacts_entry(lambda data: None))
    partial, partial_calls = plan_with(strategy)
    assert partial_calls.count(("testCohort", "csv")) == 1  # Contacts alone
    assert partial.counts() == by_table.counts()

    # a table whose CSV in the export cannot be read (cut off inside a quoted cell) is read from
    # the server on its own, with a warning that names it; the other tables still come from the
    # export, and the plan is the same
    monkeypatch.setattr(Emx2Client, "download_zip", contacts_entry(lambda data: data + b'\n"never closed,'))
    cut, cut_calls = plan_with(strategy)
    assert cut_calls.count(("testCohort", "csv")) == 1  # Contacts alone
    assert cut.counts() == by_table.counts()
    assert table_entries(cut.build_zip()) == table_entries(by_table.build_zip())
    assert [w for w in cut.warnings if "Contacts" in w and "read one by one" in w]

"""Jobs end to end against the sandbox loaded with the reference 9.0.0 models.

Expected rows are computed here from the shared CSVs and models.json, not with the engine's code.
"""

from __future__ import annotations

import asyncio
import csv
import json
from pathlib import Path

import pytest

from frameedit import with_cell

from emx2tui.emx2 import csvfmt
from emx2tui.emx2.client import Connection, Emx2Client
from emx2tui.emx2.frames import write_frame
from emx2tui.emx2.zipfmt import table_entries
from emx2tui.jobs.events import Event, RunFinished, ServerTask, StepFinished, StepStarted
from emx2tui.jobs.runner import Job
from emx2tui.jobs.strategy import load_strategy

server = pytest.importorskip("emx2tui.sandbox.server")

PASSWORD = "Adm1n-Secret-Pw"
COHORT = "testCohort1"


def _read(path: Path) -> tuple[list[str], list[dict[str, str]]]:
    if not path.exists():
        return [], []
    with path.open(encoding="utf-8", newline="") as fh:
        reader = csv.DictReader(fh)
        return list(reader.fieldnames or []), [dict(r) for r in reader]


def make_empty_staging(models_dir: Path, folder: Path, cohort: str) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "molgenis.csv").write_text((models_dir / "cohort-staging" / "molgenis.csv").read_text(
        encoding="utf-8"), encoding="utf-8")
    (folder / "Collections.csv").write_text(f"id,name,type\n{cohort},Placeholder,Cohort study\n",
                                            encoding="utf-8")
    return folder


@pytest.fixture()
def sandbox(models_dir, tmp_path):
    empty = make_empty_staging(models_dir, tmp_path / "empty", COHORT)
    load = [("CatalogueOntologies", models_dir / "catalogue-ontologies"),
            ("catalogue", models_dir / "catalogue"),
            ("testCohort", models_dir / "cohort-staging"),
            ("emptyStaging", empty)]
    with server.start_sandbox(port=0, load=[(n, str(p)) for n, p in load],
                              admin_password=PASSWORD) as sb:
        yield sb


def conn(sb, schema: str) -> Connection:
    return Connection(sb.url, schema, username="admin", password=PASSWORD)


def run(coro):
    return asyncio.run(coro)


async def table_csv(sb, schema: str, table: str) -> tuple[list[str], list[dict[str, str]]]:
    async with Emx2Client(conn(sb, schema)) as c:
        df = await c.download_table(schema, table)
    return list(df.columns), df.records()


async def export(sb, schema: str) -> dict[str, str]:
    async with Emx2Client(conn(sb, schema)) as c:
        return table_entries(await c.download_zip(schema))


def array_columns(models_dir: Path, folder: str) -> dict[str, set[str]]:
    """Array CSV columns per table, from molgenis.csv (refs to arrays expand to dotted parts)."""
    out: dict[str, set[str]] = {}
    _, rows = _read(models_dir / folder / "molgenis.csv")
    for r in rows:
        if r.get("columnName") and (r.get("columnType") or "").endswith(("_array", "multiselect", "checkbox")):
            out.setdefault(r["tableName"], set()).add(r["columnName"])
    return out


def norm(value: str, is_array: bool) -> object:
    value = (value or "").strip()
    return tuple(csvfmt.split_array(value)) if is_array else value


def collect() -> tuple[list[Event], callable]:
    events: list[Event] = []
    return events, events.append


# ----------------------------------------------------------------------------- FillStaging
def expected_fill(models_dir: Path, cohort: str) -> dict[str, list[dict[str, str]]]:
    facts = json.loads((models_dir / "models.json").read_text())["models"]["cohort-staging"]["tables"]
    strategy = load_strategy("FillStaging")
    out = {}
    for spec in strategy.sync:
        if spec.table not in facts:
            continue
        cols = facts[spec.table]["csvColumns"]
        _, rows = _read(models_dir / "catalogue" / f"{spec.table}.csv")
        picked = [r for r in rows if r.get(spec.filter) == cohort]
        projected = [{c: r.get(c, "") or "" for c in cols} for r in picked]
        if spec.table == "Variables":
            for r in projected:
                if r["useExternalDefinition.resource"] not in ("", cohort):
                    for c in ("useExternalDefinition.resource", "useExternalDefinition.table",
                              "useExternalDefinition.name"):
                        r[c] = ""
        out[spec.table] = projected
    return out


def test_fill_staging_fills_empty_staging_with_the_cohort(sandbox, models_dir):
    job = Job("FillStaging", conn(sandbox, "catalogue"), conn(sandbox, "emptyStaging"))
    events, emit = collect()
    plan = run(job.plan(emit))
    assert plan.resource_id == COHORT and not plan.has_deletes
    result = run(job.apply(plan, emit))
    assert result.ok, result.error
    expected = expected_fill(models_dir, COHORT)
    arrays = array_columns(models_dir, "cohort-staging")
    arrays_all = {c for s in arrays.values() for c in s}
    assert sum(len(v) for v in expected.values()) > 30
    for table, rows in expected.items():
        header, got = run(table_csv(sandbox, "emptyStaging", table))
        if table == "Agents":  # the parent table also lists the Organisations rows
            continue
        cols = list(rows[0]) if rows else [c for c in header if not c.startswith("mg_")]
        assert set(cols) <= set(header), table
        want = sorted(tuple(norm(r.get(c, ""), c in arrays_all) for c in cols) for r in rows)
        have = sorted(tuple(norm(r.get(c, ""), c in arrays_all) for c in cols) for r in got)
        assert have == want, table
    steps = [e.step for e in events if isinstance(e, StepStarted)]
    assert steps == ["tablesToSync", "download", "filter", "backup", "upload"]
    assert any(isinstance(e, ServerTask) and e.status == "COMPLETED" for e in events)
    assert isinstance(events[-1], RunFinished) and events[-1].ok
    assert Path(result.backup_path).stat().st_mode & 0o777 == 0o600


def test_fill_staging_refuses_a_cohort_the_catalogue_lacks(sandbox, models_dir):
    job = Job("FillStaging", conn(sandbox, "catalogue"), conn(sandbox, "testCohort"))
    with pytest.raises(Exception) as err:
        run(job.plan())
    assert "testCohort" in str(err.value) and "catalogue" in str(err.value)


# ----------------------------------------------------------------------------- Flow B
def others(rows: list[dict[str, str]], column: str, cohort: str) -> list[str]:
    return sorted(json.dumps(r, sort_keys=True) for r in rows if r.get(column) != cohort)


def test_cohort_staging_to_catalogue_insert_then_replace(sandbox, models_dir):
    strategy = load_strategy("CohortStagingToDataCatalogue")
    job = Job(strategy, conn(sandbox, "testCohort"), conn(sandbox, "catalogue"))
    plan = run(job.plan())
    assert plan.resource_id == "testCohort" and not plan.has_deletes
    assert plan.table("Variables").inserts == plan.table("Variables").rows > 0
    result = run(job.apply(plan))
    assert result.ok, result.error
    # the catalogue now holds the staging rows of testCohort
    for table in ("Variables", "Tables", "Contacts", "Subpopulations", "Variable mappings"):
        _, staged = run(table_csv(sandbox, "testCohort", table))
        _, cat = run(table_csv(sandbox, "catalogue", table))
        col = strategy.sync_spec(table).filter
        keys = plan.table(table).key_columns
        assert sorted(tuple(r[k] for k in keys) for r in cat if r[col] == "testCohort") == \
            sorted(tuple(r[k] for k in keys) for r in staged), table

    # remove one variable and change another in staging
    _, variables = run(table_csv(sandbox, "testCohort", "Variables"))
    _, values = run(table_csv(sandbox, "testCohort", "Variable values"))
    _, mappings = run(table_csv(sandbox, "testCohort", "Variable mappings"))
    used = {(r["table"], r["variable"]) for r in values}
    used |= {(r["source table"], v) for r in mappings for v in csvfmt.split_array(r.get("source variables", ""))}
    free = [r for r in variables if (r["table"], r["name"]) not in used]
    assert len(free) >= 2
    gone, changed = free[0], free[1]

    async def edit():
        async with Emx2Client(conn(sandbox, "testCohort")) as c:
            await c.delete_rows("testCohort", "Variables", csvfmt.write_csv(
                ["resource", "table", "name"], [gone]))
            df = await c.download_table("testCohort", "Variables")
            row = df.where(r == (changed["table"], changed["name"]) for r in df.tuples(["table", "name"]))
            row = row.assign("description", "changed in staging")
            from emx2tui.emx2.frames import write_frame
            await c.upload_csv("testCohort", "Variables", write_frame(row))

    run(edit())
    middle_export = run(export(sandbox, "catalogue"))
    middle = {t: run(table_csv(sandbox, "catalogue", t)) for t in
              ("Variables", "Collections", "Contacts", "Tables", "Variable mappings", "Organisations")}
    job2 = Job(strategy, conn(sandbox, "testCohort"), conn(sandbox, "catalogue"))
    plan2 = run(job2.plan())
    vplan, vdel = plan2.table("Variables"), plan2.deleted("Variables")
    assert (vplan.updates, vdel.deletes) == (1, 1)
    assert plan2.total_delete_rows == 1
    assert list(vplan.changes.values())[0]["description"][1] == "changed in staging"
    result2 = run(job2.apply(plan2))
    assert result2.ok, result2.error
    _, after_vars = run(table_csv(sandbox, "catalogue", "Variables"))
    before_keys = {(r["resource"], r["table"], r["name"]) for r in middle["Variables"][1]}
    after_keys = {(r["resource"], r["table"], r["name"]) for r in after_vars}
    assert before_keys - after_keys == {("testCohort", gone["table"], gone["name"])}
    assert after_keys - before_keys == set()
    hit = [r for r in after_vars if r["resource"] == "testCohort" and r["name"] == changed["name"]
           and r["table"] == changed["table"]]
    assert hit[0]["description"] == "changed in staging"
    # every other resource's rows are unchanged
    for table, (_, rows_before) in middle.items():
        _, rows_after = run(table_csv(sandbox, "catalogue", table))
        col = "id" if table == "Collections" else "resource"
        assert others(rows_after, col, "testCohort") == others(rows_before, col, "testCohort"), table
    # byte for byte: every exported line that does not mention testCohort is still there, unchanged
    final = run(export(sandbox, "catalogue"))
    assert set(final) == set(middle_export)
    for table, text in middle_export.items():
        def lines(t):
            return sorted(line for line in t.splitlines() if "testCohort" not in line)
        assert lines(final[table]) == lines(text), table


def test_failed_flow_b_upload_leaves_target_unchanged(sandbox):
    job = Job("CohortStagingToDataCatalogue", conn(sandbox, "testCohort"), conn(sandbox, "catalogue"))
    plan = run(job.plan())
    before = run(export(sandbox, "catalogue"))
    # a staging row that names an ontology term the catalogue's ontology schema lacks
    tp = plan.table("Collections")
    tp.frame = with_cell(tp.frame, 0, "countries", "Atlantis")
    tp.actions[0] = "update"
    events, emit = collect()
    result = run(job.apply(plan, emit))
    assert not result.ok
    assert "Atlantis" in result.error or "not present" in result.error
    assert "catalogue" in result.error
    assert run(export(sandbox, "catalogue")) == before
    failed = [e for e in events if isinstance(e, StepFinished) and e.status == "failed"]
    assert [e.step for e in failed] == ["upload"]
    assert isinstance(events[-1], RunFinished) and not events[-1].ok


def test_a_run_that_cannot_be_journalled_is_not_started(sandbox, tmp_path, monkeypatch):
    job = Job("CohortStagingToDataCatalogue", conn(sandbox, "testCohort"), conn(sandbox, "catalogue"))
    plan = run(job.plan())
    before = run(export(sandbox, "catalogue"))
    not_a_folder = tmp_path / "data"
    not_a_folder.write_text("a file where the data folder should be")
    monkeypatch.setenv("EMX2TUI_DATA_DIR", str(not_a_folder))
    events, emit = collect()
    result = run(job.apply(plan, emit))
    assert not result.ok and result.run_id is None
    assert "Nothing was changed" in result.error and "EMX2TUI_DATA_DIR" in result.error
    assert isinstance(events[-1], RunFinished) and not events[-1].ok
    assert not any(isinstance(e, StepFinished) for e in events)  # no step ran, no backup taken
    assert run(export(sandbox, "catalogue")) == before


def test_plan_outdated_when_target_changes(sandbox):
    job = Job("CohortStagingToDataCatalogue", conn(sandbox, "testCohort"), conn(sandbox, "catalogue"))
    plan = run(job.apply(run(job.plan())))
    assert plan.ok
    plan2 = run(job.plan())

    async def touch():
        async with Emx2Client(conn(sandbox, "catalogue")) as c:
            df = await c.download_table("catalogue", "Tables", {"resource": {"id": {"equals": "testCohort"}}})
            df = with_cell(df, 0, "description", "edited by someone else")
            from emx2tui.emx2.frames import write_frame
            await c.upload_csv("catalogue", "Tables", write_frame(df.slice(0, 1)))

    run(touch())
    before = run(export(sandbox, "catalogue"))
    result = run(job.apply(plan2))
    assert not result.ok and "changed after the plan" in result.error
    assert run(export(sandbox, "catalogue")) == before


def change_catalogue_model(sb, molgenis_csv: str) -> None:
    import httpx

    with httpx.Client(base_url=sb.url, timeout=30) as c:
        r = c.post("/api/graphql", json={
            "query": "mutation($e:String,$p:String){signin(email:$e,password:$p){token}}",
            "variables": {"e": "admin", "p": PASSWORD}})
        c.headers["x-molgenis-token"] = r.json()["data"]["signin"]["token"]
        r = c.post("/catalogue/api/csv", content=molgenis_csv)
        assert r.status_code == 200, r.text


def assert_refused_as_outdated(result) -> None:
    assert not result.ok and result.backup_path is None
    assert "data model of schema 'catalogue'" in result.error and "changed after the plan" in result.error


def test_apply_refuses_when_the_target_model_changed_after_the_plan(sandbox):
    """The backup reads with the metadata the plan used while the target's is asked for again: a
    column added meanwhile stops the run before anything is written — again when the same plan
    is applied once more, and with a full backup too."""
    job = Job("CohortStagingToDataCatalogue", conn(sandbox, "testCohort"), conn(sandbox, "catalogue"))
    plan = run(job.plan())
    assert plan.total_writes > 0
    change_catalogue_model(sandbox, "tableName,columnName,columnType\nVariables,curator note,string\n")
    before = run(export(sandbox, "catalogue"))
    assert_refused_as_outdated(run(job.apply(plan)))
    assert_refused_as_outdated(run(job.apply(plan)))  # the model the refusal read changes nothing
    full = Job("CohortStagingToDataCatalogue", conn(sandbox, "testCohort"), conn(sandbox, "catalogue"),
               full_backup=True)
    assert_refused_as_outdated(run(full.apply(plan)))
    assert run(export(sandbox, "catalogue")) == before
    # planned again, the run goes ahead with the new column
    again = run(job.apply(run(job.plan())))
    assert again.ok, again.error


def test_a_table_renamed_after_the_plan_is_reported_as_a_changed_model(sandbox):
    """The backup's reads of a table that is gone fail; the run says why, not the server's error."""
    job = Job("CohortStagingToDataCatalogue", conn(sandbox, "testCohort"), conn(sandbox, "catalogue"))
    plan = run(job.plan())
    assert any(t.table == "Collection events" for t in plan.sync)
    change_catalogue_model(sandbox, "tableName,oldName\nCollection events2,Collection events\n")
    assert_refused_as_outdated(run(job.apply(plan)))


async def _edit_variable(sb, schema: str, resource: str, name: str, description: str) -> None:
    async with Emx2Client(conn(sb, schema)) as c:
        df = await c.download_table(schema, "Variables", {"resource": {"id": {"equals": resource}}})
        row = df.where(n == name for n in df["name"]).assign("description", description)
        await c.upload_csv(schema, "Variables", write_frame(row))


def _one_staged_change(sandbox) -> tuple[Job, str]:
    """Publish testCohort, then change one variable's description in staging; the job and its name."""
    job = Job("CohortStagingToDataCatalogue", conn(sandbox, "testCohort"), conn(sandbox, "catalogue"))
    assert run(job.apply(run(job.plan()))).ok
    _, variables = run(table_csv(sandbox, "testCohort", "Variables"))
    name = variables[0]["name"]
    run(_edit_variable(sandbox, "testCohort", "testCohort", name, "changed in staging"))
    return job, name


def test_apply_refuses_when_a_row_it_updates_changed_after_the_plan(sandbox):
    job, name = _one_staged_change(sandbox)
    plan = run(job.plan())
    assert plan.table("Variables").updates == 1
    run(_edit_variable(sandbox, "catalogue", "testCohort", name, "edited in the catalogue meanwhile"))
    before = run(export(sandbox, "catalogue"))
    result = run(job.apply(plan))
    assert not result.ok and "changed after the plan" in result.error and "Variables" in result.error
    assert name in result.error
    assert run(export(sandbox, "catalogue")) == before


def test_apply_refuses_when_a_row_it_inserts_appeared_after_the_plan(sandbox):
    job = Job("CohortStagingToDataCatalogue", conn(sandbox, "testCohort"), conn(sandbox, "catalogue"))
    plan = run(job.plan())
    tp = plan.table("Collections")
    assert tp.inserts == 1 and tp.actions == ["insert"]

    async def insert_first():  # someone publishes the cohort by hand, with its bare essentials
        async with Emx2Client(conn(sandbox, "catalogue")) as c:
            await c.upload_csv("catalogue", "Collections", write_frame(tp.frame, ["id", "name", "type"]))

    run(insert_first())
    before = run(export(sandbox, "catalogue"))
    result = run(job.apply(plan))
    assert not result.ok and "changed after the plan" in result.error and "Collections" in result.error
    assert run(export(sandbox, "catalogue")) == before


def test_apply_goes_ahead_when_only_rows_it_leaves_alone_changed(sandbox):
    job, name = _one_staged_change(sandbox)
    plan = run(job.plan())
    other = next(r["name"] for r in run(table_csv(sandbox, "catalogue", "Variables"))[1]
                 if r["resource"] == "testCohort" and r["name"] != name)
    run(_edit_variable(sandbox, "catalogue", "testCohort", other, "edited in the catalogue meanwhile"))
    result = run(job.apply(plan))
    assert result.ok, result.error
    after = {r["name"]: r["description"] for r in run(table_csv(sandbox, "catalogue", "Variables"))[1]
             if r["resource"] == "testCohort"}
    assert after[name] == "changed in staging"
    assert after[other] == "edited in the catalogue meanwhile"  # the write did not touch it


def test_secrets_never_in_events_or_errors(sandbox):
    job = Job("FillStaging", conn(sandbox, "catalogue"), conn(sandbox, "emptyStaging"))
    events, emit = collect()
    plan = run(job.plan(emit))
    run(job.apply(plan, emit))
    text = "\n".join(repr(e) for e in events) + repr(job.source) + repr(job.target) + repr(plan)
    assert PASSWORD not in text
    bad = Job("FillStaging", Connection(sandbox.url, "catalogue", token="tok-" + PASSWORD),
              conn(sandbox, "emptyStaging"))
    events2, emit2 = collect()
    with pytest.raises(Exception) as err:
        run(bad.plan(emit2))
    assert PASSWORD not in str(err.value)
    assert PASSWORD not in "\n".join(repr(e) for e in events2)


def test_cancel_stops_before_anything_is_written(sandbox):
    from emx2tui.jobs.runner import JobCancelled

    job = Job("FillStaging", conn(sandbox, "catalogue"), conn(sandbox, "emptyStaging"))
    events: list[Event] = []

    def emit(e: Event) -> None:
        events.append(e)
        if type(e).__name__ == "StepProgress":
            job.cancel()

    with pytest.raises(JobCancelled):
        run(job.plan(emit))
    assert any(isinstance(e, StepFinished) and e.status == "cancelled" for e in events)
    plan = run(job.plan())
    before = run(export(sandbox, "emptyStaging"))
    job.cancel()
    result = run(job.apply(plan))
    assert result.cancelled and not result.ok and result.backup_path is None
    assert run(export(sandbox, "emptyStaging")) == before


@pytest.fixture()
def bare_staging(models_dir, tmp_path):
    """The catalogue and a cohort staging schema without any row, not even its Collections row."""
    folder = tmp_path / "bare"
    folder.mkdir()
    (folder / "molgenis.csv").write_text((models_dir / "cohort-staging" / "molgenis.csv").read_text(
        encoding="utf-8"), encoding="utf-8")
    load = [("CatalogueOntologies", models_dir / "catalogue-ontologies"),
            ("catalogue", models_dir / "catalogue"), ("bareStaging", folder)]
    with server.start_sandbox(port=0, load=[(n, str(p)) for n, p in load],
                              admin_password=PASSWORD) as sb:
        yield sb


def test_flow_b_refuses_a_staging_without_the_resource_row(bare_staging):
    sb = bare_staging
    before = run(export(sb, "catalogue"))
    job = Job("CohortStagingToDataCatalogue", conn(sb, "bareStaging"), conn(sb, "catalogue"),
              resource_id=COHORT)
    with pytest.raises(Exception) as err:
        run(job.plan())
    text = str(err.value)
    assert f"Resource '{COHORT}' is not in table Collections" in text and "no row at all" in text
    assert "would delete them" in text
    assert run(export(sb, "catalogue")) == before


def test_fill_staging_into_a_staging_without_collections_row_says_what_to_do(bare_staging):
    job = Job("FillStaging", conn(bare_staging, "catalogue"), conn(bare_staging, "bareStaging"))
    with pytest.raises(Exception) as err:
        run(job.plan())
    text = str(err.value)
    assert "Add the cohort's Collections row to 'bareStaging'" in text
    assert "--resource-id" in text and "found 0" not in text


def test_a_read_back_that_fails_is_tried_once_and_warned_about_once(sandbox, monkeypatch):
    from emx2tui.emx2.errors import ServerError
    from emx2tui.jobs import scoped
    from emx2tui.jobs.events import StepLog

    job = Job("CohortStagingToDataCatalogue", conn(sandbox, "testCohort"), conn(sandbox, "catalogue"))
    plan = run(job.plan())
    tries = []

    async def refused(client, model, wanted):
        tries.append(client)
        raise ServerError("read-back refused")

    monkeypatch.setattr(scoped, "keyed_entries", refused)
    events: list = []
    result = run(job.apply(plan, events.append))
    assert result.ok, result.error
    warned = [e for e in events if isinstance(e, StepLog) and "Could not read back" in e.message]
    assert len(tries) == 1 and len(warned) == 1

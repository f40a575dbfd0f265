"""Plan diff, projection, filters and zip building on small frames and on the real models."""

from __future__ import annotations

import io
import zipfile

import pytest

from emx2tui.emx2 import csvfmt
from emx2tui.emx2.frames import frame_from_rows, read_frame
from emx2tui.emx2.model import SchemaModel
from emx2tui.emx2.zipfmt import build_zip, make_reimportable, read_zip, table_entries
from emx2tui.jobs import transform
from emx2tui.jobs.plan import (INSERT, UNCHANGED, UPDATE, Plan, build_table_plan, delete_only_plan,
                               diff_table, digest)
from emx2tui.jobs.strategy import TableSpec


def f(rows, columns=None):
    return frame_from_rows(rows, columns)


def test_read_frame_is_plain_strings():
    df = read_frame("a,b,c\n1,,x\n,2,\"p,q\"\n")
    assert df.tuples() == [("1", "", "x"), ("", "2", "p,q")]
    assert all(type(v) is str for row in df.tuples() for v in row)
    empty = read_frame("a,b\n")
    assert list(empty.columns) == ["a", "b"] and len(empty) == 0


def test_diff_by_key_inserts_updates_unchanged_deletes():
    src = f([{"k": "1", "v": "a", "arr": "x,y"}, {"k": "2", "v": "b", "arr": ""},
             {"k": "3", "v": "c", "arr": ""}])
    tgt = f([{"k": "1", "v": "a", "arr": "x, y", "extra": "keep"}, {"k": "2", "v": "B", "arr": "",
             "extra": "gone"}, {"k": "4", "v": "d", "arr": "", "extra": ""}])
    actions, changes, gone = diff_table(src, tgt, ["k"], ["k", "v", "arr"], array_columns=["arr"])
    assert actions == [UNCHANGED, UPDATE, INSERT]
    assert changes == {("2",): {"v": ("B", "b")}}
    assert gone["k"] == ["4"]


def test_table_plan_counts_and_cleared_columns():
    src = f([{"k": "1", "v": "a"}, {"k": "2", "v": "b"}, {"k": "3", "v": "c"}])
    tgt = f([{"k": "1", "v": "a", "extra": "x"}, {"k": "2", "v": "B", "extra": "y"},
             {"k": "9", "v": "z", "extra": ""}])
    sp, dp = build_table_plan("T", "k = X", src, tgt, ["k"], ["k", "v", "extra"],
                              target_columns=["k", "v", "extra"], with_deletes=True)
    assert (sp.rows, sp.inserts, sp.updates, sp.unchanged) == (3, 1, 1, 1)
    assert sp.columns == ["k", "v"]
    assert sp.cleared == {"extra": 1}  # only the updated row is rewritten
    assert sp.upsert_frame()["k"] == ["2", "3"]
    assert dp.deletes == 1 and dp.deleted_frame["k"] == ["9"]


def test_digest_ignores_row_order():
    a = f([{"k": "1", "v": "a"}, {"k": "2", "v": "b"}])
    b = f([{"k": "2", "v": "b"}, {"k": "1", "v": "a"}])
    assert digest(a, ["k"]) == digest(b, ["k"])
    assert digest(a, ["k"]) != digest(f([{"k": "1", "v": "a"}]), ["k"])
    # one changed cell, cells moved between rows, a duplicated row: each a different fingerprint
    assert digest(a, ["k"]) != digest(f([{"k": "1", "v": "a"}, {"k": "2", "v": "c"}]), ["k"])
    assert digest(a, ["k"]) != digest(f([{"k": "1", "v": "b"}, {"k": "2", "v": "a"}]), ["k"])
    assert digest(a, ["k"]) != digest(f([{"k": "1", "v": "a"}, {"k": "1", "v": "a"}, {"k": "2", "v": "b"}]), ["k"])
    # column order and system columns do not count; the column names do
    assert digest(a, ["k"]) == digest(f([{"v": "b", "k": "2", "mg_draft": "x"}, {"v": "a", "k": "1", "mg_draft": ""}]), ["k"])
    assert digest(a, ["k"]) != digest(f([{"k": "1", "w": "a"}, {"k": "2", "w": "b"}]), ["k"])


def test_import_zip_holds_upserts_and_mg_delete_rows_in_order():
    sp, dp = build_table_plan("Child", "", f([{"p": "1", "n": "a", "v": "new"}]),
                              f([{"p": "1", "n": "b", "v": ""}]), ["p", "n"], ["p", "n", "v"],
                              with_deletes=True)
    parent, _ = build_table_plan("Parent", "", f([{"id": "1", "x": "y"}]), f([], ["id", "x"]),
                                 ["id"], ["id", "x"])
    gone = delete_only_plan("Other", "", f([{"id": "7"}, {"id": "8"}]), ["id"], {("8",)})
    plan = Plan("S", "B", "s", "t", "1", sync=[sp, parent], delete=[dp, gone],
                order=["Parent", "Child", "Other"])
    entries = plan.import_tables()
    assert [name for name, _ in entries] == ["Parent", "Child", "Other"]
    data = plan.build_zip()
    names = zipfile.ZipFile(io.BytesIO(data)).namelist()
    assert "molgenis.csv" not in names
    tables = table_entries(data)
    header, rows = csvfmt.read_csv(tables["Child"])
    assert header == ["p", "n", "v", "mg_delete"]
    assert rows == [{"p": "1", "n": "a", "v": "new", "mg_delete": ""},
                    {"p": "1", "n": "b", "v": "", "mg_delete": "true"}]
    assert csvfmt.read_csv(tables["Other"])[1] == [{"id": "7", "mg_delete": "true"}]
    assert csvfmt.read_csv(tables["Parent"])[0] == ["id", "x"]
    assert plan.total_delete_rows == 2 and plan.has_deletes and plan.total_sync_rows == 2


def test_build_zip_refuses_clashing_names():
    with pytest.raises(ValueError):
        build_zip([("Collection events", "a\n"), ("collectionevents", "a\n")])


def test_make_reimportable_strips_schema_from_tableclass():
    data = build_zip([("Agents", "resource,id,mg_tableclass\nX,a,catalogue.Agents\n")],
                     metadata="tableName\nAgents\n")
    out = read_zip(make_reimportable(data))
    assert out["Agents.csv"] == "resource,id,mg_tableclass\nX,a,Agents\n"
    assert out["molgenis.csv"] == "tableName\nAgents\n"


@pytest.fixture(scope="module")
def catalogue(models_dir):
    loaded: dict[str, SchemaModel] = {}
    for folder, schema in [("catalogue-ontologies", "CatalogueOntologies"), ("catalogue", "catalogue"),
                           ("cohort-staging", "testCohort")]:
        loaded[schema] = SchemaModel.from_molgenis_csv(
            (models_dir / folder / "molgenis.csv").read_text(encoding="utf-8"), schema, loaded.get)
    return loaded


def test_server_filters_use_ids_and_nested_refs(catalogue):
    cat = catalogue["catalogue"]
    assert transform.server_filter(cat, "Collections", "id", "X") == {"id": {"equals": "X"}}
    assert transform.server_filter(cat, "Variables", "resource", "X") == {"resource": {"id": {"equals": "X"}}}
    assert transform.server_filter(cat, "Table mappings", "source", "X") == {"source": {"id": {"equals": "X"}}}
    assert transform.server_filter(cat, "Collection events", "resource", "X") == \
        {"resource": {"id": {"equals": "X"}}}


def test_filter_project_and_blank_on_real_catalogue_rows(catalogue, models_dir):
    cat, stg = catalogue["catalogue"], catalogue["testCohort"]
    df = read_frame((models_dir / "catalogue" / "Variables.csv").read_text(encoding="utf-8"))
    spec = TableSpec("Variables", "resource", blank_outside=("useExternalDefinition",))
    rows = transform.local_filter(df, cat, spec, "testCohort1")
    assert len(rows) and set(rows["resource"]) == {"testCohort1"}
    cols = transform.upload_columns(stg, "Variables")
    projected, dropped, _ = transform.project(rows, cols)
    assert list(projected.columns) == [c for c in cols if c in rows.columns]
    assert all(c not in cols for c in dropped)
    blanked, n = transform.blank_outside(projected, stg, "Variables", "useExternalDefinition",
                                         "resource", "testCohort1")
    parts = [c for c in blanked.columns if c.startswith("useExternalDefinition")]
    if parts:
        res = "useExternalDefinition.resource"
        assert all(v in ("", "testCohort1") for v in blanked[res])


def test_own_class_rows():
    df = f([{"id": "a", "mg_tableclass": "cat.Agents"}, {"id": "b", "mg_tableclass": "cat.Organisations"}])
    assert transform.own_class_rows(df, "Agents")["id"] == ["a"]


def test_backup_name_never_carries_user_info(tmp_path):
    from emx2tui.jobs.backup import backup_path

    path = backup_path("catalogue", "https://admin:S3cr3t@data.example.org:8443/", tmp_path)
    assert "S3cr3t" not in str(path) and "admin" not in path.name
    assert path.name.startswith("catalogue@data.example.org_8443-")


def test_key_filters_narrow_each_chunk_by_the_other_key_columns(catalogue):
    from emx2tui.jobs import scoped

    model = catalogue["catalogue"]
    keys = [("testCohort", "core", f"var{i:03}") for i in range(450)]
    filters = scoped.key_filters(model, "Variables", model.key_columns("Variables"), keys)
    # chunks of 200 names, each narrowed to the one resource and the one table
    assert len(filters) == 3
    assert filters[0] == {"_and": [{"name": {"equals": [f"var{i:03}" for i in range(200)]}},
                                   {"resource": {"id": {"equals": ["testCohort"]}}},
                                   {"table": {"name": {"equals": ["core"]}}}]}
    assert filters[2]["_and"][0] == {"name": {"equals": [f"var{i:03}" for i in range(400, 450)]}}


def test_fast_reference_keys_match_the_general_reading_on_the_real_catalogue(catalogue, models_dir):
    from emx2tui.jobs.refs import _plain_ref_keys, ref_keys

    cat = catalogue["catalogue"]
    compared = arrays = 0
    for name in cat.tables:
        path = models_dir / "catalogue" / f"{name}.csv"
        if not path.exists():
            continue
        df = read_frame(path.read_text(encoding="utf-8"))
        for ref in cat.references(name):
            cols = list(dict.fromkeys(p.name for p in ref.parts))
            if not all(c in df.columns for c in cols):
                continue
            tmodel = cat._target_model(ref.column)
            tkey = tmodel.key_columns(ref.target_table) if ref.target_table in tmodel.tables else ["name"]
            fast = _plain_ref_keys(ref, cols, tkey)
            assert fast is not None
            rows = df.tuples(cols)
            # edge cells: quoted items holding commas, blank items, a blank shared part
            rows += [tuple('"a, b",c,,"d ""e"""' if i == len(cols) - 1 else v for i, v in enumerate(r))
                     for r in rows[:3]]
            rows += [tuple("" if i == 0 else v for i, v in enumerate(r)) for r in rows[:3]]
            for cells in rows:
                assert fast(cells) == ref_keys(dict(zip(cols, cells)), ref, tkey), (name, ref.column.name, cells)
                compared += 1
            arrays += ref.is_array
    assert compared > 1000 and arrays > 5


def test_split_array_reads_quoted_and_plain_items_alike():
    assert csvfmt.split_array(" a , b,,c ") == ["a", "b", "c"]
    assert csvfmt.split_array('"a, b", c ,"d ""e"""') == ["a, b", "c", 'd "e"']
    assert csvfmt.split_array(" , ") == [] and csvfmt.split_array(None) == []


def test_digest_tells_swapped_cells_apart_under_any_hash_salt():
    # the fingerprint adds up per-process salted hashes; a weak row hash (a tuple's) lets swapped
    # cells cancel out for some salts, so try many
    import os
    import subprocess
    import sys

    code = ("from emx2tui.emx2.frames import frame_from_rows as f\n"
            "from emx2tui.jobs.plan import digest\n"
            "same = 0\n"
            "for x, y in [('a', 'b'), ('1', '2'), ('yes', 'no'), ('', 'x')]:\n"
            "    a = f([{'k': '1', 'v': x}, {'k': '2', 'v': y}])\n"
            "    b = f([{'k': '1', 'v': y}, {'k': '2', 'v': x}])\n"
            "    same += digest(a, ['k']) == digest(b, ['k'])\n"
            "print(same)\n")
    for seed in range(0, 40, 4):
        out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True,
                             env=dict(os.environ, PYTHONHASHSEED=str(seed))).stdout
        assert out.strip() == "0", f"PYTHONHASHSEED={seed}"


def test_read_frame_refuses_what_it_cannot_read_without_losing_cells():
    from emx2tui.emx2.errors import CsvFormatError

    with pytest.raises(CsvFormatError, match="line"):
        read_frame('a,b\n"1,2\n3,4\n')  # ends inside a quoted cell: cut off
    with pytest.raises(CsvFormatError, match="Row 1 .* 3 values for 2 columns"):
        read_frame("a,b\n1,2,3\n4,5\n")
    # a trailing separator and a short row read as empty cells
    assert read_frame("a,b\n1,2,\n4\n").tuples() == [("1", "2"), ("4", "")]


def test_frame_masks_must_have_one_value_per_row():
    df = f([{"k": "1"}, {"k": "2"}])
    with pytest.raises(ValueError):
        df.where([True])
    with pytest.raises(ValueError):
        df.blank([True, False, True], ["k"])
    assert df.where(v == "2" for v in df["k"]).tuples() == [("2",)]

"""The schema model reads the real EMX2 models and lays out CSV columns the way EMX2 does."""

from __future__ import annotations

import json

import pytest

from emx2tui.emx2 import csvfmt
from emx2tui.emx2.model import SchemaModel
from emx2tui.emx2.names import column_id, table_id

FOLDERS = {
    "catalogue": "catalogue",
    "catalogue-ontologies": "CatalogueOntologies",
    "cohort-staging": "testCohort",
    "network-staging": "testNetwork",
    "umcg-cohort-staging": "testCohortUMCG",
    "shared-staging": "SharedStaging",
}


@pytest.fixture(scope="module")
def models(models_dir):
    loaded: dict[str, SchemaModel] = {}

    def resolver(name):
        return loaded.get(name) or (loaded.get("catalogue") if name == "UMCG" else None)

    for folder, schema in FOLDERS.items():
        text = (models_dir / folder / "molgenis.csv").read_text(encoding="utf-8")
        loaded[schema] = SchemaModel.from_molgenis_csv(text, schema, resolver)
    return loaded


def test_identifiers():
    assert table_id("Collection events") == "CollectionEvents"
    assert table_id("my_table x") == "My_tableX"
    assert column_id("statement of consent email") == "statementOfConsentEmail"
    assert column_id("ID") == "iD"
    assert column_id("mg_insertedOn") == "mg_insertedOn"


@pytest.mark.parametrize("folder", list(FOLDERS))
def test_csv_columns_and_keys_match_reference(models, models_dir, folder):
    facts = json.loads((models_dir / "models.json").read_text())["models"][folder]["tables"]
    model = models[FOLDERS[folder]]
    for name, info in facts.items():
        if model.tables[name].is_ontology:
            continue
        owner = model.csv_column_owner(name)
        # The reference files leave out file and computed columns on purpose.
        got = [c for c in model.csv_columns(name) if not owner[c].is_file and not owner[c].computed]
        assert got == info["csvColumns"], name
        assert model.key_columns(name) == info["primaryKeyCsvColumns"], name


def test_composite_reference_parts(models):
    cat = models["catalogue"]
    ref = {r.column.name: r for r in cat.references("Variable mappings")}
    tv = ref["target variable"]
    assert [(p.name, p.target) for p in tv.parts] == [
        ("target", "resource"), ("target table", "table"), ("target variable", "name")]
    creator = {r.column.name: r for r in cat.references("Subpopulations")}["creator"]
    assert [p.name for p in creator.parts] == ["resource", "creator"]
    assert creator.is_array


def test_load_order_puts_parents_and_referenced_tables_first(models, models_dir):
    facts = json.loads((models_dir / "models.json").read_text())["models"]
    for folder in ("cohort-staging", "umcg-cohort-staging"):
        model = models[FOLDERS[folder]]
        assert model.load_order() == facts[folder]["loadOrder"]
    order = models["catalogue"].load_order()
    for before, after in [("Resources", "Collections"), ("Collections", "Contacts"),
                          ("Tables", "Variables"), ("Variables", "Variable values"),
                          ("Subpopulations", "Subpopulation counts")]:
        assert order.index(before) < order.index(after)
    deferred = {(r.table, r.column.name) for r in models["catalogue"].deferred_references(order)}
    assert ("Collections", "contact point") in deferred


def test_versions_and_profiles(models):
    assert models["catalogue"].version() == "9.0.0"
    assert "DataCatalogueFlat" in models["catalogue"].profiles()
    assert "CohortsStaging" in models["testCohort"].profiles()


def test_molgenis_csv_round_trip(models):
    cat = models["catalogue"]
    again = SchemaModel.from_molgenis_csv(cat.to_molgenis_csv(), "catalogue", cat.resolver)
    for name in cat.tables:
        assert again.csv_columns(name) == cat.csv_columns(name)


def test_array_cells_round_trip():
    items = ["a,b", "c", 'say "hi"']
    cell = csvfmt.join_array(items)
    assert cell == '"a,b",c,"say ""hi"""'
    assert csvfmt.split_array(cell) == items
    assert csvfmt.split_array("") == []


def test_read_csv_sniffs_separator_and_skips_bom():
    header, rows = csvfmt.read_csv("\ufeffa;b\n1; 2 \n\n")
    assert header == ["a", "b"]
    assert rows == [{"a": "1", "b": "2"}]

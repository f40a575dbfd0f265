"""Strategy files: loading by any spelling, versions, and fit with the real 9.0.0 models."""

from __future__ import annotations

import pytest

from emx2tui.emx2.model import SchemaModel
from emx2tui.jobs.strategy import (StrategyError, VersionRange, list_strategies, load_strategy,
                                   parse_strategy)


def test_builtin_strategies_listed():
    names = [s.name for s in list_strategies()]
    assert "FillStaging" in names and "CohortStagingToDataCatalogue" in names


@pytest.mark.parametrize("spelling", ["FillStaging", "fill-staging", "FILL_STAGING", "fillstaging"])
def test_load_by_any_spelling(spelling):
    s = load_strategy(spelling)
    assert s.name == "FillStaging" and s.flow == "A"
    assert s.steps == ["tablesToSync", "download", "filter", "upload"]


def test_flow_b_steps_and_keep():
    s = load_strategy("COHORT_STAGING_TO_DATA_CATALOGUE_ZIP")
    assert s.flow == "B"
    assert s.steps == ["tablesToDelete", "deleteCohort", "tablesToSync", "download", "filter", "upload"]
    assert "Collections" not in [t.table for t in s.delete]
    for kept in ("Linkages", "Resource mappings", "Reused variables", "Endpoint"):
        assert kept in s.keep and s.delete_spec(kept) is None


def test_unknown_strategy_lists_known_ones():
    with pytest.raises(StrategyError) as err:
        load_strategy("NoSuchJob")
    assert "FillStaging" in str(err.value) and "CohortStagingToDataCatalogue" in str(err.value)


def test_version_ranges():
    r = VersionRange(">=9.0.0, <10")
    assert r.contains("9.0.0") and r.contains("9.3.1") and not r.contains("10.0.0")
    assert not r.contains("8.2.0")


def test_malformed_files_are_refused():
    with pytest.raises(StrategyError):
        parse_strategy("name='x'\nflow='C'\n[source]\nprofile='a'\nversions='1'\n"
                       "[target]\nprofile='b'\nversions='1'\n[[sync]]\ntable='T'\n")
    with pytest.raises(StrategyError):
        parse_strategy("name = [")


GOOD = ("name = 'Mine'\nflow = 'A'\n[resource]\ntable = 'Collections'\n"
        "[source]\nprofile = 'a'\nversions = '*'\n[target]\nprofile = 'b'\nversions = '*'\n"
        "[[sync]]\ntable = 'T'\n")


@pytest.mark.parametrize("bad, words", [
    ("aliases = 5\n", "'aliases' must be a list of strings"),
    ("columns = 5\n", "'columns' must be a table"),
    ("resource = 'Collections'\n", None),  # a second [resource]: not valid TOML
    ("name = 1\n", None),                   # twice: not valid TOML either
])
def test_wrongly_typed_files_are_refused_in_words(bad, words):
    with pytest.raises(StrategyError) as err:
        parse_strategy(bad + GOOD, "mine.toml")
    assert "mine.toml" in str(err.value)
    if words:
        assert words in str(err.value)


@pytest.mark.parametrize("replace, words", [
    (("name = 'Mine'", "name = 1"), "'name' must be a string"),
    (("[resource]\ntable = 'Collections'", "resource = 'Collections'"), "'resource' must be a table"),
    (("[resource]\ntable = 'Collections'", "[resource]\nside = 'nowhere'"), "side must be"),
    (("[[sync]]\ntable = 'T'", "[[sync]]\ntable = 7"), "table must be a table's name"),
    (("[[sync]]\ntable = 'T'", "[[sync]]\ntable = 'T'\nblank_outside = 3"), "wrong type"),
])
def test_wrong_values_are_named(replace, words):
    assert parse_strategy(GOOD).name == "Mine"
    with pytest.raises(StrategyError) as err:
        parse_strategy(GOOD.replace(*replace), "mine.toml")
    assert words in str(err.value)


def test_a_strategy_file_that_is_not_utf8_is_refused(tmp_path):
    from emx2tui.jobs.strategy import load_strategy_file

    path = tmp_path / "latin.toml"
    path.write_bytes("name = 'Caf\xe9'\n".encode("latin-1"))
    with pytest.raises(StrategyError, match="not UTF-8"):
        load_strategy_file(path)


FOLDERS = {"FillStaging": ("catalogue", "cohort-staging"),
           "CohortStagingToDataCatalogue": ("cohort-staging", "catalogue")}


@pytest.mark.parametrize("name", list(FOLDERS))
def test_strategy_fits_reference_models(models_dir, name):
    s = load_strategy(name)
    loaded: dict[str, SchemaModel] = {}
    for folder, schema in [("catalogue-ontologies", "CatalogueOntologies"), ("catalogue", "catalogue"),
                           ("cohort-staging", "testCohort")]:
        loaded[folder] = SchemaModel.from_molgenis_csv(
            (models_dir / folder / "molgenis.csv").read_text(encoding="utf-8"), schema,
            lambda n: loaded.get({"catalogue": "catalogue", "CatalogueOntologies": "catalogue-ontologies"}.get(n, n)))
    src, tgt = (loaded[f] for f in FOLDERS[name])
    s.source_model.check(src, "source", "test")
    s.target_model.check(tgt, "target", "test")
    for spec in s.sync + s.delete:
        assert spec.table in tgt.tables, spec.table
        if spec.filter:
            tgt.column(spec.table, spec.filter)
    with pytest.raises(StrategyError) as err:
        s.source_model.check(tgt, "source", "test")
    assert "expects" in str(err.value)

"""Demo data for the sandbox: four EMX2 schemas that look like a small data catalogue set-up.

The set, in load order:

1. ``CatalogueOntologies``: the ontology tables the models refer to, plus the ``Organisations``
   data table (a short list of fictional research organisations).
2. ``catalogue``: a compact version of the 9.0.0 DataCatalogueFlat model holding the cohorts
   NORTHSTAR, RIVERSIDE and HIGHLANDS, the network EUROCHILD (with harmonised tables the
   cohorts are mapped onto) and the catalogue CHILDCAT.
3. ``NORTHSTAR``: the CohortsStaging model holding a newer release of NORTHSTAR (some
   variables changed, removed or added, one new contact, one changed subpopulation).
4. ``RIVERSIDE``: the CohortsStaging model holding only the Collections row of RIVERSIDE.

The models are written here, in code: the same table names, keys, references (composite keys,
``refLink``, cross-schema references), inheritance and marker tables (``Version``, ``Profiles``)
as the real 9.0.0 models, with a representative subset of their attribute columns. The staging
model is a column subset of the catalogue model.

``scale`` multiplies the amount of data: the number of cohorts grows up to 50, after which the
number of variables per table grows, so the staging schema stays a small share of the catalogue.
Everything is derived from the seed with integer arithmetic (no shared random stream), so a
cohort's rows do not depend on how many other rows were generated before it.
"""

from __future__ import annotations

import csv
import io
from collections.abc import Iterable, Mapping, Sequence
from pathlib import Path

from emx2tui.emx2.csvfmt import join_array
from emx2tui.emx2.model import SchemaModel

MODEL_VERSION = "9.0.0"

ONTOLOGY_SCHEMA = "CatalogueOntologies"
CATALOGUE_SCHEMA = "catalogue"
STAGING_SCHEMA = "NORTHSTAR"
EMPTY_STAGING_SCHEMA = "RIVERSIDE"

DEMO: dict[str, object] = {
    "ontologies": ONTOLOGY_SCHEMA,
    "catalogue": CATALOGUE_SCHEMA,
    "cohorts": ("NORTHSTAR", "RIVERSIDE", "HIGHLANDS"),
    "network": "EUROCHILD",
    "catalogue_resource": "CHILDCAT",
    "staging": STAGING_SCHEMA,
    "staging_cohort": "NORTHSTAR",
    "empty_staging": EMPTY_STAGING_SCHEMA,
    "empty_staging_cohort": "RIVERSIDE",
    "model_version": MODEL_VERSION,
}

MAX_COHORTS = 50

__all__ = ["DEMO", "MODEL_VERSION", "demo_schemas", "write_demo", "model_csv", "demo_models"]


# =============================================================================================
# Models
# =============================================================================================

CAT = "DataCatalogueFlat"
STG = "CohortsStaging"
BOTH = (CAT, STG)
ONLY_CAT = (CAT,)

HRICORE = "if(hricore === true) 'This field is mandatory for HRICore compatibility'"
HRICORE_RES = "if(resource?.hricore === true) 'This field is mandatory for HRICore compatibility'"


class _Col:
    __slots__ = ("name", "type", "key", "required", "ref_table", "ref_link", "ref_back", "ref_schema",
                 "staging_ref_schema", "default", "profiles", "description")

    def __init__(self, name: str, type: str = "", key: str = "", required: str = "",
                 ref: str = "", link: str = "", back: str = "", schema: str = "",
                 staging_schema: str = "", default: str = "", profiles: tuple[str, ...] = BOTH,
                 description: str = "") -> None:
        self.name = name
        self.type = type
        self.key = key
        self.required = required or ("TRUE" if key == "1" else "")
        self.ref_table = ref
        self.ref_link = link
        self.ref_back = back
        self.ref_schema = schema or (ONTOLOGY_SCHEMA if type.startswith("ontology") else "")
        self.staging_ref_schema = staging_schema
        self.default = default
        self.profiles = profiles
        self.description = description


def C(name: str, type: str = "", **kw) -> _Col:  # noqa: N802 - reads like a model row
    return _Col(name, type, **kw)


def K(name: str, type: str = "", **kw) -> _Col:  # noqa: N802
    return _Col(name, type, key="1", **kw)


def O(name: str, table: str, array: bool = True, **kw) -> _Col:  # noqa: N802, E743
    return _Col(name, "ontology_array" if array else "ontology", ref=table, **kw)


def RES(**kw) -> _Col:  # noqa: N802
    return _Col("resource", "ref", key="1", ref="Resources", **kw)


# (table, extends, description, profiles, columns)
_TABLES: list[tuple[str, str, str, tuple[str, ...], list[_Col]]] = [
    ("Version", "", MODEL_VERSION, BOTH, []),
    ("Profiles", "", "", BOTH, []),  # one column per profile tag, added per model
    ("Resources", "", "Resource of data and/or samples: the parent of collections, networks and catalogues",
     BOTH, [
         C("hricore", "bool"),
         K("id"),
         C("pid", key="2"),
         C("name", "text", key="3", required="TRUE"),
         C("local name"),
         C("acronym"),
         C("website", "hyperlink"),
         C("description", "text", required=HRICORE),
         C("start year", "int"),
         C("end year", "int"),
         C("contact email", "email"),
         O("countries", "Countries"),
         O("continents", "Continents"),
         C("organisations involved", "refback", ref="Organisations", back="resource"),
         C("publisher", "ref", ref="Organisations", required=HRICORE),
         C("creator", "ref_array", ref="Organisations", required=HRICORE),
         C("people involved", "refback", ref="Contacts", back="resource"),
         C("contact point", "ref", ref="Contacts", required=HRICORE),
         C("publications", "refback", ref="Publications", back="resource"),
         O("funding sources", "Funding types", profiles=ONLY_CAT),
         C("funding statement", "text"),
         C("acknowledgements", "text"),
         C("documentation", "refback", ref="Documentation", back="resource"),
         O("applicable legislation", "Legislations", default="= [{name: 'Data Governance Act'}]"),
         C("issued", "datetime"),
         C("modified", "datetime"),
     ]),
    ("Networks", "Resources", "A network or consortium of data resources", ONLY_CAT, [
        O("network type", "Network types"),
        C("data resources", "ref_array", ref="Collections"),
        C("child networks", "ref_array", ref="Networks"),
        C("parent networks", "refback", ref="Networks", back="child networks"),
    ]),
    ("Catalogues", "Networks", "A catalogue of data resources", ONLY_CAT, [
        O("catalogue type", "CatalogueTypes", array=False),
        C("main catalogue", "bool"),
        C("fdp endpoint", "ref", ref="Endpoint"),
    ]),
    ("Collections", "Resources", "A collection of data and/or samples such as a cohort, registry or biobank",
     BOTH, [
         O("type", "Resource types", required="TRUE"),
         O("cohort type", "Cohort study types"),
         C("keywords", "string_array"),
         O("status", "Study status", array=False, profiles=ONLY_CAT),
         O("design", "Cohort designs", array=False),
         C("design description", "text"),
         O("data collection type", "Cohort collection types"),
         C("subpopulations", "refback", ref="Subpopulations", back="resource"),
         C("collection events", "refback", ref="Collection events", back="resource"),
         C("part of networks", "refback", ref="Networks", back="data resources", profiles=ONLY_CAT),
         C("number of participants", "non_negative_int"),
         C("number of participants with samples", "non_negative_int"),
         O("regions", "Regions"),
         O("population age groups", "Age groups"),
         C("age min", "non_negative_int", profiles=ONLY_CAT),
         C("age max", "non_negative_int", profiles=ONLY_CAT),
         O("inclusion criteria", "Inclusion Exclusion Criteria"),
         C("other inclusion criteria", "text"),
         O("population disease", "Diseases"),
         O("areas of information", "Areas of information cohorts"),
         O("languages", "Languages", profiles=ONLY_CAT),
         C("prelinked", "bool"),
         C("linkage options", "text"),
         C("linkage possibility", "bool"),
         O("informed consent type", "Informed consent types", array=False),
         O("access rights", "Access rights", array=False, required=HRICORE,
           default="= {name: 'Non public'}"),
         O("data access conditions", "Data access conditions"),
         O("data use conditions", "Data use conditions"),
         C("data access conditions description", "text"),
         C("data access fee", "bool"),
         O("release type", "Release types", array=False),
         C("release description", "text"),
         C("release frequency", "int", profiles=ONLY_CAT),
         O("theme", "Themes", required=HRICORE, default="= [{name: 'Health'}]"),
         C("data sources", "ref_array", ref="Resources", profiles=ONLY_CAT),
     ]),
    ("Endpoint", "", "General information describing an endpoint of a FAIR data point", ONLY_CAT, [
        K("id", "string"),
        C("type", "hyperlink_array", required="TRUE"),
        C("name", "string_array", required="TRUE"),
        C("description", "text"),
        C("publisher", "ref_array", ref="Agents", required="TRUE"),
        C("license", "hyperlink", required="TRUE"),
        C("conformsTo", "hyperlink", required="TRUE"),
        C("contact", "ref", ref="Contacts"),
        C("metadataCatalog", "ref_array", ref="Resources", required="TRUE"),
        C("conformsToFdpSpec", "hyperlink", required="TRUE"),
    ]),
    ("Agents", "", "An organisation, department or individual", BOTH, [
        RES(description="Resource this Agent is associated with"),
        K("id"),
        O("type", "Agent types", array=False, required="TRUE"),
        C("name"),
        C("organisation", "ref", ref="Organisations", schema=ONTOLOGY_SCHEMA),
        C("other organisation", "text"),
        C("department"),
        C("website", "hyperlink"),
        C("email", "email", required=HRICORE_RES),
        O("role", "Organisation roles"),
        C("organisation name", profiles=ONLY_CAT),
        C("organisation pid", profiles=ONLY_CAT),
        C("organisation website", "hyperlink", profiles=ONLY_CAT),
    ]),
    ("Organisations", "Agents", "Research organisations, departments and institutions involved in a resource",
     BOTH, [C("is lead organisation", "bool")]),
    ("Contacts", "", "Listing of contact persons per resource", BOTH, [
        RES(),
        O("role", "Contribution types"),
        C("role description", "text"),
        K("first name"),
        K("last name"),
        C("prefix"),
        C("initials"),
        O("title", "Titles", array=False),
        C("organisation", "ref", ref="Organisations", link="resource"),
        C("email", "email", required=HRICORE_RES),
        C("orcid"),
        C("homepage", "hyperlink"),
        C("expertise"),
    ]),
    ("Documentation", "", "Documentation attached to a resource", BOTH, [
        RES(), K("name"),
        O("type", "Document types", array=False),
        C("description", "text"),
        C("url", "hyperlink"),
    ]),
    ("External identifiers", "", "External identifier(s) for this resource", BOTH, [
        RES(), K("identifier", "text"),
        O("external identifier type", "External identifier types", array=False),
        C("external identifier type other", "text"),
    ]),
    ("Internal identifiers", "", "Internal identifier(s) for this resource", BOTH, [
        RES(), K("identifier", "text"),
        O("internal identifier type", "Internal identifier types", array=False),
        C("internal identifier type other", "text"),
    ]),
    ("Linkages", "", "Links between resources, e.g. data sources linked to a cohort", ONLY_CAT, [
        RES(),
        K("linked resource", "ref", ref="Resources"),
        O("linkage strategy", "Linkage strategies", array=False),
        C("linkage variable", "text"),
        C("linkage variable unique", "bool"),
        C("pre linked", "bool"),
    ]),
    ("Publications", "", "Publications based on doi", BOTH, [
        RES(), K("doi", "hyperlink"),
        C("title", required="TRUE"),
        C("is design publication", "bool"),
        C("reference", "text"),
    ]),
    ("Resource counts", "", "Quantitative information on the resource per age group", BOTH, [
        _Col("resource", "ref", key="1", ref="Resources", required=""),
        O("age group", "Age groups", array=False, key="1", required=""),
        C("population size", "int", profiles=ONLY_CAT),
        C("active size", "int", profiles=ONLY_CAT),
        C("no individuals with samples", "int"),
        C("median age", "int"),
        C("proportion female", "int"),
    ]),
    ("Resource mappings", "", "Mapping from collected resources to standard data models", ONLY_CAT, [
        K("source", "ref", ref="Resources"),
        C("source version"),
        K("target", "ref", ref="Resources"),
        C("target version"),
        O("mapping status", "Mapping status", array=False),
        C("ETL frequency", "int"),
    ]),
    ("Samplesets", "", "Definition of a sample set", BOTH, [
        RES(), K("name"),
        O("sample types", "Sample types"),
    ]),
    ("Subpopulations", "", "Subpopulations defined for this resource", BOTH, [
        RES(), K("name"),
        C("pid"),
        C("description", "text"),
        C("keywords", "string_array"),
        C("number of participants", "non_negative_int"),
        C("counts", "refback", ref="Subpopulation counts", back="subpopulation"),
        C("inclusion start", "int"),
        C("inclusion end", "int"),
        O("age groups", "Age groups"),
        C("age min", "non_negative_int"),
        C("age max", "non_negative_int"),
        O("main medical condition", "Diseases"),
        O("countries", "Countries"),
        O("inclusion criteria", "Inclusion Exclusion Criteria"),
        C("other inclusion criteria", "text"),
        C("contact point", "ref", ref="Contacts", link="resource", profiles=ONLY_CAT),
        C("publisher", "ref", ref="Organisations", link="resource", profiles=ONLY_CAT),
        C("creator", "ref_array", ref="Organisations", link="resource", profiles=ONLY_CAT),
        O("theme", "Themes", default="= [{name: 'Health'}]"),
        O("access rights", "Access rights", array=False, default="= {name: 'Non public'}"),
    ]),
    ("Collection events", "", "Definition of a collection event for a resource", BOTH, [
        RES(), K("name"),
        C("pid"),
        C("description", "text"),
        C("subpopulations", "ref_array", ref="Subpopulations", link="resource"),
        C("keywords", "string_array"),
        C("start date", "date"),
        C("end date", "date"),
        O("age groups", "Age groups"),
        C("number of participants", "int"),
        O("areas of information", "Areas of information cohorts"),
        O("data categories", "Data categories"),
        O("sample categories", "Sample categories"),
        C("core variables", "string_array"),
        C("contact point", "ref", ref="Contacts", link="resource", profiles=ONLY_CAT),
        C("publisher", "ref", ref="Organisations", link="resource", profiles=ONLY_CAT),
        C("creator", "ref_array", ref="Organisations", link="resource", profiles=ONLY_CAT),
        O("theme", "Themes", default="= [{name: 'Health'}]"),
        O("access rights", "Access rights", array=False, default="= {name: 'Non public'}"),
    ]),
    ("Subpopulation counts", "", "Number of participants per cohort age group", BOTH, [
        RES(),
        K("subpopulation", "ref", ref="Subpopulations", link="resource"),
        O("age group", "Age groups", array=False, key="1"),
        C("N total", "int"),
        C("N female", "int"),
        C("N male", "int"),
    ]),
    ("Tables", "", "Definition of a table", BOTH, [
        RES(), K("name"),
        C("label"),
        O("table type", "Table types"),
        O("unit of observation", "Observation targets", array=False),
        O("keywords", "Keywords"),
        C("description", "text"),
        C("number of rows", "int"),
        C("mapped to", "refback", ref="Table mappings", back="source table"),
        C("since version"),
        C("until version"),
    ]),
    ("Table mappings", "", "Mappings from collected or source tables to harmonised tables", BOTH, [
        K("source", "ref", ref="Resources"),
        K("source table", "ref", ref="Tables", link="source"),
        K("target", "ref", ref="Resources", staging_schema=CATALOGUE_SCHEMA),
        K("target table", "ref", ref="Tables", link="target", staging_schema=CATALOGUE_SCHEMA),
        C("order", "int"),
        C("description", "text"),
        C("syntax", "text"),
    ]),
    ("Variables", "", "Definition of a variable", BOTH, [
        RES(),
        K("table", "ref", ref="Tables", link="resource"),
        K("name"),
        C("useExternalDefinition", "ref", ref="Variables"),
        C("label"),
        C("description", "text"),
        C("collection event", "ref_array", ref="Collection events", link="resource"),
        O("format", "Formats", array=False),
        O("unit", "Units", array=False),
        C("since version"),
        C("until version"),
        O("repeat unit", "Variable repeat units", array=False),
        C("repeat min", "int"),
        C("repeat max", "int"),
        C("example values", "string_array"),
        C("permitted values", "refback", ref="Variable values", back="variable"),
        O("keywords", "Keywords"),
        O("generated_keywords", "Keywords", profiles=ONLY_CAT),
        O("vocabularies", "Vocabularies"),
        C("notes", "text"),
    ]),
    ("Reused variables", "", "Listing of variables from another resource reused by this resource",
     ONLY_CAT, [
         RES(),
         K("variable", "ref", ref="Variables"),
     ]),
    ("Variable mappings", "", "Mappings from collected or source variables to harmonised variables", BOTH, [
        K("source", "ref", ref="Resources"),
        K("source table", "ref", ref="Tables", link="source"),
        C("source variables", "ref_array", ref="Variables", link="source table"),
        C("source variables other tables", "ref_array", ref="Variables", link="source"),
        K("target", "ref", ref="Resources", staging_schema=CATALOGUE_SCHEMA),
        K("target table", "ref", ref="Tables", link="target", staging_schema=CATALOGUE_SCHEMA),
        K("target variable", "ref", ref="Variables", link="target table", staging_schema=CATALOGUE_SCHEMA),
        K("repeats", "text", default="NA"),
        O("match", "Status details", array=False, required="TRUE"),
        C("description", "text"),
        C("syntax", "text"),
        C("comments", "text"),
    ]),
    ("Variable values", "", "Listing of categorical value+label definitions", BOTH, [
        RES(),
        K("table", "ref", ref="Tables", link="resource"),
        K("variable", "ref", ref="Variables", link="table"),
        K("value"),
        C("label", required="TRUE"),
        C("order", "int"),
        C("is missing", "bool"),
        C("ontology term URI", "hyperlink"),
        C("since version"),
        C("until version"),
    ]),
]

_MOLGENIS_HEADER = ["tableName", "tableExtends", "tableType", "columnName", "columnType", "key",
                    "required", "refSchema", "refTable", "refLink", "refBack", "defaultValue",
                    "profiles", "description"]


def _model_rows(profile: str) -> list[dict[str, str]]:
    rows: list[dict[str, str]] = []
    staging = profile == STG
    for tname, extends, description, profiles, columns in _TABLES:
        if profile not in profiles:
            continue
        rows.append({"tableName": tname, "tableExtends": extends,
                     "profiles": ",".join(profiles), "description": description})
        if tname == "Profiles":
            rows.append({"tableName": tname, "columnName": profile, "profiles": profile})
            continue
        for col in columns:
            if profile not in col.profiles:
                continue
            ref_schema = col.staging_ref_schema if (staging and col.staging_ref_schema) else col.ref_schema
            rows.append({
                "tableName": tname, "columnName": col.name, "columnType": col.type,
                "key": col.key, "required": col.required, "refSchema": ref_schema,
                "refTable": col.ref_table, "refLink": col.ref_link, "refBack": col.ref_back,
                "defaultValue": col.default, "profiles": ",".join(col.profiles),
                "description": col.description,
            })
    return rows


# The ontology schema: the ontology tables the models refer to, plus the Organisations list.
_ONTO_ORGANISATIONS_COLUMNS = [
    ("name", "string", "1", "TRUE", "", ""),
    ("label", "string", "", "", "", ""),
    ("acronym", "string", "", "", "", ""),
    ("parent", "select", "", "", "", "Organisations"),
    ("codesystem", "string", "", "", "", ""),
    ("code", "string", "", "", "", ""),
    ("ontologyTermURI", "hyperlink", "", "", "", ""),
    ("type", "string_array", "", "", "", ""),
    ("aliases", "string_array", "", "", "", ""),
    ("website", "hyperlink", "", "", "", ""),
    ("country", "ontology", "", "", ONTOLOGY_SCHEMA, "Countries"),
    ("city", "string", "", "", "", ""),
    ("latitude", "decimal", "", "", "", ""),
    ("longitude", "decimal", "", "", "", ""),
    ("children", "refback", "", "", "", "Organisations"),
]


def _ontology_model_rows() -> list[dict[str, str]]:
    rows = [{"tableName": "Organisations",
             "description": "Research organisations (a local list in the style of ROR)"}]
    for name, ctype, key, req, schema, ref in _ONTO_ORGANISATIONS_COLUMNS:
        rows.append({"tableName": "Organisations", "columnName": name, "columnType": ctype,
                     "key": key, "required": req, "refSchema": schema, "refTable": ref,
                     "refBack": "parent" if ctype == "refback" else ""})
    for table in _ontology_tables():
        rows.append({"tableName": table, "tableType": "ONTOLOGIES"})
    return rows


def _ontology_tables() -> list[str]:
    """Every ontology table the models refer to, in model order."""
    seen: list[str] = []
    for _t, _e, _d, _p, columns in _TABLES:
        for col in columns:
            if col.type.startswith("ontology") and col.ref_table not in seen:
                seen.append(col.ref_table)
    return seen


def model_csv(schema_kind: str) -> str:
    """The molgenis.csv text of one demo model: 'ontologies', 'catalogue' or 'staging'."""
    if schema_kind == "ontologies":
        rows = _ontology_model_rows()
    elif schema_kind == "catalogue":
        rows = _model_rows(CAT)
    elif schema_kind == "staging":
        rows = _model_rows(STG)
    else:
        raise ValueError(f"unknown demo model '{schema_kind}' (ontologies, catalogue or staging)")
    return _csv_text(_MOLGENIS_HEADER, ([r.get(h, "") for h in _MOLGENIS_HEADER] for r in rows))


def demo_models() -> dict[str, SchemaModel]:
    """The parsed demo models by schema name (cross-schema references resolve among them)."""
    models: dict[str, SchemaModel] = {}
    resolver = models.get
    read = SchemaModel.from_molgenis_csv
    models[ONTOLOGY_SCHEMA] = read(model_csv("ontologies"), ONTOLOGY_SCHEMA, resolver)
    models[CATALOGUE_SCHEMA] = read(model_csv("catalogue"), CATALOGUE_SCHEMA, resolver)
    staging = model_csv("staging")
    models[STAGING_SCHEMA] = read(staging, STAGING_SCHEMA, resolver)
    models[EMPTY_STAGING_SCHEMA] = read(staging, EMPTY_STAGING_SCHEMA, resolver)
    return models


# =============================================================================================
# Ontology terms
# =============================================================================================
# A term is "name" or "name>parent"; terms with a parent come after the parent.

_COUNTRIES = [
    ("Worldwide", ""), ("Netherlands (the)", "NLD"), ("Norway", "NOR"), ("Finland", "FIN"),
    ("Denmark", "DNK"), ("Estonia", "EST"), ("Germany", "DEU"), ("France", "FRA"), ("Spain", "ESP"),
    ("Italy", "ITA"), ("Portugal", "PRT"), ("Greece", "GRC"), ("Austria", "AUT"),
    ("United Kingdom of Great Britain and Northern Ireland (the)", "GBR"), ("Ireland", "IRL"),
    ("Sweden", "SWE"),
]

_TERMS: dict[str, list[str]] = {
    "Agent types": ["Individual", "Organisation"],
    "Organisation roles": ["Data originator", "Data holder", "Data provider", "Researcher",
                           "Surveillance", "Data access provider", "Other"],
    "Age groups": ["Prenatal", "All ages", "Infant (0-23 months)>All ages",
                   "Newborn (0-1 months)>Infant (0-23 months)",
                   "Infants and toddlers (2-23 months)>Infant (0-23 months)",
                   "Child (2-12 years)>All ages", "Adolescent (13-17 years)>All ages",
                   "Adult (18+ years)>All ages", "Young adult (18-24 years)>Adult (18+ years)",
                   "Adult (25-44 years)>Adult (18+ years)", "Middle-aged (45-64 years)>Adult (18+ years)",
                   "Aged (65+ years)>Adult (18+ years)"],
    "Areas of information cohorts": [
        "Administrative information", "Identifiers>Administrative information",
        "Date and time-related information>Administrative information",
        "Socio-demographic and economic characteristics",
        "Socio-demographic>Socio-demographic and economic characteristics",
        "Education>Socio-demographic and economic characteristics",
        "Income>Socio-demographic and economic characteristics",
        "Health status and functional limitations", "Pregnancy>Health status and functional limitations",
        "Birth outcomes>Health status and functional limitations",
        "Allergies and asthma>Health status and functional limitations",
        "Lifestyle and behaviours", "Tobacco>Lifestyle and behaviours", "Sleep>Lifestyle and behaviours",
        "Physical activity>Lifestyle and behaviours", "Physical measures",
        "Anthropometry>Physical measures", "Blood pressure>Physical measures"],
    "Data categories": ["Biological samples", "Survey data", "Imaging data", "Medical records",
                        "National registries", "Physiological/Biochemical measurements", "Omics",
                        "Genomics>Omics", "Epigenomics>Omics", "Metabolomics>Omics"],
    "Sample categories": ["Blood", "Whole blood>Blood", "Serum>Blood", "Plasma>Blood", "Cord blood>Blood",
                          "Urine", "Saliva", "Placenta", "Hair", "Stool"],
    "Themes": ["Health", "Education, culture and sport", "Population and society", "Science and technology"],
    "Access rights": ["Open access", "Restricted access", "Non public"],
    "Legislations": ["Data Governance Act", "General Data Protection Regulation"],
    "Contribution types": ["Principal Investigator", "Primary contact", "Project manager", "Data manager",
                           "Researcher", "Alternative contact"],
    "Titles": ["dr.", "prof. dr.", "MSc", "PhD"],
    "Document types": ["Harmonisation protocol", "Informed consent", "Standard operating protocol",
                       "Study protocol", "Data dictionary"],
    "External identifier types": ["EUPAS number", "Clinical Trials.gov", "NCT number", "Other"],
    "Internal identifier types": ["Local study number", "Ethics committee number", "Other"],
    "Linkage strategies": ["Deterministic", "Probabilistic", "Other"],
    "Continents": ["Europe", "Africa", "Asia", "North America", "South America", "Oceania"],
    "Funding types": ["EU funding", "National funding", "Private funding", "University funding"],
    "Network types": ["Harmonisation", "Research project", "Consortium", "Data infrastructure"],
    "CatalogueTypes": ["project", "organisation", "theme"],
    "Resource types": ["Cohort study", "Biobank", "Registry", "Databank", "Clinical trial",
                       "Other type"],
    "Cohort study types": ["Population cohort", "Birth cohort", "Clinical cohort", "Case-control",
                           "Other type"],
    "Study status": ["Planned", "Ongoing", "Active: not recruiting", "Completed"],
    "Cohort designs": ["Longitudinal", "Cross-sectional", "Case-control"],
    "Cohort collection types": ["Prospective", "Retrospective"],
    "Regions": ["Northern Norway", "Utrecht", "Scottish Highlands", "Uusimaa", "Catalonia", "Tuscany",
                "Bavaria", "Tartu County"],
    "Inclusion Exclusion Criteria": ["Age group inclusion criterion", "Country of residence",
                                     "Defined population", "Pregnancy", "Health status", "Other"],
    "Diseases": ["X Diseases of the respiratory system", "J45 Asthma>X Diseases of the respiratory system",
                 "XII Diseases of the skin and subcutaneous tissue",
                 "L20 Atopic dermatitis>XII Diseases of the skin and subcutaneous tissue",
                 "IV Endocrine, nutritional and metabolic diseases",
                 "E66 Obesity>IV Endocrine, nutritional and metabolic diseases",
                 "XV Pregnancy, childbirth and the puerperium",
                 "O24 Diabetes mellitus in pregnancy>XV Pregnancy, childbirth and the puerperium"],
    "Languages": ["English", "Dutch", "Norwegian", "Finnish", "Spanish", "Italian", "German"],
    "Informed consent types": ["Study-specific consent", "Broad consent", "No consent required"],
    "Data access conditions": ["general research use", "health or medical or biomedical research",
                               "disease specific research", "population origins or ancestry research"],
    "Data use conditions": ["ethics approval required", "publication required", "collaboration required",
                            "user specific restriction", "time limit on use"],
    "Release types": ["Continuous", "Closed dataset", "Annually", "Periodically"],
    "Sample types": ["DNA", "RNA", "Whole blood", "Serum", "Plasma", "Urine", "Saliva"],
    "Mapping status": ["Planned", "In progress", "Completed"],
    "Table types": ["Collected dataset", "Harmonised dataset", "Harmonisation schema"],
    "Observation targets": ["person", "mother", "child", "pregnancy", "sample", "event"],
    "Keywords": ["Identifiers", "Child id>Identifiers", "Mother id>Identifiers",
                 "Demographics", "Sex>Demographics",
                 "Socio-economic", "Maternal education>Socio-economic", "Household income>Socio-economic",
                 "Pregnancy and birth", "Parity>Pregnancy and birth", "Gestational age>Pregnancy and birth",
                 "Birth weight>Pregnancy and birth", "Mode of delivery>Pregnancy and birth",
                 "Apgar score>Pregnancy and birth", "Breastfeeding>Pregnancy and birth",
                 "Lifestyle", "Smoking>Lifestyle", "Sleep>Lifestyle", "Screen time>Lifestyle",
                 "Physical activity>Lifestyle",
                 "Anthropometry", "Height>Anthropometry", "Weight>Anthropometry", "BMI>Anthropometry",
                 "Head circumference>Anthropometry",
                 "Health outcomes", "Asthma>Health outcomes", "Eczema>Health outcomes",
                 "Blood pressure>Health outcomes",
                 "Dates", "Visit date>Dates"],
    "Status details": ["na", "complete", "partial"],
    "Formats": ["string", "integer", "continuous", "categorical", "binary", "date", "datetime", "text"],
    "Units": ["g", "kg", "cm", "week", "month", "year", "hour", "kg/m2", "mmHg", "number"],
    "Variable repeat units": ["Week", "Month", "Trimester", "Year"],
    "Vocabularies": ["ICD-10", "SNOMED CT", "ATC", "LOINC"],
}


def _ontology_files() -> dict[str, str]:
    header = ["order", "name", "label", "tags", "parent", "codesystem", "code", "ontologyTermURI",
              "definition"]
    files: dict[str, str] = {}
    for table in _ontology_tables():
        records = []
        if table == "Countries":
            for i, (name, code) in enumerate(_COUNTRIES, start=1):
                uri = f"http://publications.europa.eu/resource/authority/country/{code}" if code else ""
                records.append([str(i), name, "", "", "", "ISO3166" if code else "", code, uri, name])
        else:
            terms = _TERMS[table]
            for i, term in enumerate(terms, start=1):
                name, _, parent = term.partition(">")
                records.append([str(i), name, "", "", parent, "", "", "", ""])
        files[f"{table}.csv"] = _csv_text(header, records)
    return files


# Fictional research organisations (name, acronym, country, city, parent, lat, lon)
_ORGANISATIONS = [
    ("Northern Child Health Institute", "NCHI", "Norway", "Tromsø", "", "69.649", "18.956"),
    ("Riverside University Medical Centre", "RUMC", "Netherlands (the)", "Utrecht", "", "52.085", "5.179"),
    ("Highlands Population Research Institute", "HPRI",
     "United Kingdom of Great Britain and Northern Ireland (the)", "Inverness", "", "57.478", "-4.225"),
    ("European Child Cohort Coordination Office", "ECCO", "Netherlands (the)", "Groningen", "",
     "53.219", "6.567"),
    ("Mediterranean Institute of Paediatric Epidemiology", "MIPE", "Spain", "Valencia", "",
     "39.470", "-0.376"),
    ("Baltic Centre for Family Studies", "BCFS", "Estonia", "Tartu", "", "58.378", "26.729"),
    ("Alpine Institute for Developmental Research", "AIDR", "Austria", "Innsbruck", "", "47.269", "11.404"),
    ("Nordic Registry Linkage Unit", "NRLU", "Finland", "Helsinki", "", "60.170", "24.938"),
    ("Department of Paediatric Epidemiology", "RUMC-PE", "Netherlands (the)", "Utrecht",
     "Riverside University Medical Centre", "52.085", "5.179"),
]


def _organisation_file() -> str:
    header = ["name", "label", "acronym", "parent", "codesystem", "code", "ontologyTermURI", "type",
              "aliases", "website", "country", "city", "latitude", "longitude"]
    records = []
    for i, (name, acro, country, city, parent, lat, lon) in enumerate(_ORGANISATIONS, start=1):
        slug = acro.lower()
        records.append([name, name, acro, parent, "LOCAL", f"ORG:{i:04d}", f"https://example.org/org/{slug}",
                        join_array(["education", "healthcare"] if i % 2 else ["facility"]),
                        "", f"https://{slug}.example.org", country, city, lat, lon])
    return _csv_text(header, records)


# =============================================================================================
# Catalogue content
# =============================================================================================

# Variable concepts: name, label, format, unit, keyword, values ((value, label, is missing), ...)
_YN = (("0", "No", "false"), ("1", "Yes", "false"), ("9", "Unknown", "true"))
_CONCEPTS: list[tuple[str, str, str, str, str, tuple]] = [
    # table 0: pregnancy
    ("child_id", "Child identifier", "string", "", "Child id", ()),
    ("mother_id", "Mother identifier", "string", "", "Mother id", ()),
    ("mat_age", "Maternal age at delivery", "continuous", "year", "Socio-economic", ()),
    ("mat_edu", "Maternal education", "categorical", "", "Maternal education",
     (("1", "Low", "false"), ("2", "Medium", "false"), ("3", "High", "false"), ("99", "Missing", "true"))),
    ("smoke_preg", "Smoking during pregnancy", "binary", "", "Smoking", _YN),
    ("parity", "Parity", "integer", "number", "Parity", ()),
    ("hh_income", "Household income", "categorical", "", "Household income",
     (("1", "Lowest quintile", "false"), ("2", "Middle quintiles", "false"),
      ("3", "Highest quintile", "false"))),
    ("visit_date", "Date of the first pregnancy visit", "date", "", "Visit date", ()),
    # table 1: birth and infancy
    ("sex", "Sex of the child", "categorical", "", "Sex",
     (("1", "Male", "false"), ("2", "Female", "false"), ("9", "Unknown", "true"))),
    ("birth_weight", "Birth weight", "continuous", "g", "Birth weight", ()),
    ("gest_age", "Gestational age at birth", "continuous", "week", "Gestational age", ()),
    ("delivery_mode", "Mode of delivery", "categorical", "", "Mode of delivery",
     (("1", "Vaginal", "false"), ("2", "Caesarean section", "false"), ("9", "Unknown", "true"))),
    ("apgar5", "Apgar score at 5 minutes", "integer", "number", "Apgar score", ()),
    ("breastfed_months", "Duration of breastfeeding", "continuous", "month", "Breastfeeding", ()),
    ("head_circ", "Head circumference at birth", "continuous", "cm", "Head circumference", ()),
    ("eczema_ever", "Eczema ever diagnosed", "binary", "", "Eczema", _YN),
    # table 2: childhood
    ("height", "Height", "continuous", "cm", "Height", ()),
    ("weight", "Weight", "continuous", "kg", "Weight", ()),
    ("bmi", "Body mass index", "continuous", "kg/m2", "BMI", ()),
    ("asthma_ever", "Asthma ever diagnosed", "binary", "", "Asthma", _YN),
    ("sleep_hours", "Hours of sleep per night", "continuous", "hour", "Sleep", ()),
    ("screen_time", "Screen time per day", "continuous", "hour", "Screen time", ()),
    ("phys_activity", "Physical activity level", "categorical", "", "Physical activity",
     (("1", "Low", "false"), ("2", "Moderate", "false"), ("3", "High", "false"))),
    ("bp_sys", "Systolic blood pressure", "continuous", "mmHg", "Blood pressure", ()),
]
_CONCEPT_INDEX = {c[0]: i for i, c in enumerate(_CONCEPTS)}
_COHORT_TABLES = [
    # name, label, offset in _CONCEPTS, collection event, unit of observation, keywords
    ("pregnancy", "Pregnancy questionnaire", 0, "pregnancy", "pregnancy",
     ["Pregnancy and birth", "Socio-economic"]),
    ("birth_infancy", "Birth and infancy records", 8, "birth", "child",
     ["Pregnancy and birth", "Anthropometry"]),
    ("childhood", "Childhood follow-up", 16, "follow-up age 5", "child",
     ["Anthropometry", "Health outcomes"]),
]
_NETWORK_TABLES = [
    ("core", "Core harmonised variables",
     ["child_id", "sex", "birth_weight", "gest_age", "mat_age", "mat_edu", "smoke_preg", "parity",
      "delivery_mode", "breastfed_months"]),
    ("outcome", "Harmonised outcome variables",
     ["height", "weight", "bmi", "asthma_ever", "eczema_ever", "sleep_hours"]),
]
_REPEATED_TARGETS = {"height", "weight", "bmi"}
_DESCRIPTIONS = [
    "Collected by trained research staff using a standard protocol.",
    "Self-reported by the parent in the questionnaire.",
    "Taken from the medical record of the birth clinic.",
    "Derived from the national birth registry after record linkage.",
    "Measured at the research centre.",
]

_FIRST = ["Alex", "Sam", "Robin", "Kim", "Jordan", "Noor", "Eline", "Mats", "Ines", "Tomas", "Lucia",
          "Anouk", "Pieter", "Sofia", "Jonas", "Mira", "Aino", "Kai", "Lena", "Oskar"]
_LAST = ["Example", "Sample", "Placeholder", "Fictive", "Demo", "Testperson", "Mockridge", "Dummyfield"]

_EXTRA_COHORTS = ["AURORA", "BALTIC", "CEDAR", "DELTA", "EMBER", "FJORD", "GLACIER", "HARBOUR", "ISLAND",
                  "JUNIPER", "KESTREL", "LAGOON", "MEADOW", "NIMBUS", "ORCHARD", "PRAIRIE", "QUARRY",
                  "RIDGE", "SUMMIT", "TUNDRA", "UPLAND", "VALLEY", "WILLOW", "ZENITH"]

_COHORT_INFO = {
    # id: (name, organisation index, country, region, start year, participants)
    "NORTHSTAR": ("Northern Star Birth Cohort", 0, "Norway", "Northern Norway", 2003, 12480),
    "RIVERSIDE": ("Riverside Child Health Study", 1, "Netherlands (the)", "Utrecht", 2009, 8120),
    "HIGHLANDS": ("Highlands Family Cohort", 2, "United Kingdom of Great Britain and Northern Ireland (the)",
                  "Scottish Highlands", 1998, 5310),
}


class _Mix:
    """Cheap deterministic choices from integers and the seed."""

    __slots__ = ("seed",)

    def __init__(self, seed: int) -> None:
        self.seed = seed

    def n(self, *parts: int) -> int:
        h = (self.seed * 0x9E3779B1 + 0x7F4A7C15) & 0xFFFFFFFF
        for p in parts:
            h = ((h ^ (p & 0xFFFFFFFF)) * 0x01000193 + 0x2545F491) & 0xFFFFFFFF
            h ^= h >> 15
        return h

    def pick(self, seq: Sequence, *parts: int):
        return seq[self.n(*parts) % len(seq)]

    def between(self, lo: int, hi: int, *parts: int) -> int:
        return lo + self.n(*parts) % (hi - lo + 1)


def _cohort_ids(scale: int) -> list[str]:
    base = list(_COHORT_INFO)
    count = max(3, min(MAX_COHORTS, 3 * scale))
    extra = []
    i = 0
    while len(base) + len(extra) < count:
        word = _EXTRA_COHORTS[i % len(_EXTRA_COHORTS)]
        extra.append(word if i < len(_EXTRA_COHORTS) else f"{word}{i // len(_EXTRA_COHORTS) + 1}")
        i += 1
    return base + extra


def _factor(scale: int, cohorts: int) -> int:
    """How many repeats of the concept list each table gets."""
    return max(1, round(3 * scale / cohorts))


def _var_name(concept: str, rep: int) -> str:
    return concept if rep == 0 else f"{concept}_{rep + 1}"


class _Rows:
    """Row buckets per table (dicts keyed by CSV column)."""

    def __init__(self) -> None:
        self.tables: dict[str, list[dict[str, str]]] = {}

    def add(self, table: str, row: dict[str, str]) -> None:
        self.tables.setdefault(table, []).append(row)

    def extend(self, table: str, rows: Iterable[dict[str, str]]) -> None:
        self.tables.setdefault(table, []).extend(rows)


def _person(mix: _Mix, ci: int, k: int) -> tuple[str, str]:
    first = _FIRST[(ci * 7 + k * 3 + mix.n(ci, k, 1) % 5) % len(_FIRST)]
    last = _LAST[(ci + k) % len(_LAST)]
    return first, last


def _resource_common(rid: str, name: str, org_id: str, contact: tuple[str, str], ci: int, mix: _Mix,
                     description: str, start: int, countries: list[str]) -> dict[str, str]:
    return {
        "id": rid, "pid": f"https://example.org/pid/{rid.lower()}", "name": name, "acronym": rid,
        "website": f"https://{rid.lower()}.example.org", "description": description,
        "start year": str(start), "contact email": f"info.{rid.lower()}@example.org",
        "countries": join_array(countries), "continents": "Europe",
        "publisher.resource": rid, "publisher.id": org_id,
        "creator.resource": rid, "creator.id": org_id,
        "contact point.resource": rid, "contact point.first name": contact[0],
        "contact point.last name": contact[1],
        "funding statement": f"{rid} is funded by national research councils and the participating "
                             f"institutes.",
        "acknowledgements": f"We thank all families taking part in {rid}.",
        "applicable legislation": "Data Governance Act",
        "issued": f"{2015 + ci % 8}-0{1 + ci % 9}-15T10:00:00",
        "modified": f"2026-0{1 + mix.n(ci, 77) % 6}-1{mix.n(ci, 78) % 10}T09:30:00",
    }


def _org_rows(rid: str, org_index: int, ci: int, lead: bool = True) -> dict[str, str]:
    name, acro, _country, _city, _parent, _lat, _lon = _ORGANISATIONS[org_index]
    return {
        "resource": rid, "id": acro, "type": "Organisation", "name": name, "organisation": name,
        "website": f"https://{acro.lower()}.example.org", "email": f"office.{acro.lower()}@example.org",
        "role": join_array(["Data holder", "Data provider"] if lead else ["Researcher"]),
        "organisation name": name, "organisation pid": f"https://example.org/org/{acro.lower()}",
        "organisation website": f"https://{acro.lower()}.example.org",
        "is lead organisation": "true" if lead else "false",
    }


def _contact(rid: str, first: str, last: str, role: list[str], org: str, k: int) -> dict[str, str]:
    slug = f"{first}.{last}".lower()
    return {
        "resource": rid, "role": join_array(role), "first name": first, "last name": last,
        "initials": f"{first[0]}.", "title": ["dr.", "prof. dr.", "MSc", "PhD"][k % 4],
        "organisation": org, "email": f"{slug}@example.org",
        "orcid": f"0000-0000-{1000 + k:04d}-{(k * 37) % 10000:04d}",
        "homepage": f"https://example.org/people/{slug}",
        "expertise": ["epidemiology", "data management", "paediatrics", "biostatistics"][k % 4],
    }


class _CohortPlan:
    """What one cohort release contains; version 2 is the newer NORTHSTAR release in staging."""

    REMOVED = ("hh_income", "screen_time")
    CHANGED = ("parity", "apgar5", "sleep_hours")
    ADDED = (("pregnancy", "hh_income_v2", "Household income (revised categories)", "categorical",
              "", "Household income"),
             ("childhood", "screen_time_weekday", "Screen time on a school day", "continuous", "hour",
              "Screen time"),
             ("childhood", "screen_time_weekend", "Screen time on a weekend day", "continuous", "hour",
              "Screen time"))
    NEW_CONTACT = ("Mira", "Newcomer")
    CHANGED_SUBPOPULATION = "children"


def _cohort(rows: _Rows, mix: _Mix, rid: str, ci: int, f: int, version: int, network: str,
            network_vars: dict[str, tuple[str, str]]) -> None:
    """All rows of one cohort (the catalogue columns; staging files project them)."""
    if rid in _COHORT_INFO:
        name, org_index, country, region, start, participants = _COHORT_INFO[rid]
    else:
        name = f"{rid.title()} Cohort Study"
        org_index = 3 + ci % 5
        country = _COUNTRIES[1 + ci % (len(_COUNTRIES) - 1)][0]
        region = mix.pick(_TERMS["Regions"], ci, 3)
        start = 1990 + mix.n(ci, 4) % 25
        participants = 1000 + mix.n(ci, 5) % 20000
    org = _ORGANISATIONS[org_index][1]
    contacts = [_person(mix, ci, k) for k in range(3)]
    if len(set(contacts)) < 3:
        contacts = [(f, f"{la}{k}") for k, (f, la) in enumerate(contacts)]

    # ---- resource row
    res = _resource_common(
        rid, name, org, contacts[0], ci, mix,
        f"{name} follows children and their parents from pregnancy onwards to study growth, "
        f"health and development.", start, [country])
    res.update({
        "local name": name, "type": "Cohort study",
        "cohort type": join_array(["Birth cohort", "Population cohort"] if ci % 2 == 0 else ["Birth cohort"]),
        "keywords": join_array(["birth cohort", "child health", "growth"]),
        "status": "Ongoing" if ci % 3 else "Active: not recruiting",
        "design": "Longitudinal", "design description": "Prospective follow-up with repeated questionnaires "
                                                        "and examinations.",
        "data collection type": "Prospective",
        "number of participants": str(participants),
        "number of participants with samples": str(participants * 3 // 4),
        "regions": region,
        "population age groups": join_array(["Prenatal", "Infant (0-23 months)", "Child (2-12 years)"]),
        "age min": "0", "age max": "12",
        "inclusion criteria": join_array(["Pregnancy", "Country of residence"]),
        "other inclusion criteria": "Expected delivery date within the recruitment period.",
        "population disease": "",
        "areas of information": join_array(["Identifiers", "Pregnancy", "Birth outcomes", "Anthropometry"]),
        "languages": join_array(["English", mix.pick(["Dutch", "Norwegian", "Finnish", "German"], ci)]),
        "prelinked": "false", "linkage options": "Linkage with national birth and hospital registries.",
        "linkage possibility": "true",
        "informed consent type": "Study-specific consent", "access rights": "Restricted access",
        "data access conditions": "health or medical or biomedical research",
        "data use conditions": join_array(["ethics approval required", "publication required"]),
        "data access conditions description": "Access through the cohort's data access committee.",
        "data access fee": "true" if ci % 2 else "false",
        "release type": "Periodically", "release description": "New data releases after each follow-up wave.",
        "release frequency": "12", "theme": "Health",
        "end year": "",
    })
    if rid == "HIGHLANDS":
        res["data sources"] = "RIVERSIDE"
    rows.add("Collections", res)

    # ---- agents, organisations, contacts
    rows.add("Agents", {"resource": rid, "id": f"{rid}-DAC", "type": "Individual",
                        "name": f"Data access desk of {rid}", "email": f"dac.{rid.lower()}@example.org",
                        "role": "Data access provider"})
    rows.add("Organisations", _org_rows(rid, org_index, ci))
    partner = 3 + (ci + 1) % 5
    rows.add("Organisations", _org_rows(rid, partner, ci, lead=False))
    roles = [["Principal Investigator", "Primary contact"], ["Data manager"], ["Researcher"]]
    for k, (first, last) in enumerate(contacts):
        rows.add("Contacts", _contact(rid, first, last, roles[k], org if k < 2 else
                                      _ORGANISATIONS[partner][1], ci * 10 + k))
    if version == 2:
        first, last = _CohortPlan.NEW_CONTACT
        rows.add("Contacts", _contact(rid, first, last, ["Data manager", "Alternative contact"], org,
                                      ci * 10 + 5))

    # ---- documentation, identifiers, publications, counts, samplesets
    if ci % 2 == 0:
        rows.add("Documentation", {"resource": rid, "name": f"{rid} study protocol", "type": "Study protocol",
                                   "description": "Protocol describing recruitment and measurements.",
                                   "url": f"https://{rid.lower()}.example.org/protocol.pdf"})
        rows.add("External identifiers", {"resource": rid, "identifier": f"EUPAS{10000 + ci}",
                                          "external identifier type": "EUPAS number"})
    if ci == 0:
        rows.add("Documentation", {"resource": rid, "name": f"{rid} data dictionary",
                                   "type": "Data dictionary",
                                   "description": "Overview of all collected variables.",
                                   "url": f"https://{rid.lower()}.example.org/dictionary.xlsx"})
        rows.add("Internal identifiers", {"resource": rid, "identifier": f"{rid[:2]}-{start}",
                                          "internal identifier type": "Local study number"})
        rows.add("Resource counts", {"resource": rid, "age group": "Child (2-12 years)",
                                     "population size": str(participants),
                                     "active size": str(participants // 2),
                                     "no individuals with samples": str(participants // 3),
                                     "median age": "6", "proportion female": "49"})
        rows.add("Samplesets", {"resource": rid, "name": "cord blood",
                                "sample types": join_array(["DNA", "Plasma"])})
    for p in range(2 if ci % 3 == 0 else 1):
        rows.add("Publications", {
            "resource": rid, "doi": f"https://doi.org/10.5555/{rid.lower()}.{start + 5 + p}.{p + 1:03d}",
            "title": [f"Cohort profile: the {name}", f"Early growth patterns in the {name}"][p],
            "is design publication": "true" if p == 0 else "false",
            "reference": f"{contacts[0][1]} {contacts[0][0][0]}, et al. Int J Demo Epidemiol. "
                         f"{start + 5 + p}."})

    # ---- subpopulations and counts
    subpops = [("mothers", "Pregnant women enrolled during pregnancy", ["Adult (18+ years)"], 18, 45),
               ("children", "Children born to enrolled mothers",
                ["Infant (0-23 months)", "Child (2-12 years)"], 0, 12)]
    for s, (sname, sdesc, ages, amin, amax) in enumerate(subpops):
        n = base = participants // (1 + s)
        if version == 2 and sname == _CohortPlan.CHANGED_SUBPOPULATION:
            sdesc = sdesc + ", including twins enrolled since the 2025 wave"
            n = n + 412
        rows.add("Subpopulations", {
            "resource": rid, "name": sname, "pid": "", "description": sdesc,
            "keywords": join_array([sname, "cohort"]), "number of participants": str(n),
            "inclusion start": str(start), "inclusion end": str(start + 4),
            "age groups": join_array(ages), "age min": str(amin), "age max": str(amax),
            "main medical condition": "J45 Asthma" if s == 1 and ci % 2 == 0 else "",
            "countries": country, "inclusion criteria": "Pregnancy" if s == 0 else "Defined population",
            "contact point.first name": contacts[1][0], "contact point.last name": contacts[1][1],
            "publisher": org, "creator": org, "theme": "Health", "access rights": "Restricted access",
        })
        groups = ["Young adult (18-24 years)", "Adult (25-44 years)"] if s == 0 else \
            ["Newborn (0-1 months)", "Infants and toddlers (2-23 months)", "Child (2-12 years)"]
        for g, group in enumerate(groups):
            total = base // len(groups) + g
            female = total if s == 0 else total // 2
            rows.add("Subpopulation counts", {"resource": rid, "subpopulation": sname, "age group": group,
                                              "N total": str(total), "N female": str(female),
                                              "N male": str(total - female)})

    # ---- collection events
    events = [("pregnancy", "Questionnaires and blood samples during pregnancy", "mothers", "Prenatal",
               "Pregnancy", "Survey data,Biological samples", "Serum"),
              ("birth", "Birth records and cord blood", "children", "Newborn (0-1 months)",
               "Birth outcomes", "Medical records,Biological samples", "Cord blood"),
              ("follow-up age 5", "Examination at the research centre at age five", "children",
               "Child (2-12 years)", "Anthropometry", "Survey data,Physiological/Biochemical measurements",
               "Urine")]
    for e, (ename, edesc, sub, age, area, cats, samples) in enumerate(events):
        year = start + (0 if e < 2 else 5)
        rows.add("Collection events", {
            "resource": rid, "name": ename, "description": edesc, "subpopulations": sub,
            "keywords": join_array([ename, "wave"]), "start date": f"{year}-0{1 + e}-01",
            "end date": f"{year + 4}-1{e}-28", "age groups": age,
            "number of participants": str(participants // (1 + e)), "areas of information": area,
            "data categories": cats, "sample categories": samples,
            "core variables": join_array(_CONCEPTS[_COHORT_TABLES[e][2] + j][0] for j in range(3)),
            "contact point.first name": contacts[1][0], "contact point.last name": contacts[1][1],
            "publisher": org, "creator": org, "theme": "Health", "access rights": "Restricted access",
        })

    # ---- tables, variables, values, mappings
    nvars = 8 * f
    table_targets: dict[str, set[str]] = {}
    var_rows = []
    value_rows = []
    mapping_rows = []
    removed = set(_CohortPlan.REMOVED) if version == 2 else set()
    changed = set(_CohortPlan.CHANGED) if version == 2 else set()
    for t, (tname, tlabel, offset, event, unit_obs, kws) in enumerate(_COHORT_TABLES):
        rows.add("Tables", {
            "resource": rid, "name": tname, "label": tlabel, "table type": "Collected dataset",
            "unit of observation": unit_obs, "keywords": join_array(kws),
            "description": f"{tlabel} of {rid}.", "number of rows": str(participants // (1 + t)),
            "since version": "1.0",
        })
        for k in range(nvars):
            ci_idx = (k + offset) % len(_CONCEPTS)
            concept, label, fmt, unit, keyword, values = _CONCEPTS[ci_idx]
            rep = k // len(_CONCEPTS)
            vname = _var_name(concept, rep)
            if rep == 0 and concept in removed:
                continue
            descr = f"{label} ({event}). {_DESCRIPTIONS[mix.n(ci, t, k) % len(_DESCRIPTIONS)]}"
            since = "1.0"
            if rep == 0 and concept in changed:
                label = label + " (revised)"
                descr = descr + " Definition revised in release 2.0."
                since = "2.0"
            row = {
                "resource": rid, "table": tname, "name": vname, "label": label if rep == 0 else
                f"{label}, measurement {rep + 1}", "description": descr,
                "collection event": event, "format": fmt, "unit": unit, "since version": since,
                "keywords": keyword, "generated_keywords": keyword,
            }
            if concept == "visit_date":
                row["example values"] = join_array([f"{start + 1}-03-14", f"{start + 2}-11-02"])
            if fmt == "integer":
                row["example values"] = join_array(["0", "1", "2"])
            if concept in _REPEATED_TARGETS and t == 2:
                row.update({"repeat unit": "Year", "repeat min": "5", "repeat max": "5"})
            target = network_vars.get(vname)
            if rid == "HIGHLANDS" and target is not None:
                row.update({"useExternalDefinition.resource": network,
                            "useExternalDefinition.table": target[0],
                            "useExternalDefinition.name": vname})
            var_rows.append(row)
            for order, (value, vlabel, missing) in enumerate(values, start=1):
                value_rows.append({"resource": rid, "table": tname, "variable": vname, "value": value,
                                   "label": vlabel, "order": str(order), "is missing": missing,
                                   "since version": since})
            if target is not None:
                ttable = target[0]
                table_targets.setdefault(tname, set()).add(ttable)
                m = {"source": rid, "source table": tname, "source variables": vname,
                     "target": network, "target table": ttable, "target variable": vname,
                     "repeats": "5" if t == 2 and concept in _REPEATED_TARGETS else "NA",
                     "match": ("complete", "complete", "partial")[mix.n(ci, t, k, 9) % 3],
                     "description": f"{vname} of {rid} mapped onto the harmonised {vname}.",
                     "syntax": f"{vname} = {rid.lower()}.{tname}.{vname}"}
                if concept == "bmi" and rep == 0:
                    m["source variables"] = join_array(["bmi", "height", "weight"])
                    m["syntax"] = "bmi = weight / (height / 100) ^ 2"
                if concept == "gest_age" and rep == 0:
                    m["source variables other tables.table"] = "pregnancy"
                    m["source variables other tables.name"] = "visit_date"
                    m["comments"] = "Gestational age at birth recomputed from the first visit date."
                mapping_rows.append(m)
    if version == 2:
        for tname, vname, label, fmt, unit, keyword in _CohortPlan.ADDED:
            event = next(t[3] for t in _COHORT_TABLES if t[0] == tname)
            var_rows.append({"resource": rid, "table": tname, "name": vname, "label": label,
                             "description": f"{label}. Added in release 2.0.", "collection event": event,
                             "format": fmt, "unit": unit, "since version": "2.0", "keywords": keyword})
            if fmt == "categorical":
                for order, (value, vlabel) in enumerate((("1", "Below median"), ("2", "Above median"),
                                                         ("99", "Not reported")), start=1):
                    value_rows.append({"resource": rid, "table": tname, "variable": vname, "value": value,
                                       "label": vlabel, "order": str(order),
                                       "is missing": "true" if value == "99" else "false",
                                       "since version": "2.0"})
    order = 0
    for tname, *_rest in _COHORT_TABLES:
        for ttable in sorted(table_targets.get(tname, ())):
            order += 1
            rows.add("Table mappings", {"source": rid, "source table": tname, "target": network,
                                        "target table": ttable, "order": str(order),
                                        "description": f"{tname} of {rid} harmonised into "
                                                       f"{network} {ttable}.",
                                        "syntax": f"see the {network} harmonisation protocol"})
    rows.extend("Variables", var_rows)
    rows.extend("Variable values", value_rows)
    rows.extend("Variable mappings", mapping_rows)


def _network(rows: _Rows, mix: _Mix, f: int, cohorts: list[str]) -> dict[str, tuple[str, str]]:
    """EUROCHILD and its harmonised tables; returns variable name -> (table, concept)."""
    rid = "EUROCHILD"
    ci = 90
    contact = ("Alex", "Example")
    res = _resource_common(rid, "European Child Health Harmonisation Network", "ECCO", contact, ci, mix,
                           "EUROCHILD harmonises data of European birth cohorts into a common set of "
                           "core and outcome variables.", 2015,
                           [c for c, _code in _COUNTRIES[1:6]])
    res.update({"network type": join_array(["Harmonisation", "Consortium"]),
                "data resources": join_array(cohorts),
                "funding sources": "EU funding"})
    rows.add("Networks", res)
    rows.add("Organisations", _org_rows(rid, 3, ci))
    rows.add("Contacts", _contact(rid, contact[0], contact[1], ["Project manager", "Primary contact"],
                                  "ECCO", 900))
    rows.add("Contacts", _contact(rid, "Noor", "Harmonia", ["Data manager"], "ECCO", 901))
    rows.add("Documentation", {"resource": rid, "name": "EUROCHILD harmonisation protocol",
                               "type": "Harmonisation protocol",
                               "description": "Rules for deriving the harmonised variables.",
                               "url": "https://eurochild.example.org/protocol.pdf"})
    rows.add("Publications", {"resource": rid, "doi": "https://doi.org/10.5555/eurochild.2021.001",
                              "title": "Harmonising European birth cohorts: the EUROCHILD approach",
                              "is design publication": "true"})
    rows.add("External identifiers", {"resource": rid, "identifier": "EUROCHILD-GA-000001",
                                      "external identifier type": "Other",
                                      "external identifier type other": "Grant agreement"})
    targets: dict[str, tuple[str, str]] = {}
    for t, (tname, tlabel, concepts) in enumerate(_NETWORK_TABLES):
        rows.add("Tables", {"resource": rid, "name": tname, "label": tlabel,
                            "table type": join_array(["Harmonised dataset", "Harmonisation schema"]),
                            "unit of observation": "child", "description": f"{tlabel} of {rid}.",
                            "since version": "1.0"})
        for rep in range(f):
            for concept in concepts:
                _n, label, fmt, unit, keyword, values = _CONCEPTS[_CONCEPT_INDEX[concept]]
                vname = _var_name(concept, rep)
                targets[vname] = (tname, concept)
                row = {"resource": rid, "table": tname, "name": vname,
                       "label": label if rep == 0 else f"{label}, measurement {rep + 1}",
                       "description": f"Harmonised {label.lower()}.", "format": fmt, "unit": unit,
                       "since version": "1.0", "keywords": keyword, "generated_keywords": keyword,
                       "vocabularies": "SNOMED CT" if fmt in ("binary", "categorical") else ""}
                if concept in _REPEATED_TARGETS:
                    row.update({"repeat unit": "Year", "repeat min": "0", "repeat max": "17"})
                rows.add("Variables", row)
                for order, (value, vlabel, missing) in enumerate(values, start=1):
                    rows.add("Variable values", {"resource": rid, "table": tname, "variable": vname,
                                                 "value": value, "label": vlabel, "order": str(order),
                                                 "is missing": missing, "since version": "1.0"})
    return targets


def _catalogue_resource(rows: _Rows, mix: _Mix, cohorts: list[str]) -> None:
    rid = "CHILDCAT"
    contact = ("Robin", "Catalogus")
    res = _resource_common(rid, "European Child Health Catalogue", "ECCO", contact, 95, mix,
                           "A catalogue of European cohorts and networks on child health.", 2020,
                           ["Worldwide"])
    res.update({"network type": "Data infrastructure", "data resources": join_array(cohorts),
                "child networks": "EUROCHILD", "catalogue type": "theme", "main catalogue": "true"})
    rows.add("Catalogues", res)
    rows.add("Organisations", _org_rows(rid, 3, 95))
    rows.add("Contacts", _contact(rid, contact[0], contact[1], ["Primary contact"], "ECCO", 950))


def _catalogue_rows(scale: int, seed: int) -> tuple[_Rows, dict[str, tuple[str, str]], int]:
    mix = _Mix(seed)
    cohorts = _cohort_ids(scale)
    f = _factor(scale, len(cohorts))
    rows = _Rows()
    targets = _network(rows, mix, f, cohorts)
    for ci, rid in enumerate(cohorts):
        _cohort(rows, mix, rid, ci, f, 1, "EUROCHILD", targets)
    _catalogue_resource(rows, mix, cohorts)
    # catalogue-only tables
    rows.add("Linkages", {"resource": "HIGHLANDS", "linked resource": "RIVERSIDE",
                          "linkage strategy": "Deterministic", "linkage variable": "child_id",
                          "linkage variable unique": "true", "pre linked": "false"})
    rows.add("Resource mappings", {"source": "NORTHSTAR", "source version": "1.0", "target": "EUROCHILD",
                                   "target version": "1.0", "mapping status": "Completed",
                                   "ETL frequency": "12"})
    rows.add("Resource mappings", {"source": "RIVERSIDE", "source version": "1.0", "target": "EUROCHILD",
                                   "target version": "1.0", "mapping status": "In progress"})
    rows.add("Reused variables", {"resource": "RIVERSIDE", "variable.resource": "EUROCHILD",
                                  "variable.table": "core", "variable.name": "sex"})
    return rows, targets, f


# =============================================================================================
# CSV assembly
# =============================================================================================

def _csv_text(header: Sequence[str], records: Iterable[Sequence[str]]) -> str:
    buf = io.StringIO()
    writer = csv.writer(buf, lineterminator="\n", quoting=csv.QUOTE_MINIMAL)
    writer.writerow(header)
    writer.writerows(records)
    return buf.getvalue()


def _table_csv(model: SchemaModel, table: str, rows: list[Mapping[str, str]], strict: bool) -> str:
    """One table's CSV; `strict` rejects row fields the model lacks (else they are projected away)."""
    header = model.csv_columns(table)
    if strict:
        known = set(header)
        for row in rows[:64]:
            unknown = [k for k in row if k not in known]
            if unknown:
                raise ValueError(f"demo rows of {model.name}.{table} carry unknown columns {unknown}")
    return _csv_text(header, ([r.get(h) or "" for h in header] for r in rows))


def _schema_files(model: SchemaModel, rows: _Rows, molgenis: str, strict: bool) -> dict[str, str]:
    files = {"molgenis.csv": molgenis}
    for table in model.tables:
        data = rows.tables.get(table)
        if data:
            files[f"{table}.csv"] = _table_csv(model, table, data, strict)
    return files


def demo_schemas(scale: int = 1, seed: int = 7) -> list[tuple[str, dict[str, str]]]:
    """The demo set as (schema name, {file name: CSV text}) in load order."""
    if scale < 1:
        raise ValueError("scale must be 1 or more")
    models = demo_models()
    catalogue, targets, f = _catalogue_rows(scale, seed)
    onto_files = {"molgenis.csv": model_csv("ontologies"), "Organisations.csv": _organisation_file()}
    onto_files.update(_ontology_files())
    cat_files = _schema_files(models[CATALOGUE_SCHEMA], catalogue, model_csv("catalogue"), strict=True)

    # The newer NORTHSTAR release, built with the catalogue columns and projected onto staging.
    staging = _Rows()
    _cohort(staging, _Mix(seed), "NORTHSTAR", 0, f, 2, "EUROCHILD", targets)
    staging_csv = model_csv("staging")
    stg_files = _schema_files(models[STAGING_SCHEMA], staging, staging_csv, strict=False)

    empty = _Rows()
    empty.add("Collections", {"id": "RIVERSIDE", "name": _COHORT_INFO["RIVERSIDE"][0],
                              "type": "Cohort study"})
    empty_files = _schema_files(models[EMPTY_STAGING_SCHEMA], empty, staging_csv, strict=True)
    return [
        (ONTOLOGY_SCHEMA, onto_files),
        (CATALOGUE_SCHEMA, cat_files),
        (STAGING_SCHEMA, stg_files),
        (EMPTY_STAGING_SCHEMA, empty_files),
    ]


def write_demo(directory: str | Path, scale: int = 1, seed: int = 7) -> list[tuple[str, Path]]:
    """Write each demo schema as a folder `<directory>/<schema>/`; returns (schema, folder) pairs."""
    base = Path(directory)
    out: list[tuple[str, Path]] = []
    for schema, files in demo_schemas(scale=scale, seed=seed):
        folder = base / schema
        folder.mkdir(parents=True, exist_ok=True)
        for name, text in files.items():
            (folder / name).write_text(text, encoding="utf-8", newline="")
        out.append((schema, folder))
    return out

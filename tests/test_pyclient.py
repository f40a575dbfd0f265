"""The official MOLGENIS EMX2 Python client (molgenis-emx2-pyclient), unchanged, against the sandbox.

The sandbox runs as a separate process, `python -m emx2tui sandbox serve` on a loopback port, and
the client goes through its own workflow. What each call returns is what EMX2 returns for it
(see emx2-api.md): the client's own parsing would fail otherwise.
"""

from __future__ import annotations

import asyncio
import io
import zipfile
from pathlib import Path

import pytest

from molgenis_emx2_pyclient import Client
from molgenis_emx2_pyclient.exceptions import (
    InvalidTokenException, NoSuchSchemaException, PermissionDeniedException, PyclientException,
    ReferenceException, SigninError)

PET_MODEL = """tableName,tableExtends,columnName,columnType,key,required,refTable
Tag,,,,,,
Tag,,name,,1,,
Category,,,,,,
Category,,name,,1,,
Pet,,,,,,
Pet,,name,,1,,
Pet,,category,ref,,true,Category
Pet,,tags,ref_array,,,Tag
Pet,,weight,decimal,,,
Pet,,born,date,,,
Pet,,available,bool,,,
Pet,,photo,file,,,
Pet,,notes,string_array,,,
animal owners,,,,,,
animal owners,,full name,,1,,
animal owners,,pets owned,ref_array,,,Pet
"""
CATEGORY = "name\ncat\ndog\nbird\n"
TAG = "name\nred\ngreen\nblue\n"
PET = ('name,category,tags,weight,born,available,notes\n'
       'pooky,cat,"red,green",9.4,2020-01-31,true,"""a,b"",c"\n'
       'spike,dog,,15,2019-05-01,false,\n'
       'tweety,bird,blue,0.1,,,\n')
OWNERS = "full name,pets owned\nAnn Smith,\"pooky,spike\"\n"


@pytest.fixture(scope="module")
def pet_store(tmp_path_factory) -> Path:
    folder = tmp_path_factory.mktemp("petstore")
    for name, text in (("molgenis.csv", PET_MODEL), ("Category.csv", CATEGORY), ("Tag.csv", TAG),
                       ("Pet.csv", PET), ("animal owners.csv", OWNERS)):
        (folder / name).write_text(text, encoding="utf-8")
    return folder


@pytest.fixture(scope="module")
def server(pet_store, tmp_path_factory, sandbox_process):
    """`emx2tui sandbox serve` as its own process on a free loopback port."""
    log = tmp_path_factory.mktemp("serve") / "serve.log"
    with sandbox_process(log, "--admin-password", "Pw-admin-1",
                         "--load", f"pet store={pet_store}") as url:
        yield url


def signed_in(url: str) -> Client:
    client = Client(url)
    client.__enter__()
    client.signin("admin", "Pw-admin-1")
    return client


def test_signin_with_password_lists_schemas_and_version(server):
    with Client(server) as client:
        assert client.schema_names == []          # anonymous sees nothing here
        client.signin("admin", "Pw-admin-1")
        assert client.signin_status == "success"
        assert client.schema_names == ["pet store"]
        assert client.version == "13.183.2"
        assert "signed in" in client.status
    with Client(server) as client, pytest.raises(SigninError, match="user or password unknown"):
        client.signin("admin", "wrong")


def test_signin_with_token_and_invalid_token(server):
    with Client(server) as admin:
        admin.signin("admin", "Pw-admin-1")
        r = admin.session.post(f"{server}/api/graphql", json={
            "query": 'mutation{createToken(email:"admin",tokenName:"pyclient"){status message token}}'})
        created = r.json()["data"]["createToken"]
        assert created["message"] == "Token 'pyclient' created for user 'admin'"
    with Client(server, token=created["token"], schema="pet store") as client:
        assert client.schema_names == ["pet store"]
        assert client.get_schema_metadata().name == "pet store"
    forged = created["token"].rsplit(".", 1)[0] + ".c2lnbmVkIGJ5IHNvbWVvbmUgZWxzZQ"
    with pytest.raises(InvalidTokenException):
        Client(server, token=forged)


def test_schema_metadata_as_the_client_models_it(server):
    with signed_in(server) as client:
        meta = client.get_schema_metadata("pet store")
        assert [t.name for t in meta.tables] == ["Category", "Pet", "Tag", "animal owners"]
        owners = meta.get_table("name", "animal owners")
        assert owners.id == "AnimalOwners"
        pets_owned = owners.get_column("name", "pets owned")
        assert pets_owned.id == "petsOwned" and pets_owned.columnType == "REF_ARRAY"
        assert pets_owned.refTableId == "Pet" and pets_owned.refSchemaName == "pet store"
        pet = meta.get_table("id", "Pet")
        assert pet.get_column("id", "name").get("required") is True
        assert pet.get_column("id", "category").get("required") is True
        assert pet.get_column("id", "weight").get("required") is None   # left out, as by EMX2
        assert meta.get_pkeys("AnimalOwners") == ["fullName"]
        assert pet.columns[0].name == "mg_top_of_form"


def test_get_with_filters_and_types(server):
    with signed_in(server) as client:
        rows = client.get("Pet", schema="pet store")
        by = {r["name"]: r for r in rows}
        assert set(by) == {"pooky", "spike", "tweety"}
        assert by["pooky"]["weight"] == 9.4 and by["pooky"]["available"] is True
        assert by["spike"]["available"] is False
        assert str(by["pooky"]["born"].date()) == "2020-01-31"
        arrays = client.get("Pet", schema="pet store", parse_arrays=True, as_df=True)
        notes = dict(zip(arrays["name"], arrays["notes"]))
        assert notes["pooky"] == ["a,b", "c"]                 # inner quoting of array elements
        assert client.get("Pet", schema="pet store", query_filter="name == spike")[0]["name"] == "spike"
        heavy = client.get("Pet", schema="pet store", query_filter="weight > 9")
        assert sorted(r["name"] for r in heavy) == ["pooky", "spike"]
        cats = client.get("Pet", schema="pet store", query_filter="category.name == cat")
        assert [r["name"] for r in cats] == ["pooky"]
        owners = client.get("animal owners", schema="pet store")
        assert owners == [{"full name": "Ann Smith", "pets owned": "pooky,spike", "mg_draft": None}] \
            or owners[0]["pets owned"] == "pooky,spike"
        graphql = client.get_graphql("Pet", schema="pet store", query_filter="name == pooky")
        assert graphql[0]["category"] == {"name": "cat"} and graphql[0]["weight"] == 9.4


def test_save_delete_truncate(server):
    with signed_in(server) as client:
        client.save_table("Tag", schema="pet store", data=[{"name": "yellow"}, {"name": "purple"}])
        client.save_schema("Tag", name="pet store", data=[{"name": "orange"}])
        names = {r["name"] for r in client.get("Tag", schema="pet store")}
        assert {"yellow", "purple", "orange"} <= names
        client.delete_records("Tag", schema="pet store", data=[{"name": "purple"}, {"name": "nope"}])
        assert "purple" not in {r["name"] for r in client.get("Tag", schema="pet store")}
        with pytest.raises(ReferenceException, match="is still referenced"):
            client.delete_records("Category", schema="pet store", data=[{"name": "cat"}])
        with pytest.raises(PyclientException, match="is not present in table"):
            client.save_table("Pet", schema="pet store", data=[{"name": "x", "category": "fish"}])
        client.save_table("animal owners", schema="pet store",
                          data=[{"full name": "Bob", "pets owned": ["tweety"]}])
        client.truncate("animal owners", "pet store")
        assert client.get("animal owners", schema="pet store") == []


def test_export_upload_zip_create_and_delete_schema(server, tmp_path):
    async def run():
        with signed_in(server) as client:
            data = await client.export(schema="pet store")
            with zipfile.ZipFile(data) as zf:
                names = set(zf.namelist())
            assert {"molgenis.csv", "Pet.csv", "Category.csv", "animal owners.csv"} <= names
            path = tmp_path / "pets.zip"
            path.write_bytes(data.getvalue())
            await client.create_schema("pets copy", description="a copy")
            assert "pets copy" in client.schema_names
            await client.upload_file(path, schema="pets copy")
            copied = client.get("Pet", schema="pets copy")
            assert sorted(r["name"] for r in copied) == ["pooky", "spike", "tweety"]
            bad = tmp_path / "bad.zip"
            with zipfile.ZipFile(bad, "w") as zf:
                zf.writestr("Pet.csv", "name,category\nrex,lizard\n")
            with pytest.raises(PyclientException, match="Import failed: .*is not present"):
                await client.upload_file(bad, schema="pets copy")
            assert len(client.get("Pet", schema="pets copy")) == 3
            await client.delete_schema("pets copy")
            assert "pets copy" not in client.schema_names
            with pytest.raises(NoSuchSchemaException):
                client.get("Pet", schema="pets copy")
    asyncio.run(run())


def test_viewer_reads_but_cannot_write(server):
    with signed_in(server) as admin:
        r = admin.session.post(f"{server}/api/graphql", json={
            "query": 'mutation{signup(email:"vera",password:"vera-pass-1"){status message}}'})
        assert r.json()["data"]["signup"]["status"] == "SUCCESS"
        r = admin.session.post(f"{server}/pet%20store/graphql", json={
            "query": 'mutation{change(members:[{email:"vera",role:"Viewer"}]){message}}'})
        assert r.json()["data"]["change"]["message"] == "Meta update success"
        assert admin.get_schema_members("pet store") == [{"email": "vera", "role": "Viewer"}]
    with Client(server) as viewer:
        viewer.signin("vera", "vera-pass-1")
        assert viewer.schema_names == ["pet store"]
        assert len(viewer.get("Pet", schema="pet store")) >= 3
        with pytest.raises(PermissionDeniedException):
            viewer.get_schema_members("pet store")
        with pytest.raises(PyclientException):
            viewer.save_table("Tag", schema="pet store", data=[{"name": "black"}])
        with pytest.raises(PermissionDeniedException):
            viewer.truncate("Tag", "pet store")


def test_zip_with_file_attachment_round_trips(server, tmp_path):
    async def run():
        with signed_in(server) as client:
            await client.create_schema("files")
            up = io.BytesIO()
            with zipfile.ZipFile(up, "w") as zf:
                zf.writestr("molgenis.csv", PET_MODEL)
                zf.writestr("Category.csv", CATEGORY)
                zf.writestr("Pet.csv", "name,category,photo,photo_filename\n"
                                       "pooky,cat,abc123,pooky.png\n")
                zf.writestr("_files/abc123.png", b"\x89PNG-bytes")
            path = tmp_path / "files.zip"
            path.write_bytes(up.getvalue())
            await client.upload_file(path, schema="files")
            row = client.get("Pet", schema="files")[0]
            fid = row["photo"]
            assert len(fid) == 32 and fid != "abc123" and row["photo_filename"] == "pooky.png"
            got = client.session.get(f"{server}/files/api/file/Pet/photo/{fid}")
            assert got.content == b"\x89PNG-bytes"
            assert got.headers["content-disposition"] == "inline; filename=pooky.png"
            with zipfile.ZipFile(await client.export(schema="files")) as zf:
                assert zf.read(f"_files/{fid}.png") == b"\x89PNG-bytes"
            await client.delete_schema("files")
    asyncio.run(run())

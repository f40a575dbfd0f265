"""The benchmark's floor: what any tool pays to move a cohort staging area into the catalogue.

    python benchmarks/floor.py URL SOURCE TARGET PASSWORD

Signs in, exports the staging schema as one ZIP, and imports its rows (the catalogue keeps its
own model) into the catalogue as one asynchronous ZIP import, polling the task until it ends.
It is kept lean on purpose: it imports httpx without its command line (which would pull in
click, rich and pygments) and nothing of the benchmark, so that its time is the server's work
plus the least start-up a Python client can have.
"""

import io
import sys
import time
import zipfile

sys.modules["httpx._main"] = None  # httpx falls back to a stub for its command line
import httpx  # noqa: E402

del sys.modules["httpx._main"]


def main(url: str, source: str, target: str, password: str) -> int:
    with httpx.Client(base_url=url, timeout=3600) as c:
        r = c.post("/api/graphql", json={
            "query": "mutation($e:String,$p:String){signin(email:$e,password:$p){status token}}",
            "variables": {"e": "admin", "p": password}})
        c.headers["x-molgenis-token"] = r.json()["data"]["signin"]["token"]
        r = c.get(f"/{source}/api/zip")
        r.raise_for_status()
        exported = zipfile.ZipFile(io.BytesIO(r.content))
        out = io.BytesIO()
        with zipfile.ZipFile(out, "w", zipfile.ZIP_DEFLATED) as z:
            for name in exported.namelist():
                if name != "molgenis.csv":  # rows only
                    z.writestr(name, exported.read(name))
        r = c.post(f"/{target}/api/zip", params={"async": "true"},
                   files={"file": ("upload.zip", out.getvalue(), "application/zip")})
        r.raise_for_status()
        task = r.json()["id"]
        while True:
            status = c.get(f"/api/tasks/{task}").json()
            if status.get("status") not in ("WAITING", "RUNNING"):
                break
            time.sleep(0.02)
    print(status.get("status"), status.get("description"))
    return 0 if status.get("status") == "COMPLETED" else 1


if __name__ == "__main__":
    sys.exit(main(*sys.argv[1:5]))

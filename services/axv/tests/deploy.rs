//! The deployment files against the binary they deploy: every environment variable that
//! docker-compose.yml, the example env files and the Kubernetes manifests give a container
//! is one `axv` accepts (the container's command run with `--check-config` and exactly that
//! environment, files on the paths the container mounts), and the image is built the way CI
//! builds. The schemas and cross-references of the same files are checked by
//! `.ci/deploy-checks` (deploy/check.py).

#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::{
    collections::{BTreeMap, BTreeSet},
    path::{Path, PathBuf},
    process::Command,
};

use yaml_rust2::{Yaml, YamlLoader};

type Env = BTreeMap<String, String>;

/// Settings that name files the container must have.
const FILE_SETTINGS: &[&str] = &[
    "AXV_JWT_SIGNING_KEY_FILE",
    "AXV_JWT_PREVIOUS_KEY_FILES",
    "AXV_PERSISTED_QUERIES_FILE",
    "AXV_REDIS_CA_FILE",
];

fn root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../..")
        .canonicalize()
        .unwrap()
}

fn read(path: impl AsRef<Path>) -> String {
    let path = root().join(path);
    std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()))
}

fn yaml_docs(path: impl AsRef<Path>) -> Vec<Yaml> {
    let path = path.as_ref();
    YamlLoader::load_from_str(&read(path)).unwrap_or_else(|e| panic!("{}: {e}", path.display()))
}

/// `KEY=VALUE` lines (docker compose env_file, kustomize envs), comments skipped.
fn env_file(path: impl AsRef<Path>) -> Env {
    read(path)
        .lines()
        .map(str::trim)
        .filter(|line| !line.is_empty() && !line.starts_with('#'))
        .map(|line| {
            let (key, value) = line.split_once('=').expect("KEY=VALUE");
            (key.trim().to_owned(), value.to_owned())
        })
        .collect()
}

/// Settings shown commented out in an example file (`# NAME=value`): optional, but they must
/// work when uncommented.
fn commented_settings(path: impl AsRef<Path>) -> Env {
    read(path)
        .lines()
        .filter_map(|line| line.trim().strip_prefix('#'))
        .filter_map(|line| line.trim().split_once('='))
        .filter(|(key, _)| {
            key.starts_with(|c: char| c.is_ascii_uppercase())
                && key
                    .chars()
                    .all(|c| c.is_ascii_uppercase() || c.is_ascii_digit() || c == '_')
        })
        .map(|(key, value)| (key.to_owned(), value.to_owned()))
        .collect()
}

fn text(yaml: &Yaml) -> String {
    match yaml {
        Yaml::String(s) | Yaml::Real(s) => s.clone(),
        Yaml::Integer(i) => i.to_string(),
        Yaml::Boolean(b) => b.to_string(),
        other => panic!("expected a scalar, got {other:?}"),
    }
}

fn list(yaml: &Yaml) -> Vec<Yaml> {
    yaml.as_vec().cloned().unwrap_or_default()
}

/// The environment the image itself sets (Dockerfile `ENV`).
fn image_env() -> Env {
    let dockerfile = read("deploy/Dockerfile").replace("\\\n", " ");
    let mut env = Env::new();
    for line in dockerfile.lines() {
        if let Some(pairs) = line.trim().strip_prefix("ENV ") {
            for pair in pairs.split_whitespace() {
                let (key, value) = pair.split_once('=').expect("ENV KEY=VALUE");
                env.insert(key.to_owned(), value.trim_matches('"').to_owned());
            }
        }
    }
    assert!(env.contains_key("AXV_DATA_DIR"), "{env:?}");
    env
}

/// One container the deployment runs with the axv image.
#[derive(Debug)]
struct Container {
    /// Where it is defined, for messages.
    origin: String,
    /// Its arguments to `axv`.
    args: Vec<String>,
    env: Env,
    /// Paths mounted into it.
    mounts: Vec<String>,
    /// Variables only used to build other values (`$(POD_NAME)`), not settings of axv.
    helpers: BTreeSet<String>,
}

impl Container {
    /// The command that checks this container's settings; `None` for commands without any.
    fn check_args(&self) -> Option<Vec<String>> {
        match self.args.first().map(String::as_str) {
            Some("serve") => Some(
                self.args
                    .iter()
                    .cloned()
                    .chain(["--check-config".to_owned()])
                    .collect(),
            ),
            // seed reads the same settings as migrate.
            Some("migrate" | "seed") => Some(vec!["migrate".into(), "--check-config".into()]),
            _ => None,
        }
    }
}

/// Makes the file `setting` names at `path` under `scratch` (a real key, a real CA bundle, an
/// empty manifest), after checking that the container mounts `path`; returns the local path.
fn mounted_file(container: &Container, scratch: &Path, setting: &str, path: &str) -> String {
    assert!(
        container
            .mounts
            .iter()
            .any(|mount| Path::new(path).starts_with(mount)),
        "{}: {setting}={path} is on no volume the container mounts ({:?})",
        container.origin,
        container.mounts
    );
    let local = scratch.join(path.trim_start_matches('/'));
    std::fs::create_dir_all(local.parent().unwrap()).unwrap();
    if setting.contains("KEY") {
        let made = Command::new(env!("CARGO_BIN_EXE_axv"))
            .arg("keygen")
            .arg(&local)
            .env_clear()
            .output()
            .unwrap();
        assert!(made.status.success(), "keygen: {made:?}");
    } else if setting.contains("CA_FILE") || setting.contains("sslrootcert") {
        let pki = axv_platform::testing::tls::TestPki::new("deployment test CA");
        std::fs::copy(pki.ca_file(), &local).unwrap();
    } else {
        std::fs::write(&local, "{}").unwrap();
    }
    local.display().to_string()
}

/// Runs the container's command with `--check-config` and exactly its environment; the files
/// its settings name are made (see [`mounted_file`]) at the same paths under a
/// temporary root, after checking that the container mounts those paths.
fn assert_accepted(container: &Container) {
    let Some(args) = container.check_args() else {
        return;
    };
    let origin = &container.origin;
    let scratch = tempfile::tempdir().unwrap();
    let mut env = container.env.clone();
    for setting in FILE_SETTINGS {
        let Some(value) = env.get(*setting).cloned() else {
            continue;
        };
        let local_paths: Vec<String> = value
            .split(',')
            .map(str::trim)
            .filter(|p| !p.is_empty())
            .map(|path| mounted_file(container, scratch.path(), setting, path))
            .collect();
        env.insert((*setting).to_owned(), local_paths.join(","));
    }
    // The CA bundle a DATABASE_URL names (sslrootcert) must be in the container as well.
    if let Some(url) = env.get("DATABASE_URL").cloned()
        && let Some((_, query)) = url.split_once('?')
        && let Some(path) = query
            .split('&')
            .find_map(|pair| pair.strip_prefix("sslrootcert="))
    {
        let local = mounted_file(container, scratch.path(), "DATABASE_URL sslrootcert", path);
        env.insert("DATABASE_URL".into(), url.replace(path, &local));
    }
    // The data dir is where a container may write; here, a scratch directory.
    if env.contains_key("AXV_DATA_DIR") {
        let data = scratch.path().join("data");
        std::fs::create_dir_all(&data).unwrap();
        env.insert("AXV_DATA_DIR".into(), data.display().to_string());
    }
    let output = Command::new(env!("CARGO_BIN_EXE_axv"))
        .args(&args)
        .env_clear()
        .envs(&env)
        .current_dir(scratch.path())
        .output()
        .unwrap();
    let stdout = String::from_utf8_lossy(&output.stdout);
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(
        output.status.success() && stdout.contains("configuration OK"),
        "{origin}: `axv {}` refused its environment:\n{stderr}{stdout}\nenvironment: {:?}",
        args.join(" "),
        container.env.keys().collect::<Vec<_>>()
    );
    // Every variable given is one the binary reads (unknown AXV_* ones fail above already;
    // this catches the rest, such as a misspelt DATABASE_URL).
    let recognised: BTreeSet<&str> = stdout
        .lines()
        .find_map(|line| line.strip_prefix("settings from the environment:"))
        .unwrap_or_default()
        .split_whitespace()
        .collect();
    for name in container.env.keys() {
        assert!(
            recognised.contains(name.as_str()) || container.helpers.contains(name),
            "{origin}: {name} is not a setting axv reads (it read: {recognised:?})"
        );
    }
}

/// `${VAR:-default}` and `${VAR}` as compose interpolates them without a `.env` (defaults
/// only), `$$` as a literal `$`.
fn interpolate(value: &str) -> String {
    let mut out = String::new();
    let mut rest = value;
    while let Some(start) = rest.find('$') {
        out.push_str(&rest[..start]);
        let after = &rest[start + 1..];
        if let Some(after) = after.strip_prefix('$') {
            out.push('$');
            rest = after;
        } else if let Some(inner) = after.strip_prefix('{') {
            let end = inner.find('}').expect("closing brace");
            let expression = &inner[..end];
            if let Some((_, default)) = expression.split_once(":-") {
                out.push_str(default);
            }
            rest = &inner[end + 1..];
        } else {
            out.push('$');
            rest = after;
        }
    }
    out.push_str(rest);
    out
}

fn compose_containers() -> Vec<Container> {
    let docs = yaml_docs("docker-compose.yml");
    let compose = &docs[0];
    let services = compose["services"].as_hash().expect("services");
    let mut containers = Vec::new();
    for (name, service) in services {
        let name = text(name);
        let image = service["image"].as_str().unwrap_or_default();
        if !image.starts_with("${AXV_IMAGE") {
            continue;
        }
        if !service["entrypoint"].is_badvalue() {
            continue; // not running axv (the welcome message)
        }
        let mut env = image_env();
        for entry in list(&service["env_file"]) {
            let (path, required) = match &entry {
                Yaml::String(path) => (path.clone(), true),
                entry => (
                    text(&entry["path"]),
                    entry["required"].as_bool().unwrap_or(true),
                ),
            };
            if !required && !root().join(&path).exists() {
                continue;
            }
            env.extend(env_file(&path));
        }
        match &service["environment"] {
            Yaml::Hash(map) => {
                for (key, value) in map {
                    env.insert(text(key), interpolate(&text(value)));
                }
            }
            Yaml::Array(items) => {
                for item in items {
                    let (key, value) = item.as_str().unwrap().split_once('=').unwrap();
                    env.insert(key.to_owned(), interpolate(value));
                }
            }
            _ => {}
        }
        let mounts = list(&service["volumes"])
            .iter()
            .map(|volume| text(volume).split(':').nth(1).unwrap().to_owned())
            .collect();
        let args = list(&service["command"]).iter().map(text).collect();
        containers.push(Container {
            origin: format!("docker-compose.yml service {name}"),
            args,
            env,
            mounts,
            helpers: BTreeSet::new(),
        });
    }
    containers
}

#[test]
fn compose_environment_is_accepted() {
    let containers = compose_containers();
    let serving: BTreeSet<String> = containers
        .iter()
        .filter(|c| c.args.first().is_some_and(|a| a == "serve"))
        .map(|c| c.args[1].clone())
        .collect();
    assert_eq!(
        serving,
        [
            "console",
            "documents",
            "gateway",
            "notify",
            "onboarding",
            "outcomes",
            "pilots",
            "vouchers"
        ]
        .map(String::from)
        .into(),
        "every component runs in its own container"
    );
    assert!(containers.iter().any(|c| c.args == ["migrate"]));
    for container in &containers {
        assert_accepted(container);
    }
}

#[test]
fn example_env_files_are_accepted_with_their_optional_settings() {
    // The gateway container of the compose file, with every commented-out setting of the
    // example turned on.
    let gateway = compose_containers()
        .into_iter()
        .find(|c| c.args == ["serve", "gateway"])
        .unwrap();
    let mut env = image_env();
    env.extend(env_file("deploy/axv.example.env"));
    let optional = commented_settings("deploy/axv.example.env");
    assert!(
        optional.contains_key("AXV_OIDC_ISSUERS")
            && optional.contains_key("AXV_JWT_PREVIOUS_KEY_FILES")
    );
    env.extend(optional);
    assert_accepted(&Container {
        origin: "deploy/axv.example.env (optional settings on)".into(),
        env,
        ..gateway
    });
}

/// The containers of the Kubernetes manifests in `base`, with the ConfigMap as `overlay`'s
/// config.env makes it and the Secret as its committed example has it.
fn kubernetes_containers(overlay: Option<&str>) -> Vec<Container> {
    let mut config = env_file("deploy/k8s/base/config.env");
    if let Some(overlay) = overlay {
        config.extend(env_file(format!("deploy/k8s/{overlay}/config.env")));
    }
    // The Secret as its example has it, optional settings (commented out there) included.
    let mut secrets = env_file("deploy/k8s/axv-secrets.example.env");
    secrets.extend(commented_settings("deploy/k8s/axv-secrets.example.env"));
    let mut containers = Vec::new();
    let base = root().join("deploy/k8s/base");
    let mut files: Vec<PathBuf> = std::fs::read_dir(&base)
        .unwrap()
        .map(|entry| entry.unwrap().path())
        .filter(|path| path.extension().is_some_and(|e| e == "yaml"))
        .collect();
    files.sort();
    for file in files {
        for doc in yaml_docs(&file) {
            let kind = doc["kind"].as_str().unwrap_or_default();
            if kind != "Deployment" && kind != "Job" {
                continue;
            }
            let name = text(&doc["metadata"]["name"]);
            for container in list(&doc["spec"]["template"]["spec"]["containers"]) {
                let mut env = image_env();
                let mut helpers = BTreeSet::new();
                for source in list(&container["envFrom"]) {
                    if let Some(map) = source["configMapRef"]["name"].as_str() {
                        assert_eq!(map, "axv-config", "{name}");
                        env.extend(config.clone());
                    }
                    if let Some(secret) = source["secretRef"]["name"].as_str() {
                        assert_eq!(secret, "axv-secrets", "{name}");
                        env.extend(secrets.clone());
                    }
                }
                for item in list(&container["env"]) {
                    let key = text(&item["name"]);
                    let value = if let Some(value) = item["value"].as_str() {
                        // Kubernetes expands $(VAR) from the variables before it.
                        let mut value = value.to_owned();
                        for (name, earlier) in &env {
                            let reference = format!("$({name})");
                            if value.contains(&reference) {
                                value = value.replace(&reference, earlier);
                                helpers.insert(name.clone());
                            }
                        }
                        value
                    } else if !item["valueFrom"]["secretKeyRef"].is_badvalue() {
                        let reference = &item["valueFrom"]["secretKeyRef"];
                        assert_eq!(text(&reference["name"]), "axv-secrets");
                        let key = text(&reference["key"]);
                        secrets
                            .get(&key)
                            .unwrap_or_else(|| {
                                panic!("{name}: {key} is not in the Secret's example")
                            })
                            .clone()
                    } else if !item["valueFrom"]["fieldRef"].is_badvalue() {
                        format!("{name}-7d9f8c6b5-x2x4z")
                    } else {
                        panic!("{name}: {key} has a value source this test does not know")
                    };
                    env.insert(key, value);
                }
                let mounts = list(&container["volumeMounts"])
                    .iter()
                    .map(|mount| text(&mount["mountPath"]))
                    .collect();
                containers.push(Container {
                    origin: format!(
                        "{} {kind} {name} ({})",
                        file.file_name().unwrap().to_string_lossy(),
                        overlay.unwrap_or("base")
                    ),
                    args: list(&container["args"]).iter().map(text).collect(),
                    env,
                    mounts,
                    helpers,
                });
            }
        }
    }
    containers
}

#[test]
fn kubernetes_environment_is_accepted() {
    let base = kubernetes_containers(None);
    let serving: BTreeSet<&str> = base
        .iter()
        .filter(|c| c.args.first().is_some_and(|a| a == "serve"))
        .map(|c| c.args[1].as_str())
        .collect();
    assert_eq!(
        serving,
        [
            "console",
            "documents",
            "gateway",
            "notify",
            "onboarding",
            "outcomes",
            "pilots",
            "vouchers"
        ]
        .into()
    );
    assert!(base.iter().any(|c| c.args == ["migrate"]));
    for container in &base {
        assert_accepted(container);
    }
    let overlays = root().join("deploy/k8s/overlays");
    for overlay in std::fs::read_dir(overlays).unwrap() {
        let overlay = overlay.unwrap().path();
        let name = format!(
            "overlays/{}",
            overlay.file_name().unwrap().to_string_lossy()
        );
        // This test reads the base's containers: an overlay may change their ConfigMap (its
        // config.env) but must not patch environments in, or they would go unchecked here.
        for file in std::fs::read_dir(&overlay).unwrap() {
            let file = file.unwrap().path();
            let content = std::fs::read_to_string(&file).unwrap();
            if file.extension().is_some_and(|e| e == "yaml") {
                assert!(
                    !content.contains("env:") && !content.contains("envFrom:"),
                    "{}: set settings in config.env, not in patches",
                    file.display()
                );
            }
        }
        if overlay.join("config.env").exists() {
            for container in kubernetes_containers(Some(&name)) {
                assert_accepted(&container);
            }
        }
    }
}

#[test]
fn the_gateway_gets_no_database() {
    for container in kubernetes_containers(None) {
        if container.args == ["serve", "gateway"] {
            assert!(
                !container.env.contains_key("DATABASE_URL"),
                "{}",
                container.origin
            );
            assert!(container.env.contains_key("REDIS_URL"));
        }
    }
}

#[test]
fn a_bad_setting_is_named() {
    let run = |env: &[(&str, &str)]| {
        let scratch = tempfile::tempdir().unwrap();
        let output = Command::new(env!("CARGO_BIN_EXE_axv"))
            .args(["serve", "vouchers", "--check-config"])
            .env_clear()
            .env("AXV_DATA_DIR", scratch.path())
            .envs(env.iter().copied())
            .output()
            .unwrap();
        (
            output.status.success(),
            String::from_utf8_lossy(&output.stderr).into_owned(),
        )
    };
    assert!(run(&[]).0);
    // TLS as managed Postgres and Redis require it.
    assert!(
        run(&[
            ("DATABASE_URL", "postgres://db/axv?sslmode=require"),
            ("REDIS_URL", "rediss://cache:6379"),
        ])
        .0
    );
    for (setting, value) in [
        ("AXV_ONBORDING_URL", "http://onboarding:50051"),
        ("AXV_PILOTS_URL", "pilots:50053"),
        ("DATABASE_URL", "mysql://db/axv"),
        (
            "DATABASE_URL",
            "postgres://db/axv?sslmode=verify-full&sslrootcert=/nonexistent/ca.pem",
        ),
        ("REDIS_URL", "rediss://cache:6379/#insecure"),
        ("AXV_REDIS_CA_FILE", "/nonexistent/ca.pem"),
        ("AXV_METRICS_LISTEN", "9464"),
        ("AXV_DB_MAX_CONNECTIONS", "0"),
        ("AXV_JWT_SIGNING_KEY_FILE", "/nonexistent/key.pem"),
        ("AXV_OIDC_ISSUERS", "[{\"issuer\":\"x\"}]"),
        ("AXV_TRUST_FORWARDED_FOR", "yes"),
        ("AXV_TRUSTED_PROXIES", "the gateway"),
        ("AXV_LOG_FORMAT", "xml"),
        ("OTEL_EXPORTER_OTLP_ENDPOINT", "collector:4317"),
    ] {
        let (ok, stderr) = run(&[(setting, value)]);
        let flag = format!("--{}", setting.to_lowercase().replace('_', "-"));
        assert!(
            !ok && (stderr.contains(setting) || stderr.contains(flag.trim_start_matches("--axv-"))),
            "{setting}={value}: {stderr}"
        );
    }
    // Nothing was written: no key generated, no database created.
    let scratch = tempfile::tempdir().unwrap();
    let output = Command::new(env!("CARGO_BIN_EXE_axv"))
        .args(["serve", "onboarding", "--check-config"])
        .env_clear()
        .env("AXV_DATA_DIR", scratch.path().join("data"))
        .output()
        .unwrap();
    assert!(output.status.success());
    assert!(!scratch.path().join("data").exists());
}

#[test]
fn the_image_builds_like_ci() {
    let dockerfile = read("deploy/Dockerfile");
    let ci = read(".ci/run");
    let builds: Vec<&str> = dockerfile
        .lines()
        .filter_map(|line| line.trim().strip_prefix("RUN "))
        .filter(|command| command.starts_with("cargo build"))
        .collect();
    assert_eq!(
        builds,
        ["cargo build --release --locked -p axv"],
        "one release build"
    );
    assert!(
        ci.lines().any(|line| line.trim() == builds[0]),
        ".ci/run does not run the Dockerfile's `{}`",
        builds[0]
    );
    // The same toolchain: the Dockerfile's Rust version is the one CI has.
    let version = dockerfile
        .lines()
        .find_map(|line| line.strip_prefix("ARG RUST_VERSION="))
        .expect("ARG RUST_VERSION");
    let rustc = Command::new(std::env::var("RUSTC").unwrap_or_else(|_| "rustc".into()))
        .arg("--version")
        .output()
        .unwrap();
    let rustc = String::from_utf8_lossy(&rustc.stdout);
    assert!(
        rustc.starts_with(&format!("rustc {version}.")),
        "the Dockerfile builds with Rust {version}, CI has {rustc}"
    );
    // The image's user is the one the manifests require.
    assert!(dockerfile.contains("USER 10001:10001"));
    for file in ["gateway.yaml", "vouchers.yaml", "migrate-job.yaml"] {
        assert!(read(format!("deploy/k8s/base/{file}")).contains("runAsUser: 10001"));
    }
}

#[test]
fn every_setting_is_documented_in_the_readme() {
    let readme = read("README.md");
    let mut settings = BTreeSet::new();
    for command in [
        "up",
        "serve",
        "migrate",
        "seed",
        "token",
        "schema",
        "keygen",
        "healthcheck",
    ] {
        let help = Command::new(env!("CARGO_BIN_EXE_axv"))
            .args([command, "--help"])
            .env_clear()
            .output()
            .unwrap();
        assert!(help.status.success(), "axv {command} --help");
        for rest in String::from_utf8_lossy(&help.stdout)
            .split("[env: ")
            .skip(1)
        {
            let name: String = rest
                .chars()
                .take_while(|c| c.is_ascii_uppercase() || c.is_ascii_digit() || *c == '_')
                .collect();
            settings.insert(name);
        }
    }
    assert!(settings.contains("DATABASE_URL") && settings.contains("AXV_REDIS_CA_FILE"));
    let undocumented: Vec<_> = settings
        .iter()
        .filter(|name| !readme.contains(&format!("`{name}`")))
        .collect();
    assert!(
        undocumented.is_empty(),
        "settings missing from README.md's configuration table: {undocumented:?}"
    );
}

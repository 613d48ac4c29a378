//! `--check-config`: every setting parsed and checked the way a start would, but nothing is
//! connected, bound, started or written. Deployments run it (CI runs it over every variable
//! the compose file and the Kubernetes manifests set) so a bad or unknown setting is named
//! before a rollout, not in a crash loop.

use std::collections::BTreeSet;

use anyhow::bail;

/// Settings read outside the flags: logs and traces (axv-telemetry and the OpenTelemetry
/// SDK's resource detector), the gateway's proxy switch, and the S3 store's standard `AWS_*`
/// settings (read by the documents service's object store client).
pub const OTHER_SETTINGS: &[&str] = &[
    "AXV_LOG_FORMAT",
    "AXV_TRUST_FORWARDED_FOR",
    "AXV_TRUSTED_PROXIES",
    "RUST_LOG",
    "OTEL_SERVICE_NAME",
    "OTEL_EXPORTER_OTLP_ENDPOINT",
    "OTEL_EXPORTER_OTLP_TRACES_ENDPOINT",
    "OTEL_RESOURCE_ATTRIBUTES",
    "AWS_ACCESS_KEY_ID",
    "AWS_SECRET_ACCESS_KEY",
    "AWS_REGION",
    "AWS_ENDPOINT",
    "AWS_ALLOW_HTTP",
];

/// Variables in our namespace that are not settings of the binary: the test suite's.
const NOT_SETTINGS: &[&str] = &["AXV_TEST_"];

/// A `host:port` the process can bind (`0.0.0.0:8080`, `[::]:8080`, `localhost:0`).
pub fn listen_address(setting: &str, value: &str) -> anyhow::Result<()> {
    let Some((host, port)) = value.rsplit_once(':') else {
        bail!("{setting}: {value:?} is not host:port");
    };
    if host.is_empty() {
        bail!("{setting}: {value:?} has no host (use 0.0.0.0:{port} for every interface)");
    }
    if port.parse::<u16>().is_err() {
        bail!("{setting}: {value:?} has no valid port");
    }
    Ok(())
}

/// Where another component is reached: an `http://host:port` URL.
pub fn service_url(setting: &str, value: &str) -> anyhow::Result<()> {
    axv_platform::config::check_http_url(value).map_err(|e| anyhow::anyhow!("{setting}: {e}"))
}

/// The gateway reads `AXV_TRUST_FORWARDED_FOR` itself and takes anything but `true`/`1` as
/// false; a value meant as yes (`yes`, `on`) would silently do nothing, so it is refused here.
pub fn trust_forwarded_for() -> anyhow::Result<()> {
    match std::env::var("AXV_TRUST_FORWARDED_FOR") {
        Err(std::env::VarError::NotPresent) => Ok(()),
        Ok(value) if matches!(value.as_str(), "" | "true" | "false" | "1" | "0") => Ok(()),
        Ok(value) => bail!("AXV_TRUST_FORWARDED_FOR: {value:?} is not true or false"),
        Err(std::env::VarError::NotUnicode(_)) => {
            bail!("AXV_TRUST_FORWARDED_FOR: not valid UTF-8")
        }
    }
}

/// The services read `AXV_TRUSTED_PROXIES` themselves and fall back to loopback on a value
/// that does not parse; that would count every client behind the gateway as one, so it is
/// refused here.
pub fn trusted_proxies() -> anyhow::Result<()> {
    match std::env::var(axv_platform::net::TRUSTED_PROXIES_VAR) {
        Err(std::env::VarError::NotPresent) => Ok(()),
        Ok(value) => axv_platform::net::parse_trusted_proxies(&value)
            .map(|_| ())
            .map_err(|e| anyhow::anyhow!("AXV_TRUSTED_PROXIES: {e}")),
        Err(std::env::VarError::NotUnicode(_)) => bail!("AXV_TRUSTED_PROXIES: not valid UTF-8"),
    }
}

/// `AXV_*` variables in the environment that the binary does not read (typos, settings of
/// another version), sorted.
pub fn unknown_settings(known: &BTreeSet<String>) -> Vec<String> {
    let mut unknown: Vec<String> = std::env::vars_os()
        .filter_map(|(name, _)| name.into_string().ok())
        .filter(|name| name.starts_with("AXV_"))
        .filter(|name| !NOT_SETTINGS.iter().any(|prefix| name.starts_with(prefix)))
        .filter(|name| !known.contains(name))
        .collect();
    unknown.sort();
    unknown
}

/// The known settings present in the environment, sorted (values are not shown: some are
/// secrets).
pub fn settings_in_environment(known: &BTreeSet<String>) -> Vec<String> {
    known
        .iter()
        .filter(|name| std::env::var_os(name).is_some())
        .cloned()
        .collect()
}

/// Fails naming every unknown `AXV_*` variable.
pub fn no_unknown_settings(known: &BTreeSet<String>) -> anyhow::Result<()> {
    let unknown = unknown_settings(known);
    if unknown.is_empty() {
        return Ok(());
    }
    bail!(
        "{}: not a setting of this axv (a typo? `axv serve --help` lists every variable)",
        unknown.join(", ")
    )
}

/// Prints the verdict the way scripts and the deploy tests read it.
pub fn report(what: &str, known: &BTreeSet<String>) {
    println!("configuration OK ({what})");
    println!(
        "settings from the environment: {}",
        settings_in_environment(known).join(" ")
    );
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn listen_addresses() {
        for good in [
            "0.0.0.0:8080",
            "[::]:50051",
            "localhost:0",
            "127.0.0.1:9464",
        ] {
            assert!(listen_address("X", good).is_ok(), "{good}");
        }
        for bad in ["8080", ":8080", "0.0.0.0:http", "0.0.0.0:70000", ""] {
            let error = listen_address("AXV_X", bad).err().map(|e| e.to_string());
            assert!(error.is_some_and(|e| e.starts_with("AXV_X")), "{bad}");
        }
    }

    #[test]
    fn service_urls() {
        assert!(service_url("AXV_PILOTS_URL", "http://pilots:50053").is_ok());
        let error = service_url("AXV_PILOTS_URL", "pilots:50053").err();
        assert!(error.is_some_and(|e| e.to_string().starts_with("AXV_PILOTS_URL")));
    }
}

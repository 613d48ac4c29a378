//! Real servers a test starts as child processes (an SMTP server, an S3-compatible store, a
//! browser driver): free ports, processes that die with the test, and the Python that has a
//! given module.

use std::{process::Stdio, time::Duration};

/// A loopback port free right now.
pub fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .map(|a| a.port())
        .unwrap()
}

/// A child process killed (and reaped) when dropped.
pub struct Killed(pub std::process::Child);

impl Drop for Killed {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

/// Waits until something accepts connections on `port` (at most 10 s).
pub async fn wait_until_listening(port: u16) {
    for _ in 0..200 {
        if tokio::net::TcpStream::connect(("127.0.0.1", port))
            .await
            .is_ok()
        {
            return;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    panic!("nothing listens on port {port}");
}

/// The Python that can import `module`: the one `env_var` names, else `python3`. `None` where
/// it cannot (never under CI, whose `.ci/run` installs it: there the test fails instead).
pub fn python_having(env_var: &str, module: &str) -> Option<String> {
    let python = std::env::var(env_var).unwrap_or_else(|_| "python3".into());
    let has = std::process::Command::new(&python)
        .args(["-c", &format!("import {module}")])
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .status()
        .is_ok_and(|s| s.success());
    if has {
        return Some(python);
    }
    assert!(
        std::env::var("CI").is_err(),
        "CI installs {module}: {env_var} must name a Python that has it"
    );
    eprintln!("skipping: no Python with {module} ({env_var})");
    None
}

/// A real S3-compatible server (moto's, from PyPI; `.ci/run` installs it) on loopback, with one
/// bucket made; stopped when dropped.
pub struct S3Server {
    _server: Killed,
    pub port: u16,
    pub bucket: String,
}

impl S3Server {
    /// `None` where moto is missing (never in CI).
    pub async fn start() -> Option<Self> {
        let python = python_having("AXV_TEST_S3_PYTHON", "moto.server")?;
        let port = free_port();
        let server = Killed(
            std::process::Command::new(python)
                .args([
                    "-m",
                    "moto.server",
                    "-H",
                    "127.0.0.1",
                    "-p",
                    &port.to_string(),
                ])
                .stdout(Stdio::null())
                .stderr(Stdio::null())
                .spawn()
                .unwrap(),
        );
        wait_until_listening(port).await;
        let bucket = "axv-documents".to_owned();
        // moto takes an unsigned CreateBucket.
        let made = reqwest::Client::new()
            .put(format!("http://127.0.0.1:{port}/{bucket}"))
            .send()
            .await
            .unwrap();
        assert!(
            made.status().is_success(),
            "bucket not made: {}",
            made.status()
        );
        Some(Self {
            _server: server,
            port,
            bucket,
        })
    }

    /// The documents service's settings for this server, objects under `prefix`.
    pub fn settings(&self, prefix: &str) -> (String, Vec<(String, String)>) {
        let options = [
            ("aws_endpoint", format!("http://127.0.0.1:{}", self.port)),
            ("aws_allow_http", "true".into()),
            ("aws_access_key_id", "test".into()),
            ("aws_secret_access_key", "test".into()),
            ("aws_region", "us-east-1".into()),
        ];
        (
            format!("s3://{}/{prefix}", self.bucket),
            options
                .into_iter()
                .map(|(k, v)| (k.to_owned(), v))
                .collect(),
        )
    }
}

//! The malware scanner hook: a command (`clamdscan --no-summary -`, say) that reads a document
//! on its standard input and answers by its exit code, as ClamAV's tools do: 0 clean,
//! 1 infected, anything else an error, after which the scan is tried again later.

use std::process::Stdio;

use futures::TryStreamExt as _;
use tokio::io::AsyncWriteExt as _;

use crate::{domain::ScanStatus, storage::Storage};

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Scanner {
    program: String,
    args: Vec<String>,
}

impl Scanner {
    /// A command line, split on whitespace.
    pub fn parse(command: &str) -> Result<Self, String> {
        let mut words = command.split_whitespace().map(str::to_owned);
        let program = words
            .next()
            .ok_or_else(|| "AXV_DOCUMENT_SCANNER is empty".to_owned())?;
        Ok(Self {
            program,
            args: words.collect(),
        })
    }

    /// Scans the object at `key`: its verdict, or why there is none yet.
    pub async fn scan(&self, storage: &Storage, key: &str) -> Result<ScanStatus, String> {
        let mut child = tokio::process::Command::new(&self.program)
            .args(&self.args)
            .stdin(Stdio::piped())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .kill_on_drop(true)
            .spawn()
            .map_err(|e| format!("cannot start {}: {e}", self.program))?;
        let mut stdin = child
            .stdin
            .take()
            .ok_or_else(|| "the scanner has no standard input".to_owned())?;
        let mut bytes = storage
            .read(key)
            .await
            .map_err(|e| format!("cannot read the document: {e}"))?;
        loop {
            match bytes.try_next().await {
                Ok(Some(piece)) => {
                    // A scanner may stop reading once it has its verdict.
                    if stdin.write_all(&piece).await.is_err() {
                        break;
                    }
                }
                Ok(None) => break,
                Err(e) => return Err(format!("cannot read the document: {e}")),
            }
        }
        drop(stdin);
        let status = child
            .wait()
            .await
            .map_err(|e| format!("the scanner did not finish: {e}"))?;
        match status.code() {
            Some(0) => Ok(ScanStatus::Clean),
            Some(1) => Ok(ScanStatus::Infected),
            other => Err(format!("the scanner failed (exit {other:?})")),
        }
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    #[test]
    fn a_command_line_is_split_into_program_and_arguments() {
        let scanner = Scanner::parse(" clamdscan  --no-summary - ").unwrap();
        assert_eq!(scanner.program, "clamdscan");
        assert_eq!(scanner.args, ["--no-summary", "-"]);
        assert!(Scanner::parse("  ").is_err());
    }
}

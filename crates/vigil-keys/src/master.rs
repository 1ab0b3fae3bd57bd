//! Where the master key comes from: `[keys] master` in `vigil.toml`.
//!
//! - `"generated"` (the default): Vigil creates it at first start in `data_dir/keys/master.key`
//!   (owner-only) and rotates it with `vigil keys rotate`.
//! - `"file:PATH"`: a file holding 64 hex digits (`openssl rand -hex 32 > PATH`), or a Vigil key file.
//! - `"env:NAME"`: an environment variable holding 64 hex digits.
//! - `"command:CMD"`: a command (run with `sh -c`) that prints 64 hex digits, so that a KMS, a TPM
//!   (`systemd-creds decrypt`, `tpm2_unseal`) or a password manager can hold it.
//!
//! The key itself is never logged; errors name the source, not the key.

use crate::keyfile::{self, KeyFile, Sealed};
use crate::{KeyError, parse_hex_key};
use serde::{Deserialize, Deserializer};
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

/// How long a `command:` source may take to print the key.
const COMMAND_TIMEOUT: Duration = Duration::from_secs(30);

/// `[keys]`: where the master key comes from.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct KeysConfig {
    /// `generated` (default), `file:PATH`, `env:NAME` or `command:CMD`.
    #[serde(default)]
    pub master: MasterSource,
}

/// Where the master key comes from.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub enum MasterSource {
    /// Created by Vigil in `data_dir/keys/master.key`.
    #[default]
    Generated,
    /// Read from a file.
    File(PathBuf),
    /// Read from an environment variable.
    Env(String),
    /// Printed by a shell command.
    Command(String),
}

impl std::str::FromStr for MasterSource {
    type Err = String;

    fn from_str(s: &str) -> Result<Self, String> {
        let s = s.trim();
        let nonempty = |rest: &str, what: &str| {
            if rest.trim().is_empty() {
                Err(format!("`{s}` names no {what}"))
            } else {
                Ok(rest.trim().to_string())
            }
        };
        if s == "generated" {
            Ok(Self::Generated)
        } else if let Some(rest) = s.strip_prefix("file:") {
            Ok(Self::File(PathBuf::from(nonempty(rest, "file")?)))
        } else if let Some(rest) = s.strip_prefix("env:") {
            Ok(Self::Env(nonempty(rest, "variable")?))
        } else if let Some(rest) = s.strip_prefix("command:") {
            Ok(Self::Command(nonempty(rest, "command")?))
        } else {
            Err(format!(
                "unknown master key source `{s}`: write \"generated\", \"file:PATH\", \"env:NAME\" or \"command:CMD\""
            ))
        }
    }
}

impl<'de> Deserialize<'de> for MasterSource {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let s = String::deserialize(d)?;
        s.parse().map_err(serde::de::Error::custom)
    }
}

impl std::fmt::Display for MasterSource {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Self::Generated => f.write_str("generated"),
            Self::File(p) => write!(f, "file:{}", p.display()),
            Self::Env(n) => write!(f, "env:{n}"),
            Self::Command(c) => write!(f, "command:{c}"),
        }
    }
}

/// The purpose written into a generated master key's file.
pub(crate) const MASTER_PURPOSE: &str = "master-key";

impl MasterSource {
    /// Reads a supplied master key (not for [`MasterSource::Generated`], which the store manages).
    pub(crate) fn load_supplied(&self) -> Result<KeyFile, KeyError> {
        let bad = |why: String| KeyError::Master(format!("master key from {self}: {why}"));
        let (text, origin) = match self {
            Self::Generated => return Err(bad("generated keys are read by the key store".into())),
            Self::File(p) => (
                std::fs::read_to_string(p).map_err(|e| bad(format!("cannot read: {e}")))?,
                p.display().to_string(),
            ),
            Self::Env(name) => (
                std::env::var(name).map_err(|_| bad("the variable is not set".into()))?,
                format!("env:{name}"),
            ),
            Self::Command(cmd) => (run_command(cmd).map_err(bad)?, format!("command:{cmd}")),
        };
        if let Some(key) = parse_hex_key(&text) {
            return Ok(KeyFile::in_memory(key, MASTER_PURPOSE, &origin));
        }
        // A Vigil key file (for instance a generated master key moved off the machine).
        if let Ok(parsed) = keyfile::parse(Path::new(&origin), &text)
            && matches!(parsed.material, Sealed::Plain(_))
        {
            return parsed.open(Path::new(&origin), |_| None);
        }
        Err(bad(
            "not a 256-bit key (expected 64 hex digits, e.g. from `openssl rand -hex 32`)".into(),
        ))
    }
}

/// Runs `cmd` with `sh -c` and returns what it printed; fails on a non-zero exit or after
/// [`COMMAND_TIMEOUT`].
fn run_command(cmd: &str) -> Result<String, String> {
    use std::io::Read;
    let mut child = std::process::Command::new("sh")
        .arg("-c")
        .arg(cmd)
        .stdin(std::process::Stdio::null())
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::inherit())
        .spawn()
        .map_err(|e| format!("cannot run the command: {e}"))?;
    let mut stdout = child
        .stdout
        .take()
        .ok_or_else(|| "the command's output is not readable".to_string())?;
    // Read on a thread: a command printing more than a pipe holds must not block the wait below.
    let reader = std::thread::spawn(move || {
        let mut out = Vec::new();
        let _ = stdout.by_ref().take(64 * 1024).read_to_end(&mut out);
        out
    });
    let deadline = Instant::now() + COMMAND_TIMEOUT;
    let status = loop {
        match child.try_wait() {
            Ok(Some(status)) => break status,
            Ok(None) if Instant::now() < deadline => std::thread::sleep(Duration::from_millis(20)),
            Ok(None) => {
                let _ = child.kill();
                let _ = child.wait();
                return Err(format!(
                    "the command printed no key within {} s",
                    COMMAND_TIMEOUT.as_secs()
                ));
            }
            Err(e) => return Err(format!("waiting for the command: {e}")),
        }
    };
    let out = reader
        .join()
        .map_err(|_| "reading the command's output failed".to_string())?;
    if !status.success() {
        return Err(format!("the command failed ({status})"));
    }
    String::from_utf8(out).map_err(|_| "the command printed no text".to_string())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sources_parse_and_print_back() {
        for s in [
            "generated",
            "file:/etc/vigil/master.hex",
            "env:VIGIL_MASTER_KEY",
            "command:systemd-creds decrypt /etc/vigil/master.cred -",
        ] {
            let src: MasterSource = s.parse().unwrap();
            assert_eq!(src.to_string(), s);
        }
        assert!("file:".parse::<MasterSource>().is_err());
        let e = "vault:x".parse::<MasterSource>().unwrap_err();
        assert!(e.contains("generated"), "{e}");
    }

    #[test]
    fn commands_print_the_key_or_fail_clearly() {
        let hexkey = "ab".repeat(32);
        let k = MasterSource::Command(format!("echo {hexkey}"))
            .load_supplied()
            .unwrap();
        assert_eq!(k.bytes(), &[0xab; 32]);
        let e = MasterSource::Command("exit 3".into())
            .load_supplied()
            .unwrap_err()
            .to_string();
        assert!(e.contains("failed"), "{e}");
        // What the command printed (it could be a mistyped key) is not repeated in the error.
        let e = MasterSource::Command("echo abc | tr a-c x-z".into())
            .load_supplied()
            .unwrap_err()
            .to_string();
        assert!(e.contains("64 hex digits") && !e.contains("xyz"), "{e}");
    }
}

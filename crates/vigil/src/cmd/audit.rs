//! `vigil audit verify`: walks the chain of the audit log with the audit key (`data_dir/keys/audit.key`),
//! checks it against the anchor outside the database, and names the first edited, deleted or rewritten
//! entry (exit code 1).

use crate::cmd::user::DataArgs;
use anyhow::Context;

/// `vigil audit` subcommands.
#[derive(clap::Subcommand)]
pub enum AuditCommand {
    /// Check that no audit entry was edited or deleted.
    Verify {
        #[command(flatten)]
        data: DataArgs,
    },
}

/// The audit log does not verify (the process exits with code 1).
#[derive(Debug)]
pub struct Tampered {
    /// The first entry that does not verify.
    pub id: i64,
    /// Why.
    pub reason: String,
}

impl std::fmt::Display for Tampered {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        if self.id > 0 {
            write!(
                f,
                "audit log tampered at entry {}: {}",
                self.id, self.reason
            )
        } else {
            write!(f, "audit log does not verify: {}", self.reason)
        }
    }
}

impl std::error::Error for Tampered {}

/// Runs `vigil audit ...`.
pub fn run(command: AuditCommand) -> anyhow::Result<()> {
    match command {
        AuditCommand::Verify { data } => {
            let db = data.dir()?.join("security.db");
            let report = vigil_server::audit::verify(&db)
                .with_context(|| format!("checking {}", db.display()))?;
            match report.first_bad {
                None => {
                    let keyed = match report.keyed_from {
                        Some(1) => "HMAC-SHA256 chain intact".to_string(),
                        Some(k) => format!(
                            "chain intact (SHA-256 up to entry {}, HMAC-SHA256 from entry {k})",
                            k - 1
                        ),
                        None => "SHA-256 chain intact (written before audit keys)".to_string(),
                    };
                    let anchored = match report.anchored {
                        Some((id, at)) => format!(
                            ", anchored up to entry {id} at {}",
                            jiff::Timestamp::from_millisecond(at)
                                .map_or(at.to_string(), |t| t.to_string())
                        ),
                        None => ", no anchor".to_string(),
                    };
                    println!(
                        "audit log OK: {} entries, {keyed}{anchored} ({})",
                        report.entries,
                        db.display()
                    );
                    Ok(())
                }
                Some((id, reason)) => Err(Tampered { id, reason }.into()),
            }
        }
    }
}

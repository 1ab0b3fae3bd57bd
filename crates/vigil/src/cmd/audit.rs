//! `vigil audit verify`: walks the hash chain of the audit log and names the first edited or deleted
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
        write!(
            f,
            "audit log tampered at entry {}: {}",
            self.id, self.reason
        )
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
                    println!(
                        "audit log OK: {} entries, hash chain intact ({})",
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

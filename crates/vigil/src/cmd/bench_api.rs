//! `vigil bench-api`: placeholder, filled in below.

/// Arguments of `vigil bench-api`.
#[derive(clap::Args)]
pub struct Args {}

/// Runs `vigil bench-api`.
pub fn run(_args: Args) -> anyhow::Result<()> {
    anyhow::bail!("not yet")
}

//! Output conventions shared by `eval` and `bench`: a human table, then one line of JSON for scripts.

use serde::Serialize;

/// Prints `summary` as a single line of JSON on stdout (the last line of every `eval`/`bench` run).
pub fn print_json_summary<T: Serialize>(summary: &T) -> anyhow::Result<()> {
    println!("{}", serde_json::to_string(summary)?);
    Ok(())
}

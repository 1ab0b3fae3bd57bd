//! `vigil hub ask --site S …`: asks one site for what stays on site, through the hub's NATS link, with
//! the hub's identity (`hub.toml`): the same relay functions as the hub's web routes
//! (`vigil_hub::relay`). Each question goes into the hub's audit log with actor `cli`.
//!
//! - `ping`: the site's Vigil version.
//! - `picture --camera C --out F`: the camera's latest picture (JPEG, privacy masks blacked out).
//! - `recordings --camera C --from T --to T`: recorded ranges as JSON lines.
//! - `clip --camera C --from T --to T --out F`: an MP4 of the range (masks burnt in), fetched in parts.
//! - `config-get [--out F]`: the site's `vigil.toml` (its version on standard error).
//! - `config-push FILE [--base V]`: replace it (a new version; refused when the site's file changed
//!   since the hub's last known version, or since `--base`); prints the version as JSON; fails when the
//!   site did not apply it.
//! - `config-versions`: the versions kept for the site, newest first, JSON lines.
//! - `config-rollback VERSION`: push an earlier version again.
//!
//! Times (`--from`, `--to`): unix milliseconds, RFC 3339 or local `YYYY-MM-DD HH:MM:SS`.
//! docs/hub-relay.md.

use anyhow::Context;
use std::io::Write;
use std::path::PathBuf;
use vigil_hub::{HubConfig, HubDb, relay};

/// `vigil hub ask` arguments.
#[derive(clap::Args)]
pub struct Args {
    /// The site to ask.
    #[arg(long)]
    pub site: String,
    #[command(subcommand)]
    pub what: Ask,
}

/// What to ask a site.
#[derive(clap::Subcommand)]
pub enum Ask {
    /// Is the site there? Prints its Vigil version.
    Ping,
    /// The camera's latest picture (JPEG, privacy masks blacked out).
    Picture {
        /// The camera.
        #[arg(long)]
        camera: String,
        /// Where to write the JPEG.
        #[arg(long)]
        out: PathBuf,
    },
    /// The camera's recorded ranges, as JSON lines (`from_ms`, `to_ms`, `site`).
    Recordings {
        /// The camera.
        #[arg(long)]
        camera: String,
        /// Start (unix ms, RFC 3339 or local `YYYY-MM-DD HH:MM:SS`).
        #[arg(long, allow_hyphen_values = true)]
        from: String,
        /// End (same forms).
        #[arg(long, allow_hyphen_values = true)]
        to: String,
    },
    /// An MP4 of the camera's recording over a range (at most 30 minutes; masks burnt in).
    Clip {
        /// The camera.
        #[arg(long)]
        camera: String,
        /// Start (unix ms, RFC 3339 or local `YYYY-MM-DD HH:MM:SS`).
        #[arg(long, allow_hyphen_values = true)]
        from: String,
        /// End (same forms).
        #[arg(long, allow_hyphen_values = true)]
        to: String,
        /// Where to write the MP4.
        #[arg(long)]
        out: PathBuf,
    },
    /// The site's `vigil.toml` (to standard output or `--out`; its version on standard error).
    ConfigGet {
        /// Write it here instead.
        #[arg(long)]
        out: Option<PathBuf>,
    },
    /// Replace the site's `vigil.toml` with FILE (checked and applied by the site; kept as a version).
    ConfigPush {
        /// The new configuration.
        file: PathBuf,
        /// The version this is a change of (default: the latest the site applied that the hub holds).
        #[arg(long)]
        base: Option<String>,
    },
    /// The configuration versions the hub keeps for the site, newest first, as JSON lines.
    ConfigVersions,
    /// Push an earlier configuration version again.
    ConfigRollback {
        /// The version (from `config-versions`).
        #[arg(value_name = "VERSION")]
        to_version: String,
    },
}

/// A time as unix ms: a number, or what `vigil export` takes.
fn time_ms(s: &str) -> anyhow::Result<i64> {
    if let Ok(ms) = s.trim().parse::<i64>() {
        return Ok(ms);
    }
    Ok(crate::cmd::export::parse_time(s)?.0 / 90)
}

/// Runs `vigil hub ask`.
pub async fn run(config: HubConfig, args: Args) -> anyhow::Result<()> {
    let site = args.site;
    vigil_uplink::wire::check_site_name(&site)?;
    let db = HubDb::open(&config.hub.postgres_url, 2).await?;
    let client = config
        .nats_auth()
        .connect("vigil-hub-cli", None)
        .await
        .context("connecting to the hub's NATS server")?;
    let (action, detail, result) = match args.what {
        Ask::Ping => {
            let r = relay::ping(&client, &site).await;
            if let Ok(v) = &r {
                println!("{v}");
            }
            (
                "relay.ping",
                serde_json::json!({}),
                r.map(|_| ()).map_err(Into::into),
            )
        }
        Ask::Picture { camera, out } => {
            let r = match relay::live_picture(&client, &site, &camera).await {
                Ok(jpeg) => std::fs::write(&out, &jpeg)
                    .with_context(|| format!("writing {}", out.display()))
                    .map(|_| eprintln!("{}: {} bytes", out.display(), jpeg.len())),
                Err(e) => Err(e.into()),
            };
            (
                "relay.picture",
                serde_json::json!({ "camera": camera }),
                r.map_err(|e| anyhow::anyhow!("{e:#}")),
            )
        }
        Ask::Recordings { camera, from, to } => {
            let (from_ms, to_ms) = (time_ms(&from)?, time_ms(&to)?);
            let r = relay::recordings(&client, &site, &camera, from_ms, to_ms).await;
            if let Ok(ranges) = &r {
                let mut out = std::io::stdout().lock();
                for range in ranges {
                    serde_json::to_writer(&mut out, range)?;
                    out.write_all(b"\n")?;
                }
            }
            (
                "relay.recordings",
                serde_json::json!({ "camera": camera, "from_ms": from_ms, "to_ms": to_ms }),
                r.map(|_| ()).map_err(Into::into),
            )
        }
        Ask::Clip {
            camera,
            from,
            to,
            out,
        } => {
            let (from_ms, to_ms) = (time_ms(&from)?, time_ms(&to)?);
            let r = match relay::clip(&client, &site, &camera, from_ms, to_ms).await {
                Ok(mp4) => std::fs::write(&out, &mp4)
                    .with_context(|| format!("writing {}", out.display()))
                    .map(|_| eprintln!("{}: {} bytes", out.display(), mp4.len())),
                Err(e) => Err(e.into()),
            };
            (
                "relay.clip",
                serde_json::json!({ "camera": camera, "from_ms": from_ms, "to_ms": to_ms }),
                r.map_err(|e| anyhow::anyhow!("{e:#}")),
            )
        }
        Ask::ConfigGet { out } => {
            let r = relay::config_get(&client, &site).await;
            let version = r.as_ref().ok().map(|(_, v)| v.clone());
            let r = match r {
                Ok((text, version)) => {
                    eprintln!("version {version}");
                    match &out {
                        Some(path) => std::fs::write(path, text)
                            .with_context(|| format!("writing {}", path.display())),
                        None => {
                            print!("{text}");
                            Ok(())
                        }
                    }
                }
                Err(e) => Err(e.into()),
            };
            (
                "relay.config_get",
                serde_json::json!({ "version": version }),
                r,
            )
        }
        Ask::ConfigPush { file, base } => {
            let text = std::fs::read_to_string(&file)
                .with_context(|| format!("reading {}", file.display()))?;
            let r = relay::config_push_on(&db, &client, &site, &text, base.as_deref(), "cli").await;
            pushed("relay.config_push", r)
        }
        Ask::ConfigVersions => {
            let r = relay::config_versions(&db, &site).await;
            if let Ok(versions) = &r {
                let mut out = std::io::stdout().lock();
                for v in versions {
                    serde_json::to_writer(&mut out, v)?;
                    out.write_all(b"\n")?;
                }
            }
            (
                "relay.config_versions",
                serde_json::json!({}),
                r.map(|_| ()).map_err(Into::into),
            )
        }
        Ask::ConfigRollback { to_version } => {
            let r = relay::config_rollback(&db, &client, &site, &to_version, "cli").await;
            pushed("relay.config_rollback", r)
        }
    };
    let mut detail = detail;
    if let (Err(e), Some(map)) = (&result, detail.as_object_mut()) {
        map.insert("error".into(), serde_json::Value::String(format!("{e:#}")));
    }
    db.audit("cli", action, Some(&site), detail, None).await?;
    let _ = client.flush().await;
    result
}

/// Prints a pushed version; an error when the site did not apply it.
fn pushed(
    action: &'static str,
    r: Result<relay::ConfigVersion, vigil_hub::HubError>,
) -> (&'static str, serde_json::Value, anyhow::Result<()>) {
    match r {
        Ok(v) => {
            let detail = serde_json::json!({ "version": v.version, "applied": v.applied, "message": v.message });
            if let Ok(line) = serde_json::to_string(&v) {
                println!("{line}");
            }
            let result = if v.applied {
                Ok(())
            } else {
                Err(anyhow::anyhow!(
                    "site {} did not apply version {}: {}",
                    v.site,
                    v.version,
                    v.message.as_deref().unwrap_or("no reason given")
                ))
            };
            (action, detail, result)
        }
        Err(e) => (action, serde_json::json!({}), Err(e.into())),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use clap::{Args as _, Command};

    #[test]
    fn the_subcommands_parse() {
        let cmd = Args::augment_args(Command::new("ask"));
        cmd.clone().debug_assert();
        let m = cmd
            .try_get_matches_from(["ask", "--site", "s1", "config-rollback", "0123abcd"])
            .unwrap();
        let args = <Args as clap::FromArgMatches>::from_arg_matches(&m).unwrap();
        assert_eq!(args.site, "s1");
        assert!(
            matches!(args.what, Ask::ConfigRollback { to_version } if to_version == "0123abcd")
        );
        assert_eq!(time_ms("1765098000000").unwrap(), 1_765_098_000_000);
        assert_eq!(time_ms("2026-12-07T09:00:00Z").unwrap(), 1_796_634_000_000);
        assert!(time_ms("yesterday").is_err());
    }
}

//! `vigil hub user add|list`: the hub's central users, directly in its PostgreSQL database. There is no
//! default password: the first admin is made here (`vigil hub user add NAME --role admin`, the password
//! read from stdin like `vigil user add`), and enrols MFA at their first login in the hub UI. Every
//! change is written to the hub's audit log as `cli:<account>`.

use anyhow::{Context, bail};
use vigil_hub::http::store::{NewHubUser, Store};
use vigil_hub::{HubConfig, HubDb};
use vigil_server::perms::Role;

/// `vigil hub user` subcommands.
#[derive(clap::Subcommand)]
pub enum HubUserCommand {
    /// Create a central user (the password is asked for, or read from stdin with --password-stdin).
    Add {
        /// Login name.
        name: String,
        /// admin, operator, viewer, auditor or analyst.
        #[arg(long, default_value = "viewer")]
        role: String,
        /// Sites the user may see, comma-separated (default: all).
        #[arg(long, value_delimiter = ',')]
        sites: Option<Vec<String>>,
        /// Cameras the user may see, as site/camera, comma-separated (default: every camera of the sites).
        #[arg(long, value_delimiter = ',')]
        cameras: Option<Vec<String>>,
        /// A viewer may watch recordings.
        #[arg(long)]
        playback: bool,
        /// Read the password from the first line of stdin.
        #[arg(long)]
        password_stdin: bool,
    },
    /// List central users.
    List,
}

/// Runs `vigil hub user ...`.
pub async fn run(config: &HubConfig, cmd: HubUserCommand) -> anyhow::Result<()> {
    let db = HubDb::open(&config.hub.postgres_url, 2).await?;
    let store = Store::open(&db).await?;
    match cmd {
        HubUserCommand::Add {
            name,
            role,
            sites,
            cameras,
            playback,
            password_stdin,
        } => {
            let role = Role::parse(&role).with_context(|| {
                format!("unknown role {role:?} (admin, operator, viewer, auditor, analyst)")
            })?;
            vigil_server::auth::users::check_username(&name)?;
            for s in sites.iter().flatten() {
                vigil_uplink::wire::check_site_name(s)?;
            }
            for c in cameras.iter().flatten() {
                if !c
                    .split_once('/')
                    .is_some_and(|(s, c)| !s.is_empty() && !c.is_empty())
                {
                    bail!("camera {c:?}: write cameras as site/camera");
                }
            }
            let password = crate::cmd::user::password(password_stdin)?;
            vigil_server::auth::password::check_strength(&name, &password)?;
            let password_hash = vigil_server::auth::password::hash(&password)?;
            let user = store
                .add_user(&NewHubUser {
                    username: name,
                    password_hash,
                    role,
                    sites: sites.filter(|s| !s.is_empty()),
                    cameras: cameras.filter(|c| !c.is_empty()),
                    playback,
                })
                .await?;
            db.audit(
                &crate::cmd::user::who(),
                "user.create",
                Some(&user.username),
                serde_json::json!({"role": role.name(), "sites": user.sites, "cameras": user.cameras}),
                Some("local"),
            )
            .await?;
            println!(
                "created {} ({}), id {}{}",
                user.username,
                role.name(),
                user.id,
                if role == Role::Admin {
                    "; they set up MFA at their first login"
                } else {
                    ""
                }
            );
        }
        HubUserCommand::List => {
            println!(
                "{:>4}  {:<24} {:<9} {:<4} {:<9} {:<20} cameras",
                "id", "user", "role", "mfa", "state", "sites"
            );
            for u in store.users().await? {
                println!(
                    "{:>4}  {:<24} {:<9} {:<4} {:<9} {:<20} {}",
                    u.id,
                    u.username,
                    u.role.name(),
                    if u.mfa { "on" } else { "off" },
                    if u.disabled { "disabled" } else { "enabled" },
                    u.sites.map_or("all".into(), |s| s.join(",")),
                    u.cameras.map_or("all".into(), |c| c.join(","))
                );
            }
        }
    }
    Ok(())
}

//! `vigil user add|list|passwd|reset-mfa|role|unlock`: manage the accounts of the web UI and API directly
//! in the security database (for the first admin without the setup token, a lost password, or an account
//! slowed down by someone else's guesses). Every change is written to the audit log as `cli:<account>`
//! from `local`, the account being the one of the real user id running the command (not `$USER`, which
//! anyone can set). It works while `vigil run` runs: both use `security.db`.

use anyhow::{Context, bail};
use std::io::{BufRead, IsTerminal, Write};
use std::path::PathBuf;
use vigil_server::auth::users::{NewUser, UserPatch};
use vigil_server::perms::Role;
use vigil_server::{Policy, Security};

/// Where the data directory is.
#[derive(clap::Args, Clone)]
pub struct DataArgs {
    /// The data directory (default: `data_dir` of the configuration file).
    #[arg(long)]
    pub data: Option<PathBuf>,
    /// The configuration file naming the data directory.
    #[arg(long, short, default_value = "vigil.toml", env = "VIGIL_CONFIG")]
    pub config: PathBuf,
}

impl DataArgs {
    /// The data directory.
    pub fn dir(&self) -> anyhow::Result<PathBuf> {
        match &self.data {
            Some(d) => Ok(d.clone()),
            None => Ok(crate::cmd::config::load_or_report(&self.config)?.data_dir),
        }
    }
}

/// `vigil user` subcommands.
#[derive(clap::Subcommand)]
pub enum UserCommand {
    /// Create a user (the password is asked for, or read from stdin with --password-stdin).
    Add {
        /// Login name.
        name: String,
        /// admin, operator, viewer, auditor or analyst.
        #[arg(long, default_value = "viewer")]
        role: String,
        /// Cameras the user may see, comma-separated (default: all).
        #[arg(long, value_delimiter = ',')]
        cameras: Option<Vec<String>>,
        /// A viewer may watch recordings.
        #[arg(long)]
        playback: bool,
        /// A viewer may export.
        #[arg(long)]
        export: bool,
        /// Read the password from the first line of stdin.
        #[arg(long)]
        password_stdin: bool,
        #[command(flatten)]
        data: DataArgs,
    },
    /// List users.
    List {
        #[command(flatten)]
        data: DataArgs,
    },
    /// Set a user's password (ends their sessions).
    Passwd {
        /// Login name.
        name: String,
        /// Read the password from the first line of stdin.
        #[arg(long)]
        password_stdin: bool,
        #[command(flatten)]
        data: DataArgs,
    },
    /// Turn a user's MFA off (they enrol again; their sessions end).
    ResetMfa {
        /// Login name.
        name: String,
        #[command(flatten)]
        data: DataArgs,
    },
    /// Change a user's role (and optionally cameras and viewer flags).
    Role {
        /// Login name.
        name: String,
        /// admin, operator, viewer, auditor or analyst.
        role: String,
        /// Cameras the user may see, comma-separated; `all` for every camera.
        #[arg(long, value_delimiter = ',')]
        cameras: Option<Vec<String>>,
        /// A viewer may watch recordings.
        #[arg(long)]
        playback: Option<bool>,
        /// A viewer may export.
        #[arg(long)]
        export: Option<bool>,
        #[command(flatten)]
        data: DataArgs,
    },
    /// Forget a user's failed logins: an account slowed down by wrong passwords (someone else's
    /// guesses, say) can log in at once again. Works while `vigil run` is running.
    Unlock {
        /// Login name.
        name: String,
        #[command(flatten)]
        data: DataArgs,
    },
}

/// Opens the security database of the data directory (users, sessions, the audit log).
pub fn open(data: &DataArgs) -> anyhow::Result<Security> {
    let dir = data.dir()?;
    Security::open_in(&dir, Policy::default())
        .with_context(|| format!("opening the security database in {}", dir.display()))
}

/// `cli:<account name of the real user id>` (`cli:uid <n>` when `/etc/passwd` does not name it).
pub fn who() -> String {
    let uid = rustix::process::getuid().as_raw();
    let name = std::fs::read_to_string("/etc/passwd")
        .ok()
        .and_then(|passwd| account_of(&passwd, uid));
    match name {
        Some(n) => format!("cli:{n}"),
        None => format!("cli:uid {uid}"),
    }
}

/// The account name of `uid` in the text of `/etc/passwd`.
fn account_of(passwd: &str, uid: u32) -> Option<String> {
    passwd.lines().find_map(|line| {
        let mut f = line.split(':');
        let name = f.next()?;
        let id = f.nth(1)?;
        (id.parse::<u32>().ok()? == uid && !name.is_empty()).then(|| name.to_string())
    })
}

/// What an audit entry says about a user's grants: role, cameras, playback and export flags.
fn grants(u: &vigil_server::auth::users::User) -> String {
    format!(
        "role {}, cameras {}, playback {}, export {}",
        u.role.name(),
        u.cameras.as_ref().map_or("all".into(), |c| c.join(",")),
        u.playback,
        u.export
    )
}

fn role(name: &str) -> anyhow::Result<Role> {
    Role::parse(name).with_context(|| {
        format!("unknown role {name:?} (admin, operator, viewer, auditor, analyst)")
    })
}

/// Reads a line from the terminal without echo.
fn read_hidden(prompt: &str) -> anyhow::Result<String> {
    use rustix::termios::{LocalModes, OptionalActions, tcgetattr, tcsetattr};
    eprint!("{prompt}");
    std::io::stderr().flush().ok();
    let stdin = std::io::stdin();
    let saved = tcgetattr(&stdin).context("reading the terminal mode")?;
    let mut quiet = saved.clone();
    quiet.local_modes.remove(LocalModes::ECHO);
    tcsetattr(&stdin, OptionalActions::Now, &quiet).context("turning echo off")?;
    let mut line = String::new();
    let read = stdin.lock().read_line(&mut line);
    let _ = tcsetattr(&stdin, OptionalActions::Now, &saved);
    eprintln!();
    read.context("reading the password")?;
    Ok(line.trim_end_matches(['\r', '\n']).to_string())
}

/// A password from the first line of stdin (`--password-stdin` or not a terminal), else asked twice without echo.
pub(crate) fn password(from_stdin: bool) -> anyhow::Result<String> {
    if from_stdin || !std::io::stdin().is_terminal() {
        let mut line = String::new();
        std::io::stdin()
            .lock()
            .read_line(&mut line)
            .context("reading the password from stdin")?;
        return Ok(line.trim_end_matches(['\r', '\n']).to_string());
    }
    let a = read_hidden("password: ")?;
    let b = read_hidden("again: ")?;
    if a != b {
        bail!("the passwords differ");
    }
    Ok(a)
}

fn find(sec: &Security, name: &str) -> anyhow::Result<vigil_server::auth::users::User> {
    sec.user_by_name(name)?
        .with_context(|| format!("no user {name:?}"))
}

/// Runs `vigil user ...`.
pub fn run(command: UserCommand) -> anyhow::Result<()> {
    match command {
        UserCommand::Add {
            name,
            role: r,
            cameras,
            playback,
            export,
            password_stdin,
            data,
        } => {
            let role = role(&r)?;
            let sec = open(&data)?;
            let password = password(password_stdin)?;
            let user = sec.add_user(&NewUser {
                username: name,
                password,
                role,
                cameras,
                playback,
                export,
            })?;
            sec.audit(
                &who(),
                "local",
                "user.create",
                &user.username,
                &grants(&user),
            )?;
            println!(
                "created {} ({}), id {}",
                user.username,
                role.name(),
                user.id
            );
        }
        UserCommand::List { data } => {
            let sec = open(&data)?;
            println!(
                "{:>4}  {:<24} {:<9} {:<4} {:<9} cameras",
                "id", "user", "role", "mfa", "state"
            );
            for u in sec.users()? {
                println!(
                    "{:>4}  {:<24} {:<9} {:<4} {:<9} {}",
                    u.id,
                    u.username,
                    u.role.name(),
                    if u.mfa { "on" } else { "off" },
                    if u.disabled { "disabled" } else { "enabled" },
                    u.cameras.map_or("all".into(), |c| c.join(","))
                );
            }
        }
        UserCommand::Passwd {
            name,
            password_stdin,
            data,
        } => {
            let sec = open(&data)?;
            let user = find(&sec, &name)?;
            let password = password(password_stdin)?;
            sec.update_user(
                user.id,
                &UserPatch {
                    password: Some(password),
                    ..UserPatch::default()
                },
            )?;
            sec.audit(&who(), "local", "user.update", &user.username, "password")?;
            println!(
                "password of {} changed; their sessions ended",
                user.username
            );
        }
        UserCommand::ResetMfa { name, data } => {
            let sec = open(&data)?;
            let user = find(&sec, &name)?;
            sec.reset_mfa(user.id)?;
            sec.audit(&who(), "local", "mfa.reset", &user.username, "")?;
            println!(
                "MFA of {} is off; they enrol again at their next login",
                user.username
            );
        }
        UserCommand::Unlock { name, data } => {
            let sec = open(&data)?;
            let user = find(&sec, &name)?;
            let before = sec.throttle(&user.username)?;
            let had = sec.unlock(&user.username)?;
            let detail = if had {
                format!(
                    "{:.0} recent failed logins forgotten; it was slowed down for {} s more",
                    before.failures.ceil(),
                    before.wait.as_secs()
                )
            } else {
                "no recent failed logins".to_string()
            };
            sec.audit(&who(), "local", "user.unlock", &user.username, &detail)?;
            println!("{}: {detail}; they can log in now", user.username);
        }
        UserCommand::Role {
            name,
            role: r,
            cameras,
            playback,
            export,
            data,
        } => {
            let role = role(&r)?;
            let sec = open(&data)?;
            let user = find(&sec, &name)?;
            let cameras = cameras.map(|c| {
                if c.len() == 1 && c[0] == "all" {
                    None
                } else {
                    Some(c)
                }
            });
            let updated = sec.update_user(
                user.id,
                &UserPatch {
                    role: Some(role),
                    cameras: cameras.clone(),
                    playback,
                    export,
                    ..UserPatch::default()
                },
            )?;
            sec.audit(
                &who(),
                "local",
                "user.update",
                &updated.username,
                &format!("was {}; now {}", grants(&user), grants(&updated)),
            )?;
            println!("{} is now {}", updated.username, role.name());
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    #[test]
    fn account_names_come_from_the_passwd_line_of_the_uid() {
        let passwd = "root:x:0:0:root:/root:/bin/bash\nalice:x:1000:1000::/home/alice:/bin/sh\n";
        assert_eq!(super::account_of(passwd, 1000).as_deref(), Some("alice"));
        assert_eq!(super::account_of(passwd, 0).as_deref(), Some("root"));
        assert_eq!(super::account_of(passwd, 7), None);
        assert_eq!(super::account_of("broken", 0), None);
    }
}

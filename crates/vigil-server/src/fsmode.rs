//! Files and folders readable by their owner only: what the server writes (security database, keys,
//! the audit anchor, TLS key, exports) is created `0600`, its folders `0700`, whatever the umask.

use crate::error::ServerError;
use std::fs::{File, OpenOptions};
use std::io::Write;
use std::path::Path;

fn io(path: &Path) -> impl FnOnce(std::io::Error) -> ServerError + '_ {
    move |source| ServerError::Io {
        path: path.to_path_buf(),
        source,
    }
}

/// Creates `dir` and its missing parents owner-only (`0700`); an existing folder is left as it is.
pub fn create_private_dir(dir: &Path) -> Result<(), ServerError> {
    let mut b = std::fs::DirBuilder::new();
    b.recursive(true);
    #[cfg(unix)]
    {
        use std::os::unix::fs::DirBuilderExt;
        b.mode(0o700);
    }
    b.create(dir).map_err(io(dir))
}

/// Opens `path` for writing, created owner-only (`0600`): a new file when `create_new` (fails if it
/// exists), else created or truncated.
pub fn private_file(path: &Path, create_new: bool) -> std::io::Result<File> {
    let mut opts = OpenOptions::new();
    opts.write(true);
    if create_new {
        opts.create_new(true);
    } else {
        opts.create(true).truncate(true);
    }
    #[cfg(unix)]
    {
        use std::os::unix::fs::OpenOptionsExt;
        opts.mode(0o600);
    }
    opts.open(path)
}

/// Writes `bytes` to `path` owner-only, synced.
pub fn write_private(path: &Path, bytes: &[u8]) -> Result<(), ServerError> {
    let mut f = private_file(path, false).map_err(io(path))?;
    f.write_all(bytes).map_err(io(path))?;
    f.sync_all().map_err(io(path))
}

/// Replaces `path` with `bytes` atomically (a synced owner-only temporary file renamed over it): a
/// reader sees the old or the new content, never a part.
pub fn replace_private(path: &Path, bytes: &[u8]) -> Result<(), ServerError> {
    let mut tmp = path.as_os_str().to_owned();
    tmp.push(".tmp");
    let tmp = std::path::PathBuf::from(tmp);
    write_private(&tmp, bytes)?;
    std::fs::rename(&tmp, path).map_err(io(path))
}

/// Makes an existing file owner-only.
pub fn restrict_to_owner(path: &Path) -> Result<(), ServerError> {
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        std::fs::set_permissions(path, std::fs::Permissions::from_mode(0o600)).map_err(io(path))?;
    }
    #[cfg(not(unix))]
    let _ = path;
    Ok(())
}

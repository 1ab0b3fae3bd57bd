//! Files and folders readable by their owner only: keys, security databases, anchors, TLS keys and
//! exports are created `0600`, their folders `0700`, whatever the umask.

use crate::KeyError;
use std::fs::{File, OpenOptions};
use std::io::Write;
use std::path::{Path, PathBuf};

fn io(path: &Path) -> impl FnOnce(std::io::Error) -> KeyError + '_ {
    move |source| KeyError::Io {
        path: path.to_path_buf(),
        source,
    }
}

/// Creates `dir` and its missing parents owner-only (`0700`); an existing folder is left as it is.
pub fn create_private_dir(dir: &Path) -> Result<(), KeyError> {
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
pub fn write_private(path: &Path, bytes: &[u8]) -> Result<(), KeyError> {
    let mut f = private_file(path, false).map_err(io(path))?;
    f.write_all(bytes).map_err(io(path))?;
    f.sync_all().map_err(io(path))
}

/// Replaces `path` with `bytes` atomically and durably (a synced owner-only temporary file renamed
/// over it, then the folder synced): a reader sees the old or the new content, never a part, and a
/// power cut after the return keeps the new one.
pub fn replace_private(path: &Path, bytes: &[u8]) -> Result<(), KeyError> {
    let mut tmp = path.as_os_str().to_owned();
    tmp.push(".tmp");
    let tmp = PathBuf::from(tmp);
    // A failed write (a full disk) leaves the old file as it was, and no partial temporary file.
    if let Err(e) = write_private(&tmp, bytes) {
        let _ = std::fs::remove_file(&tmp);
        return Err(e);
    }
    std::fs::rename(&tmp, path).map_err(io(path))?;
    sync_parent(path)
}

/// fsyncs the folder holding `path`, so that a created, renamed or removed entry in it is durable.
pub fn sync_parent(path: &Path) -> Result<(), KeyError> {
    let dir = path
        .parent()
        .filter(|p| !p.as_os_str().is_empty())
        .unwrap_or(Path::new("."));
    File::open(dir).and_then(|d| d.sync_all()).map_err(io(dir))
}

/// Makes an existing file owner-only.
pub fn restrict_to_owner(path: &Path) -> Result<(), KeyError> {
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        std::fs::set_permissions(path, std::fs::Permissions::from_mode(0o600)).map_err(io(path))?;
    }
    #[cfg(not(unix))]
    let _ = path;
    Ok(())
}

/// Opens `path` for writing without truncating it, created owner-only when absent (lock files).
pub fn private_file_keep(path: &Path) -> std::io::Result<File> {
    let mut opts = OpenOptions::new();
    opts.write(true).create(true).truncate(false);
    #[cfg(unix)]
    {
        use std::os::unix::fs::OpenOptionsExt;
        opts.mode(0o600);
    }
    opts.open(path)
}

//! Files and directories that hold secrets (tokens in the config and registration, the
//! database with sealed secrets and message history, a network's session keys): owner-only
//! from the moment they exist, files `0600` and directories `0700`, so no other local user
//! reads them even briefly. A file or directory that already exists keeps its owner bits and
//! loses any group and other bits before anything is written into it; it never gains any.
//!
//! On non-Unix systems these are the plain `std::fs` operations.

use std::fs::{File, OpenOptions};
use std::io::{self, Write};
use std::path::Path;

/// Mode of private files.
pub const FILE_MODE: u32 = 0o600;
/// Mode of private directories.
pub const DIR_MODE: u32 = 0o700;

/// Writes `contents` to `path`, creating it `0600`, or first narrowing an existing file to at
/// most `0600` (through the open handle, so a rename meanwhile cannot redirect the change).
pub fn write_private(path: impl AsRef<Path>, contents: impl AsRef<[u8]>) -> io::Result<()> {
    let mut file = open_private(path.as_ref(), true)?;
    file.write_all(contents.as_ref())?;
    file.sync_all()
}

/// Makes sure `path` exists as a private file without touching its contents: created empty
/// and `0600` if missing (for files another library then fills, such as SQLite's), else
/// narrowed to at most `0600`.
pub fn ensure_private_file(path: impl AsRef<Path>) -> io::Result<()> {
    let path = path.as_ref();
    let mut options = OpenOptions::new();
    options.write(true).create_new(true);
    #[cfg(unix)]
    std::os::unix::fs::OpenOptionsExt::mode(&mut options, FILE_MODE);
    match options.open(path) {
        Ok(_) => Ok(()),
        // Existing (perhaps read-only) file: only its mode changes, which needs no write access.
        Err(e) if e.kind() == io::ErrorKind::AlreadyExists => narrow_path(path, FILE_MODE),
        Err(e) => Err(e),
    }
}

/// Creates `path` and any missing parents `0700`; an existing `path` is narrowed to at most
/// `0700` (existing parents are left alone: they may be shared, like `/var/lib`).
pub fn create_private_dir(path: impl AsRef<Path>) -> io::Result<()> {
    let path = path.as_ref();
    if path.is_dir() {
        return narrow_path(path, DIR_MODE);
    }
    let mut builder = std::fs::DirBuilder::new();
    builder.recursive(true);
    #[cfg(unix)]
    std::os::unix::fs::DirBuilderExt::mode(&mut builder, DIR_MODE);
    builder.create(path)
}

/// Whether `path` is readable or writable by anyone but its owner (for warnings about files
/// the admin made, such as `secrets_key_file`). `false` where modes do not exist.
pub fn is_exposed(path: impl AsRef<Path>) -> io::Result<bool> {
    let meta = std::fs::metadata(path)?;
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        Ok(meta.permissions().mode() & 0o077 != 0)
    }
    #[cfg(not(unix))]
    {
        let _ = meta;
        Ok(false)
    }
}

fn open_private(path: &Path, truncate: bool) -> io::Result<File> {
    let mut options = OpenOptions::new();
    options.write(true).create(true).truncate(truncate);
    #[cfg(unix)]
    std::os::unix::fs::OpenOptionsExt::mode(&mut options, FILE_MODE);
    let file = options.open(path)?;
    narrow(&file, FILE_MODE)?;
    Ok(file)
}

/// Clears every permission bit of `file` outside `max` (the mode given at creation already
/// fits; an existing file may not).
fn narrow(file: &File, max: u32) -> io::Result<()> {
    match narrowed(file.metadata()?, max) {
        Some(permissions) => file.set_permissions(permissions),
        None => Ok(()),
    }
}

/// [`narrow`] by path, for what is not opened for writing (directories, files others fill).
fn narrow_path(path: &Path, max: u32) -> io::Result<()> {
    match narrowed(std::fs::metadata(path)?, max) {
        Some(permissions) => std::fs::set_permissions(path, permissions),
        None => Ok(()),
    }
}

/// The permissions without the bits outside `max`; `None` if there are none to clear.
fn narrowed(meta: std::fs::Metadata, max: u32) -> Option<std::fs::Permissions> {
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        let mode = meta.permissions().mode() & 0o7777;
        (mode & !max != 0).then(|| std::fs::Permissions::from_mode(mode & max))
    }
    #[cfg(not(unix))]
    {
        let _ = (meta, max);
        None
    }
}

#[cfg(all(test, unix))]
mod tests {
    use std::os::unix::fs::PermissionsExt;

    use super::*;

    fn mode(path: &Path) -> u32 {
        std::fs::metadata(path).unwrap().permissions().mode() & 0o7777
    }

    #[test]
    fn new_files_and_dirs_are_owner_only() {
        let tmp = tempfile::tempdir().unwrap();
        let dir = tmp.path().join("a/b");
        create_private_dir(&dir).unwrap();
        assert_eq!(mode(&dir), 0o700);
        assert_eq!(mode(&tmp.path().join("a")), 0o700, "created parents too");
        let file = dir.join("secret");
        write_private(&file, "token").unwrap();
        assert_eq!(mode(&file), 0o600);
        assert_eq!(std::fs::read_to_string(&file).unwrap(), "token");
        let empty = dir.join("db");
        ensure_private_file(&empty).unwrap();
        assert_eq!(mode(&empty), 0o600);
        assert!(!is_exposed(&file).unwrap());
    }

    #[test]
    fn existing_files_are_narrowed_never_widened() {
        let tmp = tempfile::tempdir().unwrap();
        let file = tmp.path().join("config.yaml");
        std::fs::write(&file, "old text that is longer").unwrap();
        std::fs::set_permissions(&file, std::fs::Permissions::from_mode(0o644)).unwrap();
        assert!(is_exposed(&file).unwrap());
        write_private(&file, "new").unwrap();
        assert_eq!(mode(&file), 0o600);
        assert_eq!(std::fs::read_to_string(&file).unwrap(), "new");

        std::fs::set_permissions(&file, std::fs::Permissions::from_mode(0o440)).unwrap();
        ensure_private_file(&file).unwrap();
        assert_eq!(mode(&file), 0o400, "a read-only file stays read-only");
        std::fs::set_permissions(&file, std::fs::Permissions::from_mode(0o640)).unwrap();
        ensure_private_file(&file).unwrap();
        assert_eq!(mode(&file), 0o600);
        assert_eq!(
            std::fs::read_to_string(&file).unwrap(),
            "new",
            "contents kept"
        );

        let dir = tmp.path().join("sessions");
        std::fs::create_dir(&dir).unwrap();
        std::fs::set_permissions(&dir, std::fs::Permissions::from_mode(0o755)).unwrap();
        create_private_dir(&dir).unwrap();
        assert_eq!(mode(&dir), 0o700);
        std::fs::set_permissions(&dir, std::fs::Permissions::from_mode(0o500)).unwrap();
        create_private_dir(&dir).unwrap();
        assert_eq!(mode(&dir), 0o500, "never widened");
    }
}

//! The private directory holding the default attach socket when
//! `--attach-socket` is not given but executors are supervised: under
//! `$XDG_RUNTIME_DIR` if set, else the system temp dir, named after this
//! process, created with mode 0700 so only this user can reach the socket.
//! Directories left by node monitors that died without cleaning up (pid
//! gone) are removed when the next one starts.

use std::ffi::OsString;
use std::io;
use std::os::unix::fs::{DirBuilderExt, FileTypeExt, MetadataExt};
use std::path::{Path, PathBuf};

/// The socket's file name inside the private directory.
pub const SOCKET_FILE_NAME: &str = "attach.sock";
/// Names tried before giving up (`passer-<pid>`, `passer-<pid>-1`, ...).
const MAX_NAME_ATTEMPTS: u32 = 16;

/// Where private directories go: `runtime_dir_opt` (`$XDG_RUNTIME_DIR`) when
/// set and not empty, else `temp_dir`.
pub fn parent_dir(runtime_dir_opt: Option<OsString>, temp_dir: PathBuf) -> PathBuf {
    runtime_dir_opt.filter(|dir| !dir.is_empty()).map(PathBuf::from).unwrap_or(temp_dir)
}

/// Creates a fresh directory `passer-<pid>[-n]` under `parent` with mode
/// 0700 and returns its path. An existing directory is never reused, so a
/// leftover from another process cannot be taken over.
pub fn create_private_dir(parent: &Path, pid: u32) -> io::Result<PathBuf> {
    let mut builder = std::fs::DirBuilder::new();
    builder.mode(0o700);
    for attempt in 0..MAX_NAME_ATTEMPTS {
        let name = if attempt == 0 { format!("passer-{pid}") } else { format!("passer-{pid}-{attempt}") };
        let candidate = parent.join(name);
        match builder.create(&candidate) {
            Ok(()) => return Ok(candidate),
            Err(error) if error.kind() == io::ErrorKind::AlreadyExists => continue,
            Err(error) => return Err(error),
        }
    }
    Err(io::Error::new(
        io::ErrorKind::AlreadyExists,
        format!("{MAX_NAME_ATTEMPTS} directories named passer-{pid}* already exist in {}", parent.display()),
    ))
}

/// Removes directories under `parent` made by [`create_private_dir`] for a
/// process that no longer runs, owned by the same user as `own_dir`, and
/// holding nothing but a socket. Returns how many were removed.
pub fn remove_stale_dirs(parent: &Path, own_dir: &Path) -> usize {
    let Ok(own_uid) = std::fs::metadata(own_dir).map(|metadata| metadata.uid()) else { return 0 };
    let Ok(entries) = std::fs::read_dir(parent) else { return 0 };
    let mut removed = 0;
    for entry in entries.flatten() {
        let Some(pid) = entry.file_name().to_str().and_then(pid_of_dir_name) else { continue };
        let path = entry.path();
        let owned_dir = std::fs::symlink_metadata(&path).is_ok_and(|m| m.is_dir() && m.uid() == own_uid);
        if !owned_dir || path == own_dir || Path::new(&format!("/proc/{pid}")).exists() {
            continue;
        }
        let socket = path.join(SOCKET_FILE_NAME);
        if std::fs::symlink_metadata(&socket).is_ok_and(|m| m.file_type().is_socket()) {
            let _ = std::fs::remove_file(&socket);
        }
        if std::fs::remove_dir(&path).is_ok() {
            removed += 1;
        }
    }
    removed
}

/// The pid in a private directory's name (`passer-<pid>` or `passer-<pid>-<n>`).
fn pid_of_dir_name(name: &str) -> Option<u32> {
    let rest = name.strip_prefix("passer-")?;
    let (pid, attempt_opt) = match rest.split_once('-') {
        Some((pid, attempt)) => (pid, Some(attempt)),
        None => (rest, None),
    };
    if attempt_opt.is_some_and(|attempt| attempt.parse::<u32>().is_err()) {
        return None;
    }
    pid.parse().ok()
}

#[cfg(test)]
mod tests {
    use std::os::unix::fs::PermissionsExt;

    use super::*;

    #[test]
    fn parent_prefers_a_set_runtime_dir() {
        let temp = PathBuf::from("/tmp");
        assert_eq!(parent_dir(Some("/run/user/1".into()), temp.clone()), PathBuf::from("/run/user/1"));
        assert_eq!(parent_dir(Some("".into()), temp.clone()), temp);
        assert_eq!(parent_dir(None, temp.clone()), temp);
    }

    #[test]
    fn dir_names_give_their_pid() {
        assert_eq!(pid_of_dir_name("passer-42"), Some(42));
        assert_eq!(pid_of_dir_name("passer-42-3"), Some(42));
        assert_eq!(pid_of_dir_name("passer-test-42"), None);
        assert_eq!(pid_of_dir_name("passer-42-x"), None);
        assert_eq!(pid_of_dir_name("other-42"), None);
    }

    #[test]
    fn stale_dirs_of_dead_pids_are_removed_and_others_kept() {
        let parent = std::env::temp_dir().join(format!("passer-stale-dir-test-{}", std::process::id()));
        std::fs::create_dir_all(&parent).expect("test parent");
        let own = create_private_dir(&parent, std::process::id()).expect("own");
        let dead_pid = u32::MAX - 1;
        let dead = create_private_dir(&parent, dead_pid).expect("dead");
        drop(std::os::unix::net::UnixListener::bind(dead.join(SOCKET_FILE_NAME)).expect("stale socket"));
        let busy = create_private_dir(&parent, dead_pid).expect("busy");
        std::fs::write(busy.join("notes"), b"keep").expect("a file");
        assert_eq!(remove_stale_dirs(&parent, &own), 1);
        assert!(!dead.exists() && busy.exists() && own.exists());
        std::fs::remove_dir_all(&parent).expect("cleanup");
    }

    #[test]
    fn private_dirs_are_fresh_and_owner_only() {
        let parent = std::env::temp_dir().join(format!("passer-socket-dir-test-{}", std::process::id()));
        std::fs::create_dir_all(&parent).expect("test parent");
        let first = create_private_dir(&parent, 7).expect("first");
        let second = create_private_dir(&parent, 7).expect("second");
        assert_ne!(first, second, "an existing directory is not reused");
        let mode = std::fs::metadata(&first).expect("metadata").permissions().mode() & 0o777;
        assert_eq!(mode & 0o077, 0, "group and others have no access: {mode:o}");
        std::fs::remove_dir_all(&parent).expect("cleanup");
    }
}

//! The Unix-domain-socket listener local executors attach at
//! (`--attach-socket`, or a private default when executors are supervised).
//! It serves only `Executors` (and health) and checks the token like every
//! other listener; the socket file is mode 0600, so only this user may
//! connect. A stale socket file is replaced at start, and the file (and
//! the private directory, if it made one) is removed when it is dropped.

use std::os::unix::fs::{FileTypeExt, PermissionsExt};
use std::path::{Path, PathBuf};
use std::sync::Arc;

use anyhow::{bail, Context};
use passer_server::security::TokenLayer;
use tokio::net::{UnixListener, UnixStream};
use tokio::task::JoinHandle;
use tokio_stream::wrappers::UnixListenerStream;
use tonic::transport::Server;

use crate::config::AttachSocketPlan;
use crate::executors::attach::executors_server;
use crate::executors::supervisor::ExitLog;
use crate::monitor::Monitor;
use crate::socket_dir::{create_private_dir, parent_dir, remove_stale_dirs, SOCKET_FILE_NAME};

/// Permissions of the socket file: the node monitor's user only.
const SOCKET_MODE: u32 = 0o600;

/// A served attach socket; dropping it stops serving and removes the file.
pub struct AttachSocket {
    path: PathBuf,
    private_dir_opt: Option<PathBuf>,
    task: JoinHandle<()>,
}

impl AttachSocket {
    /// The address executors attach at: `unix:/absolute/path`.
    pub fn address(&self) -> String {
        format!("unix:{}", self.path.display())
    }
}

impl Drop for AttachSocket {
    fn drop(&mut self) {
        self.task.abort();
        let _ = std::fs::remove_file(&self.path);
        if let Some(dir) = &self.private_dir_opt {
            let _ = std::fs::remove_dir(dir);
        }
    }
}

/// Serves the attach socket `plan` asks for, if any. A private default
/// that cannot be made is logged and skipped (executors then attach over
/// TCP); a socket named by `--attach-socket` that cannot be served is an error.
pub async fn start_attach_socket(
    plan: AttachSocketPlan,
    monitor: Arc<Monitor>,
    exits: ExitLog,
    token_layer: TokenLayer,
) -> anyhow::Result<Option<AttachSocket>> {
    match plan {
        AttachSocketPlan::Off => Ok(None),
        AttachSocketPlan::At(path) => {
            let path = std::path::absolute(&path).with_context(|| format!("--attach-socket {}", path.display()))?;
            serve(path, None, monitor, exits, token_layer).await.map(Some)
        }
        AttachSocketPlan::Private => {
            let parent = parent_dir(std::env::var_os("XDG_RUNTIME_DIR"), std::env::temp_dir());
            let dir = match create_private_dir(&parent, std::process::id()) {
                Ok(dir) => dir,
                Err(error) => {
                    tracing::warn!(parent = %parent.display(), %error, "cannot make a private attach socket directory; supervised executors attach over TCP");
                    return Ok(None);
                }
            };
            let removed = remove_stale_dirs(&parent, &dir);
            if removed > 0 {
                tracing::info!(removed, parent = %parent.display(), "removed attach socket directories of node monitors that are gone");
            }
            let path = dir.join(SOCKET_FILE_NAME);
            match serve(path, Some(dir.clone()), monitor, exits, token_layer).await {
                Ok(socket) => Ok(Some(socket)),
                Err(error) => {
                    let _ = std::fs::remove_dir(&dir);
                    tracing::warn!(
                        error = format!("{error:#}"),
                        "cannot serve the default attach socket; supervised executors attach over TCP"
                    );
                    Ok(None)
                }
            }
        }
    }
}

/// Binds `path` (replacing a stale socket) and serves `Executors` on it.
async fn serve(
    path: PathBuf,
    private_dir_opt: Option<PathBuf>,
    monitor: Arc<Monitor>,
    exits: ExitLog,
    token_layer: TokenLayer,
) -> anyhow::Result<AttachSocket> {
    let shown = path.display().to_string();
    remove_stale_socket(&path).await?;
    let listener = UnixListener::bind(&path).with_context(|| format!("cannot bind --attach-socket {shown}"))?;
    let permissions = std::fs::Permissions::from_mode(SOCKET_MODE);
    if let Err(error) = std::fs::set_permissions(&path, permissions) {
        let _ = std::fs::remove_file(&path);
        return Err(error).with_context(|| format!("cannot chmod --attach-socket {shown}"));
    }
    let (_, health_service) = tonic_health::server::health_reporter();
    let router =
        Server::builder().layer(token_layer).add_service(health_service).add_service(executors_server(monitor, exits));
    let incoming = UnixListenerStream::new(listener);
    let task = tokio::spawn(async move {
        if let Err(error) = router.serve_with_incoming(incoming).await {
            tracing::error!(%error, "attach socket failed");
        }
    });
    tracing::info!(socket = %shown, "executors attach here over a unix socket (mode 0600; the token is checked)");
    Ok(AttachSocket { path, private_dir_opt, task })
}

/// Removes a socket file left by a process that is gone. Refuses to touch
/// anything that is not a socket, or a socket another process still serves.
async fn remove_stale_socket(path: &Path) -> anyhow::Result<()> {
    let shown = path.display();
    let metadata = match std::fs::symlink_metadata(path) {
        Ok(metadata) => metadata,
        Err(error) if error.kind() == std::io::ErrorKind::NotFound => return Ok(()),
        Err(error) => return Err(error).with_context(|| format!("cannot inspect --attach-socket {shown}")),
    };
    if !metadata.file_type().is_socket() {
        bail!("--attach-socket {shown} exists and is not a socket; not replacing it");
    }
    if UnixStream::connect(path).await.is_ok() {
        bail!("--attach-socket {shown} is in use by another process");
    }
    tracing::info!(socket = %shown, "removing a stale attach socket");
    std::fs::remove_file(path).with_context(|| format!("cannot remove the stale --attach-socket {shown}"))
}

//! Logging set-up shared by every passer binary: `tracing` with an
//! `RUST_LOG`-style filter (default given by the binary), a pretty or JSON
//! format, on stderr and optionally also to a file rotated daily; events a
//! task's handler emits also go to that task's logs.

use std::io::IsTerminal;
use std::path::Path;

use tracing_appender::non_blocking::WorkerGuard;
use tracing_subscriber::layer::SubscriberExt;
use tracing_subscriber::util::SubscriberInitExt;
use tracing_subscriber::{EnvFilter, Layer, Registry};

/// How log lines look.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub enum LogFormat {
    /// Human-readable lines.
    #[default]
    Pretty,
    /// One JSON object per line.
    Json,
}

impl std::str::FromStr for LogFormat {
    type Err = String;

    fn from_str(text: &str) -> Result<Self, Self::Err> {
        match text {
            "pretty" => Ok(Self::Pretty),
            "json" => Ok(Self::Json),
            other => Err(format!("log format must be pretty or json, not {other:?}")),
        }
    }
}

/// Keeps the file writer flushing; drop it only at exit.
#[must_use = "dropping the guard stops writing the log file"]
pub struct LogGuard(#[allow(dead_code)] Option<WorkerGuard>);

/// Installs the global subscriber once; later calls do nothing. Logs go to
/// stderr so stdout stays free for results.
pub fn init_tracing(format: LogFormat, default_directive: &str) {
    let _guard = init_logging(format, default_directive, None);
}

type BoxedLayer = Box<dyn Layer<Registry> + Send + Sync>;

fn format_layer<W>(format: LogFormat, writer: W, ansi: bool) -> BoxedLayer
where
    W: for<'w> tracing_subscriber::fmt::MakeWriter<'w> + Send + Sync + 'static,
{
    let layer = tracing_subscriber::fmt::layer().with_writer(writer).with_ansi(ansi);
    match format {
        LogFormat::Pretty => layer.boxed(),
        // Spans (job_id, task_id) go with every event, so one job can be
        // followed across processes by filtering on its id.
        LogFormat::Json => layer.json().with_current_span(true).with_span_list(true).boxed(),
    }
}

/// Installs the global subscriber: stderr, plus `log_file` when given
/// (rotated daily: `<file>.YYYY-MM-DD` in the file's directory). Returns a
/// guard to keep for the life of the process.
pub fn init_logging(format: LogFormat, default_directive: &str, log_file: Option<&Path>) -> std::io::Result<LogGuard> {
    let filter = EnvFilter::try_from_default_env().unwrap_or_else(|_| EnvFilter::new(default_directive));
    let mut layers: Vec<BoxedLayer> = vec![
        format_layer(format, std::io::stderr, std::io::stderr().is_terminal()),
        // Events inside a task's handler (built-in executors) also go to
        // that task's logs.
        passer::task_logs::TaskLogLayer.boxed(),
    ];
    let mut guard = None;
    if let Some(path) = log_file {
        let directory = path.parent().filter(|d| !d.as_os_str().is_empty()).unwrap_or_else(|| Path::new("."));
        let name = path.file_name().ok_or_else(|| {
            std::io::Error::new(
                std::io::ErrorKind::InvalidInput,
                format!("--log-file {} names no file", path.display()),
            )
        })?;
        std::fs::create_dir_all(directory)?;
        let appender = tracing_appender::rolling::Builder::new()
            .rotation(tracing_appender::rolling::Rotation::DAILY)
            .filename_prefix(name.to_string_lossy())
            .build(directory)
            .map_err(|e| std::io::Error::other(format!("cannot open --log-file {}: {e}", path.display())))?;
        let (writer, worker) = tracing_appender::non_blocking(appender);
        layers.push(format_layer(format, writer, false));
        guard = Some(worker);
    }
    let _ = tracing_subscriber::registry().with(layers).with(filter).try_init();
    Ok(LogGuard(guard))
}

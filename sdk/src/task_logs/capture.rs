//! Routing what a running handler writes into its own task's logs: the
//! executor runtime runs each handler inside a [`LogSink`] scope (a tokio
//! task-local), and [`log`] and the [`TaskLogLayer`] for `tracing` append
//! to the sink of the task being polled. Outside any task they do nothing,
//! so a process's own logging is unaffected.
//!
//! Only code polled by the handler's own future is captured: work a
//! handler moves to `tokio::spawn` or a thread of its own is not.

use std::fmt::Write as _;
use std::sync::Arc;

use parking_lot::Mutex;
use tracing::field::{Field, Visit};
use tracing::{Event, Subscriber};
use tracing_subscriber::layer::Context;
use tracing_subscriber::Layer;

use super::tail::LogTail;

tokio::task_local! {
    static CURRENT: LogSink;
}

/// One task attempt's logs, shared by its handler's scope and the runtime
/// that reports them (so a panicking or timed-out handler keeps its logs).
#[derive(Debug, Clone)]
pub struct LogSink(Arc<Mutex<LogTail>>);

impl LogSink {
    /// An empty sink keeping at most `cap` bytes.
    pub fn new(cap: usize) -> Self {
        Self(Arc::new(Mutex::new(LogTail::new(cap))))
    }

    /// Runs `future` with this sink as the current task's logs.
    pub async fn scope<F: std::future::Future>(&self, future: F) -> F::Output {
        CURRENT.scope(self.clone(), future).await
    }

    /// The sink of the task whose handler is running here, if any: for work
    /// the handler hands to a spawned task (such as a pipe reader).
    pub fn current() -> Option<LogSink> {
        CURRENT.try_with(LogSink::clone).ok()
    }

    /// Appends raw `bytes` (a stream's chunk; lines may span chunks).
    pub fn write(&self, bytes: &[u8]) {
        self.0.lock().push(bytes);
    }

    /// Appends `text` as one record, ending it with a newline if it has none.
    pub fn append(&self, text: &str) {
        let mut tail = self.0.lock();
        tail.push(text.as_bytes());
        if !text.ends_with('\n') {
            tail.push(b"\n");
        }
    }

    /// Takes what was written so far (see [`LogTail::finish`]), leaving the
    /// sink empty.
    pub fn take(&self) -> String {
        let mut tail = self.0.lock();
        let cap = tail.cap();
        std::mem::replace(&mut *tail, LogTail::new(cap)).finish()
    }
}

/// Appends `text` to the logs of the task whose handler is running here;
/// returns false (and drops the text) outside any task.
pub fn log(text: &str) -> bool {
    CURRENT.try_with(|sink| sink.append(text)).is_ok()
}

/// A `tracing` layer that copies each event emitted inside a task's
/// handler into that task's logs, as `LEVEL target: message field=value`.
/// Add it to the executor process's subscriber; the process's filter
/// decides which events exist at all.
///
/// ```no_run
/// use tracing_subscriber::layer::SubscriberExt;
/// use tracing_subscriber::util::SubscriberInitExt;
///
/// tracing_subscriber::registry().with(passer::task_logs::TaskLogLayer).init();
/// ```
#[derive(Debug, Clone, Copy, Default)]
pub struct TaskLogLayer;

impl<S: Subscriber> Layer<S> for TaskLogLayer {
    fn on_event(&self, event: &Event<'_>, _context: Context<'_, S>) {
        let _ = CURRENT.try_with(|sink| sink.append(&format_event(event)));
    }
}

/// One event as a log line.
fn format_event(event: &Event<'_>) -> String {
    let metadata = event.metadata();
    let mut fields = FieldText::default();
    event.record(&mut fields);
    let mut line = format!("{} {}: {}", metadata.level(), metadata.target(), fields.message);
    line.push_str(&fields.rest);
    line
}

/// An event's message and its other fields as ` name=value` pairs.
#[derive(Default)]
struct FieldText {
    message: String,
    rest: String,
}

impl Visit for FieldText {
    fn record_str(&mut self, field: &Field, value: &str) {
        if field.name() == "message" {
            self.message.push_str(value);
        } else {
            let _ = write!(self.rest, " {}={value}", field.name());
        }
    }

    fn record_debug(&mut self, field: &Field, value: &dyn std::fmt::Debug) {
        if field.name() == "message" {
            let _ = write!(self.message, "{value:?}");
        } else {
            let _ = write!(self.rest, " {}={value:?}", field.name());
        }
    }
}

#[cfg(test)]
mod tests {
    use tracing_subscriber::layer::SubscriberExt;

    use super::*;

    #[tokio::test]
    async fn each_task_gets_its_own_lines_and_none_leak_outside() {
        let subscriber = tracing_subscriber::registry().with(TaskLogLayer);
        let _default = tracing::subscriber::set_default(subscriber);
        let first = LogSink::new(1024);
        let second = LogSink::new(1024);
        let one = first.scope(async {
            tracing::info!(step = 1, "from the first");
            tokio::task::yield_now().await;
            log("explicit");
        });
        let two = second.scope(async {
            tokio::task::yield_now().await;
            tracing::warn!("from the second");
        });
        tokio::join!(one, two);
        assert!(!log("outside"), "no task is running here");
        let first_text = first.take();
        assert!(first_text.starts_with("INFO "), "{first_text:?}");
        assert!(first_text.contains(": from the first step=1\nexplicit\n"), "{first_text:?}");
        assert!(second.take().ends_with(": from the second\n"));
        assert_eq!(first.take(), "", "take empties the sink");
    }
}

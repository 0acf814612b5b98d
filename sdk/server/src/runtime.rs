//! Builds the tokio runtime for passer binaries. On small VMs a
//! current-thread runtime is often faster than a multi-thread one (thread
//! wake-ups are dear), so the flavour is a flag rather than a guess.

/// A current-thread runtime for `worker_threads == 0`, else a multi-thread
/// runtime with that many workers.
pub fn build(worker_threads: usize) -> std::io::Result<tokio::runtime::Runtime> {
    if worker_threads == 0 {
        tokio::runtime::Builder::new_current_thread().enable_all().build()
    } else {
        tokio::runtime::Builder::new_multi_thread().worker_threads(worker_threads).enable_all().build()
    }
}

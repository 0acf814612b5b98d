//! The standard `process_*` series every Prometheus client exports (CPU,
//! memory, file descriptors, threads, start time), read from `/proc/self`
//! at scrape time, and `passer_build_info` naming the component and version.

use prometheus_client::collector::Collector;
use prometheus_client::encoding::{DescriptorEncoder, EncodeMetric};
use prometheus_client::metrics::counter::ConstCounter;
use prometheus_client::metrics::gauge::ConstGauge;
use prometheus_client::registry::Registry;

/// Registers the process collector and the build info of `component`
/// (`scheduler`, `node-monitor`) in `registry`.
pub fn register_process_metrics(registry: &mut Registry, component: &'static str) {
    registry.register_collector(Box::new(ProcessCollector { component }));
    registry.register_collector(Box::new(crate::incoming::stats::ConnectionCollector));
}

/// Reads `/proc/self` whenever it is scraped.
#[derive(Debug)]
struct ProcessCollector {
    component: &'static str,
}

/// One reading of the process' resources.
struct ProcessReading {
    cpu_seconds: f64,
    resident_bytes: i64,
    virtual_bytes: i64,
    start_time_seconds: f64,
    threads: i64,
    open_fds: Option<i64>,
    max_fds: Option<i64>,
}

fn read_process() -> procfs::ProcResult<ProcessReading> {
    let me = procfs::process::Process::myself()?;
    let stat = me.stat()?;
    let ticks = procfs::ticks_per_second() as f64;
    let boot_seconds = procfs::boot_time_secs()? as f64;
    let open_fds = me.fd_count().ok().map(|count| count as i64);
    let max_fds = me.limits().ok().and_then(|limits| match limits.max_open_files.soft_limit {
        procfs::process::LimitValue::Value(value) => i64::try_from(value).ok(),
        procfs::process::LimitValue::Unlimited => None,
    });
    Ok(ProcessReading {
        cpu_seconds: (stat.utime + stat.stime) as f64 / ticks,
        resident_bytes: i64::try_from(stat.rss * procfs::page_size()).unwrap_or(i64::MAX),
        virtual_bytes: i64::try_from(stat.vsize).unwrap_or(i64::MAX),
        start_time_seconds: boot_seconds + stat.starttime as f64 / ticks,
        threads: stat.num_threads,
        open_fds,
        max_fds,
    })
}

fn gauge<N>(encoder: &mut DescriptorEncoder<'_>, name: &str, help: &str, value: N) -> std::fmt::Result
where
    ConstGauge<N>: EncodeMetric,
{
    let metric = ConstGauge::new(value);
    metric.encode(encoder.encode_descriptor(name, help, None, metric.metric_type())?)
}

impl Collector for ProcessCollector {
    fn encode(&self, mut encoder: DescriptorEncoder<'_>) -> std::fmt::Result {
        let info_labels = [("component", self.component), ("version", env!("CARGO_PKG_VERSION"))];
        let info = ConstGauge::new(1_i64);
        let mut family = encoder.encode_descriptor(
            "passer_build_info",
            "The component and version of this server",
            None,
            info.metric_type(),
        )?;
        info.encode(family.encode_family(&info_labels)?)?;

        let Ok(reading) = read_process() else { return Ok(()) };
        let cpu = ConstCounter::new(reading.cpu_seconds);
        cpu.encode(encoder.encode_descriptor(
            "process_cpu_seconds",
            "Total user and system CPU time spent in seconds",
            None,
            cpu.metric_type(),
        )?)?;
        gauge(&mut encoder, "process_resident_memory_bytes", "Resident memory size in bytes", reading.resident_bytes)?;
        gauge(&mut encoder, "process_virtual_memory_bytes", "Virtual memory size in bytes", reading.virtual_bytes)?;
        gauge(
            &mut encoder,
            "process_start_time_seconds",
            "Start time of the process since unix epoch in seconds",
            reading.start_time_seconds,
        )?;
        gauge(&mut encoder, "process_threads", "Number of OS threads in the process", reading.threads)?;
        if let Some(open_fds) = reading.open_fds {
            gauge(&mut encoder, "process_open_fds", "Number of open file descriptors", open_fds)?;
        }
        if let Some(max_fds) = reading.max_fds {
            gauge(&mut encoder, "process_max_fds", "Maximum number of open file descriptors", max_fds)?;
        }
        Ok(())
    }
}

//! A large submission is refused before it is decoded (issue 16, item 5):
//! a ~67 MB `SubmitJob` of 5,000,000 tiny tasks, sent by a raw gRPC client
//! (no SDK splitting), gets `INVALID_ARGUMENT` naming the task limit, and
//! the scheduler's memory stays near its baseline, at its peak and after.
//! Before the scan it decoded all 5,000,000 tasks first: ~900 MB peak.

use passer_tests::Within;
use std::time::Duration;

use passer::{JobSpec, TaskSpec};
use passer_proto::pb;
use passer_tests::Cluster;
use prost::bytes::BufMut;
use tonic::codegen::http::uri::PathAndQuery;
use tonic::Code;

/// Tasks in the big request: 50 times the default `--max-tasks-per-job`.
const TASKS: usize = 5_000_000;

/// A message whose encoding is given as bytes, so the test can send a
/// request no Rust struct of this process has to hold task by task.
#[derive(Debug, Default, Clone)]
struct Preencoded(Vec<u8>);

impl prost::Message for Preencoded {
    fn encode_raw(&self, buf: &mut impl BufMut) {
        buf.put_slice(&self.0);
    }

    fn merge_field(
        &mut self,
        tag: u32,
        wire_type: prost::encoding::WireType,
        buf: &mut impl prost::bytes::Buf,
        ctx: prost::encoding::DecodeContext,
    ) -> Result<(), prost::DecodeError> {
        prost::encoding::skip_field(wire_type, tag, buf, ctx)
    }

    fn encoded_len(&self) -> usize {
        self.0.len()
    }

    fn clear(&mut self) {
        self.0.clear();
    }
}

/// `SubmitJobRequest{job_id, tasks: [{task_id: 4 chars, executor: "echo"}; TASKS]}`,
/// encoded by hand: 14 bytes per task.
fn big_request() -> Preencoded {
    const ALPHABET: &[u8] = b"0123456789abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ_-";
    let mut bytes = Vec::with_capacity(16 + TASKS * 14);
    bytes.extend_from_slice(&[0x0a, 3]);
    bytes.extend_from_slice(b"big");
    for index in 0..TASKS {
        let id = [0, 1, 2, 3].map(|digit| ALPHABET[(index >> (6 * digit)) & 63]);
        bytes.extend_from_slice(&[0x22, 12, 0x0a, 4]);
        bytes.extend_from_slice(&id);
        bytes.extend_from_slice(&[0x12, 4]);
        bytes.extend_from_slice(b"echo");
    }
    Preencoded(bytes)
}

/// `(VmRSS, VmHWM)` of `pid` in KiB.
fn memory_kib(pid: u32) -> anyhow::Result<(u64, u64)> {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status"))?;
    let field = |name: &str| -> anyhow::Result<u64> {
        let line = status.lines().find(|line| line.starts_with(name)).ok_or_else(|| anyhow::anyhow!("no {name}"))?;
        Ok(line.split_whitespace().nth(1).unwrap_or_default().parse()?)
    };
    Ok((field("VmRSS:")?, field("VmHWM:")?))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_huge_submission_is_refused_before_decoding_and_memory_stays_bounded() -> anyhow::Result<()> {
    let cluster = Cluster::builder().node_monitors(1).start().await?;
    cluster.wait_nodes_up(0, 1).await?;
    let pid = cluster.schedulers[0].pid();
    // Warm the scheduler up with a normal job, so the baseline includes it.
    cluster.client().run(JobSpec::uniform("warm-up", "echo", 100, "x")).within("the results of job warm-up").await??;
    let (baseline_rss_kib, baseline_hwm_kib) = memory_kib(pid)?;

    let request = big_request();
    let request_kib = request.0.len() as u64 / 1024;
    let channel = tonic::transport::Endpoint::from_shared(format!("http://{}", cluster.scheduler_addrs[0]))?
        .connect_timeout(Duration::from_secs(5))
        .timeout(Duration::from_secs(60))
        .connect()
        .await?;
    let mut grpc = tonic::client::Grpc::new(channel).max_encoding_message_size(256 << 20);
    grpc.ready().await?;
    let codec = tonic_prost::ProstCodec::<Preencoded, pb::JobEvent>::default();
    let path = PathAndQuery::from_static("/passer.v1.Scheduler/SubmitJob");
    let status = match grpc.server_streaming(tonic::Request::new(request), path, codec).await {
        Ok(response) => response.into_inner().message().await.expect_err("5,000,000 tasks were accepted"),
        Err(status) => status,
    };
    eprintln!("refused: {:?} {}", status.code(), status.message());
    assert_eq!(status.code(), Code::InvalidArgument, "{status:?}");
    assert!(
        status.message().contains("tasks") && status.message().contains("limit of 100000"),
        "the refusal names the limit: {:?}",
        status.message()
    );

    let (rss_kib, hwm_kib) = memory_kib(pid)?;
    eprintln!(
        "request {request_kib} KiB; scheduler RSS {baseline_rss_kib} -> {rss_kib} KiB, \
         peak {baseline_hwm_kib} -> {hwm_kib} KiB"
    );
    // The peak stays below the baseline plus three times the request (the
    // old decoder took ~14 times it), and what is left after the refusal
    // is within 16 MiB of the baseline.
    assert!(
        hwm_kib <= baseline_rss_kib.max(baseline_hwm_kib) + 3 * request_kib,
        "peak {hwm_kib} KiB over baseline {baseline_rss_kib} KiB + 3 x {request_kib} KiB"
    );
    assert!(rss_kib <= baseline_rss_kib + 16 * 1024, "RSS {rss_kib} KiB after, baseline {baseline_rss_kib} KiB");

    // The scheduler still serves normal work.
    let results = cluster
        .client()
        .run(JobSpec::new("after-big").task(TaskSpec::new("ok", "echo", "hi")))
        .within("the results of job after-big")
        .await??;
    assert!(results[0].succeeded(), "{:?}", results[0].error);
    Ok(())
}

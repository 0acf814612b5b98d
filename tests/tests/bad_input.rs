//! Bad input against a real scheduler, table-driven: each request gets its
//! expected status code and a message naming the field and the limit, and
//! the scheduler keeps serving afterwards. Includes a hand-encoded message
//! with invalid UTF-8 in a string field, which prost's decoder refuses.

use std::time::Duration;

use passer_proto::pb;
use passer_tests::Cluster;
use tonic::codegen::http::uri::PathAndQuery;
use tonic::Code;

/// `SubmitJobRequest` with `job_id` as raw bytes, to send invalid UTF-8.
#[derive(Clone, PartialEq, prost::Message)]
struct RawSubmit {
    #[prost(bytes = "vec", tag = "1")]
    job_id: Vec<u8>,
    #[prost(message, repeated, tag = "4")]
    tasks: Vec<pb::TaskSpec>,
}

struct Case {
    name: &'static str,
    request: pb::SubmitJobRequest,
    code: Code,
    message: &'static str,
}

fn task(id: &str) -> pb::TaskSpec {
    pb::TaskSpec { task_id: id.into(), executor: "echo".into(), ..Default::default() }
}

fn job(tasks: Vec<pb::TaskSpec>) -> pb::SubmitJobRequest {
    pb::SubmitJobRequest { job_id: "j".into(), tasks, ..Default::default() }
}

fn numbered(count: usize, payload_bytes: usize) -> Vec<pb::TaskSpec> {
    (0..count).map(|i| pb::TaskSpec { payload: vec![7; payload_bytes].into(), ..task(&format!("t{i}")) }).collect()
}

fn cases() -> Vec<Case> {
    let case = |name, request, code, message| Case { name, request, code, message };
    vec![
        case(
            "empty job id",
            pb::SubmitJobRequest { job_id: String::new(), ..job(vec![task("a")]) },
            Code::InvalidArgument,
            "job_id: must not be empty",
        ),
        case("no tasks", job(vec![]), Code::InvalidArgument, "tasks: a job needs at least one task"),
        case("empty task id", job(vec![task("")]), Code::InvalidArgument, "tasks[0].task_id: must not be empty"),
        case(
            "duplicated task id",
            job(vec![task("a"), task("b"), task("a")]),
            Code::InvalidArgument,
            "tasks[2].task_id: duplicate task id \"a\"",
        ),
        case(
            "id with a space",
            pb::SubmitJobRequest { job_id: "a b".into(), ..job(vec![task("a")]) },
            Code::InvalidArgument,
            "job_id: must not contain whitespace or control characters",
        ),
        case(
            "id with a control character",
            job(vec![task("a\u{7}")]),
            Code::InvalidArgument,
            "tasks[0].task_id: must not contain whitespace",
        ),
        case(
            "oversized id",
            pb::SubmitJobRequest { job_id: "x".repeat(129), ..job(vec![task("a")]) },
            Code::InvalidArgument,
            "job_id: is 129 bytes, more than the limit of 128",
        ),
        case(
            "malformed executor",
            job(vec![pb::TaskSpec { executor: "rm -rf".into(), ..task("a") }]),
            Code::InvalidArgument,
            "tasks[0].executor: \"rm -rf\" is not an executor type name",
        ),
        case(
            "empty executor",
            job(vec![pb::TaskSpec { executor: String::new(), ..task("a") }]),
            Code::InvalidArgument,
            "tasks[0].executor: must name an executor type",
        ),
        case(
            "unknown executor",
            job(vec![pb::TaskSpec { executor: "nosuch".into(), ..task("a") }]),
            Code::FailedPrecondition,
            "no node monitor offers executor 'nosuch'",
        ),
        case(
            "malformed tenant",
            pb::SubmitJobRequest { tenant: "a/b".into(), ..job(vec![task("a")]) },
            Code::InvalidArgument,
            "tenant: \"a/b\" is not a tenant name",
        ),
        case(
            "absurd timeout",
            job(vec![pb::TaskSpec { timeout_ms: u64::MAX, ..task("a") }]),
            Code::InvalidArgument,
            "tasks[0].timeout_ms: is more than the limit of 604800000 ms",
        ),
        case(
            "absurd attempts",
            job(vec![pb::TaskSpec { max_attempts: u32::MAX, ..task("a") }]),
            Code::InvalidArgument,
            "tasks[0].max_attempts: is more than the limit of 100",
        ),
        case("zero timeout means the default", job(vec![pb::TaskSpec { timeout_ms: 0, ..task("a") }]), Code::Ok, ""),
        case("too many tasks", job(numbered(11, 0)), Code::InvalidArgument, "more than the limit of 10 per job"),
        case(
            "oversized payload",
            job(numbered(1, 200_001)),
            Code::InvalidArgument,
            "tasks[0].payload: is 200001 bytes, more than the limit of 200000",
        ),
        case(
            "oversized job",
            job(numbered(2, 200_000)),
            Code::InvalidArgument,
            "tasks: payloads total 400000 bytes, more than the limit of 300000 per job",
        ),
        case(
            "oversized message",
            job(numbered(6, 200_000)),
            Code::InvalidArgument,
            "more than the limit of 1000000 (--max-message-bytes)",
        ),
    ]
}

async fn submit(channel: tonic::transport::Channel, request: pb::SubmitJobRequest) -> Result<(), tonic::Status> {
    let mut client = pb::scheduler_client::SchedulerClient::new(channel).max_encoding_message_size(16 << 20);
    let mut events = client.submit_job(request).await?.into_inner();
    while events.message().await?.is_some() {}
    Ok(())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn bad_inputs_get_clear_errors() -> anyhow::Result<()> {
    let cluster = Cluster::builder()
        .node_monitors(1)
        .scheduler_args([
            "--max-tasks-per-job",
            "10",
            "--max-payload-bytes",
            "200000",
            "--max-job-bytes",
            "300000",
            "--max-message-bytes",
            "1000000",
        ])
        .start()
        .await?;
    cluster.wait_nodes_up(0, 1).await?;
    let channel = tonic::transport::Endpoint::from_shared(format!("http://{}", cluster.scheduler_addrs[0]))?
        .timeout(Duration::from_secs(10))
        .connect()
        .await?;
    for (index, case) in cases().into_iter().enumerate() {
        let mut request = case.request;
        request.job_id = if request.job_id == "j" { format!("job{index}") } else { request.job_id };
        let outcome = submit(channel.clone(), request).await;
        match outcome {
            Ok(()) => assert_eq!(case.code, Code::Ok, "{}: accepted", case.name),
            Err(status) => {
                assert_eq!(status.code(), case.code, "{}: {status:?}", case.name);
                assert!(status.message().contains(case.message), "{}: {:?}", case.name, status.message());
            }
        }
    }

    // Invalid UTF-8 in a string field: the decoder refuses the message
    // (INTERNAL, as the gRPC status code guide prescribes for parse errors).
    let raw = RawSubmit { job_id: vec![b'j', 0xff, 0xfe], tasks: vec![task("a")] };
    let mut grpc = tonic::client::Grpc::new(channel.clone());
    grpc.ready().await?;
    let codec = tonic_prost::ProstCodec::<RawSubmit, pb::JobEvent>::default();
    let path = PathAndQuery::from_static("/passer.v1.Scheduler/SubmitJob");
    let status = match grpc.server_streaming(tonic::Request::new(raw), path, codec).await {
        Ok(response) => response.into_inner().message().await.expect_err("invalid UTF-8 was accepted"),
        Err(status) => status,
    };
    assert_eq!(status.code(), Code::Internal, "{status:?}");
    assert!(status.message().contains("UTF-8"), "{status:?}");

    // Nothing above hurt the scheduler: a good job still runs.
    submit(channel, job(vec![task("after")])).await?;
    Ok(())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn bad_offers_to_a_node_monitor_name_what_is_wrong() -> anyhow::Result<()> {
    let cluster = Cluster::builder().node_monitors(1).start().await?;
    let uri = format!("http://{}", cluster.node_addrs[0]);
    let mut node = pb::node_monitor_client::NodeMonitorClient::connect(uri).await?;
    let request = |count: u32, offered: Vec<pb::TaskLaunch>| pb::EnqueueReservationsRequest {
        job_id: "j".into(),
        scheduler_address: "127.0.0.1:1".into(),
        executor: "echo".into(),
        count,
        offered,
        ..Default::default()
    };
    let launch = |job_id: &str| pb::TaskLaunch {
        job_id: job_id.into(),
        task_id: "t".into(),
        attempt: 1,
        executor: "echo".into(),
        timeout_ms: 1000,
        ..Default::default()
    };
    let nothing = node.enqueue_reservations(request(0, Vec::new())).await.expect_err("nothing asked");
    assert_eq!(nothing.code(), Code::InvalidArgument);
    assert!(nothing.message().contains("count must be at least 1"), "{}", nothing.message());
    let stray = node.enqueue_reservations(request(1, vec![launch("other")])).await.expect_err("another job's task");
    assert_eq!(stray.code(), Code::InvalidArgument);
    assert!(stray.message().contains("belongs to job \"other\""), "{}", stray.message());
    // A well-formed offer to an idle node is started, with no reservation needed.
    let taken = node.enqueue_reservations(request(0, vec![launch("j")])).await?.into_inner();
    assert!(taken.declined_task_ids.is_empty(), "an idle node takes the offer: {taken:?}");
    assert_eq!(taken.accepted, 0);
    Ok(())
}

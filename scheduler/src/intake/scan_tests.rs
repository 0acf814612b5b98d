//! Tests of the pre-decoding scan against requests encoded by prost, fed
//! whole and in every chunking.

use passer_proto::pb;
use prost::Message;

use super::*;

const LIMITS: ScanLimits = ScanLimits { max_message_bytes: 1 << 20, max_tasks_per_job: 3, max_constraints: 2 };

fn task(id: &str, constraints: &[&str]) -> pb::TaskSpec {
    pb::TaskSpec {
        task_id: id.into(),
        executor: "echo".into(),
        payload: bytes::Bytes::from_static(b"payload"),
        constraints: constraints.iter().map(|c| (*c).to_owned()).collect(),
        timeout_ms: 300,
        max_attempts: 2,
        ..Default::default()
    }
}

fn framed(request: &pb::SubmitJobRequest) -> Vec<u8> {
    let body = request.encode_to_vec();
    let mut bytes = vec![0];
    bytes.extend_from_slice(&(body.len() as u32).to_be_bytes());
    bytes.extend_from_slice(&body);
    bytes
}

fn request(tasks: usize) -> pb::SubmitJobRequest {
    pb::SubmitJobRequest {
        job_id: "job".into(),
        tenant: "t".into(),
        priority: -3,
        tasks: (0..tasks).map(|i| task(&format!("t{i}"), &["zone=a"])).collect(),
        skip_task_ids: vec!["t0".into()],
        constraints: vec!["n1".into()],
    }
}

/// Feeds `bytes` in chunks of `size`; the first refusal, if any.
fn scan_in_chunks(bytes: &[u8], size: usize) -> Result<SubmitScan, Refusal> {
    let mut scan = SubmitScan::new(LIMITS);
    for chunk in bytes.chunks(size) {
        scan.feed(chunk)?;
    }
    Ok(scan)
}

#[test]
fn a_request_within_the_limits_passes_in_any_chunking() {
    let bytes = framed(&request(3));
    for size in 1..=bytes.len() {
        let scan = scan_in_chunks(&bytes, size).unwrap_or_else(|r| panic!("chunks of {size}: {r}"));
        assert_eq!(scan.tasks_seen(), 3);
    }
}

#[test]
fn one_task_too_many_is_refused_naming_the_limit() {
    let bytes = framed(&request(4));
    for size in [1, 2, 7, bytes.len()] {
        let refusal = scan_in_chunks(&bytes, size).expect_err("refused");
        assert_eq!(refusal.field, "tasks");
        assert!(refusal.problem.contains("limit of 3 per job"), "{refusal}");
    }
}

#[test]
fn too_many_constraints_on_a_task_or_the_job_are_refused() {
    let mut by_task = request(1);
    by_task.tasks[0].constraints = vec!["a".into(), "b".into(), "c".into()];
    let refusal = scan_in_chunks(&framed(&by_task), 3).expect_err("refused");
    assert_eq!(refusal.field, "tasks[0].constraints");
    let mut by_job = request(1);
    by_job.constraints = vec!["a".into(), "b".into(), "c".into()];
    assert_eq!(scan_in_chunks(&framed(&by_job), 3).expect_err("refused").field, "constraints");
}

#[test]
fn too_many_skip_ids_are_refused() {
    let mut skips = request(1);
    skips.skip_task_ids = (0..4).map(|i| format!("s{i}")).collect();
    assert_eq!(scan_in_chunks(&framed(&skips), 5).expect_err("refused").field, "skip_task_ids");
}

#[test]
fn a_frame_over_the_message_limit_is_refused_from_its_header() {
    let header = [0, 0x00, 0x20, 0x00, 0x01]; // 2 MiB + 1 byte
    let refusal = SubmitScan::new(LIMITS).feed(&header).expect_err("refused");
    assert!(refusal.problem.contains("2097153 bytes, more than the limit of 1048576"), "{refusal}");
}

#[test]
fn malformed_requests_are_refused_not_panicked_on() {
    for body in [vec![0x22, 0x7f], vec![0x23], vec![0x00], vec![0x80; 11]] {
        let mut bytes = vec![0];
        bytes.extend_from_slice(&(body.len() as u32).to_be_bytes());
        bytes.extend_from_slice(&body);
        let refusal = SubmitScan::new(LIMITS).feed(&bytes).expect_err("refused");
        assert!(refusal.problem.contains("not a well-formed"), "{refusal}");
    }
}

#[test]
fn empty_tasks_and_empty_messages_pass() {
    let empty = pb::SubmitJobRequest { tasks: vec![pb::TaskSpec::default()], ..Default::default() };
    assert!(scan_in_chunks(&framed(&empty), 1).is_ok());
    assert!(scan_in_chunks(&framed(&pb::SubmitJobRequest::default()), 1).is_ok());
}

proptest::proptest! {
    #[test]
    fn the_scan_counts_what_prost_decodes(tasks in 0usize..6, constraints in 0usize..4, size in 1usize..40) {
        let mut generated = request(tasks);
        for spec in &mut generated.tasks {
            spec.constraints = (0..constraints).map(|i| format!("c{i}")).collect();
        }
        let outcome = scan_in_chunks(&framed(&generated), size);
        let within = tasks <= LIMITS.max_tasks_per_job && (tasks == 0 || constraints <= LIMITS.max_constraints);
        proptest::prop_assert_eq!(outcome.is_ok(), within);
    }
}

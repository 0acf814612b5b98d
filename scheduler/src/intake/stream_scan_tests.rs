//! Tests of the per-message scan of a `SubmitJobs` stream against requests
//! encoded by prost, fed whole and in every chunking: passing messages come
//! out byte for byte, a refused one becomes its call id's refusal and the
//! messages after it still pass.

use passer_proto::pb;
use prost::Message;

use super::*;

const LIMITS: ScanLimits = ScanLimits { max_message_bytes: 2_000, max_tasks_per_job: 3, max_constraints: 2 };

fn job(job_id: &str, tasks: usize) -> pb::SubmitJobRequest {
    pb::SubmitJobRequest {
        job_id: job_id.into(),
        tasks: (0..tasks)
            .map(|i| pb::TaskSpec { task_id: format!("t{i}"), executor: "echo".into(), ..Default::default() })
            .collect(),
        ..Default::default()
    }
}

fn frame(body: &[u8]) -> Vec<u8> {
    let mut bytes = vec![0];
    bytes.extend_from_slice(&(body.len() as u32).to_be_bytes());
    bytes.extend_from_slice(body);
    bytes
}

fn framed(call_id: u64, job: pb::SubmitJobRequest) -> Vec<u8> {
    frame(&pb::SubmitJobsRequest { call_id, job: Some(job) }.encode_to_vec())
}

/// Feeds `stream` in chunks of `chunk` bytes.
fn scan(stream: &[u8], chunk: usize) -> Vec<Piece> {
    let mut scan = StreamScan::new(LIMITS);
    let mut out = Vec::new();
    for part in stream.chunks(chunk) {
        scan.feed(part, &mut out);
    }
    out
}

/// Scans `stream` whole and in every chunk size up to 64, which must agree.
fn scan_every_way(stream: &[u8]) -> Vec<Piece> {
    let whole = scan(stream, stream.len().max(1));
    for chunk in 1..64 {
        assert_eq!(scan(stream, chunk), whole, "chunks of {chunk} bytes");
    }
    whole
}

fn refused(piece: &Piece) -> (u64, &Refusal) {
    match piece {
        Piece::Refused { call_id, refusal } => (*call_id, refusal),
        Piece::Message(_) => panic!("passed: {piece:?}"),
    }
}

#[test]
fn messages_within_the_limits_pass_byte_for_byte() {
    let first = framed(1, job("a", 3));
    let second = framed(2, job("b", 1));
    let empty = frame(&[]);
    let stream = [first.clone(), second.clone(), empty.clone()].concat();
    let pieces = scan_every_way(&stream);
    let expected: Vec<Piece> = [first, second, empty].into_iter().map(|m| Piece::Message(m.into())).collect();
    assert_eq!(pieces, expected);
}

#[test]
fn a_job_over_the_task_limit_is_refused_alone() {
    let stream = [framed(1, job("a", 1)), framed(2, job("big", 4)), framed(3, job("c", 2))].concat();
    let pieces = scan_every_way(&stream);
    assert_eq!(pieces.len(), 3);
    assert!(matches!(pieces[0], Piece::Message(_)));
    let (call_id, refusal) = refused(&pieces[1]);
    assert_eq!(call_id, 2);
    assert_eq!(refusal.field, "tasks");
    assert!(refusal.problem.contains("--max-tasks-per-job"), "{refusal}");
    assert_eq!(pieces[2], Piece::Message(framed(3, job("c", 2)).into()), "the stream goes on");
}

#[test]
fn a_message_over_the_size_limit_is_refused_naming_it() {
    let mut big = job("big", 1);
    big.tenant = "x".repeat(3_000);
    let stream = [framed(7, big), framed(8, job("after", 1))].concat();
    let pieces = scan_every_way(&stream);
    let (call_id, refusal) = refused(&pieces[0]);
    assert_eq!(call_id, 7);
    assert_eq!(refusal.field, "job");
    assert!(refusal.problem.contains("more than the limit of 2000 (--max-message-bytes)"), "{refusal}");
    assert_eq!(pieces[1], Piece::Message(framed(8, job("after", 1)).into()));
}

#[test]
fn a_call_id_after_the_job_is_still_named() {
    // prost writes call_id first; another encoder may not.
    let mut body = pb::SubmitJobsRequest { call_id: 0, job: Some(job("big", 5)) }.encode_to_vec();
    body.extend_from_slice(&pb::SubmitJobsRequest { call_id: 300, job: None }.encode_to_vec());
    let pieces = scan_every_way(&frame(&body));
    let (call_id, refusal) = refused(&pieces[0]);
    assert_eq!((call_id, refusal.field.as_str()), (300, "tasks"));
}

#[test]
fn a_truncated_field_is_refused_and_the_framing_kept() {
    // call_id 1, then a job field claiming 10 bytes of which the message has 2.
    let stream = [frame(&[0x08, 0x01, 0x12, 0x0a, 0x0a, 0x00]), framed(2, job("ok", 1))].concat();
    let pieces = scan_every_way(&stream);
    let (call_id, refusal) = refused(&pieces[0]);
    assert_eq!(call_id, 1);
    assert!(refusal.problem.contains("not a well-formed SubmitJobsRequest"), "{refusal}");
    assert_eq!(pieces[1], Piece::Message(framed(2, job("ok", 1)).into()));
}

#[test]
fn a_message_ending_inside_a_varint_is_refused() {
    let pieces = scan_every_way(&frame(&[0x08, 0x81]));
    let (_, refusal) = refused(&pieces[0]);
    assert!(refusal.problem.contains("ends inside a field"), "{refusal}");
}

#[test]
fn a_partial_message_waits_for_its_rest() {
    let whole = framed(1, job("a", 2));
    let mut scan = StreamScan::new(LIMITS);
    let mut out = Vec::new();
    scan.feed(&whole[..whole.len() - 1], &mut out);
    assert!(out.is_empty(), "nothing handed on before the message is whole");
    scan.feed(&whole[whole.len() - 1..], &mut out);
    assert_eq!(out, vec![Piece::Message(whole.into())]);
}

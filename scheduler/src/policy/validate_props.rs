//! Property tests of the request validators and the decode-and-validate
//! path a submission takes: random bytes and random valid-looking messages
//! never panic, and whatever passes keeps every limit. Bounded to a few
//! hundred cases each so CI runs them in seconds.

use std::collections::HashSet;

use passer_proto::pb;
use proptest::prelude::*;
use prost::Message;

use super::validate::{validate_submit, Limits};

/// Small limits, so random messages cross them often.
fn limits() -> Limits {
    Limits {
        max_tasks_per_job: 8,
        max_payload_bytes: 64,
        max_job_bytes: 256,
        max_id_bytes: 16,
        max_timeout_ms: 10_000,
        max_attempts: 5,
    }
}

/// The path a submission takes in the server: decode, then validate.
fn decode_and_validate(bytes: &[u8], limits: &Limits) -> Option<pb::SubmitJobRequest> {
    let request = pb::SubmitJobRequest::decode(bytes).ok()?;
    validate_submit(&request, limits).ok().map(|()| request)
}

fn assert_within_limits(request: &pb::SubmitJobRequest, limits: &Limits) {
    assert!(!request.job_id.is_empty() && request.job_id.len() <= limits.max_id_bytes);
    assert!(!request.tasks.is_empty() && request.tasks.len() <= limits.max_tasks_per_job);
    let ids: HashSet<&str> = request.tasks.iter().map(|t| t.task_id.as_str()).collect();
    assert_eq!(ids.len(), request.tasks.len(), "duplicate task ids passed");
    let mut total = 0;
    for task in &request.tasks {
        assert!(!task.task_id.is_empty() && task.task_id.len() <= limits.max_id_bytes);
        assert!(task.payload.len() <= limits.max_payload_bytes);
        assert!(task.timeout_ms <= limits.max_timeout_ms && task.max_attempts <= limits.max_attempts);
        assert!(task.retry_backoff_ms <= super::job::MAX_RETRY_BACKOFF_MS);
        total += task.payload.len();
    }
    assert!(total <= limits.max_job_bytes);
}

fn id() -> impl Strategy<Value = String> {
    prop_oneof!["[a-z0-9]{1,20}", Just(String::new()), "[ -~]{0,20}", "\\PC{0,20}", Just("a\u{0}b".to_owned()),]
}

fn task() -> impl Strategy<Value = pb::TaskSpec> {
    (
        id(),
        prop_oneof!["echo", "[a-z.]{0,70}", "\\PC{0,5}"],
        prop::collection::vec(any::<u8>(), 0..100),
        any::<u64>(),
        0u32..10,
        any::<bool>(),
        prop_oneof![Just(0u64), any::<u64>()],
    )
        .prop_map(|(task_id, executor, payload, timeout_ms, max_attempts, retry_on_error, retry_backoff_ms)| {
            pb::TaskSpec {
                task_id,
                executor,
                payload: payload.into(),
                constraints: Vec::new(),
                timeout_ms: timeout_ms % 20_000,
                max_attempts,
                retry_on_error,
                retry_backoff_ms,
            }
        })
}

fn request() -> impl Strategy<Value = pb::SubmitJobRequest> {
    (
        id(),
        prop_oneof![Just(String::new()), "[a-z]{1,70}", "\\PC{0,8}"],
        prop::collection::vec(task(), 0..12),
        prop::collection::vec(id(), 0..3),
        prop::collection::vec(prop_oneof!["[a-z]{1,8}=[a-z]{0,8}", id()], 0..3),
    )
        .prop_map(|(job_id, tenant, tasks, skip_task_ids, constraints)| pb::SubmitJobRequest {
            job_id,
            tenant,
            priority: 0,
            tasks,
            skip_task_ids,
            constraints,
        })
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 512, ..ProptestConfig::default() })]

    #[test]
    fn random_bytes_never_panic(bytes in prop::collection::vec(any::<u8>(), 0..512)) {
        if let Some(request) = decode_and_validate(&bytes, &limits()) {
            assert_within_limits(&request, &limits());
        }
    }

    #[test]
    fn random_messages_pass_only_within_limits(request in request()) {
        if validate_submit(&request, &limits()).is_ok() {
            assert_within_limits(&request, &limits());
        }
        // The same message through the wire format gives the same verdict.
        let bytes = request.encode_to_vec();
        let direct = validate_submit(&request, &limits()).is_ok();
        prop_assert_eq!(decode_and_validate(&bytes, &limits()).is_some(), direct);
    }

    #[test]
    fn mangled_messages_never_panic(request in request(), flips in prop::collection::vec((any::<prop::sample::Index>(), any::<u8>()), 1..8)) {
        let mut bytes = request.encode_to_vec();
        if !bytes.is_empty() {
            for (index, value) in flips {
                let at = index.index(bytes.len());
                bytes[at] = value;
            }
        }
        if let Some(decoded) = decode_and_validate(&bytes, &limits()) {
            assert_within_limits(&decoded, &limits());
        }
    }
}

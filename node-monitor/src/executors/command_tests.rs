//! Unit tests of the command executor: payload parsing, exit codes,
//! output capture and caps, and killing the process group on drop.

use std::time::Duration;

use super::*;

fn output_of(bytes: &[u8]) -> CommandOutput {
    serde_json::from_slice(bytes).expect("the output is CommandOutput JSON")
}

#[tokio::test]
async fn nonzero_exit_fails_with_status_and_keeps_output() {
    let payload = br#"{"argv": ["sh", "-c", "echo hi; echo oops >&2; exit 3"]}"#.to_vec();
    let failure = run_command(payload, 1024).await.unwrap_err();
    assert_eq!(failure.message, "command exited with status 3");
    let output = output_of(&failure.output);
    assert_eq!(output.exit_code, Some(3));
    assert_eq!(output.stdout, "hi\n");
    assert_eq!(output.stderr, "oops\n");
    assert!(!output.truncated);
}

#[tokio::test]
async fn shell_env_and_stdin_reach_the_command() {
    let payload = br#"{"argv": ["read line; echo \"$line $GREETING $1\"", "arg1"], "shell": true, "env": {"GREETING": "hello"}, "stdin": "in\n"}"#;
    let output = output_of(&run_command(payload.to_vec(), 1024).await.unwrap());
    assert_eq!(output.exit_code, Some(0));
    assert_eq!(output.stdout, "in hello arg1\n");
}

#[tokio::test]
async fn output_is_capped_and_flagged() {
    let payload = br#"{"argv": ["sh", "-c", "yes x | head -c 100000"]}"#.to_vec();
    let output = output_of(&run_command(payload, 10).await.unwrap());
    assert_eq!(output.stdout, "x\nx\nx\nx\nx\n");
    assert!(output.truncated);
}

#[tokio::test]
async fn bad_payloads_name_the_problem() {
    let cases: [(&[u8], &str); 4] = [
        (b"echo hi", "not valid"),
        (br#"{"argv": []}"#, "argv must name a program"),
        (br#"{"argv": ["x"], "cwd": "/"}"#, "unknown field `cwd`"),
        (br#"{"argv": ["x"], "env": {"A=B": "c"}}"#, "invalid variable name"),
    ];
    for (payload, expected) in cases {
        let failure = run_command(payload.to_vec(), 10).await.unwrap_err();
        assert!(failure.message.contains(expected), "{:?}: {}", String::from_utf8_lossy(payload), failure.message);
    }
    let missing = run_command(br#"{"argv": ["/nonexistent/program"]}"#.to_vec(), 10).await.unwrap_err();
    assert!(missing.message.starts_with("cannot start"), "{}", missing.message);
}

#[tokio::test]
async fn dropping_the_task_kills_its_process_group() {
    let pid_file = std::env::temp_dir().join(format!("passer-command-test-{}", std::process::id()));
    let script = format!("sleep 60 & echo $! > {}; wait", pid_file.display());
    let payload = serde_json::json!({ "argv": [script], "shell": true }).to_string().into_bytes();
    let running = tokio::spawn(run_command(payload, 1024));
    let background = wait_for_pid_file(&pid_file).await;
    assert!(process_exists(background), "the background sleep runs");
    running.abort();
    let _ = running.await;
    let deadline = tokio::time::Instant::now() + Duration::from_secs(5);
    while process_exists(background) {
        assert!(tokio::time::Instant::now() < deadline, "pid {background} survived the task's drop");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    let _ = std::fs::remove_file(pid_file);
}

async fn wait_for_pid_file(path: &std::path::Path) -> i32 {
    let deadline = tokio::time::Instant::now() + Duration::from_secs(5);
    loop {
        if let Some(pid) = std::fs::read_to_string(path).ok().and_then(|text| text.trim().parse().ok()) {
            return pid;
        }
        assert!(tokio::time::Instant::now() < deadline, "the command never wrote its pid");
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
}

/// True while `pid` exists and is not a zombie.
fn process_exists(pid: i32) -> bool {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).unwrap_or_default();
    let state = stat.rsplit_once(')').and_then(|(_, rest)| rest.split_whitespace().next());
    matches!(state, Some(s) if s != "Z")
}

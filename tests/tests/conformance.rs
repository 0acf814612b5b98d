//! The executor conformance suite (`passer_tests::conformance`) run against
//! both executor SDKs, each supervised by a real node monitor behind a real
//! scheduler.

use passer_tests::conformance::{python_executor_command, run_suite, rust_executor_command, EXECUTOR_TYPE, SLOTS};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_rust_sdk_executor_conforms() -> anyhow::Result<()> {
    run_suite(&rust_executor_command(EXECUTOR_TYPE, SLOTS)).await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_python_sdk_executor_conforms() -> anyhow::Result<()> {
    run_suite(&python_executor_command(EXECUTOR_TYPE, SLOTS)).await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_executor_with_too_few_slots_fails_the_suite() -> anyhow::Result<()> {
    let error = run_suite(&rust_executor_command(EXECUTOR_TYPE, SLOTS / 2)).await.expect_err("two slots are not four");
    let chain = format!("{error:#}");
    assert!(chain.contains("scenario: many concurrent slots"), "{chain}");
    Ok(())
}

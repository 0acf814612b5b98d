//! `passer run FILE` end to end on real processes: the word-count graph
//! file of command tasks (checked against counting the files here), a graph
//! with a failing branch (`--json` events, exit code 2), and a refused graph
//! or a stage the cluster refuses (exit code 1 with the message naming the node).

use std::collections::HashMap;
use std::path::PathBuf;
use std::process::Output;
use std::time::Duration;

use anyhow::Context;
use passer_tests::conformance::wait_executor_offered;
use passer_tests::{bin_path, Cluster};
use serde_json::Value;

async fn command_cluster() -> anyhow::Result<Cluster> {
    let cluster = Cluster::builder()
        .node_monitors(2)
        .node_args(["--builtin", "echo", "--allow-command", "--slots", "2"])
        .start()
        .await?;
    wait_executor_offered(&cluster, "command", 2).await?;
    Ok(cluster)
}

fn example(name: &str) -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../examples/graphs").join(name)
}

/// Runs `passer run` with `args`, failing after 60 s.
async fn passer_run(cluster: &Cluster, args: &[&str]) -> anyhow::Result<Output> {
    let mut command = tokio::process::Command::new(bin_path("passer"));
    command.arg("run").args(args).arg("--scheduler").arg(cluster.scheduler_addrs.join(","));
    command.kill_on_drop(true);
    let output = tokio::time::timeout(Duration::from_secs(60), command.output())
        .await
        .context("passer run did not end within 60 s")??;
    Ok(output)
}

fn text(bytes: &[u8]) -> String {
    String::from_utf8_lossy(bytes).into_owned()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_wordcount_graph_file_counts_the_words_it_generated() -> anyhow::Result<()> {
    let cluster = command_cluster().await?;
    let dir = std::env::temp_dir().join(format!("passer-wordcount-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    let dir_var = format!("dir={}", dir.display());
    let wordcount = example("wordcount.toml");
    let output = passer_run(&cluster, &[wordcount.to_str().context("utf-8 path")?, "--var", &dir_var]).await?;
    let (stdout, stderr) = (text(&output.stdout), text(&output.stderr));
    assert_eq!(output.status.code(), Some(0), "stdout:\n{stdout}\nstderr:\n{stderr}");
    for stage in ["gen", "map", "reduce", "top"] {
        assert!(stderr.contains(&format!("stage {stage}: ")), "no progress line for {stage}:\n{stderr}");
    }
    assert!(stderr.contains("[4/4] stage top: 1/1 succeeded"), "{stderr}");
    // Count the generated files here and compare with the graph's top 5.
    let mut counts: HashMap<String, u64> = HashMap::new();
    for index in 0..4 {
        let file = std::fs::read_to_string(dir.join(format!("{index}.txt")))?;
        for word in file.split_whitespace() {
            *counts.entry(word.to_lowercase()).or_default() += 1;
        }
    }
    assert_eq!(counts.values().sum::<u64>(), 4 * 2000, "gen wrote 2000 words per file");
    let mut expected: Vec<(u64, String)> = counts.into_iter().map(|(word, count)| (count, word)).collect();
    expected.sort_by(|left, right| right.0.cmp(&left.0).then(left.1.cmp(&right.1)));
    let expected: Vec<String> = expected.iter().take(5).map(|(count, word)| format!("{count} {word}")).collect();
    let got: Vec<String> = stdout.lines().map(str::to_owned).collect();
    assert_eq!(got, expected);
    let _ = std::fs::remove_dir_all(&dir);
    Ok(())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_failing_branch_exits_2_and_json_names_the_upstream() -> anyhow::Result<()> {
    let cluster = command_cluster().await?;
    let failing = example("failing.json");
    let output = passer_run(&cluster, &[failing.to_str().context("utf-8 path")?, "--json"]).await?;
    let stdout = text(&output.stdout);
    assert_eq!(output.status.code(), Some(2), "stdout:\n{stdout}\nstderr:\n{}", text(&output.stderr));
    let events: Vec<Value> =
        stdout.lines().map(serde_json::from_str).collect::<Result<_, _>>().context("one JSON object per line")?;
    let task = |node: &str| {
        events
            .iter()
            .find(|event| event["event"] == "task_finished" && event["node"] == node)
            .cloned()
            .unwrap_or(Value::Null)
    };
    assert_eq!(task("broken")["status"], "failed");
    assert_eq!(task("broken")["error"], "command exited with status 3");
    // A command stage after an edge is generated (its stdin comes from upstream),
    // so cancelled before it ran it reports the stage, not tasks.
    let stage_after_broken = events
        .iter()
        .find(|event| event["event"] == "stage_finished" && event["node"] == "after-broken")
        .context("after-broken finished")?;
    assert_eq!(stage_after_broken["reason"], "upstream broken/t0 failed: command exited with status 3");
    let after_ok: Value = serde_json::from_str(task("after-ok")["output"].as_str().context("output text")?)?;
    assert_eq!(after_ok["stdout"], "fine 0\nfine 1\n", "cat got both upstream stdouts on stdin");
    let last = events.last().context("events")?;
    assert_eq!(last["event"], "graph_finished");
    assert_eq!(last["succeeded"], false);
    assert_eq!(last["tasks_succeeded"], 3);
    assert_eq!(last["cancelled"][0]["node"], "after-broken");
    assert_eq!(last["failed"][0]["task"], "t0");
    let stage_lines = events.iter().filter(|event| event["event"] == "stage_finished").count();
    assert_eq!(stage_lines, 4);
    Ok(())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_refused_graph_file_exits_1_naming_the_node() -> anyhow::Result<()> {
    let cluster = command_cluster().await?;
    let file = std::env::temp_dir().join(format!("passer-cycle-{}.toml", std::process::id()));
    std::fs::write(
        &file,
        "version = 1\nid = \"c\"\n[[stage]]\nname = \"a\"\ncount = 1\nargv = [\"true\"]\nafter = [\"b\"]\n\
         [[stage]]\nname = \"b\"\ncount = 1\nargv = [\"true\"]\nafter = [\"a\"]\n",
    )?;
    let output = passer_run(&cluster, &[file.to_str().context("utf-8 path")?]).await?;
    let stderr = text(&output.stderr);
    assert_eq!(output.status.code(), Some(1), "{stderr}");
    assert!(stderr.contains("graph c: cycle through node \"a\": a -> b -> a"), "{stderr}");
    std::fs::write(&file, "version = 1\n[[stage]]\nname = \"a\"\ncount = 1\nargv = [\"true\"]\nsheel = \"x\"\n")?;
    let output = passer_run(&cluster, &[file.to_str().context("utf-8 path")?]).await?;
    let stderr = text(&output.stderr);
    assert_eq!(output.status.code(), Some(1), "{stderr}");
    assert!(stderr.contains("unknown field `sheel`"), "{stderr}");
    // A stage the scheduler refuses (no node offers its executor) is a client error too.
    std::fs::write(
        &file,
        "version = 1\nid = \"n\"\n[[stage]]\nname = \"nobody\"\nexecutor = \"no-such\"\ncount = 1\n",
    )?;
    let output = passer_run(&cluster, &[file.to_str().context("utf-8 path")?]).await?;
    let stderr = text(&output.stderr);
    assert_eq!(output.status.code(), Some(1), "{stderr}");
    assert!(stderr.contains("graph n: stage \"nobody\": failed precondition:"), "{stderr}");
    assert_eq!(cluster.stats(0).await?.jobs_accepted, 0, "nothing was accepted");
    let _ = std::fs::remove_file(&file);
    Ok(())
}

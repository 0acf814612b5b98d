//! A smoke run of the `passer-bench` binary on a real cluster: a few hundred
//! tasks through every subcommand, checking that each finishes, nothing
//! fails, and the JSON, SVG and Markdown it promises are written. The
//! figures themselves are not checked: they belong to full benchmark runs.

use std::path::{Path, PathBuf};
use std::process::Command;

fn out_dir(name: &str) -> PathBuf {
    let dir = std::env::temp_dir().join(format!("passer-bench-smoke-{name}-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    dir
}

/// Runs `passer-bench` with `args` (bounded by `timeout` seconds) and returns its stdout.
fn passer_bench(out: &Path, args: &[&str]) -> String {
    let output = Command::new("timeout")
        .arg("120")
        .arg(env!("CARGO_BIN_EXE_passer-bench"))
        .arg("--out")
        .arg(out)
        .args(args)
        .env("RUST_BACKTRACE", "0")
        .output()
        .expect("run passer-bench");
    let stdout = String::from_utf8_lossy(&output.stdout).into_owned();
    assert!(
        output.status.success(),
        "passer-bench {args:?} failed with {}:\n{stdout}\n{}",
        output.status,
        String::from_utf8_lossy(&output.stderr)
    );
    stdout
}

fn json(path: PathBuf) -> serde_json::Value {
    let text = std::fs::read_to_string(&path).unwrap_or_else(|error| panic!("read {}: {error}", path.display()));
    serde_json::from_str(&text).expect("valid json")
}

#[test]
fn throughput_latency_and_load_run_and_write_results() {
    let out = out_dir("runs");
    passer_bench(
        &out,
        &["throughput", "--tasks", "300", "--job-size", "50", "--inflight-jobs", "2", "--payload-bytes", "100"],
    );
    let throughput = json(out.join("throughput.json"));
    assert_eq!(throughput["result"]["tasks"], 300);
    assert_eq!(throughput["result"]["failed"], 0);
    assert_eq!(throughput["result"]["payload_bytes"], 100);
    assert!(throughput["result"]["tasks_per_second"].as_f64().unwrap() > 0.0);
    assert!(throughput["memory"]["servers_mib"].as_f64().unwrap() > 0.0, "{throughput}");
    assert!(throughput["memory"]["executors_mib"].as_f64().unwrap() > 0.0, "executor processes measured: {throughput}");

    passer_bench(&out, &["latency", "--count", "50"]);
    let latency = json(out.join("latency.json"));
    assert_eq!(latency["result"]["round_trip_us"]["count"], 50);
    assert_eq!(latency["result"]["failed"], 0);

    let stdout = passer_bench(
        &out,
        &["load", "--loads", "0.3,0.5", "--seconds", "1", "--makespan-tasks", "40", "--service-ms", "5"],
    );
    assert!(stdout.contains("makespan: 40 × 5 ms"), "{stdout}");
    let load = json(out.join("load.json"));
    let points = load["points"].as_array().expect("points");
    assert_eq!(points.len(), 2);
    for point in points {
        assert_eq!(point["failed"], 0, "{point}");
        assert!(point["tasks"].as_u64().unwrap() > 0, "{point}");
        assert!(
            point["response_ratio"]["p50"].as_f64().unwrap() >= 1.0,
            "a task cannot beat its service time: {point}"
        );
    }
    assert!(std::fs::read_to_string(out.join("load.svg")).expect("plot").contains("<svg"));
    let _ = std::fs::remove_dir_all(&out);
}

#[test]
fn compare_without_peers_writes_the_report_and_keeps_notes() {
    let out = out_dir("compare");
    std::fs::create_dir_all(&out).expect("out dir");
    let doc = out.join("benchmarks.md");
    let marker = passer_bench::bench::report::NOTES_MARKER;
    std::fs::write(&doc, format!("old text\n{marker}\nhand-written findings\n")).expect("seed doc");
    let doc_arg = doc.to_str().expect("utf-8 path");
    let stdout = passer_bench(
        &out,
        &[
            "--nodes",
            "1",
            "--slots",
            "2",
            "compare",
            "--peers",
            "",
            "--throughput-tasks",
            "200",
            "--throughput-job-size",
            "50",
            "--latency-count",
            "20",
            "--loads",
            "0.5",
            "--seconds",
            "1",
            "--makespan-tasks",
            "20",
            "--service-ms",
            "5",
            "--scaling-max-nodes",
            "2",
            "--probe-ratios",
            "1,2",
            "--chain-links",
            "5",
            "--fan-out-tasks",
            "30",
            "--wordcount-files",
            "3",
            "--wordcount-words",
            "60",
            "--wordcount-reducers",
            "2",
            "--graph-runs",
            "2",
            "--doc",
            doc_arg,
        ],
    );
    assert!(stdout.contains("no-op throughput (tasks/s)"), "{stdout}");
    let text = std::fs::read_to_string(&doc).expect("report written");
    assert!(text.starts_with("# Benchmarks"), "{text}");
    assert!(!text.contains("old text"), "{text}");
    assert!(text.ends_with("\nhand-written findings\n"), "notes kept: {text}");
    assert!(text.contains("## Scaling (passer)") && text.contains("## Probe ratio at 80% load (passer)"), "{text}");
    for plot in ["load", "scaling", "probe-ratio"] {
        assert!(out.join("benchmarks").join(format!("{plot}.svg")).exists(), "{plot}.svg");
    }
    let comparison = json(out.join("compare.json"));
    assert_eq!(comparison["scaling"].as_array().map(Vec::len), Some(2));
    let graphs = &comparison["graphs"]["passer"];
    assert_eq!(graphs["chain"]["runs"].as_array().map(Vec::len), Some(2), "{graphs}");
    assert_eq!(graphs["words"], 3 * 60, "{graphs}");
    assert!(graphs["chain_breakdown"]["run_us"]["count"].as_u64() == Some(5), "every link broken down: {graphs}");
    assert!(graphs["word_count_stages"]["map_ms"].as_f64() > Some(0.0), "stages timed: {graphs}");
    assert!(text.contains("## Task graphs") && text.contains("chain of 5: time per link (µs)"), "{text}");

    // --graphs-only rewrites that section in place and leaves the rest alone.
    let flat_part = text.split(passer_bench::bench::graph_report::BEGIN_MARKER).next().expect("before").to_owned();
    passer_bench(
        &out,
        &[
            "--nodes",
            "2",
            "compare",
            "--graphs-only",
            "--peers",
            "",
            "--chain-links",
            "3",
            "--fan-out-tasks",
            "10",
            "--wordcount-files",
            "2",
            "--wordcount-words",
            "40",
            "--wordcount-reducers",
            "2",
            "--graph-runs",
            "1",
            "--doc",
            doc_arg,
        ],
    );
    let rewritten = std::fs::read_to_string(&doc).expect("report rewritten");
    assert!(rewritten.starts_with(&flat_part), "the flat part is kept: {rewritten}");
    assert_eq!(rewritten.matches("## Task graphs").count(), 1, "{rewritten}");
    assert!(rewritten.contains("chain of 3: time per link (µs)"), "{rewritten}");
    assert!(rewritten.ends_with("\nhand-written findings\n"), "notes kept: {rewritten}");
    let _ = std::fs::remove_dir_all(&out);
}

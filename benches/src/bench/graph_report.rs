//! Renders the task-graph figures: the "Task graphs" section of
//! `docs/benchmarks.md` (between its own markers, so `compare
//! --graphs-only` can rewrite it in place and leave the rest of the file
//! alone) and the terminal table.

use std::fmt::Write as _;
use std::path::Path;

use anyhow::Context;

use super::compare::{GraphComparison, GraphResults};
use super::peers::PeerReport;
use super::report::{rows_table, NOTES_MARKER};

/// The line the graph section starts with.
pub const BEGIN_MARKER: &str = "<!-- task graphs: begin (rewritten by passer-bench compare) -->";
/// The line the graph section ends with.
pub const END_MARKER: &str = "<!-- task graphs: end -->";

/// What each system was given, as the section states it.
fn idioms(links: usize, reducers: usize) -> String {
    IDIOMS.replace("{links}", &links.to_string()).replace("{reducers}", &reducers.to_string())
}

const IDIOMS: &str = "What each system was given (each in its fastest documented form; the task bodies are the same \
code for the three peers, `benches/peers/common.py`):\n\n\
- **passer**: the Rust SDK's graph API (`passer::graph`): the chain as single-task nodes each `after` the \
previous, the fan-out as one stage of no-op tasks and the fan-in as one task `after` it (its payload envelope \
carries every output), the word count as a `wc-map` stage and a `wc-reduce` stage made by a generator from the map \
outputs (the shuffle runs in the frontend: a map's output is one JSON line of counts per partition, and the \
generator hands line j of every map to reduce j without parsing it). Each stage is an ordinary job (batch \
sampling, late binding); every reduce needs every map, so `after_task` edges would not start one sooner. The \
executors are `passer-bench executor` processes (Rust: `benches/src/bench/wc_tasks.rs`), one per node monitor.\n\
- **Ray**: object refs passed as arguments (`link.remote(previous_ref)`, `count_inputs.remote(*refs)`; never \
`ray.get` inside a task); the word count's map returns one object per partition (`num_returns`) and each reduce \
takes its partition's refs.\n\
- **Dask**: futures passed to `client.submit` (the chain), `client.map` then one `submit` over the list (fan-out / \
fan-in), `client.map` of the maps then one `submit` per reducer over the map futures (word count).\n\
- **Celery**: a `chain` of {links} signatures, a `chord` (a group of no-ops, then one task over the list of \
results), and for the word count two `group`s with the map outputs passed through the client (a chord's body is a \
single task, and the reduce is {reducers}); Redis as broker and result backend, on a port of its own. A peer's run \
that passes the workload timeout is shown as \"did not finish in N s\" and the peer restarted for the next \
workload.\n";

/// The graph section of docs/benchmarks.md, markers included.
pub fn section(graphs: &GraphResults, passer_version: &str, peers: &[&PeerReport], header: Option<&str>) -> String {
    let spec = &graphs.spec;
    let passer = &graphs.passer;
    let mut text = format!("{BEGIN_MARKER}\n## Task graphs\n\n");
    if let Some(header) = header {
        text.push_str(header);
    }
    let mut names = vec![format!("passer {passer_version}")];
    names.extend(peers.iter().map(|report| format!("{} {}", report.system, report.version)));
    let systems: Vec<&str> = peers.iter().map(|report| report.system.as_str()).collect();
    let _ = writeln!(
        text,
        "Medians of {} runs for passer and {} for each peer, on the same 2 worker processes ({} node monitors × {} \
         slot, {} task(s) per slot taken ahead; each peer with {} worker processes). Lower is better; \"passer vs X\" \
         is how many times faster passer is.\n",
        spec.runs,
        spec.peer_runs,
        passer.shape.node_monitors,
        passer.shape.slots_per_node,
        passer.shape.prefetch_per_slot,
        passer.shape.total_slots()
    );
    text.push_str(&rows_table(&names, &systems, &graphs.rows));
    let _ = writeln!(
        text,
        "\nChain: {} no-op tasks, each after the previous. Fan-out / fan-in: {} no-op tasks, then one task over all \
         their outputs. Word count: {} generated files of {} words ({} words in all, a Zipf-like draw from 5,000 \
         words), one map task per file, {} reduce tasks by CRC-32 partition, checked against a local count on every \
         run and every system.\n",
        spec.chain_links,
        spec.fan_out_tasks,
        spec.wordcount_files,
        spec.wordcount_words,
        passer.words,
        spec.wordcount_reducers
    );
    text.push_str(&idioms(spec.chain_links, spec.wordcount_reducers));
    let memory = &passer.frontend;
    let mib = |value: Option<f64>| value.map_or_else(|| "not measured".to_owned(), |mib| format!("{mib:.1} MiB"));
    let _ = writeln!(
        text,
        "\npasser's frontend (the benchmark process running the graphs through the SDK) peaked at {} resident: {} \
         during the chains, {} during the fan-outs, {} during the word counts (VmHWM, reset before each workload).\n",
        mib(memory.peak_mib()),
        mib(memory.chain_mib),
        mib(memory.fan_out_mib),
        mib(memory.word_count_mib)
    );
    let link = &passer.chain_breakdown;
    let _ = writeln!(
        text,
        "Where a chain link's time goes on passer (over the links of the median run, µs, median / mean): the \
         graph driver from one link's result to the next link's submission {:.0} / {:.0}; the client side of the \
         job (submission and acceptance, the result's way back) {:.0} / {:.0} (p90 {:.0}); acceptance to launch \
         on a node monitor {:.0} / {:.0}; launch to the result at the scheduler outside the executor {:.0} / {:.0}; \
         in the executor {:.0} / {:.0}. The time per link in the table is the mean.\n",
        link.driver_us.p50,
        link.driver_us.mean,
        link.client_us.p50,
        link.client_us.mean,
        link.client_us.p90,
        link.queued_us.p50,
        link.queued_us.mean,
        link.node_us.p50,
        link.node_us.mean,
        link.run_us.p50,
        link.run_us.mean
    );
    let stages = &passer.word_count_stages;
    let _ = writeln!(
        text,
        "Where a word count's time goes on passer (the median run, ms): the map stage from submission to its \
         last result at the frontend {:.1}; the shuffle (the generator splitting the map outputs into the reduce \
         payloads, in the frontend) {:.1}; from there until the reduce stage was submitted {:.1}; the reduce stage \
         {:.1}.\n",
        stages.map_ms, stages.shuffle_ms, stages.handoff_ms, stages.reduce_ms
    );
    text.push_str(&verdict(graphs, &systems));
    let _ = writeln!(text, "\n{END_MARKER}");
    text
}

/// One line per workload: passer against the best peer, and whether that is 2× or more.
fn verdict(graphs: &GraphResults, systems: &[&str]) -> String {
    let mut text = String::from("Against the best peer on each (target: 2× or more):\n\n");
    for row in &graphs.rows {
        let best = (0..systems.len())
            .filter_map(|peer_index| row.advantage(peer_index).map(|ratio| (ratio, systems[peer_index])))
            .min_by(|a, b| a.0.total_cmp(&b.0));
        let mut line = match best {
            Some((ratio, system)) => {
                format!("{ratio:.1}× {system} ({})", if ratio >= 2.0 { "met" } else { "not met" })
            }
            None => "no peer finished".to_owned(),
        };
        for (peer_index, system) in systems.iter().enumerate() {
            if let (Some(least), Some(Some(unfinished))) =
                (row.advantage_at_least(peer_index), row.unfinished.get(peer_index + 1))
            {
                let _ = write!(
                    line,
                    "; {system} did not finish in {:.0} s (passer more than {least:.0}× faster)",
                    unfinished.timeout_seconds
                );
            }
        }
        let _ = writeln!(text, "- {}: {line}", row.label);
    }
    text
}

/// The section for `compare --graphs-only`, with its own header lines.
pub fn standalone_section(comparison: &GraphComparison, command: &str) -> String {
    let machine = &comparison.machine;
    let mut header = format!(
        "Written by `{command}` on {} CPUs ({}); load average {} before, {} after.",
        machine.cpus, machine.cpu_model, machine.load_average, comparison.load_average_after
    );
    for peer in &comparison.peers {
        if let Err(error) = peer {
            let _ = write!(header, " A peer failed: `{}`.", error.lines().next().unwrap_or_default());
        }
    }
    header.push_str("\n\n");
    section(&comparison.graphs, &machine.passer, &comparison.peer_reports(), Some(&header))
}

/// The graph section of a document, markers included, if it has one.
pub fn existing_section(text: &str) -> Option<&str> {
    let begin = text.find(BEGIN_MARKER)?;
    let end = begin + text[begin..].find(END_MARKER)? + END_MARKER.len();
    Some(&text[begin..end])
}

/// Puts `section` into `path`: in place of an older graph section, else
/// before the notes marker, else at the end.
pub fn write_section(path: &Path, section: &str) -> anyhow::Result<()> {
    let old = std::fs::read_to_string(path).unwrap_or_default();
    let text = if let (Some(begin), Some(end)) = (old.find(BEGIN_MARKER), old.find(END_MARKER)) {
        let after = &old[end + END_MARKER.len()..];
        format!("{}{}{}", &old[..begin], section.trim_end_matches('\n'), after)
    } else if let Some(notes) = old.find(NOTES_MARKER) {
        format!("{}{section}\n{}", &old[..notes], &old[notes..])
    } else {
        format!("{old}\n{section}")
    };
    std::fs::write(path, text).with_context(|| format!("write {}", path.display()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_section_is_replaced_in_place_and_notes_stay() {
        let dir = std::env::temp_dir().join(format!("passer-graph-report-{}", std::process::id()));
        std::fs::create_dir_all(&dir).expect("dir");
        let path = dir.join("benchmarks.md");
        std::fs::write(&path, format!("# Benchmarks\n\nflat\n\n{NOTES_MARKER}\nnotes\n")).expect("write");
        write_section(&path, &format!("{BEGIN_MARKER}\none\n{END_MARKER}\n")).expect("first");
        write_section(&path, &format!("{BEGIN_MARKER}\ntwo\n{END_MARKER}\n")).expect("second");
        let text = std::fs::read_to_string(&path).expect("read");
        assert_eq!(
            text,
            format!("# Benchmarks\n\nflat\n\n{BEGIN_MARKER}\ntwo\n{END_MARKER}\n\n{NOTES_MARKER}\nnotes\n")
        );
        let _ = std::fs::remove_dir_all(&dir);
    }

    #[test]
    fn the_existing_section_is_found_with_its_markers() {
        let text = format!("head\n{BEGIN_MARKER}\nbody\n{END_MARKER}\ntail");
        assert_eq!(existing_section(&text), Some(format!("{BEGIN_MARKER}\nbody\n{END_MARKER}").as_str()));
        assert_eq!(existing_section("no section here"), None);
        assert_eq!(existing_section(&format!("{BEGIN_MARKER} but no end")), None);
    }
}

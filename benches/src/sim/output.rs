//! Results out: CSV, a Markdown table with each strategy's ratio to
//! `omniscient`, and an SVG plot of median and 95th-percentile job response
//! time against the preset's axis (plotters' SVG backend, no system fonts).

use std::fmt::Write as _;
use std::io::{self, Write};
use std::path::Path;

use plotters::prelude::*;

use super::metrics::Summary;
use super::presets::{Axis, Preset};
use super::strategy::Strategy;
use super::sweep::{Row, Spread};

/// A configuration label read back from CSV, as one of the labels rows use.
fn known_label(label: &str) -> &'static str {
    ["push", "fair", "default", "modified"].into_iter().find(|known| *known == label).unwrap_or("unknown")
}

/// The CSV header, matching [`csv_line`].
pub const CSV_HEADER: &str =
    "preset,strategy,group,load,probe_ratio,nodes,jobs,median_ms,p95_ms,p99_ms,mean_ms,events,asks,empty_asks,wall_seconds,cpu_seconds,seeds,median_min_ms,median_max_ms,median_sd_ms,configuration,configuration_detail";

/// One row as a CSV line (no newline).
pub fn csv_line(row: &Row) -> String {
    let s = &row.summary;
    format!(
        "{},{},{},{},{},{},{},{:.3},{:.3},{:.3},{:.3},{},{},{},{:.3},{:.2},{},{:.3},{:.3},{:.3},{},{}",
        row.preset,
        row.strategy,
        row.group,
        row.load,
        row.probe_ratio,
        row.nodes,
        s.jobs,
        s.median_ms,
        s.p95_ms,
        s.p99_ms,
        s.mean_ms,
        row.events,
        row.asks,
        row.empty_asks,
        row.wall_seconds,
        row.cpu_seconds,
        row.seeds,
        row.median_spread.min_ms,
        row.median_spread.max_ms,
        row.median_spread.sd_ms,
        row.configuration,
        row.configuration_detail.replace(',', ";")
    )
}

/// Writes every row as CSV.
pub fn write_csv(rows: &[Row], out: &mut impl Write) -> io::Result<()> {
    writeln!(out, "{CSV_HEADER}")?;
    for row in rows {
        writeln!(out, "{}", csv_line(row))?;
    }
    Ok(())
}

/// The omniscient row matching `row`'s load and group, if any.
fn omniscient_for<'a>(rows: &'a [Row], row: &Row) -> Option<&'a Row> {
    rows.iter()
        .find(|other| other.strategy == Strategy::Omniscient && other.load == row.load && other.group == row.group)
}

/// A Markdown table of the rows with ratios to omniscient: each figure the
/// mean over the seeds, the medians' spread (min–max, standard deviation)
/// beside it, the configuration of each row named, and a legend of the
/// configurations below.
pub fn markdown_table(rows: &[Row]) -> String {
    let mut table = String::from(
        "| strategy | configuration | group | load | d | seeds | median ms | median spread ms (min–max, sd) | p95 ms | p99 ms | median / omniscient | p95 / omniscient |\n\
         |---|---|---|---|---|---|---|---|---|---|---|---|\n",
    );
    for row in rows {
        let ratio = |pick: fn(&Row) -> f64| match omniscient_for(rows, row) {
            Some(best) => format!("{:.3}", pick(row) / pick(best)),
            None => "-".to_owned(),
        };
        let spread = &row.median_spread;
        let _ = writeln!(
            table,
            "| {} | {} | {} | {} | {} | {} | {:.1} | {:.1}–{:.1}, {:.2} | {:.1} | {:.1} | {} | {} |",
            row.strategy,
            row.configuration,
            row.group,
            row.load,
            row.probe_ratio,
            row.seeds,
            row.summary.median_ms,
            spread.min_ms,
            spread.max_ms,
            spread.sd_ms,
            row.summary.p95_ms,
            row.summary.p99_ms,
            ratio(|r| r.summary.median_ms),
            ratio(|r| r.summary.p95_ms),
        );
    }
    let mut legend: Vec<(String, &str)> = Vec::new();
    for row in rows {
        let entry = (format!("{} ({})", row.strategy, row.configuration), row.configuration_detail.as_str());
        if !legend.contains(&entry) {
            legend.push(entry);
        }
    }
    table.push_str("\nConfigurations:\n");
    for (name, detail) in legend {
        let _ = writeln!(table, "- {name}: {detail}");
    }
    table
}

/// A panel of the plot: its title and the figure it shows for each row.
type Metric = (&'static str, fn(&Row) -> f64);

/// Draws median and p95 response time against the preset's axis, one line
/// per strategy and group, into an SVG file.
pub fn plot(preset: &Preset, rows: &[Row], path: &Path) -> Result<(), String> {
    let series = series_of(preset, rows);
    let (x_label, x_of): (&str, fn(&Row) -> f64) = match preset.axis {
        Axis::Load => ("offered load", |row| row.load),
        Axis::ProbeRatio => ("probe ratio d", |row| row.probe_ratio),
    };
    let xs: Vec<f64> = rows.iter().map(x_of).collect();
    let (x_min, x_max) = bounds(&xs);
    let root = SVGBackend::new(path, (1100, 460)).into_drawing_area();
    root.fill(&WHITE).map_err(|e| e.to_string())?;
    let panels = root.split_evenly((1, 2));
    let metrics: [Metric; 2] =
        [("median job response time", |r| r.summary.median_ms), ("95th percentile", |r| r.summary.p95_ms)];
    for (panel, (title, metric)) in panels.iter().zip(metrics) {
        let ys: Vec<f64> = rows.iter().map(metric).collect();
        let (y_min, y_max) = decades(&ys);
        let mut chart = ChartBuilder::on(panel)
            .caption(format!("{} — {title}", preset.name), ("sans-serif", 18))
            .margin(12)
            .x_label_area_size(40)
            .y_label_area_size(60)
            .build_cartesian_2d(x_min..x_max, (y_min..y_max).log_scale())
            .map_err(|e| e.to_string())?;
        chart.configure_mesh().x_desc(x_label).y_desc("ms (log scale)").draw().map_err(|e| e.to_string())?;
        for (index, (label, members)) in series.iter().enumerate() {
            let color = Palette99::pick(index).to_rgba();
            let mut points: Vec<(f64, f64)> = members.iter().map(|row| (x_of(row), metric(row))).collect();
            if let [(_, only_y)] = points[..] {
                // A strategy that ignores the axis (omniscient across probe
                // ratios) is drawn as a level line.
                points = vec![(x_min, only_y), (x_max, only_y)];
            }
            chart
                .draw_series(LineSeries::new(points, color.stroke_width(2)))
                .map_err(|e| e.to_string())?
                .label(label.clone())
                .legend(move |(x, y)| PathElement::new(vec![(x, y), (x + 20, y)], color.stroke_width(2)));
        }
        chart
            .configure_series_labels()
            .position(SeriesLabelPosition::UpperLeft)
            .background_style(WHITE.mix(0.85))
            .border_style(BLACK)
            .draw()
            .map_err(|e| e.to_string())?;
    }
    root.present().map_err(|e| e.to_string())
}

/// Rows split into lines: one per strategy (and group when there are several).
fn series_of<'a>(preset: &Preset, rows: &'a [Row]) -> Vec<(String, Vec<&'a Row>)> {
    let mut series: Vec<(String, Vec<&Row>)> = Vec::new();
    for row in rows {
        let several_groups = rows.iter().any(|other| other.group != row.group);
        let mut label =
            if several_groups { format!("{} {}", row.strategy, row.group) } else { row.strategy.to_string() };
        if preset.axis == Axis::Load && preset.probe_ratios.len() > 1 {
            let _ = write!(label, " d={}", row.probe_ratio);
        }
        match series.iter_mut().find(|(existing, _)| *existing == label) {
            Some((_, members)) => members.push(row),
            None => series.push((label, vec![row])),
        }
    }
    series
}

/// Bounds on whole decades, so a log axis always has labelled ticks.
fn decades(values: &[f64]) -> (f64, f64) {
    let (min, max) = bounds(values);
    let low = 10f64.powf(min.max(1e-3).log10().floor());
    let high = 10f64.powf(max.max(1e-3).log10().ceil());
    (low, if high > low { high } else { low * 10.0 })
}

fn bounds(values: &[f64]) -> (f64, f64) {
    let min = values.iter().copied().fold(f64::INFINITY, f64::min);
    let max = values.iter().copied().fold(f64::NEG_INFINITY, f64::max);
    if !min.is_finite() || !max.is_finite() {
        return (0.0, 1.0);
    }
    if max - min < 1e-9 {
        return (min - 0.5, max + 0.5);
    }
    (min, max)
}

/// Reads rows written by [`write_csv`] back (to redraw plots without
/// rerunning), for `preset`.
pub fn read_csv(text: &str, preset: &Preset) -> Result<Vec<Row>, String> {
    let mut lines = text.lines();
    let header = lines.next().ok_or("empty csv")?;
    let columns: Vec<&str> = header.split(',').collect();
    let column = |name: &str| columns.iter().position(|c| *c == name).ok_or(format!("csv lacks column {name}"));
    let [strategy, group, load, ratio, nodes, jobs, median, p95, p99, mean, events] = [
        "strategy",
        "group",
        "load",
        "probe_ratio",
        "nodes",
        "jobs",
        "median_ms",
        "p95_ms",
        "p99_ms",
        "mean_ms",
        "events",
    ]
    .map(column);
    let (strategy, group, load, ratio, nodes, jobs) = (strategy?, group?, load?, ratio?, nodes?, jobs?);
    let (median, p95, p99, mean, events) = (median?, p95?, p99?, mean?, events?);
    let optional = |name: &str| columns.iter().position(|c| *c == name);
    let (asks, empty_asks, wall, cpu) =
        (optional("asks"), optional("empty_asks"), optional("wall_seconds"), optional("cpu_seconds"));
    let (seeds, median_min, median_max, median_sd) =
        (optional("seeds"), optional("median_min_ms"), optional("median_max_ms"), optional("median_sd_ms"));
    let (configuration, configuration_detail) = (optional("configuration"), optional("configuration_detail"));
    lines
        .enumerate()
        .filter(|(_, line)| !line.trim().is_empty())
        .map(|(index, line)| {
            let fields: Vec<&str> = line.split(',').collect();
            let bad = |what: &str| format!("csv line {}: bad {what}", index + 2);
            let number = |at: usize, what: &str| fields.get(at).and_then(|f| f.parse::<f64>().ok()).ok_or(bad(what));
            let maybe = |at: Option<usize>| at.and_then(|at| fields.get(at)).and_then(|f| f.parse::<f64>().ok());
            Ok(Row {
                preset: preset.name,
                strategy: fields.get(strategy).ok_or(bad("strategy"))?.parse()?,
                load: number(load, "load")?,
                probe_ratio: number(ratio, "probe_ratio")?,
                group: fields.get(group).ok_or(bad("group"))?.to_string(),
                summary: Summary {
                    jobs: number(jobs, "jobs")? as usize,
                    median_ms: number(median, "median_ms")?,
                    p95_ms: number(p95, "p95_ms")?,
                    p99_ms: number(p99, "p99_ms")?,
                    mean_ms: number(mean, "mean_ms")?,
                },
                nodes: number(nodes, "nodes")? as u32,
                events: number(events, "events")? as u64,
                asks: maybe(asks).unwrap_or(0.0) as u64,
                empty_asks: maybe(empty_asks).unwrap_or(0.0) as u64,
                wall_seconds: maybe(wall).unwrap_or(0.0),
                cpu_seconds: maybe(cpu).unwrap_or(0.0),
                seeds: maybe(seeds).unwrap_or(1.0) as usize,
                median_spread: Spread {
                    min_ms: maybe(median_min).unwrap_or(0.0),
                    max_ms: maybe(median_max).unwrap_or(0.0),
                    sd_ms: maybe(median_sd).unwrap_or(0.0),
                },
                configuration: configuration
                    .and_then(|at| fields.get(at))
                    .map_or("unknown", |label| known_label(label)),
                configuration_detail: configuration_detail
                    .and_then(|at| fields.get(at))
                    .map_or_else(String::new, |detail| (*detail).to_owned()),
            })
        })
        .collect()
}

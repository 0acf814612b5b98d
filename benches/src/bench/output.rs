//! Where results go: pretty JSON files and SVG line plots (plotters' SVG
//! backend, so no system font libraries are needed).

use std::path::{Path, PathBuf};

use anyhow::Context;
use plotters::prelude::*;
use serde::Serialize;

/// Writes `value` as pretty JSON to `dir/name.json` and returns the path.
pub fn write_json(dir: &Path, name: &str, value: &impl Serialize) -> anyhow::Result<PathBuf> {
    std::fs::create_dir_all(dir).with_context(|| format!("create {}", dir.display()))?;
    let path = dir.join(format!("{name}.json"));
    let text = serde_json::to_string_pretty(value).context("serialize results")?;
    std::fs::write(&path, text + "\n").with_context(|| format!("write {}", path.display()))?;
    Ok(path)
}

/// One named line of a plot.
#[derive(Debug, Clone)]
pub struct Series {
    /// Legend label.
    pub name: String,
    /// (x, y) points in x order.
    pub points: Vec<(f64, f64)>,
}

/// What a plot shows.
#[derive(Debug, Clone)]
pub struct LinePlot<'a> {
    /// Caption.
    pub title: &'a str,
    /// X axis label.
    pub x_label: &'a str,
    /// Y axis label.
    pub y_label: &'a str,
    /// The lines.
    pub series: Vec<Series>,
}

const COLOURS: [RGBColor; 6] = [BLUE, RED, GREEN, MAGENTA, CYAN, BLACK];

/// Draws `plot` as an SVG file at `dir/name.svg` and returns the path.
pub fn write_svg(dir: &Path, name: &str, plot: &LinePlot<'_>) -> anyhow::Result<PathBuf> {
    std::fs::create_dir_all(dir).with_context(|| format!("create {}", dir.display()))?;
    let path = dir.join(format!("{name}.svg"));
    draw(&path, plot).map_err(|error| anyhow::anyhow!("plot {}: {error}", path.display()))?;
    Ok(path)
}

fn draw(path: &Path, plot: &LinePlot<'_>) -> Result<(), Box<dyn std::error::Error>> {
    let points = plot.series.iter().flat_map(|series| series.points.iter());
    let (x_min, x_max, y_max) = points.fold((f64::MAX, f64::MIN, 0.0f64), |(x_min, x_max, y_max), &(x, y)| {
        (x_min.min(x), x_max.max(x), y_max.max(y))
    });
    let (x_min, x_max) = if x_min < x_max { (x_min, x_max) } else { (0.0, 1.0) };
    let y_top = if y_max > 0.0 { y_max * 1.1 } else { 1.0 };
    let root = SVGBackend::new(path, (800, 500)).into_drawing_area();
    root.fill(&WHITE)?;
    let mut chart = ChartBuilder::on(&root)
        .caption(plot.title, ("sans-serif", 22))
        .margin(15)
        .x_label_area_size(45)
        .y_label_area_size(60)
        .build_cartesian_2d(x_min..x_max, 0.0..y_top)?;
    chart.configure_mesh().x_desc(plot.x_label).y_desc(plot.y_label).draw()?;
    for (index, series) in plot.series.iter().enumerate() {
        let colour = COLOURS[index % COLOURS.len()];
        chart
            .draw_series(LineSeries::new(series.points.iter().copied(), colour.stroke_width(2)))?
            .label(series.name.clone())
            .legend(move |(x, y)| PathElement::new(vec![(x, y), (x + 20, y)], colour.stroke_width(2)));
    }
    chart.configure_series_labels().border_style(BLACK).background_style(WHITE.mix(0.8)).draw()?;
    root.present()?;
    Ok(())
}

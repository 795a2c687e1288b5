//! The soak's curves as one SVG (plotters' SVG backend): a panel per kind of quantity, minutes
//! across.

use crate::soak::{Sample, Series};
use anyhow::Result;
use plotters::prelude::*;

/// Which series share a panel, by their names in `series`.
const PANELS: [(&str, &[&str]); 6] = [
    ("Memory of the process (MB)", &["memory (RSS)", "of it anonymous", "of it mapped files"]),
    ("Descriptors, threads, tasks", &["file descriptors", "threads", "tokio tasks"]),
    ("Database files (MB)", &["central database", "edges' databases", "write-ahead logs"]),
    ("Database bytes per order (KB)", &["database per order"]),
    ("Queues", &["edge events unsent", "commands unpulled", "journal consumer lag (max)", "orders open"]),
    ("Payment risk engine: attempts in its windows", &["risk engine attempts"]),
];

const COLOURS: [RGBColor; 4] = [RGBColor(31, 119, 180), RGBColor(214, 39, 40), RGBColor(44, 160, 44), RGBColor(148, 103, 189)];

pub fn svg(samples: &[Sample], series: &[Series]) -> Result<String> {
    let mut out = String::new();
    {
        let root = SVGBackend::with_string(&mut out, (960, 300 * PANELS.len() as u32)).into_drawing_area();
        root.fill(&WHITE).map_err(draw_error)?;
        let x_max = samples.last().map_or(1.0, |s| s.minute).max(1.0);
        for (area, (title, names)) in root.split_evenly((PANELS.len(), 1)).iter().zip(PANELS) {
            let lines: Vec<&Series> = names.iter().filter_map(|n| series.iter().find(|s| s.0 == *n)).collect();
            let y_max = samples
                .iter()
                .flat_map(|s| lines.iter().map(move |l| (l.2)(s)))
                .filter(|v| v.is_finite())
                .fold(1.0f64, f64::max)
                * 1.15;
            let mut chart = ChartBuilder::on(area)
                .caption(title, ("sans-serif", 18))
                .margin(10)
                .x_label_area_size(30)
                .y_label_area_size(60)
                .build_cartesian_2d(0f64..x_max, 0f64..y_max)
                .map_err(draw_error)?;
            chart.configure_mesh().x_desc("minutes").draw().map_err(draw_error)?;
            for (i, (name, _, value)) in lines.into_iter().enumerate() {
                let colour = COLOURS[i % COLOURS.len()];
                let points = samples.iter().map(|s| (s.minute, value(s))).filter(|p| p.1.is_finite());
                chart
                    .draw_series(LineSeries::new(points, colour.stroke_width(2)))
                    .map_err(draw_error)?
                    .label(*name)
                    .legend(move |(x, y)| PathElement::new(vec![(x, y), (x + 18, y)], colour.stroke_width(2)));
            }
            chart
                .configure_series_labels()
                .position(SeriesLabelPosition::LowerRight)
                .background_style(WHITE.mix(0.85))
                .border_style(BLACK)
                .draw()
                .map_err(draw_error)?;
        }
        root.present().map_err(draw_error)?;
    }
    Ok(out)
}

fn draw_error(e: impl std::fmt::Display) -> anyhow::Error {
    anyhow::anyhow!("drawing the soak's curves: {e}")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_panel_and_series_is_drawn() {
        let samples: Vec<Sample> = (0..10)
            .map(|m| Sample { minute: m as f64, rss_mb: 50.0 + m as f64, fds: 40.0, orders: 10.0 * m as f64, ..Default::default() })
            .collect();
        let series: [Series; 2] = [("memory (RSS)", "MB", |s| s.rss_mb), ("file descriptors", "", |s| s.fds)];
        let svg = svg(&samples, &series).expect("the chart draws");
        assert!(svg.starts_with("<svg"), "{}", &svg[..80.min(svg.len())]);
        for title in PANELS.map(|p| p.0) {
            assert!(svg.contains(&title.replace('\'', "&apos;")) || svg.contains(title), "panel {title} missing");
        }
        assert!(svg.contains("memory (RSS)") && svg.contains("file descriptors"));
        assert!(svg.matches("<polyline").count() >= 2, "two curves drawn");
    }
}

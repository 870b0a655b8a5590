//! The SVG plot: lockstep echo throughput against message size, one line per contender.

use crate::scenarios::echo::Point;
use plotters::prelude::*;

pub fn throughput_svg(points: &[Point], path: &std::path::Path) -> Result<(), String> {
    let mut labels: Vec<&str> = Vec::new();
    for (l, _, _) in points {
        if !labels.contains(&l.as_str()) {
            labels.push(l);
        }
    }
    let (min_x, max_x) = points.iter().fold((f64::MAX, 1.0f64), |(lo, hi), p| {
        (lo.min(p.1 as f64), hi.max(p.1 as f64))
    });
    let (min_y, max_y) = points.iter().fold((f64::MAX, 1e-3f64), |(lo, hi), p| {
        (lo.min(p.2), hi.max(p.2))
    });
    if points.is_empty() {
        return Err("nothing to plot".into());
    }
    let root = SVGBackend::new(path, (900, 560)).into_drawing_area();
    let e = |e: DrawingAreaErrorKind<_>| e.to_string();
    root.fill(&WHITE).map_err(e)?;
    let mut chart = ChartBuilder::on(&root)
        .caption(
            "Lockstep echo on loopback, server CPU 0, client CPU 1: throughput vs size",
            ("sans-serif", 20),
        )
        .margin(15)
        .x_label_area_size(45)
        .y_label_area_size(70)
        .build_cartesian_2d(
            ((min_x / 1.5)..(max_x * 1.5)).log_scale(),
            ((min_y / 2.0).max(1e-4)..(max_y * 2.0)).log_scale(),
        )
        .map_err(e)?;
    chart
        .configure_mesh()
        .x_desc("message size (bytes, log)")
        .y_desc("MB/s one way (log)")
        .x_label_formatter(&|x| crate::scenarios::size_label(*x as usize))
        .draw()
        .map_err(e)?;
    for (i, label) in labels.iter().enumerate() {
        let color = if label.starts_with("raw floor") {
            BLACK.to_rgba()
        } else {
            Palette99::pick(i).to_rgba()
        };
        let mut series: Vec<(f64, f64)> = points
            .iter()
            .filter(|p| p.0 == *label)
            .map(|p| (p.1 as f64, p.2))
            .collect();
        series.sort_by(|a, b| a.0.total_cmp(&b.0));
        chart
            .draw_series(LineSeries::new(series.clone(), color.stroke_width(2)))
            .map_err(e)?
            .label(label.to_string())
            .legend(move |(x, y)| {
                PathElement::new(vec![(x, y), (x + 20, y)], color.stroke_width(2))
            });
        chart
            .draw_series(
                series
                    .iter()
                    .map(|&(x, y)| Circle::new((x, y), 3, color.filled())),
            )
            .map_err(e)?;
    }
    chart
        .configure_series_labels()
        .position(SeriesLabelPosition::UpperLeft)
        .background_style(WHITE.mix(0.8))
        .border_style(BLACK)
        .draw()
        .map_err(e)?;
    root.present().map_err(e)?;
    Ok(())
}

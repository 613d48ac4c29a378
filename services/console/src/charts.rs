//! Charts drawn on the server as SVG (plotters' SVG backend), each with a title and a
//! description a screen reader announces; the page puts the same figures in a table beside it.

use plotters::prelude::*;

/// A bar chart of `bars` (label, value), its axis labelled by `unit` (e.g. won in 억); empty
/// when there is nothing to draw.
pub fn bar_chart(
    id: &str,
    title: &str,
    description: &str,
    bars: &[(String, f64)],
    unit: &dyn Fn(f64) -> String,
) -> String {
    if bars.is_empty() || bars.iter().all(|(_, v)| *v <= 0.0) {
        return String::new();
    }
    let mut svg = String::new();
    if let Err(error) = draw(&mut svg, bars, unit).map_err(|e| e.to_string()) {
        tracing::warn!(%error, "chart not drawn");
        return String::new();
    }
    accessible(&svg, id, title, description)
}

fn draw<'a>(
    svg: &'a mut String,
    bars: &'a [(String, f64)],
    unit: &'a dyn Fn(f64) -> String,
) -> Result<(), Box<dyn std::error::Error + 'a>> {
    let max = bars.iter().map(|(_, v)| *v).fold(0.0_f64, f64::max) * 1.1;
    let root = SVGBackend::with_string(svg, (640, 360)).into_drawing_area();
    root.fill(&WHITE)?;
    // Bar i is centred on x = i, where the axis puts its label.
    let count = bars.len() as f64;
    let mut chart = ChartBuilder::on(&root)
        .margin(16)
        .x_label_area_size(48)
        .y_label_area_size(88)
        .build_cartesian_2d(-0.5..count - 0.5, 0.0..max)?;
    chart
        .configure_mesh()
        .disable_x_mesh()
        .x_labels(bars.len())
        .x_label_formatter(&|x| {
            let i = x.round();
            if (x - i).abs() < 1e-6 && i >= 0.0 {
                bars.get(i as usize)
                    .map(|(l, _)| l.clone())
                    .unwrap_or_default()
            } else {
                String::new()
            }
        })
        .y_labels(6)
        .y_label_formatter(&|v| unit(*v))
        // The page's own font (embedded), so Korean labels render on any machine.
        .label_style(("Pretendard GOV", 14))
        .draw()?;
    let blue = RGBColor(0x25, 0x63, 0xd4);
    chart.draw_series(bars.iter().enumerate().map(|(i, (_, value))| {
        let left = i as f64 - 0.35;
        Rectangle::new([(left, 0.0), (left + 0.7, *value)], blue.filled())
    }))?;
    root.present()?;
    Ok(())
}

fn escape(text: &str) -> String {
    text.replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
        .replace('"', "&quot;")
}

/// Gives the chart an accessible name and description, and lets it scale with the page.
fn accessible(svg: &str, id: &str, title: &str, description: &str) -> String {
    let Some(open_end) = svg.find('>') else {
        return String::new();
    };
    let (open, rest) = svg.split_at(open_end);
    let open = open
        .replacen("width=\"640\"", "", 1)
        .replacen("height=\"360\"", "", 1);
    format!(
        "{open} role=\"img\" aria-labelledby=\"{id}-title {id}-desc\"><title id=\"{id}-title\">{}</title><desc id=\"{id}-desc\">{}</desc>{}",
        escape(title),
        escape(description),
        &rest[1..]
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_chart_is_an_image_with_a_name_and_no_inline_style() {
        let unit = |v: f64| format!("{v:.0}");
        let svg = bar_chart(
            "by-year",
            "연도별 매출",
            "설명 <표>",
            &[("2023".into(), 10.0), ("2024".into(), 25.5)],
            &unit,
        );
        assert!(svg.starts_with("<svg"), "{svg}");
        assert!(svg.contains("role=\"img\""));
        assert!(svg.contains("<title id=\"by-year-title\">연도별 매출</title>"));
        assert!(svg.contains("설명 &lt;표&gt;"));
        assert!(svg.contains("viewBox"), "scales with the page: {svg}");
        // The console's CSP allows no inline styles.
        assert!(!svg.contains("style="), "{svg}");
        let flat = svg.replace('\n', "");
        assert!(
            flat.contains(">2023<") && flat.contains(">2024<"),
            "labels under the bars"
        );
        assert_eq!(bar_chart("x", "t", "d", &[], &unit), "");
    }
}

//! Line charts as hand-written SVG (a few panels stacked, one x axis each): no plotting crate for
//! three charts, and the output is a small text file that diffs and renders on GitHub.

use std::fmt::Write as _;

/// One line: its name in the legend, its colour, and its points (x, y).
pub struct Line {
    pub name: String,
    pub colour: &'static str,
    pub points: Vec<(f64, f64)>,
}

/// One chart of a figure.
pub struct Panel {
    pub title: String,
    pub y_label: String,
    pub lines: Vec<Line>,
}

pub const COLOURS: &[&str] = &["#1f77b4", "#d62728", "#2ca02c", "#ff7f0e", "#9467bd", "#8c564b", "#7f7f7f"];

const WIDTH: f64 = 760.0;
const PANEL_HEIGHT: f64 = 230.0;
const LEFT: f64 = 64.0;
const RIGHT: f64 = 190.0; // the legend
const TOP: f64 = 28.0;
const BOTTOM: f64 = 36.0;

/// A step of 1, 2 or 5 times a power of ten giving about `n` ticks up to `max`.
pub fn tick_step(max: f64, n: f64) -> f64 {
    if max <= 0.0 || !max.is_finite() {
        return 1.0;
    }
    let raw = max / n;
    let power = 10f64.powf(raw.log10().floor());
    [1.0, 2.0, 5.0, 10.0].into_iter().map(|m| m * power).find(|s| *s >= raw).unwrap_or(10.0 * power)
}

fn label(v: f64) -> String {
    if v.abs() >= 1000.0 || v == v.trunc() { format!("{v:.0}") } else { format!("{v:.1}") }
}

fn escape(s: &str) -> String {
    s.replace('&', "&amp;").replace('<', "&lt;").replace('>', "&gt;")
}

/// The figure: a title, caption lines under it, the panels one under the other, sharing the x
/// range (seconds) so that they read together.
pub fn figure(title: &str, caption: &[String], x_label: &str, panels: &[Panel]) -> String {
    let x_max = panels
        .iter()
        .flat_map(|p| p.lines.iter().flat_map(|l| l.points.iter().map(|p| p.0)))
        .fold(0.0f64, f64::max)
        .max(1.0);
    let header = 28.0 + 15.0 * caption.len() as f64;
    let height = header + PANEL_HEIGHT * panels.len() as f64;
    let mut svg = String::new();
    let _ = write!(
        svg,
        r#"<svg xmlns="http://www.w3.org/2000/svg" width="{WIDTH}" height="{height}" viewBox="0 0 {WIDTH} {height}" font-family="sans-serif" font-size="11">
<rect width="100%" height="100%" fill="white"/>
<text x="{LEFT}" y="18" font-size="14" font-weight="bold">{}</text>
"#,
        escape(title),
    );
    for (i, line) in caption.iter().enumerate() {
        let _ =
            writeln!(svg, r##"<text x="{LEFT}" y="{}" fill="#555">{}</text>"##, 34.0 + 15.0 * i as f64, escape(line));
    }
    for (i, panel) in panels.iter().enumerate() {
        draw(&mut svg, panel, header + PANEL_HEIGHT * i as f64, x_max, x_label);
    }
    svg.push_str("</svg>\n");
    svg
}

fn draw(svg: &mut String, panel: &Panel, top: f64, x_max: f64, x_label: &str) {
    let (x0, y0) = (LEFT, top + TOP);
    let (w, h) = (WIDTH - LEFT - RIGHT, PANEL_HEIGHT - TOP - BOTTOM);
    let y_max = panel.lines.iter().flat_map(|l| l.points.iter().map(|p| p.1)).fold(0.0f64, f64::max);
    let y_step = tick_step(y_max.max(1e-9), 4.0);
    let y_top = (y_max / y_step).ceil().max(1.0) * y_step;
    let x_step = tick_step(x_max, 8.0);
    let x_top = (x_max / x_step).ceil() * x_step;
    let sx = |x: f64| x0 + w * x / x_top;
    let sy = |y: f64| y0 + h - h * y / y_top;
    let _ = writeln!(svg, r#"<text x="{x0}" y="{}" font-weight="bold">{}</text>"#, top + 18.0, escape(&panel.title));
    let mut y = 0.0;
    while y <= y_top + y_step / 2.0 {
        let py = sy(y);
        let _ = writeln!(
            svg,
            r##"<line x1="{x0}" y1="{py:.1}" x2="{:.1}" y2="{py:.1}" stroke="#e5e5e5"/><text x="{:.1}" y="{:.1}" text-anchor="end">{}</text>"##,
            x0 + w,
            x0 - 6.0,
            py + 4.0,
            label(y)
        );
        y += y_step;
    }
    let mut x = 0.0;
    while x <= x_top + x_step / 2.0 {
        let px = sx(x);
        let _ = writeln!(
            svg,
            r##"<line x1="{px:.1}" y1="{y0}" x2="{px:.1}" y2="{:.1}" stroke="#f0f0f0"/><text x="{px:.1}" y="{:.1}" text-anchor="middle">{}</text>"##,
            y0 + h,
            y0 + h + 14.0,
            label(x)
        );
        x += x_step;
    }
    let _ = writeln!(
        svg,
        r##"<rect x="{x0}" y="{y0}" width="{w}" height="{h}" fill="none" stroke="#999"/>
<text x="{:.1}" y="{:.1}" text-anchor="middle" fill="#555">{}</text>
<text transform="translate({:.1},{:.1}) rotate(-90)" text-anchor="middle" fill="#555">{}</text>"##,
        x0 + w / 2.0,
        y0 + h + 30.0,
        escape(x_label),
        x0 - 46.0,
        y0 + h / 2.0,
        escape(&panel.y_label)
    );
    for (i, line) in panel.lines.iter().enumerate() {
        if line.points.is_empty() {
            continue;
        }
        let points: Vec<String> = line.points.iter().map(|(x, y)| format!("{:.1},{:.1}", sx(*x), sy(*y))).collect();
        let _ = writeln!(
            svg,
            r#"<polyline fill="none" stroke="{}" stroke-width="1.6" points="{}"/>"#,
            line.colour,
            points.join(" ")
        );
        let ly = y0 + 8.0 + 16.0 * i as f64;
        let lx = x0 + w + 12.0;
        let _ = writeln!(
            svg,
            r#"<line x1="{lx}" y1="{ly}" x2="{}" y2="{ly}" stroke="{}" stroke-width="2.5"/><text x="{}" y="{}">{}</text>"#,
            lx + 18.0,
            line.colour,
            lx + 24.0,
            ly + 4.0,
            escape(&line.name)
        );
    }
}

/// The number of events up to each moment, as a step line from (0, 0): `times` in seconds.
pub fn cumulative(times: &[f64]) -> Vec<(f64, f64)> {
    let mut sorted: Vec<f64> = times.iter().copied().filter(|t| t.is_finite()).collect();
    sorted.sort_by(f64::total_cmp);
    let mut points = vec![(0.0, 0.0)];
    for (i, t) in sorted.iter().enumerate() {
        points.push((t.max(0.0), i as f64));
        points.push((t.max(0.0), (i + 1) as f64));
    }
    // Thousands of steps need not be thousands of points: keep one per 1/1000 of the range.
    let span = sorted.last().copied().unwrap_or(0.0) / 1000.0;
    let mut kept: Vec<(f64, f64)> = vec![];
    for p in points {
        let n = kept.len();
        match kept.last_mut() {
            Some(last) if n > 1 && p.0 - last.0 < span => *last = p,
            _ => kept.push(p),
        }
    }
    kept
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ticks_are_one_two_or_five_times_a_power_of_ten() {
        assert_eq!(tick_step(2248.0, 4.0), 1000.0);
        assert_eq!(tick_step(211.0, 4.0), 100.0);
        assert_eq!(tick_step(9.3, 8.0), 2.0);
        assert_eq!(tick_step(0.0, 4.0), 1.0);
    }

    #[test]
    fn a_cumulative_line_ends_at_the_count_and_the_figure_is_one_svg() {
        let line = cumulative(&[3.0, 1.0, 2.0]);
        assert_eq!(line.first(), Some(&(0.0, 0.0)));
        assert_eq!(line.last(), Some(&(3.0, 3.0)));
        let panel = Panel {
            title: "Ready".into(),
            y_label: "tenants".into(),
            lines: vec![Line { name: "a <b>".into(), colour: COLOURS[0], points: line }],
        };
        let svg = figure("t", &["c".into()], "s", &[panel]);
        assert!(svg.starts_with("<svg") && svg.ends_with("</svg>\n"));
        assert!(svg.contains("a &lt;b&gt;") && svg.contains("<polyline"));
    }
}

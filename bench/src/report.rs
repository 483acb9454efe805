//! Output: the result rows, JSON (serde_json), the Markdown table and the
//! SVG chart of the room-size sweep (plotters, SVG backend only).

use std::fmt::Write as _;

use plotters::prelude::*;
use serde_json::{json, Map, Value};

use crate::systems::System;
use crate::util::median;

/// One system's outcome in one row.
#[derive(Debug, Clone)]
pub(crate) enum SysResult {
    /// The metric's value in every repetition.
    Measured(Vec<f64>),
    /// The system does not take part, and why.
    Na(&'static str),
}

impl SysResult {
    pub(crate) fn median(&self) -> Option<f64> {
        match self {
            SysResult::Measured(v) if !v.is_empty() => Some(median(v)),
            _ => None,
        }
    }
}

/// One line of the report: one metric of one scenario, for every system.
#[derive(Debug, Clone)]
pub(crate) struct Row {
    /// Short id: `1a`, `2`, `7b-p99`, ...
    pub(crate) id: String,
    /// What was run.
    pub(crate) scenario: String,
    /// What was measured.
    pub(crate) metric: &'static str,
    /// Unit of the values.
    pub(crate) unit: &'static str,
    pub(crate) higher_is_better: bool,
    /// False for informational rows (no ratios shown).
    pub(crate) ratios: bool,
    /// Room size of a sweep row (scenario 2), for the chart.
    pub(crate) sweep_size: Option<usize>,
    pub(crate) params: Value,
    pub(crate) results: Vec<(System, SysResult)>,
}

impl Row {
    fn get(&self, sys: System) -> Option<&SysResult> {
        self.results.iter().find(|(s, _)| *s == sys).map(|(_, r)| r)
    }

    /// roomcast's advantage over `baseline`: > 1 means roomcast is better
    /// (roomcast/baseline for throughput, baseline/roomcast for bytes and
    /// latency).
    pub(crate) fn ratio(&self, baseline: System) -> Option<f64> {
        if !self.ratios {
            return None;
        }
        let rc = self.get(System::Roomcast)?.median()?;
        let b = self.get(baseline)?.median()?;
        let r = if self.higher_is_better { rc / b } else { b / rc };
        r.is_finite().then_some(r)
    }
}

/// Machine and invocation, printed above the table.
#[derive(Debug, Clone)]
pub(crate) struct Header {
    pub(crate) command: String,
    pub(crate) nproc: usize,
    pub(crate) cpu: String,
    pub(crate) mode: &'static str,
    pub(crate) reps: usize,
    pub(crate) seconds: f64,
    /// `/proc/loadavg` before and after the run: other load on the
    /// machine skews every system alike (interleaving) but not the totals.
    pub(crate) load_before: String,
    pub(crate) load_after: String,
}

const BASELINES: [System; 3] = [System::Naive, System::Broadcast, System::Floor];

pub(crate) fn json(h: &Header, rows: &[Row]) -> Value {
    let rows: Vec<Value> = rows
        .iter()
        .map(|r| {
            let mut systems = Map::new();
            for (sys, res) in &r.results {
                let v = match res {
                    SysResult::Measured(v) => json!({ "median": res.median(), "reps": v }),
                    SysResult::Na(why) => json!({ "na": why }),
                };
                systems.insert(sys.name().to_string(), v);
            }
            let mut ratios = Map::new();
            for b in BASELINES {
                if let Some(x) = r.ratio(b) {
                    ratios.insert(b.name().to_string(), json!(x));
                }
            }
            json!({
                "id": r.id,
                "scenario": r.scenario,
                "metric": r.metric,
                "unit": r.unit,
                "better": if r.higher_is_better { "higher" } else { "lower" },
                "informational": !r.ratios,
                "params": r.params,
                "systems": systems,
                "ratios": ratios,
            })
        })
        .collect();
    json!({
        "tool": "roomcast-bench",
        "command": h.command,
        "mode": h.mode,
        "reps": h.reps,
        "machine": { "nproc": h.nproc, "cpu_model": h.cpu, "os": std::env::consts::OS, "arch": std::env::consts::ARCH,
                     "loadavg_before": h.load_before, "loadavg_after": h.load_after },
        "ratio_definition": "ratio > 1 means roomcast is better: roomcast/baseline for throughput, \
                             baseline/roomcast for bytes and latency; medians over repetitions",
        "elapsed_seconds": h.seconds,
        "rows": rows,
    })
}

fn fmt_value(unit: &str, v: f64) -> String {
    match unit {
        "B" => format!("{v:.0} B"),
        "µs" if v < 10.0 => format!("{v:.2} µs"),
        "µs" => format!("{v:.1} µs"),
        _ if v >= 1e6 => format!("{:.2} M", v / 1e6),
        _ if v >= 1e3 => format!("{:.1} k", v / 1e3),
        _ => format!("{v:.1}"),
    }
}

pub(crate) fn markdown(h: &Header, rows: &[Row]) -> String {
    let mut s = String::new();
    let _ = writeln!(s, "## roomcast benchmark ({} mode)\n", h.mode);
    let _ = writeln!(s, "- command: `{}`", h.command);
    let _ = writeln!(s, "- machine: {} CPUs (nproc), {}", h.nproc, h.cpu);
    let _ = writeln!(s, "- load average (1/5/15 min) before: {}; after: {}", h.load_before, h.load_after);
    let _ = writeln!(
        s,
        "- median of {} interleaved repetition(s) per system; 64-byte payloads; every run checked (counts, no drops)",
        h.reps
    );
    let _ = writeln!(
        s,
        "- \"vs X\": roomcast's advantage over X, **> 1 means roomcast is better** \
         (throughput: roomcast / X; bytes and latency: X / roomcast)\n"
    );
    s.push_str("| id | scenario | metric | roomcast | naive | tokio-broadcast | floor ");
    s.push_str("| vs naive | vs tokio-broadcast | vs floor |\n");
    s.push_str("|---|---|---|--:|--:|--:|--:|--:|--:|--:|\n");
    let mut previous = "";
    for r in rows {
        // A scenario with several metrics is described on its first row only.
        let scenario = if r.scenario == previous { "" } else { r.scenario.as_str() };
        previous = &r.scenario;
        let mut line = format!("| {} | {} | {} ", r.id, scenario, r.metric);
        for sys in System::ALL {
            let cell = match r.get(sys) {
                Some(res) => res.median().map_or_else(|| "n/a".to_string(), |v| fmt_value(r.unit, v)),
                None => "n/a".to_string(),
            };
            let _ = write!(line, "| {cell} ");
        }
        for b in BASELINES {
            let cell = r.ratio(b).map_or_else(|| "".to_string(), |x| format!("{x:.2}×"));
            let _ = write!(line, "| {cell} ");
        }
        line.push_str("|\n");
        s.push_str(&line);
    }
    let mut reasons: Vec<(System, &str, Vec<&str>)> = Vec::new();
    for r in rows {
        for (sys, res) in &r.results {
            if let SysResult::Na(why) = res {
                match reasons.iter_mut().find(|(s, w, _)| s == sys && w == why) {
                    Some(e) => {
                        if !e.2.contains(&r.id.as_str()) {
                            e.2.push(&r.id)
                        }
                    }
                    None => reasons.push((*sys, why, vec![&r.id])),
                }
            }
        }
    }
    if !reasons.is_empty() {
        s.push_str("\nn/a:\n");
        for (sys, why, ids) in reasons {
            let _ = writeln!(s, "- {} ({}): {}", sys.name(), ids.join(", "), why);
        }
    }
    let _ = writeln!(s, "\nTotal time: {:.1} s.", h.seconds);
    s
}

fn decade_below(v: f64) -> f64 {
    10f64.powf(v.log10().floor())
}

fn decade_above(v: f64) -> f64 {
    10f64.powf(v.log10().ceil())
}

/// A short axis label: 20 M, 1.5 M, 800 k.
fn axis_label(v: f64) -> String {
    let (x, suffix) = if v >= 1e6 {
        (v / 1e6, "M")
    } else if v >= 1e3 {
        (v / 1e3, "k")
    } else {
        (v, "")
    };
    let digits = if x >= 10.0 || (x - x.round()).abs() < 1e-9 { 0 } else { 1 };
    format!("{x:.digits$} {suffix}").trim_end().to_string()
}

/// Deliveries/s against room size, log-log, one line per system.
pub(crate) fn svg(path: &str, h: &Header, rows: &[Row]) -> Result<(), String> {
    let sweep: Vec<&Row> = rows.iter().filter(|r| r.sweep_size.is_some()).collect();
    if sweep.is_empty() {
        return Err("no sweep results (scenario 2 did not run)".into());
    }
    let mut lines: Vec<(System, Vec<(f64, f64)>)> = Vec::new();
    for sys in System::ALL {
        let pts: Vec<(f64, f64)> = sweep
            .iter()
            .filter_map(|r| Some((r.sweep_size? as f64, r.get(sys)?.median()?)))
            .filter(|(_, y)| *y > 0.0)
            .collect();
        if !pts.is_empty() {
            lines.push((sys, pts));
        }
    }
    let all = lines.iter().flat_map(|(_, p)| p.iter());
    let (mut xmin, mut xmax, mut ymin, mut ymax) = (f64::MAX, f64::MIN, f64::MAX, f64::MIN);
    for &(x, y) in all {
        xmin = xmin.min(x);
        xmax = xmax.max(x);
        ymin = ymin.min(y);
        ymax = ymax.max(y);
    }
    let e = |e: &dyn std::fmt::Display| e.to_string();
    let root = SVGBackend::new(path, (960, 600)).into_drawing_area();
    root.fill(&WHITE).map_err(|x| e(&x))?;
    let caption = format!("Fan-out to one room: deliveries/s vs room size ({} mode, {} CPUs)", h.mode, h.nproc);
    let mut chart = ChartBuilder::on(&root)
        .caption(caption, ("sans-serif", 22))
        .margin(20)
        .x_label_area_size(55)
        .y_label_area_size(90)
        .build_cartesian_2d((xmin / 1.5..xmax * 1.5).log_scale(), (decade_below(ymin)..decade_above(ymax)).log_scale())
        .map_err(|x| e(&x))?;
    chart
        .configure_mesh()
        .x_desc("room size (members, log scale)")
        .y_desc("deliveries per second (log scale)")
        .x_labels(8)
        .y_labels(8)
        .light_line_style(RGBColor(0xee, 0xee, 0xee))
        .x_label_formatter(&|v| format!("{v:.0}"))
        .y_label_formatter(&|v| axis_label(*v))
        .label_style(("sans-serif", 15))
        .axis_desc_style(("sans-serif", 17))
        .draw()
        .map_err(|x| e(&x))?;
    let palette = [
        RGBColor(0xd6, 0x27, 0x28),
        RGBColor(0x1f, 0x77, 0xb4),
        RGBColor(0x2c, 0xa0, 0x2c),
        RGBColor(0x7f, 0x7f, 0x7f),
    ];
    for (sys, pts) in &lines {
        let i = System::ALL.iter().position(|s| s == sys).unwrap_or(0);
        let color = palette[i % palette.len()];
        chart
            .draw_series(LineSeries::new(pts.iter().copied(), color.stroke_width(3)))
            .map_err(|x| e(&x))?
            .label(sys.name())
            .legend(move |(x, y)| PathElement::new(vec![(x, y), (x + 24, y)], color.stroke_width(3)));
        chart
            .draw_series(PointSeries::of_element(pts.iter().copied(), 5, color.filled(), &|c, s, st| {
                Circle::new(c, s, st)
            }))
            .map_err(|x| e(&x))?;
    }
    chart
        .configure_series_labels()
        .position(SeriesLabelPosition::LowerLeft)
        .background_style(WHITE.mix(0.85))
        .border_style(BLACK)
        .label_font(("sans-serif", 16))
        .draw()
        .map_err(|x| e(&x))?;
    root.present().map_err(|x| e(&x))?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn row(higher_is_better: bool, rc: f64, naive: f64) -> Row {
        Row {
            id: "x".into(),
            scenario: "x".into(),
            metric: "m",
            unit: "1/s",
            higher_is_better,
            ratios: true,
            sweep_size: None,
            params: Value::Null,
            results: vec![
                (System::Roomcast, SysResult::Measured(vec![rc])),
                (System::Naive, SysResult::Measured(vec![naive])),
                (System::Broadcast, SysResult::Na("n/a")),
            ],
        }
    }

    #[test]
    fn ratio_above_one_always_means_roomcast_is_better() {
        assert_eq!(row(true, 30.0, 10.0).ratio(System::Naive), Some(3.0));
        assert_eq!(row(false, 10.0, 30.0).ratio(System::Naive), Some(3.0));
        assert_eq!(row(true, 30.0, 10.0).ratio(System::Broadcast), None);
        assert_eq!(row(true, 30.0, 10.0).ratio(System::Floor), None);
    }

    #[test]
    fn markdown_has_one_line_per_row_and_na_reasons() {
        let h = Header {
            command: "c".into(),
            nproc: 2,
            cpu: "cpu".into(),
            mode: "quick",
            reps: 1,
            seconds: 1.0,
            load_before: "0".into(),
            load_after: "0".into(),
        };
        let md = markdown(&h, &[row(true, 2e6, 1e6)]);
        assert!(md.contains("| x | x | m | 2.00 M | 1.00 M | n/a | n/a | 2.00× |"), "{md}");
        assert!(md.contains("- tokio-broadcast (x): n/a"), "{md}");
    }
}

//! `roomcast-bench`: runs every scenario for roomcast and its baselines in
//! one process, on the same data, with interleaved repetitions; checks every
//! run's counts; reports medians and ratios as JSON, Markdown and an SVG
//! chart.
//!
//! ```text
//! cargo run --release -p roomcast-bench -- [--quick] [--reps N] [--only LIST]
//!     [--json FILE] [--markdown FILE] [--svg FILE]
//! ```
//!
//! Any correctness failure (a count that does not match, a dropped or
//! duplicated message, a timeout) ends the program with exit code 1.

mod report;
mod scenarios;
mod systems;
mod util;

use std::process::ExitCode;
use std::time::Instant;

use report::Header;
use scenarios::{Params, NAMES};

#[global_allocator]
static ALLOC: util::CountingAlloc = util::CountingAlloc;

const USAGE: &str = "\
usage: roomcast-bench [--quick] [--reps N] [--only LIST] [--json FILE] [--markdown FILE] [--svg FILE]

  --quick          small sizes, 1 repetition: a few seconds, checks correctness (CI)
  --reps N         repetitions per scenario (default 5; quick 1)
  --only LIST      comma-separated scenarios, by number or name:
                   1 big-room, 2 sweep, 3 many-rooms, 4 union, 5 churn, 6 memory, 7 latency,
                   8 slow-consumers, 9 recovery
  --json FILE      write all results (every repetition) as JSON
  --markdown FILE  write the Markdown table (also printed to stdout)
  --svg FILE       draw scenario 2 (deliveries/s vs room size, log-log)";

#[derive(Debug, Default)]
struct Args {
    quick: bool,
    reps: Option<usize>,
    only: Vec<usize>,
    json: Option<String>,
    markdown: Option<String>,
    svg: Option<String>,
}

fn parse_args() -> Result<Args, String> {
    let mut args = Args::default();
    let mut it = std::env::args().skip(1);
    while let Some(a) = it.next() {
        let (flag, inline) = match a.split_once('=') {
            Some((f, v)) if f.starts_with("--") => (f.to_string(), Some(v.to_string())),
            _ => (a.clone(), None),
        };
        let mut value = |name: &str| inline.clone().or_else(|| it.next()).ok_or(format!("{name} needs a value"));
        match flag.as_str() {
            "--quick" => args.quick = true,
            "--reps" => {
                let v = value("--reps")?;
                let n: usize = v.parse().map_err(|_| format!("--reps: not a number: {v:?}"))?;
                if n == 0 {
                    return Err("--reps must be at least 1".into());
                }
                args.reps = Some(n);
            }
            "--only" => {
                for part in value("--only")?.split(',').map(str::trim).filter(|p| !p.is_empty()) {
                    let n = NAMES
                        .iter()
                        .position(|(num, name)| part == *num || part.eq_ignore_ascii_case(name))
                        .ok_or(format!("--only: unknown scenario {part:?}"))?;
                    args.only.push(n + 1);
                }
            }
            "--json" => args.json = Some(value("--json")?),
            "--markdown" => args.markdown = Some(value("--markdown")?),
            "--svg" => args.svg = Some(value("--svg")?),
            "-h" | "--help" => {
                println!("{USAGE}");
                std::process::exit(0);
            }
            other => return Err(format!("unknown argument {other:?}")),
        }
    }
    Ok(args)
}

fn cpu_model() -> String {
    std::fs::read_to_string("/proc/cpuinfo")
        .ok()
        .and_then(|s| {
            s.lines()
                .find(|l| l.starts_with("model name"))
                .and_then(|l| l.split_once(':'))
                .map(|(_, v)| v.trim().to_string())
        })
        .unwrap_or_else(|| "unknown CPU".to_string())
}

/// The first three fields of `/proc/loadavg`.
fn loadavg() -> String {
    std::fs::read_to_string("/proc/loadavg")
        .map(|s| s.split_whitespace().take(3).collect::<Vec<_>>().join(" "))
        .unwrap_or_else(|_| "unknown".to_string())
}

fn write(path: &str, what: &str, content: &str) -> Result<(), String> {
    std::fs::write(path, content).map_err(|e| format!("writing {what} to {path}: {e}"))?;
    eprintln!("wrote {what} to {path}");
    Ok(())
}

fn main() -> ExitCode {
    let args = match parse_args() {
        Ok(a) => a,
        Err(e) => {
            eprintln!("error: {e}\n\n{USAGE}");
            return ExitCode::from(2);
        }
    };
    let started = Instant::now();
    let params = Params::new(args.quick, args.reps);
    let mut header = Header {
        command: std::env::args().collect::<Vec<_>>().join(" "),
        nproc: std::thread::available_parallelism().map_or(1, |n| n.get()),
        cpu: cpu_model(),
        mode: if args.quick { "quick" } else { "full" },
        reps: params.reps,
        seconds: 0.0,
        load_before: loadavg(),
        load_after: String::new(),
    };
    println!("# roomcast-bench");
    println!("command: {}", header.command);
    println!("nproc: {}", header.nproc);
    println!("cpu: {}", header.cpu);
    println!("mode: {}, reps: {}", header.mode, header.reps);
    println!("load average: {}", header.load_before);
    if cfg!(debug_assertions) {
        println!("WARNING: debug build; numbers are meaningless (use --release)");
    }
    println!();

    let rows = match scenarios::run_all(&params, &args.only) {
        Ok(rows) => rows,
        Err(e) => {
            eprintln!("\nFAILED: {e}");
            println!("FAILED: {e}");
            return ExitCode::FAILURE;
        }
    };
    header.seconds = started.elapsed().as_secs_f64();
    header.load_after = loadavg();

    let md = report::markdown(&header, &rows);
    println!("{md}");
    let mut ok = true;
    let mut outputs = Vec::new();
    if let Some(path) = &args.json {
        let text = serde_json::to_string_pretty(&report::json(&header, &rows)).unwrap_or_default();
        outputs.push(write(path, "JSON", &text));
    }
    if let Some(path) = &args.markdown {
        outputs.push(write(path, "Markdown", &md));
    }
    if let Some(path) = &args.svg {
        if rows.iter().any(|r| r.sweep_size.is_some()) {
            outputs.push(report::svg(path, &header, &rows).map(|()| eprintln!("wrote SVG to {path}")));
        } else {
            eprintln!("warning: --svg {path} skipped: the chart needs scenario 2 (sweep), which did not run");
        }
    }
    for o in outputs {
        if let Err(e) = o {
            eprintln!("error: {e}");
            ok = false;
        }
    }
    if ok {
        ExitCode::SUCCESS
    } else {
        ExitCode::FAILURE
    }
}

//! The checks and summaries the scripts in `scripts/` run, as a program
//! rather than text processing in shell:
//!
//! * `tally LOG` — the closing line of `scripts/test.sh`: every runner's
//!   counts in the log summed (see [`tally`]).
//! * `check-header` — the C header against the sources: its version macros
//!   match the workspace version, every function and type has a doc
//!   comment, every function is called by a C test or example (see
//!   [`header`]). Run by `scripts/test-c.sh`.
//!
//! `cargo run -q -p xtask -- COMMAND`; a failed check exits with status 1.

use std::path::{Path, PathBuf};
use std::process::ExitCode;

mod header;
mod tally;

fn main() -> ExitCode {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let result = match args.iter().map(String::as_str).collect::<Vec<_>>().as_slice() {
        ["tally", log] => tally::run(Path::new(log)),
        ["check-header"] => header::run(&repo_root()),
        _ => Err("usage: xtask tally LOG | xtask check-header".to_string()),
    };
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("xtask: {e}");
            ExitCode::FAILURE
        }
    }
}

/// The repository root (this crate's parent directory).
fn repo_root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).parent().expect("xtask lives in the repository").to_path_buf()
}

/// A file's text, or an error naming it.
fn read(path: &Path) -> Result<String, String> {
    std::fs::read_to_string(path).map_err(|e| format!("{}: {e}", path.display()))
}

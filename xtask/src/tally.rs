//! The closing line of a whole test run: the counts every runner printed,
//! summed. It reads three kinds of summary line:
//!
//! * cargo's `test result: ok. 49 passed; 0 failed; 1 ignored; ...`
//!   (ignored tests count as skipped);
//! * the project's own runners' `<suite> tests: N passed, N failed`
//!   (C, Socket.IO interop, the browser tests ...);
//! * pytest's `N passed[, N failed][, N skipped] ... in 1.23s`.
//!
//! Every other line is ignored.

use std::path::Path;

/// Tests passed, failed and skipped.
#[derive(Debug, Default, PartialEq, Eq)]
pub(crate) struct Counts {
    pub(crate) passed: u64,
    pub(crate) failed: u64,
    pub(crate) skipped: u64,
}

/// Prints the totals of the log at `path`.
pub(crate) fn run(path: &Path) -> Result<(), String> {
    let c = count(&crate::read(path)?);
    println!("all tests: {} passed, {} failed, {} skipped", c.passed, c.failed, c.skipped);
    Ok(())
}

/// The totals of every summary line in `log`.
pub(crate) fn count(log: &str) -> Counts {
    let mut c = Counts::default();
    for line in log.lines() {
        if let Some(rest) = line.strip_prefix("test result:") {
            c.passed += number_before(rest, " passed");
            c.failed += number_before(rest, " failed");
            c.skipped += number_before(rest, " ignored");
        } else if let Some((suite, rest)) = line.split_once(" tests: ") {
            if is_suite_name(suite) && rest.contains(" passed, ") {
                c.passed += number_before(rest, " passed");
                c.failed += number_before(rest, " failed");
            }
        } else if is_pytest_summary(line) {
            c.passed += number_before(line, " passed");
            c.failed += number_before(line, " failed");
            c.skipped += number_before(line, " skipped");
        }
    }
    c
}

/// A runner's name: lower-case letters, digits and `-`.
fn is_suite_name(s: &str) -> bool {
    !s.is_empty() && s.bytes().all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-')
}

/// pytest's last line: `N passed` and a duration (` in 1.23s`).
fn is_pytest_summary(line: &str) -> bool {
    number_before(line, " passed") > 0
        && line.split(" in ").skip(1).any(|t| {
            let t = t.split_whitespace().next().unwrap_or("");
            t.strip_suffix('s').is_some_and(|n| !n.is_empty() && n.bytes().all(|b| b.is_ascii_digit() || b == b'.'))
        })
}

/// The number right before the first `word` in `s` (0 when none).
fn number_before(s: &str, word: &str) -> u64 {
    let Some(at) = s.find(word) else { return 0 };
    let head = s[..at].trim_end();
    let digits = head.len() - head.bytes().rev().take_while(u8::is_ascii_digit).count();
    head[digits..].parse().unwrap_or(0)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_runner_summary_is_summed_and_other_lines_are_not() {
        let log = "\
test result: ok. 49 passed; 0 failed; 1 ignored; 0 measured; 0 filtered out; finished in 9.15s
test result: FAILED. 7 passed; 2 failed; 0 ignored; 0 measured; 0 filtered out; finished in 1.33s
socketio-interop tests: 84 passed, 0 failed
c tests: 30 passed, 1 failed
12 passed, 3 failed in 9 tests
C bindings: all steps passed
=========== 310 passed, 1 failed, 4 skipped in 61.03s (0:01:01) ===========
test foo ... ok
Some Tests: 5 passed, 5 failed
";
        assert_eq!(count(log), Counts { passed: 49 + 7 + 84 + 30 + 310, failed: 2 + 1 + 1, skipped: 1 + 4 });
    }

    #[test]
    fn pytest_lines_need_a_duration() {
        assert!(is_pytest_summary("5 passed in 0.12s"));
        assert!(is_pytest_summary("== 5 passed, 1 skipped in 3s =="));
        assert!(!is_pytest_summary("5 passed in total"));
        assert!(!is_pytest_summary("nothing in 0.12s"));
    }
}

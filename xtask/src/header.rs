//! Checks of the generated C header `include/roomcast.h` that cbindgen's
//! own drift check (`scripts/gen-header.sh --check`) does not make:
//!
//! * its `ROOMCAST_VERSION_{MAJOR,MINOR,PATCH}` macros spell the workspace
//!   version in `Cargo.toml`;
//! * every function declaration and every type (other than the integer
//!   enum typedefs, documented on their constants) follows a doc comment;
//! * every function is called (`name(`) by a C test (`tests/c/*.c`) or
//!   example (`examples/c/*.c`), so none ships untested;
//! * the function table of the C guide (`ffi/README.md`, section
//!   "Functions") names exactly the header's functions, so it cannot drift.

use std::path::Path;

/// Runs every check on the repository at `root`, printing each result.
pub(crate) fn run(root: &Path) -> Result<(), String> {
    let header = crate::read(&root.join("include/roomcast.h"))?;
    let cargo = crate::read(&root.join("Cargo.toml"))?;
    let mut callers = String::new();
    for dir in ["tests/c", "examples/c"] {
        let entries = std::fs::read_dir(root.join(dir)).map_err(|e| format!("{dir}: {e}"))?;
        for entry in entries {
            let path = entry.map_err(|e| format!("{dir}: {e}"))?.path();
            if path.extension().is_some_and(|x| x == "c") {
                callers.push_str(&crate::read(&path)?);
            }
        }
    }
    let mut failed = Vec::new();

    let version = workspace_version(&cargo).ok_or("Cargo.toml has no [workspace.package] version")?;
    match header_version(&header) {
        Some(v) if v == version => println!("header {v} == Cargo.toml {version}"),
        v => failed.push(format!("header version {} != Cargo.toml {version}", v.unwrap_or_default())),
    }

    let undocumented = undocumented(&header);
    if undocumented.is_empty() {
        println!("all documented");
    } else {
        undocumented.iter().for_each(|l| println!("undocumented: {l}"));
        failed.push(format!("{} undocumented items in the header", undocumented.len()));
    }

    let uncalled: Vec<_> = functions(&header).into_iter().filter(|f| !callers.contains(&format!("{f}("))).collect();
    if uncalled.is_empty() {
        println!("all called");
    } else {
        uncalled.iter().for_each(|f| println!("never called: {f}"));
        failed.push(format!("{} header functions without a C caller", uncalled.len()));
    }

    let guide = crate::read(&root.join("ffi/README.md"))?;
    let (missing, unknown) = table_drift(&functions(&header), &guide);
    if missing.is_empty() && unknown.is_empty() {
        println!("function table of ffi/README.md matches the header");
    } else {
        missing.iter().for_each(|f| println!("not in ffi/README.md's function table: {f}"));
        unknown.iter().for_each(|f| println!("in ffi/README.md's function table, not in the header: {f}"));
        failed.push(format!(
            "ffi/README.md's function table: {} missing, {} not in the header",
            missing.len(),
            unknown.len()
        ));
    }

    if failed.is_empty() {
        Ok(())
    } else {
        Err(failed.join("; "))
    }
}

/// `version = "..."` in the `[workspace.package]` table.
pub(crate) fn workspace_version(cargo_toml: &str) -> Option<String> {
    let mut in_table = false;
    for line in cargo_toml.lines().map(str::trim) {
        if line.starts_with('[') {
            in_table = line == "[workspace.package]";
        } else if in_table {
            if let Some(v) = line.strip_prefix("version = \"").and_then(|r| r.strip_suffix('"')) {
                return Some(v.to_string());
            }
        }
    }
    None
}

/// `MAJOR.MINOR.PATCH` from the header's version macros.
fn header_version(header: &str) -> Option<String> {
    let part = |name: &str| {
        header.lines().find_map(|l| l.strip_prefix(&format!("#define ROOMCAST_VERSION_{name} ")).map(str::trim))
    };
    Some(format!("{}.{}.{}", part("MAJOR")?, part("MINOR")?, part("PATCH")?))
}

/// Whether a header line begins a function declaration (a return type at
/// the start of the line, then a parameter list).
fn is_function(line: &str) -> bool {
    line.starts_with(|c: char| c.is_ascii_lowercase()) && line.contains('(') && !line.starts_with("typedef")
}

/// Declarations and types whose previous line does not end a comment.
fn undocumented(header: &str) -> Vec<&str> {
    let mut prev = "";
    let mut out = Vec::new();
    for line in header.lines() {
        let is_type = line.starts_with("typedef") && !line.starts_with("typedef uint32_t");
        if (is_function(line) || is_type) && !prev.trim_end().ends_with("*/") {
            out.push(line);
        }
        prev = line;
    }
    out
}

/// The names of the functions the header declares.
fn functions(header: &str) -> Vec<String> {
    let mut names: Vec<String> = header
        .lines()
        .filter(|l| is_function(l))
        .filter_map(|l| {
            let name_end = l.find('(')?;
            let start = l[..name_end].rfind(|c: char| !(c.is_ascii_alphanumeric() || c == '_')).map_or(0, |i| i + 1);
            let name = &l[start..name_end];
            name.starts_with("roomcast_").then(|| name.to_string())
        })
        .collect();
    names.sort();
    names.dedup();
    names
}

/// The `roomcast_*` names in backticks in the guide's "## Functions"
/// section, against the header's functions: (in the header only, in the
/// table only).
fn table_drift(functions: &[String], guide: &str) -> (Vec<String>, Vec<String>) {
    let section = format!("\n{guide}")
        .split("\n## Functions\n")
        .nth(1)
        .map_or(String::new(), |rest| rest.split("\n## ").next().unwrap_or("").to_string());
    let mut listed: Vec<String> = section
        .split('`')
        .skip(1)
        .step_by(2)
        .filter(|w| w.starts_with("roomcast_") && w.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'_'))
        .map(str::to_string)
        .collect();
    listed.sort();
    listed.dedup();
    let missing = functions.iter().filter(|f| !listed.contains(f)).cloned().collect();
    let unknown = listed.iter().filter(|f| !functions.contains(f)).cloned().collect();
    (missing, unknown)
}

#[cfg(test)]
mod tests {
    use super::*;

    const HEADER: &str = "\
#define ROOMCAST_VERSION_MAJOR 0
#define ROOMCAST_VERSION_MINOR 1
#define ROOMCAST_VERSION_PATCH 2
typedef uint32_t roomcast_result;
/** An engine. */
typedef struct roomcast_engine roomcast_engine;
typedef struct roomcast_conn roomcast_conn;
/**
 * Makes an engine.
 */
roomcast_result roomcast_engine_new(const roomcast_config *config,
                                    roomcast_engine **out);
void roomcast_engine_free(roomcast_engine *engine);
/** Frees. */
const char *roomcast_result_text(roomcast_result r);
";

    #[test]
    fn versions_are_read_from_both_files() {
        assert_eq!(header_version(HEADER).as_deref(), Some("0.1.2"));
        let cargo =
            "[workspace]\nmembers = []\n\n[workspace.package]\nversion = \"0.1.2\"\n[dependencies]\nversion = \"9\"\n";
        assert_eq!(workspace_version(cargo).as_deref(), Some("0.1.2"));
        assert_eq!(workspace_version("[package]\nversion = \"1.0.0\"\n"), None);
    }

    #[test]
    fn items_without_a_doc_comment_are_found() {
        assert_eq!(
            undocumented(HEADER),
            ["typedef struct roomcast_conn roomcast_conn;", "void roomcast_engine_free(roomcast_engine *engine);"]
        );
    }

    #[test]
    fn the_function_table_must_name_exactly_the_header_functions() {
        let f = functions(HEADER);
        let guide = "# C\n\n## Functions\n\n| area | functions |\n| engine | `roomcast_engine_new`, `roomcast_engine_gone` |\n\n## Next\n`roomcast_result_text`\n";
        let (missing, unknown) = table_drift(&f, guide);
        assert_eq!(missing, ["roomcast_engine_free", "roomcast_result_text"]);
        assert_eq!(unknown, ["roomcast_engine_gone"]);
        let full = "## Functions\n`roomcast_engine_free` `roomcast_engine_new` `roomcast_result_text`\n";
        assert_eq!(table_drift(&f, full), (vec![], vec![]));
    }

    #[test]
    fn function_names_are_the_declared_ones() {
        assert_eq!(functions(HEADER), ["roomcast_engine_free", "roomcast_engine_new", "roomcast_result_text"]);
    }
}

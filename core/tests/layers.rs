//! The crate's modules form layers (see "Layers" in the crate docs): a
//! module may use modules of its own layer and of the layers below it,
//! never one above. This test reads `src/*.rs` and fails on any path
//! `crate::<module>` (a `use` or an inline path, re-exports at the crate
//! root resolved to their module) that points upwards, except the handle
//! back-references listed in `BACK_REFERENCES`, each limited to the names
//! it may import.

use std::collections::{BTreeMap, BTreeSet};
use std::path::Path;

/// Bottom first. Keep in step with the table in `README.md` ("Layers").
const LAYERS: &[(&str, &[&str])] = &[
    ("primitives", &["sync", "lock_order", "spin"]),
    (
        "data",
        &[
            "error",
            "payload",
            "message",
            "names",
            "id",
            "handshake",
            "config",
            "stats",
            "events",
            "failure",
            "selection",
        ],
    ),
    ("queues", &["ring", "queue", "acks"]),
    ("membership", &["rooms"]),
    ("sockets and connections", &["connection", "outbox", "socket", "fanout", "responder", "recovery"]),
    ("namespaces and operators", &["shared", "adapter", "namespace", "hooks", "emit", "operator"]),
    ("engine", &["engine"]),
];

/// The upward references the handles need: `(from, to, names it may
/// import, why)`. Nothing else may point up.
const BACK_REFERENCES: &[(&str, &str, &[&str], &str)] = &[
    ("connection", "engine", &["Engine"], "a connection knows the engine it belongs to (`Connection::engine`)"),
    ("socket", "namespace", &["Namespace"], "a socket knows its namespace (`Socket::namespace`)"),
    ("adapter", "engine", &["WeakEngine"], "`Adapter::attach` receives a weak handle to its engine"),
];

fn layer_of(module: &str) -> Option<usize> {
    LAYERS.iter().position(|(_, mods)| mods.contains(&module))
}

/// The source with comments (line and block, doc comments included) and
/// string literals blanked, so only code is scanned.
fn code_only(src: &str) -> String {
    let b = src.as_bytes();
    let mut out = String::with_capacity(src.len());
    let mut i = 0;
    while i < b.len() {
        if b[i..].starts_with(b"//") {
            while i < b.len() && b[i] != b'\n' {
                i += 1;
            }
        } else if b[i..].starts_with(b"/*") {
            let mut depth = 0;
            while i < b.len() {
                if b[i..].starts_with(b"/*") {
                    depth += 1;
                    i += 2;
                } else if b[i..].starts_with(b"*/") {
                    depth -= 1;
                    i += 2;
                    if depth == 0 {
                        break;
                    }
                } else {
                    i += 1;
                }
            }
        } else if b[i] == b'"' {
            i += 1;
            while i < b.len() && b[i] != b'"' {
                i += if b[i] == b'\\' { 2 } else { 1 };
            }
            i += 1;
            out.push_str("\"\"");
        } else if b[i] == b'\'' && i + 2 < b.len() && (b[i + 2] == b'\'' || b[i + 1] == b'\\') {
            // A char literal ('"', '\n'); lifetimes ('a) are left alone.
            i += 1;
            while i < b.len() && b[i] != b'\'' {
                i += if b[i] == b'\\' { 2 } else { 1 };
            }
            i += 1;
        } else {
            let ch = src[i..].chars().next().unwrap_or(' ');
            out.push(ch);
            i += ch.len_utf8();
        }
    }
    out
}

fn ident_at(s: &str, at: usize) -> &str {
    let end = s[at..].find(|c: char| !(c.is_alphanumeric() || c == '_')).map_or(s.len(), |n| at + n);
    &s[at..end]
}

/// The text of the `{ .. }` group starting at `at` (which is `{`).
fn group_at(s: &str, at: usize) -> &str {
    let mut depth = 0;
    for (i, c) in s[at..].char_indices() {
        match c {
            '{' => depth += 1,
            '}' => {
                depth -= 1;
                if depth == 0 {
                    return &s[at + 1..at + i];
                }
            }
            _ => {}
        }
    }
    &s[at + 1..]
}

/// First path segments of the items of a use-group: `a, b::c, d::{e}` -> a, b, d.
fn group_heads(group: &str) -> Vec<String> {
    let mut heads = Vec::new();
    let mut depth = 0;
    let mut start = 0;
    for (i, c) in group.char_indices().chain(std::iter::once((group.len(), ','))) {
        match c {
            '{' => depth += 1,
            '}' => depth -= 1,
            ',' if depth == 0 => {
                let item = group[start..i].trim();
                let head = ident_at(item, 0);
                if !head.is_empty() {
                    heads.push(head.to_string());
                }
                start = i + 1;
            }
            _ => {}
        }
    }
    heads
}

/// `name -> module` for the crate root's `pub use module::..` re-exports.
fn root_exports(lib: &str) -> BTreeMap<String, String> {
    let code = code_only(lib);
    let mut map = BTreeMap::new();
    for (at, _) in code.match_indices("pub use ") {
        let rest = &code[at + 8..];
        let module = ident_at(rest, 0);
        let after = &rest[module.len()..];
        let Some(after) = after.strip_prefix("::") else { continue };
        let names =
            if after.starts_with('{') { group_heads(group_at(after, 0)) } else { vec![ident_at(after, 0).to_string()] };
        for n in names {
            map.insert(n, module.to_string());
        }
    }
    map
}

/// Every `(module it points to, name imported)` in one file's code.
fn references(code: &str, modules: &BTreeSet<String>, exports: &BTreeMap<String, String>) -> Vec<(String, String)> {
    let mut out = Vec::new();
    for (at, _) in code.match_indices("crate::") {
        if at > 0 && code[..at].ends_with(|c: char| c.is_alphanumeric() || c == '_' || c == '$') {
            continue; // `$crate::` in a macro, or part of a longer name
        }
        let rest = &code[at + 7..];
        let mut push = |head: &str, tail: &str| {
            if modules.contains(head) {
                let name = if let Some(t) = tail.strip_prefix("::") {
                    if t.starts_with('{') {
                        group_heads(group_at(t, 0)).join(",")
                    } else {
                        ident_at(t, 0).to_string()
                    }
                } else {
                    head.to_string()
                };
                for n in name.split(',') {
                    out.push((head.to_string(), n.to_string()));
                }
            } else if let Some(m) = exports.get(head) {
                out.push((m.clone(), head.to_string()));
            }
        };
        if rest.starts_with('{') {
            let group = group_at(rest, 0);
            for item in group.split(',') {
                let item = item.trim();
                let head = ident_at(item, 0);
                push(head, &item[head.len()..]);
            }
        } else {
            let head = ident_at(rest, 0);
            push(head, &rest[head.len()..]);
        }
    }
    out
}

#[test]
fn modules_import_only_their_own_layer_or_lower_ones() {
    let src = Path::new(env!("CARGO_MANIFEST_DIR")).join("src");
    let lib = std::fs::read_to_string(src.join("lib.rs")).expect("read lib.rs");
    let mut files = BTreeMap::new();
    for entry in std::fs::read_dir(&src).expect("read src") {
        let path = entry.expect("dir entry").path();
        let name = path.file_stem().and_then(|s| s.to_str()).unwrap_or_default().to_string();
        if path.extension().is_some_and(|e| e == "rs") && name != "lib" {
            files.insert(name, std::fs::read_to_string(&path).expect("read module"));
        }
        assert!(!path.is_dir(), "{}: a module directory; list its files in LAYERS and this test", path.display());
    }
    let modules: BTreeSet<String> = files.keys().cloned().collect();

    // The table names every module exactly once.
    let listed: Vec<&str> = LAYERS.iter().flat_map(|(_, m)| m.iter().copied()).collect();
    for m in &modules {
        assert_eq!(listed.iter().filter(|l| **l == m).count(), 1, "module `{m}` must appear once in LAYERS");
    }
    for l in &listed {
        assert!(modules.contains(*l), "LAYERS lists `{l}`, which is not a module of src/");
    }

    let exports = root_exports(&lib);
    let mut violations = Vec::new();
    let mut used_back_refs = BTreeSet::new();
    for (module, text) in &files {
        let from = layer_of(module).unwrap_or(usize::MAX);
        for (target, name) in references(&code_only(text), &modules, &exports) {
            let to = layer_of(&target).unwrap_or(usize::MAX);
            if to <= from {
                continue;
            }
            let allowed = BACK_REFERENCES
                .iter()
                .position(|(f, t, names, _)| *f == module && *t == target && names.contains(&name.as_str()));
            match allowed {
                Some(i) => {
                    used_back_refs.insert(i);
                }
                None => violations.push(format!(
                    "`{module}` ({}) uses `{target}::{name}` ({}), a layer above",
                    LAYERS[from].0, LAYERS[to].0
                )),
            }
        }
    }
    assert!(violations.is_empty(), "upward imports:\n  {}", violations.join("\n  "));
    for (i, (from, to, names, why)) in BACK_REFERENCES.iter().enumerate() {
        assert!(
            used_back_refs.contains(&i),
            "the back-reference {from} -> {to} ({names:?}: {why}) is no longer used; remove it from BACK_REFERENCES"
        );
    }
}

/// The checker itself: it must see the paths that matter and nothing else.
#[test]
fn the_reference_scanner_finds_uses_inline_paths_and_root_reexports() {
    let modules: BTreeSet<String> = ["a", "b", "c"].iter().map(|s| s.to_string()).collect();
    let exports: BTreeMap<String, String> = [("Thing".to_string(), "c".to_string())].into_iter().collect();
    let code = code_only(
        "use crate::a::{X, y::Z};\n\
         // use crate::b::Commented;\n\
         /// [`link`](crate::b::Doc)\n\
         fn f() { crate::b::g(); let s = \"crate::c::InString\"; let t: crate::Thing; }\n\
         use crate::{a::W, c};\n",
    );
    let mut refs = references(&code, &modules, &exports);
    refs.sort();
    let want: Vec<(String, String)> = [("a", "W"), ("a", "X"), ("a", "y"), ("b", "g"), ("c", "Thing"), ("c", "c")]
        .iter()
        .map(|(m, n)| (m.to_string(), n.to_string()))
        .collect();
    assert_eq!(refs, want);
    let lib = "pub use a::{X, Y};\npub use c::Thing;\n";
    let ex = root_exports(lib);
    assert_eq!(ex.get("Y").map(String::as_str), Some("a"));
    assert_eq!(ex.get("Thing").map(String::as_str), Some("c"));
}

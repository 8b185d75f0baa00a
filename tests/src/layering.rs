//! The modules of a crate point one way: no two import each other, so a newcomer can read one
//! request path file by file. Read from the sources (tests left out).
use std::collections::{BTreeMap, BTreeSet};
use std::path::Path;

/// `crate::a::b` → "a" (or "routes::b" under routes), and in `routes/`, `super::b` → "routes::b".
fn imports(text: &str, in_routes: bool, modules: &BTreeSet<String>) -> BTreeSet<String> {
    let text = text.split("#[cfg(test)]").next().unwrap_or_default();
    let mut out = BTreeSet::new();
    let mut add = |name: &str, routes: bool| {
        let m = if routes { format!("routes::{name}") } else { name.to_owned() };
        if modules.contains(&m) {
            out.insert(m);
        }
    };
    let idents = |s: &str| -> Vec<String> {
        s.split(|c: char| !(c.is_ascii_alphanumeric() || c == '_' || c == ':' || c == '{'))
            .filter(|w| !w.is_empty())
            .map(|w| w.trim_start_matches('{').split("::").next().unwrap_or_default().to_owned())
            .collect()
    };
    for (prefix, routes) in [("crate::routes::", true), ("crate::", false), ("super::", in_routes)] {
        for (i, _) in text.match_indices(prefix) {
            let rest = &text[i + prefix.len()..];
            if let Some(group) = rest.strip_prefix('{') {
                // `use super::{a::X, b::{self, Y}}`: the first name of each item.
                let mut depth = 1;
                let end = group.char_indices().find(|(_, c)| {
                    depth += match c { '{' => 1, '}' => -1, _ => 0 };
                    depth == 0
                });
                let inner = &group[..end.map_or(group.len(), |(j, _)| j)];
                let mut level = 0;
                let mut item = String::new();
                for c in inner.chars().chain([',']) {
                    match c {
                        '{' => level += 1,
                        '}' => level -= 1,
                        ',' if level == 0 => {
                            if let Some(first) = idents(item.trim()).first() {
                                add(first, routes);
                            }
                            item.clear();
                            continue;
                        }
                        _ => {}
                    }
                    if level == 0 {
                        item.push(c);
                    }
                }
            } else if let Some(first) = idents(rest).first() {
                add(first, routes);
            }
        }
    }
    out
}

/// Each module of the crate at `src` (`src/*.rs`, `src/routes/*.rs`) → the modules it imports.
pub fn graph(src: &Path) -> BTreeMap<String, BTreeSet<String>> {
    let mut files = BTreeMap::new();
    for (dir, prefix) in [(src.to_path_buf(), ""), (src.join("routes"), "routes::")] {
        for entry in std::fs::read_dir(&dir).into_iter().flatten().flatten() {
            let name = entry.file_name().to_string_lossy().into_owned();
            let Some(stem) = name.strip_suffix(".rs") else { continue };
            if stem.ends_with("_tests") || stem.ends_with("_fuzz") || ["lib", "main", "mod"].contains(&stem) {
                continue;
            }
            files.insert(format!("{prefix}{stem}"), std::fs::read_to_string(entry.path()).unwrap_or_default());
        }
    }
    let modules: BTreeSet<String> = files.keys().cloned().collect();
    files.iter().map(|(m, text)| (m.clone(), imports(text, m.starts_with("routes::"), &modules).into_iter().filter(|t| t != m).collect())).collect()
}

/// The pairs of modules of `graph` that import each other.
pub fn two_way_imports(graph: &BTreeMap<String, BTreeSet<String>>) -> Vec<String> {
    let mut both_ways = Vec::new();
    for (a, targets) in graph {
        for b in targets {
            if a.as_str() < b.as_str() && graph.get(b).is_some_and(|t| t.contains(a)) {
                both_ways.push(format!("{a} <-> {b}"));
            }
        }
    }
    both_ways
}

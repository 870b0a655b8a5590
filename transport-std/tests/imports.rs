//! The crate's modules import each other without a circle: each file's `crate::` paths name
//! modules below it. Run with `--nocapture` to see the graph:
//! `cargo test -p tinyproto-std --test imports -- --nocapture`.
//!
//! A module is a file of `src/` (a folder's files are one module: `reactor/*` is `reactor`);
//! unit-test files (`*/tests.rs`) and comments are left out.

use std::collections::{BTreeMap, BTreeSet};
use std::path::Path;

/// Module name → the source of its files.
fn modules() -> BTreeMap<String, String> {
    let src = Path::new(env!("CARGO_MANIFEST_DIR")).join("src");
    let mut modules = BTreeMap::<String, String>::new();
    let mut dirs = vec![src.clone()];
    while let Some(dir) = dirs.pop() {
        for entry in std::fs::read_dir(&dir).unwrap() {
            let path = entry.unwrap().path();
            if path.is_dir() {
                dirs.push(path);
                continue;
            }
            let rel = path.strip_prefix(&src).unwrap();
            if rel.file_name().is_some_and(|n| n == "tests.rs") {
                continue;
            }
            let top = rel
                .components()
                .next()
                .unwrap()
                .as_os_str()
                .to_string_lossy();
            let name = top.trim_end_matches(".rs").to_string();
            let text = std::fs::read_to_string(&path).unwrap();
            let code: String = (text.lines())
                .filter(|line| !line.trim_start().starts_with("//"))
                .map(|line| line.to_string() + "\n")
                .collect();
            modules.entry(name).or_default().push_str(&code);
        }
    }
    modules.remove("lib");
    modules
}

/// Module → the other modules its code names as `crate::module`.
fn graph() -> BTreeMap<String, BTreeSet<String>> {
    let modules = modules();
    (modules.iter())
        .map(|(name, code)| {
            assert!(
                !code.contains("crate::{"),
                "{name}: one `use crate::module::…` a module, for this test to read"
            );
            let deps = (code.split("crate::").skip(1))
                .map(|rest| {
                    let end = rest.find(|c: char| !(c.is_alphanumeric() || c == '_'));
                    rest[..end.unwrap_or(rest.len())].to_string()
                })
                .filter(|dep| dep != name && modules.contains_key(dep))
                .collect();
            (name.clone(), deps)
        })
        .collect()
}

#[test]
fn the_modules_import_each_other_without_a_circle() {
    let graph = graph();
    for (name, deps) in &graph {
        let deps: Vec<&str> = deps.iter().map(String::as_str).collect();
        println!("{name:>9} -> {}", deps.join(", "));
    }
    // Kahn's algorithm: take modules that import nothing left, until none remain.
    let mut left = graph.clone();
    while !left.is_empty() {
        let leaves: Vec<String> = (left.iter())
            .filter(|(_, deps)| deps.iter().all(|d| !left.contains_key(d)))
            .map(|(name, _)| name.clone())
            .collect();
        assert!(
            !leaves.is_empty(),
            "an import circle among: {:?}",
            left.keys().collect::<Vec<_>>()
        );
        for leaf in leaves {
            left.remove(&leaf);
        }
    }
    assert!(graph.len() > 10, "the test reads the crate's modules");
}

//! Meta-test: the layer table in `src/lib.rs`'s docs is the module graph. Every top-level
//! module is in the table exactly once, and no module's code (tests aside) names a module of
//! its own or a higher layer: the graph stays without cycles, and the docs a newcomer reads
//! first cannot drift from the tree.

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};

fn src() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("src")
}

/// Layer of each module, from the ```text block of lib.rs's `//!` docs.
fn layers(lib: &str) -> BTreeMap<String, usize> {
    let docs: Vec<&str> = lib
        .lines()
        .filter_map(|l| l.strip_prefix("//!"))
        .map(str::trim)
        .collect();
    let start = docs
        .iter()
        .position(|l| *l == "```text")
        .expect("lib.rs docs have a ```text layer table");
    let mut out = BTreeMap::new();
    for line in docs[start + 1..].iter().take_while(|l| **l != "```") {
        let mut words = line.split_whitespace();
        let layer: usize = words
            .next()
            .and_then(|w| w.parse().ok())
            .unwrap_or_else(|| panic!("layer line without a number: {line:?}"));
        for module in words {
            let before = out.insert(module.to_owned(), layer);
            assert!(before.is_none(), "{module} is listed twice");
        }
    }
    out
}

/// The `pub mod`/`mod` declarations of lib.rs.
fn declared(lib: &str) -> BTreeSet<String> {
    lib.lines()
        .filter_map(|l| {
            l.strip_prefix("pub mod ")
                .or_else(|| l.strip_prefix("mod "))
        })
        .map(|l| l.trim_end_matches(';').to_owned())
        .collect()
}

/// Every `.rs` file of a top-level module.
fn files(module: &str) -> Vec<PathBuf> {
    let file = src().join(format!("{module}.rs"));
    let mut out = Vec::new();
    if file.exists() {
        out.push(file);
    }
    let mut dirs = vec![src().join(module)];
    while let Some(dir) = dirs.pop() {
        let Ok(entries) = std::fs::read_dir(&dir) else {
            continue;
        };
        for e in entries {
            let p = e.unwrap().path();
            if p.is_dir() {
                dirs.push(p);
            } else if p.extension().is_some_and(|x| x == "rs") {
                out.push(p);
            }
        }
    }
    out
}

/// The top-level modules a file's non-test code names through `crate::`, with the line.
fn uses(code: &str) -> Vec<(String, String)> {
    let code = code
        .split("\n#[cfg(test)]\nmod tests")
        .next()
        .unwrap_or_default();
    let mut out = Vec::new();
    for line in code.lines() {
        let trimmed = line.trim_start();
        if trimmed.starts_with("//") {
            continue;
        }
        let mut rest = line;
        while let Some(i) = rest.find("crate::") {
            rest = &rest[i + "crate::".len()..];
            if let Some(group) = rest.strip_prefix('{') {
                // `crate::{a::b, c}`: the first name of each top-level item.
                let mut depth = 0;
                let mut item_start = true;
                for (j, ch) in group.char_indices() {
                    match ch {
                        '{' => depth += 1,
                        '}' if depth == 0 => {
                            rest = &group[j..];
                            break;
                        }
                        '}' => depth -= 1,
                        ',' if depth == 0 => item_start = true,
                        c if item_start && (c.is_alphanumeric() || c == '_') => {
                            let name: String = group[j..]
                                .chars()
                                .take_while(|c| c.is_alphanumeric() || *c == '_')
                                .collect();
                            out.push((name, line.trim().to_owned()));
                            item_start = false;
                        }
                        _ => {}
                    }
                }
            } else {
                let name: String = rest
                    .chars()
                    .take_while(|c| c.is_alphanumeric() || *c == '_')
                    .collect();
                out.push((name, line.trim().to_owned()));
            }
        }
    }
    out
}

#[test]
fn the_layer_table_lists_every_module_once() {
    let lib = std::fs::read_to_string(src().join("lib.rs")).unwrap();
    let listed: BTreeSet<String> = layers(&lib).into_keys().collect();
    assert_eq!(
        listed,
        declared(&lib),
        "lib.rs's layer table vs its mod lines"
    );
}

#[test]
fn modules_use_only_lower_layers() {
    let lib = std::fs::read_to_string(src().join("lib.rs")).unwrap();
    let layers = layers(&lib);
    let mut wrong = Vec::new();
    for (module, layer) in &layers {
        for file in files(module) {
            let code = std::fs::read_to_string(&file).unwrap();
            for (used, line) in uses(&code) {
                let Some(used_layer) = layers.get(&used) else {
                    continue; // a crate-level item, such as `crate::VERSION_LINE`
                };
                if used != *module && used_layer >= layer {
                    wrong.push(format!(
                        "{} (layer {layer}) uses {used} (layer {used_layer}): {line}",
                        file.strip_prefix(src()).unwrap().display()
                    ));
                }
            }
        }
    }
    assert!(
        wrong.is_empty(),
        "move the code or the table in src/lib.rs:\n{}",
        wrong.join("\n")
    );
}

#[test]
fn the_checker_sees_grouped_and_nested_paths() {
    let code = "use crate::{api::{ApiError, model}, fleet};\nlet x = crate::wire::read();\n\
                // crate::app in a comment\n#[cfg(test)]\nmod tests { use crate::app; }\n";
    let names: Vec<String> = uses(code).into_iter().map(|(n, _)| n).collect();
    assert_eq!(names, ["api", "fleet", "wire"]);
}

//! The modules of the runtime import each other without cycles, so each can be read, and
//! changed, from the modules below it. Reads `use crate::…` and `crate::…::` paths in every
//! file of `src/` (test modules, which may use anything, left out) and fails naming a cycle.

mod source_files;

use std::collections::{BTreeMap, BTreeSet};
use std::path::Path;

/// `src/a/b.rs` → `a::b`, `src/a/mod.rs` → `a`.
fn module_of(path: &Path, src: &Path) -> String {
    let rel = path.strip_prefix(src).unwrap().with_extension("");
    let mut parts: Vec<String> = rel.iter().map(|p| p.to_string_lossy().into_owned()).collect();
    if parts.last().is_some_and(|p| p == "mod") {
        parts.pop();
    }
    parts.join("::")
}

/// The modules a file's code refers to through `crate::` (the longest known module path).
fn imports(text: &str, modules: &BTreeSet<String>) -> BTreeSet<String> {
    let code = text.split("#[cfg(test)]\nmod tests").next().unwrap_or(text);
    let code = code.split("#[cfg(test)]\npub(crate) mod tests").next().unwrap_or(code);
    let mut found = BTreeSet::new();
    for line in code.lines().filter(|l| !l.trim_start().starts_with("//")) {
        let mut rest = line;
        while let Some(at) = rest.find("crate::") {
            rest = &rest[at + "crate::".len()..];
            let path: String = rest
                .chars()
                .take_while(|c| c.is_alphanumeric() || *c == '_' || *c == ':')
                .collect();
            let segments: Vec<&str> = path.split("::").filter(|s| !s.is_empty()).collect();
            for len in (1..=segments.len()).rev() {
                let candidate = segments[..len].join("::");
                if modules.contains(&candidate) {
                    found.insert(candidate);
                    break;
                }
            }
        }
    }
    found
}

#[test]
fn runtime_modules_import_each_other_without_cycles() {
    let src = Path::new(env!("CARGO_MANIFEST_DIR")).join("src");
    let paths = source_files::rust_files(&src);
    let modules: BTreeSet<String> = paths
        .iter()
        .map(|p| module_of(p, &src))
        .filter(|m| m != "lib")
        .collect();
    let mut graph: BTreeMap<String, BTreeSet<String>> = BTreeMap::new();
    for path in &paths {
        let module = module_of(path, &src);
        if module == "lib" {
            continue;
        }
        let text = std::fs::read_to_string(path).unwrap();
        let mut deps = imports(&text, &modules);
        // A module's own children and itself are not imports of it.
        deps.retain(|d| d != &module && !d.starts_with(&format!("{module}::")));
        // A child may use its parent's items.
        deps.retain(|d| !module.starts_with(&format!("{d}::")));
        graph.insert(module, deps);
    }
    assert!(graph.len() > 10, "the source files were found: {graph:?}");
    // Depth-first search for a back edge.
    fn visit(
        m: &str,
        graph: &BTreeMap<String, BTreeSet<String>>,
        stack: &mut Vec<String>,
        done: &mut BTreeSet<String>,
    ) -> Option<Vec<String>> {
        if let Some(at) = stack.iter().position(|s| s == m) {
            let mut cycle = stack[at..].to_vec();
            cycle.push(m.to_owned());
            return Some(cycle);
        }
        if done.contains(m) {
            return None;
        }
        stack.push(m.to_owned());
        for dep in graph.get(m).into_iter().flatten() {
            if let Some(cycle) = visit(dep, graph, stack, done) {
                return Some(cycle);
            }
        }
        stack.pop();
        done.insert(m.to_owned());
        None
    }
    let mut done = BTreeSet::new();
    for module in graph.keys() {
        if let Some(cycle) = visit(module, &graph, &mut Vec::new(), &mut done) {
            panic!("import cycle: {}\nthe graph: {graph:#?}", cycle.join(" -> "));
        }
    }
}

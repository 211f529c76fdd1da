//! docs/architecture.md's table of actors stays true: every actor in `src/` (an
//! `impl Actor for X`) has a row naming its file and every message it handles (each
//! `impl Handler<M> for X`), and every row names an actor and messages that exist.

mod source_files;

use std::collections::{BTreeMap, BTreeSet};
use std::path::Path;

/// The type name after `for ` in an impl line: `Worker<S> {` → `Worker`.
fn implementor(line: &str) -> Option<String> {
    let after = line.split(" for ").nth(1)?;
    Some(after.chars().take_while(|c| c.is_alphanumeric() || *c == '_').collect())
}

/// (actor → (file, messages)) as the sources say.
fn from_sources() -> BTreeMap<String, (String, BTreeSet<String>)> {
    let src = Path::new(env!("CARGO_MANIFEST_DIR")).join("src");
    let paths = source_files::rust_files(&src);
    let mut actors: BTreeMap<String, (String, BTreeSet<String>)> = BTreeMap::new();
    let mut handled: Vec<(String, String)> = Vec::new();
    for path in paths {
        let text = std::fs::read_to_string(&path).unwrap();
        let code = text.split("#[cfg(test)]").next().unwrap_or(&text);
        let file = path.strip_prefix(&src).unwrap().to_string_lossy().into_owned();
        for line in code.lines().map(str::trim_start).filter(|l| l.starts_with("impl")) {
            if line.contains(" Actor for ") {
                let actor = implementor(line).unwrap();
                actors.entry(actor).or_insert_with(|| (file.clone(), BTreeSet::new())).0 = file.clone();
            } else if let Some(rest) = line.split(" Handler<").nth(1) {
                let message: String = rest.chars().take_while(|c| c.is_alphanumeric() || *c == '_').collect();
                handled.push((implementor(line).unwrap(), message));
            }
        }
    }
    for (actor, message) in handled {
        let entry = actors
            .get_mut(&actor)
            .unwrap_or_else(|| panic!("{actor} handles {message} but is no actor"));
        entry.1.insert(message);
    }
    actors
}

/// (actor → (file, messages)) as the doc's table says.
fn from_doc() -> BTreeMap<String, (String, BTreeSet<String>)> {
    let doc = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../docs/architecture.md");
    let text = std::fs::read_to_string(doc).unwrap();
    let table = text
        .split("## Actors and their messages")
        .nth(1)
        .expect("docs/architecture.md has a section \"Actors and their messages\"");
    let ticked = |cell: &str| -> Vec<String> { cell.split('`').skip(1).step_by(2).map(str::to_owned).collect() };
    table
        .lines()
        .skip_while(|l| !l.starts_with('|'))
        .take_while(|l| l.starts_with('|'))
        .skip(2)
        .map(|row| {
            let cells: Vec<&str> = row.split('|').map(str::trim).collect();
            let actor = ticked(cells[1]).remove(0);
            let file = ticked(cells[2]).remove(0);
            (actor, (file, ticked(cells[3]).into_iter().collect()))
        })
        .collect()
}

#[test]
fn architecture_doc_lists_every_actor_with_its_file_and_messages() {
    let sources = from_sources();
    let doc = from_doc();
    assert!(sources.len() >= 5, "the scan found too few actors: {sources:?}");
    assert_eq!(
        sources, doc,
        "docs/architecture.md's table of actors (right) differs from the sources (left)"
    );
}

//! docs/configuration.md has a row for every environment variable the configuration readers
//! read, and none for a variable they do not: a setting added to one and not the other fails here.

use lambda_actors::config::{Config, ExtensionSettings};
use std::cell::RefCell;
use std::collections::BTreeSet;

/// The names `Config::from_lookup` and `ExtensionSettings::from_lookup` ask for, in an empty
/// environment and in a Managed Instances one on Lambda (where other branches are taken).
fn names_read() -> BTreeSet<String> {
    let seen = RefCell::new(BTreeSet::new());
    let empty = |name: &str| {
        seen.borrow_mut().insert(name.to_owned());
        None
    };
    Config::from_lookup(empty).expect("an empty environment is valid");
    ExtensionSettings::from_lookup(empty);
    let managed = |name: &str| {
        seen.borrow_mut().insert(name.to_owned());
        match name {
            "AWS_LAMBDA_RUNTIME_API" => Some("127.0.0.1:9001".to_owned()),
            "AWS_LAMBDA_MAX_CONCURRENCY" => Some("1".to_owned()),
            _ => None,
        }
    };
    Config::from_lookup(managed).expect("a managed environment is valid");
    seen.into_inner()
}

/// The `NAME`s in the first cell of each table row of the page.
fn names_documented() -> BTreeSet<String> {
    let page = std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/../../docs/configuration.md"))
        .expect("docs/configuration.md");
    let mut names = BTreeSet::new();
    for row in page.lines().filter(|l| l.starts_with("| `")) {
        let first_cell = row.split('|').nth(1).unwrap_or_default();
        for name in first_cell.split('`').skip(1).step_by(2) {
            let is_variable = name.starts_with(|c: char| c.is_ascii_uppercase())
                && name
                    .chars()
                    .all(|c| c.is_ascii_uppercase() || c.is_ascii_digit() || c == '_');
            if is_variable {
                names.insert(name.to_owned());
            }
        }
    }
    names
}

#[test]
fn every_variable_read_has_a_row_and_every_row_is_read() {
    let read = names_read();
    let documented = names_documented();
    assert!(read.len() > 20, "the recording lookup saw too few names: {read:?}");
    let undocumented: Vec<_> = read.difference(&documented).collect();
    let unread: Vec<_> = documented.difference(&read).collect();
    assert!(
        undocumented.is_empty(),
        "read but without a row in docs/configuration.md: {undocumented:?}"
    );
    assert!(
        unread.is_empty(),
        "a row in docs/configuration.md, but no reader reads it: {unread:?}"
    );
}

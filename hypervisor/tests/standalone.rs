//! The repository stands on its own: no source file, script or document points at notes kept
//! outside it (a "reference T" tag with a number, a "§x.y #n" item tag, a path into a
//! sibling `shared` folder) or at a project issue by number or as "the" issue. A fact the code
//! relies on is stated where it is used or in a page under `docs/`. Spec section numbers
//! (DEN0077, DTSpec, the Arm ARM) are fine, and so are upstream projects' files and pull
//! requests named with their repository.
//!
//! Scans every text file of the repository except build output (`target/`, `build/`) and
//! fuzzing data. The patterns are assembled at run time so that this file does not match
//! itself.

use std::fs;
use std::path::{Path, PathBuf};

/// Directories never scanned, by name: version control, build output, fuzzing data.
const SKIP_DIRS: &[&str] = &[".git", "target", "build", "corpus", "artifacts"];

/// File names and extensions scanned.
const TEXT: &[&str] = &[
    "rs", "md", "S", "c", "h", "sh", "toml", "ld", "py", "dts", "dtsi", "txt", "yml", "Makefile",
];

#[test]
fn nothing_points_outside_the_repository() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("..");
    let mut files = Vec::new();
    collect(&root, &mut files);
    assert!(
        files.iter().any(|f| f.ends_with("docs/architecture.md")),
        "the repository was not read from {}",
        root.display()
    );
    let mut found = Vec::new();
    for file in &files {
        let Ok(text) = fs::read_to_string(file) else {
            continue;
        };
        for (n, line) in text.lines().enumerate() {
            if let Some(what) = external_reference(line) {
                let rel = file.strip_prefix(&root).unwrap_or(file);
                found.push(format!("{}:{}: {what}: {line}", rel.display(), n + 1));
            }
        }
    }
    assert!(
        found.is_empty(),
        "references outside the repository (state the fact, or name a docs/ page):\n{}",
        found.join("\n")
    );
}

#[test]
fn the_patterns_catch_what_they_should() {
    let hits = [
        ["see reference T", "10"].concat(),
        ["DEN0077 §4.1 ", "#9"].concat(),
        ["../sha", "red/", "docs/x.md"].concat(),
        ["as ", "the ", "issue asks"].concat(),
        ["(issue ", "3)"].concat(),
        ["issue #", "3"].concat(),
        ["ffa-", "reference.md"].concat(),
    ];
    for line in &hits {
        assert!(external_reference(line).is_some(), "{line}");
    }
    let fine = [
        "DEN0077 v1.2 §13.2",
        "tianocore/edk2 PR #12563",
        "T0=$(now)",
        "no reference to T",
        "an issue with the cache",
    ];
    for line in fine {
        assert_eq!(external_reference(line), None, "{line}");
    }
}

/// What in `line` points outside the repository, if anything.
fn external_reference(line: &str) -> Option<&'static str> {
    let plain = [
        (["shared", "/docs"].concat(), "shared notes"),
        (["..", "/shared"].concat(), "shared notes"),
        (["the ", "issue"].concat(), "an issue"),
        (["ffa-", "reference"].concat(), "external reference notes"),
        (
            ["hyp-core-", "reference"].concat(),
            "external reference notes",
        ),
    ];
    if let Some((_, what)) = plain.iter().find(|(p, _)| line.contains(p.as_str())) {
        return Some(what);
    }
    // "reference T<digit>", "issue <digit>" / "issue #<digit>", "§<d>.<d> #".
    let followed_by_digit = |prefix: &str, skip_hash: bool| {
        line.match_indices(prefix).any(|(i, p)| {
            let rest = &line[i + p.len()..];
            let rest = if skip_hash {
                rest.strip_prefix('#').unwrap_or(rest)
            } else {
                rest
            };
            rest.starts_with(|c: char| c.is_ascii_digit())
        })
    };
    if followed_by_digit(&["reference ", "T"].concat(), false) {
        return Some("external reference notes");
    }
    if followed_by_digit(&["issue", " "].concat(), true) {
        return Some("an issue");
    }
    let section_tag = line.match_indices('§').any(|(i, s)| {
        let rest = &line[i + s.len()..];
        let number = rest
            .find(|c: char| !(c.is_ascii_digit() || c == '.'))
            .unwrap_or(rest.len());
        number > 0 && rest[number..].starts_with(" #")
    });
    section_tag.then_some("a tag of external notes")
}

fn collect(dir: &Path, out: &mut Vec<PathBuf>) {
    let Ok(entries) = fs::read_dir(dir) else {
        return;
    };
    for entry in entries.flatten() {
        let path = entry.path();
        let name = entry.file_name();
        let name = name.to_string_lossy();
        if path.is_dir() {
            if !SKIP_DIRS.contains(&name.as_ref()) {
                collect(&path, out);
            }
        } else {
            let ext = path.extension().map(|e| e.to_string_lossy());
            if TEXT.contains(&name.as_ref()) || ext.is_some_and(|e| TEXT.contains(&e.as_ref())) {
                out.push(path);
            }
        }
    }
}

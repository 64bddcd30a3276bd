//! Dependency direction between the hypervisor's modules, read from its source
//! (`hypervisor/src/**/*.rs`): no import cycle between modules, and no portable module
//! importing the firmware folder (`src/firmware/`, compiled for the firmware target only),
//! and the thin hardware layer (`firmware/arch.rs`) importing no policy.
//!
//! A module is a source file: `src/a/b.rs` and `src/a/b/mod.rs` are both `a::b`. Its edges
//! are the crate paths its code names — `crate::…`, `super::…`, `self::…` and paths that
//! start with one of its child modules, in `use` items (trees expanded) and in code alike —
//! each resolved to the longest module prefix (`crate::ffa::abi::fid::X` is an edge to
//! `ffa::abi`). Not counted:
//! - test-only code: items under `#[cfg(test)]` (the inline `mod tests { … }`) and files
//!   declared by `#[cfg(test)] mod x;`. A test module exercises its parent and may reach
//!   anywhere to do so; counting it would make every tested module depend on its helpers;
//! - a module naming its own descendants (`mod x;`, `pub use x::Y` in a `mod.rs`): a
//!   folder's `mod.rs` is its facade, not a client, so child -> parent imports stay legal;
//! - comments and string literals.

use std::collections::{BTreeMap, BTreeSet, VecDeque};
use std::fs;
use std::path::{Path, PathBuf};

/// Module name -> the modules it imports.
type Graph = BTreeMap<String, BTreeSet<String>>;

/// The folder of firmware glue: only modules inside it may import it.
const FIRMWARE: &str = "firmware";

/// The thin hardware layer, and the only modules it may import: it reads and writes raw
/// values and decides nothing, so it needs the SMCCC register vocabulary and no policy.
const ARCH: &str = "firmware::arch";
const ARCH_MAY_IMPORT: &[&str] = &["smccc"];

#[test]
fn no_import_cycles_and_no_portable_module_imports_the_firmware_folder() {
    let src = Path::new(env!("CARGO_MANIFEST_DIR")).join("src");
    let graph = graph_of_tree(&src);
    assert!(
        graph.contains_key("trap") && graph.contains_key("firmware::boot"),
        "the source tree was not read: {:?}",
        graph.keys().collect::<Vec<_>>()
    );

    let mut problems = Vec::new();
    problems.extend(
        cycles(&graph)
            .into_iter()
            .map(|c| format!("import cycle: {}", c.join(" -> "))),
    );
    problems.extend(
        firmware_imports(&graph)
            .into_iter()
            .map(|(from, to)| format!("portable module {from} imports {to}")),
    );
    for to in graph.get(ARCH).into_iter().flatten() {
        if !ARCH_MAY_IMPORT.contains(&to.as_str()) {
            problems.push(format!(
                "{ARCH} imports {to}: policy belongs outside the thin layer"
            ));
        }
    }
    assert!(problems.is_empty(), "\n{}\n", problems.join("\n"));
}

// ---------------------------------------------------------------------------------------
// The graph from the source tree.

/// Every module of the tree under `src` with its edges (test-only files left out).
fn graph_of_tree(src: &Path) -> Graph {
    let mut files = Vec::new();
    collect_rs(src, &mut files);
    let sources: BTreeMap<String, String> = files
        .iter()
        .map(|f| {
            let rel = f.strip_prefix(src).unwrap_or(f);
            let text =
                fs::read_to_string(f).unwrap_or_else(|e| panic!("reading {}: {e}", f.display()));
            (module_name(rel), text)
        })
        .collect();
    graph_of_sources(&sources)
}

fn collect_rs(dir: &Path, out: &mut Vec<PathBuf>) {
    let mut entries: Vec<_> = fs::read_dir(dir)
        .unwrap_or_else(|e| panic!("reading {}: {e}", dir.display()))
        .map(|e| e.expect("directory entry").path())
        .collect();
    entries.sort();
    for p in entries {
        if p.is_dir() {
            collect_rs(&p, out);
        } else if p.extension().is_some_and(|e| e == "rs") {
            out.push(p);
        }
    }
}

/// `a/b.rs` and `a/b/mod.rs` -> `a::b`; `lib.rs` -> `crate`.
fn module_name(rel: &Path) -> String {
    let mut parts: Vec<String> = rel
        .iter()
        .map(|c| c.to_string_lossy().trim_end_matches(".rs").to_string())
        .collect();
    if parts.last().is_some_and(|p| p == "mod") {
        parts.pop();
    }
    if parts == ["lib"] {
        return "crate".into();
    }
    parts.join("::")
}

/// The graph of a set of modules given as (name, source). Modules declared test-only by
/// their parent, and the crate root (which only declares modules), are not nodes.
fn graph_of_sources(sources: &BTreeMap<String, String>) -> Graph {
    let parsed: BTreeMap<&str, Parsed> = sources
        .iter()
        .map(|(m, s)| (m.as_str(), parse(&tokens(s))))
        .collect();
    let test_only: BTreeSet<String> = parsed
        .iter()
        .flat_map(|(m, p)| p.test_children.iter().map(move |c| child(m, c)))
        .collect();
    let known: BTreeSet<&str> = sources
        .keys()
        .map(String::as_str)
        .filter(|m| *m != "crate" && !is_in_any(m, &test_only))
        .collect();
    let mut graph = Graph::new();
    for &m in &known {
        let edges = graph.entry(m.to_string()).or_default();
        for path in &parsed[m].paths {
            if let Some(target) = resolve(m, path, &known)
                && target != m
                && !target.starts_with(&format!("{m}::"))
            {
                edges.insert(target.to_string());
            }
        }
    }
    graph
}

fn child(parent: &str, name: &str) -> String {
    if parent == "crate" {
        name.to_string()
    } else {
        format!("{parent}::{name}")
    }
}

/// Whether `m` is one of `set` or inside one of them.
fn is_in_any(m: &str, set: &BTreeSet<String>) -> bool {
    set.iter()
        .any(|t| m == t || m.starts_with(&format!("{t}::")))
}

/// A path as written, with the inline modules it was written in.
#[derive(Debug)]
struct PathUse {
    /// The inline `mod x { … }` blocks around it, outermost first.
    inline: Vec<String>,
    segments: Vec<String>,
}

/// The module that a path names, seen from module `m`: its longest prefix that is a module.
fn resolve<'a>(m: &str, path: &PathUse, known: &BTreeSet<&'a str>) -> Option<&'a str> {
    let here: Vec<String> = if m == "crate" {
        Vec::new()
    } else {
        m.split("::").map(String::from).collect()
    };
    let mut segs = path.segments.iter().map(String::as_str).peekable();
    let mut full: Vec<String> = match segs.peek().copied() {
        Some("crate" | "$crate") => {
            segs.next();
            Vec::new()
        }
        Some("self") => {
            segs.next();
            [here.clone(), path.inline.clone()].concat()
        }
        Some("super") => {
            let mut base = [here.clone(), path.inline.clone()].concat();
            while segs.peek() == Some(&"super") {
                segs.next();
                base.pop()?;
            }
            base
        }
        // A relative path into a child module (outside inline modules, whose children
        // are not files).
        Some(first) if path.inline.is_empty() && known.contains(child(m, first).as_str()) => {
            here.clone()
        }
        _ => return None,
    };
    full.extend(segs.map(String::from));
    (1..=full.len())
        .rev()
        .find_map(|n| known.get(full[..n].join("::").as_str()).copied())
}

// ---------------------------------------------------------------------------------------
// A small Rust lexer and path extractor: enough for `use` trees and `a::b::c` in code.

/// Identifiers and punctuation, without comments, string and character literals.
fn tokens(src: &str) -> Vec<String> {
    let c: Vec<char> = src.chars().collect();
    let mut out = Vec::new();
    let mut i = 0;
    while i < c.len() {
        let ch = c[i];
        let next = c.get(i + 1).copied();
        if ch == '/' && next == Some('/') {
            while i < c.len() && c[i] != '\n' {
                i += 1;
            }
        } else if ch == '/' && next == Some('*') {
            let mut depth = 0;
            while i < c.len() {
                if c[i] == '/' && c.get(i + 1) == Some(&'*') {
                    depth += 1;
                    i += 2;
                } else if c[i] == '*' && c.get(i + 1) == Some(&'/') {
                    depth -= 1;
                    i += 2;
                    if depth == 0 {
                        break;
                    }
                } else {
                    i += 1;
                }
            }
        } else if ch == '"' {
            i = skip_string(&c, i);
        } else if ch == '\'' {
            if next == Some('\\') {
                i += 2;
                while i < c.len() && c[i] != '\'' {
                    i += 1;
                }
                i += 1;
            } else if c.get(i + 2) == Some(&'\'') {
                i += 3;
            } else {
                i += 1; // a lifetime: its name follows as an identifier
            }
        } else if ch.is_alphabetic() || ch == '_' || ch == '$' {
            let start = i;
            i += 1;
            while i < c.len() && (c[i].is_alphanumeric() || c[i] == '_') {
                i += 1;
            }
            let word: String = c[start..i].iter().collect();
            // Raw strings: r"…", r#"…"#, br"…".
            if matches!(word.as_str(), "r" | "br") && matches!(c.get(i), Some('"' | '#')) {
                let mut hashes = 0;
                while c.get(i) == Some(&'#') {
                    hashes += 1;
                    i += 1;
                }
                if c.get(i) == Some(&'"') {
                    i += 1;
                    loop {
                        if i >= c.len() {
                            break;
                        }
                        if c[i] == '"' && (1..=hashes).all(|k| c.get(i + k) == Some(&'#')) {
                            i += 1 + hashes;
                            break;
                        }
                        i += 1;
                    }
                }
                continue;
            }
            if word == "b" && matches!(c.get(i), Some('"' | '\'')) {
                continue; // the literal is skipped on the next turn
            }
            out.push(word);
        } else if ch == ':' && next == Some(':') {
            out.push("::".into());
            i += 2;
        } else if ch.is_whitespace() {
            i += 1;
        } else {
            out.push(ch.to_string());
            i += 1;
        }
    }
    out
}

fn skip_string(c: &[char], mut i: usize) -> usize {
    i += 1;
    while i < c.len() {
        match c[i] {
            '\\' => i += 2,
            '"' => return i + 1,
            _ => i += 1,
        }
    }
    i
}

/// What a module's tokens say about its dependencies.
#[derive(Debug, Default)]
struct Parsed {
    paths: Vec<PathUse>,
    /// Children declared `#[cfg(test)] mod x;` (test-only files).
    test_children: Vec<String>,
}

fn is_ident(t: &str) -> bool {
    t.chars()
        .next()
        .is_some_and(|c| c.is_alphabetic() || c == '_' || c == '$')
}

fn parse(t: &[String]) -> Parsed {
    let mut out = Parsed::default();
    // Inline modules: (name, brace depth inside them).
    let mut inline: Vec<(String, usize)> = Vec::new();
    let mut depth = 0;
    let mut i = 0;
    while i < t.len() {
        if is_cfg_test(t, i) {
            i = skip_test_item(t, i + 7, &mut out.test_children);
            continue;
        }
        match t[i].as_str() {
            "{" => {
                depth += 1;
                i += 1;
            }
            "}" => {
                if inline.last().is_some_and(|(_, d)| *d == depth) {
                    inline.pop();
                }
                depth = depth.saturating_sub(1);
                i += 1;
            }
            "mod" if t.get(i + 2).is_some_and(|b| b == "{") => {
                inline.push((t[i + 1].clone(), depth + 1));
                i += 1;
            }
            w if is_ident(w)
                && t.get(i + 1).is_some_and(|n| n == "::")
                && (i == 0 || t[i - 1] != "::") =>
            {
                let names: Vec<String> = inline.iter().map(|(n, _)| n.clone()).collect();
                for segments in use_tree(t, &mut i, Vec::new()) {
                    out.paths.push(PathUse {
                        inline: names.clone(),
                        segments,
                    });
                }
            }
            _ => i += 1,
        }
    }
    out
}

/// `#` `[` `cfg` `(` `test` `)` `]` at `i`.
fn is_cfg_test(t: &[String], i: usize) -> bool {
    let want = ["#", "[", "cfg", "(", "test", ")", "]"];
    t.len() >= i + want.len() && want.iter().zip(&t[i..]).all(|(w, x)| w == x)
}

/// Skips the item after a `#[cfg(test)]` (further attributes included) and returns the index
/// after it; a `mod x;` is recorded as a test-only child.
fn skip_test_item(t: &[String], mut i: usize, test_children: &mut Vec<String>) -> usize {
    while t.get(i).is_some_and(|x| x == "#") {
        i = skip_group(t, i + 1, "[", "]");
    }
    let start = i;
    while i < t.len() && t[i] != ";" && t[i] != "{" {
        i += 1;
    }
    if t.get(i).is_some_and(|x| x == ";") {
        if let Some(m) = t[start..i].iter().position(|x| x == "mod")
            && let Some(name) = t.get(start + m + 1)
        {
            test_children.push(name.clone());
        }
        return i + 1;
    }
    if t[start..i].iter().any(|x| x == "use") {
        // `use a::{b, c};`: the braces are part of the item, which ends at `;`.
        while i < t.len() && t[i] != ";" {
            i += 1;
        }
        return i + 1;
    }
    skip_group(t, i, "{", "}")
}

/// From an opening `open` at `i`, the index after its matching `close`.
fn skip_group(t: &[String], mut i: usize, open: &str, close: &str) -> usize {
    let mut depth = 0;
    while i < t.len() {
        if t[i] == open {
            depth += 1;
        } else if t[i] == close {
            depth -= 1;
            if depth == 0 {
                return i + 1;
            }
        }
        i += 1;
    }
    i
}

/// The paths of a path or `use` tree starting at `i` (`a::b::{c, d::e as f, self, *}`),
/// each as its segments; `i` ends after it.
fn use_tree(t: &[String], i: &mut usize, prefix: Vec<String>) -> Vec<Vec<String>> {
    let mut cur = prefix;
    loop {
        match t.get(*i).map(String::as_str) {
            Some("{") => {
                *i += 1;
                let mut out = Vec::new();
                while *i < t.len() && t[*i] != "}" {
                    let before = *i;
                    out.extend(use_tree(t, i, cur.clone()));
                    if t.get(*i).is_some_and(|x| x == ",") || *i == before {
                        *i += 1;
                    }
                }
                *i += 1;
                return out;
            }
            Some("*") => {
                *i += 1;
                return vec![cur];
            }
            Some(w) if is_ident(w) => {
                if w != "self" || cur.is_empty() {
                    cur.push(w.to_string());
                }
                *i += 1;
                if t.get(*i).is_some_and(|x| x == "::") {
                    *i += 1;
                    continue;
                }
                if t.get(*i).is_some_and(|x| x == "as") {
                    *i += 2;
                }
                return vec![cur];
            }
            // `a::<T>` and the like: the path so far.
            _ => {
                return if cur.is_empty() {
                    Vec::new()
                } else {
                    vec![cur]
                };
            }
        }
    }
}

// ---------------------------------------------------------------------------------------
// The checks.

/// One cycle (`a -> b -> … -> a`) through each strongly connected component of more than one
/// module.
fn cycles(g: &Graph) -> Vec<Vec<String>> {
    sccs(g)
        .into_iter()
        .filter(|c| c.len() > 1)
        .map(|c| cycle_in(g, &c))
        .collect()
}

/// Tarjan's strongly connected components.
fn sccs(g: &Graph) -> Vec<BTreeSet<String>> {
    struct State<'a> {
        g: &'a Graph,
        index: BTreeMap<&'a str, usize>,
        low: BTreeMap<&'a str, usize>,
        stack: Vec<&'a str>,
        on_stack: BTreeSet<&'a str>,
        out: Vec<BTreeSet<String>>,
    }
    fn visit<'a>(s: &mut State<'a>, v: &'a str) {
        let n = s.index.len();
        s.index.insert(v, n);
        s.low.insert(v, n);
        s.stack.push(v);
        s.on_stack.insert(v);
        let g = s.g;
        for w in g.get(v).into_iter().flatten() {
            let w = w.as_str();
            if !s.index.contains_key(w) {
                visit(s, w);
                let lw = s.low[w];
                let lv = s.low.get_mut(v).expect("visited");
                *lv = (*lv).min(lw);
            } else if s.on_stack.contains(w) {
                let iw = s.index[w];
                let lv = s.low.get_mut(v).expect("visited");
                *lv = (*lv).min(iw);
            }
        }
        if s.low[v] == s.index[v] {
            let mut comp = BTreeSet::new();
            while let Some(w) = s.stack.pop() {
                s.on_stack.remove(w);
                comp.insert(w.to_string());
                if w == v {
                    break;
                }
            }
            s.out.push(comp);
        }
    }
    let mut s = State {
        g,
        index: BTreeMap::new(),
        low: BTreeMap::new(),
        stack: Vec::new(),
        on_stack: BTreeSet::new(),
        out: Vec::new(),
    };
    for v in g.keys() {
        if !s.index.contains_key(v.as_str()) {
            visit(&mut s, v);
        }
    }
    s.out
}

/// A shortest cycle from the first module of `comp` back to itself, inside `comp`.
fn cycle_in(g: &Graph, comp: &BTreeSet<String>) -> Vec<String> {
    let start = comp.iter().next().expect("non-empty").clone();
    let mut prev: BTreeMap<String, String> = BTreeMap::new();
    let mut queue = VecDeque::from([start.clone()]);
    while let Some(v) = queue.pop_front() {
        for w in g
            .get(&v)
            .into_iter()
            .flatten()
            .filter(|w| comp.contains(*w))
        {
            if *w == start {
                // Back from `v` to the start, then in edge order.
                let mut back = Vec::new();
                let mut at = v.clone();
                while at != start {
                    back.push(at.clone());
                    at = prev[&at].clone();
                }
                back.reverse();
                return [vec![start.clone()], back, vec![start.clone()]].concat();
            }
            if !prev.contains_key(w) {
                prev.insert(w.clone(), v.clone());
                queue.push_back(w.clone());
            }
        }
    }
    unreachable!("a strongly connected component has a cycle")
}

/// Edges from a module outside the firmware folder into it.
fn firmware_imports(g: &Graph) -> Vec<(String, String)> {
    let inside = |m: &str| m == FIRMWARE || m.starts_with(&format!("{FIRMWARE}::"));
    g.iter()
        .filter(|(m, _)| !inside(m))
        .flat_map(|(m, e)| {
            e.iter()
                .filter(|t| inside(t))
                .map(move |t| (m.clone(), t.clone()))
        })
        .collect()
}

// ---------------------------------------------------------------------------------------
// The checker's own tests, on made-up modules.

fn fake(modules: &[(&str, &str)]) -> Graph {
    graph_of_sources(
        &modules
            .iter()
            .map(|(m, s)| (m.to_string(), s.to_string()))
            .collect(),
    )
}

fn edges(g: &Graph) -> Vec<(String, String)> {
    g.iter()
        .flat_map(|(m, e)| e.iter().map(move |t| (m.clone(), t.clone())))
        .collect()
}

fn pair(a: &str, b: &str) -> (String, String) {
    (a.into(), b.into())
}

#[test]
fn a_made_up_cycle_is_found_and_reported_in_order() {
    let g = fake(&[
        ("crate", "pub mod a; pub mod b; pub mod c;"),
        ("a", "use crate::b::B;"),
        ("b", "fn f() { crate::c::g() }"),
        ("c", "use super::a;"),
    ]);
    assert_eq!(cycles(&g), vec![vec!["a", "b", "c", "a"]]);
    // Without the edge that closes it, no cycle is left.
    let g = fake(&[
        ("crate", "pub mod a; pub mod b; pub mod c;"),
        ("a", "use crate::b::B;"),
        ("b", "fn f() { crate::c::g() }"),
        ("c", ""),
    ]);
    assert!(cycles(&g).is_empty());
}

#[test]
fn an_acyclic_graph_passes_and_each_cycle_is_reported_once() {
    let g = fake(&[
        ("a", "use crate::b; use crate::c;"),
        ("b", "use crate::c::X;"),
        ("c", ""),
    ]);
    assert!(cycles(&g).is_empty());
    let g = fake(&[
        ("a", "use crate::b;"),
        ("b", "use crate::a;"),
        ("c", "use crate::d;"),
        ("d", "use crate::c; use crate::a;"),
    ]);
    assert_eq!(cycles(&g).len(), 2);
}

#[test]
fn portable_imports_of_the_firmware_folder_are_found() {
    let g = fake(&[
        ("firmware", "pub mod arch; pub mod boot;"),
        ("firmware::arch", ""),
        (
            "firmware::boot",
            "use crate::firmware::arch; use crate::trap;",
        ),
        ("trap", "fn f() { crate::firmware::arch::park() }"),
    ]);
    assert_eq!(firmware_imports(&g), vec![pair("trap", "firmware::arch")]);
}

#[test]
fn use_trees_super_and_children_resolve_to_modules() {
    let g = fake(&[
        ("x", "mod y; pub use y::Y;"),
        (
            "x::y",
            "use super::z::{self, Z as W, inner::{A, B}};\nuse crate::{q, r::*};\nfn f() { super::super::s::t(); }",
        ),
        (
            "x::z",
            "pub mod inner { pub fn a() { super::super::y::f() } }",
        ),
        ("q", ""),
        ("r", ""),
        ("s", ""),
    ]);
    assert_eq!(
        edges(&g),
        vec![
            pair("x::y", "q"),
            pair("x::y", "r"),
            pair("x::y", "s"),
            pair("x::y", "x::z"),
            pair("x::z", "x::y"),
        ],
        "x -> x::y is a parent naming its child: not an edge"
    );
}

#[test]
fn tests_comments_and_strings_are_not_dependencies() {
    let g = fake(&[
        (
            "a",
            r##"
//! Uses crate::b in a comment.
#[cfg(test)]
mod helpers;
#[cfg(test)]
mod tests {
    use crate::b;
}
#[cfg(test)]
use crate::{b, c};
/* crate::b /* nested */ crate::b */
const S: &str = "crate::b";
const R: &str = r#"crate::b "quoted" crate::b"#;
const C: char = '"';
fn f<'a>(x: &'a u8) -> u8 { crate::c::g(*x) }
"##,
        ),
        ("a::helpers", "use crate::b;"),
        ("b", ""),
        ("c", ""),
    ]);
    assert_eq!(edges(&g), vec![pair("a", "c")]);
    assert!(!g.contains_key("a::helpers"), "test-only file");
}

//! The tree's shape, checked like behaviour: production functions fit on a screen (at most
//! [`FN_LINES_MAX`] lines, or listed in `tests/it/tidy_allowlist.txt` at no more than their
//! listed length, a list that may only shrink), every source file opens with a `//!` paragraph,
//! `ARCHITECTURE.md` names every workspace member and cites only paths that exist, and the HTTP
//! error tables are exhaustive matches that never decide by a message's text.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use syn::visit::Visit;

/// The longest a production function may be, in lines (signature to closing brace).
const FN_LINES_MAX: usize = 70;

const ALLOWLIST: &str = "tests/it/tidy_allowlist.txt";

fn root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

/// The workspace members' directories, from the root manifest (`benches/*` expanded).
fn members() -> Vec<String> {
    let manifest = std::fs::read_to_string(root().join("Cargo.toml")).expect("read Cargo.toml");
    let manifest: toml::Table = manifest.parse().expect("parse Cargo.toml");
    let listed = manifest["workspace"]["members"]
        .as_array()
        .expect("workspace.members");
    let mut out = Vec::new();
    for member in listed.iter().filter_map(|m| m.as_str()) {
        match member.strip_suffix("/*") {
            Some(parent) => {
                let entries = std::fs::read_dir(root().join(parent)).expect("read a member dir");
                let mut found: Vec<String> = entries
                    .filter_map(Result::ok)
                    .filter(|e| e.path().join("Cargo.toml").exists())
                    .map(|e| format!("{parent}/{}", e.file_name().to_string_lossy()))
                    .collect();
                found.sort();
                out.extend(found);
            }
            None => out.push(member.to_owned()),
        }
    }
    out
}

/// Every `.rs` file under each package's `src/` (the root package's too), relative to the root.
fn source_files() -> Vec<String> {
    fn walk(dir: &Path, out: &mut Vec<PathBuf>) {
        let Ok(entries) = std::fs::read_dir(dir) else {
            return;
        };
        for entry in entries.filter_map(Result::ok) {
            let path = entry.path();
            if path.is_dir() {
                walk(&path, out);
            } else if path.extension().is_some_and(|e| e == "rs") {
                out.push(path);
            }
        }
    }
    let mut files = Vec::new();
    walk(&root().join("src"), &mut files);
    for member in members() {
        walk(&root().join(member).join("src"), &mut files);
    }
    let mut out: Vec<String> = files
        .iter()
        .map(|p| {
            let relative = p.strip_prefix(root()).expect("under the root");
            relative.to_string_lossy().replace('\\', "/")
        })
        .collect();
    out.sort();
    out
}

/// Functions of one file with their length in lines, skipping `#[cfg(test)]` modules.
#[derive(Default)]
struct Lengths {
    scope: Vec<String>,
    found: Vec<(String, usize)>,
}

fn is_cfg_test(attrs: &[syn::Attribute]) -> bool {
    attrs.iter().any(|a| {
        a.path().is_ident("cfg")
            && a.parse_args::<syn::Path>()
                .is_ok_and(|p| p.is_ident("test"))
    })
}

impl Lengths {
    fn record(&mut self, name: &syn::Ident, span: proc_macro2::Span) {
        let lines = span.end().line - span.start().line + 1;
        let mut path = self.scope.clone();
        path.push(name.to_string());
        self.found.push((path.join("::"), lines));
    }
}

impl<'ast> Visit<'ast> for Lengths {
    fn visit_item_mod(&mut self, item: &'ast syn::ItemMod) {
        if is_cfg_test(&item.attrs) {
            return;
        }
        self.scope.push(item.ident.to_string());
        syn::visit::visit_item_mod(self, item);
        self.scope.pop();
    }

    fn visit_item_fn(&mut self, item: &'ast syn::ItemFn) {
        use syn::spanned::Spanned;
        if is_cfg_test(&item.attrs) {
            return;
        }
        self.record(&item.sig.ident, item.span());
        syn::visit::visit_item_fn(self, item);
    }

    fn visit_item_impl(&mut self, item: &'ast syn::ItemImpl) {
        if is_cfg_test(&item.attrs) {
            return;
        }
        let ty = &item.self_ty;
        self.scope.push(quote_type(ty));
        syn::visit::visit_item_impl(self, item);
        self.scope.pop();
    }

    fn visit_impl_item_fn(&mut self, item: &'ast syn::ImplItemFn) {
        use syn::spanned::Spanned;
        self.record(&item.sig.ident, item.span());
        syn::visit::visit_impl_item_fn(self, item);
    }

    fn visit_trait_item_fn(&mut self, item: &'ast syn::TraitItemFn) {
        use syn::spanned::Spanned;
        if item.default.is_some() {
            self.record(&item.sig.ident, item.span());
        }
        syn::visit::visit_trait_item_fn(self, item);
    }
}

/// `impl Foo<T>` as `Foo`: the last path segment's name, enough to tell methods apart.
fn quote_type(ty: &syn::Type) -> String {
    match ty {
        syn::Type::Path(path) => path
            .path
            .segments
            .last()
            .map(|s| s.ident.to_string())
            .unwrap_or_default(),
        _ => "impl".to_owned(),
    }
}

fn parse(file: &str) -> syn::File {
    let text = std::fs::read_to_string(root().join(file)).expect("read a source file");
    syn::parse_file(&text).unwrap_or_else(|e| panic!("{file}: {e}"))
}

/// `file::path::to::fn` → its length, for every production function.
fn function_lengths() -> BTreeMap<String, usize> {
    let mut out = BTreeMap::new();
    for file in source_files() {
        let mut lengths = Lengths::default();
        lengths.visit_file(&parse(&file));
        for (name, lines) in lengths.found {
            let key = format!("{file} {name}");
            let longest = out.entry(key).or_insert(0);
            *longest = lines.max(*longest);
        }
    }
    out
}

/// The allowlist: `path fn lines` per line; `#` starts a comment.
fn allowlist() -> BTreeMap<String, usize> {
    let text = std::fs::read_to_string(root().join(ALLOWLIST)).expect("read the allowlist");
    let mut out = BTreeMap::new();
    for line in text.lines().map(str::trim) {
        if line.is_empty() || line.starts_with('#') {
            continue;
        }
        let (key, lines) = line.rsplit_once(' ').expect("`path fn lines`");
        let lines: usize = lines.parse().expect("a line count");
        out.insert(key.to_owned(), lines);
    }
    out
}

#[test]
fn functions_are_at_most_70_lines_or_listed_no_longer_than_listed() {
    let lengths = function_lengths();
    let allowed = allowlist();
    let mut problems = Vec::new();
    for (key, &lines) in lengths.iter().filter(|(_, l)| **l > FN_LINES_MAX) {
        match allowed.get(key) {
            None => problems.push(format!("{key}: {lines} lines (at most {FN_LINES_MAX})")),
            Some(&listed) if lines > listed => problems.push(format!(
                "{key}: {lines} lines, longer than its listed {listed}"
            )),
            Some(_) => {}
        }
    }
    for (key, listed) in &allowed {
        match lengths.get(key) {
            None => problems.push(format!("{key}: listed but gone; remove the line")),
            Some(&lines) if lines <= FN_LINES_MAX => problems.push(format!(
                "{key}: {lines} lines now, listed at {listed}; remove the line"
            )),
            Some(&lines) if lines < *listed => problems.push(format!(
                "{key}: {lines} lines now, listed at {listed}; lower the number"
            )),
            Some(_) => {}
        }
    }
    assert!(problems.is_empty(), "{ALLOWLIST}:\n{}", problems.join("\n"));
}

#[test]
fn every_source_file_opens_with_a_doc_paragraph() {
    let missing: Vec<String> = source_files()
        .into_iter()
        .filter(|file| {
            let text = std::fs::read_to_string(root().join(file)).expect("read a source file");
            let first = text.lines().find(|l| !l.trim().is_empty()).unwrap_or("");
            !first.starts_with("//!")
        })
        .collect();
    assert!(
        missing.is_empty(),
        "files without a `//!` opening paragraph:\n{}",
        missing.join("\n")
    );
}

/// The backticked spans of `text` that name a file or directory of the tree.
fn cited_paths(text: &str) -> Vec<String> {
    let looks_like_path = |s: &str| {
        let chars_ok = s
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || "_-./*".contains(c));
        let file = [".rs", ".toml", ".md", ".sql", ".json", ".py", ".txt"]
            .iter()
            .any(|ext| s.ends_with(ext));
        chars_ok && !s.starts_with('/') && !s.starts_with('.') && (s.contains('/') || file)
    };
    text.split('`')
        .skip(1)
        .step_by(2)
        .filter(|s| looks_like_path(s))
        .map(str::to_owned)
        .collect()
}

/// Whether `cited` exists: a path from the root, or a file name found somewhere in the tree.
fn exists(cited: &str, files: &[String]) -> bool {
    let trimmed = cited.trim_end_matches('/');
    if let Some(parent) = trimmed.strip_suffix("/*") {
        return root().join(parent).is_dir();
    }
    root().join(trimmed).exists()
        || (!trimmed.contains('/') && files.iter().any(|f| f.ends_with(&format!("/{trimmed}"))))
}

#[test]
fn the_architecture_map_names_every_member_and_cites_only_real_paths() {
    let text = std::fs::read_to_string(root().join("ARCHITECTURE.md")).expect("ARCHITECTURE.md");
    let unnamed: Vec<String> = members()
        .into_iter()
        .filter(|m| !text.contains(&format!("`{m}`")))
        .collect();
    assert!(
        unnamed.is_empty(),
        "ARCHITECTURE.md does not name: {unnamed:?}"
    );
    let files = source_files();
    let missing: Vec<String> = cited_paths(&text)
        .into_iter()
        .filter(|p| !exists(p, &files))
        .collect();
    assert!(
        missing.is_empty(),
        "ARCHITECTURE.md cites paths that do not exist: {missing:?}"
    );
}

/// Tables only the `ledger` crate may name in SQL.
const LEDGER_TABLES: [&str; 10] = [
    "journal",
    "chain_head",
    "accounts",
    "holds",
    "instruments",
    "pollutants",
    "regions",
    "enterprises",
    "reductions",
    "postings",
];

/// Whether `text` has SQL that reads or writes one of the ledger's tables.
fn names_a_ledger_table(text: &str) -> Option<String> {
    let words: Vec<&str> = text
        .split(|c: char| !(c.is_ascii_alphanumeric() || c == '_'))
        .filter(|w| !w.is_empty())
        .collect();
    words.windows(2).find_map(|pair| {
        let verb = ["FROM", "INTO", "UPDATE", "JOIN"].contains(&pair[0]);
        (verb && LEDGER_TABLES.contains(&pair[1])).then(|| format!("{} {}", pair[0], pair[1]))
    })
}

#[test]
fn only_the_ledger_runs_sql_on_ledger_tables_and_no_service_reads_the_wall_clock() {
    let mut problems = Vec::new();
    for file in source_files() {
        let text = std::fs::read_to_string(root().join(&file)).expect("read a source file");
        if !file.starts_with("ledger/")
            && let Some(sql) = names_a_ledger_table(&text)
        {
            problems.push(format!(
                "{file}: `{sql}` (add a `ledger::Store` reader instead)"
            ));
        }
        if file.starts_with("api/src/services/") && text.contains("Utc::now") {
            problems.push(format!("{file}: reads the wall clock (use `Ledger::now`)"));
        }
    }
    assert!(problems.is_empty(), "{}", problems.join("\n"));
}

/// The functions that decide a refusal's HTTP status and problem code.
const HTTP_TABLES: [(&str, &str); 4] = [
    ("api/src/error.rs", "status"),
    ("api/src/error.rs", "code"),
    ("api/src/error.rs", "ledger_refusal"),
    ("api/src/routes/market/refusal.rs", "refusal"),
];

/// Finds, in the named functions, match arms whose pattern is `_` and calls that read an error's
/// text (`to_string`, `contains`, `starts_with`, `ends_with`).
#[derive(Default)]
struct TableCheck {
    wanted: Vec<&'static str>,
    inside: bool,
    found: Vec<String>,
}

impl<'ast> Visit<'ast> for TableCheck {
    fn visit_item_fn(&mut self, item: &'ast syn::ItemFn) {
        let name = item.sig.ident.to_string();
        let inside = self.wanted.contains(&name.as_str());
        self.inside |= inside;
        syn::visit::visit_item_fn(self, item);
        if inside {
            self.inside = false;
            self.wanted.retain(|w| *w != name);
        }
    }

    fn visit_impl_item_fn(&mut self, item: &'ast syn::ImplItemFn) {
        let name = item.sig.ident.to_string();
        let inside = self.wanted.contains(&name.as_str());
        self.inside |= inside;
        syn::visit::visit_impl_item_fn(self, item);
        if inside {
            self.inside = false;
            self.wanted.retain(|w| *w != name);
        }
    }

    fn visit_arm(&mut self, arm: &'ast syn::Arm) {
        if self.inside && matches!(arm.pat, syn::Pat::Wild(_)) {
            let line = syn::spanned::Spanned::span(&arm.pat).start().line;
            self.found.push(format!("a `_ =>` arm at line {line}"));
        }
        syn::visit::visit_arm(self, arm);
    }

    fn visit_expr_method_call(&mut self, call: &'ast syn::ExprMethodCall) {
        let name = call.method.to_string();
        let reads_text = ["to_string", "contains", "starts_with", "ends_with"];
        if self.inside && reads_text.contains(&name.as_str()) {
            let line = call.method.span().start().line;
            self.found.push(format!("`.{name}(…)` at line {line}"));
        }
        syn::visit::visit_expr_method_call(self, call);
    }
}

/// Every refusal's status and code is an exhaustive match over the error's variants: a new
/// variant does not compile until it is given its answer, and no answer depends on a message.
#[test]
fn http_error_tables_are_exhaustive_and_never_read_a_message() {
    let mut problems = Vec::new();
    for file in ["api/src/error.rs", "api/src/routes/market/refusal.rs"] {
        let wanted = HTTP_TABLES.iter().filter(|(f, _)| *f == file);
        let mut check = TableCheck {
            wanted: wanted.map(|(_, name)| *name).collect(),
            ..TableCheck::default()
        };
        check.visit_file(&parse(file));
        for missing in &check.wanted {
            problems.push(format!(
                "{file}: no function `{missing}` (update HTTP_TABLES)"
            ));
        }
        problems.extend(check.found.iter().map(|f| format!("{file}: {f}")));
    }
    assert!(problems.is_empty(), "{}", problems.join("\n"));
}

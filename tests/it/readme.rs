//! The README's commands, run as written: every `sh` block of README.md is a bash script run in
//! order in one fresh directory (so the first block's `ets demo` makes the database the others
//! use), with the real `ets` first on `PATH`. Only two things are adapted to a test: the server
//! listens on a free port instead of 8080 (the clients' default too), and `ets serve … &` waits until it is listening. A
//! block that fails, or whose output lacks what the README says it shows, fails the test, so the
//! README cannot drift from the program again.

use std::path::{Path, PathBuf};
use std::process::Command;

/// One fenced code block of the README.
struct Block {
    lang: String,
    text: String,
    /// The README line its fence opens on.
    line: usize,
}

fn blocks(readme: &str) -> Vec<Block> {
    let mut blocks = Vec::new();
    let mut open: Option<Block> = None;
    for (n, line) in readme.lines().enumerate() {
        match (open.take(), line.strip_prefix("```")) {
            (None, Some(lang)) => {
                open = Some(Block {
                    lang: lang.trim().to_owned(),
                    text: String::new(),
                    line: n + 1,
                })
            }
            (Some(block), Some(_)) => blocks.push(block),
            (Some(mut block), None) => {
                block.text.push_str(line);
                block.text.push('\n');
                open = Some(block);
            }
            (None, None) => {}
        }
    }
    assert!(open.is_none(), "README.md has an unclosed code block");
    blocks
}

/// What a block's output must show, by a command the block contains: the README's comments
/// promise these.
const EXPECTED: &[(&str, &[&str])] = &[
    (
        "ets demo --fresh",
        &[
            "verified:",
            "91500102MA0002790R/holding/COD.wujiang.2024-2028",
            "R-2025-0001",
            "2026-R1",
            "pass P1",
        ],
    ),
    ("ets tick", &["days closed:", "transfers expired:"]),
    (
        "ets round solve",
        &["5 applications (2 full, 3 partial)", "cod: granted 14.000"],
    ),
    (
        "ets auction clear",
        &["cleared at 58.00 CNY/t", "1 below the reserve price"],
    ),
    (
        "ets ledger apply requests.json",
        &["1 recorded", "1 replayed"],
    ),
    (
        "ets serve --bind",
        &["\"asks\"", "\"accounts\"", "--body-limit"],
    ),
    (
        "ets market order buy",
        &[
            "\"status\": \"filled\"",
            "seed_commitment",
            "compliance-2025",
        ],
    ),
    (
        "ets market transfer propose",
        &[
            "\"state\": \"proposed\"",
            "\"seller\": \"91500102MA0002790R\"",
        ],
    ),
    (
        "/v1/rounds/2026-R2/commit",
        &["\"state\":\"dry_run\"", "\"round_id\":\"2026-R2\""],
    ),
];

/// Defines `ets` as a function so that `ets serve` (not `--help`) runs in the background and
/// returns once the server is listening, as a person would wait before the next command.
const PRELUDE: &str = r#"set -euo pipefail
ets() {
  if [ "${1:-}" = serve ] && [[ " $* " != *" --help "* ]]; then
    command ets "$@" > serve.out 2> serve.err &
    echo $! >> serve.pids
    for _ in $(seq 200); do
      grep -q '^listening on' serve.out 2>/dev/null && return 0
      sleep 0.1
    done
    echo "ets serve did not start:" >&2; cat serve.err >&2; return 1
  fi
  command ets "$@"
}
"#;

/// The block as the test runs it: the free port for 8080, and no `&` after `ets serve` (the
/// prelude's `ets` backgrounds it and waits).
fn adapted(text: &str, port: u16) -> String {
    let text = text
        .replace("127.0.0.1:8080", &format!("127.0.0.1:{port}"))
        .replace("localhost:8080", &format!("127.0.0.1:{port}"));
    text.lines()
        .map(|line| {
            if line.starts_with("ets serve ") && !line.contains("--help") {
                line.replacen(" &", "", 1)
            } else {
                line.to_owned()
            }
        })
        .collect::<Vec<_>>()
        .join("\n")
}

fn free_port() -> u16 {
    let listener = std::net::TcpListener::bind("127.0.0.1:0").expect("bind a free port");
    listener.local_addr().expect("its address").port()
}

/// Stops the servers the blocks started, whatever the test's outcome.
struct Servers(PathBuf);

impl Drop for Servers {
    fn drop(&mut self) {
        let pids = std::fs::read_to_string(self.0.join("serve.pids")).unwrap_or_default();
        for pid in pids.split_whitespace() {
            let _ = Command::new("kill").arg(pid).status();
        }
    }
}

fn workspace() -> (tempfile::TempDir, PathBuf) {
    let repo = Path::new(env!("CARGO_MANIFEST_DIR"));
    let dir = tempfile::tempdir().expect("temp dir");
    for examples in ["scenarios", "optimizer", "market"] {
        std::os::unix::fs::symlink(repo.join(examples), dir.path().join(examples))
            .expect("link the examples' folders");
    }
    let bin = dir.path().join("bin");
    std::fs::create_dir(&bin).expect("bin dir");
    std::os::unix::fs::symlink(env!("CARGO_BIN_EXE_ets"), bin.join("ets")).expect("link ets");
    (dir, bin)
}

fn run_block(dir: &Path, bin: &Path, block: &Block, port: u16) -> String {
    let path = format!(
        "{}:{}",
        bin.display(),
        std::env::var("PATH").unwrap_or_default()
    );
    let output = Command::new("timeout")
        .args(["600", "bash", "-c"])
        .arg(format!("{PRELUDE}{}", adapted(&block.text, port)))
        .current_dir(dir)
        .env("PATH", path)
        .env_remove("ETS_DATABASE_URL")
        // `ets market` and `ets api` default to 127.0.0.1:8080: the same port change.
        .env("ETS_SERVER", format!("http://127.0.0.1:{port}"))
        .env_remove("ETS_API_KEY")
        .output()
        .expect("run bash");
    let out = format!(
        "{}{}",
        String::from_utf8_lossy(&output.stdout),
        String::from_utf8_lossy(&output.stderr)
    );
    assert!(
        output.status.success(),
        "README.md block at line {} failed ({}):\n{}\n--- output ---\n{out}",
        block.line,
        output.status,
        block.text
    );
    out
}

#[test]
fn every_readme_command_works_as_written_on_a_fresh_demo_database() {
    let repo = Path::new(env!("CARGO_MANIFEST_DIR"));
    let readme = std::fs::read_to_string(repo.join("README.md")).expect("README.md");
    let (dir, bin) = workspace();
    let _servers = Servers(dir.path().to_owned());
    let port = free_port();
    let mut checked = Vec::new();
    for block in blocks(&readme).iter().filter(|b| b.lang == "sh") {
        if block.text.lines().any(|line| line.starts_with("scripts/")) {
            // The two set-up commands: CI runs both on a clean clone (`.ci/run`).
            for script in ["scripts/demo", "scripts/test", "scripts/install-deps"] {
                assert!(repo.join(script).is_file(), "{script} is missing");
            }
            continue;
        }
        let out = run_block(dir.path(), &bin, block, port);
        for (command, shows) in EXPECTED {
            if !block.text.contains(command) {
                continue;
            }
            for expected in *shows {
                assert!(
                    out.contains(expected),
                    "README.md block at line {} ({command}) should show {expected:?}:\n{out}",
                    block.line
                );
            }
            checked.push(*command);
        }
    }
    let unchecked: Vec<_> = EXPECTED
        .iter()
        .map(|(command, _)| *command)
        .filter(|command| !checked.contains(command))
        .collect();
    assert!(
        unchecked.is_empty(),
        "no README block contains {unchecked:?}"
    );
}

#[test]
fn blocks_are_found_with_their_language_and_line() {
    let found = blocks("text\n```sh\nets --help\n```\n\n```json\n{}\n```\n");
    assert_eq!(found.len(), 2);
    assert_eq!((found[0].lang.as_str(), found[0].line), ("sh", 2));
    assert_eq!(found[0].text, "ets --help\n");
    assert_eq!(found[1].lang, "json");
    let serve = adapted(
        "ets serve --bind 127.0.0.1:8080 &   # x\ncurl localhost:8080/",
        9,
    );
    assert_eq!(
        serve,
        "ets serve --bind 127.0.0.1:9   # x\ncurl 127.0.0.1:9/"
    );
}

//! Records the git commit the crate is built from (`ETS_GIT_COMMIT`, empty outside a git
//! checkout, e.g. from a source archive) so run manifests can name it. It reruns when HEAD or
//! the branch it points to moves, not on every build.

use std::path::Path;
use std::process::Command;

fn git(args: &[&str]) -> Option<String> {
    let output = Command::new("git")
        .args(args)
        .current_dir(env!("CARGO_MANIFEST_DIR"))
        .output()
        .ok()?;
    let text = String::from_utf8(output.stdout).ok()?;
    (output.status.success() && !text.trim().is_empty()).then(|| text.trim().to_owned())
}

fn main() {
    let commit = std::env::var("ETS_GIT_COMMIT")
        .ok()
        .or_else(|| git(&["rev-parse", "HEAD"]))
        .unwrap_or_default();
    println!("cargo:rustc-env=ETS_GIT_COMMIT={commit}");
    println!("cargo:rerun-if-env-changed=ETS_GIT_COMMIT");
    if let Some(dir) = git(&["rev-parse", "--absolute-git-dir"]) {
        let dir = Path::new(&dir);
        let head = dir.join("HEAD");
        let branch = git(&["symbolic-ref", "-q", "HEAD"]).map(|r| dir.join(r));
        for path in [Some(head), branch, Some(dir.join("packed-refs"))]
            .into_iter()
            .flatten()
            .filter(|p| p.exists())
        {
            println!("cargo:rerun-if-changed={}", path.display());
        }
    }
}

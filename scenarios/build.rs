//! Records the git commit the crate is built from (`ETS_GIT_COMMIT`, empty outside a git
//! checkout, e.g. from a source archive) so run manifests can name it. It names the commit,
//! not uncommitted changes on top of it. It reruns when HEAD or a branch moves (loose refs,
//! packed refs, worktrees' common directory), not on every build.

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
    // `--git-path` resolves each into the right directory, in a worktree too; a directory is
    // watched whole, so a branch whose ref is not a loose file yet still triggers a rerun.
    let mut watched = 0;
    for name in ["HEAD", "packed-refs", "refs/heads"] {
        if let Some(path) = git(&["rev-parse", "--path-format=absolute", "--git-path", name])
            && std::path::Path::new(&path).exists()
        {
            println!("cargo:rerun-if-changed={path}");
            watched += 1;
        }
    }
    if watched == 0 {
        // No git to ask (an archive, or git failing for a moment): a path that never exists
        // makes Cargo run this again on the next build instead of keeping "no commit" for good.
        println!("cargo:rerun-if-changed=.no-git-checkout");
    }
}

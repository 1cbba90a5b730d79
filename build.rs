//! Records the git revision and the compiler version for `chatapp_build_info` and
//! `--version`. Both fall back to `unknown` (building from a tarball, say).

use std::process::Command;

fn output(cmd: &str, args: &[&str]) -> Option<String> {
    let out = Command::new(cmd).args(args).output().ok()?;
    out.status
        .success()
        .then(|| String::from_utf8_lossy(&out.stdout).trim().to_owned())
        .filter(|s| !s.is_empty())
}

fn main() {
    let revision = std::env::var("CHATAPP_REVISION")
        .ok()
        .or_else(|| output("git", &["rev-parse", "--short=12", "HEAD"]))
        .unwrap_or_else(|| "unknown".into());
    let rustc = std::env::var("RUSTC").unwrap_or_else(|_| "rustc".into());
    let rustc_version = output(&rustc, &["--version"])
        .and_then(|v| v.split_whitespace().nth(1).map(str::to_owned))
        .unwrap_or_else(|| "unknown".into());
    println!("cargo:rustc-env=CHATAPP_REVISION={revision}");
    println!("cargo:rustc-env=CHATAPP_RUSTC_VERSION={rustc_version}");
    println!("cargo:rerun-if-env-changed=CHATAPP_REVISION");
    // In a git worktree `.git` is a file, and a rerun-if-changed path that does not exist
    // reruns this script (and so recompiles the crate) on every build: ask git where HEAD
    // and the branch refs really are.
    let head = output("git", &["rev-parse", "--git-path", "HEAD"]).unwrap_or(".git/HEAD".into());
    let refs = output("git", &["rev-parse", "--git-path", "refs/heads"])
        .unwrap_or(".git/refs/heads".into());
    for path in [head, refs] {
        if std::path::Path::new(&path).exists() {
            println!("cargo:rerun-if-changed={path}");
        }
    }
}

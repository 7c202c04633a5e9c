//! Where the repository is, and the tools the tests run: shared by the API
//! tests and the protocol suites (`#[path]`-included by each test target).

/// The repository root (where `clients/` lives).
pub fn repo_root() -> std::path::PathBuf {
    std::path::PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

/// A tool the test suite needs, or a failure saying how to get it.
pub fn require_tool(name: &str, hint: &str) -> std::path::PathBuf {
    let local = repo_root().join("clients/node_modules/.bin").join(name);
    if local.exists() {
        return local;
    }
    std::env::var_os("PATH")
        .and_then(|paths| {
            std::env::split_paths(&paths)
                .map(|dir| dir.join(name))
                .find(|candidate| candidate.exists())
        })
        .unwrap_or_else(|| panic!("{name} is not installed: {hint}"))
}

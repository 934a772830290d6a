//! Guards the crate's promise of zero dependencies by reading its Cargo.toml.

use std::fs;
use std::path::Path;

#[test]
fn manifest_declares_no_dependencies() {
    let path = Path::new(env!("CARGO_MANIFEST_DIR")).join("Cargo.toml");
    let manifest = fs::read_to_string(&path).expect("read Cargo.toml");
    let mut section = String::new();
    let mut saw_dependencies = false;
    for (number, raw) in manifest.lines().enumerate() {
        let line = raw.split('#').next().unwrap_or("").trim();
        if line.is_empty() {
            continue;
        }
        if line.starts_with('[') {
            section = line
                .trim_matches(|c| c == '[' || c == ']')
                .trim()
                .to_string();
            let forbidden = section.contains("dev-dependencies")
                || section.contains("build-dependencies")
                || (section.contains("dependencies") && section != "dependencies");
            assert!(
                !forbidden,
                "Cargo.toml:{}: unexpected section [{section}]",
                number + 1
            );
            saw_dependencies |= section == "dependencies";
            continue;
        }
        assert!(
            section != "dependencies",
            "Cargo.toml:{}: dependency declared: {line}",
            number + 1
        );
        // Inline tables such as `dev-dependencies.foo = ...` or `[target.x] dependencies = ...`.
        let key = line.split('=').next().unwrap_or("").trim();
        assert!(
            !key.contains("dependencies"),
            "Cargo.toml:{}: dependency declared: {line}",
            number + 1
        );
    }
    assert!(
        saw_dependencies,
        "Cargo.toml should keep an explicit, empty [dependencies] table"
    );
}

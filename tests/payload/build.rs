//! Link the bare-metal payload with its own linker script, as a static PIE linked at 0.
//!
//! Host builds (unit tests of the pure modules) get no special link arguments.
fn main() {
    let target = std::env::var("TARGET").unwrap_or_default();
    let dir = std::env::var("CARGO_MANIFEST_DIR").expect("cargo sets CARGO_MANIFEST_DIR");
    println!("cargo:rerun-if-changed=payload.ld");
    println!("cargo:rerun-if-changed=src/entry.S");
    if target.starts_with("aarch64") && target.contains("-none") {
        for arg in [
            format!("-T{dir}/payload.ld"),
            "-pie".into(),
            "--no-dynamic-linker".into(),
            "-znotext".into(),
            "-znorelro".into(),
        ] {
            println!("cargo:rustc-link-arg-bins={arg}");
        }
    }
}

//! Link the firmware image with its own linker script, as a static PIE.
fn main() {
    let target = std::env::var("TARGET").unwrap_or_default();
    let dir = std::env::var("CARGO_MANIFEST_DIR").expect("cargo sets CARGO_MANIFEST_DIR");
    println!("cargo:rerun-if-changed=image.ld");
    println!("cargo:rerun-if-changed=src/entry.S");
    println!("cargo:rerun-if-changed=src/vectors.S");
    if target.starts_with("aarch64") && target.contains("-none") {
        println!("cargo:rustc-link-arg-bins=-T{dir}/image.ld");
        println!("cargo:rustc-link-arg-bins=-pie");
        println!("cargo:rustc-link-arg-bins=--no-dynamic-linker");
        println!("cargo:rustc-link-arg-bins=-znotext");
        println!("cargo:rustc-link-arg-bins=-znorelro");
        // RELR: the relative relocations packed as bitmaps (tens of bytes instead of 24
        // bytes each in .rela.dyn); entry.S applies both forms.
        println!("cargo:rustc-link-arg-bins=-zpack-relative-relocs");
        println!("cargo:rustc-link-arg-bins=--icf=all");
    }
}

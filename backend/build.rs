//! Links the Boehm-Demers-Weiser garbage collector (Debian `libgc-dev`).
fn main() {
    println!("cargo:rustc-link-lib=gc");
    println!("cargo:rerun-if-changed=build.rs");
}

//! `include/seqcore.h` is what cbindgen makes of this crate: regenerates it
//! and compares. Refresh the committed header with
//! `SEQCORE_BLESS_HEADER=1 cargo test -p seqcore-capi --test header`.

use std::path::Path;

#[test]
fn committed_header_is_up_to_date() {
    let crate_dir = Path::new(env!("CARGO_MANIFEST_DIR"));
    let config = cbindgen::Config::from_file(crate_dir.join("cbindgen.toml"))
        .expect("cbindgen.toml should parse");
    let mut generated = Vec::new();
    cbindgen::Builder::new()
        .with_config(config)
        .with_src(crate_dir.join("src/lib.rs"))
        .generate()
        .expect("cbindgen should understand the crate")
        .write(&mut generated);
    let generated = String::from_utf8(generated).expect("the header is UTF-8");
    let path = crate_dir.join("include/seqcore.h");
    if std::env::var_os("SEQCORE_BLESS_HEADER").is_some() {
        std::fs::write(&path, &generated).expect("include/seqcore.h should be writable");
        return;
    }
    let committed = std::fs::read_to_string(&path).unwrap_or_default();
    if committed != generated {
        let line = committed
            .lines()
            .zip(generated.lines())
            .position(|(a, b)| a != b)
            .map_or(
                committed.lines().count().min(generated.lines().count()),
                |i| i,
            )
            + 1;
        panic!(
            "{} is out of date with the crate's source (first difference at line {line}).\n\
             Refresh it with:\n    \
             SEQCORE_BLESS_HEADER=1 cargo test -p seqcore-capi --test header\n\
             and commit the result.",
            path.display()
        );
    }
}

//! The media crate stays sans-IO: its code never imports tokio, never opens a
//! socket (address types like `IpAddr` are values, not I/O) and never reads
//! the clock (time is a parameter). Doc comments and
//! `#[cfg(test)]` modules are exempt.

use std::path::Path;

fn rust_files(dir: &Path, out: &mut Vec<std::path::PathBuf>) {
    for entry in std::fs::read_dir(dir).expect("read dir").flatten() {
        let path = entry.path();
        if path.is_dir() {
            rust_files(&path, out);
        } else if path.extension().is_some_and(|e| e == "rs") {
            out.push(path);
        }
    }
}

/// The file's code before its test module, without comment lines.
fn production_code(text: &str) -> String {
    let code = text.split("#[cfg(test)]").next().unwrap_or("");
    code.lines()
        .filter(|l| !l.trim_start().starts_with("//"))
        .collect::<Vec<_>>()
        .join("\n")
}

#[test]
fn media_code_has_no_tokio_sockets_or_clock_reads() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("media/src");
    let mut files = Vec::new();
    rust_files(&root, &mut files);
    assert!(files.len() > 20, "found the media sources");
    let forbidden = [
        "tokio",
        "UdpSocket",
        "TcpStream",
        "TcpListener",
        "ToSocketAddrs",
        "Instant::now",
        "SystemTime::now",
        "thread::sleep",
    ];
    let mut hits = Vec::new();
    for file in &files {
        let code = production_code(&std::fs::read_to_string(file).expect("read"));
        for word in forbidden {
            if code.contains(word) {
                hits.push(format!("{}: {word}", file.display()));
            }
        }
    }
    assert!(hits.is_empty(), "sans-IO violations:\n{}", hits.join("\n"));
}

#[test]
fn media_manifest_does_not_depend_on_tokio_directly() {
    let manifest =
        std::fs::read_to_string(Path::new(env!("CARGO_MANIFEST_DIR")).join("media/Cargo.toml"))
            .expect("read manifest");
    assert!(!manifest.contains("tokio"), "media/Cargo.toml names tokio");
}

//! The application's static files (`/pkg`): served with long-lived caching when their names carry
//! content hashes, and precompressed once after a release build (`nofx precompress`) so the
//! server sends the brotli or gzip copy as it is instead of compressing the WebAssembly on every
//! request.

use std::io::Write;
use std::path::{Path, PathBuf};

/// One file and what its compressed copies weigh.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Compressed {
    pub path: PathBuf,
    pub raw: u64,
    pub brotli: u64,
    pub gzip: u64,
}

/// The files worth compressing: the JavaScript, WebAssembly and CSS the pages load.
fn compressible(path: &Path) -> bool {
    matches!(path.extension().and_then(|e| e.to_str()), Some("wasm" | "js" | "css"))
}

/// Writes `<file>.br` (brotli, quality 11) and `<file>.gz` (gzip, level 9) beside every
/// compressible file of `dir`, replacing older copies; returns what each weighs.
pub fn precompress(dir: &Path) -> std::io::Result<Vec<Compressed>> {
    let mut out = Vec::new();
    let mut paths: Vec<PathBuf> = std::fs::read_dir(dir)?.filter_map(|e| e.ok().map(|e| e.path())).filter(|p| compressible(p)).collect();
    paths.sort();
    for path in paths {
        let raw = std::fs::read(&path)?;
        let mut br = Vec::with_capacity(raw.len() / 3);
        {
            let params = brotli::enc::BrotliEncoderParams { quality: 11, lgwin: 22, ..Default::default() };
            brotli::BrotliCompress(&mut raw.as_slice(), &mut br, &params)?;
        }
        let mut gz = flate2::write::GzEncoder::new(Vec::with_capacity(raw.len() / 3), flate2::Compression::best());
        gz.write_all(&raw)?;
        let gz = gz.finish()?;
        write_beside(&path, "br", &br)?;
        write_beside(&path, "gz", &gz)?;
        out.push(Compressed { path, raw: raw.len() as u64, brotli: br.len() as u64, gzip: gz.len() as u64 });
    }
    Ok(out)
}

/// Writes through a temporary file and a rename, so a server never serves half a copy.
fn write_beside(path: &Path, ext: &str, bytes: &[u8]) -> std::io::Result<()> {
    let name = format!("{}.{ext}", path.file_name().unwrap_or_default().to_string_lossy());
    let target = path.with_file_name(&name);
    let tmp = path.with_file_name(format!(".{name}.tmp"));
    std::fs::write(&tmp, bytes)?;
    std::fs::rename(&tmp, &target)
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::io::Read;

    #[test]
    fn copies_decompress_to_the_file_and_only_assets_are_compressed() {
        let dir = tempfile::tempdir().unwrap();
        let body = "export function hydrate() { return 42; }\n".repeat(200);
        std::fs::write(dir.path().join("nofx.abc.js"), &body).unwrap();
        std::fs::write(dir.path().join("hash.txt"), "js: abc").unwrap();
        let done = precompress(dir.path()).unwrap();
        assert_eq!(done.len(), 1, "{done:?}");
        assert!(done[0].brotli < done[0].raw / 10 && done[0].gzip < done[0].raw / 10, "{done:?}");
        let mut text = String::new();
        brotli::Decompressor::new(std::fs::File::open(dir.path().join("nofx.abc.js.br")).unwrap(), 4096).read_to_string(&mut text).unwrap();
        assert_eq!(text, body);
        let mut text = String::new();
        flate2::read::GzDecoder::new(std::fs::File::open(dir.path().join("nofx.abc.js.gz")).unwrap()).read_to_string(&mut text).unwrap();
        assert_eq!(text, body);
        assert!(!dir.path().join("hash.txt.br").exists());
    }
}

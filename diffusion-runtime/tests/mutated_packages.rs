//! Broken packages, made on purpose: seeded mutations of the fixture manifests and graphs, the
//! fuzz corpus of manifests (`fuzz/corpus/manifest`), and a manifest that is not a file. Each
//! either loads or gives one line naming the package and the file; none panics or reads forever.

mod common;

use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use common::{fixtures, load_ort};
use diffusion_runtime::package::{LoadedPackage, ModelPackage};
use diffusion_runtime::provider::{ProviderChoice, ProviderConfig};

/// Choices drawn from the runtime's seeded generator: a failing case is reproduced from its seed.
struct Rng(diffusion_runtime::rng::NoiseRng);

impl Rng {
    fn new(seed: u64) -> Self {
        Self(diffusion_runtime::rng::NoiseRng::new(seed))
    }
    fn below(&mut self, n: usize) -> usize {
        (self.0.next_u64() % n.max(1) as u64) as usize
    }
}

fn scratch(tag: &str) -> PathBuf {
    let dir = std::env::temp_dir().join(format!(
        "gst-generative-mutated-{}-{tag}",
        std::process::id()
    ));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    dir
}

fn copy_package(name: &str, to: &Path) {
    common::copy_dir(&fixtures().join(name), to);
}

/// One mutation of manifest text: a byte changed, a line dropped or doubled, a value swapped
/// for an extreme one, a section header renamed, or the text cut short.
fn mutate(text: &str, rng: &mut Rng) -> String {
    let mut lines: Vec<String> = text.lines().map(str::to_string).collect();
    if lines.is_empty() {
        return "schema = 1".into();
    }
    let i = rng.below(lines.len());
    match rng.below(7) {
        0 => {
            let mut bytes = lines[i].clone().into_bytes();
            if !bytes.is_empty() {
                let k = rng.below(bytes.len());
                let set = b"=[]\"'#\\0-9.x \t";
                bytes[k] = set[rng.below(set.len())];
            }
            lines[i] = String::from_utf8_lossy(&bytes).into_owned();
        }
        1 => {
            lines.remove(i);
        }
        2 => {
            let l = lines[i].clone();
            lines.insert(i, l);
        }
        3 => {
            if let Some((k, _)) = lines[i].clone().split_once('=') {
                let v = [
                    "-1",
                    "0",
                    "1e308",
                    "18446744073709551615",
                    "-9223372036854775808",
                    "nan",
                    "\"\"",
                    "[]",
                    "\"../../etc/passwd\"",
                    "\"/dev/zero\"",
                    "true",
                    "{}",
                    "\"4294967295/1\"",
                    "[1000000, 1000000, 1000000]",
                ][rng.below(14)];
                lines[i] = format!("{k}= {v}");
            }
        }
        4 => lines[i] = lines[i].replace('[', "[x"),
        5 => lines.truncate(i),
        _ => {
            let j = rng.below(lines.len());
            lines.swap(i, j)
        }
    }
    lines.join("\n")
}

/// An error line must be one line naming the package directory and a file.
#[track_caller]
fn assert_one_line(e: &str, dir: &Path, what: &str) {
    assert!(!e.contains('\n'), "{what}: multi-line error: {e}");
    assert!(
        e.starts_with(&format!("model package {}", dir.display())),
        "{what}: error does not name the package: {e}"
    );
}

/// 300 seeded manifest mutations of each fixture: parsed and checked without a panic; each
/// refusal is one line naming the package and the file.
#[test]
fn mutated_manifests_are_refused_in_one_line() {
    let mut refused = 0;
    let mut accepted = 0;
    for name in ["presenter", "foley"] {
        let dir = fixtures().join(name);
        let text = std::fs::read_to_string(dir.join("model.toml")).unwrap();
        for seed in 0..300 {
            let mut rng = Rng::new(seed);
            let mut m = text.clone();
            for _ in 0..1 + rng.below(3) {
                m = mutate(&m, &mut rng);
            }
            match ModelPackage::from_manifest_text(&dir, &m) {
                Ok(_) => accepted += 1,
                Err(e) => {
                    assert_one_line(&e.to_string(), &dir, &format!("{name} seed {seed}"));
                    refused += 1;
                }
            }
        }
    }
    assert_eq!(refused + accepted, 600);
    // Most mutations break something; a few are harmless (a comment line, a duplicate).
    assert!(refused > 400, "only {refused} of 600 mutations refused");
}

/// Seeded damage to the fixtures' graphs (bytes flipped, files cut short, emptied): loading
/// fails with one line naming the package and the graph, or succeeds when the damage missed
/// everything that matters; never a panic.
#[test]
fn damaged_graphs_fail_to_load_in_one_line() {
    load_ort();
    let cpu = ProviderConfig {
        choice: ProviderChoice::Cpu,
        ..Default::default()
    };
    let mut refused = 0;
    for seed in 0..24u64 {
        let name = if seed % 2 == 0 { "presenter" } else { "foley" };
        let dir = scratch(&format!("graph-{seed}"));
        copy_package(name, &dir);
        let mut rng = Rng::new(seed);
        let graphs: Vec<PathBuf> = std::fs::read_dir(&dir)
            .unwrap()
            .map(|e| e.unwrap().path())
            .filter(|p| p.extension().is_some_and(|x| x == "onnx"))
            .collect();
        let graph = &graphs[rng.below(graphs.len())];
        let mut bytes = std::fs::read(graph).unwrap();
        match seed % 3 {
            0 => bytes.truncate(rng.below(bytes.len())),
            1 => {
                for _ in 0..16 {
                    let k = rng.below(bytes.len());
                    bytes[k] = bytes[k].wrapping_add(1 + rng.below(255) as u8);
                }
            }
            _ => bytes.clear(),
        }
        std::fs::write(graph, &bytes).unwrap();
        let result = ModelPackage::open(&dir)
            .map_err(diffusion_runtime::Error::from)
            .and_then(|p| LoadedPackage::load(p, &cpu, &mut |_| {}));
        if let Err(e) = result {
            assert_one_line(&e.to_string(), &dir, &format!("seed {seed}"));
            refused += 1;
        }
        let _ = std::fs::remove_dir_all(&dir);
    }
    assert!(refused >= 16, "only {refused} of 24 damaged graphs refused");
}

/// D4: a `model.toml` that is a symlink to `/dev/zero` (or any device, or a huge file) is
/// refused at once with one line, instead of being read forever.
#[test]
fn manifest_that_is_a_device_or_huge_is_refused_at_once() {
    let dir = scratch("device");
    copy_package("presenter", &dir);
    std::fs::remove_file(dir.join("model.toml")).unwrap();
    std::os::unix::fs::symlink("/dev/zero", dir.join("model.toml")).unwrap();
    let start = Instant::now();
    let e = ModelPackage::open(&dir).unwrap_err().to_string();
    assert!(start.elapsed() < Duration::from_secs(1));
    assert_one_line(&e, &dir, "/dev/zero");
    assert!(e.ends_with("the manifest is not a regular file"), "{e}");

    std::fs::remove_file(dir.join("model.toml")).unwrap();
    std::fs::write(dir.join("model.toml"), vec![b'#'; 2 << 20]).unwrap();
    let e = ModelPackage::open(&dir).unwrap_err().to_string();
    assert!(
        e.contains("more than the 1048576 a manifest may have"),
        "{e}"
    );
    let _ = std::fs::remove_dir_all(&dir);
}

/// Every manifest in the fuzz corpus (`fuzz/corpus/manifest`, grown by `scripts/fuzz.sh`) goes
/// through the parser and validator without a panic; refusals are one line.
#[test]
fn fuzz_corpus_replays_without_panics() {
    let corpus = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../fuzz/corpus/manifest");
    let dir = fixtures().join("foley");
    let mut n = 0;
    for e in std::fs::read_dir(&corpus).expect("the committed corpus") {
        let bytes = std::fs::read(e.unwrap().path()).unwrap();
        let text = String::from_utf8_lossy(&bytes);
        if let Err(e) = ModelPackage::from_manifest_text(&dir, &text) {
            assert_one_line(&e.to_string(), &dir, "corpus");
        }
        n += 1;
    }
    assert!(n >= 10, "corpus has {n} files");
}

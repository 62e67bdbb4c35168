//! Finding and loading ONNX Runtime at run time.
//!
//! The library is resolved in this order: an explicit path (the elements' `ort-library`
//! property), `ORT_DYLIB_PATH`, the copy installed by the project's setup, then the system's
//! dynamic loader. An explicit path or `ORT_DYLIB_PATH` is authoritative: if it fails, the error
//! says so instead of silently loading something else. ONNX Runtime is process-wide: the first
//! successful load wins, and later requests for another path are told which one is in use.
//!
//! "Process-wide" includes the other plugin: `libgstmirage.so` and `libgstv2a.so` each link
//! their own copy of this crate (and of its statics), so a copy that has not loaded ONNX Runtime
//! yet first looks for one already mapped into the process (by the other copy, or by anything
//! else) and uses it, instead of loading a second library next to it.

use std::ffi::CStr;
use std::path::{Path, PathBuf};
use std::sync::Mutex;

use once_cell::sync::OnceCell;

use crate::error::{Error, Result};

/// Oldest ONNX Runtime accepted: `ort`'s `api-20` feature. 1.20–1.26 are the CUDA 12 builds.
pub const MIN_ORT_MINOR: u32 = 20;
/// Newest ONNX Runtime this project was tested with; newer ones load with a note in the log.
pub const NEWEST_TESTED_ORT_MINOR: u32 = 31;
/// The environment variable `ort` itself honours, checked second.
pub const ORT_DYLIB_ENV: &str = "ORT_DYLIB_PATH";
/// Where `scripts/setup.sh` installs the pinned library, under the user data directory.
pub const SETUP_SUBDIR: &str = "gst-generative/onnxruntime";
/// File names tried through the system loader (`LD_LIBRARY_PATH`, ldconfig paths).
const SYSTEM_NAMES: &[&str] = &["libonnxruntime.so", "libonnxruntime.so.1"];

/// Where a candidate path came from, for messages.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Origin {
    /// Already mapped into the process (loaded by the other plugin, or by the application).
    Process,
    Property,
    Environment,
    Setup,
    System,
}

impl std::fmt::Display for Origin {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            Origin::Process => "already loaded in this process",
            Origin::Property => "property ort-library",
            Origin::Environment => ORT_DYLIB_ENV,
            Origin::Setup => "setup-installed copy",
            Origin::System => "system loader",
        })
    }
}

/// The ONNX Runtime this process uses.
#[derive(Debug, Clone)]
pub struct LoadedOrt {
    pub path: PathBuf,
    pub version: String,
    pub origin: Origin,
}

static LOADED: OnceCell<(LoadedOrt, ort::environment::Environment)> = OnceCell::new();
static LOAD_LOCK: Mutex<()> = Mutex::new(());

/// The user data directory (`$XDG_DATA_HOME` or `~/.local/share`).
pub fn user_data_dir() -> Option<PathBuf> {
    match std::env::var_os("XDG_DATA_HOME") {
        Some(d) if !d.is_empty() => Some(PathBuf::from(d)),
        _ => std::env::var_os("HOME").map(|h| PathBuf::from(h).join(".local/share")),
    }
}

/// Candidate library paths, in resolution order. An explicit path or the environment variable
/// stops the search there.
pub fn candidates(explicit: Option<&Path>) -> Vec<(PathBuf, Origin)> {
    if let Some(p) = explicit.filter(|p| !p.as_os_str().is_empty()) {
        return vec![(p.to_path_buf(), Origin::Property)];
    }
    if let Some(p) = std::env::var_os(ORT_DYLIB_ENV).filter(|p| !p.is_empty()) {
        return vec![(PathBuf::from(p), Origin::Environment)];
    }
    let mut out = Vec::new();
    if let Some(d) = user_data_dir() {
        out.push((
            d.join(SETUP_SUBDIR).join("libonnxruntime.so"),
            Origin::Setup,
        ));
    }
    // Set by meson when it installs the library next to the plugins.
    if let Some(d) = option_env!("GST_GENERATIVE_ORT_DIR") {
        out.push((Path::new(d).join("libonnxruntime.so"), Origin::Setup));
    }
    out.extend(
        SYSTEM_NAMES
            .iter()
            .map(|n| (PathBuf::from(n), Origin::System)),
    );
    out
}

/// Reads the version string of a candidate without initialising `ort`, so that a too-old library
/// gets a precise message.
fn probe_version(path: &Path) -> std::result::Result<(libloading::Library, String), String> {
    // SAFETY: loading a shared library runs its initialisers; that is the point of the call, and
    // the same library is loaded by `ort` right after.
    let lib = unsafe { libloading::Library::new(path) }.map_err(|e| e.to_string())?;
    // SAFETY: `OrtGetApiBase` has this signature in every ONNX Runtime release.
    let base = unsafe {
        let get: libloading::Symbol<unsafe extern "C" fn() -> *const ort::sys::OrtApiBase> = lib
            .get(b"OrtGetApiBase")
            .map_err(|_| "not an ONNX Runtime library (no OrtGetApiBase symbol)".to_string())?;
        get()
    };
    if base.is_null() {
        return Err("OrtGetApiBase returned null".into());
    }
    // SAFETY: non-null base from the library; the string is static in the library.
    let v = unsafe { CStr::from_ptr(((*base).GetVersionString)()) };
    let version = v.to_string_lossy().into_owned();
    Ok((lib, version))
}

fn minor_of(version: &str) -> Option<u32> {
    let mut it = version.split('.');
    (it.next()? == "1").then_some(())?;
    it.next()?.parse().ok()
}

/// Loads ONNX Runtime if this process has not yet, and returns the library in use.
///
/// If another library is already loaded, that one is returned: callers compare `path` with what
/// they asked for and say so.
pub fn ensure_loaded(explicit: Option<&Path>) -> Result<LoadedOrt> {
    if let Some((l, _)) = LOADED.get() {
        return Ok(l.clone());
    }
    let _guard = LOAD_LOCK.lock().unwrap_or_else(|e| e.into_inner());
    if let Some((l, _)) = LOADED.get() {
        return Ok(l.clone());
    }
    let mut tried = Vec::new();
    let candidates = match mapped_libraries().into_iter().next() {
        Some(path) => vec![(path, Origin::Process)],
        None => candidates(explicit),
    };
    for (path, origin) in candidates {
        if origin != Origin::System && !path.exists() {
            tried.push(format!("{} ({origin}): no such file", path.display()));
            continue;
        }
        // A rejected library is unloaded again (dropped), so that it cannot shadow a later
        // candidate with the same soname.
        let (probe, version) = match probe_version(&path) {
            Ok(p) => p,
            Err(e) => {
                tried.push(format!("{} ({origin}): {e}", path.display()));
                continue;
            }
        };
        match minor_of(&version) {
            Some(m) if m >= MIN_ORT_MINOR => {}
            _ => {
                tried.push(format!(
                    "{} ({origin}): version {version} is not supported (need 1.{MIN_ORT_MINOR} or newer)",
                    path.display()
                ));
                continue;
            }
        }
        let env = ort::init_from(&path)
            .map_err(|e| e.to_string())
            .and_then(|b| {
                b.with_name("gst-generative")
                    .build()
                    .map_err(|e| e.to_string())
            });
        match env {
            Ok(env) => {
                // Keep the probe's handle mapped: unloading ONNX Runtime is not supported.
                std::mem::forget(probe);
                let loaded = LoadedOrt {
                    path,
                    version,
                    origin,
                };
                let _ = LOADED.set((loaded.clone(), env));
                return Ok(loaded);
            }
            Err(e) => tried.push(format!("{} ({origin}): {e}", path.display())),
        }
    }
    let fix = match explicit.filter(|p| !p.as_os_str().is_empty()) {
        Some(_) => "Fix: point the ort-library property at a libonnxruntime.so 1.20 or newer, or \
                    clear it to use ORT_DYLIB_PATH, the setup-installed copy or the system's"
            .to_string(),
        None if std::env::var_os(ORT_DYLIB_ENV).is_some_and(|v| !v.is_empty()) => format!(
            "Fix: point {ORT_DYLIB_ENV} at a libonnxruntime.so 1.20 or newer, or unset it to use \
             the setup-installed copy or the system's"
        ),
        None => format!(
            "Fix: run scripts/setup.sh (installs the pinned CPU build), or set the ort-library \
             property or {ORT_DYLIB_ENV} to a libonnxruntime.so 1.20 or newer"
        ),
    };
    Err(Error::OrtLoad(format!(
        "could not load ONNX Runtime 1.{MIN_ORT_MINOR} or newer (tested up to 1.{NEWEST_TESTED_ORT_MINOR}); tried: {}. {fix}",
        tried.join("; ")
    )))
}

/// The ONNX Runtime library files mapped into this process, each once, in order of first
/// mapping, from `/proc/self/maps`: the one place both plugins' copies of this crate share.
pub fn mapped_libraries() -> Vec<PathBuf> {
    let maps = std::fs::read_to_string("/proc/self/maps").unwrap_or_default();
    let mut libs: Vec<PathBuf> = Vec::new();
    // The path is the rest of the line from its first '/' (it may contain spaces).
    for path in maps
        .lines()
        .filter_map(|l| l.find('/').map(|i| PathBuf::from(&l[i..])))
    {
        let is_ort = path
            .file_name()
            .and_then(|n| n.to_str())
            .is_some_and(|n| n.starts_with("libonnxruntime.so"));
        if is_ort && !libs.contains(&path) {
            libs.push(path);
        }
    }
    libs
}

/// The library this process loaded, if any (never loaded by plugin registration).
pub fn loaded() -> Option<LoadedOrt> {
    LOADED.get().map(|(l, _)| l.clone())
}

/// The process-wide `ort` environment, once loaded.
pub(crate) fn environment() -> Result<&'static ort::environment::Environment> {
    LOADED
        .get()
        .map(|(_, env)| env)
        .ok_or_else(|| Error::OrtLoad("ONNX Runtime is not loaded yet".into()))
}

/// Whether a loaded version is newer than any tested.
pub fn is_untested_newer(version: &str) -> bool {
    minor_of(version).is_some_and(|m| m > NEWEST_TESTED_ORT_MINOR)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn explicit_path_is_authoritative() {
        let c = candidates(Some(Path::new("/opt/ort/libonnxruntime.so")));
        assert_eq!(
            c,
            vec![(
                PathBuf::from("/opt/ort/libonnxruntime.so"),
                Origin::Property
            )]
        );
    }

    #[test]
    fn versions_parse() {
        assert_eq!(minor_of("1.31.1"), Some(31));
        assert_eq!(minor_of("1.20.0"), Some(20));
        assert_eq!(minor_of("2.0.0"), None);
        assert_eq!(minor_of("garbage"), None);
        assert!(is_untested_newer("1.32.0"));
        assert!(!is_untested_newer("1.31.1"));
    }
}

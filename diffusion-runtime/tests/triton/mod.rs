//! A real NVIDIA Triton Inference Server for tests: the `tritonserver` binary that
//! `scripts/setup.sh` unpacks from the pinned `nvidia-pytriton` wheel, serving a repository that
//! `models/tools/triton_repo.py --backend python` writes for the given packages (the python
//! backend runs each graph with onnxruntime on CPU). It listens on 127.0.0.1 on free ports,
//! every wait is bounded, and it is killed when dropped.
#![allow(dead_code)]

use std::net::{TcpListener, TcpStream};
use std::os::unix::process::CommandExt;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

/// Longest wait for the server to load its models and listen.
const START_DEADLINE: Duration = Duration::from_secs(90);

fn data_home() -> PathBuf {
    match std::env::var_os("XDG_DATA_HOME") {
        Some(d) if !d.is_empty() => PathBuf::from(d),
        _ => PathBuf::from(std::env::var_os("HOME").expect("HOME")).join(".local/share"),
    }
}

fn repo_root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("..")
}

fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

/// The ONNX Runtime release the server's python backend runs (pinned in
/// `scripts/triton-python-requirements.txt`).
pub fn server_ort_version() -> String {
    let reqs = std::fs::read_to_string(repo_root().join("scripts/triton-python-requirements.txt"))
        .expect("scripts/triton-python-requirements.txt");
    reqs.lines()
        .find_map(|l| l.strip_prefix("onnxruntime=="))
        .and_then(|v| v.split_whitespace().next())
        .expect("an onnxruntime pin")
        .to_string()
}

/// Whether outputs must match in-process runs bit for bit: only when this process runs the
/// same ONNX Runtime release as the server (the ORT matrix runs older ones here; their outputs
/// differ in the last bits).
pub fn same_ort_as_server() -> bool {
    diffusion_runtime::ort_env::loaded().is_some_and(|o| o.version == server_ort_version())
}

/// How far remote outputs may be from in-process ones when this process runs another ONNX
/// Runtime release than the server (1.20.1 vs 1.31.1 measured: 2.4e-7 and 1 level); 0 when
/// they run the same one.
pub fn tolerances() -> (f32, u8) {
    if same_ort_as_server() {
        (0.0, 0)
    } else {
        (1e-5, 2)
    }
}

/// As [`tolerances`] for the bundled packages, whose deeper graphs and longer sampling carry
/// another release's rounding further (1.20.1 vs 1.31.1 measured: 3.6e-4 of full scale on the
/// foley soundtrack, −69 dB; 1 level on the presenter frames).
pub fn bundled_tolerances() -> (f32, u8) {
    if same_ort_as_server() {
        (0.0, 0)
    } else {
        (1e-3, 4)
    }
}

/// Largest |a − b| over two sample sequences of equal length.
pub fn max_diff(a: &[f32], b: &[f32]) -> f32 {
    assert_eq!(a.len(), b.len());
    a.iter()
        .zip(b)
        .map(|(a, b)| (a - b).abs())
        .fold(0.0, f32::max)
}

/// Largest difference over two byte sequences (frames) of equal length.
pub fn max_byte_diff(a: &[u8], b: &[u8]) -> u8 {
    assert_eq!(a.len(), b.len());
    a.iter()
        .zip(b)
        .map(|(a, b)| a.abs_diff(*b))
        .max()
        .unwrap_or(0)
}

pub struct Triton {
    child: Option<Child>,
    pub grpc_port: u16,
    pub repo: PathBuf,
    pub log: PathBuf,
}

impl Triton {
    /// Writes a repository for `packages` and starts a server on it; panics with the server's
    /// log if it does not listen within [`START_DEADLINE`].
    pub fn start(tag: &str, packages: &[&Path]) -> Self {
        let home = data_home().join("gst-generative");
        let server = home.join("triton/pytriton/tritonserver");
        let python = home.join("venv/bin/python");
        assert!(
            server.join("bin/tritonserver").exists(),
            "no tritonserver in {}: run scripts/setup.sh",
            server.display()
        );
        let dir = std::env::temp_dir().join(format!("triton-{tag}-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        let repo = dir.join("repo");
        for p in packages {
            let ok = Command::new(&python)
                .arg(repo_root().join("models/tools/triton_repo.py"))
                .arg(p)
                .arg(&repo)
                .args(["--backend", "python"])
                .stdout(Stdio::null())
                .status()
                .expect("run triton_repo.py");
            assert!(ok.success(), "triton_repo.py {}", p.display());
        }
        let mut t = Self {
            child: None,
            grpc_port: 0,
            repo,
            log: dir.join("server.log"),
        };
        t.spawn();
        t
    }

    /// Starts (or restarts) the server on the same repository, on new ports.
    pub fn spawn(&mut self) {
        self.spawn_on(free_port());
    }

    /// Restarts the server where clients already point (a server restart, as they see it).
    pub fn restart(&mut self) {
        self.spawn_on(self.grpc_port);
    }

    fn spawn_on(&mut self, grpc: u16) {
        self.stop();
        let home = data_home().join("gst-generative");
        let root = home.join("triton");
        let server = root.join("pytriton/tritonserver");
        let (http, metrics) = (free_port(), free_port());
        let log = std::fs::File::create(&self.log).unwrap();
        // The python backend's stub runs the Python first on PATH: the environment setup made
        // for it (numpy 1.26 and onnxruntime).
        let path = format!(
            "{}:{}",
            root.join("venv/bin").display(),
            std::env::var("PATH").unwrap_or_default()
        );
        let child = Command::new(server.join("bin/tritonserver"))
            .arg(format!("--model-repository={}", self.repo.display()))
            .arg(format!(
                "--backend-directory={}",
                server.join("backends").display()
            ))
            .args(["--grpc-address=127.0.0.1", "--http-address=127.0.0.1"])
            .arg(format!("--grpc-port={grpc}"))
            .arg(format!("--http-port={http}"))
            .arg(format!("--metrics-port={metrics}"))
            .args(["--allow-metrics=false", "--log-verbose=0"])
            .env("LD_LIBRARY_PATH", root.join("nvidia_pytriton.libs"))
            .env("PATH", path)
            .stdout(log.try_clone().unwrap())
            .stderr(log)
            // Its own process group: `stop` ends the python backend's stubs with it.
            .process_group(0)
            .spawn()
            .expect("start tritonserver");
        self.child = Some(child);
        self.grpc_port = grpc;
        // Triton listens once its models are loaded (or have failed to).
        let start = Instant::now();
        while TcpStream::connect(("127.0.0.1", grpc)).is_err() {
            if start.elapsed() > START_DEADLINE
                || self
                    .child
                    .as_mut()
                    .is_some_and(|c| c.try_wait().ok().flatten().is_some())
            {
                let log = std::fs::read_to_string(&self.log).unwrap_or_default();
                self.stop();
                panic!("tritonserver did not start within {START_DEADLINE:?}:\n{log}");
            }
            std::thread::sleep(Duration::from_millis(100));
        }
    }

    pub fn url(&self) -> String {
        format!("grpc://127.0.0.1:{}", self.grpc_port)
    }

    /// Kills the server (a crash, as far as clients can tell), with the python backend's stub
    /// processes, which a killed server leaves behind otherwise.
    pub fn stop(&mut self) {
        if let Some(mut c) = self.child.take() {
            let _ = Command::new("kill")
                .args(["-KILL", "--", &format!("-{}", c.id())])
                .stderr(Stdio::null())
                .status();
            let _ = c.kill();
            let _ = c.wait();
        }
    }
}

impl Drop for Triton {
    fn drop(&mut self) {
        self.stop();
        if let Some(dir) = self.repo.parent() {
            let _ = std::fs::remove_dir_all(dir);
        }
    }
}

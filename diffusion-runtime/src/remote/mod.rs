//! Graphs served by an inference server over the KServe v2 / Open Inference Protocol (gRPC):
//! NVIDIA Triton, or any server that speaks the protocol. A remote graph replaces only
//! `Session::run`; the sampler loop, guidance and time handling stay in the element's process.
//!
//! Every call has a deadline ([`ServerConfig::timeout`]); a request that fails for a reason a
//! retry can cure (server unavailable, deadline, connection reset) is retried
//! [`RETRIES`] times with a growing pause. Tensors travel as raw little-endian bytes
//! (`raw_input_contents` / `raw_output_contents`).

mod wire;

use std::collections::HashMap;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use once_cell::sync::Lazy;
use ort::value::TensorElementType;
use tonic::transport::{Channel, Endpoint};

use crate::error::{Error, Result};
use crate::session_cache::Port;

pub use wire::RemoteInput;

#[allow(clippy::all, missing_docs)]
mod pb {
    tonic::include_proto!("inference");
}

use pb::grpc_inference_service_client::GrpcInferenceServiceClient as Grpc;

/// The deadline of each request when the element's `inference-timeout-ms` is 0.
pub const DEFAULT_TIMEOUT: Duration = Duration::from_secs(10);
/// Retries of a failed request before the error is reported (so 4 attempts in all).
pub const RETRIES: u32 = 3;
/// Pause before the first retry; each later one waits 4× longer (50, 200, 800 ms).
const FIRST_BACKOFF: Duration = Duration::from_millis(50);

/// Where the graphs run when not in-process: part of the session key.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct ServerConfig {
    /// `grpc://host:port` (or `host:port`).
    pub url: String,
    /// Deadline of each request, connection included.
    pub timeout: Duration,
}

impl ServerConfig {
    /// `http://host:port` for the gRPC channel, or why `url` cannot be used.
    fn endpoint(&self) -> Result<String> {
        let url = self.url.trim();
        let rest = if let Some(r) = url.strip_prefix("grpc://") {
            r
        } else if url.starts_with("grpcs://") || url.starts_with("https://") {
            return Err(Error::Provider(format!(
                "inference-server {url}: TLS is not supported yet; use grpc://host:port (inside \
                 the cluster, or behind a TLS-terminating proxy)"
            )));
        } else if url.contains("://") {
            return Err(Error::Provider(format!(
                "inference-server {url}: expected grpc://host:port (the server's gRPC port, 8001 \
                 for Triton)"
            )));
        } else {
            url
        };
        let rest = rest.trim_end_matches('/');
        let valid = rest.rsplit_once(':').is_some_and(|(host, port)| {
            !host.is_empty() && !host.contains('/') && port.parse::<u16>().is_ok_and(|p| p > 0)
        });
        if !valid {
            return Err(Error::Provider(format!(
                "inference-server {url}: expected grpc://host:port, e.g. grpc://triton.example:8001"
            )));
        }
        Ok(format!("http://{rest}"))
    }
}

/// One connection per server and deadline, shared by every graph of every element in the
/// process; its runtime thread drives the channel while callers block on their own request.
struct Client {
    rt: tokio::runtime::Runtime,
    grpc: Grpc<Channel>,
    config: ServerConfig,
    /// The last call failed for want of the server (reset by any success).
    down: AtomicBool,
}

static CLIENTS: Lazy<Mutex<HashMap<ServerConfig, Arc<Client>>>> = Lazy::new(Mutex::default);

fn client(config: &ServerConfig) -> Result<Arc<Client>> {
    let mut clients = CLIENTS.lock().unwrap_or_else(|e| e.into_inner());
    if let Some(c) = clients.get(config) {
        return Ok(c.clone());
    }
    let endpoint = config.endpoint()?;
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(1)
        .thread_name("gstgen-grpc")
        .enable_all()
        .build()
        .map_err(|e| Error::Provider(format!("cannot start the gRPC client thread: {e}")))?;
    let channel = {
        let _enter = rt.enter();
        Endpoint::from_shared(endpoint)
            .map_err(|e| Error::Provider(format!("inference-server {}: {e}", config.url)))?
            // Each call's deadline is `Client::call`'s; this bounds the channel's own
            // (re)connects between calls too.
            .connect_timeout(config.timeout)
            .tcp_nodelay(true)
            .connect_lazy()
    };
    let c = Arc::new(Client {
        rt,
        // Raw tensors of a real-size window are tens of MB: lift tonic's 4 MiB default.
        grpc: Grpc::new(channel)
            .max_decoding_message_size(usize::MAX)
            .max_encoding_message_size(usize::MAX),
        config: config.clone(),
        down: AtomicBool::new(false),
    });
    clients.insert(config.clone(), c.clone());
    Ok(c)
}

/// Whether a failed call may succeed if tried again.
fn transient(status: &tonic::Status) -> bool {
    use tonic::Code::*;
    // Cancelled: the server or a proxy on the way gave up on the call.
    matches!(
        status.code(),
        Unavailable | DeadlineExceeded | Cancelled | ResourceExhausted | Aborted | Unknown
    )
}

impl Client {
    /// Runs one call with the deadline, retrying transient failures.
    fn call<T, F, Fut>(&self, what: &str, mut f: F) -> Result<T>
    where
        F: FnMut(Grpc<Channel>) -> Fut,
        Fut: std::future::Future<Output = std::result::Result<tonic::Response<T>, tonic::Status>>,
    {
        let mut pause = FIRST_BACKOFF;
        let mut attempt = 0;
        loop {
            let fut = f(self.grpc.clone());
            let result = self
                .rt
                .block_on(async { tokio::time::timeout(self.config.timeout, fut).await });
            let status = match result {
                Ok(Ok(r)) => {
                    self.down.store(false, Ordering::Relaxed);
                    return Ok(r.into_inner());
                }
                Ok(Err(status)) => status,
                Err(_) => tonic::Status::deadline_exceeded(format!(
                    "no answer within {} ms",
                    self.config.timeout.as_millis()
                )),
            };
            // While the server is known to be down, one attempt per call: a live element
            // riding through an outage must not spend a second of backoff on every chunk.
            let retries = if self.down.load(Ordering::Relaxed) {
                0
            } else {
                RETRIES
            };
            if !transient(&status) || attempt >= retries {
                let message = format!(
                    "inference-server {}: {what}: {}{}",
                    self.config.url,
                    describe(&status),
                    if attempt > 0 {
                        format!(" (after {} attempts)", attempt + 1)
                    } else {
                        String::new()
                    }
                );
                return Err(if transient(&status) {
                    self.down.store(true, Ordering::Relaxed);
                    Error::ServerOutage(message)
                } else {
                    Error::Provider(message)
                });
            }
            attempt += 1;
            std::thread::sleep(pause);
            pause *= 4;
        }
    }
}

/// A status in one line, saying what usually causes it.
fn describe(status: &tonic::Status) -> String {
    let message = crate::error::one_line(status.message());
    let message = if message.is_empty() {
        // Transport failures carry their cause in the source chain, not the message.
        std::error::Error::source(status)
            .map(|s| crate::error::one_line(&s.to_string()))
            .unwrap_or_default()
    } else {
        message
    };
    match status.code() {
        tonic::Code::Unavailable => {
            format!("server unreachable ({message}); is it running, and is this its gRPC port?")
        }
        tonic::Code::DeadlineExceeded | tonic::Code::Cancelled => {
            format!("timed out ({message}); raise inference-timeout-ms if the server is just slow")
        }
        code => format!("{code:?}: {message}"),
    }
}

/// A model on the server, checked at load: the server is live, the model ready, and its inputs
/// and outputs as reported by the server.
#[derive(Clone)]
pub struct RemoteModel {
    client: Arc<Client>,
    pub name: String,
    pub version: String,
    /// Tensors the server takes with a trailing dimension of 1 the graph does not have: Triton
    /// needs non-empty dims per batch item, so a `[batch]` tensor travels as `[batch, 1]`
    /// (`dims: [1] reshape: { shape: [] }` in its config).
    unit_suffix: Vec<String>,
}

impl std::fmt::Debug for RemoteModel {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("RemoteModel")
            .field("server", &self.client.config.url)
            .field("name", &self.name)
            .field("version", &self.version)
            .finish()
    }
}

fn element_type(datatype: &str) -> Option<TensorElementType> {
    Some(match datatype {
        "FP32" => TensorElementType::Float32,
        "FP16" => TensorElementType::Float16,
        "INT64" => TensorElementType::Int64,
        "INT32" => TensorElementType::Int32,
        "UINT8" => TensorElementType::Uint8,
        _ => return None,
    })
}

impl RemoteModel {
    /// Connects (sharing the connection), checks that the server is live and the model ready,
    /// and reads the model's inputs and outputs.
    pub fn open(
        config: &ServerConfig,
        name: &str,
        version: &str,
    ) -> Result<(Self, Vec<Port>, Vec<Port>)> {
        let client = client(config)?;
        let live = client.call("server live", |mut g| async move {
            g.server_live(pb::ServerLiveRequest {}).await
        })?;
        if !live.live {
            return Err(Error::Provider(format!(
                "inference-server {}: the server says it is not live",
                config.url
            )));
        }
        let (n, v) = (name.to_string(), version.to_string());
        let ready = client.call(&format!("model {name}"), |mut g| {
            let (name, version) = (n.clone(), v.clone());
            async move { g.model_ready(pb::ModelReadyRequest { name, version }).await }
        });
        let ready = match ready {
            Ok(r) => r.ready,
            // Triton answers NotFound for a model it has never heard of.
            Err(Error::Provider(m)) if m.contains("NotFound") || m.contains("unknown model") => {
                false
            }
            Err(e) => return Err(e),
        };
        if !ready {
            let which = if version.is_empty() {
                name.to_string()
            } else {
                format!("{name} version {version}")
            };
            return Err(Error::Provider(format!(
                "inference-server {}: model {which} is not ready on the server (not in its model \
                 repository, or failed to load there: see the server's log); \
                 models/tools/triton_repo.py writes a repository for a package",
                config.url
            )));
        }
        let meta = client.call(&format!("model {name} metadata"), |mut g| {
            let (name, version) = (n.clone(), v.clone());
            async move {
                g.model_metadata(pb::ModelMetadataRequest { name, version })
                    .await
            }
        })?;
        let ports = |t: &[pb::model_metadata_response::TensorMetadata]| {
            t.iter()
                .map(|t| Port {
                    name: t.name.clone(),
                    dtype: element_type(&t.datatype),
                    shape: t.shape.clone(),
                })
                .collect::<Vec<_>>()
        };
        let (inputs, outputs) = (ports(&meta.inputs), ports(&meta.outputs));
        Ok((
            Self {
                client,
                name: name.to_string(),
                version: version.to_string(),
                unit_suffix: Vec::new(),
            },
            inputs,
            outputs,
        ))
    }

    /// Matches the server's ports to the graph's ranks: a port reported with one dimension more
    /// than `rank(name)`, that dimension a trailing 1, travels with it (see `unit_suffix`) and
    /// is returned without it.
    pub fn reconcile(&mut self, ports: &mut [Port], rank: impl Fn(&str) -> Option<usize>) {
        for p in ports {
            if rank(&p.name) == Some(p.shape.len().wrapping_sub(1)) && p.shape.last() == Some(&1) {
                p.shape.pop();
                self.unit_suffix.push(p.name.clone());
            }
        }
    }

    /// The server's URL, for messages.
    pub fn server(&self) -> &str {
        &self.client.config.url
    }

    /// One inference: `inputs` by graph input name, `outputs` by graph output name.
    pub fn infer(
        &self,
        inputs: &[RemoteInput],
        outputs: &[&str],
    ) -> Result<Vec<crate::package::GraphOutput>> {
        let request = wire::request(
            &self.name,
            &self.version,
            inputs,
            outputs,
            &self.unit_suffix,
        );
        let response = self.client.call(&format!("model {}", self.name), |mut g| {
            let r = request.clone();
            async move { g.model_infer(r).await }
        })?;
        wire::outputs(&self.name, response, outputs, &self.unit_suffix)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn cfg(url: &str) -> ServerConfig {
        ServerConfig {
            url: url.into(),
            timeout: DEFAULT_TIMEOUT,
        }
    }

    #[test]
    fn addresses() {
        assert_eq!(
            cfg("grpc://triton.example:8001").endpoint().unwrap(),
            "http://triton.example:8001"
        );
        assert_eq!(
            cfg("127.0.0.1:8001/").endpoint().unwrap(),
            "http://127.0.0.1:8001"
        );
        assert_eq!(
            cfg("grpc://[::1]:8001").endpoint().unwrap(),
            "http://[::1]:8001"
        );
        for bad in [
            "grpcs://h:8001",
            "https://h:8001",
            "http://h:8000",
            "grpc://h",
            "grpc://h:0",
            "grpc://h:99999",
            "grpc://:8001",
            "",
        ] {
            let e = cfg(bad).endpoint().unwrap_err().to_string();
            assert!(e.contains("inference-server"), "{bad}: {e}");
        }
    }

    /// A server that accepts the connection and never answers: "timed out", within the deadline
    /// times the attempts plus the pauses between them.
    #[test]
    fn a_server_that_never_answers_times_out() {
        let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        let port = listener.local_addr().unwrap().port();
        let hold = std::thread::spawn(move || {
            let conns: Vec<_> = listener.incoming().take(4).collect();
            std::thread::sleep(Duration::from_secs(4));
            drop(conns);
        });
        let config = ServerConfig {
            url: format!("grpc://127.0.0.1:{port}"),
            timeout: Duration::from_millis(200),
        };
        let start = std::time::Instant::now();
        let e = RemoteModel::open(&config, "m", "").unwrap_err();
        let elapsed = start.elapsed();
        assert!(e.is_server_outage(), "{e}");
        let e = e.to_string();
        assert!(
            e.contains("timed out") && e.contains("inference-timeout-ms"),
            "{e}"
        );
        assert!(elapsed < Duration::from_secs(3), "{elapsed:?}");
        drop(hold);
    }

    /// Nothing listens: a clear one-line error within the deadline and its retries, no hang.
    #[test]
    fn unreachable_server_is_an_error_in_bounded_time() {
        let port = std::net::TcpListener::bind("127.0.0.1:0")
            .unwrap()
            .local_addr()
            .unwrap()
            .port();
        let start = std::time::Instant::now();
        let config = ServerConfig {
            url: format!("grpc://127.0.0.1:{port}"),
            timeout: Duration::from_millis(500),
        };
        let e = RemoteModel::open(&config, "m", "").unwrap_err().to_string();
        assert!(e.contains("unreachable") && !e.contains('\n'), "{e}");
        assert!(
            start.elapsed() < Duration::from_secs(5),
            "{:?}",
            start.elapsed()
        );
    }
}

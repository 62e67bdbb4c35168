//! How many live presenters one process sustains: N branches of
//! `audiotestsrc is-live=true ! miragegen ! fakesink sync=true` in one pipeline, each fed
//! real-time audio for SECONDS, with the denoiser steps run alone (default), batched across the
//! streams (`--batch-window-us`), or on an inference server (`--inference-server`).
//!
//! Per run, for every stream: the mean chunk real-time factor the element reports
//! (`miragegen/chunk`: inference / chunk duration), the first frame's latency (running time
//! when it left miragegen minus its timestamp), and the frames that left later than the
//! element's reported latency allows (a sink synced to the clock would drop or be late with
//! them), and the share of denoiser steps that ran in one batch with another stream's. Process
//! CPU time over wall time gives the cores used; `--server-pid` adds a server's and its
//! children's. Prints one
//! Markdown row (mode, N, RTF, first frame ms, late frames, batched steps, cores): medians over
//! `--runs` runs of the worst stream's figures.
//!
//! ```text
//! cargo bench -p gst-generative-tests --bench streams -- [model dir] --streams N
//!     [--seconds 20] [--runs 3] [--batch-window-us W] [--inference-server URL] [--server-pid P]
//! ```

use std::sync::{Arc, Mutex};
use std::time::Instant;

use gst::prelude::*;

#[derive(Default, Clone)]
struct Stream {
    rtfs: Vec<f64>,
    /// Steps, and of those steps run in one batch with another stream's.
    steps: u64,
    batched: u64,
    /// Running time out minus PTS, per frame, in ns.
    lateness: Vec<i64>,
}

struct Run {
    /// Worst stream's mean chunk RTF, first-frame latency (ms), late frames; CPU cores used.
    rtf: f64,
    first_ms: f64,
    late: usize,
    frames: usize,
    cores: f64,
    /// Share of all steps that ran batched with another stream's.
    batched: f64,
}

/// CPU seconds (user + system) of process `pid` so far, and its parent's pid.
fn cpu_and_parent(pid: &str) -> (f64, String) {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).unwrap_or_default();
    // Fields after the command name (which may hold spaces) start at state (field 3).
    let rest = stat.rsplit_once(')').map(|(_, r)| r).unwrap_or("");
    let f: Vec<&str> = rest.split_whitespace().collect();
    let ticks = |i: usize| f.get(i).and_then(|v| v.parse::<f64>().ok()).unwrap_or(0.0);
    // ppid is field 4, utime and stime fields 14 and 15 (indices 1, 11, 12 from state);
    // USER_HZ is 100.
    let parent = f.get(1).map(|p| p.to_string()).unwrap_or_default();
    ((ticks(11) + ticks(12)) / 100.0, parent)
}

/// CPU seconds of this process, plus those of process `server` and all its descendants (the
/// python backend's stubs are children of tritonserver).
fn cpu_seconds(server: Option<&str>) -> f64 {
    let own = std::fs::read_link("/proc/self")
        .map(|p| p.display().to_string())
        .unwrap_or_default();
    let mut total = cpu_and_parent(&own).0;
    let Some(server) = server else {
        return total;
    };
    let procs: Vec<(String, f64, String)> = std::fs::read_dir("/proc")
        .into_iter()
        .flatten()
        .flatten()
        .filter_map(|e| e.file_name().to_str().map(str::to_string))
        .filter(|n| n.bytes().all(|b| b.is_ascii_digit()))
        .map(|pid| {
            let (cpu, parent) = cpu_and_parent(&pid);
            (pid, cpu, parent)
        })
        .collect();
    let mut tree = vec![server.to_string()];
    let mut i = 0;
    while i < tree.len() {
        for (pid, _, parent) in &procs {
            if *parent == tree[i] && !tree.contains(pid) {
                tree.push(pid.clone());
            }
        }
        i += 1;
    }
    total += procs
        .iter()
        .filter(|(pid, ..)| tree.contains(pid))
        .map(|(_, cpu, _)| cpu)
        .sum::<f64>();
    total
}

struct Options {
    model: String,
    streams: usize,
    seconds: u64,
    batch_window_us: u32,
    server: Option<String>,
    server_pid: Option<String>,
}

fn run(o: &Options) -> Run {
    let mut branches = Vec::new();
    for i in 0..o.streams {
        let mut element = format!(
            "miragegen name=p{i} model={} seed={} batch-window-us={}",
            o.model,
            i + 1,
            o.batch_window_us
        );
        if let Some(url) = &o.server {
            element.push_str(&format!(" inference-server={url}"));
        }
        branches.push(format!(
            "audiotestsrc is-live=true wave=sine freq={} samplesperbuffer=320 num-buffers={} \
             ! audio/x-raw,rate=16000,channels=1 ! {element} ! fakesink sync=true",
            180 + 20 * i,
            o.seconds * 50
        ));
    }
    let pipeline = gst::parse::launch(&branches.join(" "))
        .expect("pipeline")
        .downcast::<gst::Pipeline>()
        .unwrap();
    let streams: Arc<Mutex<Vec<Stream>>> = Arc::new(Mutex::new(vec![Stream::default(); o.streams]));
    for i in 0..o.streams {
        let element = pipeline.by_name(&format!("p{i}")).unwrap();
        let pad = element.static_pad("src").unwrap();
        let (streams, el) = (streams.clone(), element.clone());
        pad.add_probe(gst::PadProbeType::BUFFER, move |_, info| {
            let (Some(buffer), Some(now)) = (info.buffer(), el.current_running_time()) else {
                return gst::PadProbeReturn::Ok;
            };
            if let Some(pts) = buffer.pts() {
                let late = now.nseconds() as i64 - pts.nseconds() as i64;
                streams.lock().unwrap()[i].lateness.push(late);
            }
            gst::PadProbeReturn::Ok
        });
    }
    let cpu0 = cpu_seconds(o.server_pid.as_deref());
    let start = Instant::now();
    pipeline.set_state(gst::State::Playing).unwrap();
    let bus = pipeline.bus().unwrap();
    let mut latency_ns = 0u64;
    let timeout = gst::ClockTime::from_seconds(o.seconds * 4 + 60);
    for msg in bus.iter_timed(timeout) {
        match msg.view() {
            gst::MessageView::Element(e) => {
                let Some(s) = e.structure().filter(|s| s.name() == "miragegen/chunk") else {
                    continue;
                };
                let name = e.src().map(|s| s.name().to_string()).unwrap_or_default();
                if let Some(i) = name.strip_prefix('p').and_then(|n| n.parse::<usize>().ok()) {
                    let rtf = s.get::<f64>("real-time-factor").unwrap_or(0.0);
                    let mut streams = streams.lock().unwrap();
                    streams[i].rtfs.push(rtf);
                    streams[i].steps += u64::from(s.get::<u32>("steps").unwrap_or(0));
                    streams[i].batched += u64::from(s.get::<u32>("batched-steps").unwrap_or(0));
                }
            }
            gst::MessageView::AsyncDone(_) | gst::MessageView::Latency(_) => {
                let mut q = gst::query::Latency::new();
                if pipeline.query(&mut q) {
                    latency_ns = q.result().1.nseconds();
                }
            }
            gst::MessageView::Eos(_) => break,
            gst::MessageView::Error(e) => panic!("{} {:?}", e.error(), e.debug()),
            _ => {}
        }
    }
    let wall = start.elapsed().as_secs_f64();
    let cpu1 = cpu_seconds(o.server_pid.as_deref());
    pipeline.set_state(gst::State::Null).unwrap();
    let streams = streams.lock().unwrap().clone();
    let mean = |v: &[f64]| v.iter().sum::<f64>() / v.len().max(1) as f64;
    Run {
        rtf: streams.iter().map(|s| mean(&s.rtfs)).fold(0.0, f64::max),
        first_ms: streams
            .iter()
            .map(|s| s.lateness.first().copied().unwrap_or(i64::MAX) as f64 / 1e6)
            .fold(0.0, f64::max),
        late: streams
            .iter()
            .map(|s| {
                s.lateness
                    .iter()
                    .filter(|&&l| l > latency_ns as i64)
                    .count()
            })
            .sum(),
        frames: streams.iter().map(|s| s.lateness.len()).sum(),
        cores: (cpu1 - cpu0) / wall,
        batched: streams.iter().map(|s| s.batched).sum::<u64>() as f64
            / streams.iter().map(|s| s.steps).sum::<u64>().max(1) as f64,
    }
}

fn median(mut v: Vec<f64>) -> f64 {
    v.sort_by(|a, b| a.total_cmp(b));
    v[v.len() / 2]
}

fn main() {
    gst::init().unwrap();
    gstmirage::plugin_register_static().unwrap();
    let mut args = std::env::args().skip(1).filter(|a| a != "--bench");
    let mut o = Options {
        model: String::new(),
        streams: 1,
        seconds: 20,
        batch_window_us: 0,
        server: None,
        server_pid: None,
    };
    let (mut model, mut runs) = (None, 3usize);
    while let Some(a) = args.next() {
        let mut value = || args.next().unwrap_or_default();
        match a.as_str() {
            "--streams" => o.streams = value().parse().unwrap_or(1),
            "--seconds" => o.seconds = value().parse().unwrap_or(20),
            "--runs" => runs = value().parse().unwrap_or(3),
            "--batch-window-us" => o.batch_window_us = value().parse().unwrap_or(0),
            "--inference-server" => o.server = Some(value()),
            "--server-pid" => o.server_pid = Some(value()),
            other => model = Some(other.to_string()),
        }
    }
    o.model = gst_generative_tests::bench_model_dir(model, "presenter");
    let results: Vec<Run> = (0..runs.max(1)).map(|_| run(&o)).collect();
    let mode = match (&o.server, o.batch_window_us) {
        (Some(_), _) => "inference server".to_string(),
        (None, 0) => "in-process".to_string(),
        (None, w) => format!("in-process, batched ({w} µs)"),
    };
    let late: Vec<f64> = results
        .iter()
        .map(|r| r.late as f64 / r.frames.max(1) as f64 * 100.0)
        .collect();
    println!(
        "| {mode} | {} | {:.3} | {:.0} | {:.1} % | {:.0} % | {:.2} |",
        o.streams,
        median(results.iter().map(|r| r.rtf).collect()),
        median(results.iter().map(|r| r.first_ms).collect()),
        median(late),
        median(results.iter().map(|r| r.batched * 100.0).collect()),
        median(results.iter().map(|r| r.cores).collect()),
    );
}

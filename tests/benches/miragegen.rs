//! miragegen figures through real pipelines:
//! - first-frame latency in a live pipeline: wall time from the first audio buffer pushed (at
//!   real-time pace) to the first video frame out of the element;
//! - real-time factor of a file pipeline: wall time to turn N seconds of audio into video, over N,
//!   and the mean per-chunk real-time factor the element reports (`miragegen/chunk`);
//!
//! each the median of five runs.
//!
//! ```text
//! cargo bench -p gst-generative-tests --bench miragegen -- [model dir] [--seconds 20] [--steps N]
//!     [--provider auto|cpu|cuda|tensorrt]
//! ```
//!
//! A relative model directory is taken from the workspace root; the default is the fixture.

use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use gst::prelude::*;

fn first_frame_latency(model: &str, steps: u32, provider: &str) -> Duration {
    let pipeline = gst::parse::launch(&format!(
        "appsrc name=src is-live=true do-timestamp=true format=time \
         caps=audio/x-raw,format=F32LE,layout=interleaved,rate=16000,channels=1 \
         ! miragegen model={model} steps={steps} execution-provider={provider} ! appsink name=out sync=false"
    ))
    .expect("pipeline")
    .downcast::<gst::Pipeline>()
    .unwrap();
    let first: Arc<Mutex<Option<Instant>>> = Arc::new(Mutex::new(None));
    let seen = first.clone();
    let sink = pipeline
        .by_name("out")
        .unwrap()
        .downcast::<gst_app::AppSink>()
        .unwrap();
    sink.set_callbacks(
        gst_app::AppSinkCallbacks::builder()
            .new_sample(move |s| {
                let _ = s.pull_sample();
                seen.lock().unwrap().get_or_insert_with(Instant::now);
                Ok(gst::FlowSuccess::Ok)
            })
            .build(),
    );
    let src = pipeline.by_name("src").unwrap();
    pipeline.set_state(gst::State::Playing).unwrap();
    let start = Instant::now();
    for i in 0..50u64 {
        // 20 ms buffers of a 220 Hz tone, pushed at real-time pace.
        let samples: Vec<u8> = (0..320u64)
            .flat_map(|j| {
                (0.3 * ((i * 320 + j) as f32 * 220.0 * std::f32::consts::TAU / 16_000.0).sin())
                    .to_le_bytes()
            })
            .collect();
        let _ = src.emit_by_name::<gst::FlowReturn>(
            "push-buffer",
            &[&gst::Buffer::from_mut_slice(samples)],
        );
        std::thread::sleep(
            Duration::from_millis(20).saturating_sub(
                start
                    .elapsed()
                    .saturating_sub(Duration::from_millis(20 * i)),
            ),
        );
        if first.lock().unwrap().is_some() {
            break;
        }
    }
    std::thread::sleep(Duration::from_millis(200));
    pipeline.set_state(gst::State::Null).unwrap();
    let at = first.lock().unwrap().expect("no frame came out");
    at - start
}

fn file_rtf(model: &str, seconds: u64, steps: u32, provider: &str) -> (f64, f64, u64) {
    let pipeline = gst::parse::launch(&format!(
        "audiotestsrc num-buffers={} samplesperbuffer=1600 ! audio/x-raw,rate=16000,channels=1 \
         ! miragegen model={model} steps={steps} execution-provider={provider} ! fakesink name=out sync=false",
        seconds * 10
    ))
    .expect("pipeline");
    let start = Instant::now();
    pipeline.set_state(gst::State::Playing).unwrap();
    let bus = pipeline.bus().unwrap();
    let mut rtfs = Vec::new();
    for msg in bus.iter_timed(gst::ClockTime::from_seconds(600)) {
        match msg.view() {
            gst::MessageView::Element(e) => {
                if let Some(s) = e.structure().filter(|s| s.name() == "miragegen/chunk") {
                    rtfs.push(s.get::<f64>("real-time-factor").unwrap_or(0.0));
                }
            }
            gst::MessageView::Eos(_) => break,
            gst::MessageView::Error(e) => panic!("{} {:?}", e.error(), e.debug()),
            _ => {}
        }
    }
    let wall = start.elapsed().as_secs_f64();
    pipeline.set_state(gst::State::Null).unwrap();
    let mean = rtfs.iter().sum::<f64>() / rtfs.len().max(1) as f64;
    (wall / seconds as f64, mean, rtfs.len() as u64)
}

fn main() {
    gst::init().unwrap();
    gstmirage::plugin_register_static().unwrap();
    let mut args = std::env::args().skip(1).filter(|a| a != "--bench");
    let (mut model, mut seconds, mut steps) = (None, 20u64, 0u32);
    let mut provider = "auto".to_string();
    while let Some(a) = args.next() {
        match a.as_str() {
            "--seconds" => seconds = args.next().and_then(|v| v.parse().ok()).unwrap_or(seconds),
            "--steps" => steps = args.next().and_then(|v| v.parse().ok()).unwrap_or(steps),
            "--provider" => provider = args.next().unwrap_or(provider),
            other => model = Some(other.to_string()),
        }
    }
    let model = gst_generative_tests::bench_model_dir(model, "presenter");
    let latencies: Vec<Duration> = (0..5)
        .map(|_| first_frame_latency(&model, steps, &provider))
        .collect();
    let mut ms: Vec<f64> = latencies.iter().map(|d| d.as_secs_f64() * 1e3).collect();
    ms.sort_by(|a, b| a.total_cmp(b));
    // Five file runs, like the five latencies: this machine is shared, one run can be an outlier.
    let mut runs: Vec<(f64, f64, u64)> = (0..5)
        .map(|_| file_rtf(&model, seconds, steps, &provider))
        .collect();
    runs.sort_by(|a, b| a.0.total_cmp(&b.0));
    let (rtf, chunk_rtf, chunks) = runs[2];
    println!("model                     {model}");
    println!("execution provider        {provider}");
    println!(
        "steps                     {}",
        if steps == 0 {
            "package default".to_string()
        } else {
            steps.to_string()
        }
    );
    println!("first-frame latency       {:.0} ms median of 5 (min {:.0}, max {:.0}); algorithmic floor: chunk + lookahead of audio", ms[2], ms[0], ms[4]);
    println!(
        "file real-time factor     {rtf:.4} median of 5 (min {:.4}, max {:.4}; {seconds} s of audio, wall time incl. pipeline setup)",
        runs[0].0, runs[4].0
    );
    println!("chunk real-time factor    {chunk_rtf:.4} mean over {chunks} chunks of the median run (inference / chunk duration)");
}

//! v2agen figures through real pipelines:
//! - real-time factor of a file pipeline: wall time to add a soundtrack to N seconds of video,
//!   over N, and the per-window real-time factor the element reports (`v2agen/window`: inference
//!   time over the hop of new audio a window adds), mean and worst;
//! - overhead of the element around the model: the file pipeline's wall time minus the windows'
//!   inference time, as a fraction of the wall time (decoding, frame conversion, passthrough).
//!
//! ```text
//! cargo bench -p gst-generative-tests --bench v2agen -- [model dir] [--seconds 30] [--steps N]
//!     [--size 640x360] [--provider cpu|auto|cuda|tensorrt]
//! ```
//!
//! A relative model directory is taken from the workspace root; the default is the fixture.

use std::sync::{Arc, Mutex};
use std::time::Instant;

use gst::prelude::*;

struct Figures {
    wall_s: f64,
    windows: Vec<(f64, f64)>, // (inference ms, real-time factor)
}

fn file_pipeline(
    model: &str,
    seconds: u64,
    steps: u32,
    size: (u32, u32),
    provider: &str,
) -> Figures {
    let pipeline = gst::parse::launch(&format!(
        "videotestsrc num-buffers={n} pattern=ball ! video/x-raw,width={w},height={h},framerate=25/1 \
         ! v2agen name=g model={model} execution-provider={provider} steps={steps} \
         g.src ! fakesink sync=false g.audio_src ! fakesink sync=false",
        n = seconds * 25,
        w = size.0,
        h = size.1,
    ))
    .expect("pipeline")
    .downcast::<gst::Pipeline>()
    .unwrap();
    let windows = Arc::new(Mutex::new(Vec::new()));
    let bus = pipeline.bus().unwrap();
    {
        let windows = windows.clone();
        bus.set_sync_handler(move |_, msg| {
            if let gst::MessageView::Element(m) = msg.view() {
                if let Some(s) = m.structure().filter(|s| s.name() == "v2agen/window") {
                    windows.lock().unwrap().push((
                        s.get::<f64>("inference-ms").unwrap_or(0.0),
                        s.get::<f64>("real-time-factor").unwrap_or(0.0),
                    ));
                }
            }
            gst::BusSyncReply::Pass
        });
    }
    // Loading the model is not part of the figure.
    pipeline.set_state(gst::State::Paused).unwrap();
    let _ = pipeline.state(gst::ClockTime::from_seconds(60));
    let start = Instant::now();
    pipeline.set_state(gst::State::Playing).unwrap();
    for msg in bus.iter_timed(gst::ClockTime::from_seconds(600)) {
        match msg.view() {
            gst::MessageView::Eos(_) => break,
            gst::MessageView::Error(e) => panic!("pipeline error: {}", e.error()),
            _ => {}
        }
    }
    let wall_s = start.elapsed().as_secs_f64();
    pipeline.set_state(gst::State::Null).unwrap();
    bus.unset_sync_handler();
    let windows = std::mem::take(&mut *windows.lock().unwrap());
    Figures { wall_s, windows }
}

fn main() {
    gst::init().unwrap();
    gstv2a::plugin_register_static().unwrap();
    let mut args = std::env::args().skip(1).filter(|a| a != "--bench");
    let mut model = None;
    let (mut seconds, mut steps, mut size) = (30u64, 0u32, (640u32, 360u32));
    let mut provider = "cpu".to_string();
    while let Some(a) = args.next() {
        match a.as_str() {
            "--seconds" => seconds = args.next().and_then(|v| v.parse().ok()).unwrap_or(seconds),
            "--steps" => steps = args.next().and_then(|v| v.parse().ok()).unwrap_or(steps),
            "--provider" => provider = args.next().unwrap_or(provider),
            "--size" => {
                size = args
                    .next()
                    .and_then(|v| {
                        let (w, h) = v.split_once('x')?;
                        Some((w.parse().ok()?, h.parse().ok()?))
                    })
                    .unwrap_or(size)
            }
            other => model = Some(other.to_string()),
        }
    }
    let model = gst_generative_tests::bench_model_dir(model, "foley");
    println!(
        "v2agen on {model}: {seconds} s of {}x{} video at 25 fps, steps {}",
        size.0,
        size.1,
        if steps == 0 {
            "= package default".to_string()
        } else {
            steps.to_string()
        }
    );
    let f = file_pipeline(&model, seconds, steps, size, &provider);
    let n = f.windows.len().max(1) as f64;
    let inference_s: f64 = f.windows.iter().map(|w| w.0).sum::<f64>() / 1e3;
    let mean_rtf = f.windows.iter().map(|w| w.1).sum::<f64>() / n;
    let worst_rtf = f.windows.iter().map(|w| w.1).fold(0.0, f64::max);
    println!("windows:                          {}", f.windows.len());
    println!(
        "per-window real-time factor:      mean {mean_rtf:.4}, worst {worst_rtf:.4}  (inference / hop)"
    );
    println!(
        "file pipeline real-time factor:   {:.4}  ({:.2} s for {seconds} s of video)",
        f.wall_s / seconds as f64,
        f.wall_s
    );
    println!(
        "outside the model:                {:.1} % of the wall time (source, conversion, passthrough, sinks)",
        100.0 * (f.wall_s - inference_s).max(0.0) / f.wall_s
    );
}

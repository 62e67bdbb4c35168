//! v2agen live, end to end: recorded frames played as a live camera gives them (appsrc
//! is-live, each frame pushed when the pipeline clock reaches its timestamp) through v2agen to an
//! appsink that syncs on the clock as an audio device sink does: it renders each buffer when the
//! clock reaches the buffer's running time plus the pipeline latency (v2agen's, reported by the
//! latency query), or at once if the buffer comes later than that.
//!
//! Writes `<out>.f32` (the soundtrack, f32 mono) and `<out>.tsv` (per audio buffer: its running
//! time, the clock's running time when the sink rendered it, its samples; nanoseconds), and
//! prints the latency. `models/foley/evaluate.py --only live` runs it on the evaluation scenes
//! and turns the figures into the end-to-end delay of each impact (its frame's running time to
//! its onset's rendering at the sink).
//!
//! ```text
//! cargo bench -p gst-generative-tests --bench live_foley -- <model dir> <frames.rgb> <width>
//!     <height> <out prefix> [--fps 25] [--prompt TEXT] [--provider cpu]
//! ```

use std::io::Write;
use std::sync::{Arc, Mutex};

use gst::prelude::*;

struct Args {
    model: String,
    frames: String,
    size: (u32, u32),
    out: String,
    fps: u32,
    prompt: String,
    provider: String,
}

fn args() -> Args {
    let all: Vec<String> = std::env::args()
        .skip(1)
        .filter(|a| a != "--bench")
        .collect();
    let mut pos = Vec::new();
    let (mut fps, mut prompt, mut provider) = (25, String::new(), "cpu".to_string());
    let mut it = all.into_iter();
    while let Some(a) = it.next() {
        match a.as_str() {
            "--fps" => fps = it.next().and_then(|v| v.parse().ok()).expect("--fps N"),
            "--prompt" => prompt = it.next().expect("--prompt TEXT"),
            "--provider" => provider = it.next().expect("--provider NAME"),
            _ => pos.push(a),
        }
    }
    let [model, frames, w, h, out] = <[String; 5]>::try_from(pos).unwrap_or_else(|p| {
        panic!("usage: <model> <frames.rgb> <width> <height> <out prefix> [--fps N] [--prompt T]; got {p:?}")
    });
    Args {
        model,
        frames,
        size: (w.parse().expect("width"), h.parse().expect("height")),
        out,
        fps,
        prompt,
        provider,
    }
}

/// (running time, rendered at, samples) per audio buffer, and the soundtrack.
type Rendered = (Vec<(u64, u64, usize)>, Vec<u8>);

fn main() {
    gst::init().unwrap();
    gstv2a::plugin_register_static().unwrap();
    let a = args();
    let data = std::fs::read(&a.frames).expect("frames file");
    let frame_bytes = (a.size.0 * a.size.1 * 3) as usize;
    assert!(
        !data.is_empty() && data.len() % frame_bytes == 0,
        "{} is not whole {}x{} RGB frames",
        a.frames,
        a.size.0,
        a.size.1
    );
    let pipeline = gst::parse::launch(&format!(
        "appsrc name=cam is-live=true format=time \
           caps=video/x-raw,format=RGB,width={w},height={h},framerate={fps}/1 \
         ! v2agen name=g model={model} execution-provider={provider} \
         g.src ! fakesink sync=true g.audio_src ! appsink name=out sync=true",
        w = a.size.0,
        h = a.size.1,
        fps = a.fps,
        model = a.model,
        provider = a.provider,
    ))
    .expect("pipeline")
    .downcast::<gst::Pipeline>()
    .unwrap();
    let g = pipeline.by_name("g").unwrap();
    if !a.prompt.is_empty() {
        g.set_property("prompt", &a.prompt);
    }
    let sink = pipeline
        .by_name("out")
        .unwrap()
        .downcast::<gst_app::AppSink>()
        .unwrap();
    let rendered: Arc<Mutex<Rendered>> = Arc::default();
    {
        let rendered = rendered.clone();
        let clocked = pipeline.clone();
        sink.set_callbacks(
            gst_app::AppSinkCallbacks::builder()
                .new_sample(move |s| {
                    let sample = s.pull_sample().map_err(|_| gst::FlowError::Eos)?;
                    // A synced appsink hands the buffer over once the clock has reached its
                    // running time plus the latency: now is when an audio sink would play it.
                    let now = match (clocked.clock(), clocked.base_time()) {
                        (Some(c), Some(b)) => c.time().saturating_sub(b).nseconds(),
                        _ => return Ok(gst::FlowSuccess::Ok),
                    };
                    let (Some(buffer), Some(segment)) = (sample.buffer(), sample.segment()) else {
                        return Ok(gst::FlowSuccess::Ok);
                    };
                    let segment = segment.downcast_ref::<gst::ClockTime>().unwrap();
                    let running = buffer
                        .pts()
                        .and_then(|p| segment.to_running_time(p))
                        .map_or(0, |t| t.nseconds());
                    let map = buffer.map_readable().map_err(|_| gst::FlowError::Error)?;
                    let mut r = rendered.lock().unwrap();
                    r.0.push((running, now, map.len() / 4));
                    r.1.extend_from_slice(&map);
                    Ok(gst::FlowSuccess::Ok)
                })
                .build(),
        );
    }
    let cam = pipeline
        .by_name("cam")
        .unwrap()
        .downcast::<gst_app::AppSrc>()
        .unwrap();
    pipeline.set_state(gst::State::Playing).expect("PLAYING");
    // The camera: frame i is captured at running time i / fps and pushed then.
    let clock = pipeline.clock().expect("a clock in PLAYING");
    let base = pipeline.base_time().expect("a base time in PLAYING");
    let frame_ns = 1_000_000_000u64 / a.fps as u64;
    let mut latency = None;
    for (i, frame) in data.chunks_exact(frame_bytes).enumerate() {
        let pts = gst::ClockTime::SECOND
            .mul_div_floor(i as u64, a.fps as u64)
            .unwrap();
        let id = clock.new_single_shot_id(base + pts);
        let _ = id.wait();
        let mut buffer = gst::Buffer::from_slice(frame.to_vec());
        {
            let b = buffer.get_mut().unwrap();
            b.set_pts(pts);
            b.set_duration(gst::ClockTime::from_nseconds(frame_ns));
        }
        if cam.push_buffer(buffer).is_err() {
            break;
        }
        if i == a.fps as usize {
            // What the sink waits for, asked once the stream runs.
            let mut q = gst::query::Latency::new();
            if g.static_pad("audio_src").unwrap().query(&mut q) {
                latency = Some(q.result().1);
            }
        }
    }
    let _ = cam.end_of_stream();
    let bus = pipeline.bus().unwrap();
    let mut error = None;
    for msg in bus.iter_timed(gst::ClockTime::from_seconds(60)) {
        match msg.view() {
            gst::MessageView::Eos(_) => break,
            gst::MessageView::Error(e) => {
                error = Some(e.error().to_string());
                break;
            }
            _ => {}
        }
    }
    pipeline.set_state(gst::State::Null).unwrap();
    if let Some(e) = error {
        eprintln!("pipeline error: {e}");
        std::process::exit(1);
    }
    let (rows, audio) = std::mem::take(&mut *rendered.lock().unwrap());
    std::fs::write(format!("{}.f32", a.out), &audio).expect("write soundtrack");
    let mut tsv = std::fs::File::create(format!("{}.tsv", a.out)).expect("write tsv");
    for (running, now, samples) in &rows {
        writeln!(tsv, "{running}\t{now}\t{samples}").unwrap();
    }
    println!(
        "latency {} ns; {} audio buffers, {} samples",
        latency.map_or(0, |l| l.nseconds()),
        rows.len(),
        audio.len() / 4
    );
}

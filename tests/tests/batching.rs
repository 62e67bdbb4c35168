//! `batch-window-us`: several element instances in one pipeline batch their denoiser steps and
//! each still gives exactly the output it gives with batching off.

mod common;

use common::{ep, fixture, init};
use gst::prelude::*;

/// Bytes reaching each appsink `out<i>`, and the `batched-steps` the elements reported.
struct Outcome {
    streams: Vec<Vec<u8>>,
    batched_steps: u64,
}

/// Runs `launch` (with appsinks `out0..out<n>`) to EOS.
fn run(launch: &str, n: usize) -> Outcome {
    init();
    let pipeline = gst::parse::launch(launch)
        .expect("pipeline")
        .downcast::<gst::Pipeline>()
        .unwrap();
    let got: Vec<_> = (0..n)
        .map(|i| {
            let sink = pipeline
                .by_name(&format!("out{i}"))
                .unwrap()
                .downcast::<gst_app::AppSink>()
                .unwrap();
            common::collect(&sink)
        })
        .collect();
    pipeline.set_state(gst::State::Playing).unwrap();
    let bus = pipeline.bus().unwrap();
    let mut batched_steps = 0u64;
    for msg in bus.iter_timed(gst::ClockTime::from_seconds(120)) {
        match msg.view() {
            gst::MessageView::Element(e) => {
                if let Some(s) = e.structure() {
                    if let Ok(b) = s.get::<u32>("batched-steps") {
                        batched_steps += u64::from(b);
                    }
                }
            }
            gst::MessageView::Eos(_) => break,
            gst::MessageView::Error(e) => panic!("{launch}: {}", e.error()),
            _ => {}
        }
    }
    pipeline.set_state(gst::State::Null).unwrap();
    let streams = got
        .iter()
        .map(|g| common::bytes(&g.lock().unwrap()))
        .collect();
    Outcome {
        streams,
        batched_steps,
    }
}

fn presenters(n: usize, window_us: u32) -> Outcome {
    let branches: Vec<String> = (0..n)
        .map(|i| {
            format!(
                "audiotestsrc num-buffers=20 samplesperbuffer=1600 wave=sine freq={} \
                 ! audio/x-raw,format=F32LE,rate=16000,channels=1 \
                 ! miragegen model={} seed={i} execution-provider={} batch-window-us={window_us} \
                 ! appsink name=out{i} sync=false",
                200 + 70 * i,
                fixture("presenter").display(),
                ep()
            )
        })
        .collect();
    run(&branches.join(" "), n)
}

#[test]
fn batched_presenters_give_what_each_gives_alone() {
    let alone = presenters(3, 0);
    assert_eq!(alone.batched_steps, 0);
    // A wide window: batches form even on a loaded machine.
    let batched = presenters(3, 50_000);
    assert!(
        batched.batched_steps > 0,
        "no step ran batched with another instance's"
    );
    for (i, (a, b)) in alone.streams.iter().zip(&batched.streams).enumerate() {
        assert!(!a.is_empty(), "stream {i}: no frames");
        assert!(a == b, "stream {i}: batched frames differ from unbatched");
    }
}

fn foleys(n: usize, window_us: u32) -> Outcome {
    let branches: Vec<String> = (0..n)
        .map(|i| {
            format!(
                "videotestsrc num-buffers=75 pattern=ball ! video/x-raw,width=64,height=48,framerate=25/1 \
                 ! v2agen name=g{i} model={} seed={i} prompt=rain execution-provider={} \
                 batch-window-us={window_us} g{i}.src ! fakesink g{i}.audio_src ! appsink name=out{i} sync=false",
                fixture("foley").display(),
                ep()
            )
        })
        .collect();
    run(&branches.join(" "), n)
}

#[test]
fn batched_foley_gives_what_each_gives_alone() {
    let alone = foleys(2, 0);
    let batched = foleys(2, 50_000);
    assert!(batched.batched_steps > 0, "no step ran batched");
    for (i, (a, b)) in alone.streams.iter().zip(&batched.streams).enumerate() {
        assert!(!a.is_empty(), "stream {i}: no audio");
        assert!(a == b, "stream {i}: batched audio differs from unbatched");
    }
}

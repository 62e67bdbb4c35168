//! Soak: one element in a live pipeline (a live test source, clock-synced sinks) for a given
//! time, with the process's resident memory and each sink's position sampled every 10 s. Prints
//! the samples, the RSS slope over the second half (least squares, MiB per hour: the warm-up of
//! the first half, sessions and caches filling, is not a leak) and the real-time pace (media
//! time advanced at the sinks over wall time: 1.0 keeps up).
//!
//! ```text
//! cargo bench -p gst-generative-tests --bench soak -- miragegen|v2agen [--seconds 3600] [--model DIR]
//! ```
//!
//! `scripts/soak.sh` runs both. Default models: the fixture packages (the element machinery is
//! what a soak tests; the bundled models' speed is in their own benches).

use std::time::{Duration, Instant};

use gst::prelude::*;

fn rss_mib() -> f64 {
    let statm = std::fs::read_to_string("/proc/self/statm").unwrap_or_default();
    let pages: f64 = statm
        .split_whitespace()
        .nth(1)
        .and_then(|v| v.parse().ok())
        .unwrap_or(0.0);
    pages * 4096.0 / (1024.0 * 1024.0)
}

/// Least-squares slope of `ys` over `xs`.
fn slope(xs: &[f64], ys: &[f64]) -> f64 {
    let n = xs.len() as f64;
    let (mx, my) = (xs.iter().sum::<f64>() / n, ys.iter().sum::<f64>() / n);
    let sxy: f64 = xs.iter().zip(ys).map(|(x, y)| (x - mx) * (y - my)).sum();
    let sxx: f64 = xs.iter().map(|x| (x - mx) * (x - mx)).sum();
    if sxx > 0.0 {
        sxy / sxx
    } else {
        0.0
    }
}

fn main() {
    let args: Vec<String> = std::env::args()
        .skip(1)
        .filter(|a| a != "--bench")
        .collect();
    let element = args.first().cloned().unwrap_or_else(|| "v2agen".into());
    let arg = |name: &str| {
        args.iter()
            .position(|a| a == name)
            .and_then(|i| args.get(i + 1))
            .cloned()
    };
    let seconds: u64 = arg("--seconds").and_then(|s| s.parse().ok()).unwrap_or(600);
    let fixture = if element == "miragegen" {
        "presenter"
    } else {
        "foley"
    };
    let model = gst_generative_tests::bench_model_dir(arg("--model"), fixture);

    gst::init().expect("gst init");
    gstmirage::plugin_register_static().expect("register mirage");
    gstv2a::plugin_register_static().expect("register v2a");
    let launch = match element.as_str() {
        "miragegen" => format!(
            "audiotestsrc is-live=true wave=sine freq=220 samplesperbuffer=320 \
             ! audio/x-raw,rate=16000,channels=1 ! miragegen model={model} \
             ! fakesink name=s0 sync=true"
        ),
        "v2agen" => format!(
            "videotestsrc is-live=true pattern=ball \
             ! video/x-raw,width=320,height=240,framerate=25/1 ! v2agen name=g model={model} \
             g.src ! fakesink name=s0 sync=true g.audio_src ! fakesink name=s1 sync=true"
        ),
        other => {
            eprintln!("unknown element {other}: miragegen or v2agen");
            std::process::exit(2);
        }
    };
    let pipeline = gst::parse::launch(&launch).expect("pipeline");
    let sinks: Vec<gst::Element> = ["s0", "s1"]
        .iter()
        .filter_map(|n| pipeline.downcast_ref::<gst::Bin>()?.by_name(n))
        .collect();
    let bus = pipeline.bus().unwrap();
    pipeline.set_state(gst::State::Playing).expect("PLAYING");
    let start = Instant::now();
    println!("{element} live soak for {seconds} s, model {model}");
    println!("{:>8} {:>10} sink positions s", "wall s", "RSS MiB");
    let (mut xs, mut ys) = (Vec::new(), Vec::new());
    let mut first_position: Option<(f64, f64)> = None;
    let mut last_position = (0.0, 0.0);
    let mut failed = None;
    while start.elapsed() < Duration::from_secs(seconds) {
        if let Some(msg) = bus.timed_pop_filtered(
            gst::ClockTime::from_seconds(10),
            &[gst::MessageType::Error, gst::MessageType::Eos],
        ) {
            failed = Some(format!("{msg:?}"));
            break;
        }
        let wall = start.elapsed().as_secs_f64();
        let rss = rss_mib();
        let positions: Vec<f64> = sinks
            .iter()
            .map(|s| {
                s.query_position::<gst::ClockTime>()
                    .map_or(f64::NAN, |p| p.nseconds() as f64 / 1e9)
            })
            .collect();
        let slowest = positions.iter().cloned().fold(f64::INFINITY, f64::min);
        if slowest.is_finite() {
            first_position.get_or_insert((wall, slowest));
            last_position = (wall, slowest);
        }
        println!("{wall:>8.0} {rss:>10.1} {positions:.2?}");
        xs.push(wall / 3600.0);
        ys.push(rss);
    }
    pipeline.set_state(gst::State::Null).expect("NULL");
    let half = xs.len() / 2;
    let pace = first_position.map_or(f64::NAN, |(w0, p0)| {
        (last_position.1 - p0) / (last_position.0 - w0).max(1e-9)
    });
    println!("---");
    println!(
        "{element}: {:.0} s, RSS {:.1} -> {:.1} MiB, slope over the second half {:+.2} MiB/h, real-time pace {pace:.4}",
        start.elapsed().as_secs_f64(),
        ys.first().copied().unwrap_or(0.0),
        ys.last().copied().unwrap_or(0.0),
        slope(&xs[half..], &ys[half..]),
    );
    if let Some(f) = failed {
        println!("stopped early: {f}");
        std::process::exit(1);
    }
}

//! The existing soundtrack arriving on `audio_sink`, placed on the pipeline's running time so
//! that it lines up with the video whatever the two streams' segments are.
//!
//! Samples are indexed by running time at the model's rate (`index = running_ns · rate / 1e9`).
//! A timestamp jump is filled with silence, an overlap is dropped. The generator asks for the
//! samples of each window (waiting until they have arrived, or the track ended) and says what it
//! no longer needs; the streaming thread of `audio_sink` waits while the track runs too far ahead
//! of the video, so that memory stays bounded (back-pressure, as any muxer does).

use std::collections::VecDeque;
use std::sync::{Condvar, Mutex, MutexGuard};
use std::time::{Duration, Instant};

/// Jitter up to this between expected and stamped time is not a jump (the shared time rule).
const RESYNC_NS: u64 = gst_generative_common::timeline::RESYNC_THRESHOLD.nseconds();

#[derive(Default)]
struct State {
    /// Running-time sample index of `samples[0]`.
    start: Option<u64>,
    samples: VecDeque<f32>,
    eos: bool,
    flushing: bool,
    /// Samples before this index will not be asked for again.
    needed_from: Option<u64>,
    /// Bumped by every reset (flush, new stream): a request made before it is about a timeline
    /// that is gone.
    epoch: u64,
}

impl State {
    fn end(&self) -> Option<u64> {
        self.start.map(|s| s + self.samples.len() as u64)
    }

    fn trim(&mut self) {
        if let (Some(start), Some(from)) = (self.start, self.needed_from) {
            let drop = from.saturating_sub(start).min(self.samples.len() as u64);
            self.samples.drain(..drop as usize);
            self.start = Some(start + drop);
        }
    }
}

/// Why [`ExistingTrack::push`] gave up.
#[derive(Debug, PartialEq, Eq)]
pub struct Flushing;

pub struct ExistingTrack {
    state: Mutex<State>,
    changed: Condvar,
    rate: u64,
    /// How far (samples) the track may run ahead of what the generator still needs.
    ahead: u64,
}

impl ExistingTrack {
    pub fn new(rate: u32, window: usize) -> Self {
        Self {
            state: Mutex::new(State::default()),
            changed: Condvar::new(),
            rate: u64::from(rate),
            ahead: 3 * window as u64,
        }
    }

    fn lock(&self) -> MutexGuard<'_, State> {
        self.state.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Running time (ns) to a sample index.
    pub fn index(&self, running_ns: u64) -> u64 {
        diffusion_runtime::time::Rate::per_second(self.rate).items_within_ns(running_ns)
    }

    /// Waits while the track runs more than `ahead` samples past what the generator needs.
    fn wait_room<'a>(
        &self,
        mut s: MutexGuard<'a, State>,
    ) -> Result<MutexGuard<'a, State>, Flushing> {
        loop {
            if s.flushing {
                return Err(Flushing);
            }
            let ahead = match (s.end(), s.needed_from) {
                (Some(end), Some(from)) => end.saturating_sub(from),
                _ => s.samples.len() as u64,
            };
            if ahead <= self.ahead {
                return Ok(s);
            }
            s = self
                .changed
                .wait_timeout(s, Duration::from_millis(100))
                .unwrap_or_else(|e| e.into_inner())
                .0;
        }
    }

    /// Adds mono samples whose first one plays at `running_ns` (or right after the previous ones
    /// when `None`). Waits while the track is far ahead of the generator.
    pub fn push(&self, running_ns: Option<u64>, samples: &[f32]) -> Result<(), Flushing> {
        self.place(running_ns, 0, samples)
    }

    /// `n` samples of silence at `running_ns` (a GAP event).
    pub fn push_silence(&self, running_ns: Option<u64>, n: u64) -> Result<(), Flushing> {
        self.place(running_ns, n, &[])
    }

    /// Places `zeros` silent samples then `samples` at `running_ns`: a jump forward is filled
    /// with silence, an overlap is dropped. Everything goes in pieces of at most `ahead`
    /// samples, each waiting for room, so that a long gap never piles up in memory.
    fn place(&self, running_ns: Option<u64>, zeros: u64, samples: &[f32]) -> Result<(), Flushing> {
        let mut s = self.wait_room(self.lock())?;
        let at = running_ns.map(|ns| self.index(ns));
        let resync = self.index(RESYNC_NS);
        let (mut zeros, mut samples) = (zeros, samples);
        match (s.end(), at) {
            (None, at) => s.start = Some(at.unwrap_or(0)),
            (Some(end), Some(at)) if at > end + resync => zeros += at - end,
            (Some(end), Some(at)) if at + resync < end => {
                // Overlap: drop what is already there (silence first, then samples).
                let mut overlap = end - at;
                let z = overlap.min(zeros);
                zeros -= z;
                overlap -= z;
                samples = &samples[(overlap as usize).min(samples.len())..];
            }
            _ => {}
        }
        let piece = self.ahead.max(1);
        while zeros > 0 {
            let n = zeros.min(piece);
            s = self.wait_room(s)?;
            s.samples.extend(std::iter::repeat_n(0.0, n as usize));
            s.trim();
            zeros -= n;
            self.changed.notify_all();
        }
        for chunk in samples.chunks(piece as usize) {
            s = self.wait_room(s)?;
            s.samples.extend(chunk.iter().copied());
            s.trim();
            self.changed.notify_all();
        }
        Ok(())
    }

    /// The track ended (EOS, or the pad went away): windows past its end get silence.
    pub fn set_eos(&self) {
        self.lock().eos = true;
        self.changed.notify_all();
    }

    pub fn flush_start(&self) {
        let mut s = self.lock();
        s.flushing = true;
        s.samples.clear();
        s.start = None;
        self.changed.notify_all();
    }

    /// Back to empty and accepting samples (flush stop, new stream). Running time starts over
    /// after a flush, so what the generator needed before means nothing now.
    pub fn reset(&self) {
        let mut s = self.lock();
        let epoch = s.epoch + 1;
        *s = State {
            epoch,
            ..State::default()
        };
        self.changed.notify_all();
    }

    /// The current reset count (see [`release_before_in`](Self::release_before_in)).
    pub fn epoch(&self) -> u64 {
        self.lock().epoch
    }

    /// The generator needs nothing before `index` any more.
    pub fn release_before(&self, index: u64) {
        let epoch = self.epoch();
        self.release_before_in(index, epoch);
    }

    /// As [`release_before`](Self::release_before), unless the track was reset since `epoch`
    /// (a window finishing after the existing soundtrack was flushed must not trim the new one).
    pub fn release_before_in(&self, index: u64, epoch: u64) {
        let mut s = self.lock();
        if s.epoch != epoch {
            return;
        }
        s.needed_from = Some(index);
        s.trim();
        self.changed.notify_all();
    }

    /// `len` samples from `from`, once they have arrived or the track ended (silence where there
    /// is none). Gives up at `deadline` (live: what is there by then, silence for the rest), when
    /// `cancelled` says so (flush), or when no sample has arrived for `stall`.
    pub fn window(
        &self,
        from: u64,
        len: usize,
        deadline: Option<Instant>,
        stall: Option<Duration>,
        cancelled: impl Fn() -> bool,
    ) -> Wait {
        let to = from + len as u64;
        let mut s = self.lock();
        let epoch = s.epoch;
        let mut progress = (s.end(), Instant::now());
        loop {
            if cancelled() {
                return Wait::Cancelled;
            }
            if s.epoch != epoch {
                // Reset while waiting: this window belongs to a timeline that is gone.
                return Wait::Samples(vec![0.0; len]);
            }
            let covered = s.end().is_some_and(|e| e >= to);
            if covered || s.eos || deadline.is_some_and(|d| Instant::now() >= d) {
                break;
            }
            if s.end() != progress.0 {
                progress = (s.end(), Instant::now());
            } else if stall.is_some_and(|d| progress.1.elapsed() >= d) {
                return Wait::Stalled { have: s.end() };
            }
            s = self
                .changed
                .wait_timeout(s, Duration::from_millis(20))
                .unwrap_or_else(|e| e.into_inner())
                .0;
        }
        let mut out = vec![0.0f32; len];
        if let Some(start) = s.start {
            for (i, o) in out.iter_mut().enumerate() {
                let idx = from + i as u64;
                if idx >= start {
                    if let Some(v) = s.samples.get((idx - start) as usize) {
                        *o = *v;
                    }
                }
            }
        }
        Wait::Samples(out)
    }
}

/// What [`ExistingTrack::window`] ended with.
#[derive(Debug, PartialEq)]
pub enum Wait {
    Samples(Vec<f32>),
    Cancelled,
    /// Nothing arrived for the stall time; the track ends at sample `have` (none yet: `None`).
    Stalled {
        have: Option<u64>,
    },
}

impl Wait {
    #[cfg(test)]
    fn unwrap(self) -> Vec<f32> {
        match self {
            Wait::Samples(s) => s,
            other => panic!("expected samples, got {other:?}"),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn places_samples_on_running_time() {
        let t = ExistingTrack::new(1000, 100);
        // 5 samples at 10 ms (index 10), then 5 more continuing, then a jump to 100 ms.
        t.push(Some(10_000_000), &[1.0; 5]).unwrap();
        t.push(None, &[2.0; 5]).unwrap();
        t.push(Some(100_000_000), &[3.0; 2]).unwrap();
        t.set_eos();
        let w = t.window(8, 6, None, None, || false).unwrap();
        assert_eq!(w, vec![0.0, 0.0, 1.0, 1.0, 1.0, 1.0]);
        let w = t.window(98, 6, None, None, || false).unwrap();
        assert_eq!(w, vec![0.0, 0.0, 3.0, 3.0, 0.0, 0.0]);
        // Released samples are gone.
        t.release_before(100);
        assert_eq!(
            t.window(14, 2, None, None, || false).unwrap(),
            vec![0.0, 0.0]
        );
    }

    #[test]
    fn overlap_is_dropped_and_flush_cancels() {
        let t = ExistingTrack::new(1000, 100);
        t.push(Some(0), &[1.0; 100]).unwrap();
        t.push(Some(50_000_000), &[2.0; 100]).unwrap();
        t.set_eos();
        let w = t.window(99, 3, None, None, || false).unwrap();
        assert_eq!(w, vec![1.0, 2.0, 2.0]);
        t.flush_start();
        assert_eq!(t.push(Some(0), &[1.0]), Err(Flushing));
        assert_eq!(t.window(0, 1, None, None, || true), Wait::Cancelled);
    }

    /// A long gap goes in pieces, each waiting for the generator to need it.
    #[test]
    fn long_gaps_wait_for_room() {
        let t = std::sync::Arc::new(ExistingTrack::new(1000, 10));
        t.release_before(0);
        t.push(Some(0), &[1.0; 5]).unwrap();
        let pusher = {
            let t = t.clone();
            std::thread::spawn(move || t.push_silence(None, 1_000).unwrap())
        };
        std::thread::sleep(Duration::from_millis(50));
        assert!(
            !pusher.is_finished(),
            "1000 samples cannot all fit 30 ahead"
        );
        let mut from = 0;
        while !pusher.is_finished() {
            from += 10;
            t.release_before(from);
            std::thread::sleep(Duration::from_millis(1));
        }
        pusher.join().unwrap();
        t.set_eos();
        assert_eq!(
            t.window(1_000, 5, None, None, || false).unwrap(),
            vec![0.0, 0.0, 0.0, 0.0, 0.0]
        );
    }

    #[test]
    fn waits_for_the_window_until_the_deadline() {
        let t = ExistingTrack::new(1000, 10);
        t.push(Some(0), &[1.0; 5]).unwrap();
        let start = Instant::now();
        let w = t
            .window(0, 10, Some(start + Duration::from_millis(50)), None, || {
                false
            })
            .unwrap();
        assert!(start.elapsed() >= Duration::from_millis(50));
        assert_eq!(&w[3..7], &[1.0, 1.0, 0.0, 0.0]);
    }

    /// A track that stops growing before the window is covered is reported, not waited for
    /// forever.
    #[test]
    fn a_track_that_stops_arriving_is_reported_as_stalled() {
        let t = ExistingTrack::new(1000, 10);
        t.push(Some(0), &[1.0; 5]).unwrap();
        let start = Instant::now();
        let w = t.window(0, 10, None, Some(Duration::from_millis(60)), || false);
        assert_eq!(w, Wait::Stalled { have: Some(5) });
        assert!(start.elapsed() >= Duration::from_millis(60));
        let empty = ExistingTrack::new(1000, 10);
        let w = empty.window(0, 10, None, Some(Duration::from_millis(10)), || false);
        assert_eq!(w, Wait::Stalled { have: None });
    }
}

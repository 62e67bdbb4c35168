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

/// Jitter below this many ns between expected and stamped time is not a jump.
const RESYNC_NS: u64 = 40_000_000;

#[derive(Default)]
struct State {
    /// Running-time sample index of `samples[0]`.
    start: Option<u64>,
    samples: VecDeque<f32>,
    eos: bool,
    flushing: bool,
    /// Samples before this index will not be asked for again.
    needed_from: Option<u64>,
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
        diffusion_runtime::time::mul_div_floor(running_ns, self.rate, 1_000_000_000)
            .unwrap_or(u64::MAX)
    }

    /// Adds mono samples whose first one plays at `running_ns` (or right after the previous ones
    /// when `None`). Waits while the track is far ahead of the generator.
    pub fn push(&self, running_ns: Option<u64>, samples: &[f32]) -> Result<(), Flushing> {
        let mut s = self.lock();
        loop {
            if s.flushing {
                return Err(Flushing);
            }
            let ahead = match (s.end(), s.needed_from) {
                (Some(end), Some(from)) => end.saturating_sub(from),
                _ => s.samples.len() as u64,
            };
            if ahead <= self.ahead {
                break;
            }
            s = self
                .changed
                .wait_timeout(s, Duration::from_millis(100))
                .unwrap_or_else(|e| e.into_inner())
                .0;
        }
        let at = running_ns.map(|ns| self.index(ns));
        let mut samples = samples;
        match (s.end(), at) {
            (None, at) => s.start = Some(at.unwrap_or(0)),
            (Some(end), Some(at)) if at > end + self.index(RESYNC_NS) => {
                let gap = (at - end) as usize;
                s.samples.extend(std::iter::repeat_n(0.0, gap));
            }
            (Some(end), Some(at)) if at + self.index(RESYNC_NS) < end => {
                let overlap = ((end - at) as usize).min(samples.len());
                samples = &samples[overlap..];
            }
            _ => {}
        }
        s.samples.extend(samples.iter().copied());
        s.trim();
        self.changed.notify_all();
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

    /// Back to empty and accepting samples (flush stop, new stream).
    pub fn reset(&self) {
        let mut s = self.lock();
        let needed_from = s.needed_from;
        *s = State {
            needed_from,
            ..State::default()
        };
        self.changed.notify_all();
    }

    /// The generator needs nothing before `index` any more.
    pub fn release_before(&self, index: u64) {
        let mut s = self.lock();
        s.needed_from = Some(index);
        s.trim();
        self.changed.notify_all();
    }

    /// `len` samples from `from`, once they have arrived or the track ended (silence where there
    /// is none). Gives up at `deadline` (live: what is there by then, silence for the rest) or
    /// when `cancelled` says so (flush): `None`.
    pub fn window(
        &self,
        from: u64,
        len: usize,
        deadline: Option<Instant>,
        cancelled: impl Fn() -> bool,
    ) -> Option<Vec<f32>> {
        let to = from + len as u64;
        let mut s = self.lock();
        loop {
            if cancelled() {
                return None;
            }
            let covered = s.end().is_some_and(|e| e >= to);
            if covered || s.eos || deadline.is_some_and(|d| Instant::now() >= d) {
                break;
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
        Some(out)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn places_samples_on_running_time() {
        let t = ExistingTrack::new(1000, 10);
        // 5 samples at 10 ms (index 10), then 5 more continuing, then a jump to 100 ms.
        t.push(Some(10_000_000), &[1.0; 5]).unwrap();
        t.push(None, &[2.0; 5]).unwrap();
        t.push(Some(100_000_000), &[3.0; 2]).unwrap();
        t.set_eos();
        let w = t.window(8, 6, None, || false).unwrap();
        assert_eq!(w, vec![0.0, 0.0, 1.0, 1.0, 1.0, 1.0]);
        let w = t.window(98, 6, None, || false).unwrap();
        assert_eq!(w, vec![0.0, 0.0, 3.0, 3.0, 0.0, 0.0]);
        // Released samples are gone.
        t.release_before(100);
        assert_eq!(t.window(14, 2, None, || false).unwrap(), vec![0.0, 0.0]);
    }

    #[test]
    fn overlap_is_dropped_and_flush_cancels() {
        let t = ExistingTrack::new(1000, 10);
        t.push(Some(0), &[1.0; 100]).unwrap();
        t.push(Some(50_000_000), &[2.0; 100]).unwrap();
        t.set_eos();
        let w = t.window(99, 3, None, || false).unwrap();
        assert_eq!(w, vec![1.0, 2.0, 2.0]);
        t.flush_start();
        assert_eq!(t.push(Some(0), &[1.0]), Err(Flushing));
        assert!(t.window(0, 1, None, || true).is_none());
    }

    #[test]
    fn waits_for_the_window_until_the_deadline() {
        let t = ExistingTrack::new(1000, 10);
        t.push(Some(0), &[1.0; 5]).unwrap();
        let start = Instant::now();
        let w = t
            .window(0, 10, Some(start + Duration::from_millis(50)), || false)
            .unwrap();
        assert!(start.elapsed() >= Duration::from_millis(50));
        assert_eq!(&w[3..7], &[1.0, 1.0, 0.0, 0.0]);
    }
}

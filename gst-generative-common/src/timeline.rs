//! Time rules both elements apply to their input the same way: what a timestamp that is not where
//! the counted samples (or the previous frame) predict means, how far a hole is filled, and which
//! timestamps are refused.
//!
//! - A difference of at most [`RESYNC_THRESHOLD`] (40 ms, the alignment threshold audio sinks
//!   use) is jitter: the counted position wins.
//! - A hole up to [`MAX_FILL`] (30 s) is filled (silence in miragegen's input, generated sound
//!   under the last frame in v2agen): idle output, never missing output.
//! - A jump of more than [`MAX_FILL`], forward or backward, ends the timeline and starts a new
//!   one at the new timestamp, so that no input can make the element generate (or hold in
//!   memory) unbounded stretches of time.
//! - Timestamps from [`MAX_TIMESTAMP`] (2⁶² ns, 146 years) on are refused with an error: running
//!   time, base time and latency are added in signed 64-bit arithmetic downstream (clock waits,
//!   QoS), so such a stream cannot be played in sync and would block synced sinks.

use diffusion_runtime::time::Rate;
use gst::ClockTime;

/// Differences up to this are jitter, not a jump.
pub const RESYNC_THRESHOLD: ClockTime = ClockTime::from_mseconds(40);
/// Longest hole filled; a longer jump starts a new timeline.
pub const MAX_FILL: ClockTime = ClockTime::from_seconds(30);
/// First timestamp refused (2⁶² ns).
pub const MAX_TIMESTAMP: ClockTime = ClockTime::from_nseconds(1 << 62);

/// What a timestamp means for a timeline that expected the next item at some time.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Step {
    /// Where expected (within [`RESYNC_THRESHOLD`]).
    InPlace,
    /// Later than expected by this much (at most [`MAX_FILL`]): fill the hole.
    Hole(ClockTime),
    /// Earlier than expected by this much (at most [`MAX_FILL`]): the overlap is dropped.
    Overlap(ClockTime),
    /// More than [`MAX_FILL`] away: a new timeline starts here.
    Jump,
}

/// Classifies timestamp `at` against the `expected` one (see the module doc).
pub fn step(expected: ClockTime, at: ClockTime) -> Step {
    if at > expected.saturating_add(RESYNC_THRESHOLD) {
        let hole = at - expected;
        if hole > MAX_FILL {
            Step::Jump
        } else {
            Step::Hole(hole)
        }
    } else if at.saturating_add(RESYNC_THRESHOLD) < expected {
        let overlap = expected - at;
        if overlap > MAX_FILL {
            Step::Jump
        } else {
            Step::Overlap(overlap)
        }
    } else {
        Step::InPlace
    }
}

/// `Err` with a message for a timestamp (or end of a buffer) at or past [`MAX_TIMESTAMP`].
pub fn check_timestamp(what: &str, t: ClockTime) -> Result<(), String> {
    if t >= MAX_TIMESTAMP {
        Err(format!(
            "{what} {t} is at or past {MAX_TIMESTAMP} (2^62 ns): no clock can play it in sync; fix the timestamps upstream (for example with a new segment)"
        ))
    } else {
        Ok(())
    }
}

/// Timestamp of item `n` (a sample, a frame) counted at `rate` from `base` (exact, saturating).
pub fn item_time(base: ClockTime, rate: Rate, n: u64) -> ClockTime {
    base.saturating_add(ClockTime::from_nseconds(rate.ns_at(n)))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn jitter_holes_overlaps_and_jumps() {
        let ms = ClockTime::from_mseconds;
        assert_eq!(step(ms(1000), ms(1040)), Step::InPlace);
        assert_eq!(step(ms(1000), ms(960)), Step::InPlace);
        assert_eq!(step(ms(1000), ms(1041)), Step::Hole(ms(41)));
        assert_eq!(step(ms(1000), ms(959)), Step::Overlap(ms(41)));
        assert_eq!(step(ms(0), MAX_FILL), Step::Hole(MAX_FILL));
        assert_eq!(step(ms(0), MAX_FILL + ClockTime::NSECOND), Step::Jump);
        assert_eq!(step(MAX_FILL + ms(41), ms(40)), Step::Jump);
        assert_eq!(step(ms(0), ClockTime::MAX), Step::Jump);
    }

    #[test]
    fn timestamps_near_the_end_of_time_are_refused() {
        assert!(check_timestamp("pts", MAX_TIMESTAMP - ClockTime::NSECOND).is_ok());
        let e = check_timestamp("pts", ClockTime::MAX).unwrap_err();
        assert!(
            e.starts_with("pts 5124095:34:33.709551614 is at or past"),
            "{e}"
        );
    }

    #[test]
    fn items_are_placed_on_the_base_exactly() {
        let ntsc = Rate::new(30_000, 1001);
        let base = ClockTime::from_seconds(5);
        assert_eq!(item_time(base, ntsc, 30_000), ClockTime::from_seconds(1006));
        assert_eq!(item_time(ClockTime::MAX, ntsc, 5), ClockTime::MAX);
    }
}

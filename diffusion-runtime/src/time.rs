//! Exact integer time arithmetic: timestamps come from counted samples/frames, never from summed
//! rounded durations.

/// `a * b / c` rounded down, computed in 128 bits so that it cannot overflow for any `u64` inputs.
/// Returns `None` if `c` is zero or the result does not fit in a `u64`.
pub fn mul_div_floor(a: u64, b: u64, c: u64) -> Option<u64> {
    if c == 0 {
        return None;
    }
    u64::try_from(u128::from(a) * u128::from(b) / u128::from(c)).ok()
}

/// `a * b / c` rounded up; see [`mul_div_floor`].
pub fn mul_div_ceil(a: u64, b: u64, c: u64) -> Option<u64> {
    if c == 0 {
        return None;
    }
    let n = u128::from(a) * u128::from(b);
    u64::try_from(n.div_ceil(u128::from(c))).ok()
}

/// A rational rate such as a frame rate (`25/1`, `30000/1001`) or a sample rate (`16000/1`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct Rate {
    pub num: u64,
    pub den: u64,
}

impl Rate {
    pub const fn new(num: u64, den: u64) -> Self {
        Self { num, den }
    }

    /// Parses `"25/1"`, `"30000/1001"` or `"25"`; both parts must be in 1..=u32::MAX.
    pub fn parse(s: &str) -> Option<Self> {
        let (n, d) = match s.split_once('/') {
            Some((n, d)) => (n.trim().parse().ok()?, d.trim().parse().ok()?),
            None => (s.trim().parse().ok()?, 1),
        };
        // Bounded so that `1e9 · den` and `n · num` stay inside 64 bits.
        let ok = |v: u64| v > 0 && v <= u64::from(u32::MAX);
        (ok(n) && ok(d)).then_some(Self::new(n, d))
    }

    /// Nanoseconds at which item `n` starts (item 0 at 0), rounded down.
    pub fn item_start_ns(&self, n: u64) -> Option<u64> {
        mul_div_floor(n, 1_000_000_000 * self.den, self.num)
    }

    /// Number of items needed to cover `ns` nanoseconds, rounded up.
    pub fn items_covering_ns(&self, ns: u64) -> Option<u64> {
        mul_div_ceil(ns, self.num, 1_000_000_000 * self.den)
    }

    /// `rate` items per second (an audio sample rate).
    pub const fn per_second(rate: u64) -> Self {
        Self::new(rate, 1)
    }

    /// [`item_start_ns`](Self::item_start_ns), saturating at `u64::MAX` instead of `None` (for
    /// timestamps, which saturate anyway).
    pub fn ns_at(&self, n: u64) -> u64 {
        self.item_start_ns(n).unwrap_or(u64::MAX)
    }

    /// Items that start within `ns` nanoseconds (rounded down; saturating).
    pub fn items_within_ns(&self, ns: u64) -> u64 {
        mul_div_floor(ns, self.num, 1_000_000_000 * self.den).unwrap_or(u64::MAX)
    }

    pub fn as_f64(&self) -> f64 {
        self.num as f64 / self.den as f64
    }
}

impl std::fmt::Display for Rate {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}/{}", self.num, self.den)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn mul_div_rounds_and_does_not_overflow() {
        assert_eq!(mul_div_floor(480, 1_000_000_000, 48_000), Some(10_000_000));
        assert_eq!(mul_div_floor(1, 1, 3), Some(0));
        assert_eq!(mul_div_ceil(1, 1, 3), Some(1));
        assert_eq!(mul_div_ceil(6, 1, 3), Some(2));
        assert_eq!(mul_div_floor(u64::MAX, u64::MAX, u64::MAX), Some(u64::MAX));
        assert_eq!(mul_div_floor(u64::MAX, 2, 1), None);
        assert_eq!(mul_div_floor(1, 1, 0), None);
    }

    #[test]
    fn rate_parses_and_places_items_exactly() {
        let ntsc = Rate::parse("30000/1001").unwrap();
        // Frame 30000 starts at exactly 1001 s: no accumulated rounding.
        assert_eq!(ntsc.item_start_ns(30_000), Some(1_001_000_000_000));
        assert_eq!(Rate::parse("25"), Some(Rate::new(25, 1)));
        assert_eq!(Rate::parse("0/1"), None);
        assert_eq!(Rate::parse("25/x"), None);
        assert_eq!(Rate::parse("1/99999999999"), None);
        // 1 s of 16 kHz audio at 25 fps: exactly 25 frames; one more sample needs a 26th.
        let fps = Rate::new(25, 1);
        assert_eq!(fps.items_covering_ns(1_000_000_000), Some(25));
        assert_eq!(fps.items_covering_ns(1_000_062_500), Some(26));
        // Sample counting: exact, floor, and saturating rather than failing.
        let audio = Rate::per_second(16_000);
        assert_eq!(audio.ns_at(16_000), 1_000_000_000);
        assert_eq!(audio.items_within_ns(62_500), 1);
        assert_eq!(audio.items_within_ns(62_499), 0);
        assert_eq!(audio.ns_at(u64::MAX), u64::MAX);
    }
}

//! The latency query both elements answer on their src pads: what upstream reports plus the
//! latency the element adds (its algorithmic window and a processing budget).

use gst::prelude::*;

/// What upstream reported, combined over the element's sink pads.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Upstream {
    pub live: bool,
    pub min: gst::ClockTime,
    pub max: Option<gst::ClockTime>,
}

/// Asks upstream of `required` (which must answer) and of each linked pad in `optional` (an
/// existing soundtrack's path may be slower than the main input's): live if any is, the largest
/// minimum, the tightest known maximum.
pub fn query_upstream(required: &gst::Pad, optional: &[gst::Pad]) -> Option<Upstream> {
    let mut q = gst::query::Latency::new();
    if !required.peer_query(&mut q) {
        return None;
    }
    let (mut live, mut min, mut max) = q.result();
    for pad in optional.iter().filter(|p| p.is_linked()) {
        let mut q = gst::query::Latency::new();
        if pad.peer_query(&mut q) {
            let (l, mn, mx) = q.result();
            live |= l;
            min = min.max(mn);
            max = match (max, mx) {
                (Some(a), Some(b)) => Some(a.min(b)),
                (a, b) => a.or(b),
            };
        }
    }
    Some(Upstream { live, min, max })
}

/// Answers `query` with `upstream` plus `ours`.
pub fn answer(query: &mut gst::query::Latency, upstream: Upstream, ours: gst::ClockTime) {
    query.set(
        upstream.live,
        upstream.min.saturating_add(ours),
        upstream.max.map(|m| m.saturating_add(ours)),
    );
}

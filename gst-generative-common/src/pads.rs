//! Small pad-side helpers both elements use for queries and statistics.

use gst::prelude::*;

/// The answer to a caps query for a pad that can produce or take `ours`: restricted to the
/// query's filter, in the filter's order of preference.
pub fn filtered_caps(ours: &gst::Caps, filter: Option<&gst::CapsRef>) -> gst::Caps {
    match filter {
        Some(f) => f.intersect_with_mode(ours, gst::CapsIntersectMode::First),
        None => ours.clone(),
    }
}

/// Logs a statistics structure and posts it as an element message from `element`.
pub fn post_stats(element: &gst::Element, cat: gst::DebugCategory, s: gst::Structure) {
    gst::debug!(cat, obj = element, "{s}");
    let _ = element.post_message(gst::message::Element::builder(s).src(element).build());
}

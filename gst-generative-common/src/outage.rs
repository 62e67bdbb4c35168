//! Inference-server outages in live pipelines: each element keeps going in its own way (a held
//! frame, silence), and both say so the same way — one warning when an outage starts, one log
//! line when the server answers again.

use std::fmt::Display;

/// Whether an outage is under way.
#[derive(Debug, Default)]
pub struct Outage {
    active: bool,
}

impl Outage {
    /// The server could not be used for `error`: a warning the first time in an outage, saying
    /// what the element does meanwhile (`meanwhile`).
    pub fn failed(&mut self, element: &gst::Element, error: &dyn Display, meanwhile: &str) {
        if !std::mem::replace(&mut self.active, true) {
            gst::element_warning!(element, gst::ResourceError::Read, ["{error}: {meanwhile}"]);
        }
    }

    /// The server answered (`what` it did): ends an outage, if one was under way, with a log
    /// line.
    pub fn answered(&mut self, element: &gst::Element, cat: gst::DebugCategory, what: &str) {
        if std::mem::take(&mut self.active) {
            gst::info!(cat, obj = element, "inference server back: {what}");
        }
    }
}

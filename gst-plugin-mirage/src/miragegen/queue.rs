//! Work for miragegen's generator thread (the queues themselves are shared:
//! `gst_generative_common::queue`).

use diffusion_runtime::a2v::ScheduledChunk;
use gst_generative_common::queue::Queued;

/// Work for the generator thread.
pub enum Item {
    /// A serialized event to pass on in order.
    Event(gst::Event),
    /// A chunk to generate, with the timeline it belongs to.
    Chunk {
        chunk: ScheduledChunk,
        base: gst::ClockTime,
    },
    /// Start a new stream: the generator goes back to rest (new timeline, after a drain).
    Reset,
}

impl Queued for Item {
    fn heavy(&self) -> bool {
        matches!(self, Item::Chunk { .. })
    }
    fn event(&self) -> Option<&gst::Event> {
        match self {
            Item::Event(e) => Some(e),
            _ => None,
        }
    }
}

//! Work for v2agen's generator thread, queued in stream order by the sink pad's streaming thread
//! (the queues themselves are shared: `gst_generative_common::queue`).

use gst_generative_common::queue::Queued;

use super::frames::Frame;

pub enum Item {
    /// A serialized event of the video stream, passed on `src` in order (and its audio
    /// counterpart on `audio_src` where there is one).
    Event(gst::Event),
    /// A video buffer, passed on `src` once the audio up to its timestamp exists.
    Video(gst::Buffer),
    /// A new timeline: its first video timestamp, and that timestamp as running time (where the
    /// existing soundtrack is looked up).
    Start {
        base: gst::ClockTime,
        base_running: gst::ClockTime,
    },
    /// A window whose video has all arrived: for each encoder, the frames it picked.
    Window {
        index: u64,
        picked: Vec<Vec<(u64, Frame)>>,
        /// Samples the timeline has in all, once known (`u64::MAX` before).
        limit: u64,
    },
    /// The timeline ends after `total` samples: emit the rest and release all video.
    Finish { total: u64 },
}

impl Queued for Item {
    fn heavy(&self) -> bool {
        matches!(self, Item::Window { .. })
    }
    fn event(&self) -> Option<&gst::Event> {
        match self {
            Item::Event(e) => Some(e),
            _ => None,
        }
    }
}

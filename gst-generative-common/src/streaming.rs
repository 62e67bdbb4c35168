//! The threads of a generating element and their lifecycle, the same in both elements: the work
//! queue the sink side fills, the generator thread that empties it, and the src pads pushed by
//! their tasks ([`Outlets`]).
//!
//! - READY→PAUSED ([`Streaming::start`], after the element built its stream state): the work
//!   queue accepts items and the generator thread starts; the pads then activate, which starts
//!   their tasks.
//! - PAUSED→READY, before the pads deactivate ([`Streaming::begin_stop`]): the generator is
//!   asked to stop and drops what it works on; every queue refuses work and wakes its waiters,
//!   so no streaming thread, task or generator step is left waiting on one.
//! - PAUSED→READY, after the pads deactivated ([`Streaming::finish_stop`]): the generator is
//!   joined and the work queue emptied, sticky events included (nothing of this stream reaches
//!   the next one).

use std::sync::Arc;

use gst::glib;
use gst::prelude::*;

use crate::outlet::Outlets;
use crate::queue::{Queue, Queued};
use crate::worker::Worker;

pub struct Streaming<T: Queued> {
    /// Work for the generator thread, from the sink side.
    pub work: Arc<Queue<T>>,
    /// The src pads, their queues and tasks.
    pub outlets: Outlets,
    pub worker: Worker,
}

impl<T: Queued + Send + 'static> Streaming<T> {
    /// `pads`: as for [`Outlets::new`]; `work_capacity`: heavy items (chunks, windows) queued
    /// for the generator at most (back-pressure on upstream).
    pub fn new(
        work_capacity: usize,
        pads: Vec<(gst::Pad, usize, &'static str)>,
        cat: gst::DebugCategory,
    ) -> Self {
        let work = Arc::new(Queue::new(work_capacity));
        let outlets = Outlets::new(pads, work.clone(), cat);
        Self {
            work,
            outlets,
            worker: Worker::default(),
        }
    }

    /// READY→PAUSED: accept work and start the generator thread (`<element name>-gen`), which
    /// calls `step` in a loop.
    pub fn start<O>(&self, element: &O, step: fn(&O)) -> Result<(), gst::ErrorMessage>
    where
        O: IsA<gst::Element> + IsA<gst::Object> + IsA<glib::Object> + Send + Sync,
    {
        self.work.start();
        self.worker
            .start(&format!("{}-gen", element.name()), element, step)
            .map_err(|e| {
                gst::error_msg!(
                    gst::CoreError::StateChange,
                    ("cannot start the generator thread: {e}")
                )
            })
    }

    /// PAUSED→READY, before the pads deactivate (see the module doc).
    pub fn begin_stop(&self) {
        self.worker.request_stop();
        self.work.set_flushing();
        self.outlets.set_flushing();
    }

    /// PAUSED→READY, after the pads deactivated; also when READY→PAUSED failed after
    /// [`start`](Self::start).
    pub fn finish_stop(&self) {
        self.worker.stop();
        self.work.stop();
    }
}

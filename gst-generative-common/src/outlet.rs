//! An element's src pads, each pushed by its own pad task from its own bounded queue, with the
//! pads' flow returns combined by `gst_base::UniqueFlowCombiner`: a pad whose downstream is
//! unlinked or done (EOS) drops its output while another pad still flows (as a demuxer does), and
//! the producer hears `NotLinked`/`Eos` only when every pad says so. A clock-synced sink on one
//! pad never starves another, and the generator never waits on a sink.

use std::sync::{Arc, Mutex};
use std::time::Duration;

use gst::glib;
use gst::prelude::*;

use crate::queue::{Out, Popped, Queue};

/// Where a combined downstream flow return goes: the producer's work queue, so that the sink
/// pad's streaming thread returns it upstream (and stops waiting for room).
pub trait FlowSink: Send + Sync {
    fn set_flow(&self, flow: Result<gst::FlowSuccess, gst::FlowError>);
}

/// One src pad and the queue its task pushes from.
pub struct Outlet {
    pub pad: gst::Pad,
    pub queue: Queue<Out>,
    /// The converter to insert after this pad when downstream refuses its caps.
    convert: &'static str,
}

struct Shared {
    outlets: Vec<Outlet>,
    combiner: Mutex<gst_base::UniqueFlowCombiner>,
    producer: Arc<dyn FlowSink>,
    cat: gst::DebugCategory,
}

/// The src pads of an element (see the module doc).
#[derive(Clone)]
pub struct Outlets(Arc<Shared>);

/// How long a pad task waits for output before it checks again whether it should stop.
const POP_WAIT: Duration = Duration::from_millis(100);

impl Outlets {
    /// `pads`: each src pad with its queue capacity (in buffers) and the converter that fixes a
    /// downstream that refuses its caps (`"videoconvert"`, `"audioconvert ! audioresample"`).
    pub fn new(
        pads: Vec<(gst::Pad, usize, &'static str)>,
        producer: Arc<dyn FlowSink>,
        cat: gst::DebugCategory,
    ) -> Self {
        let mut combiner = gst_base::UniqueFlowCombiner::new();
        let outlets = pads
            .into_iter()
            .map(|(pad, capacity, convert)| {
                combiner.add_pad(&pad);
                Outlet {
                    pad,
                    queue: Queue::new(capacity),
                    convert,
                }
            })
            .collect();
        Self(Arc::new(Shared {
            outlets,
            combiner: Mutex::new(combiner),
            producer,
            cat,
        }))
    }

    pub fn get(&self, index: usize) -> &Outlet {
        &self.0.outlets[index]
    }

    /// `Err(NotLinked)` when no src pad is linked: the sink pad returns it at once, so that
    /// upstream posts its not-linked error instead of feeding an element whose output nobody
    /// takes (whose first push may lie a whole window of input away, after upstream finished).
    pub fn check_linked(&self) -> Result<gst::FlowSuccess, gst::FlowError> {
        if self.0.outlets.iter().any(|o| o.pad.is_linked()) {
            Ok(gst::FlowSuccess::Ok)
        } else {
            Err(gst::FlowError::NotLinked)
        }
    }

    fn index_of(&self, pad: &gst::Pad) -> Option<usize> {
        self.0.outlets.iter().position(|o| o.pad == *pad)
    }

    /// The activate-mode function of every src pad: push mode only; activation starts the pad's
    /// task, deactivation drops what is queued and stops it.
    pub fn activate(
        &self,
        pad: &gst::Pad,
        mode: gst::PadMode,
        active: bool,
    ) -> Result<(), gst::LoggableError> {
        let cat = self.0.cat;
        if mode != gst::PadMode::Push {
            return Err(gst::loggable_error!(cat, "src pads work in push mode only"));
        }
        let Some(i) = self.index_of(pad) else {
            return Err(gst::loggable_error!(
                cat,
                "not one of this element's src pads"
            ));
        };
        let queue = &self.0.outlets[i].queue;
        if active {
            queue.start();
            self.lock_combiner().reset();
            self.start_task(i)
                .map_err(|_| gst::loggable_error!(cat, "cannot start the task of {}", pad.name()))
        } else {
            queue.stop();
            pad.stop_task()
                .map_err(|_| gst::loggable_error!(cat, "cannot stop the task of {}", pad.name()))
        }
    }

    fn lock_combiner(&self) -> std::sync::MutexGuard<'_, gst_base::UniqueFlowCombiner> {
        self.0.combiner.lock().unwrap_or_else(|e| e.into_inner())
    }

    fn start_task(&self, i: usize) -> Result<(), glib::BoolError> {
        let pad = &self.0.outlets[i].pad;
        if !pad.is_active() {
            return Ok(()); // deactivated meanwhile: nothing to push
        }
        let this = self.clone();
        pad.start_task(move || this.push_next(i))
    }

    /// Flush start: every queue drops what it holds, the event goes to every pad, and the tasks
    /// pause (they wake from their queue at once).
    pub fn flush_start(&self, event: &gst::Event) -> bool {
        let mut ok = true;
        for o in &self.0.outlets {
            o.queue.set_flushing();
        }
        for o in &self.0.outlets {
            ok &= o.pad.push_event(event.clone());
            let _ = o.pad.pause_task();
        }
        ok
    }

    /// Flush stop: the event goes to every pad, the flows start over, the tasks restart.
    pub fn flush_stop(&self, event: &gst::Event) -> bool {
        let mut ok = true;
        for o in &self.0.outlets {
            ok &= o.pad.push_event(event.clone());
        }
        self.lock_combiner().reset();
        for (i, o) in self.0.outlets.iter().enumerate() {
            o.queue.start();
            ok &= self.start_task(i).is_ok();
        }
        ok
    }

    /// Every queue refuses work from now on (before the pads deactivate at PAUSED→READY).
    pub fn set_flushing(&self) {
        for o in &self.0.outlets {
            o.queue.set_flushing();
        }
    }

    /// The epochs of every queue, in pad order: output begun before a flush carries these and
    /// is refused after it.
    pub fn epochs(&self) -> Vec<u64> {
        self.0.outlets.iter().map(|o| o.queue.epoch()).collect()
    }

    /// One turn of pad `i`'s task: push its next buffer or event downstream.
    fn push_next(&self, i: usize) {
        let cat = self.0.cat;
        let o = &self.0.outlets[i];
        let buffer = match o.queue.pop(POP_WAIT) {
            Popped::Item(Out::Buffer(b), _) => b,
            Popped::Item(Out::Event(event), _) => {
                // A refused event is downstream's business (it posts its own error); refused
                // caps show as not-negotiated at the next buffer.
                if !o.pad.push_event(event) {
                    gst::debug!(cat, obj = o.pad, "downstream refused a serialized event");
                }
                return;
            }
            Popped::Timeout => return,
            Popped::Flushing => {
                let _ = o.pad.pause_task();
                return;
            }
        };
        let result = o.pad.push(buffer);
        let combined = self.lock_combiner().update_pad_flow(&o.pad, result);
        match result {
            Ok(_) | Err(gst::FlowError::Flushing) => {}
            Err(err @ (gst::FlowError::NotLinked | gst::FlowError::Eos)) => {
                gst::log!(
                    cat,
                    obj = o.pad,
                    "{err:?}: its output is dropped while another pad flows"
                );
            }
            Err(err) => {
                self.post_error(o, err);
                // The generator stops feeding this pad; upstream hears it at its next buffer.
                o.queue.set_flow(Err(err));
                let _ = o.pad.pause_task();
            }
        }
        if let Err(err) = combined {
            if err != gst::FlowError::Flushing {
                gst::debug!(cat, obj = o.pad, "combined flow {err:?}: telling upstream");
                self.0.producer.set_flow(Err(err));
            }
        }
    }

    fn post_error(&self, o: &Outlet, err: gst::FlowError) {
        let Some(element) = o.pad.parent_element() else {
            return;
        };
        if err == gst::FlowError::NotNegotiated {
            let caps = o
                .pad
                .sticky_event::<gst::event::Caps>(0)
                .map(|c| c.caps_owned().to_string())
                .unwrap_or_else(|| "any caps".into());
            gst::element_error!(
                element,
                gst::CoreError::Negotiation,
                [
                    "downstream of {} refuses {caps}; insert {} after it",
                    o.pad.name(),
                    o.convert
                ]
            );
        } else {
            gst::element_error!(
                element,
                gst::StreamError::Failed,
                ["streaming stopped on {}, reason {err:?}", o.pad.name()]
            );
        }
    }
}

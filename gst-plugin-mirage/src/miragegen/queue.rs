//! The bounded work queue between the sink pad's streaming thread and the src pad task.
//!
//! Items keep stream order (serialized events and chunks). The queue holds at most `capacity`
//! chunks, so upstream blocks instead of piling audio up (back-pressure); a flush wakes both
//! sides and drops everything pending.

use std::collections::VecDeque;
use std::sync::{Condvar, Mutex, MutexGuard};

use diffusion_runtime::a2v::ScheduledChunk;

pub enum Item {
    /// A serialized event to push downstream in order.
    Event(gst::Event),
    /// A chunk to generate, with the timeline it belongs to.
    Chunk {
        chunk: ScheduledChunk,
        base: gst::ClockTime,
    },
    /// Start a new stream: the generator goes back to rest (new segment, after a drain).
    Reset,
}

/// What [`WorkQueue::pop`] found.
pub enum Popped {
    Item(Item, u64),
    /// Nothing arrived in time (audio stalled?).
    Timeout,
    Flushing,
}

struct State {
    items: VecDeque<Item>,
    chunks: usize,
    flushing: bool,
    /// Bumped by every flush: work taken before it is stale.
    epoch: u64,
    /// The last flow return of the task, handed to upstream.
    flow: Result<gst::FlowSuccess, gst::FlowError>,
}

pub struct WorkQueue {
    state: Mutex<State>,
    changed: Condvar,
    capacity: usize,
}

impl WorkQueue {
    pub fn new(capacity: usize) -> Self {
        Self {
            state: Mutex::new(State {
                items: VecDeque::new(),
                chunks: 0,
                flushing: true,
                epoch: 0,
                flow: Ok(gst::FlowSuccess::Ok),
            }),
            changed: Condvar::new(),
            capacity,
        }
    }

    fn lock(&self) -> MutexGuard<'_, State> {
        self.state.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Appends an item, waiting while the queue holds `capacity` chunks. Returns the task's
    /// last flow error (or `Flushing`) instead of queueing when there is one.
    pub fn push(&self, item: Item) -> Result<gst::FlowSuccess, gst::FlowError> {
        let mut s = self.lock();
        let is_chunk = matches!(item, Item::Chunk { .. });
        while is_chunk && s.chunks >= self.capacity && !s.flushing && s.flow.is_ok() {
            s = self.changed.wait(s).unwrap_or_else(|e| e.into_inner());
        }
        if s.flushing {
            return Err(gst::FlowError::Flushing);
        }
        s.flow?;
        s.chunks += usize::from(is_chunk);
        s.items.push_back(item);
        self.changed.notify_all();
        Ok(gst::FlowSuccess::Ok)
    }

    /// Appends an item without waiting for room (for the task itself, which is the consumer
    /// and must never wait on its own queue). Dropped while flushing.
    pub fn push_now(&self, item: Item) {
        let mut s = self.lock();
        if s.flushing {
            return;
        }
        s.chunks += usize::from(matches!(item, Item::Chunk { .. }));
        s.items.push_back(item);
        self.changed.notify_all();
    }

    /// Takes the next item and the epoch it belongs to, waiting up to `timeout` for one.
    pub fn pop(&self, timeout: std::time::Duration) -> Popped {
        let deadline = std::time::Instant::now() + timeout;
        let mut s = self.lock();
        loop {
            if s.flushing {
                return Popped::Flushing;
            }
            if let Some(item) = s.items.pop_front() {
                if matches!(item, Item::Chunk { .. }) {
                    s.chunks -= 1;
                }
                self.changed.notify_all();
                return Popped::Item(item, s.epoch);
            }
            let now = std::time::Instant::now();
            if now >= deadline {
                return Popped::Timeout;
            }
            s = self
                .changed
                .wait_timeout(s, deadline - now)
                .unwrap_or_else(|e| e.into_inner())
                .0;
        }
    }

    /// True if no flush happened since `epoch`.
    pub fn is_current(&self, epoch: u64) -> bool {
        let s = self.lock();
        !s.flushing && s.epoch == epoch
    }

    /// Flush start: drop pending work, wake everyone. Sticky events that have not gone out yet
    /// (stream-start, caps, tags) are kept, as a pad keeps them across a flush; segments and EOS
    /// are not.
    pub fn set_flushing(&self) {
        let mut s = self.lock();
        s.flushing = true;
        s.epoch += 1;
        s.items.retain(|i| {
            matches!(i, Item::Event(e) if e.is_sticky()
                && !matches!(e.type_(), gst::EventType::Segment | gst::EventType::Eos))
        });
        s.chunks = 0;
        self.changed.notify_all();
    }

    /// Stops for good (pad deactivation): nothing pending survives.
    pub fn stop(&self) {
        self.set_flushing();
        self.lock().items.clear();
    }

    /// Flush stop / start of streaming: accept work again.
    pub fn start(&self) {
        let mut s = self.lock();
        s.flushing = false;
        s.flow = Ok(gst::FlowSuccess::Ok);
        self.changed.notify_all();
    }

    /// Records the task's flow return (an error stops upstream at its next buffer).
    pub fn set_flow(&self, flow: Result<gst::FlowSuccess, gst::FlowError>) {
        let mut s = self.lock();
        s.flow = flow;
        self.changed.notify_all();
    }

    pub fn flow(&self) -> Result<gst::FlowSuccess, gst::FlowError> {
        self.lock().flow
    }
}

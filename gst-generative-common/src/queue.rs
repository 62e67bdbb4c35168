//! Bounded queues between an element's threads: a sink pad's streaming thread queues work for a
//! generator thread, which queues buffers for src pad tasks that push them downstream.
//! Generating and pushing on different threads means a sink that blocks on the clock never
//! delays the next generation.
//!
//! Items keep stream order (serialized events with the data). Each queue holds at most
//! `capacity` heavy items (chunks, windows, buffers), so producers block instead of piling up
//! (back-pressure); a flush wakes everyone and drops what is pending, except sticky events that
//! have not gone out yet (stream-start, caps, tags), as a pad keeps them across a flush.

use std::collections::VecDeque;
use std::sync::{Condvar, Mutex, MutexGuard};
use std::time::{Duration, Instant};

/// Output for a src pad task.
#[derive(Clone)]
pub enum Out {
    Event(gst::Event),
    Buffer(gst::Buffer),
}

/// What counts against a queue's capacity, and what survives a flush.
pub trait Queued {
    fn heavy(&self) -> bool;
    fn event(&self) -> Option<&gst::Event>;
}

impl Queued for Out {
    fn heavy(&self) -> bool {
        matches!(self, Out::Buffer(_))
    }
    fn event(&self) -> Option<&gst::Event> {
        match self {
            Out::Event(e) => Some(e),
            _ => None,
        }
    }
}

/// What [`Queue::pop`] found.
pub enum Popped<T> {
    Item(T, u64),
    /// Nothing arrived in time.
    Timeout,
    Flushing,
}

struct State<T> {
    items: VecDeque<T>,
    heavy: usize,
    flushing: bool,
    /// Bumped by every flush: work taken before it is stale.
    epoch: u64,
    /// The downstream flow return, handed back to the producers.
    flow: Result<gst::FlowSuccess, gst::FlowError>,
}

pub struct Queue<T> {
    state: Mutex<State<T>>,
    changed: Condvar,
    capacity: usize,
}

impl<T: Queued> Queue<T> {
    pub fn new(capacity: usize) -> Self {
        Self {
            state: Mutex::new(State {
                items: VecDeque::new(),
                heavy: 0,
                flushing: true,
                epoch: 0,
                flow: Ok(gst::FlowSuccess::Ok),
            }),
            changed: Condvar::new(),
            capacity,
        }
    }

    fn lock(&self) -> MutexGuard<'_, State<T>> {
        self.state.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Appends an item, waiting while the queue is full. Returns the downstream flow error (or
    /// `Flushing`) instead of queueing when there is one.
    pub fn push(&self, item: T) -> Result<gst::FlowSuccess, gst::FlowError> {
        self.push_in(item, None)
    }

    /// The current epoch (bumped by every flush).
    pub fn epoch(&self) -> u64 {
        self.lock().epoch
    }

    /// As [`push`](Self::push), but refused as `Flushing` if a flush happened since `epoch`: work
    /// begun before a flush never lands in the stream after it.
    pub fn push_in(&self, item: T, epoch: Option<u64>) -> Result<gst::FlowSuccess, gst::FlowError> {
        self.push_checked(item, epoch, true)
    }

    /// As [`push_in`](Self::push_in), but without waiting for room: for items already held in
    /// memory elsewhere, whose producer must not wait for this queue's consumer (that consumer
    /// may itself wait for another queue of the same producer, e.g. a sink's preroll).
    pub fn push_in_now(
        &self,
        item: T,
        epoch: Option<u64>,
    ) -> Result<gst::FlowSuccess, gst::FlowError> {
        self.push_checked(item, epoch, false)
    }

    fn push_checked(
        &self,
        item: T,
        epoch: Option<u64>,
        wait: bool,
    ) -> Result<gst::FlowSuccess, gst::FlowError> {
        let mut s = self.lock();
        let heavy = item.heavy();
        while wait && heavy && s.heavy >= self.capacity && !s.flushing && s.flow.is_ok() {
            s = self.changed.wait(s).unwrap_or_else(|e| e.into_inner());
        }
        if s.flushing || epoch.is_some_and(|e| e != s.epoch) {
            return Err(gst::FlowError::Flushing);
        }
        s.flow?;
        s.heavy += usize::from(heavy);
        s.items.push_back(item);
        self.changed.notify_all();
        Ok(gst::FlowSuccess::Ok)
    }

    /// Appends without waiting for room: for a consumer that must never wait on itself.
    pub fn push_now(&self, item: T) {
        let mut s = self.lock();
        if s.flushing {
            return;
        }
        s.heavy += usize::from(item.heavy());
        s.items.push_back(item);
        self.changed.notify_all();
    }

    /// Takes the next item and its epoch, waiting up to `timeout`.
    pub fn pop(&self, timeout: Duration) -> Popped<T> {
        let deadline = Instant::now() + timeout;
        let mut s = self.lock();
        loop {
            if s.flushing {
                return Popped::Flushing;
            }
            if let Some(item) = s.items.pop_front() {
                s.heavy -= usize::from(item.heavy());
                self.changed.notify_all();
                return Popped::Item(item, s.epoch);
            }
            let now = Instant::now();
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

    /// Waits (up to `timeout`) while the queue is flushing; true once it accepts work again.
    pub fn wait_started(&self, timeout: Duration) -> bool {
        let s = self.lock();
        let (s, _) = self
            .changed
            .wait_timeout_while(s, timeout, |s| s.flushing)
            .unwrap_or_else(|e| e.into_inner());
        !s.flushing
    }

    /// True if no flush happened since `epoch`.
    pub fn is_current(&self, epoch: u64) -> bool {
        let s = self.lock();
        !s.flushing && s.epoch == epoch
    }

    /// Flush start: drop pending work (sticky events other than segment and EOS stay), wake
    /// everyone.
    pub fn set_flushing(&self) {
        let mut s = self.lock();
        s.flushing = true;
        s.epoch += 1;
        s.items.retain(|i| {
            i.event().is_some_and(|e| {
                e.is_sticky() && !matches!(e.type_(), gst::EventType::Segment | gst::EventType::Eos)
            })
        });
        s.heavy = 0;
        self.changed.notify_all();
    }

    /// Stops for good (deactivation): nothing pending survives.
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

    pub fn set_flow(&self, flow: Result<gst::FlowSuccess, gst::FlowError>) {
        let mut s = self.lock();
        s.flow = flow;
        self.changed.notify_all();
    }

    pub fn flow(&self) -> Result<gst::FlowSuccess, gst::FlowError> {
        self.lock().flow
    }
}

impl<T: Queued + Send> crate::outlet::FlowSink for Queue<T> {
    fn set_flow(&self, flow: Result<gst::FlowSuccess, gst::FlowError>) {
        Queue::set_flow(self, flow);
    }
}

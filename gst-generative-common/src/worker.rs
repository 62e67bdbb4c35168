//! The generator thread: one named thread per element instance that takes work from the queue
//! the sink side fills, runs the model, and queues output for the src pad tasks. Running the
//! model here, not on a pad task, means a flush never waits for an inference: the streaming
//! threads only touch queues, and work begun before a flush is dropped by epoch when it ends.
//!
//! Lifecycle (the same in both elements): [`Worker::start`] at READY→PAUSED before the pads
//! activate, [`Worker::stop`] at PAUSED→READY after they deactivated (the queues were set
//! flushing first, so the thread is never blocked on one when it is joined).

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::thread::JoinHandle;

use gst::glib;
use gst::prelude::*;

#[derive(Default)]
pub struct Worker {
    thread: Mutex<Option<JoinHandle<()>>>,
    /// Set by [`stop`](Self::stop); the thread ends after its current step.
    stopping: Arc<AtomicBool>,
}

impl Worker {
    /// Starts the thread, named `name`, calling `step` in a loop until [`stop`](Self::stop) (or
    /// until the element is disposed: the thread holds only a weak reference to it). A step must
    /// return within about 100 ms when there is nothing to do, so that stopping is prompt.
    /// Does nothing if the thread is already running.
    pub fn start<O>(&self, name: &str, obj: &O, step: fn(&O)) -> std::io::Result<()>
    where
        O: IsA<glib::Object> + glib::object::ObjectType + Send + Sync,
    {
        let mut thread = self.thread.lock().unwrap_or_else(|e| e.into_inner());
        if thread.is_some() {
            return Ok(());
        }
        self.stopping.store(false, Ordering::SeqCst);
        let stopping = self.stopping.clone();
        let weak = obj.downgrade();
        *thread = Some(
            std::thread::Builder::new()
                .name(name.to_string())
                .spawn(move || {
                    while !stopping.load(Ordering::SeqCst) {
                        let Some(obj) = weak.upgrade() else { break };
                        step(&obj);
                    }
                })?,
        );
        Ok(())
    }

    /// True from [`stop`](Self::stop) until the next [`start`](Self::start): a step in progress
    /// drops its work instead of finishing it.
    pub fn is_stopping(&self) -> bool {
        self.stopping.load(Ordering::SeqCst)
    }

    /// Asks the thread to end after its current step (call before the queues are set flushing,
    /// so that a step that wakes up sees it).
    pub fn request_stop(&self) {
        self.stopping.store(true, Ordering::SeqCst);
    }

    /// Stops the thread and waits for it. Called from the thread itself (an application that
    /// stops the pipeline from a synchronous bus handler of a message the generator posted), it
    /// only asks: the thread ends when the step returns.
    pub fn stop(&self) {
        self.request_stop();
        let handle = self.thread.lock().unwrap_or_else(|e| e.into_inner()).take();
        if let Some(handle) = handle {
            if handle.thread().id() != std::thread::current().id() {
                let _ = handle.join();
            }
        }
    }
}

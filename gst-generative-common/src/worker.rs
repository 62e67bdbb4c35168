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
    /// The running thread and its own stop flag (a new flag per start: a thread told to stop
    /// never runs on because a later start cleared a shared one).
    thread: Mutex<Option<(JoinHandle<()>, Arc<AtomicBool>)>>,
}

impl Worker {
    fn lock(&self) -> std::sync::MutexGuard<'_, Option<(JoinHandle<()>, Arc<AtomicBool>)>> {
        self.thread.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Starts the thread, named `name`, calling `step` in a loop until [`stop`](Self::stop) (or
    /// until the element is disposed: the thread holds only a weak reference to it). A step must
    /// return within about 100 ms when there is nothing to do, so that stopping is prompt.
    /// Does nothing if the thread is already running.
    pub fn start<O>(&self, name: &str, obj: &O, step: fn(&O)) -> std::io::Result<()>
    where
        O: IsA<glib::Object> + glib::object::ObjectType + Send + Sync,
    {
        let mut thread = self.lock();
        if thread.is_some() {
            return Ok(());
        }
        let stopping = Arc::new(AtomicBool::new(false));
        let flag = stopping.clone();
        let weak = obj.downgrade();
        let handle = std::thread::Builder::new()
            .name(name.to_string())
            .spawn(move || {
                while !flag.load(Ordering::SeqCst) {
                    let Some(obj) = weak.upgrade() else { break };
                    step(&obj);
                }
            })?;
        *thread = Some((handle, stopping));
        Ok(())
    }

    /// True from [`request_stop`](Self::request_stop) (or when no thread runs): a step in
    /// progress drops its work instead of finishing it.
    pub fn is_stopping(&self) -> bool {
        self.lock()
            .as_ref()
            .is_none_or(|(_, stopping)| stopping.load(Ordering::SeqCst))
    }

    /// Asks the thread to end after its current step (call before the queues are set flushing,
    /// so that a step that wakes up sees it).
    pub fn request_stop(&self) {
        if let Some((_, stopping)) = self.lock().as_ref() {
            stopping.store(true, Ordering::SeqCst);
        }
    }

    /// Stops the thread and waits for it. Called from the thread itself (which GStreamer does not
    /// support for state changes in general, but which must not deadlock here), it only asks:
    /// the thread ends when its step returns.
    pub fn stop(&self) {
        let taken = self.lock().take();
        if let Some((handle, stopping)) = taken {
            stopping.store(true, Ordering::SeqCst);
            if handle.thread().id() != std::thread::current().id() {
                let _ = handle.join();
            }
        }
    }
}

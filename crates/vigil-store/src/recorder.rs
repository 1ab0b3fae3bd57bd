//! One recorder per stream: a bounded queue in front of a dedicated writer thread that turns
//! [`EncodedFrame`]s into segment files and index rows. Nothing here decodes; a slow analytics pipeline
//! never touches this thread.
//!
//! Per frame the writer learns the previous frame's duration (the delta of the camera's decode times,
//! sanity-checked; with B-frames presentation times are not in order, decode times are), adds that frame
//! with its composition offset to the current fragment, and writes the fragment at each key frame or after
//! `fragment_seconds`. A segment ends at the first key frame after `segment_seconds`, on a parameter
//! change, after a clock jump or a gap, and on [`Recorder::end_run`] / [`Recorder::close`]. Ending a
//! segment: write the last fragment, fsync the file, fsync the directory, then commit the index row.
//!
//! Invariants upheld here (docs/design/recording.md): R1 (row after durable file), R8 (every frame
//! written or counted), R9 (decode order and composition offsets), R10 (a clock jump keeps the frames).

use crate::StoreError;
use crate::alerts::{AlertKind, Severity, lock};
use crate::queue::{Msg, PushError, Queue};
use crate::segment_file::{SegmentHeader, SegmentWriter, file_name, sync_dir};
use crate::store::{Inner, NewSegment, free_bytes};
use crate::timing::{DurationEstimator, micros_to_90k, slew};
use serde::Serialize;
use std::collections::VecDeque;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicI64, AtomicU64, AtomicUsize, Ordering};
use std::thread::JoinHandle;
use vigil_core::{EncodedFrame, Time90k, VideoParams};
use vigil_mp4::fragment::FragmentSample;

/// Live counters of one recorder (shared with the status report).
#[derive(Default)]
pub(crate) struct RecorderStats {
    pub camera: String,
    pub stream: String,
    pub frames_in: AtomicU64,
    pub frames_written: AtomicU64,
    pub frames_skipped: AtomicU64,
    pub frames_dropped: AtomicU64,
    pub segments: AtomicU64,
    pub bytes_written: AtomicU64,
    pub queued: AtomicUsize,
    /// Wall-clock end of the last committed segment (90 kHz), 0 when none.
    pub last_end: AtomicI64,
    /// Wall-clock start of the segment being written (90 kHz), 0 when none is open: footage from there
    /// on is not in the index yet (an erasure by blurring waits for it).
    pub open_since: AtomicI64,
    pub running: AtomicBool,
}

/// Clears a recorder's `open_since` when dropped (at the end of `finish_segment`, however it ends).
struct OpenCleared(Arc<RecorderStats>);

impl Drop for OpenCleared {
    fn drop(&mut self) {
        self.0.open_since.store(0, Ordering::Relaxed);
    }
}

/// A snapshot of a recorder's counters.
#[derive(Debug, Clone, Default, Serialize)]
pub struct RecorderStatus {
    /// Camera.
    pub camera: String,
    /// Stream.
    pub stream: String,
    /// The writer thread is running.
    pub recording: bool,
    /// Frames handed to the recorder.
    pub frames_in: u64,
    /// Frames written to segment files.
    pub frames_written: u64,
    /// Frames skipped while waiting for a key frame (start of stream, after a failure).
    pub frames_skipped: u64,
    /// Frames lost: refused by a full queue (`try_append`) or in a write that failed.
    pub frames_dropped: u64,
    /// Segments committed.
    pub segments: u64,
    /// Bytes written.
    pub bytes_written: u64,
    /// Frames waiting in the queue.
    pub queued: usize,
    /// End of the last committed segment (wall clock, 90 kHz since the Unix epoch).
    pub last_segment_end: Option<Time90k>,
}

impl RecorderStats {
    pub(crate) fn snapshot(&self) -> RecorderStatus {
        let last = self.last_end.load(Ordering::Relaxed);
        RecorderStatus {
            camera: self.camera.clone(),
            stream: self.stream.clone(),
            recording: self.running.load(Ordering::Relaxed),
            frames_in: self.frames_in.load(Ordering::Relaxed),
            frames_written: self.frames_written.load(Ordering::Relaxed),
            frames_skipped: self.frames_skipped.load(Ordering::Relaxed),
            frames_dropped: self.frames_dropped.load(Ordering::Relaxed),
            segments: self.segments.load(Ordering::Relaxed),
            bytes_written: self.bytes_written.load(Ordering::Relaxed),
            queued: self.queued.load(Ordering::Relaxed),
            last_segment_end: (last != 0).then_some(Time90k(last)),
        }
    }
}

/// Records one stream. Dropping it closes it (finishing the current segment), like [`Recorder::close`].
///
/// Frames reach the writer thread through a bounded queue: from a thread with [`Recorder::append`], or
/// from an async task (an RTSP ingest session, with no relay thread in between) through a
/// [`RecorderInput`] that awaits when the queue is full. The writer ends once the recorder is closed and
/// every input is dropped.
pub struct Recorder {
    input: Option<RecorderInput>,
    thread: Option<JoinHandle<()>>,
    stream_id: i64,
}

/// A cloneable way into a [`Recorder`]'s queue, for async tasks: [`RecorderInput::append`] awaits while
/// the queue is full (backpressure to that one stream), so no frame is dropped and no thread blocks.
pub struct RecorderInput {
    queue: Arc<Queue>,
    stats: Arc<RecorderStats>,
    inner: Arc<Inner>,
    capacity: usize,
}

impl Clone for RecorderInput {
    fn clone(&self) -> Self {
        self.queue.add_sender();
        Self {
            queue: self.queue.clone(),
            stats: self.stats.clone(),
            inner: self.inner.clone(),
            capacity: self.capacity,
        }
    }
}

impl Drop for RecorderInput {
    fn drop(&mut self) {
        self.queue.remove_sender();
    }
}

impl Recorder {
    pub(crate) fn start(
        inner: Arc<Inner>,
        camera: &str,
        stream: &str,
        camera_id: i64,
        stream_id: i64,
        dir: usize,
    ) -> Result<Recorder, StoreError> {
        let stats = Arc::new(RecorderStats {
            camera: camera.to_string(),
            stream: stream.to_string(),
            running: AtomicBool::new(true),
            ..Default::default()
        });
        {
            let mut st = lock(&inner.state);
            if st
                .recorders
                .get(&stream_id)
                .is_some_and(|s| s.running.load(Ordering::Relaxed))
            {
                return Err(StoreError::AlreadyRecording {
                    camera: camera.into(),
                    stream: stream.into(),
                });
            }
            st.recorders.insert(stream_id, stats.clone());
        }
        let capacity = inner.config.queue_frames.max(1);
        let queue = Arc::new(Queue::new(capacity));
        queue.add_sender();
        let cfg = &inner.config;
        let writer = Writer {
            inner: inner.clone(),
            stats: stats.clone(),
            camera: camera.to_string(),
            stream: stream.to_string(),
            camera_id,
            stream_id,
            dir,
            target: (cfg.segment_seconds * 90_000.0) as u64,
            fragment_max: (cfg.fragment_seconds * 90_000.0) as u64,
            max_frame: (cfg.max_frame_seconds * 90_000.0) as i64,
            durations: DurationEstimator::new((cfg.max_frame_seconds * 90_000.0) as i64),
            pending: None,
            seg: None,
            next_start: None,
            new_run: true,
            last_floor_pass: None,
        };
        // The input exists before the thread, so that a failed start drops its sender.
        let input = RecorderInput {
            queue: queue.clone(),
            stats,
            inner,
            capacity,
        };
        let thread = std::thread::Builder::new()
            .name(vigil_core::thread::thread_name(
                "rec",
                &format!("{camera}/{stream}"),
            ))
            .spawn(move || writer.run(&queue, capacity))
            .map_err(|e| StoreError::RecorderStopped {
                camera: camera.into(),
                stream: stream.into(),
                reason: format!("cannot start thread: {e}"),
            })?;
        Ok(Recorder {
            input: Some(input),
            thread: Some(thread),
            stream_id,
        })
    }

    fn input(&self) -> Result<&RecorderInput, StoreError> {
        self.input.as_ref().ok_or(StoreError::RecorderStopped {
            camera: String::new(),
            stream: String::new(),
            reason: "closed".into(),
        })
    }

    /// A handle for feeding this recorder from async tasks.
    pub fn handle(&self) -> Option<RecorderInput> {
        self.input.clone()
    }

    /// Queues a frame (copied). Waits while the queue is full, i.e. only when the disk has fallen
    /// `queue_frames` frames behind. Call it from a thread, not from an async task (there use
    /// [`Recorder::handle`] and [`RecorderInput::append`], or [`Recorder::try_append`]).
    pub fn append(&self, frame: &EncodedFrame) -> Result<(), StoreError> {
        self.input()?.push_blocking(frame.clone())
    }

    /// Like [`Recorder::append`], taking the frame without copying it.
    pub fn append_owned(&self, frame: EncodedFrame) -> Result<(), StoreError> {
        self.input()?.push_blocking(frame)
    }

    /// Queues a frame (copied) without waiting; when the queue is full the frame is counted as dropped,
    /// an alert is raised and [`StoreError::Backlogged`] returned.
    pub fn try_append(&self, frame: &EncodedFrame) -> Result<(), StoreError> {
        self.input()?.try_push(frame.clone())
    }

    /// Like [`Recorder::try_append`], taking the frame without copying it.
    pub fn try_append_owned(&self, frame: EncodedFrame) -> Result<(), StoreError> {
        self.input()?.try_push(frame)
    }

    /// Ends the current run: the segment in progress is finished and the next frame starts a new run
    /// anchored on its receive time, so the time the stream was away is recorded as a gap. Call it when
    /// the camera connection drops (from a thread; async tasks use [`RecorderInput::end_run`]).
    pub fn end_run(&self) -> Result<(), StoreError> {
        let input = self.input()?;
        input
            .queue
            .push_blocking(Msg::EndRun)
            .map(|_| ())
            .map_err(|_| input.stopped("writer thread ended"))
    }

    /// Counters of this recorder.
    pub fn status(&self) -> RecorderStatus {
        match &self.input {
            Some(i) => i.stats.snapshot(),
            None => RecorderStatus::default(),
        }
    }

    /// Finishes the segment in progress (committing it) and stops the writer thread, once every
    /// [`RecorderInput`] is dropped too.
    pub fn close(mut self) -> RecorderStatus {
        let stats = self.input.as_ref().map(|i| i.stats.clone());
        self.shutdown();
        stats.map(|s| s.snapshot()).unwrap_or_default()
    }

    fn shutdown(&mut self) {
        let stats = self.input.take().map(|i| i.stats.clone());
        if let Some(t) = self.thread.take()
            && t.join().is_err()
        {
            tracing::error!(stream_id = self.stream_id, "recorder thread panicked");
        }
        if let Some(stats) = stats {
            stats.running.store(false, Ordering::Relaxed);
        }
    }
}

impl RecorderInput {
    /// True when [`RecorderInput::append`] would wait now (the disk has fallen a queue behind).
    pub fn would_wait(&self) -> bool {
        self.queue.is_full()
    }

    /// Queues a frame, awaiting room when the queue is full; never drops it.
    pub async fn append(&self, frame: EncodedFrame) -> Result<(), StoreError> {
        match self.queue.push_async(Msg::Frame(frame)).await {
            Ok(queued) => {
                self.note_queue(queued);
                Ok(())
            }
            Err(_) => Err(self.stopped("writer thread ended")),
        }
    }

    /// Ends the current run (see [`Recorder::end_run`]).
    pub async fn end_run(&self) -> Result<(), StoreError> {
        self.queue
            .push_async(Msg::EndRun)
            .await
            .map(|_| ())
            .map_err(|_| self.stopped("writer thread ended"))
    }

    /// Resolves when the writer thread has ended. The future holds its own handle on the queue (not a
    /// sender), so a stream can create it once and keep it across frames.
    pub fn closed(&self) -> impl std::future::Future<Output = ()> + Send + 'static {
        let queue = self.queue.clone();
        async move { queue.closed().await }
    }

    /// Counters of the recorder.
    pub fn status(&self) -> RecorderStatus {
        self.stats.snapshot()
    }

    fn stopped(&self, reason: &str) -> StoreError {
        StoreError::RecorderStopped {
            camera: self.stats.camera.clone(),
            stream: self.stats.stream.clone(),
            reason: reason.into(),
        }
    }

    fn note_queue(&self, q: usize) {
        self.stats.queued.store(q, Ordering::Relaxed);
        if q > self.capacity / 2 {
            self.inner.alerts.raise(
                AlertKind::RecorderBehind,
                Severity::Warning,
                None,
                Some(&self.stats.camera),
                format!(
                    "recorder for {}/{} has {q} frames queued: the disk is not keeping up",
                    self.stats.camera, self.stats.stream
                ),
            );
        }
    }

    fn push_blocking(&self, frame: EncodedFrame) -> Result<(), StoreError> {
        match self.queue.push_blocking(Msg::Frame(frame)) {
            Ok(queued) => {
                self.note_queue(queued);
                Ok(())
            }
            Err(_) => Err(self.stopped("writer thread ended")),
        }
    }

    fn try_push(&self, frame: EncodedFrame) -> Result<(), StoreError> {
        match self.queue.try_push(Msg::Frame(frame)) {
            Ok(queued) => {
                self.note_queue(queued);
                Ok(())
            }
            Err((PushError::Full, queued)) => {
                // The queue left a `Lost` mark where the frame would have gone: the writer ends the run
                // exactly there.
                let dropped = self.stats.frames_dropped.fetch_add(1, Ordering::Relaxed) + 1;
                if dropped == 1 || dropped.is_multiple_of(1000) {
                    self.inner.alerts.raise(
                        AlertKind::FramesDropped,
                        Severity::Critical,
                        None,
                        Some(&self.stats.camera),
                        format!(
                            "recorder for {}/{} dropped frames (queue full; {dropped} so far)",
                            self.stats.camera, self.stats.stream
                        ),
                    );
                }
                Err(StoreError::Backlogged {
                    camera: self.stats.camera.clone(),
                    stream: self.stats.stream.clone(),
                    queued,
                })
            }
            Err((PushError::Closed, _)) => Err(self.stopped("writer thread ended")),
        }
    }
}

impl std::fmt::Debug for Recorder {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Recorder")
            .field("stream_id", &self.stream_id)
            .finish_non_exhaustive()
    }
}

impl std::fmt::Debug for RecorderInput {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("RecorderInput")
            .field("camera", &self.stats.camera)
            .field("stream", &self.stats.stream)
            .finish_non_exhaustive()
    }
}

impl Drop for Recorder {
    fn drop(&mut self) {
        self.shutdown();
    }
}

/// The segment being written.
struct OpenSegment {
    file: SegmentWriter,
    params: Arc<VideoParams>,
    seq: i64,
    start: i64,
    run_start: bool,
    /// Media time of all frames added (written or buffered).
    media: u64,
    samples: Vec<FragmentSample>,
    /// The fragment's frames (their data is written straight from here).
    frames: Vec<EncodedFrame>,
    fragment_media: u64,
    /// Local receive time minus recorded time, per frame.
    errors: Vec<i64>,
}

struct Writer {
    inner: Arc<Inner>,
    stats: Arc<RecorderStats>,
    camera: String,
    stream: String,
    camera_id: i64,
    stream_id: i64,
    dir: usize,
    target: u64,
    fragment_max: u64,
    max_frame: i64,
    durations: DurationEstimator,
    /// The last frame received; its duration is known when the next one arrives.
    pending: Option<EncodedFrame>,
    seg: Option<OpenSegment>,
    /// Wall-clock start of the next segment when it continues the current run.
    next_start: Option<i64>,
    /// The next segment starts a new run (anchored on the local clock).
    new_run: bool,
    /// Last free-space-floor deletion attempt that freed nothing.
    last_floor_pass: Option<std::time::Instant>,
}

/// Closes the queue when the writer ends.
struct CloseOnDrop<'a>(&'a Queue);

impl Drop for CloseOnDrop<'_> {
    fn drop(&mut self) {
        self.0.close();
    }
}

/// Pause between floor-triggered deletion attempts that found nothing to delete.
const FLOOR_RETRY: std::time::Duration = std::time::Duration::from_secs(5);

fn is_no_space(e: &std::io::Error) -> bool {
    matches!(
        e.kind(),
        std::io::ErrorKind::StorageFull | std::io::ErrorKind::QuotaExceeded
    )
}

impl Writer {
    fn run(mut self, queue: &Queue, capacity: usize) {
        // However the writer ends (a panic included), senders waiting for room or for its end are
        // released with an error instead of waiting forever.
        let _close = CloseOnDrop(queue);
        let mut batch = VecDeque::new();
        let mut behind = false;
        while queue.take(&mut batch) {
            // The queue is empty now: the disk has caught up (cleared once per episode, not per frame).
            let queued = batch.len();
            self.stats.queued.store(0, Ordering::Relaxed);
            if queued > capacity / 2 {
                behind = true;
            } else if behind {
                behind = false;
                self.inner
                    .alerts
                    .clear(AlertKind::RecorderBehind, None, Some(&self.camera));
            }
            for msg in batch.drain(..) {
                match msg {
                    Msg::Frame(f) => self.on_frame(f),
                    Msg::EndRun => self.end_run(),
                    // Frames before the next one were refused: what follows until the next key frame
                    // cannot be decoded, so end the run here and resume at a key frame (the hole is a gap).
                    Msg::Lost => self.end_run(),
                }
            }
            queue.wake_at(self.fragment_due());
        }
        self.end_run();
        self.stats.running.store(false, Ordering::Relaxed);
    }

    /// When the open fragment reaches `fragment_seconds` (receive time of its first frame, or of the
    /// pending frame that will start it, plus that), so that the writer is woken to write it then and
    /// not a frame later than without batching; `i64::MAX` with no segment open (a key frame opens one
    /// and wakes the writer anyway).
    fn fragment_due(&self) -> i64 {
        let Some(seg) = &self.seg else {
            return i64::MAX;
        };
        let first = seg.frames.first().or(self.pending.as_ref());
        first.map_or(i64::MAX, |f| {
            f.received_unix_micros
                .saturating_add(self.fragment_max as i64 * 100 / 9)
        })
    }

    fn dir_name(&self) -> &str {
        &self.inner.dirs[self.dir].name
    }

    fn on_frame(&mut self, f: EncodedFrame) {
        self.stats.frames_in.fetch_add(1, Ordering::Relaxed);
        if let Some(p) = self.pending.take() {
            let recv_delta = micros_to_90k(f.received_unix_micros - p.received_unix_micros);
            let (duration, plausible) = self.durations.duration(p.dts().0, f.dts().0, recv_delta);
            let gap = !plausible || recv_delta > self.max_frame;
            if gap {
                tracing::warn!(
                    camera = %self.camera,
                    dts_delta = f.dts().0 - p.dts().0,
                    recv_delta,
                    "camera clock jump or gap; using the nominal frame duration and starting a new run \
                     at the next key frame"
                );
                self.new_run = true;
            }
            self.add(p, duration);
            if let Some(seg) = &self.seg {
                let params_changed =
                    !Arc::ptr_eq(&seg.params, &f.params) && *seg.params != *f.params;
                if params_changed || (f.is_key && (seg.media >= self.target || self.new_run)) {
                    self.finish_segment();
                } else if f.is_key || seg.fragment_media >= self.fragment_max {
                    self.flush_fragment();
                }
            }
        }
        if self.seg.is_none() {
            if !f.is_key {
                self.stats.frames_skipped.fetch_add(1, Ordering::Relaxed);
                return;
            }
            if !self.open_segment(&f) {
                self.stats.frames_dropped.fetch_add(1, Ordering::Relaxed);
                return;
            }
        }
        self.pending = Some(f);
    }

    /// Adds a frame whose duration is now known to the current fragment.
    fn add(&mut self, f: EncodedFrame, duration: u32) {
        let Some(seg) = self.seg.as_mut() else { return };
        let recorded = seg.start + seg.media as i64;
        seg.errors
            .push(micros_to_90k(f.received_unix_micros) - recorded);
        seg.samples.push(FragmentSample {
            duration,
            size: f.data.len() as u32,
            is_key: f.is_key,
            composition_offset: f.composition_offset,
        });
        seg.frames.push(f);
        seg.media += u64::from(duration);
        seg.fragment_media += u64::from(duration);
    }

    fn open_segment(&mut self, f: &EncodedFrame) -> bool {
        let start = match (self.new_run, self.next_start) {
            (false, Some(s)) => s,
            _ => micros_to_90k(f.received_unix_micros),
        };
        let run_start = self.new_run || self.next_start.is_none();
        let seq = self.inner.next_seq(self.stream_id);
        let dir = &self.inner.dirs[self.dir];
        let path = dir.path.join(file_name(self.stream_id, seq));
        // Encrypted: the segment's key is sealed and stored before its first byte (crypt.rs); without a
        // key store nothing is recorded rather than recorded in the clear.
        let key = if self.inner.config.encrypt {
            match self.inner.new_segment_key(self.stream_id, seq) {
                Ok(k) => Some(k),
                Err(e) => {
                    self.write_failed(&format!(
                        "segment {seq} not recorded: its encryption key could not be sealed: {e}"
                    ));
                    return false;
                }
            }
        } else {
            None
        };
        let cipher = || key.as_ref().map(crate::crypt::SegmentKey::new).transpose();
        let header = SegmentHeader {
            stream_id: self.stream_id,
            seq,
            start_90k: start,
            run_start,
            camera: self.camera.clone(),
            stream: self.stream.clone(),
            key_id: match cipher() {
                Ok(c) => c.map(|c| c.id),
                Err(e) => {
                    self.write_failed(&format!("segment {seq} not recorded: {e}"));
                    return false;
                }
            },
        };
        let mut attempt = 0;
        let file = loop {
            let cipher = match cipher() {
                Ok(c) => c,
                Err(e) => {
                    self.write_failed(&format!("segment {seq} not recorded: {e}"));
                    return false;
                }
            };
            match SegmentWriter::create(&path, &header, &f.params.sample_entry, cipher) {
                Ok(w) => break w,
                Err(e) if is_no_space(&e) && attempt == 0 => {
                    attempt += 1;
                    self.disk_full(64 << 10);
                }
                Err(e) => {
                    self.write_failed(&format!("cannot create {}: {e}", path.display()));
                    return false;
                }
            }
        };
        self.new_run = false;
        self.stats.open_since.store(start.max(1), Ordering::Relaxed);
        self.seg = Some(OpenSegment {
            file,
            params: f.params.clone(),
            seq,
            start,
            run_start,
            media: 0,
            samples: Vec::new(),
            frames: Vec::new(),
            fragment_media: 0,
            errors: Vec::new(),
        });
        true
    }

    fn disk_full(&self, need: u64) -> u64 {
        let dir = self.dir_name().to_string();
        self.inner.alerts.raise(
            AlertKind::DiskFull,
            Severity::Critical,
            Some(&dir),
            None,
            format!("storage directory {dir} is full; deleting the oldest unprotected recordings"),
        );
        self.inner.make_room(self.dir, need)
    }

    fn write_failed(&self, what: &str) {
        self.inner.alerts.raise(
            AlertKind::WriteFailed,
            Severity::Critical,
            Some(self.dir_name()),
            Some(&self.camera),
            format!("recording {}/{}: {what}", self.camera, self.stream),
        );
    }

    /// Writes the buffered fragment. On a full disk, frees space and retries; if that fails the
    /// fragment is dropped and the segment ended, so the loss shows as a gap.
    fn flush_fragment(&mut self) {
        let Some(seg) = self.seg.as_mut() else { return };
        if seg.samples.is_empty() {
            return;
        }
        let mut freed_once = false;
        let result = loop {
            let data: Vec<&[u8]> = seg.frames.iter().map(|f| &f.data[..]).collect();
            match seg.file.write_fragment(&seg.samples, &data) {
                Ok(()) => break Ok(()),
                Err(e) if is_no_space(&e) && !freed_once => {
                    freed_once = true;
                    let need = data.iter().map(|d| d.len() as u64).sum::<u64>() * 2 + (256 << 10);
                    let dir = self.inner.dirs[self.dir].name.clone();
                    self.inner.alerts.raise(
                        AlertKind::DiskFull,
                        Severity::Critical,
                        Some(&dir),
                        None,
                        format!(
                            "storage directory {dir} is full; deleting the oldest unprotected recordings"
                        ),
                    );
                    if self.inner.make_room(self.dir, need) == 0 {
                        break Err(e);
                    }
                }
                Err(e) => break Err(e),
            }
        };
        let n = seg.samples.len() as u64;
        let bytes = seg.frames.iter().map(|f| f.data.len() as u64).sum::<u64>();
        seg.samples.clear();
        seg.frames.clear();
        seg.fragment_media = 0;
        match result {
            Ok(()) => {
                self.stats.frames_written.fetch_add(n, Ordering::Relaxed);
                self.stats.bytes_written.fetch_add(bytes, Ordering::Relaxed);
                let dir = &self.inner.dirs[self.dir];
                if self
                    .inner
                    .alerts
                    .is_active(AlertKind::DiskFull, Some(&dir.name))
                {
                    self.inner
                        .alerts
                        .clear(AlertKind::DiskFull, Some(&dir.name), None);
                }
                if dir.min_free_bytes > 0 {
                    let low = free_bytes(&dir.path).is_some_and(|f| f < dir.min_free_bytes);
                    // Under the floor: delete now (at most every few seconds per stream, so that a
                    // disk full of held footage does not make every fragment scan the index).
                    if low
                        && self
                            .last_floor_pass
                            .is_none_or(|t| t.elapsed() >= FLOOR_RETRY)
                    {
                        self.last_floor_pass = Some(std::time::Instant::now());
                        if self.inner.make_room(self.dir, 0) > 0 {
                            self.last_floor_pass = None;
                        }
                    } else if !low
                        && self
                            .inner
                            .alerts
                            .is_active(AlertKind::LowSpace, Some(&dir.name))
                    {
                        self.inner
                            .alerts
                            .clear(AlertKind::LowSpace, Some(&dir.name), None);
                    }
                }
            }
            Err(e) => {
                self.stats.frames_dropped.fetch_add(n, Ordering::Relaxed);
                let path = seg.file.path().display().to_string();
                self.write_failed(&format!("{n} frames lost writing {path}: {e}"));
                // The recorded media time no longer matches the stream: end the segment here and
                // start a new run at the next key frame.
                if let Some(seg) = self.seg.as_mut() {
                    seg.media = seg.file.media_duration();
                }
                self.finish_segment();
                self.new_run = true;
            }
        }
    }

    /// Ends the current segment: last fragment, fsync file, fsync directory, commit the row.
    fn finish_segment(&mut self) {
        self.flush_fragment();
        let Some(mut seg) = self.seg.take() else {
            return;
        };
        // Committed or not, from here on the segment is no longer being written.
        let _open = OpenCleared(Arc::clone(&self.stats));
        if seg.file.frames() == 0 {
            if let Err(e) = seg.file.discard() {
                tracing::warn!("removing an empty segment: {e}");
            }
            return;
        }
        let media = seg.file.media_duration() as i64;
        let n = seg.file.frames().min(seg.errors.len());
        let cfg = &self.inner.config;
        let s = slew(
            media,
            &mut seg.errors[..n],
            cfg.max_slew_ppm,
            (cfg.resync_seconds * 90_000.0) as i64,
        );
        if s.resync {
            tracing::warn!(
                camera = %self.camera,
                error_ms = s.error / 90,
                "camera time and local clock disagree; the next segment starts a new run"
            );
        }
        let path = seg.file.path().to_path_buf();
        let name = file_name(self.stream_id, seg.seq);
        let dir = &self.inner.dirs[self.dir];
        let writing = std::time::Instant::now();
        let finished = seg.file.finish().and_then(|f| {
            sync_dir(&dir.path)?;
            Ok(f)
        });
        let finished = match finished {
            Ok(f) => f,
            Err(e) => {
                // The file stays; start-up recovery will index what is durable.
                self.write_failed(&format!("fsync {}: {e}", path.display()));
                self.new_run = true;
                return;
            }
        };
        let committed = self.inner.commit_segment(&NewSegment {
            stream_id: self.stream_id,
            camera_id: self.camera_id,
            dir: self.dir,
            seq: seg.seq,
            file_name: &name,
            start_90k: seg.start,
            duration_90k: s.wall_duration,
            media_duration_90k: media,
            bytes: finished.bytes,
            checksum: finished.checksum,
            sha256: finished.sha256,
            run_start: seg.run_start,
            recovered: false,
            sample_entry: &seg.params.sample_entry,
            index: &finished.index,
        });
        match committed {
            Ok(_) => {
                self.inner.judge_write_latency(self.dir, writing.elapsed());
                self.stats.segments.fetch_add(1, Ordering::Relaxed);
                self.stats
                    .last_end
                    .store(seg.start + s.wall_duration, Ordering::Relaxed);
                self.next_start = Some(seg.start + s.wall_duration);
                if s.resync {
                    self.new_run = true;
                }
            }
            Err(e) => {
                self.write_failed(&format!("indexing {}: {e}", path.display()));
                self.new_run = true;
            }
        }
    }

    /// Ends the run: the pending frame gets the nominal duration and the segment is finished.
    fn end_run(&mut self) {
        if let Some(p) = self.pending.take() {
            let d = self.durations.nominal();
            self.add(p, d);
        }
        self.finish_segment();
        self.new_run = true;
        self.next_start = None;
    }
}

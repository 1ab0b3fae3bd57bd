//! A recorder's queue: frames from the ingest (async tasks) or a thread, to the recorder's writer.
//!
//! Why not a channel: the writer needs the frames only when a fragment can be written (at a key frame,
//! or once a fragment's worth of frames has arrived), yet a channel wakes its receiver for every
//! frame, which at 25 fps and dozens of cameras was most of recording's CPU (futex wake-ups and
//! context switches, recording.md "Cost"). Here a sender wakes the writer only when there is something
//! to write: a key frame (it ends a fragment), a frame received after the time the writer asked for
//! ([`Queue::wake_at`]: when the open fragment reaches `fragment_seconds`), a run's end, a lost frame, a
//! batch of [`WAKE_BATCH`] frames, a full queue or the last sender leaving; a writer left waiting
//! [`MAX_DELAY`] with frames queued (a stream that stopped mid-fragment) takes them anyway. The writer
//! takes every queued message at once. Nothing about what is written depends on when the writer looks:
//! frames are processed in the order they were queued, so files and index are the same as with a
//! wake-up per frame, and fragments are written when they are complete, as before.
//!
//! Capacity counts frames. A full queue makes [`Queue::push_async`] await and [`Queue::push_blocking`]
//! block (backpressure, invariant R8 of docs/design/recording.md) and [`Queue::try_push`] refuse; a
//! refused frame leaves a [`Msg::Lost`] mark at the exact place of the hole (marks do not count
//! against the capacity), so the writer ends the run there.

use crate::alerts::lock;
use std::collections::VecDeque;
use std::sync::{Condvar, Mutex};
use std::time::Duration;
use vigil_core::EncodedFrame;

/// Frames queued before a sender wakes the writer whatever their times (a camera sending in bursts).
pub(crate) const WAKE_BATCH: usize = 32;

/// The longest queued frames wait when no more come (a stream that stopped mid-batch). The writer sleeps
/// this long at most, so an idle recorder wakes only every few seconds.
pub(crate) const MAX_DELAY: Duration = Duration::from_secs(5);

/// What goes through the queue, in order.
pub(crate) enum Msg {
    Frame(EncodedFrame),
    /// End the run here (the camera's connection ended, recording was switched off).
    EndRun,
    /// Frames were refused here: the stream has a hole; end the run, resume at a key frame.
    Lost,
}

struct State {
    msgs: VecDeque<Msg>,
    /// Frames in `msgs` (what the capacity counts).
    frames: usize,
    /// A frame received at or after this time (Unix microseconds) wakes the writer.
    wake_at_micros: i64,
    /// Live senders; the writer ends once none is left and the queue is empty.
    senders: usize,
    /// The writer sleeps on `work` (a sender that wakes it clears this).
    writer_waiting: bool,
    /// Set by a sender that wakes the writer (guards against spurious wake-ups).
    wake: bool,
    /// The writer has ended: pushes fail.
    writer_gone: bool,
    /// A sender is waiting for room.
    room_wanted: bool,
}

/// Why a push did not queue.
pub(crate) enum PushError {
    /// The queue is full (only from [`Queue::try_push`]); the frame is counted as lost.
    Full,
    /// The writer has ended.
    Closed,
}

/// The queue shared by a recorder's senders and its writer.
pub(crate) struct Queue {
    state: Mutex<State>,
    capacity: usize,
    /// The writer waits here.
    work: Condvar,
    /// Threads wait here for room.
    room: Condvar,
    /// Async tasks wait here for room and for the writer's end.
    room_async: tokio::sync::Notify,
}

impl Queue {
    pub(crate) fn new(capacity: usize) -> Self {
        let capacity = capacity.max(1);
        Self {
            state: Mutex::new(State {
                msgs: VecDeque::with_capacity(capacity.min(64)),
                frames: 0,
                wake_at_micros: i64::MAX,
                senders: 0,
                writer_waiting: false,
                wake: false,
                writer_gone: false,
                room_wanted: false,
            }),
            capacity,
            work: Condvar::new(),
            room: Condvar::new(),
            room_async: tokio::sync::Notify::new(),
        }
    }

    /// A sender joins.
    pub(crate) fn add_sender(&self) {
        lock(&self.state).senders += 1;
    }

    /// A sender leaves; the last one wakes the writer so that it can finish.
    pub(crate) fn remove_sender(&self) {
        let mut st = lock(&self.state);
        st.senders = st.senders.saturating_sub(1);
        if st.senders == 0 {
            self.wake_writer(&mut st);
        }
    }

    /// True when a frame pushed now would wait.
    pub(crate) fn is_full(&self) -> bool {
        lock(&self.state).frames >= self.capacity
    }

    /// True once the writer has ended.
    pub(crate) fn writer_gone(&self) -> bool {
        lock(&self.state).writer_gone
    }

    fn wake_writer(&self, st: &mut State) {
        st.wake = true;
        if st.writer_waiting {
            st.writer_waiting = false;
            self.work.notify_one();
        }
    }

    /// Queues `msg` when there is room (marks always fit). Returns the frames now queued, or the
    /// message back when the queue is full.
    fn push_locked(&self, st: &mut State, msg: Msg) -> Result<usize, Result<Msg, PushError>> {
        if st.writer_gone {
            return Err(Err(PushError::Closed));
        }
        let (is_frame, mut urgent) = match &msg {
            Msg::Frame(f) => (true, f.is_key),
            Msg::EndRun | Msg::Lost => (false, true),
        };
        if is_frame && st.frames >= self.capacity {
            return Err(Ok(msg));
        }
        if let Msg::Frame(f) = &msg {
            urgent |= f.received_unix_micros >= st.wake_at_micros;
        }
        st.msgs.push_back(msg);
        st.frames += usize::from(is_frame);
        if urgent || st.frames >= WAKE_BATCH.min(self.capacity) {
            self.wake_writer(st);
        }
        Ok(st.frames)
    }

    /// Queues `msg` without waiting; a frame that does not fit is refused and a [`Msg::Lost`] mark
    /// takes its place. Returns the frames queued.
    pub(crate) fn try_push(&self, msg: Msg) -> Result<usize, (PushError, usize)> {
        let mut st = lock(&self.state);
        match self.push_locked(&mut st, msg) {
            Ok(n) => Ok(n),
            Err(Err(e)) => Err((e, st.frames)),
            Err(Ok(_)) => {
                if !matches!(st.msgs.back(), Some(Msg::Lost)) {
                    st.msgs.push_back(Msg::Lost);
                }
                self.wake_writer(&mut st);
                Err((PushError::Full, st.frames))
            }
        }
    }

    /// Queues `msg`, blocking this thread while the queue is full. Returns the frames queued.
    pub(crate) fn push_blocking(&self, mut msg: Msg) -> Result<usize, PushError> {
        let mut st = lock(&self.state);
        loop {
            match self.push_locked(&mut st, msg) {
                Ok(n) => return Ok(n),
                Err(Err(e)) => return Err(e),
                Err(Ok(back)) => msg = back,
            }
            st.room_wanted = true;
            self.wake_writer(&mut st);
            st = self
                .room
                .wait(st)
                .unwrap_or_else(std::sync::PoisonError::into_inner);
        }
    }

    /// Queues `msg`, awaiting room while the queue is full. Returns the frames queued.
    pub(crate) async fn push_async(&self, mut msg: Msg) -> Result<usize, PushError> {
        loop {
            let notified = self.room_async.notified();
            tokio::pin!(notified);
            {
                let mut st = lock(&self.state);
                match self.push_locked(&mut st, msg) {
                    Ok(n) => return Ok(n),
                    Err(Err(e)) => return Err(e),
                    Err(Ok(back)) => msg = back,
                }
                st.room_wanted = true;
                self.wake_writer(&mut st);
                // Registered before the lock is released: the writer's next notification reaches us.
                notified.as_mut().enable();
            }
            notified.await;
        }
    }

    /// Resolves once the writer has ended.
    pub(crate) async fn closed(&self) {
        loop {
            let notified = self.room_async.notified();
            tokio::pin!(notified);
            notified.as_mut().enable();
            if self.writer_gone() {
                return;
            }
            notified.await;
        }
    }

    /// The writer's wait: moves every queued message into `into` (empty on entry) once a sender woke
    /// it or [`MAX_DELAY`] passed with something queued. Returns false when every sender has left and
    /// nothing is queued: the writer ends.
    pub(crate) fn take(&self, into: &mut VecDeque<Msg>) -> bool {
        let mut st = lock(&self.state);
        loop {
            if !st.msgs.is_empty() && (st.wake || st.senders == 0) {
                break;
            }
            if st.msgs.is_empty() && st.senders == 0 {
                return false;
            }
            st.writer_waiting = true;
            let (guard, timeout) = self
                .work
                .wait_timeout(st, MAX_DELAY)
                .unwrap_or_else(std::sync::PoisonError::into_inner);
            st = guard;
            st.writer_waiting = false;
            if timeout.timed_out() && !st.msgs.is_empty() {
                break;
            }
        }
        st.wake = false;
        std::mem::swap(&mut st.msgs, into);
        st.frames = 0;
        if std::mem::take(&mut st.room_wanted) {
            self.room.notify_all();
            self.room_async.notify_waiters();
        }
        true
    }

    /// The writer asks to be woken by the first frame received at or after `micros` (the end of its
    /// open fragment; `i64::MAX`: only by the other reasons).
    pub(crate) fn wake_at(&self, micros: i64) {
        lock(&self.state).wake_at_micros = micros;
    }

    /// The writer has ended: senders waiting for room or for the end are released.
    pub(crate) fn close(&self) {
        let mut st = lock(&self.state);
        st.writer_gone = true;
        st.msgs.clear();
        st.frames = 0;
        self.room.notify_all();
        self.room_async.notify_waiters();
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::Arc;
    use vigil_core::{Time90k, VideoCodec, VideoParams};

    fn frame(n: i64, is_key: bool) -> Msg {
        Msg::Frame(EncodedFrame {
            params: Arc::new(VideoParams {
                codec: VideoCodec::H264,
                width: 16,
                height: 16,
                rfc6381_codec: "avc1.42c01e".into(),
                sample_entry: Vec::new(),
            }),
            pts: Time90k(n * 3600),
            composition_offset: 0,
            received_unix_micros: n * 40_000,
            is_key,
            data: bytes::Bytes::from_static(b"x"),
        })
    }

    fn pts(msgs: &VecDeque<Msg>) -> Vec<Option<i64>> {
        msgs.iter()
            .map(|m| match m {
                Msg::Frame(f) => Some(f.pts.0 / 3600),
                _ => None,
            })
            .collect()
    }

    #[test]
    fn the_writer_is_woken_per_batch_and_takes_everything_in_order() {
        let q = Arc::new(Queue::new(256));
        q.add_sender();
        let mut got = VecDeque::new();
        // A key frame wakes the writer at once.
        q.try_push(frame(0, true)).ok().unwrap();
        assert!(q.take(&mut got));
        assert_eq!(pts(&got), [Some(0)]);
        got.clear();
        // Frames short of a batch (and of half a second) do not; the one completing the batch does.
        for n in 1..WAKE_BATCH as i64 {
            q.try_push(frame(n, false)).ok().unwrap();
        }
        assert!(!lock(&q.state).wake);
        let sender = {
            let q = q.clone();
            std::thread::spawn(move || {
                std::thread::sleep(Duration::from_millis(50));
                q.push_blocking(frame(WAKE_BATCH as i64, false))
                    .ok()
                    .unwrap();
            })
        };
        assert!(q.take(&mut got));
        sender.join().unwrap();
        let want: Vec<_> = (1..=WAKE_BATCH as i64).map(Some).collect();
        assert_eq!(pts(&got), want);
        got.clear();
        // The last sender leaving wakes the writer: what is queued is taken, then the writer ends.
        q.try_push(frame(100, false)).ok().unwrap();
        q.try_push(frame(101, false)).ok().unwrap();
        q.remove_sender();
        assert!(q.take(&mut got));
        assert_eq!(pts(&got), [Some(100), Some(101)]);
        got.clear();
        assert!(!q.take(&mut got));
    }

    #[test]
    fn a_frame_received_after_the_asked_time_wakes_the_writer() {
        let q = Queue::new(256);
        q.add_sender();
        // Received 40 ms apart; the writer's fragment ends at 500 ms: frame 13 (520 ms) wakes it.
        q.wake_at(500_000);
        for n in [0, 5, 12] {
            q.try_push(frame(n, false)).ok().unwrap();
        }
        assert!(!lock(&q.state).wake);
        q.try_push(frame(13, false)).ok().unwrap();
        assert!(lock(&q.state).wake);
    }

    #[test]
    fn a_refused_frame_leaves_one_mark_where_the_hole_is_and_counts_not() {
        let q = Queue::new(2);
        q.add_sender();
        q.try_push(frame(0, true)).ok().unwrap();
        q.try_push(frame(1, false)).ok().unwrap();
        assert!(q.is_full());
        for n in 2..5 {
            assert!(matches!(
                q.try_push(frame(n, false)),
                Err((PushError::Full, 2))
            ));
        }
        let mut got = VecDeque::new();
        assert!(q.take(&mut got));
        assert_eq!(pts(&got), [Some(0), Some(1), None]);
        assert!(matches!(got.back(), Some(Msg::Lost)));
        assert!(!q.is_full());
    }

    #[test]
    fn a_closed_queue_releases_waiting_senders() {
        let q = Arc::new(Queue::new(1));
        q.add_sender();
        q.push_blocking(frame(0, false)).ok().unwrap();
        let blocked = {
            let q = q.clone();
            std::thread::spawn(move || q.push_blocking(frame(1, false)))
        };
        std::thread::sleep(Duration::from_millis(50));
        q.close();
        assert!(matches!(blocked.join().unwrap(), Err(PushError::Closed)));
        assert!(q.writer_gone());
        let rt = tokio::runtime::Builder::new_current_thread()
            .build()
            .unwrap();
        rt.block_on(async {
            q.closed().await;
            assert!(matches!(
                q.push_async(frame(2, false)).await,
                Err(PushError::Closed)
            ));
        });
    }
}

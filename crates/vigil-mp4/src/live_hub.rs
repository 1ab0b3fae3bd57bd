//! Live view distribution: one camera's encoded frames in (from its recorder thread), fragmented MP4 out
//! to any number of viewers, without decoding or per-viewer work.
//!
//! - [`live_channel`] makes a [`LivePublisher`] (owned by the camera's recorder thread) and a [`LiveHub`]
//!   (cloned into the web server) for one camera.
//! - [`LivePublisher::publish`] only reads the viewer count (one uncontended lock) when nobody watches:
//!   the fragmenter runs while at least one viewer is subscribed, and restarts at a key frame when the
//!   first one arrives.
//! - Each frame becomes one media segment (`prft` + `moof` + `mdat`) the moment it arrives, muxed once by
//!   the shared [`LiveFragmenter`] and broadcast as reference-counted [`Bytes`] to every viewer.
//! - A [`LiveViewer`] yields the init segment, then media segments starting at a key frame. The broadcast
//!   ring is bounded ([`LIVE_BUFFER`] segments): a viewer that falls behind loses its place and resumes at
//!   the next key frame (counted in [`LiveViewer::skipped`]); memory never grows with a slow viewer.

use crate::fragment::parse_moof;
use crate::live::{LiveFragmenter, LiveOutput};
use crate::read_box_header;
use bytes::Bytes;
use std::sync::Arc;
use tokio::sync::broadcast;
use vigil_core::EncodedFrame;

/// Media segments held for viewers that have not sent them yet (one per frame: ~5 s at 25 fps). A viewer
/// further behind than this skips to the next key frame.
pub const LIVE_BUFFER: usize = 128;

/// An init segment (`ftyp` + `moov`) and what a browser needs to open a source buffer for it.
#[derive(Debug, PartialEq, Eq)]
pub struct LiveInit {
    /// The bytes.
    pub data: Bytes,
    /// RFC 6381 codec string, e.g. `avc1.64001f`.
    pub codec: String,
}

impl LiveInit {
    /// The MIME type for `MediaSource.addSourceBuffer`, e.g. `video/mp4; codecs="avc1.64001f"`.
    pub fn mime(&self) -> String {
        format!("video/mp4; codecs=\"{}\"", self.codec)
    }
}

/// One media segment as broadcast to viewers.
#[derive(Debug, Clone)]
struct Segment {
    /// The init segment this media segment belongs to.
    init: Arc<LiveInit>,
    /// `prft` + `moof` + `mdat`.
    data: Bytes,
    /// The segment starts with a key frame: a viewer may start here.
    key: bool,
}

/// What a viewer receives, in order.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum LiveChunk {
    /// An init segment: (re)initialize the player with it. Always comes before the first media segment
    /// and again whenever the camera's parameters change.
    Init(Arc<LiveInit>),
    /// A media segment (`prft` + `moof` + `mdat`).
    Media(Bytes),
}

/// Makes the publishing and the subscribing ends of one camera's live view.
pub fn live_channel(camera: &str) -> (LivePublisher, LiveHub) {
    let (tx, _) = broadcast::channel(LIVE_BUFFER);
    let hub = LiveHub {
        camera: Arc::from(camera),
        tx: tx.downgrade(),
    };
    let publisher = LivePublisher {
        tx,
        fragmenter: None,
        init: None,
        published: 0,
    };
    (publisher, hub)
}

/// The camera side: fed every frame of the stream shown live. Dropping it ends every viewer's stream.
pub struct LivePublisher {
    tx: broadcast::Sender<Segment>,
    fragmenter: Option<LiveFragmenter>,
    init: Option<Arc<LiveInit>>,
    published: u64,
}

impl LivePublisher {
    /// Whether anyone watches now.
    pub fn watched(&self) -> bool {
        self.tx.receiver_count() > 0
    }

    /// Takes the next frame. Does nothing but read the viewer count while nobody watches.
    pub fn publish(&mut self, frame: &EncodedFrame) {
        if self.tx.receiver_count() == 0 {
            // Nobody watches: drop the fragmenter's held frames; the next viewer restarts at a key frame.
            self.fragmenter = None;
            return;
        }
        let fragmenter = self
            .fragmenter
            .get_or_insert_with(|| LiveFragmenter::immediate().with_producer_time());
        for out in fragmenter.push(frame) {
            match out {
                LiveOutput::Init { data, codec } => {
                    self.init = Some(Arc::new(LiveInit {
                        data: Bytes::from(data),
                        codec,
                    }));
                }
                LiveOutput::Media(data) => {
                    let Some(init) = &self.init else { continue };
                    let segment = Segment {
                        init: init.clone(),
                        key: media_starts_with_key(&data),
                        data: Bytes::from(data),
                    };
                    self.published += 1;
                    // An error only means every viewer left meanwhile.
                    let _ = self.tx.send(segment);
                }
            }
        }
    }

    /// The stream was interrupted (camera reconnect): viewers get a new init segment and the stream again
    /// from the next key frame, on the same timeline (their players keep playing forward).
    pub fn discontinuity(&mut self) {
        if let Some(f) = self.fragmenter.as_mut() {
            f.restart();
        }
    }

    /// Media segments broadcast so far.
    pub fn published(&self) -> u64 {
        self.published
    }
}

/// True when a media segment (`prft`? + `moof` + `mdat`) starts with a sync sample, read back with the
/// same parser that indexes recordings.
fn media_starts_with_key(segment: &[u8]) -> bool {
    let mut at = 0usize;
    while let Some(rest) = segment.get(at..) {
        let Ok(Some(header)) = read_box_header(rest) else {
            return false;
        };
        let Some(size) = header.size.and_then(|s| usize::try_from(s).ok()) else {
            return false;
        };
        if &header.fourcc == b"moof" {
            return rest.get(..size).is_some_and(|moof| {
                parse_moof("live segment", moof, 0)
                    .is_ok_and(|f| f.samples.first().is_some_and(|s| s.is_key))
            });
        }
        if size == 0 {
            return false;
        }
        at += size;
    }
    false
}

/// The viewer side of one camera, cloned freely (one per server, per camera).
#[derive(Debug, Clone)]
pub struct LiveHub {
    camera: Arc<str>,
    tx: broadcast::WeakSender<Segment>,
}

impl LiveHub {
    /// The camera's name.
    pub fn camera(&self) -> &str {
        &self.camera
    }

    /// A new viewer, or `None` when the camera's stream has stopped for good.
    pub fn subscribe(&self) -> Option<LiveViewer> {
        let tx = self.tx.upgrade()?;
        Some(LiveViewer {
            rx: tx.subscribe(),
            sent_init: None,
            pending: None,
            waiting_key: true,
            skipped: 0,
        })
    }

    /// Viewers now subscribed.
    pub fn viewers(&self) -> usize {
        self.tx.upgrade().map_or(0, |tx| tx.receiver_count())
    }
}

/// One viewer's stream: [`LiveViewer::next`] yields its chunks.
#[derive(Debug)]
pub struct LiveViewer {
    rx: broadcast::Receiver<Segment>,
    sent_init: Option<Arc<LiveInit>>,
    pending: Option<Bytes>,
    waiting_key: bool,
    skipped: u64,
}

impl LiveViewer {
    /// The next chunk; `None` when the camera's stream ended for good. Starts with an init segment and a
    /// key frame; after falling behind by more than [`LIVE_BUFFER`] segments, resumes at the next key frame.
    pub async fn next(&mut self) -> Option<LiveChunk> {
        if let Some(data) = self.pending.take() {
            return Some(LiveChunk::Media(data));
        }
        loop {
            match self.rx.recv().await {
                Ok(segment) => {
                    if self.waiting_key {
                        if !segment.key {
                            self.skipped += 1;
                            continue;
                        }
                        self.waiting_key = false;
                    }
                    let same_init = self
                        .sent_init
                        .as_ref()
                        .is_some_and(|i| Arc::ptr_eq(i, &segment.init));
                    if same_init {
                        return Some(LiveChunk::Media(segment.data));
                    }
                    self.sent_init = Some(segment.init.clone());
                    self.pending = Some(segment.data);
                    return Some(LiveChunk::Init(segment.init));
                }
                Err(broadcast::error::RecvError::Lagged(n)) => {
                    self.skipped += n;
                    self.waiting_key = true;
                }
                Err(broadcast::error::RecvError::Closed) => return None,
            }
        }
    }

    /// Media segments this viewer skipped (waiting for its first key frame, or after falling behind).
    pub fn skipped(&self) -> u64 {
        self.skipped
    }
}

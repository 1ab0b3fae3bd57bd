//! Recording end to end: the real `vigil run` binary recording cameras from the real RTSP server
//! (GStreamer, `dev/rtsp-server.py`), checked with FFmpeg's own tools.
//!
//! "Nothing lost" is checked frame by frame: every client of the test server gets the file from its first
//! frame, so a recording that lost nothing decodes to exactly the source's frames, in order, from frame 0.
//! The MD5 of every decoded frame of the export is compared with the source's (`ffmpeg -f framemd5`).

use std::ops::Range;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};
use support::Vigil;
use vigil_core::{Time90k, VideoCodec};
use vigil_media::test_server::{self, Mount, RtspTestServer, shared_footage};
use vigil_store::Reader;

#[path = "record_e2e/config_live.rs"]
mod config_live;
#[path = "record_e2e/health.rs"]
mod health;
mod support;

/// The source clip: 377 frames at 12.5 fps (30.2 s), a key frame every 60 frames (4.8 s).
const CLIP: &str = "intel/car-detection.mp4";
const FPS: f64 = 12.5;
const GOP: usize = 60;

fn clip_or_skip(test: &str) -> Option<PathBuf> {
    let Some(footage) = shared_footage() else {
        eprintln!("SKIP {test}: ../shared/footage is absent");
        return None;
    };
    if let Err(err) = RtspTestServer::check_available() {
        eprintln!("SKIP {test}: {err}");
        return None;
    }
    Some(footage.join(CLIP))
}

fn now_90k() -> i64 {
    let d = SystemTime::now().duration_since(UNIX_EPOCH).unwrap();
    (d.as_micros() as i64) * 9 / 100
}

/// MD5 of every decoded frame of `path`, in order; any decoder complaint fails.
fn frame_md5s(path: &Path) -> Vec<String> {
    test_server::frame_md5s(path).unwrap_or_else(|e| panic!("{e}"))
}

/// `ffprobe` must read the file; returns its packet count.
fn ffprobe_packets(path: &Path) -> usize {
    test_server::count_video_frames(path).unwrap_or_else(|e| panic!("{e}")) as usize
}

/// A `vigil.toml` recording `cameras` from `server`, serving its API on a free loopback port.
struct Config {
    path: PathBuf,
    port: u16,
}

impl Config {
    fn start(&self) -> Vigil {
        Vigil::spawn(&self.path, self.port, None)
    }
}

fn write_config(root: &Path, server: &RtspTestServer, cameras: &[&str]) -> Config {
    let urls: Vec<(&str, url::Url)> = cameras.iter().map(|c| (*c, server.url(c))).collect();
    write_config_urls(root, &urls)
}

/// Like [`write_config`], each camera with its own URL.
fn write_config_urls(root: &Path, cameras: &[(&str, url::Url)]) -> Config {
    let port = support::free_port();
    let mut text = format!(
        "data_dir = {:?}\n\n[server]\nlisten = \"127.0.0.1:{port}\"\n\n[storage]\nsegment_seconds = 8\n\n",
        root.join("data")
    );
    for (cam, url) in cameras {
        text.push_str(&format!(
            "[[camera]]\nname = \"{cam}\"\nmain = \"{url}\"\nroles = [\"record\"]\n\n"
        ));
    }
    let path = root.join("vigil.toml");
    std::fs::write(&path, text).unwrap();
    Config { path, port }
}

/// SIGTERM and a clean exit; returns everything it printed.
fn stop(mut vigil: Vigil) -> String {
    let clean = vigil.stop();
    let log = vigil.dump();
    assert!(clean, "vigil run did not stop cleanly:\n{log}");
    log
}

/// The store's reader, opening its encrypted segments (recorded encrypted at rest: `[storage] encrypt`
/// defaults to on) through the installation's key store.
fn reader(root: &Path) -> Reader {
    let keys = vigil_keys::KeyStore::open(&root.join("data"), &vigil_keys::MasterSource::Generated)
        .unwrap();
    Reader::open(&root.join("data/index.db"))
        .unwrap()
        .with_keys(std::sync::Arc::new(keys))
}

/// Continuous recorded ranges of a camera's main stream.
fn runs(root: &Path, camera: &str) -> Vec<Range<Time90k>> {
    reader(root)
        .recordings(camera, "main", Time90k(0), Time90k(i64::MAX / 4))
        .unwrap()
}

/// Exports `range` of `camera` to an MP4 and returns its path and frame count per the index.
fn export(root: &Path, camera: &str, range: &Range<Time90k>, name: &str) -> (PathBuf, usize) {
    let e = reader(root)
        .export(camera, "main", range.start, range.end)
        .unwrap();
    assert!(e.skipped.is_empty(), "{:?}", e.skipped);
    let path = root.join(name);
    let mut f = std::fs::File::create(&path).unwrap();
    e.file.write_all(&mut f, &mut |_| {}).unwrap();
    (path, e.frames)
}

/// The export decodes to the source's frames from frame 0 on, none missing, none repeated.
fn assert_source_prefix(export: &Path, source: &[String], what: &str) -> usize {
    let got = frame_md5s(export);
    assert!(!got.is_empty(), "{what}: no frames");
    for (i, md5) in got.iter().enumerate() {
        assert_eq!(
            md5,
            &source[i % source.len()],
            "{what}: frame {i} of {} differs from source frame {}",
            got.len(),
            i % source.len()
        );
    }
    got.len()
}

/// Plays every file to its end in headless Chromium (`record_e2e/play.mjs`, playwright-core from
/// `dev/install-deps`): `PATH` as a `<video>` source, `PATH@CODEC` (a fragmented MP4) through Media
/// Source Extensions as the live view plays. Skips with a message when Node.js, playwright-core or
/// Chromium is missing.
fn plays_in_chromium(files: &[String]) {
    let (Some(modules), Some(chromium)) = (support::node_modules(), support::chromium()) else {
        return;
    };
    let script = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/record_e2e/play.mjs");
    let out = Command::new("node")
        .arg(script)
        .args(files)
        .env("VIGIL_NODE_MODULES", &modules)
        .env("VIGIL_CHROMIUM", &chromium)
        .output()
        .unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout);
    eprintln!("{stdout}");
    assert!(
        out.status.success() && stdout.contains("[play] OK"),
        "Chromium did not play the exports:\n{stdout}\n{}",
        String::from_utf8_lossy(&out.stderr)
    );
}

fn wait_until(what: &str, timeout: Duration, mut cond: impl FnMut() -> bool) {
    let deadline = Instant::now() + timeout;
    while !cond() {
        assert!(Instant::now() < deadline, "timed out waiting for {what}");
        std::thread::sleep(Duration::from_millis(200));
    }
}

#[test]
fn four_cameras_for_a_minute_export_every_frame_the_source_sent() {
    let Some(clip) = clip_or_skip("four_cameras_for_a_minute") else {
        return;
    };
    let cams = ["cam1", "cam2", "cam3", "cam4"];
    let mounts: Vec<Mount> = cams
        .iter()
        .map(|c| Mount::new(c, &clip).looped(3))
        .collect();
    let server = RtspTestServer::start(&mounts).unwrap();
    let tmp = tempfile::tempdir().unwrap();
    let config = write_config(tmp.path(), &server, &cams);
    let source = frame_md5s(&clip);
    assert_eq!(source.len(), 377);

    let started = now_90k();
    let mut vigil = config.start();
    vigil.run_for(Duration::from_secs(60));
    let stopped = now_90k();
    let log = stop(vigil);

    let mut exports = Vec::new();
    for cam in cams {
        let runs = runs(tmp.path(), cam);
        assert_eq!(
            runs.len(),
            1,
            "{cam}: one continuous recording: {runs:?}\n{log}"
        );
        let run = &runs[0];
        // Recording starts within a few seconds of start-up and runs until the stop.
        assert!(
            run.start.0 - started < 5 * 90_000,
            "{cam} started late\n{log}"
        );
        assert!(stopped - run.end.0 < 2 * 90_000, "{cam} ended early\n{log}");
        let (mp4, frames) = export(tmp.path(), cam, run, &format!("{cam}.mp4"));
        assert_eq!(ffprobe_packets(&mp4), frames, "{cam}");
        let n = assert_source_prefix(&mp4, &source, cam);
        assert_eq!(n, frames, "{cam}");
        // What the source sent in the recorded time, within the first GOP.
        let sent = ((run.end.0 - run.start.0) as f64 / 90_000.0 * FPS).round() as usize;
        assert!(
            n.abs_diff(sent) <= GOP,
            "{cam}: {n} frames, source sent ~{sent}"
        );
        assert!(n as f64 >= 55.0 * FPS, "{cam}: only {n} frames in a minute");
        eprintln!("{cam}: {n} frames recorded and exported, source sent ~{sent}");
        exports.push(mp4.display().to_string());
    }
    plays_in_chromium(&exports);
}

#[test]
fn rtsp_server_down_for_ten_seconds_is_a_gap_with_nothing_lost_around_it() {
    let Some(clip) = clip_or_skip("rtsp_server_down") else {
        return;
    };
    let mut server = RtspTestServer::start(&[Mount::new("door", &clip).looped(3)]).unwrap();
    let tmp = tempfile::tempdir().unwrap();
    let config = write_config(tmp.path(), &server, &["door"]);
    let source = frame_md5s(&clip);

    let mut vigil = config.start();
    vigil.run_for(Duration::from_secs(15));
    server.stop(); // SIGKILL: connections drop without a TEARDOWN
    let down_at = now_90k();
    std::thread::sleep(Duration::from_secs(10));
    server.restart().unwrap();
    let up_at = now_90k();
    // Vigil reconnects by itself: a second run appears and grows.
    wait_until("the recording to resume", Duration::from_secs(30), || {
        runs(tmp.path(), "door").len() == 2
    });
    std::thread::sleep(Duration::from_secs(12));
    let log = stop(vigil);

    let runs = runs(tmp.path(), "door");
    assert_eq!(runs.len(), 2, "{runs:?}\n{log}");
    let gap = (runs[1].start.0 - runs[0].end.0) as f64 / 90_000.0;
    assert!(
        // 10 s down, then at most one reconnect backoff cap (5 s) and the connection set-up.
        (9.0..17.0).contains(&gap),
        "gap of {gap:.1} s for a 10 s outage\n{log}"
    );
    assert!(runs[0].end.0 <= down_at + 90_000 && runs[1].start.0 >= up_at - 90_000);
    // Both sides of the gap hold every frame the server sent: each connection starts at frame 0.
    for (i, run) in runs.iter().enumerate() {
        let (mp4, frames) = export(tmp.path(), "door", run, &format!("run{i}.mp4"));
        let n = assert_source_prefix(&mp4, &source, &format!("run {i}"));
        assert_eq!(n, frames);
        let sent = ((run.end.0 - run.start.0) as f64 / 90_000.0 * FPS).round() as usize;
        assert!(n.abs_diff(sent) <= 2, "run {i}: {n} frames, ~{sent} sent");
    }
    // One export across the gap: the gap is skipped, not filled.
    let whole = runs[0].start..runs[1].end;
    let e = reader(tmp.path())
        .export("door", "main", whole.start, whole.end)
        .unwrap();
    assert_eq!(e.gaps.len(), 1, "{:?}", e.gaps);
}

#[test]
fn kill_9_while_recording_then_restart_keeps_every_committed_segment() {
    let Some(clip) = clip_or_skip("kill_9_while_recording") else {
        return;
    };
    let server = RtspTestServer::start(&[Mount::new("yard", &clip).looped(3)]).unwrap();
    let tmp = tempfile::tempdir().unwrap();
    let config = write_config(tmp.path(), &server, &["yard"]);
    let source = frame_md5s(&clip);

    let mut vigil = config.start();
    vigil.run_for(Duration::from_secs(20));
    let killed_at = now_90k();
    vigil.kill_9();

    // Before any restart: what the index holds (the committed segments) is one run.
    let before = runs(tmp.path(), "yard");
    assert_eq!(before.len(), 1, "{before:?}");

    let mut vigil = config.start();
    vigil.run_for(Duration::from_secs(1));
    wait_until("recording to resume", Duration::from_secs(30), || {
        runs(tmp.path(), "yard").len() == 2
    });
    std::thread::sleep(Duration::from_secs(5));
    let log = stop(vigil);
    assert!(!log.contains("panicked"), "{log}");

    // The index and the files agree: every segment file exists with its indexed length, none damaged,
    // and no file is left that the index does not know.
    let segs = reader(tmp.path())
        .segments("yard", "main", Time90k(0), Time90k(i64::MAX / 4))
        .unwrap();
    let mut indexed: Vec<PathBuf> = Vec::new();
    for s in &segs {
        assert!(s.damaged.is_none(), "{s:?}");
        assert_eq!(std::fs::metadata(&s.file).unwrap().len(), s.bytes, "{s:?}");
        indexed.push(s.file.clone());
    }
    let dir = segs[0].file.parent().unwrap();
    for entry in std::fs::read_dir(dir).unwrap() {
        let path = entry.unwrap().path();
        if path.file_name().unwrap().to_string_lossy().starts_with('.') {
            continue; // the directory's own marker file
        }
        assert!(indexed.contains(&path), "{} is not indexed", path.display());
    }
    // The run recorded before the kill (as recovered at start-up) exports frame-exact; recording resumed.
    let after = runs(tmp.path(), "yard");
    assert_eq!(after.len(), 2, "{after:?}\n{log}");
    // Start-up recovered the segment in progress: the run goes on past the committed part, and at most
    // the last fragment (1 s) before the kill is missing. (Measured after recovery: how much of the run
    // was committed before the kill depends on when the last segment ended, i.e. on start-up timing.)
    assert_eq!(after[0].start, before[0].start);
    assert!(after[0].end >= before[0].end);
    assert!(
        killed_at - after[0].end.0 < 3 * 90_000,
        "lost more than the last fragment: {after:?}, killed at {killed_at}"
    );
    let (mp4, frames) = export(tmp.path(), "yard", &after[0], "before-kill.mp4");
    assert_eq!(assert_source_prefix(&mp4, &source, "before kill"), frames);
    assert!(
        frames as f64 >= 15.0 * FPS,
        "{frames} frames before the kill"
    );
    let (mp4, frames) = export(tmp.path(), "yard", &after[1], "after-restart.mp4");
    assert_eq!(assert_source_prefix(&mp4, &source, "after restart"), frames);
}

/// Intel's one-by-one clip (10 fps, the source of the B-frame cameras), or `None` after a SKIP line.
fn one_by_one_or_skip(test: &str) -> Option<PathBuf> {
    let clip = clip_or_skip(test)?;
    Some(clip.with_file_name("one-by-one-person-detection.mp4"))
}

/// `file` served `times` times back to back, as one file (stream copy), so that its packets can be
/// compared with a recording of it.
fn looped(file: &Path, times: u32, dir: &Path) -> PathBuf {
    let out = dir.join(format!(
        "{}-x{times}.mp4",
        file.file_stem().unwrap().to_string_lossy()
    ));
    let status = Command::new("ffmpeg")
        .args([
            "-v",
            "error",
            "-y",
            "-stream_loop",
            &(times - 1).to_string(),
            "-i",
        ])
        .arg(file)
        .args(["-map", "0:v:0", "-c", "copy"])
        .arg(&out)
        .status()
        .unwrap();
    assert!(status.success());
    out
}

/// `(pts, dts)` of every packet (ffprobe, 90 kHz) relative to the first packet's decode time.
fn relative_times(path: &Path) -> Vec<(i64, i64)> {
    let t = test_server::packet_times(path).unwrap_or_else(|e| panic!("{e}"));
    test_server::relative_to_first_dts(&t)
}

/// The export of `camera`'s one run holds the first frames (decode order) of `source` (the file the
/// server sent from its start) exactly: every packet with the source's presentation and decode time (±1
/// tick of the server's RTP rounding), decoding to the source's pictures of those frames (frame MD5s in
/// presentation order: where recording stopped between a P-frame and the B-frames shown before it, the
/// P-frame's picture follows), read by ffprobe and FFmpeg without a complaint. Returns the export and its
/// frame count.
fn assert_recorded_exactly(
    root: &Path,
    camera: &str,
    source: &Path,
    log: &str,
) -> (PathBuf, usize) {
    let runs = runs(root, camera);
    assert_eq!(
        runs.len(),
        1,
        "{camera}: one continuous recording: {runs:?}\n{log}"
    );
    let (mp4, frames) = export(root, camera, &runs[0], &format!("{camera}.mp4"));
    assert_eq!(ffprobe_packets(&mp4), frames, "{camera}");
    let got = relative_times(&mp4);
    let want = relative_times(source);
    assert!(
        frames <= want.len(),
        "{camera}: more frames than the source has"
    );
    assert_eq!(got.len(), frames);
    for (i, (g, w)) in got.iter().zip(&want).enumerate() {
        assert!(
            (g.0 - w.0).abs() <= 1 && (g.1 - w.1).abs() <= 1,
            "{camera}: packet {i}: (pts, dts) {g:?}, the source has {w:?}"
        );
    }
    let pts: Vec<i64> = want.iter().map(|t| t.0).collect();
    let expected = test_server::kept_frame_md5s(&frame_md5s(source), &pts, frames);
    let decoded = frame_md5s(&mp4);
    assert_eq!(decoded.len(), frames, "{camera}: decoded frames");
    assert_eq!(expected.len(), frames, "{camera}: source frames");
    if let Some(i) = (0..frames).find(|&i| decoded[i] != expected[i]) {
        panic!("{camera}: decoded frame {i} of {frames} is not the source's");
    }
    let warnings = test_server::remux_warnings(&mp4).unwrap_or_else(|e| panic!("{e}"));
    assert!(warnings.is_empty(), "{camera}: FFmpeg says: {warnings}");
    (mp4, frames)
}

#[test]
fn b_frame_cameras_h264_h265_and_switching_gops_record_every_frame_with_its_times() {
    let Some(footage) = one_by_one_or_skip("b_frame_cameras") else {
        return;
    };
    let tmp = tempfile::tempdir().unwrap();
    // 10 fps like the camera, a key frame every 2 s; each file longer than the recording.
    let h264 =
        test_server::make_b_frames(&footage, tmp.path(), VideoCodec::H264, 200, 20, 768).unwrap();
    let h265 =
        test_server::make_b_frames(&footage, tmp.path(), VideoCodec::H265, 200, 20, 384).unwrap();
    let switching = test_server::make_b_frame_switching(&footage, tmp.path(), 4, 20, 384).unwrap();
    let sources = [
        ("h264", looped(&h264, 2, tmp.path())),
        ("h265", looped(&h265, 2, tmp.path())),
        ("switching", looped(&switching, 5, tmp.path())),
    ];
    let mounts: Vec<Mount> = sources.iter().map(|(c, f)| Mount::new(c, f)).collect();
    let server = RtspTestServer::start(&mounts).unwrap();
    let config = write_config(tmp.path(), &server, &["h264", "h265", "switching"]);

    let mut vigil = config.start();
    vigil.run_for(Duration::from_secs(30));
    let log = stop(vigil);
    assert!(!log.contains("camera clock jump or gap"), "{log}");

    let mut chromium = Vec::new();
    for (camera, source) in &sources {
        let (mp4, frames) = assert_recorded_exactly(tmp.path(), camera, source, &log);
        assert!(frames >= 250, "{camera}: {frames} frames in 30 s at 10 fps");
        let segs = reader(tmp.path())
            .segments(camera, "main", Time90k(0), Time90k(i64::MAX / 4))
            .unwrap();
        assert!(segs.iter().any(|s| s.reordered), "{camera}");
        eprintln!("{camera}: {frames} frames recorded and exported with their times");
        if *camera == "h265" {
            continue; // Debian's Chromium has no H.265 decoder
        }
        chromium.push(mp4.display().to_string());
        // The fragmented playback of the same run (version-1 trun with composition offsets), through
        // Media Source Extensions.
        let run = &runs(tmp.path(), camera)[0];
        let e = reader(tmp.path())
            .export_fragmented(camera, "main", run.start, run.end)
            .unwrap();
        let path = tmp.path().join(format!("{camera}-fragmented.mp4"));
        e.file
            .write_all(&mut std::fs::File::create(&path).unwrap(), &mut |_| {})
            .unwrap();
        chromium.push(format!("{}@{}", path.display(), e.codec));
    }
    // The live view's bytes for the H.264 camera (one frame per media segment, as viewers get them).
    let video = vigil_media::demux::demux_file(&sources[0].1).unwrap();
    let mut live = vigil_mp4::live::LiveFragmenter::immediate().with_producer_time();
    let mut bytes = Vec::new();
    for f in &video.frames {
        for out in live.push(f) {
            match out {
                vigil_mp4::live::LiveOutput::Init { data, .. } => bytes.extend(data),
                vigil_mp4::live::LiveOutput::Media(data) => bytes.extend(data),
            }
        }
    }
    let path = tmp.path().join("h264-live.mp4");
    std::fs::write(&path, bytes).unwrap();
    chromium.push(format!("{}@{}", path.display(), video.params.rfc6381_codec));
    plays_in_chromium(&chromium);
}

#[test]
fn camera_clock_wrapping_or_stepping_back_loses_no_frame() {
    let Some(footage) = one_by_one_or_skip("camera_clock_wrap_and_step_back") else {
        return;
    };
    let tmp = tempfile::tempdir().unwrap();
    let h264 =
        test_server::make_b_frames(&footage, tmp.path(), VideoCodec::H264, 200, 20, 384).unwrap();
    let source = looped(&h264, 2, tmp.path());
    let server = RtspTestServer::start(&[Mount::new("cam", &source)]).unwrap();
    // One camera whose 32-bit RTP clock wraps 5 s in; one whose clock steps back a minute at frame 105,
    // in the middle of a GOP (key frames every 20 frames).
    let wrap = test_server::TimestampShiftProxy::start(
        server.port(),
        test_server::TimestampShift {
            first: Some(u32::MAX - 5 * 90_000),
            ..Default::default()
        },
    )
    .unwrap();
    let back = test_server::TimestampShiftProxy::start(
        server.port(),
        test_server::TimestampShift {
            jumps: vec![(105, -60 * 90_000)],
            ..Default::default()
        },
    )
    .unwrap();
    let config = write_config_urls(
        tmp.path(),
        &[("wrap", wrap.url("cam")), ("back", back.url("cam"))],
    );
    let mut vigil = config.start();
    vigil.run_for(Duration::from_secs(20));
    let log = stop(vigil);

    // The wrap is invisible: one run, every frame with its times.
    let (_, frames) = assert_recorded_exactly(tmp.path(), "wrap", &source, &log);
    assert!(frames >= 160, "{frames} frames in 20 s at 10 fps");
    // The step back is a timeline break, said in the log; the frames after it (to the next key frame
    // too) are recorded: one continuous recording decoding to the source's frames, the frame before the
    // break given the nominal duration, so the times run on as the source's do.
    assert!(log.contains("TimestampJump"), "{log}");
    assert!(log.contains("camera clock jump or gap"), "{log}");
    let (_, frames) = assert_recorded_exactly(tmp.path(), "back", &source, &log);
    assert!(frames >= 160, "{frames} frames in 20 s at 10 fps");
}

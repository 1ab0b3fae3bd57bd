//! Identity from the command line, with the real models on photos cut from the shared footage: `vigil face
//! match` tells the same person from another, bad photos get clear errors, `vigil face enrol` / `identify`
//! / `erase` keep templates sealed (none in the clear in the database), still match after `vigil keys
//! rotate`, and erase everything of a person, every step in the audit log.

mod support;

use std::path::{Path, PathBuf};
use support::{cli, footage};
use vigil_core::{BBox, BgrImage};
use vigil_media::VideoSource;
use vigil_media::convert::Converter;
use vigil_vision::face_embed::{FaceEmbedder, align};
use vigil_vision::faces::FaceDetector;
use vigil_vision::model::{MOBILEFACENET, ModelStore, YUNET};

fn s(p: &Path) -> &str {
    p.to_str().unwrap()
}

/// The models folder and a YuNet detector, or `None` after a visible SKIP.
fn models() -> Option<(PathBuf, ModelStore, vigil_vision::runtime::Runtime)> {
    let video = footage("intel/face-demographics-walking-and-pause.mp4")?;
    let dir = video.parent()?.parent()?.parent()?.join("models");
    if !dir.join(MOBILEFACENET.file_name).is_file() || !dir.join(YUNET.file_name).is_file() {
        eprintln!("SKIP: the face models are not in {}", dir.display());
        return None;
    }
    let Some(ort) = std::env::var_os("ORT_DYLIB_PATH") else {
        eprintln!("SKIP: ORT_DYLIB_PATH not set (source dev/install-deps)");
        return None;
    };
    let rt = vigil_vision::runtime::Runtime::init(Some(Path::new(&ort))).expect("ONNX Runtime");
    let store = ModelStore::new(vec![dir.clone()], None);
    Some((dir, store, rt))
}

/// Frames 0, 10, 20, ... of the corridor clip.
fn frames() -> Vec<BgrImage> {
    let clip = footage("intel/face-demographics-walking-and-pause.mp4").unwrap();
    let mut src = VideoSource::open(&clip).unwrap();
    let mut conv = Converter::new();
    let mut out = Vec::new();
    let mut n = 0;
    while let Some(f) = src.next_frame().unwrap() {
        if n % 10 == 0 {
            out.push(f.bgr(&mut conv, f.width(), f.height()).unwrap());
        }
        n += 1;
    }
    out
}

/// A square JPEG around `b` (the face and some of the head), written to `path`.
fn crop(img: &BgrImage, b: &BBox, path: &Path) {
    let (cx, cy) = ((b.x1 + b.x2) / 2.0, (b.y1 + b.y2) / 2.0);
    let side = b.width().max(b.height()) * 2.0;
    let x = (cx - side / 2.0).max(0.0) as u32;
    let y = (cy - side / 2.0).max(0.0) as u32;
    let w = (side as u32).min(img.width() - x);
    let h = (side as u32).min(img.height() - y);
    let c = img.crop(x, y, w, h).unwrap();
    std::fs::write(path, vigil_media::encode::encode_jpeg(&c, 95).unwrap()).unwrap();
}

fn json(out: &str) -> serde_json::Value {
    serde_json::from_str(out.trim()).unwrap_or_else(|e| panic!("not JSON ({e}): {out}"))
}

#[test]
fn faces_are_matched_enrolled_identified_and_erased_with_sealed_templates() {
    let Some((dir, store, rt)) = models() else {
        return;
    };
    let tmp = tempfile::tempdir().unwrap();
    let t = tmp.path();
    // Photos: the person on the left in frames 0, 10 and 20; the person on the right in frame 0.
    let (path, bytes) = store.load_asset(&YUNET).unwrap();
    let mut yunet = FaceDetector::new(&rt, &path, &bytes, 2).unwrap();
    let frames = frames();
    let mut left = Vec::new();
    let mut right = None;
    for (i, img) in frames.iter().take(3).enumerate() {
        let mut faces = yunet.detect(img).unwrap();
        assert!(faces.len() >= 2, "frame {}: {} faces", i * 10, faces.len());
        faces.sort_by(|a, b| a.bbox.x1.total_cmp(&b.bbox.x1));
        let p = t.join(format!("left-{i}.jpg"));
        crop(img, &faces[0].bbox, &p);
        left.push(p);
        if i == 0 {
            let p = t.join("right-0.jpg");
            crop(img, &faces[faces.len() - 1].bbox, &p);
            right = Some(p);
        }
    }
    let right = right.unwrap();
    let models = ["--models", s(&dir)];

    // match: the same person ten frames later; another person.
    let (code, out, err) = cli(
        &[&["face", "match", s(&left[0]), s(&left[1])][..], &models].concat(),
        None,
        &[],
    );
    assert_eq!(code, 0, "{err}");
    let same = json(&out);
    assert_eq!(same["same"], true, "{same}");
    let (code, out, err) = cli(
        &[&["face", "match", s(&left[0]), s(&right)][..], &models].concat(),
        None,
        &[],
    );
    assert_eq!(code, 0, "{err}");
    let other = json(&out);
    assert_eq!(other["same"], false, "{other}");
    assert!(same["similarity"].as_f64() > other["similarity"].as_f64());

    // Bad photos: clear errors, exit 1.
    let grey = t.join("grey.jpg");
    std::fs::write(
        &grey,
        vigil_media::encode::encode_jpeg(&BgrImage::filled(200, 200, 120), 90).unwrap(),
    )
    .unwrap();
    let crowd = t.join("crowd.jpg");
    std::fs::write(
        &crowd,
        vigil_media::encode::encode_jpeg(&frames[0], 90).unwrap(),
    )
    .unwrap();
    let corrupt = t.join("corrupt.jpg");
    std::fs::write(&corrupt, b"\xff\xd8\xff\xe0 this is not a JPEG").unwrap();
    let tiny = t.join("tiny.jpg");
    std::fs::write(
        &tiny,
        vigil_media::encode::encode_jpeg(&BgrImage::filled(16, 16, 90), 90).unwrap(),
    )
    .unwrap();
    for (photo, says) in [
        (&grey, "no face found"),
        (&crowd, "faces in"),
        (&corrupt, "not a readable"),
        (&tiny, "too small"),
    ] {
        let (code, _, err) = cli(
            &[&["face", "match", s(&left[0]), s(photo)][..], &models].concat(),
            None,
            &[],
        );
        assert_eq!(code, 1, "{}: {err}", photo.display());
        assert!(err.contains(says), "{}: {err}", photo.display());
    }

    // A watchlist: enrol, refuse the same name, identify, rotate the master key, identify again, erase.
    let data = t.join("data");
    std::fs::create_dir_all(&data).unwrap();
    let config = t.join("vigil.toml");
    std::fs::write(
        &config,
        format!(
            "data_dir = {:?}\n[server]\nlisten = \"127.0.0.1:0\"\n",
            data.display().to_string()
        ),
    )
    .unwrap();
    let cfg = ["--config", s(&config)];
    let enrol = |name: &str, photos: &[&Path]| {
        let mut args = vec!["face", "enrol", "--name", name, "--list", "staff"];
        args.extend(cfg);
        args.extend(models);
        args.extend(photos.iter().map(|p| s(p)));
        cli(&args, None, &[])
    };
    let (code, out, err) = enrol("Alice", &[&left[0], &left[1]]);
    assert_eq!(code, 0, "{err}");
    assert!(out.contains("2 template(s)"), "{out}");
    let (code, _, err) = enrol("Alice", &[&left[2]]);
    assert_eq!(code, 1);
    assert!(err.contains("already enrolled"), "{err}");
    let (code, _, err) = enrol("Bob", &[&crowd]);
    assert_eq!(code, 1, "an enrolment from a photo of several people");
    assert!(err.contains("faces in"), "{err}");
    let identify = |photo: &Path| {
        let (code, out, err) = cli(
            &[&["face", "identify", s(photo)][..], &cfg, &models].concat(),
            None,
            &[],
        );
        assert_eq!(code, 0, "{err}");
        json(&out)
    };
    assert_eq!(identify(&left[2])["match"]["name"], "Alice");
    assert!(identify(&right)["match"].is_null());

    // No template in the clear: the embedding's first floats are nowhere in the database files.
    let (path, bytes) = store.load_asset(&MOBILEFACENET).unwrap();
    let mut embedder = FaceEmbedder::new(&rt, &path, &bytes, 2).unwrap();
    let img =
        vigil_vision::face_embed::on_canvas(vigil_media::image_file::read_bgr(&left[0]).unwrap());
    let face = yunet.detect(&img).unwrap().remove(0);
    let e = embedder.embed(&align(&img, &face.landmarks)).unwrap();
    let raw: Vec<u8> = e[..4].iter().flat_map(|v| v.to_le_bytes()).collect();
    for f in std::fs::read_dir(&data).unwrap() {
        let f = f.unwrap().path();
        if f.file_name()
            .unwrap()
            .to_string_lossy()
            .starts_with("identity.db")
        {
            let bytes = std::fs::read(&f).unwrap();
            assert!(
                !bytes.windows(raw.len()).any(|w| w == raw),
                "{} holds a template in the clear",
                f.display()
            );
        }
    }

    // A template sealed under a retired master key still matches after rotation.
    let (code, _, err) = cli(&["keys", "rotate", "--config", s(&config)], None, &[]);
    assert_eq!(code, 0, "{err}");
    assert_eq!(identify(&left[2])["match"]["name"], "Alice");

    let (code, out, err) = cli(
        &[&["face", "erase", "--name", "Alice", "--json"][..], &cfg].concat(),
        None,
        &[],
    );
    assert_eq!(code, 0, "{err}");
    let report = json(&out);
    assert_eq!(report["templates"], 2);
    assert!(report["audit_entry"].as_i64().is_some());
    assert!(identify(&left[2])["match"].is_null());
    let (code, out, _) = cli(&[&["face", "list"][..], &cfg].concat(), None, &[]);
    assert_eq!(code, 0);
    assert!(out.contains("nobody is enrolled"), "{out}");
    let (code, _, err) = cli(
        &[&["face", "erase", "--name", "Alice"][..], &cfg].concat(),
        None,
        &[],
    );
    assert_eq!(code, 1);
    assert!(err.contains("nobody called"), "{err}");

    // Every enrolment, search, view and erasure is in the audit log, and the log still verifies.
    let db = rusqlite::Connection::open(data.join("security.db")).unwrap();
    let actions: Vec<String> = db
        .prepare("SELECT action FROM audit WHERE action LIKE 'face.%' ORDER BY id")
        .unwrap()
        .query_map([], |r| r.get(0))
        .unwrap()
        .collect::<Result<_, _>>()
        .unwrap();
    assert_eq!(
        actions,
        [
            "face.enrol",
            "face.search",
            "face.search",
            "face.search",
            "face.erase",
            "face.search",
            "face.view"
        ],
    );
    let (code, _, err) = cli(&["audit", "verify", "--config", s(&config)], None, &[]);
    assert_eq!(code, 0, "{err}");
}

/// Face recognition in the analysis (`[faces.camera.NAME]`, the stage `vigil run` runs): on the corridor
/// clip with the person on the left enrolled (three photos of them cut from it), `vigil analyze --events`
/// raises `face_recognized` for them, named, and `face_unknown` for the others, who are in a zone where
/// only enrolled people may be; each event ends when its track does. Without `[faces.camera.NAME]`,
/// nothing of the kind.
#[test]
fn analysis_recognises_the_enrolled_person_and_flags_unknown_faces_in_a_restricted_zone() {
    let Some((dir, store, rt)) = models() else {
        return;
    };
    let clip = footage("intel/face-demographics-walking-and-pause.mp4").unwrap();
    let tmp = tempfile::tempdir().unwrap();
    let t = tmp.path();
    let (path, bytes) = store.load_asset(&YUNET).unwrap();
    let mut yunet = FaceDetector::new(&rt, &path, &bytes, 2).unwrap();
    let mut photos = Vec::new();
    for (i, img) in frames().iter().take(3).enumerate() {
        let mut faces = yunet.detect(img).unwrap();
        faces.sort_by(|a, b| a.bbox.x1.total_cmp(&b.bbox.x1));
        let p = t.join(format!("left-{i}.jpg"));
        crop(img, &faces[0].bbox, &p);
        photos.push(p);
    }
    let data = t.join("data");
    let base = format!(
        "data_dir = {:?}\n[[camera]]\nname = \"corridor\"\nmain = \"file://{}\"\nroles = [\"analyze\"]\n\n\
         [rules.corridor]\n[[rules.corridor.zone]]\nname = \"Hall\"\n\
         points = [[0.0, 0.0], [1.0, 0.0], [1.0, 1.0], [0.0, 1.0]]\n",
        data.display().to_string(),
        clip.display()
    );
    let config = t.join("vigil.toml");
    std::fs::write(
        &config,
        format!("{base}\n[faces]\n[faces.alerts]\nstaff = \"low\"\n[faces.camera.corridor]\nonly_enrolled = [\"Hall\"]\n"),
    )
    .unwrap();
    let models = ["--models", s(&dir)];
    let mut args = vec![
        "face",
        "enrol",
        "--name",
        "Left Person",
        "--list",
        "staff",
        "--config",
        s(&config),
    ];
    args.extend(models);
    args.extend(photos.iter().map(|p| s(p)));
    let (code, _, err) = cli(&args, None, &[]);
    assert_eq!(code, 0, "{err}");

    let analyse = |config: &Path| -> Vec<serde_json::Value> {
        let events = t.join("events.jsonl");
        let (code, out, err) = cli(
            &[
                &[
                    "analyze",
                    s(&clip),
                    "--config",
                    s(config),
                    "--camera",
                    "corridor",
                ][..],
                &["--events", s(&events), "--quiet"],
                &models,
            ]
            .concat(),
            None,
            &[],
        );
        assert_eq!(code, 0, "{err}");
        eprintln!("{out}");
        std::fs::read_to_string(&events)
            .unwrap()
            .lines()
            .map(|l| serde_json::from_str(l).unwrap())
            .collect()
    };
    let events = analyse(&config);
    let of = |kind: &str, phase: &str| -> Vec<&serde_json::Value> {
        events
            .iter()
            .filter(|e| e["kind"]["type"] == kind && e["phase"] == phase)
            .collect()
    };
    let recognised = of("face_recognized", "start");
    assert_eq!(recognised.len(), 1, "{events:#?}");
    let r = recognised[0];
    assert_eq!(r["kind"]["person"], "Left Person");
    assert_eq!(r["kind"]["list"], "staff");
    assert_eq!(r["kind"]["alert"], "low");
    assert!(r["kind"]["similarity"].as_f64().unwrap() >= 0.75, "{r}");
    assert!(
        r["description"]
            .as_str()
            .unwrap()
            .contains("Left Person (watchlist 'staff') recognised"),
        "{r}"
    );
    assert_eq!(r["rule"], "faces");
    let unknown = of("face_unknown", "start");
    assert!(!unknown.is_empty(), "{events:#?}");
    for u in &unknown {
        assert_eq!(u["zone"], "Hall");
        assert_ne!(
            u["track_ids"], r["track_ids"],
            "the enrolled person taken for unknown: {u}"
        );
        assert!(u["kind"]["best_similarity"].as_f64().unwrap() < 0.75, "{u}");
    }
    // Every face event that started ended, once.
    for start in recognised.iter().chain(&unknown) {
        let ends = events
            .iter()
            .filter(|e| e["id"] == start["id"] && e["phase"] == "end")
            .count();
        assert_eq!(ends, 1, "{start}");
    }
    eprintln!(
        "face events on the corridor clip: {} recognised, {} unknown",
        recognised.len(),
        unknown.len()
    );

    // Not opted in: no face is looked at.
    let off = t.join("off.toml");
    std::fs::write(&off, &base).unwrap();
    let events = analyse(&off);
    assert!(
        events
            .iter()
            .all(|e| !e["kind"]["type"].as_str().unwrap_or("").starts_with("face")),
        "{events:#?}"
    );
}

/// Plate reading in the analysis (`[plates.camera.NAME]`, the stage `vigil run` runs), on the shared car
/// clip with a plate painted onto its car (synthetic: the clip has no readable plate; white with black
/// letters in `vigil_media::draw`'s font, 80 % of the car's width, following the car's box as the
/// detector tracked it in a first pass; the car is in view for about a second, so every analysed frame
/// is read): `vigil analyze --events` raises one `plate_read` for the car
/// with the plate's text, the deny list it is on (written with a separator: compared canonically) and
/// that list's alert level, ended with the track; without `[plates.camera.NAME]`, none.
#[test]
fn analysis_reads_a_cars_plate_and_finds_it_on_the_deny_list() {
    let Some((dir, _, _)) = models() else {
        return;
    };
    let Some(clip) = footage("intel/car-detection.mp4") else {
        return;
    };
    let tmp = tempfile::tempdir().unwrap();
    let t = tmp.path();
    let every = ["--detect-fps", "12.5", "--gating", "every-frame", "--quiet"];
    let models = ["--models", s(&dir)];

    // Pass 1: where the car is in each frame.
    let tracks = t.join("tracks.jsonl");
    let (code, _, err) = cli(
        &[
            &["analyze", s(&clip), "--out", s(&tracks)][..],
            &every,
            &models,
        ]
        .concat(),
        None,
        &[],
    );
    assert_eq!(code, 0, "{err}");
    let mut boxes: std::collections::BTreeMap<u64, std::collections::BTreeMap<usize, Vec<f64>>> =
        Default::default();
    for line in std::fs::read_to_string(&tracks).unwrap().lines() {
        let v: serde_json::Value = serde_json::from_str(line).unwrap();
        let frame = v["frame"].as_u64().unwrap() as usize;
        for tr in v["tracks"].as_array().unwrap() {
            if ["car", "truck", "bus"].contains(&tr["class"].as_str().unwrap_or("")) {
                let b: Vec<f64> = tr["box"]
                    .as_array()
                    .unwrap()
                    .iter()
                    .map(|x| x.as_f64().unwrap())
                    .collect();
                boxes
                    .entry(tr["id"].as_u64().unwrap())
                    .or_default()
                    .insert(frame, b);
            }
        }
    }
    let car = boxes
        .values()
        .max_by_key(|b| b.len())
        .expect("a vehicle is tracked in the clip");
    assert!(car.len() >= 8, "the car is tracked in {} frames", car.len());

    // The clip again, with the plate painted on the car.
    let plated = t.join("plated.mp4");
    let mut src = VideoSource::open(&clip).unwrap();
    let fps = src.info().fps;
    let mut conv = Converter::new();
    let mut writer: Option<vigil_media::VideoWriter> = None;
    let mut n = 0usize;
    while let Some(f) = src.next_frame().unwrap() {
        let mut img = f.bgr(&mut conv, f.width(), f.height()).unwrap();
        if let Some(b) = car.get(&n) {
            let width = (b[2] - b[0]) * 0.8;
            let scale = ((width - 16.0) / f64::from(vigil_media::draw::text_size("KX58RTY", 1).0))
                .floor()
                .max(1.0) as u32;
            let (tw, th) = vigil_media::draw::text_size("KX58RTY", scale);
            let (pw, ph) = (tw + 16, th + 10);
            let x = ((b[0] + b[2]) / 2.0) as i64 - i64::from(pw / 2);
            let y = (b[1] + (b[3] - b[1]) * 0.6) as i64;
            vigil_media::draw::fill_rect(&mut img, x, y, pw, ph, [245, 245, 245]);
            vigil_media::draw::draw_text(&mut img, x + 8, y + 5, "KX58RTY", [20, 20, 20], scale);
        }
        let w = match &mut writer {
            Some(w) => w,
            None => writer.insert(
                vigil_media::VideoWriter::create_camera_like(
                    &plated,
                    img.width(),
                    img.height(),
                    fps,
                )
                .unwrap(),
            ),
        };
        w.write(&img).unwrap();
        n += 1;
    }
    writer.unwrap().finish().unwrap();

    let data = t.join("data");
    let base = format!(
        "data_dir = {:?}\n[[camera]]\nname = \"lot\"\nmain = \"file://{}\"\nroles = [\"analyze\"]\n\n\
         [plates]\nsample_seconds = 0.05\n[plates.lists]\ndeny = [\"KX58 RTY\"]\nstaff = [\"LM07ABC\"]\n",
        data.display().to_string(),
        plated.display()
    );
    let analyse = |text: &str| -> Vec<serde_json::Value> {
        let config = t.join("vigil.toml");
        std::fs::write(&config, text).unwrap();
        let events = t.join("events.jsonl");
        let (code, _, err) = cli(
            &[
                &[
                    "analyze",
                    s(&plated),
                    "--config",
                    s(&config),
                    "--camera",
                    "lot",
                ][..],
                &["--events", s(&events)],
                &every,
                &models,
            ]
            .concat(),
            None,
            &[],
        );
        assert_eq!(code, 0, "{err}");
        std::fs::read_to_string(&events)
            .unwrap()
            .lines()
            .map(|l| serde_json::from_str(l).unwrap())
            .collect()
    };
    let events = analyse(&format!("{base}\n[plates.camera.lot]\n"));
    let starts: Vec<&serde_json::Value> = events
        .iter()
        .filter(|e| e["kind"]["type"] == "plate_read" && e["phase"] == "start")
        .collect();
    assert_eq!(starts.len(), 1, "{events:#?}");
    let read = starts[0];
    eprintln!("plate event: {}", read["description"]);
    assert_eq!(read["kind"]["plate"], "KX58RTY", "{read}");
    assert_eq!(read["kind"]["list"], "deny");
    assert_eq!(read["kind"]["alert"], "high");
    assert!(
        ["car", "truck", "bus"].contains(&read["class_name"].as_str().unwrap()),
        "{read}"
    );
    assert_eq!(read["rule"], "plates");
    let last = events.iter().rev().find(|e| e["id"] == read["id"]).unwrap();
    assert_eq!(last["phase"], "end", "{last}");
    assert!(last["kind"]["reads"].as_u64().unwrap() >= 2, "{last}");

    let events = analyse(&base);
    assert!(
        events.iter().all(|e| e["kind"]["type"] != "plate_read"),
        "{events:#?}"
    );
}

/// `vigil plate search`: the stored plate events of a configuration's event store, exact, by prefix and
/// one character off, newest first as JSON lines, each search in the audit log; a query without a letter
/// or digit is refused.
#[test]
fn vigil_plate_search_finds_stored_plates_and_is_audited() {
    let tmp = tempfile::tempdir().unwrap();
    let t = tmp.path();
    let data = t.join("data");
    let config = t.join("vigil.toml");
    std::fs::write(
        &config,
        format!(
            "data_dir = {:?}\n[storage]\nencrypt = false\n",
            data.display().to_string()
        ),
    )
    .unwrap();
    let parsed = vigil_config::VigilConfig::load(&config).unwrap();
    let mut store_config = parsed.store_config().unwrap();
    store_config.background_retention = false;
    {
        let (store, _) = vigil_store::Store::open(store_config).unwrap();
        let events: Vec<vigil_core::Event> = ["KX58RTY", "KX58RTV", "AB12CDE"]
            .iter()
            .enumerate()
            .map(|(i, plate)| {
                let at = vigil_core::EventTime {
                    unix_ms: 1_800_000_000_000 + i as i64 * 1000,
                    media: vigil_core::Time90k(0),
                };
                vigil_core::Event {
                    attributes: Default::default(),
                    id: vigil_core::EventId::from_parts(at.unix_ms as u64, i as u128 + 1),
                    camera: "gate".into(),
                    rule: "plates".into(),
                    kind: vigil_core::EventKind::PlateRead {
                        plate: (*plate).into(),
                        confidence: 0.9,
                        reads: 3,
                        list: None,
                        alert: "none".into(),
                    },
                    phase: vigil_core::EventPhase::End,
                    class_name: "car".into(),
                    objects: Vec::new(),
                    track_ids: vec![i as u64],
                    zone: None,
                    line: None,
                    start: at,
                    last: at,
                    end: Some(at),
                    best: None,
                    description: format!("Plate {plate} on a car"),
                }
            })
            .collect();
        store.record_events(&events).unwrap();
        store.close();
    }
    let search = |args: &[&str]| -> Vec<String> {
        let (code, out, err) = cli(
            &[&["plate", "search"][..], args, &["--config", s(&config)]].concat(),
            None,
            &[],
        );
        assert_eq!(code, 0, "{err}");
        out.lines()
            .map(|l| json(l)["kind"]["plate"].as_str().unwrap().to_string())
            .collect()
    };
    assert_eq!(search(&["kx58 rty"]), ["KX58RTY"]);
    assert_eq!(
        search(&["KX58", "--match", "prefix"]),
        ["KX58RTV", "KX58RTY"]
    );
    assert_eq!(
        search(&["KX58RTY", "--match", "fuzzy"]),
        ["KX58RTV", "KX58RTY"]
    );
    assert_eq!(search(&["A812CDE"]), ["AB12CDE"], "B and 8 look alike");
    assert!(search(&["KX58", "--camera", "yard", "--match", "prefix"]).is_empty());
    let (code, _, err) = cli(
        &["plate", "search", " - ", "--config", s(&config)],
        None,
        &[],
    );
    assert_eq!(code, 1);
    assert!(err.contains("no letter or digit"), "{err}");
    let db = rusqlite::Connection::open(data.join("security.db")).unwrap();
    let n: i64 = db
        .query_row(
            "SELECT COUNT(*) FROM audit WHERE action = 'plate.search'",
            [],
            |r| r.get(0),
        )
        .unwrap();
    assert_eq!(n, 5);
}

/// `vigil plate read`: a plate rendered onto a frame of the shared car clip (synthetic: the bitmap font of
/// `vigil_media::draw`) comes back as JSON with its text; a picture without a plate, a corrupt file: clear
/// errors.
#[test]
fn vigil_plate_read_reads_a_rendered_plate_and_refuses_a_picture_without_one() {
    let Some((dir, _, _)) = models() else {
        return;
    };
    let Some(clip) = footage("intel/car-detection.mp4") else {
        return;
    };
    let mut src = VideoSource::open(&clip).unwrap();
    let mut conv = Converter::new();
    let f = src.next_frame().unwrap().unwrap();
    let mut img = f.bgr(&mut conv, f.width(), f.height()).unwrap();
    let (tw, th) = vigil_media::draw::text_size("KX58RTY", 3);
    let (x, y) = (
        i64::from(img.width() / 2 - tw / 2),
        i64::from(img.height() * 2 / 3),
    );
    vigil_media::draw::fill_rect(&mut img, x - 10, y - 8, tw + 20, th + 16, [245, 245, 245]);
    vigil_media::draw::draw_text(&mut img, x, y, "KX58RTY", [20, 20, 20], 3);
    let t = tempfile::tempdir().unwrap();
    let plate = t.path().join("car.png");
    std::fs::write(&plate, vigil_media::encode::encode_png(&img).unwrap()).unwrap();
    let (code, out, err) = cli(
        &["plate", "read", s(&plate), "--models", s(&dir)],
        None,
        &[],
    );
    assert_eq!(code, 0, "{err}");
    let read = json(&out);
    assert_eq!(read["text"], "KX58RTY", "{read}");
    assert!(read["confidence"].as_f64().unwrap() > 0.5, "{read}");
    let grey = t.path().join("grey.png");
    std::fs::write(
        &grey,
        vigil_media::encode::encode_png(&BgrImage::filled(320, 240, 128)).unwrap(),
    )
    .unwrap();
    let corrupt = t.path().join("corrupt.png");
    std::fs::write(&corrupt, b"\x89PNG not really").unwrap();
    for (p, says) in [
        (&grey, "no licence plate found"),
        (&corrupt, "not a readable"),
    ] {
        let (code, _, err) = cli(&["plate", "read", s(p), "--models", s(&dir)], None, &[]);
        assert_eq!(code, 1, "{err}");
        assert!(err.contains(says), "{err}");
    }
}

//! `vigil.toml` parsing and checking: a valid file round-trips into the expected values, and every kind of
//! broken file gives an error naming the right line and field — in every section, including the checks
//! across sections (rules of an unknown camera, a camera recording into an unknown directory).

use vigil_config::{ByteSize, VigilConfig};
use vigil_core::config::{CameraRole, ConfigErrors};

const GOOD: &str = r#"data_dir = "/var/lib/vigil"

[server]
listen = "127.0.0.1:8443"

[analysis]
detect_fps = 4

[storage]
segment_seconds = 60

[[storage.dirs]]
name = "disk1"
path = "/var/lib/vigil/disk1"
max_bytes = "2 TB"

[[storage.dirs]]
name = "usb"
path = "/mnt/usb"
max_bytes = 500_000_000_000

[[camera]]
name = "front-door"
main = "rtsp://192.168.1.20:554/Streaming/Channels/101"
sub = "rtsp://192.168.1.20:554/Streaming/Channels/102"
username = "vigil"
password = "hunter2-secret"
roles = ["record", "analyze"]
retention = { max_days = 30 }

[[camera]]
name = "yard"
main = "rtsp://192.168.1.21/stream1"
roles = ["analyze"]

[camera.retention]
max_bytes = "200 GB"

[rules.front-door]
timezone = "+01:00"

[[rules.front-door.zone]]
name = "Porch"
points = [[0.1, 0.5], [0.6, 0.5], [0.6, 0.95], [0.1, 0.95]]

[[rules.front-door.rule]]
name = "Porch loitering"
kind = "loitering"
zone = "Porch"
min_dwell = "2m"

[mqtt]
host = "127.0.0.1"
"#;

/// Replaces the first occurrence of `from` (which must exist) in the good config.
fn broken(from: &str, to: &str) -> String {
    assert!(GOOD.contains(from), "test bug: {from:?} not in GOOD");
    GOOD.replacen(from, to, 1)
}

/// 1-based line of the first line of `text` containing `snippet`.
fn line_of(text: &str, snippet: &str) -> usize {
    text.lines()
        .position(|l| l.contains(snippet))
        .expect("snippet in text")
        + 1
}

fn errors(text: &str) -> ConfigErrors {
    match VigilConfig::parse(text, "vigil.toml") {
        Ok(config) => panic!("expected an error, got {config:?}"),
        Err(errors) => errors,
    }
}

/// Asserts there is exactly one diagnostic, on `line`, for `field`, whose message contains `needle`; and
/// that the printed report names the file, line and field and shows the source line.
fn assert_one(text: &str, line: usize, field: &str, needle: &str) {
    let errors = errors(text);
    let report = errors.to_string();
    assert_eq!(errors.diagnostics.len(), 1, "{report}");
    let d = &errors.diagnostics[0];
    assert_eq!(d.line, line, "{report}");
    assert_eq!(d.field, field, "{report}");
    assert!(d.message.contains(needle), "{report}");
    let source_line = text.lines().nth(line - 1).unwrap();
    assert_eq!(d.source_line, source_line);
    assert!(
        report.starts_with(&format!("vigil.toml:{line}:")),
        "{report}"
    );
    assert!(report.contains(&format!("`{field}`")), "{report}");
    assert!(
        report.contains(&format!("{line} | {source_line}")),
        "{report}"
    );
}

#[test]
fn good_config_parses_to_the_expected_values() {
    let config = VigilConfig::parse(GOOD, "vigil.toml").unwrap();
    assert_eq!(config.server.listen.to_string(), "127.0.0.1:8443");
    assert!(config.analysis.enabled);
    assert_eq!(config.analysis.detect_fps, 4.0);
    assert_eq!(config.analysis.model, "yolox-nano");
    let store = config.store_config().unwrap();
    assert_eq!(store.db, std::path::Path::new("/var/lib/vigil/index.db"));
    assert_eq!(store.dirs.len(), 2);
    assert_eq!(store.dirs[0].max_bytes, Some(2_000_000_000_000));
    // The yard's retention budget becomes a store camera budget.
    let yard_budget = store.cameras.iter().find(|c| c.name == "yard").unwrap();
    assert_eq!(yard_budget.max_bytes, Some(200_000_000_000));
    assert_eq!(config.cameras.len(), 2);
    let front = &config.cameras[0];
    assert_eq!(front.name, "front-door");
    assert_eq!(front.main.port(), Some(554));
    assert_eq!(
        front.analysis_url().as_str(),
        "rtsp://192.168.1.20:554/Streaming/Channels/102"
    );
    let creds = front.credentials().unwrap();
    assert_eq!(creds.username, "vigil");
    assert_eq!(creds.password.expose(), "hunter2-secret");
    assert_eq!(front.retention.max_days, Some(30));
    let yard = &config.cameras[1];
    assert_eq!(yard.roles, vec![CameraRole::Analyze]);
    assert_eq!(yard.retention.max_bytes, Some(ByteSize(200_000_000_000)));
    assert!(yard.credentials().is_none());
    assert_eq!(config.recording_cameras().count(), 1);
    assert_eq!(config.analysed_cameras().count(), 2);
    assert_eq!(config.rules_for("front-door").rule.len(), 1);
    assert!(config.rules_for("yard").rule.is_empty());
    let alerts = config.alert_config();
    assert_eq!(alerts.mqtt.as_ref().unwrap().host, "127.0.0.1");
    // The data directory names the installation on the broker; the UI address is where it listens.
    assert_eq!(
        alerts.data_dir.as_deref(),
        Some(std::path::Path::new("/var/lib/vigil"))
    );
    assert_eq!(
        alerts.links.ui_url.as_deref(),
        Some("https://127.0.0.1:8443/")
    );
}

#[test]
fn two_data_directories_are_two_installations_on_the_broker() {
    let other = GOOD.replace(
        "data_dir = \"/var/lib/vigil\"",
        "data_dir = \"/srv/vigil2\"",
    );
    let id = |text: &str| {
        let c = VigilConfig::parse(text, "vigil.toml")
            .unwrap()
            .alert_config();
        let m = c.mqtt.as_ref().unwrap().resolved(c.data_dir.as_deref());
        (m.client_id, m.topic_prefix)
    };
    let (a, b) = (id(GOOD), id(&other));
    assert_ne!(a.0, b.0);
    assert_ne!(a.1, b.1);
    assert_eq!(a, id(GOOD), "stable");
    // An explicit client id wins; a configured UI address is kept; every address means the host name.
    let given = GOOD.replace(
        "[mqtt]\n",
        "[links]\nui_url = \"https://nvr.example/\"\n\n[mqtt]\nclient_id = \"gate\"\n",
    );
    let c = VigilConfig::parse(&given, "vigil.toml")
        .unwrap()
        .alert_config();
    assert_eq!(id(&given).0, "gate");
    assert_eq!(c.links.ui_url.as_deref(), Some("https://nvr.example/"));
    let any = GOOD.replace("127.0.0.1:8443", "0.0.0.0:8443");
    let url = VigilConfig::parse(&any, "vigil.toml").unwrap().ui_url();
    assert_eq!(
        url,
        format!("https://{}:8443/", vigil_alert::mqtt::host_name())
    );
}

#[test]
fn passwords_never_appear_in_debug_output() {
    let config = VigilConfig::parse(GOOD, "vigil.toml").unwrap();
    let debug = format!("{config:?} {:?}", config.cameras[0].credentials());
    assert!(!debug.contains("hunter2-secret"), "{debug}");
    assert!(debug.contains("***"));
}

#[test]
fn secrets_may_come_from_the_environment_or_a_file_and_a_missing_one_names_its_field() {
    use vigil_core::config::SecretSource;
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("camera.pw");
    std::fs::write(&file, "from-a-file\n").unwrap();
    // Never set: a name unique to this test.
    let var = "VIGIL_CONFIG_TEST_CAMERA_PW";
    let text = broken(
        "password = \"hunter2-secret\"",
        &format!("password = \"file:{}\"", file.display()),
    );
    let config = VigilConfig::parse(&text, "vigil.toml").unwrap();
    let pw = config.cameras[0].password.as_ref().unwrap();
    assert_eq!(pw.expose(), "from-a-file");
    assert_eq!(*pw.source(), SecretSource::File(file.clone()));
    let missing = broken(
        "password = \"hunter2-secret\"",
        &format!("password = \"env:{var}\""),
    );
    let e = errors(&missing).to_string();
    assert!(e.contains(var) && e.contains("not set"), "{e}");
    assert!(e.contains(&format!("{}:", line_of(&missing, var))), "{e}");
    let plain = broken(
        "password = \"hunter2-secret\"",
        "password = \"plain:env:x\"",
    );
    let config = VigilConfig::parse(&plain, "vigil.toml").unwrap();
    assert_eq!(
        config.cameras[0].password.as_ref().unwrap().expose(),
        "env:x"
    );
    assert_eq!(
        *config.cameras[0].password.as_ref().unwrap().source(),
        SecretSource::Inline
    );
}

#[test]
fn bad_toml_syntax_names_line_and_key() {
    let text = broken(
        "sub = \"rtsp://192.168.1.20:554/Streaming/Channels/102\"",
        "sub = rtsp://192.168.1.20:554/Streaming/Channels/102\"",
    );
    assert_one(&text, line_of(&text, "sub = rtsp"), "camera.sub", "quote");
}

#[test]
fn unknown_field_names_line_and_field() {
    let text = broken("roles = [\"analyze\"]", "roles = [\"analyze\"]\nfps = 5");
    assert_one(
        &text,
        line_of(&text, "fps = 5"),
        "camera[1].fps",
        "unknown field `fps`",
    );
    let text = broken("detect_fps = 4", "detect_fps = 4\nturbo = true");
    assert_one(
        &text,
        line_of(&text, "turbo"),
        "analysis.turbo",
        "unknown field `turbo`",
    );
}

#[test]
fn missing_field_names_the_table_and_field() {
    let text = broken("main = \"rtsp://192.168.1.21/stream1\"\n", "");
    assert_one(
        &text,
        line_of(&text, "name = \"yard\"") - 1,
        "camera[1].main",
        "missing field `main`",
    );
}

#[test]
fn wrong_type_names_line_and_field() {
    let text = broken("max_days = 30", "max_days = \"thirty\"");
    assert_one(
        &text,
        line_of(&text, "thirty"),
        "camera[0].retention.max_days",
        "invalid type: string \"thirty\"",
    );
}

#[test]
fn bad_byte_size_names_line_and_field() {
    let text = broken("max_bytes = \"2 TB\"", "max_bytes = \"2 XB\"");
    assert_one(
        &text,
        line_of(&text, "2 XB"),
        "storage.dirs[0].max_bytes",
        "unit",
    );
}

#[test]
fn duplicate_camera_names_both_lines() {
    let text = broken("name = \"yard\"", "name = \"Front-Door\"");
    let first = line_of(&text, "name = \"front-door\"");
    assert_one(
        &text,
        line_of(&text, "name = \"Front-Door\""),
        "camera[1].name",
        &format!(
            "duplicate camera name \"Front-Door\" (first as `camera[0].name` on line {first})"
        ),
    );
}

#[test]
fn unparsable_and_non_rtsp_urls_name_line_and_field() {
    let text = broken("rtsp://192.168.1.21/stream1", "not a url");
    assert_one(
        &text,
        line_of(&text, "not a url"),
        "camera[1].main",
        "relative URL without a base",
    );
    let text = broken("rtsp://192.168.1.21/stream1", "http://192.168.1.21/stream1");
    assert_one(
        &text,
        line_of(&text, "http://"),
        "camera[1].main",
        "must be rtsp://",
    );
}

#[test]
fn credentials_in_url_are_rejected_without_echoing_them() {
    let text = broken(
        "rtsp://192.168.1.21/stream1",
        "rtsp://admin:url-secret@192.168.1.21/stream1",
    );
    let errors = errors(&text);
    let report = errors.to_string();
    assert_eq!(errors.diagnostics.len(), 1, "{report}");
    let d = &errors.diagnostics[0];
    assert_eq!(d.line, line_of(&text, "url-secret"), "{report}");
    assert_eq!(d.field, "camera[1].main", "{report}");
    assert!(d.message.contains("URL contains credentials"), "{report}");
    // The source line is shown with its user-info masked; neither it nor the message repeats the
    // secret (issue 9, finding 10).
    assert_eq!(d.source_line, "main = \"rtsp://***@192.168.1.21/stream1\"");
    assert!(
        !report.contains("url-secret") && !report.contains("admin:"),
        "{report}"
    );
}

#[test]
fn recording_without_storage_records_under_the_data_dir() {
    let start = GOOD.find("[storage]").unwrap();
    let end = GOOD.find("[[camera]]").unwrap();
    let text = format!("{}{}", &GOOD[..start], &GOOD[end..]);
    let config = VigilConfig::parse(&text, "t.toml").unwrap();
    let store = config.store_config().unwrap();
    assert_eq!(store.db, config.data_dir.join("index.db"));
    assert_eq!(store.dirs.len(), 1);
    assert_eq!(store.dirs[0].name, "recordings");
    assert_eq!(store.dirs[0].path, config.data_dir.join("recordings"));
    assert_eq!(store.dirs[0].path, config.default_recordings_dir());
    // A [storage] section with settings but no directories gets the same default directory.
    let text = format!(
        "{}[storage]\nsegment_seconds = 10\n\n{}",
        &GOOD[..start],
        &GOOD[end..]
    );
    let store = VigilConfig::parse(&text, "t.toml")
        .unwrap()
        .store_config()
        .unwrap();
    assert_eq!(store.segment_seconds, 10.0);
    assert_eq!(store.dirs[0].name, "recordings");
    // Nothing records: no store at all.
    let text = text.replace("[storage]\nsegment_seconds = 10\n", "");
    let text = text.replace("roles = [\"record\", \"analyze\"]", "roles = [\"analyze\"]");
    assert!(!text.contains("\"record\""), "{text}");
    assert!(
        VigilConfig::parse(&text, "t.toml")
            .unwrap()
            .store_config()
            .is_none()
    );
}

#[test]
fn a_camera_recording_into_an_unknown_directory_is_named() {
    let text = broken(
        "roles = [\"analyze\"]",
        "roles = [\"analyze\"]\nstorage = \"disk9\"",
    );
    assert_one(
        &text,
        line_of(&text, "disk9"),
        "camera[1].storage",
        "known: disk1, usb",
    );
}

#[test]
fn duplicate_storage_directory_names_are_refused() {
    let text = broken("name = \"usb\"", "name = \"disk1\"");
    let errors = errors(&text);
    assert_eq!(errors.diagnostics[0].field, "storage", "{errors}");
    assert!(errors.to_string().contains("used twice"), "{errors}");
}

#[test]
fn rules_are_checked_and_must_name_a_camera() {
    let text = broken("[rules.front-door]", "[rules.back-door]")
        .replace("[[rules.front-door.zone]]", "[[rules.back-door.zone]]")
        .replace("[[rules.front-door.rule]]", "[[rules.back-door.rule]]");
    assert_one(
        &text,
        line_of(&text, "[rules.back-door]"),
        "rules.back-door",
        "no [[camera]] has that name",
    );
    // A rule about a zone that does not exist names the rule and the field.
    let text = broken("zone = \"Porch\"", "zone = \"Garage\"");
    let errors = errors(&text);
    assert_eq!(errors.diagnostics[0].field, "rules.front-door", "{errors}");
    assert!(errors.to_string().contains("Garage"), "{errors}");
    // Self-intersecting zones are refused.
    let text = broken(
        "[[0.1, 0.5], [0.6, 0.5], [0.6, 0.95], [0.1, 0.95]]",
        "[[0.1, 0.5], [0.6, 0.95], [0.6, 0.5], [0.1, 0.95]]",
    );
    assert!(
        errors_text(&text).contains("crosses"),
        "{}",
        errors_text(&text)
    );
}

fn errors_text(text: &str) -> String {
    errors(text).to_string()
}

#[test]
fn unknown_model_and_class_are_named() {
    let text = broken("detect_fps = 4", "detect_fps = 4\nmodel = \"yolo-giant\"");
    assert_one(
        &text,
        line_of(&text, "yolo-giant"),
        "analysis.model",
        "known: yolox-nano",
    );
    let text = broken(
        "detect_fps = 4",
        "detect_fps = 4\nclasses = [\"person\", \"unicorn\"]",
    );
    assert_one(
        &text,
        line_of(&text, "unicorn"),
        "analysis.classes[1]",
        "no class \"unicorn\"",
    );
    let text = broken("detect_fps = 4", "detect_fps = 0");
    assert_one(
        &text,
        line_of(&text, "detect_fps = 0"),
        "analysis.detect_fps",
        "more than 0",
    );
}

#[test]
fn alert_problems_point_at_their_section() {
    let text = broken("host = \"127.0.0.1\"", "host = \"\"");
    let errors = errors(&text);
    assert_eq!(errors.diagnostics[0].field, "mqtt", "{errors}");
    assert!(errors.to_string().contains("host"), "{errors}");
}

#[test]
fn every_semantic_problem_is_reported_in_source_order() {
    let text = broken("max_days = 30", "max_days = 0")
        .replace("name = \"yard\"", "name = \"front-door\"")
        .replace("roles = [\"analyze\"]", "roles = []\nstorage = \"disk9\"");
    let errors = errors(&text);
    let fields: Vec<&str> = errors
        .diagnostics
        .iter()
        .map(|d| d.field.as_str())
        .collect();
    assert_eq!(
        fields,
        vec![
            "camera[0].retention.max_days",
            "camera[1].name",
            "camera[1].roles",
            "camera[1].storage"
        ],
        "{errors}"
    );
    let lines: Vec<usize> = errors.diagnostics.iter().map(|d| d.line).collect();
    let mut sorted = lines.clone();
    sorted.sort();
    assert_eq!(lines, sorted, "{errors}");
}

#[test]
fn empty_file_is_a_valid_empty_config() {
    let config = VigilConfig::parse("", "vigil.toml").unwrap();
    assert!(config.cameras.is_empty());
    assert_eq!(config.server.listen.port(), 8443);
    assert!(config.store_config().is_none());
}

#[test]
fn relative_data_dir_is_relative_to_the_file() {
    let dir = std::env::temp_dir().join(format!("vigil-config-test-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let file = dir.join("vigil.toml");
    std::fs::write(&file, "data_dir = \"state\"\n").unwrap();
    let config = VigilConfig::load(&file).unwrap();
    assert_eq!(config.data_dir, dir.join("state"));
    let missing = VigilConfig::load(&dir.join("nope.toml"))
        .unwrap_err()
        .to_string();
    assert!(
        missing.contains("nope.toml") && missing.contains("cannot read"),
        "{missing}"
    );
    std::fs::remove_dir_all(&dir).unwrap();
}

#[test]
fn the_documented_example_is_valid() {
    let path =
        std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../../docs/vigil.example.toml");
    let text = std::fs::read_to_string(&path).unwrap();
    let config =
        VigilConfig::parse(&text, "docs/vigil.example.toml").unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(config.cameras.len(), 2);
    assert_eq!(config.rules_for("gate").rule.len(), 3);
    assert_eq!(config.alert_config().output.len(), 1);
}

#[test]
fn allowed_origins_and_export_retention_are_checked() {
    let ok = broken(
        "listen = \"127.0.0.1:8443\"",
        "listen = \"127.0.0.1:8443\"\nallowed_origins = [\"https://vigil.example.com\"]\n\
         audit_syslog = \"/dev/log\"\nexport_retention_hours = 72",
    );
    let config = VigilConfig::parse(&ok, "vigil.toml").unwrap();
    assert_eq!(
        config.server.allowed_origins,
        vec!["https://vigil.example.com"]
    );
    assert_eq!(config.server.export_retention_hours, 72);
    for (bad, needle) in [
        ("\"vigil.example.com\"", "does not parse as a URL"),
        (
            "\"ftp://vigil.example.com\"",
            "scheme must be https or http",
        ),
        ("\"https://vigil.example.com/ui\"", "no path"),
        ("\"https://user:pw@vigil.example.com\"", "credentials"),
    ] {
        let text = broken(
            "listen = \"127.0.0.1:8443\"",
            &format!("listen = \"127.0.0.1:8443\"\nallowed_origins = [{bad}]"),
        );
        let errors = errors(&text);
        let d = &errors.diagnostics[0];
        assert_eq!(d.field, "server.allowed_origins[0]", "{errors}");
        assert!(d.message.contains(needle), "{bad}: {errors}");
        assert!(!errors.to_string().contains("user:pw"), "{errors}");
    }
    let text = broken(
        "listen = \"127.0.0.1:8443\"",
        "listen = \"127.0.0.1:8443\"\nexport_retention_hours = 0",
    );
    assert_eq!(
        errors(&text).diagnostics[0].field,
        "server.export_retention_hours"
    );
}

#[test]
fn face_recognition_is_off_unless_a_camera_is_named_and_its_zones_must_exist() {
    let config = VigilConfig::parse(GOOD, "vigil.toml").unwrap();
    assert!(config.faces.camera.is_empty(), "off by default");
    let on = format!(
        "{GOOD}\n[faces]\nthreshold = 0.8\n\n[faces.alerts]\nstaff = \"none\"\n\n\
         [faces.camera.front-door]\nonly_enrolled = [\"Porch\"]\n"
    );
    let c = VigilConfig::parse(&on, "vigil.toml").unwrap();
    assert_eq!(c.faces.on("front-door").unwrap().only_enrolled, ["Porch"]);
    assert!(c.faces.on("yard").is_none());
    assert_eq!(c.faces.alert_of("staff"), "none");
    assert_eq!(c.faces.alert_of("banned"), "high");
    assert_eq!(c.faces.threshold, 0.8);

    let text = on.replace("[\"Porch\"]", "[\"Garden\"]");
    assert_one(
        &text,
        line_of(&text, "Garden"),
        "faces.camera.front-door.only_enrolled[0]",
        "no zone \"Garden\"",
    );
    let text = on.replace("[faces.camera.front-door]", "[faces.camera.back]");
    assert_one(
        &text,
        line_of(&text, "[faces.camera.back]"),
        "faces.camera.back",
        "faces on \"back\", but no analysed [[camera]]",
    );
    let text = on.replace("threshold = 0.8", "threshold = 2.0");
    assert_one(
        &text,
        line_of(&text, "threshold = 2.0"),
        "faces.threshold",
        "between 0 and 1",
    );
    let text = on.replace("staff = \"none\"", "staff = \"loud\"");
    assert_one(
        &text,
        line_of(&text, "staff = \"loud\""),
        "faces.alerts.staff",
        "not one of",
    );
}

#[test]
fn plate_reading_is_off_unless_a_camera_is_named_and_its_lists_are_checked() {
    let config = VigilConfig::parse(GOOD, "vigil.toml").unwrap();
    assert!(!config.plates.on("front-door"), "off by default");
    let on = format!(
        "{GOOD}\n[plates]\nmin_reads = 3\n\n[plates.lists]\ndeny = [\"KX58 RTY\", \"AB12-CDE\"]\n\n\
         [plates.alerts]\ndeny = \"high\"\n\n[plates.camera.yard]\n"
    );
    let c = VigilConfig::parse(&on, "vigil.toml").unwrap();
    assert!(c.plates.on("yard") && !c.plates.on("front-door"));
    assert_eq!(c.plates.list_of("ab12cde"), Some("deny"));
    assert_eq!(c.plates.min_reads, 3);

    let text = on.replace("\"AB12-CDE\"", "\"-\"");
    assert_one(
        &text,
        line_of(&text, "deny = [\"KX58"),
        "plates.lists.deny[1]",
        "fewer than two letters",
    );
    let text = on.replace("[plates.camera.yard]", "[plates.camera.back]");
    assert_one(
        &text,
        line_of(&text, "[plates.camera.back]"),
        "plates.camera.back",
        "no analysed [[camera]]",
    );
    let text = on.replace("deny = \"high\"", "vip = \"high\"");
    assert_one(
        &text,
        line_of(&text, "vip = \"high\""),
        "plates.alerts.vip",
        "there is no list",
    );
}

#[test]
fn camera_links_sit_beside_the_alert_urls_and_must_name_cameras() {
    let on = format!(
        "{GOOD}\n[links]\nui_url = \"https://nvr.example/\"\n\n[[links.camera]]\nfrom = \"front-door\"\n\
         to = \"yard\"\ntransit = [20, 90]\n"
    );
    let c = VigilConfig::parse(&on, "vigil.toml").unwrap();
    assert_eq!(c.links.cameras.len(), 1);
    assert_eq!(c.links.cameras[0].transit, [20.0, 90.0]);
    assert!(c.links.cameras[0].both_ways, "both ways by default");
    assert!(!c.links.camera_links().is_empty());
    assert_eq!(
        c.alert_config().links.ui_url.as_deref(),
        Some("https://nvr.example/")
    );

    let text = on.replace("to = \"yard\"", "to = \"garage\"");
    assert_one(
        &text,
        line_of(&text, "[[links.camera]]"),
        "links.camera[0]",
        "to: no [[camera]] is called \"garage\"",
    );
    let text = on.replace("[20, 90]", "[90, 20]");
    assert_one(
        &text,
        line_of(&text, "[[links.camera]]"),
        "links.camera[0]",
        "quickest <= slowest",
    );
    let text = on.replace("transit = [20, 90]", "transit = [20, 90]\nspeed = 3");
    assert!(
        errors_text(&text).contains("speed"),
        "{}",
        errors_text(&text)
    );
}

#[test]
fn the_learned_normal_learns_by_default_judges_scenes_only_when_asked_and_is_checked() {
    let config = VigilConfig::parse(GOOD, "vigil.toml").unwrap();
    let a = &config.analysis.anomaly;
    assert!(a.baselines && a.min_weeks == 3 && !a.scene && a.scene_models.is_empty());
    let on = format!(
        "{GOOD}\n[analysis.anomaly]\nmin_weeks = 4\nclasses = [\"person\"]\nscene = true\n"
    );
    let c = VigilConfig::parse(&on, "vigil.toml").unwrap();
    assert_eq!(c.analysis.anomaly.min_weeks, 4);
    assert!(c.analysis.anomaly.scene);

    let text = on.replace("[\"person\"]", "[\"unicorn\"]");
    assert_one(
        &text,
        line_of(&text, "unicorn"),
        "analysis.anomaly.classes[0]",
        "no class \"unicorn\"",
    );
    let text = on.replace("min_weeks = 4", "min_weeks = 0");
    assert_one(
        &text,
        line_of(&text, "min_weeks = 0"),
        "analysis.anomaly.min_weeks",
        "at least 1",
    );
    let text = format!("{on}scene_models = {{ back = \"/nonexistent/model.json\" }}\n");
    assert_one(
        &text,
        line_of(&text, "scene_models"),
        "analysis.anomaly.scene_models.back",
        "no [[camera]] is named \"back\"",
    );
}

#[test]
fn a_second_opinion_needs_a_second_model_that_exists() {
    let intrusion = broken(
        "kind = \"loitering\"\nzone = \"Porch\"\nmin_dwell = \"2m\"",
        "kind = \"intrusion\"\nzone = \"Porch\"\nsecond_opinion = \"confirm\"",
    );
    assert_one(
        &intrusion,
        line_of(&intrusion, "second_opinion"),
        "rules.front-door.rule[0].second_opinion",
        "set [analysis] second_model",
    );
    let with_model = intrusion.replacen(
        "detect_fps = 4",
        "detect_fps = 4\nsecond_model = \"person-192\"",
        1,
    );
    let c = VigilConfig::parse(&with_model, "vigil.toml").unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(c.analysis.second_model.as_deref(), Some("person-192"));
    let unknown = with_model.replace("\"person-192\"", "\"person-9000\"");
    assert_one(
        &unknown,
        line_of(&unknown, "person-9000"),
        "analysis.second_model",
        "unknown model \"person-9000\"",
    );
}

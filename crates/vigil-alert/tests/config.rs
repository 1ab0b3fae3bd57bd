//! Configuration: defaults, unknown fields, errors naming the item and field, secrets kept out of output.

use vigil_alert::{AlertConfig, AlertError, Alerts, MqttConfig};

fn parse(text: &str) -> AlertConfig {
    toml::from_str(text).unwrap_or_else(|e| panic!("{e}\n{text}"))
}

fn error_of(text: &str) -> String {
    match parse(text).validate() {
        Ok(()) => panic!("accepted:\n{text}"),
        Err(e) => e.to_string(),
    }
}

#[test]
fn an_empty_mqtt_table_gives_the_documented_defaults() {
    let c = parse("[mqtt]");
    let m = c.mqtt.unwrap();
    assert_eq!(m, MqttConfig::default());
    assert_eq!((m.host.as_str(), m.port), ("127.0.0.1", 1883));
    // Client id and topic prefix are left empty: derived per installation when starting.
    assert_eq!((m.client_id.as_str(), m.topic_prefix.as_str()), ("", ""));
    let a = m.resolved(Some(std::path::Path::new("/var/lib/vigil-a")));
    let b = m.resolved(Some(std::path::Path::new("/var/lib/vigil-b")));
    assert!(a.client_id.starts_with("vigil-") && a.topic_prefix.starts_with("vigil/"));
    assert_ne!(
        a.client_id, b.client_id,
        "two data directories, two client ids"
    );
    assert_ne!(a.topic_prefix, b.topic_prefix);
    assert!(a.validate().is_ok());
    // Given values win.
    let given = parse(
        "[mqtt]
client_id = \"gate-nvr\"\ntopic_prefix = \"site1\"",
    )
    .mqtt
    .unwrap();
    let r = given.resolved(Some(std::path::Path::new("/var/lib/vigil-a")));
    assert_eq!(
        (r.client_id.as_str(), r.topic_prefix.as_str()),
        ("gate-nvr", "site1")
    );
    assert_eq!(m.snapshot_interval.as_millis(), 10_000);
    assert_eq!(m.motion_off_delay.as_millis(), 30_000);
    assert_eq!(m.occupancy_classes, ["person", "car"]);
    assert!(m.discovery);
    assert_eq!(m.discovery_prefix, "homeassistant");
    assert_eq!(m.qos, 1);
    assert!(!m.tls);
    assert!(parse("").mqtt.is_none());
    let w = parse("[[webhook]]\nname = \"a\"\nurl = \"http://x/\"").webhook;
    assert_eq!(w[0].phases.len(), 3);
    assert_eq!(w[0].retries, 4);
    assert_eq!(w[0].timeout.as_millis(), 10_000);
}

#[test]
fn unknown_fields_are_refused_by_name() {
    for (text, field) in [
        ("[mqtt]\nhots = \"a\"", "hots"),
        (
            "[[webhook]]\nname = \"a\"\nurl = \"http://x\"\nsecrte = \"k\"",
            "secrte",
        ),
        ("[[output]]\nname = \"a\"\nrule = [\"r\"]", "rule"),
        (
            "[[output]]\nname = \"a\"\nrules = [\"r\"]\nhttp = { url = \"http://x\", bdy = \"\" }",
            "bdy",
        ),
        ("[links]\nsnapshot = \"x\"", "snapshot"),
    ] {
        let e = toml::from_str::<AlertConfig>(text)
            .err()
            .unwrap()
            .to_string();
        assert!(e.contains(field), "{field}: {e}");
    }
}

#[test]
fn bad_values_name_the_item_and_the_field() {
    let cases = [
        ("[mqtt]\nqos = 2", "mqtt: qos: 2 is not supported"),
        ("[mqtt]\nbuffer = 0", "mqtt: buffer:"),
        ("[mqtt]\ntopic_prefix = \"vigil/#\"", "mqtt: topic_prefix:"),
        ("[mqtt]\nclient_id = \" vigil\"", "mqtt: client_id:"),
        (
            "[mqtt]\noccupancy_classes = [\"\"]",
            "mqtt: occupancy_classes:",
        ),
        ("[links]\nui_url = \"nvr:8443\"", "links: ui_url:"),
        (
            "[mqtt]\npassword = \"x\"",
            "mqtt: password: given without username",
        ),
        ("[mqtt]\nkeep_alive = 1", "mqtt: keep_alive:"),
        (
            "[mqtt]\nca_file = \"/ca.pem\"",
            "mqtt: ca_file: given but tls is false",
        ),
        (
            "[[webhook]]\nname = \"ops\"\nurl = \"ftp://x/\"",
            "webhook 'ops': url: must start with http:// or https://",
        ),
        (
            "[[webhook]]\nname = \"ops\"\nurl = \"not a url\"",
            "webhook 'ops': url: not a URL",
        ),
        (
            "[[webhook]]\nurl = \"http://x/\"",
            "webhook #1: name: required",
        ),
        (
            "[[webhook]]\nname = \"a\"\nurl = \"http://x/\"\n[[webhook]]\nname = \"A\"\nurl = \"http://y/\"",
            "webhook 'A': name: used twice",
        ),
        (
            "[[webhook]]\nname = \"a\"\nurl = \"http://x/\"\nkinds = [\"intrusoin\"]",
            "webhook 'a': kinds: unknown kind \"intrusoin\"",
        ),
        (
            "[[webhook]]\nname = \"a\"\nurl = \"http://x/\"\nphases = []",
            "webhook 'a': phases: is empty",
        ),
        (
            "[[webhook]]\nname = \"a\"\nurl = \"http://x/\"\nsecret = \"\"",
            "webhook 'a': secret: is empty",
        ),
        (
            "[[output]]\nname = \"Siren\"\nhttp = { url = \"http://x/\" }",
            "output 'Siren': rules: required",
        ),
        (
            "[[output]]\nname = \"Siren\"\nrules = [\"r\"]",
            "output 'Siren': http: give exactly one action",
        ),
        (
            "[[output]]\nname = \"Siren\"\nrules = [\"r\"]\nmqtt = { topic = \"s/set\" }",
            "output 'Siren': mqtt: an MQTT action needs an [mqtt] broker",
        ),
        (
            "[[output]]\nname = \"Siren\"\nrules = [\"r\"]\nhttp = { url = \"http://x/{camra}\" }",
            "output 'Siren': http: unknown placeholder {camra}",
        ),
        (
            "[[output]]\nname = \"Siren\"\nrules = [\"r\"]\nhttp = { url = \"http://x/\", method = \"P OST\" }",
            "output 'Siren': http: bad HTTP method",
        ),
        (
            "[mqtt]\n[[output]]\nname = \"Siren\"\nrules = [\"r\"]\nmqtt = { topic = \"s/#\" }",
            "output 'Siren': mqtt: topic must be",
        ),
        (
            "[links]\nsnapshot_url = \"https://x/{id}\"",
            "links: snapshot_url: unknown placeholder {id}",
        ),
    ];
    for (text, want) in cases {
        let e = error_of(text);
        assert!(e.starts_with(want), "want {want:?}, got {e:?}");
    }
}

#[test]
fn tls_needs_the_feature_and_a_ca_file() {
    let e = error_of("[mqtt]\ntls = true");
    if cfg!(feature = "mqtt-tls") {
        assert!(e.contains("ca_file: required"), "{e}");
    } else {
        assert!(e.contains("no MQTT TLS support"), "{e}");
    }
}

#[test]
fn secrets_never_show_in_debug_or_serialized_config() {
    let c = parse(
        r#"
[mqtt]
username = "vigil"
password = "hunter2-mqtt"
[[webhook]]
name = "ops"
url = "https://ops.example/hook"
secret = "hunter2-hmac"
headers = { Authorization = "Bearer hunter2-header" }
"#,
    );
    c.validate().unwrap();
    let debug = format!("{c:?}");
    let json = serde_json::to_string(&c).unwrap();
    let toml_text = toml::to_string(&c).unwrap();
    for shown in [&debug, &json, &toml_text] {
        assert!(!shown.contains("hunter2"), "{shown}");
    }
    assert!(json.contains("<redacted>"));
    // The secret itself is still there for the code that needs it.
    assert_eq!(
        c.webhook[0].secret.as_ref().unwrap().expose(),
        "hunter2-hmac"
    );
}

#[test]
fn starting_outside_a_tokio_runtime_is_a_clear_error() {
    let c = parse("[mqtt]");
    match Alerts::start(c) {
        Err(AlertError::NoRuntime) => {}
        Err(e) => panic!("{e}"),
        Ok(_) => panic!("started without a runtime"),
    }
}

#[test]
fn starting_with_a_bad_configuration_fails_before_connecting() {
    let rt = tokio::runtime::Runtime::new().unwrap();
    let e = rt
        .block_on(async { Alerts::start(parse("[mqtt]\nqos = 2")).err() })
        .unwrap();
    assert!(matches!(e, AlertError::Config { field: "qos", .. }), "{e}");
}

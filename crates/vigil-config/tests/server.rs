//! The `[server]` section: plain HTTP only on loopback, certificate and key together, sane timeouts,
//! known roles — each refused with its line and field.

use vigil_config::VigilConfig;

fn errors(text: &str) -> String {
    match VigilConfig::parse(text, "vigil.toml") {
        Ok(_) => String::new(),
        Err(e) => e.to_string(),
    }
}

#[test]
fn server_section_is_checked() {
    let ok = VigilConfig::parse(
        "[server]\nlisten = \"127.0.0.1:8080\"\nhttp_loopback_only = true\nrequire_mfa = [\"admin\", \"auditor\"]\n",
        "vigil.toml",
    )
    .unwrap();
    assert!(ok.server.http_loopback_only);
    assert_eq!(ok.server.session_idle_minutes, 30);
    assert_eq!(ok.server.session_max_hours, 12);

    let e = errors("[server]\nlisten = \"0.0.0.0:8080\"\nhttp_loopback_only = true\n");
    assert!(e.contains("server.http_loopback_only"), "{e}");
    assert!(e.contains("only allowed on a loopback address"), "{e}");
    assert!(e.contains("vigil.toml:3:"), "{e}");
    let e = errors("[server]\nlisten = \"[::]:8080\"\nhttp_loopback_only = true\n");
    assert!(e.contains("loopback"), "{e}");

    let e = errors("[server]\ntls_cert = \"/etc/vigil/cert.pem\"\n");
    assert!(
        e.contains("server.tls_key") && e.contains("together"),
        "{e}"
    );

    let e = errors("[server]\nsession_idle_minutes = 0\nsession_max_hours = 10000\n");
    assert!(
        e.contains("session_idle_minutes") && e.contains("session_max_hours"),
        "{e}"
    );

    let e = errors("[server]\nrequire_mfa = [\"admin\", \"root\"]\n");
    assert!(
        e.contains("server.require_mfa[1]") && e.contains("unknown role \"root\""),
        "{e}"
    );

    let e = errors("[server]\npassword = \"x\"\n");
    assert!(e.contains("unknown field"), "{e}");
}

#[test]
fn connection_limits_and_timeouts_have_defaults_and_are_checked() {
    let ok = VigilConfig::parse("[server]\nmax_connections = 2000\n", "vigil.toml").unwrap();
    assert_eq!(ok.server.max_connections, 2000);
    assert_eq!(ok.server.max_connections_per_address, 64);
    assert_eq!(ok.server.handshake_timeout_seconds, 10);
    assert_eq!(ok.server.header_timeout_seconds, 10);
    assert_eq!(ok.server.idle_timeout_seconds, 60);
    let e = errors(
        "[server]\nmax_connections_per_address = 0\nheader_timeout_seconds = 0\nidle_timeout_seconds = 100000\n",
    );
    for k in [
        "server.max_connections_per_address",
        "server.header_timeout_seconds",
        "server.idle_timeout_seconds",
    ] {
        assert!(e.contains(k), "{k}: {e}");
    }
    assert!(e.contains("vigil.toml:2:"), "{e}");
    let e = errors("[server]\nmax_connections = -1\n");
    assert!(e.contains("max_connections"), "{e}");
}

//! Central users at a site: a user made at the hub logs in to a site's own HTTPS server (pushed by the
//! hub, cached by the site), also while the link is down; disabled at the hub, they are refused at the
//! site after the next push.

use super::kit::{self, HubSetup, eventually};
use crate::support::{self, Vigil, https_agent};
use std::time::Duration;

fn login(agent: &ureq::Agent, url: &str, user: &str, password: &str) -> u16 {
    agent
        .post(&format!("{url}/api/login"))
        .header("content-type", "application/json")
        .send(serde_json::json!({"username": user, "password": password}).to_string())
        .map(|r| r.status().as_u16())
        .unwrap_or(0)
}

#[test]
fn a_hub_user_logs_in_at_the_site_also_offline_and_is_refused_once_disabled() {
    let (Some(_), Some(pg)) = (kit::nats_server(), kit::postgres()) else {
        return;
    };
    let Some(video) = support::footage("intel/people-detection.mp4") else {
        return;
    };
    let tmp = tempfile::tempdir().unwrap();
    let hub = HubSetup::new(&tmp.path().join("hub"), &pg);
    let seed = hub.add_site("s1");
    let mut nats = hub.start_nats();
    let _hubp = hub.start_hub();
    let password = "central-orbit-77-lantern";
    let (code, _, err) = support::cli(
        &[
            "hub",
            "--config",
            hub.config.to_str().unwrap(),
            "user",
            "add",
            "bob",
            "--role",
            "operator",
            "--sites",
            "s1",
            "--password-stdin",
        ],
        Some(&format!("{password}\n")),
        &[],
    );
    assert_eq!(code, 0, "vigil hub user add: {err}");
    let dir = tmp.path().join("s1");
    std::fs::create_dir_all(&dir).unwrap();
    let mut site =
        Vigil::start_with_extra(&dir, "cam", &video, None, &hub.uplink_section("s1", &seed));
    site.wait_listening();
    let agent = https_agent(&std::fs::read(dir.join("tls/cert.pem")).unwrap());
    let url = site.url();
    eventually(Duration::from_secs(60), "bob pushed to the site", || {
        (login(&agent, &url, "bob", password) == 200).then_some(())
    });
    assert_eq!(login(&agent, &url, "bob", "not bob's password at all"), 401);
    // The link goes down: bob still logs in at the site (cached).
    nats.kill();
    std::thread::sleep(Duration::from_secs(2));
    assert_eq!(
        login(&agent, &url, "bob", password),
        200,
        "cached while offline"
    );
    // Back online, bob is disabled at the hub: the next push removes him at the site.
    nats.restart();
    hub.db
        .sql("UPDATE hub_users SET disabled = true WHERE username = 'bob'");
    eventually(Duration::from_secs(90), "bob refused at the site", || {
        (login(&agent, &url, "bob", password) == 401).then_some(())
    });
    let pushes = hub
        .db
        .sql("SELECT count(*) FROM audit WHERE action = 'central_users.push' AND target = 's1'");
    assert!(pushes.trim().parse::<u32>().unwrap() >= 2, "{pushes}");
    assert!(site.stop());
}

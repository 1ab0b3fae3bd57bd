//! Three real sites (`vigil run` analysing shared footage with rules) linked to a real `vigil hub`
//! through a private NATS server: the link is cut for two minutes (`VIGIL_LINK_CUT_S`) while events keep
//! happening. The sites go on recording, analysing and serving their own UI; the hub shows each site
//! offline since the cut; afterwards it holds exactly each site's events (same ids, final states, no
//! duplicates), and `vigil hub events --json` and `vigil events --json` agree.

use super::kit::{self, HubSetup, eventually, json_lines, site_events};
use crate::support::{self, Vigil};
use std::collections::BTreeMap;
use std::time::{Duration, Instant};

const CLIPS: [(&str, &str); 3] = [
    ("s1", "intel/people-detection.mp4"),
    ("s2", "intel/person-bicycle-car-detection.mp4"),
    ("s3", "intel/one-by-one-person-detection.mp4"),
];

fn by_id(lines: &[serde_json::Value]) -> BTreeMap<String, String> {
    lines
        .iter()
        .map(|l| {
            (
                l["id"].as_str().unwrap().to_string(),
                l["phase"].as_str().unwrap().to_string(),
            )
        })
        .collect()
}

fn sites_online(hub: &HubSetup) -> BTreeMap<String, serde_json::Value> {
    json_lines(&hub.cli(&["site", "list"]))
        .into_iter()
        .map(|s| (s["site"].as_str().unwrap().to_string(), s))
        .collect()
}

#[test]
fn three_sites_keep_working_through_a_cut_link_and_the_hub_ends_with_exactly_their_events() {
    let (Some(_), Some(pg)) = (kit::nats_server(), kit::postgres()) else {
        return;
    };
    let mut videos = Vec::new();
    for (_, clip) in CLIPS {
        let Some(v) = support::footage(clip) else {
            return;
        };
        videos.push(v);
    }
    let Some(models) = support::analysis_models(&videos[0]) else {
        return;
    };
    let tmp = tempfile::tempdir().unwrap();
    let hub = HubSetup::new(&tmp.path().join("hub"), &pg);
    let seeds: Vec<_> = CLIPS.iter().map(|(s, _)| hub.add_site(s)).collect();
    let mut nats = hub.start_nats();
    let _hubp = hub.start_hub();
    let mut sites: Vec<Vigil> = CLIPS
        .iter()
        .zip(&videos)
        .zip(&seeds)
        .map(|(((site, _), video), seed)| {
            let dir = tmp.path().join(site);
            std::fs::create_dir_all(&dir).unwrap();
            Vigil::start_with_extra(
                &dir,
                "cam",
                video,
                Some(&models),
                &hub.uplink_section(site, seed),
            )
        })
        .collect();
    for s in &mut sites {
        s.wait_line(Duration::from_secs(120), |l| {
            l.contains("linked to the hub").then_some(())
        });
    }
    eventually(
        Duration::from_secs(180),
        "events from every site at the hub",
        || {
            let ev = hub.events();
            CLIPS
                .iter()
                .all(|(s, _)| ev.iter().any(|l| l["site"] == *s))
                .then_some(())
        },
    );
    let online = sites_online(&hub);
    for (s, _) in CLIPS {
        assert_eq!(online[s]["online"], true, "{s} online: {online:?}");
    }

    // The link is cut: the NATS server is gone for everyone.
    let cut = Duration::from_secs(
        std::env::var("VIGIL_LINK_CUT_S")
            .ok()
            .and_then(|s| s.parse().ok())
            .unwrap_or(120),
    );
    let cut_at = Instant::now();
    let cut_ms = vigil_core::time::now_unix_ms();
    let before: Vec<Vec<serde_json::Value>> = sites
        .iter()
        .map(|s| site_events(&s.dir.join("vigil.toml")))
        .collect();
    nats.kill();
    // The hub says since when each site is offline (three missed heartbeats of 1 s).
    let offline = eventually(Duration::from_secs(30), "sites shown offline", || {
        let o = sites_online(&hub);
        CLIPS
            .iter()
            .all(|(s, _)| o[*s]["online"] == false)
            .then_some(o)
    });
    for (s, _) in CLIPS {
        let since = offline[s]["offline_since_ms"].as_i64().unwrap();
        assert!(
            (cut_ms - 5_000..=cut_ms + 1_000).contains(&since),
            "{s} offline since {since}, the link was cut at {cut_ms}"
        );
    }
    // Sites go on: events stored, their own HTTPS server answers.
    while cut_at.elapsed() < cut {
        for s in &mut sites {
            s.run_for(Duration::from_secs(1));
        }
    }
    for (i, s) in sites.iter().enumerate() {
        // New events, or the open ones' later states (an intrusion lasts while someone is in view).
        let during = site_events(&s.dir.join("vigil.toml"));
        assert_ne!(
            during, before[i],
            "site {} stored nothing while the link was down",
            CLIPS[i].0
        );
        assert!(
            std::net::TcpStream::connect(("127.0.0.1", s.port)).is_ok(),
            "site {}'s own server stopped answering",
            CLIPS[i].0
        );
    }
    nats.restart();
    let back = Instant::now();
    // The backlog drains: the hub catches up with what the sites stored.
    for (i, s) in sites.iter().enumerate() {
        let stored = by_id(&site_events(&s.dir.join("vigil.toml")));
        eventually(Duration::from_secs(120), "the backlog drained", || {
            let at_hub = by_id(&json_lines(
                &hub.cli(&["events", "--json", "--site", CLIPS[i].0]),
            ));
            stored.keys().all(|k| at_hub.contains_key(k)).then_some(())
        });
    }
    let drained_s = back.elapsed().as_secs_f64();
    // Stopped sites send their last changes (events they closed on the way out) before they end.
    for s in &mut sites {
        assert!(s.stop(), "site stopped cleanly:\n{}", s.dump());
    }
    let mut total = 0;
    for (i, s) in sites.iter().enumerate() {
        let site_lines = site_events(&s.dir.join("vigil.toml"));
        let hub_lines = json_lines(&hub.cli(&["events", "--json", "--site", CLIPS[i].0]));
        assert_eq!(
            hub_lines.len(),
            by_id(&hub_lines).len(),
            "duplicates at the hub for {}",
            CLIPS[i].0
        );
        assert_eq!(
            by_id(&hub_lines),
            by_id(&site_lines),
            "site {} and the hub disagree",
            CLIPS[i].0
        );
        for l in &hub_lines {
            assert_eq!(l["site"], CLIPS[i].0);
        }
        total += site_lines.len();
    }
    eprintln!(
        "three sites: {total} events, link cut for {:.0} s, backlog drained {drained_s:.1} s after it returned",
        cut.as_secs_f64()
    );
}

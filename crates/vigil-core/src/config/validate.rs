//! Semantic checks of configuration values: what TOML and serde cannot see (unique names, URL schemes,
//! budgets, references between sections). Each [`Problem`] names the field path so the caller can point at
//! the line; [`crate::config::parse_toml`] turns them into located diagnostics.

use super::{CameraConfig, CameraRole};
use std::collections::HashMap;
use url::Url;

/// One segment of a field path: a table key or an array index.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Seg {
    /// A table key.
    Key(String),
    /// An index into an array (of tables).
    Index(usize),
}

/// A field path such as `camera[1].main`: `[Key("camera"), Index(1), Key("main")]`.
pub type FieldPath = Vec<Seg>;

/// A table-key path segment.
pub fn key(k: impl Into<String>) -> Seg {
    Seg::Key(k.into())
}

/// A semantic problem at `path`; `first` names an earlier field it conflicts with (for duplicates).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Problem {
    /// Where the problem is.
    pub path: FieldPath,
    /// What is wrong.
    pub message: String,
    /// For duplicates: the first occurrence.
    pub first: Option<FieldPath>,
}

impl Problem {
    /// A problem at `path`.
    pub fn new(path: FieldPath, message: impl Into<String>) -> Self {
        Self {
            path,
            message: message.into(),
            first: None,
        }
    }
}

fn at(path: FieldPath, message: impl Into<String>) -> Problem {
    Problem::new(path, message)
}

fn camera_path(i: usize, key: &'static str) -> FieldPath {
    vec![
        Seg::Key("camera".into()),
        Seg::Index(i),
        Seg::Key(key.into()),
    ]
}

/// Checks the `[[camera]]` entries: names (unique, usable in paths and URLs), stream URLs (rtsp://, no
/// credentials inside), credentials, roles, retention, and that `storage` names one of `storage_dirs` (the
/// configured storage directory names). `has_storage` tells whether any storage is configured at all.
pub fn validate_cameras(cameras: &[CameraConfig], storage_dirs: &[String]) -> Vec<Problem> {
    let mut problems = Vec::new();
    let mut names: HashMap<String, usize> = HashMap::new();
    for (i, camera) in cameras.iter().enumerate() {
        check_camera_name(i, camera, &mut names, &mut problems);
        check_url(camera_path(i, "main"), &camera.main, &mut problems);
        if let Some(sub) = &camera.sub {
            check_url(camera_path(i, "sub"), sub, &mut problems);
        }
        if camera.password.is_some() && camera.username.is_none() {
            problems.push(at(
                camera_path(i, "password"),
                "password is set but username is not",
            ));
        }
        if camera.username.as_deref() == Some("") {
            problems.push(at(camera_path(i, "username"), "username is empty"));
        }
        check_roles(i, camera, &mut problems);
        check_retention(i, camera, &mut problems);
        check_autotrack(i, camera, &mut problems);
        if let Some(name) = &camera.storage
            && !storage_dirs.contains(name)
        {
            problems.push(at(
                camera_path(i, "storage"),
                format!(
                    "no storage directory named {name:?} (known: {})",
                    if storage_dirs.is_empty() {
                        "none".to_string()
                    } else {
                        storage_dirs.join(", ")
                    }
                ),
            ));
        }
    }
    if storage_dirs.is_empty()
        && let Some(i) = cameras.iter().position(|c| c.has_role(CameraRole::Record))
    {
        problems.push(at(
            camera_path(i, "roles"),
            format!(
                "camera {:?} records but no storage directory is configured ([[storage.dirs]])",
                cameras[i].name
            ),
        ));
    }
    problems
}

fn check_camera_name(
    i: usize,
    camera: &CameraConfig,
    names: &mut HashMap<String, usize>,
    problems: &mut Vec<Problem>,
) {
    let name = &camera.name;
    if name.is_empty() {
        problems.push(at(camera_path(i, "name"), "camera name is empty"));
        return;
    }
    if name.len() > 64 {
        problems.push(at(
            camera_path(i, "name"),
            format!("camera name is {} characters long (at most 64)", name.len()),
        ));
    }
    if let Some(bad) = name
        .chars()
        .find(|c| !(c.is_ascii_alphanumeric() || matches!(c, '-' | '_' | '.')))
    {
        problems.push(at(
            camera_path(i, "name"),
            format!(
                "camera name {name:?} contains {bad:?}; use letters, digits, '-', '_' or '.' (it is used in file names and URLs)"
            ),
        ));
    }
    // Names become directory names: compare case-insensitively.
    match names.get(&name.to_ascii_lowercase()) {
        Some(&first) => problems.push(Problem {
            path: camera_path(i, "name"),
            message: format!("duplicate camera name {name:?}"),
            first: Some(camera_path(first, "name")),
        }),
        None => {
            names.insert(name.to_ascii_lowercase(), i);
        }
    }
}

fn check_url(path: FieldPath, url: &Url, problems: &mut Vec<Problem>) {
    if url.scheme() == "file" {
        // A video file played as a camera (looping, at real time): for demos and trying rules on footage.
        if url.to_file_path().is_err() || url.path().len() <= 1 {
            problems.push(at(
                path,
                "file:// URL must name a video file by its absolute path",
            ));
        }
        return;
    }
    if url.scheme() != "rtsp" {
        problems.push(at(
            path,
            format!(
                "URL scheme is {:?}; camera streams must be rtsp:// (or file:// to play a video file as a camera)",
                url.scheme()
            ),
        ));
        return;
    }
    if !url.username().is_empty() || url.password().is_some() {
        problems.push(at(
            path,
            "URL contains credentials; remove them from the URL and set the camera's username and password fields (they are kept out of logs)",
        ));
        return;
    }
    if url.host_str().is_none_or(str::is_empty) {
        problems.push(at(path, "URL has no host"));
    }
}

fn check_roles(i: usize, camera: &CameraConfig, problems: &mut Vec<Problem>) {
    if camera.roles.is_empty() {
        problems.push(at(
            camera_path(i, "roles"),
            "no roles; use [\"record\"], [\"analyze\"] or both (set enabled = false to turn a camera off)",
        ));
    }
    for (j, role) in camera.roles.iter().enumerate() {
        if camera.roles[..j].contains(role) {
            problems.push(at(
                camera_path(i, "roles"),
                format!("role {role:?} listed twice"),
            ));
        }
    }
}

fn check_retention(i: usize, camera: &CameraConfig, problems: &mut Vec<Problem>) {
    let retention = &camera.retention;
    let path = |key: &'static str| {
        vec![
            Seg::Key("camera".into()),
            Seg::Index(i),
            Seg::Key("retention".into()),
            Seg::Key(key.into()),
        ]
    };
    if retention.max_days == Some(0) {
        problems.push(at(path("max_days"), "max_days must be at least 1"));
    }
    if retention.max_bytes.is_some_and(|b| b.0 == 0) {
        problems.push(at(path("max_bytes"), "max_bytes must be greater than 0"));
    }
}

fn check_autotrack(i: usize, camera: &CameraConfig, problems: &mut Vec<Problem>) {
    let Some(autotrack) = &camera.autotrack else {
        return;
    };
    let path = |key: &'static str| {
        vec![
            Seg::Key("camera".into()),
            Seg::Index(i),
            Seg::Key("autotrack".into()),
            Seg::Key(key.into()),
        ]
    };
    if camera.onvif.is_none() {
        problems.push(at(
            camera_path(i, "autotrack"),
            "autotrack moves the camera through ONVIF: set its `onvif` address too \
             (`vigil onvif discover` finds it)",
        ));
    }
    if !camera.roles.contains(&CameraRole::Analyze) {
        problems.push(at(
            camera_path(i, "autotrack"),
            "autotrack follows what the analysis tracks: the camera needs the \"analyze\" role",
        ));
    }
    for (key, message) in autotrack.problems() {
        problems.push(at(path(key), message));
    }
}

#[cfg(test)]
mod autotrack_tests {
    use super::*;

    fn cameras(extra: &str) -> Vec<CameraConfig> {
        #[derive(serde::Deserialize)]
        struct File {
            camera: Vec<CameraConfig>,
        }
        let text = format!("[[camera]]\nname = \"ptz\"\nmain = \"rtsp://10.0.0.2/main\"\n{extra}");
        toml::from_str::<File>(&text)
            .map(|f| f.camera)
            .unwrap_or_default()
    }

    #[test]
    fn autotrack_needs_onvif_and_analysis() {
        let ok = cameras(
            "onvif = \"http://10.0.0.2/onvif/device_service\"\nautotrack = { preset = \"home\" }",
        );
        assert_eq!(ok.len(), 1);
        assert!(validate_cameras(&ok, &["main".into()]).is_empty());
        let bad = cameras("roles = [\"record\"]\nautotrack = { preset = \"home\", speed = 0 }");
        let messages: Vec<String> = validate_cameras(&bad, &["main".into()])
            .into_iter()
            .map(|p| p.message)
            .collect();
        assert_eq!(messages.len(), 3, "{messages:?}");
        assert!(messages[0].contains("`onvif`"), "{messages:?}");
        assert!(messages[1].contains("analyze"), "{messages:?}");
        assert!(messages[2].contains("speed"), "{messages:?}");
    }
}

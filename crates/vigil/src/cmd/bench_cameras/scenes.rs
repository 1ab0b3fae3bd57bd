//! The cameras of `vigil bench-cameras`: each demo scene's main and sub stream made once with FFmpeg, still
//! versions of them for `--quiet-share`, and which camera shows what.

use crate::cmd::demo::SCENES;
use anyhow::{Context, bail};
use std::path::{Path, PathBuf};
use std::process::Command;

pub(super) fn default_cache() -> PathBuf {
    std::env::var_os("HOME")
        .map(PathBuf::from)
        .unwrap_or_else(std::env::temp_dir)
        .join(".cache/vigil")
}

/// Size, rate and bit rate of a generated stream.
#[derive(Clone, Copy)]
struct Format {
    w: u32,
    h: u32,
    fps: f64,
    kbps: u32,
}

/// The main (recorded) stream: 1280x720, 25 fps, 2 Mbit/s.
const MAIN: Format = Format {
    w: 1280,
    h: 720,
    fps: 25.0,
    kbps: 2000,
};

/// The sub (analysed) stream: 640x360 at `fps`, 512 kbit/s.
fn sub_format(fps: f64) -> Format {
    Format {
        w: 640,
        h: 360,
        fps,
        kbps: 512,
    }
}

/// One scene's generated streams and its rules.
pub(super) struct Scene {
    pub(super) name: String,
    pub(super) main: PathBuf,
    pub(super) sub: PathBuf,
    /// The scene's first frame held still, with sensor noise (made when `--quiet-share` asks for it).
    pub(super) still: Option<(PathBuf, PathBuf)>,
    pub(super) rules: &'static str,
}

/// The scene camera `i` shows: each in turn, shifted by one every round so that the busy cameras of a
/// `--quiet-share` run (every fourth at 0.75) do not all show the same one.
pub(super) fn scene_of(i: usize, scenes: usize) -> usize {
    let scenes = scenes.max(1);
    (i + i / scenes) % scenes
}

/// True when camera `i` of a run watches a still scene: `share` of the cameras, spread evenly.
pub(super) fn is_quiet(i: usize, share: f64) -> bool {
    let share = share.clamp(0.0, 1.0);
    ((i + 1) as f64 * share + 1e-9).floor() > (i as f64 * share + 1e-9).floor()
}

/// Makes (once) the main and sub stream of every demo scene in the footage, or of a synthetic pattern.
pub(super) fn prepare_scenes(
    cache: &Path,
    sub_fps: f64,
    still: bool,
) -> anyhow::Result<Vec<Scene>> {
    let dir = cache.join("bench-cameras");
    std::fs::create_dir_all(&dir).with_context(|| format!("creating {}", dir.display()))?;
    let footage = crate::paths::footage_dir();
    let mut scenes = Vec::new();
    for (rel, name, rules) in SCENES {
        let source = footage.join(rel);
        if source.is_file() {
            let still = match still {
                true => Some((
                    encode(&source, &dir, name, MAIN, true)?,
                    encode(&source, &dir, name, sub_format(sub_fps), true)?,
                )),
                false => None,
            };
            scenes.push(Scene {
                name: name.to_string(),
                main: encode(&source, &dir, name, MAIN, false)?,
                sub: encode(&source, &dir, name, sub_format(sub_fps), false)?,
                still,
                rules,
            });
        }
    }
    if scenes.is_empty() {
        eprintln!(
            "bench-cameras: no demo footage in {}: using a synthetic test pattern (no events)",
            footage.display()
        );
        let source = PathBuf::from("testsrc2");
        scenes.push(Scene {
            name: "pattern".into(),
            main: encode(&source, &dir, "pattern", MAIN, false)?,
            sub: encode(&source, &dir, "pattern", sub_format(sub_fps), false)?,
            still: None,
            rules: "",
        });
    }
    let names: Vec<&str> = scenes.iter().map(|s| s.name.as_str()).collect();
    eprintln!(
        "bench-cameras: cameras show these {} scenes in turn: {}",
        scenes.len(),
        names.join(", ")
    );
    Ok(scenes)
}

/// 60 s of `source` (looped) as a camera would send it: H.264 High without B-frames, a key frame every
/// 2 s, constant bit rate. `testsrc2` as the source is FFmpeg's synthetic pattern. `still`: the first
/// frame held for 60 s with temporal sensor noise.
fn encode(
    source: &Path,
    dir: &Path,
    name: &str,
    format: Format,
    still: bool,
) -> anyhow::Result<PathBuf> {
    let Format { w, h, fps, kbps } = format;
    let name = match still {
        true => format!("{name}-still"),
        false => name.to_string(),
    };
    let out = dir.join(format!("{name}-{w}x{h}-{fps}fps-{kbps}k.mp4"));
    if out.exists() {
        return Ok(out);
    }
    eprintln!("bench-cameras: making {} (once)", out.display());
    let partial = dir.join(format!("{name}-{w}x{h}-{fps}fps-{kbps}k.partial.mp4"));
    let gop = ((fps * 2.0).round() as u32).max(1).to_string();
    let rate = format!("{kbps}k");
    let buf = format!("{}k", kbps * 2);
    let mut cmd = Command::new("ffmpeg");
    cmd.args(["-v", "error", "-y"]);
    if source == Path::new("testsrc2") {
        cmd.args([
            "-f",
            "lavfi",
            "-i",
            &format!("testsrc2=size={w}x{h}:rate={fps}"),
        ]);
    } else {
        cmd.args(["-stream_loop", "-1", "-i"]).arg(source);
    }
    cmd.args([
        "-t",
        "60",
        "-an",
        "-vf",
        &match still {
            true => format!(
                "trim=end_frame=1,loop=loop=-1:size=1,setpts=N/(25*TB),scale={w}:{h},fps={fps},\
                 noise=alls=6:allf=t"
            ),
            false => format!("scale={w}:{h},fps={fps}"),
        },
    ])
    .args([
        "-c:v",
        "libx264",
        "-preset",
        "veryfast",
        "-profile:v",
        "high",
    ])
    .args([
        "-bf",
        "0",
        "-g",
        &gop,
        "-keyint_min",
        &gop,
        "-sc_threshold",
        "0",
    ])
    .args(["-b:v", &rate, "-maxrate", &rate, "-bufsize", &buf])
    .args(["-pix_fmt", "yuv420p"])
    .arg(&partial);
    let status = cmd.status().context("running ffmpeg")?;
    if !status.success() {
        bail!("ffmpeg failed making {}", out.display());
    }
    std::fs::rename(&partial, &out).with_context(|| format!("writing {}", out.display()))?;
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::{is_quiet, scene_of};

    #[test]
    fn the_quiet_share_is_spread_evenly() {
        let quiet = |n: usize, share: f64| (0..n).filter(|i| is_quiet(*i, share)).count();
        assert_eq!(quiet(8, 0.0), 0);
        assert_eq!(quiet(8, 1.0), 8);
        assert_eq!(quiet(8, 0.75), 6);
        assert_eq!(quiet(64, 0.75), 48);
        // The busy cameras of a 0.75 run show every scene, not only the first.
        let busy: std::collections::BTreeSet<usize> = (0..16)
            .filter(|i| !is_quiet(*i, 0.75))
            .map(|i| scene_of(i, 4))
            .collect();
        assert_eq!(busy.len(), 4);
    }
}

//! The export filter of `vigil run`'s server and of `vigil export`, and the segment rewriter of
//! `vigil erase --blur`: the cameras' privacy masks from the configuration, and the face and plate models
//! (loaded on the first export that needs them, from the models directory, then the download cache).

use crate::paths;
use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::sync::OnceLock;
use vigil_config::{RedactTarget, VigilConfig};
use vigil_core::{Redaction, RedactionReport};
use vigil_pipeline::redact::Redactor;
use vigil_rules::PrivacyMask;
use vigil_store::{ExportFilter, Rewritten, SegmentRewriter};
use vigil_vision::model::ModelStore;

/// Redaction as the configuration describes it.
pub struct ConfigRedactor {
    masks: HashMap<String, Vec<PrivacyMask>>,
    models_dir: PathBuf,
    threads: usize,
    /// The redactor, with the models it could not find.
    redactor: OnceLock<Result<(Redactor, Vec<String>), String>>,
}

impl ConfigRedactor {
    /// The cameras' privacy masks from `config`; models from `models_dir` (default: the shared models
    /// directory); detectors on `threads` cores.
    pub fn new(
        config: &VigilConfig,
        models_dir: Option<PathBuf>,
        threads: usize,
    ) -> anyhow::Result<Self> {
        let mut masks = HashMap::new();
        for (camera, rules) in &config.rules {
            let list = vigil_rules::privacy_masks(rules)
                .map_err(|e| anyhow::anyhow!("rules of camera {camera}: {e}"))?;
            if !list.is_empty() {
                masks.insert(camera.clone(), list);
            }
        }
        Ok(Self {
            masks,
            models_dir: models_dir.unwrap_or_else(paths::models_dir),
            threads: threads.max(1),
            redactor: OnceLock::new(),
        })
    }

    fn loaded(&self) -> Result<&(Redactor, Vec<String>), String> {
        self.redactor
            .get_or_init(|| {
                let runtime = crate::models::runtime().map_err(|e| format!("{e:#}"))?;
                let store = ModelStore::new(
                    vec![self.models_dir.clone()],
                    ModelStore::default_cache_dir(),
                );
                let (redactor, missing) = Redactor::new(runtime, &store, self.threads);
                for m in &missing {
                    tracing::warn!("redaction: {m}");
                }
                Ok((redactor, missing))
            })
            .as_ref()
            .map_err(Clone::clone)
    }

    fn redactor(&self) -> Result<&Redactor, String> {
        self.loaded().map(|(r, _)| r)
    }

    /// Loads the face and plate models now; an error naming each one missing (an erasure by blurring
    /// needs both, and says so before it changes anything).
    pub fn require_models(&self) -> anyhow::Result<()> {
        let (_, missing) = self.loaded().map_err(|e| anyhow::anyhow!(e))?;
        if !missing.is_empty() {
            anyhow::bail!(
                "the face and plate models are needed to blur ({}), looked for in {} (give --models DIR); \
                 see docs/security.md, Redaction",
                missing.join("; "),
                self.models_dir.display()
            );
        }
        Ok(())
    }
}

impl SegmentRewriter for ConfigRedactor {
    fn ready(&self) -> Result<(), String> {
        self.require_models().map_err(|e| format!("{e:#}"))
    }

    /// Faces and plates blurred, the camera's masks black, encoded without B-frames at the frames' own
    /// times, and read back as frames (`vigil_media::demux`).
    fn rewrite(
        &self,
        camera: &str,
        input: &Path,
        scratch: &Path,
        progress: &mut dyn FnMut(f64),
    ) -> Result<Rewritten, String> {
        let masks = self.masks.get(camera).map_or(&[][..], Vec::as_slice);
        let what = Redaction {
            faces: true,
            plates: true,
            masks: !masks.is_empty(),
            watermark: None,
        };
        let report = self
            .redactor()?
            .redact_recording(input, scratch, &what, masks, progress)
            .map_err(|e| e.to_string())?;
        if !report.reencoded {
            return Ok(Rewritten {
                frames: None,
                report,
            });
        }
        let video = vigil_media::demux::demux_file(scratch).map_err(|e| e.to_string())?;
        Ok(Rewritten {
            frames: Some(video.frames),
            report,
        })
    }
}

impl ExportFilter for ConfigRedactor {
    fn has_masks(&self, camera: &str) -> bool {
        self.masks.contains_key(camera)
    }

    fn apply(
        &self,
        camera: &str,
        what: &Redaction,
        input: &Path,
        output: &Path,
        progress: &mut dyn FnMut(f64),
    ) -> Result<RedactionReport, String> {
        let masks = self.masks.get(camera).map_or(&[][..], Vec::as_slice);
        self.redactor()?
            .redact_file(input, output, what, masks, progress)
            .map_err(|e| e.to_string())
    }

    fn stream(
        &self,
        camera: &str,
        what: &Redaction,
        frames: &mut dyn Iterator<Item = Result<vigil_core::EncodedFrame, String>>,
        out: &mut dyn FnMut(&[u8]) -> std::io::Result<()>,
    ) -> Result<u64, String> {
        let masks = match (what.masks, self.masks.get(camera)) {
            (true, Some(m)) => m.as_slice(),
            _ => &[],
        };
        vigil_pipeline::filtered_playback::reencode_to_fmp4(
            frames,
            masks,
            what.watermark.as_deref(),
            out,
        )
        .map(|done| done.frames)
        .map_err(|e| e.to_string())
    }
}

/// The server's export policy from `[privacy]`.
pub fn policy(config: &VigilConfig) -> vigil_server::exports::PrivacyPolicy {
    vigil_server::exports::PrivacyPolicy {
        redact: Redaction {
            faces: config.privacy.blurs(RedactTarget::Faces),
            plates: config.privacy.blurs(RedactTarget::Plates),
            ..Redaction::default()
        },
        watermark: config.privacy.watermark,
    }
}

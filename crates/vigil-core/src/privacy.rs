//! What a privacy-preserving copy of recorded video must do ([`Redaction`]) and what was done
//! ([`RedactionReport`]): shared by the re-encoding (`vigil-pipeline`), the evidence manifest and export
//! jobs (`vigil-store`, `vigil-server`).

use serde::{Deserialize, Serialize};

/// What to change in every frame of an export.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Redaction {
    /// Blur every face found (YuNet).
    pub faces: bool,
    /// Blur every licence plate found (LPD-YuNet).
    pub plates: bool,
    /// Black out the camera's privacy masks.
    pub masks: bool,
    /// Burn this text (who and when) into every frame.
    #[serde(skip_serializing_if = "Option::is_none", default)]
    pub watermark: Option<String>,
}

impl Redaction {
    /// Nothing to change: the export is the recording, bit for bit.
    pub fn is_none(&self) -> bool {
        !self.faces && !self.plates && !self.masks && self.watermark.is_none()
    }

    /// The same, with faces and plates left as recorded (an unredacted export: masks and watermark stay).
    pub fn unredacted(&self) -> Redaction {
        Redaction {
            faces: false,
            plates: false,
            ..self.clone()
        }
    }
}

/// What a redaction did to an export.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct RedactionReport {
    /// What was asked.
    pub asked: Redaction,
    /// Whether the video was decoded and encoded again; `false` when nothing needed changing (the export
    /// holds the camera's own bitstream).
    pub reencoded: bool,
    /// Frames in the export.
    pub frames: u64,
    /// Frames where at least one face was blurred.
    pub frames_with_faces: u64,
    /// Face detections blurred (a face held over neighbouring frames counts once per frame it was found).
    pub faces: u64,
    /// Frames where at least one plate was blurred.
    pub frames_with_plates: u64,
    /// Plate detections blurred.
    pub plates: u64,
    /// Privacy masks blacked out in every frame.
    pub masks: usize,
    /// The encoder of the new video, when re-encoded.
    #[serde(skip_serializing_if = "Option::is_none", default)]
    pub encoder: Option<String>,
}

//! Reading the decoder configuration record (`avcC` / `hvcC`) out of an ISO BMFF visual sample entry, as
//! carried by [`vigil_core::VideoParams::sample_entry`].
//!
//! Layout (ISO/IEC 14496-12 8.5.2 and 14496-15): an 8-byte box header (`size`, `avc1`/`avc3`/`hvc1`/`hev1`),
//! 78 bytes of `VisualSampleEntry` fields (reserved, data reference index, width, height, resolution,
//! compressor name, depth...), then child boxes, one of which is the `avcC` or `hvcC` configuration record.

use crate::decode::Codec;

/// Bytes of `SampleEntry` + `VisualSampleEntry` fields between the box header and the first child box.
const VISUAL_SAMPLE_ENTRY_FIELDS: usize = 78;

/// The codec and the configuration record (the box payload, without its 8-byte header) of a sample entry.
pub fn codec_config(entry: &[u8]) -> Result<(Codec, &[u8]), String> {
    let (kind, body) = read_box(entry, 0)
        .ok_or_else(|| format!("sample entry of {} bytes is not a box", entry.len()))?;
    let (codec, config_kind) = match &kind {
        b"avc1" | b"avc3" => (Codec::H264, b"avcC"),
        b"hvc1" | b"hev1" => (Codec::H265, b"hvcC"),
        other => {
            return Err(format!(
                "sample entry type '{}' is not avc1/avc3/hvc1/hev1",
                String::from_utf8_lossy(other)
            ));
        }
    };
    let children = body.get(VISUAL_SAMPLE_ENTRY_FIELDS..).ok_or_else(|| {
        format!(
            "{} sample entry has {} bytes of fields, needs {VISUAL_SAMPLE_ENTRY_FIELDS}",
            codec.name(),
            body.len()
        )
    })?;
    let mut pos = 0;
    while pos < children.len() {
        let (child, payload) = read_box(children, pos).ok_or_else(|| {
            format!(
                "malformed child box at byte {} of the {} sample entry",
                8 + VISUAL_SAMPLE_ENTRY_FIELDS + pos,
                codec.name()
            )
        })?;
        if &child == config_kind {
            if payload.is_empty() {
                return Err(format!(
                    "empty {} box",
                    String::from_utf8_lossy(config_kind)
                ));
            }
            return Ok((codec, payload));
        }
        pos += 8 + payload.len();
    }
    Err(format!(
        "{} sample entry has no {} box",
        codec.name(),
        String::from_utf8_lossy(config_kind)
    ))
}

/// The type and payload of the box starting at `pos` in `data`, or `None` if it does not fit.
/// A 64-bit (`size == 1`) or to-the-end (`size == 0`) box is not used inside sample entries and is refused.
fn read_box(data: &[u8], pos: usize) -> Option<([u8; 4], &[u8])> {
    let header = data.get(pos..pos.checked_add(8)?)?;
    let size = u32::from_be_bytes([header[0], header[1], header[2], header[3]]) as usize;
    let kind = [header[4], header[5], header[6], header[7]];
    if size < 8 {
        return None;
    }
    let payload = data.get(pos + 8..pos.checked_add(size)?)?;
    Some((kind, payload))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn boxed(kind: &[u8; 4], payload: &[u8]) -> Vec<u8> {
        let mut v = ((payload.len() + 8) as u32).to_be_bytes().to_vec();
        v.extend_from_slice(kind);
        v.extend_from_slice(payload);
        v
    }

    fn entry(kind: &[u8; 4], children: &[Vec<u8>]) -> Vec<u8> {
        let mut body = vec![0u8; VISUAL_SAMPLE_ENTRY_FIELDS];
        for c in children {
            body.extend_from_slice(c);
        }
        boxed(kind, &body)
    }

    #[test]
    fn finds_avcc_after_other_children() {
        let e = entry(
            b"avc1",
            &[
                boxed(b"pasp", &[0, 0, 0, 1, 0, 0, 0, 1]),
                boxed(b"avcC", &[1, 2, 3]),
            ],
        );
        let (codec, config) = codec_config(&e).unwrap();
        assert_eq!(codec, Codec::H264);
        assert_eq!(config, &[1, 2, 3]);
    }

    #[test]
    fn finds_hvcc() {
        let e = entry(b"hvc1", &[boxed(b"hvcC", &[9; 30])]);
        assert_eq!(codec_config(&e).unwrap(), (Codec::H265, &[9u8; 30][..]));
    }

    #[test]
    fn refuses_malformed_entries() {
        assert!(codec_config(&[]).unwrap_err().contains("not a box"));
        let err = codec_config(&entry(b"mp4v", &[])).unwrap_err();
        assert!(err.contains("mp4v"), "{err}");
        let err = codec_config(&entry(b"avc1", &[])).unwrap_err();
        assert!(err.contains("no avcC"), "{err}");
        // avcC inside an hvc1 entry is not the configuration H.265 needs
        let err = codec_config(&entry(b"hvc1", &[boxed(b"avcC", &[1])])).unwrap_err();
        assert!(err.contains("no hvcC"), "{err}");
        // a child box whose size runs past the end
        let mut e = entry(b"avc1", &[boxed(b"avcC", &[1, 2, 3])]);
        let n = e.len();
        e[8 + VISUAL_SAMPLE_ENTRY_FIELDS + 3] = 200;
        e[0..4].copy_from_slice(&(n as u32).to_be_bytes());
        assert!(
            codec_config(&e)
                .unwrap_err()
                .contains("malformed child box")
        );
        // fields cut short
        assert!(
            codec_config(&boxed(b"avc1", &[0; 10]))
                .unwrap_err()
                .contains("needs 78")
        );
    }
}

//! Reads the frames back out of a fragmented MP4 ([`VirtualFile`] of a recording: an init segment, then
//! `moof` + `mdat` pairs), in decode order, as [`EncodedFrame`]s with their presentation times, so a
//! recording can be decoded and encoded again on its way to a viewer (privacy masks and watermark in
//! playback) without writing it out first. Reads one box or one fragment's data at a time.

use crate::boxes::read_box_header;
use crate::codec::video_params_from_sample_entry;
use crate::fragment::{parse_moof, sample_entry_from_moov};
use crate::{Mp4Error, VirtualFile};
use std::sync::Arc;
use vigil_core::{EncodedFrame, Time90k, VideoParams};

/// The frames of a fragmented MP4, in decode order.
pub struct FragmentedFrames<'a> {
    file: &'a VirtualFile,
    /// Where the next box starts.
    pos: u64,
    params: Option<Arc<VideoParams>>,
    /// Frames of the fragment being read, not yet given out.
    pending: std::collections::VecDeque<EncodedFrame>,
    failed: bool,
}

impl<'a> FragmentedFrames<'a> {
    /// Frames of `file`, from its start.
    pub fn new(file: &'a VirtualFile) -> Self {
        Self {
            file,
            pos: 0,
            params: None,
            pending: Default::default(),
            failed: false,
        }
    }

    /// Reads boxes until a fragment's frames are pending or the file ends.
    fn fill(&mut self) -> Result<(), Mp4Error> {
        let len = self.file.len();
        while self.pending.is_empty() && self.pos + 8 <= len {
            let head = self.file.read_range(self.pos, (self.pos + 16).min(len))?;
            let header = read_box_header(&head)?
                .ok_or_else(|| Mp4Error::invalid("recording", "truncated box header"))?;
            let size = header.size.unwrap_or(len - self.pos);
            if size < header.header_len || self.pos + size > len {
                return Err(Mp4Error::invalid(
                    "recording",
                    format!(
                        "box '{}' at byte {} overruns the file",
                        header.name(),
                        self.pos
                    ),
                ));
            }
            match &header.fourcc {
                b"moov" => {
                    let body = self
                        .file
                        .read_range(self.pos + header.header_len, self.pos + size)?;
                    let entry = sample_entry_from_moov("recording", &body)?;
                    self.params = Some(Arc::new(video_params_from_sample_entry(&entry)?));
                }
                b"moof" => {
                    let params = self.params.clone().ok_or_else(|| {
                        Mp4Error::invalid("recording", "a fragment before the init segment")
                    })?;
                    let moof = self.file.read_range(self.pos, self.pos + size)?;
                    let f = parse_moof("recording", &moof, self.pos)?;
                    let data = self
                        .file
                        .read_range(f.data_offset, f.data_offset + f.data_len())?;
                    let (mut at, mut dts) = (0usize, f.base_decode_time as i64);
                    for s in &f.samples {
                        let end = at + s.size as usize;
                        let bytes = data.get(at..end).ok_or_else(|| {
                            Mp4Error::invalid("recording", "sample data past its mdat")
                        })?;
                        self.pending.push_back(EncodedFrame {
                            params: params.clone(),
                            pts: Time90k(dts + i64::from(s.composition_offset)),
                            composition_offset: s.composition_offset,
                            received_unix_micros: 0,
                            is_key: s.is_key,
                            data: bytes::Bytes::copy_from_slice(bytes),
                        });
                        at = end;
                        dts += i64::from(s.duration);
                    }
                }
                _ => {}
            }
            self.pos += size;
        }
        Ok(())
    }
}

impl Iterator for FragmentedFrames<'_> {
    type Item = Result<EncodedFrame, Mp4Error>;

    fn next(&mut self) -> Option<Self::Item> {
        if self.failed {
            return None;
        }
        if self.pending.is_empty()
            && let Err(e) = self.fill()
        {
            self.failed = true;
            return Some(Err(e));
        }
        self.pending.pop_front().map(Ok)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::Part;
    use crate::fragment::{FragmentSample, fragment_header, init_segment};

    #[test]
    fn frames_come_back_with_their_times_bytes_and_key_flags() {
        let sps = [0x67, 0x42, 0xc0, 0x1e, 0xd9, 0x00, 0xa0, 0x47, 0xfe, 0xc8];
        let pps = [0x68, 0xce, 0x3c, 0x80];
        let config = crate::codec::avc_config_from_nals(&[&sps], &[&pps]).unwrap();
        let entry = crate::codec::sample_entry(vigil_core::VideoCodec::H264, 160, 120, &config);
        let samples = [
            FragmentSample {
                duration: 3000,
                size: 5,
                is_key: true,
                composition_offset: 3000,
            },
            FragmentSample {
                duration: 3000,
                size: 3,
                is_key: false,
                composition_offset: 6000,
            },
            FragmentSample {
                duration: 3000,
                size: 4,
                is_key: false,
                composition_offset: 0,
            },
        ];
        let mut parts = vec![Part::Bytes(Arc::from(init_segment(&entry)))];
        let header = fragment_header(1, 90_000, &samples);
        parts.push(Part::Bytes(Arc::from(header)));
        parts.push(Part::Bytes(Arc::from(&b"aaaaabbbcccc"[..])));
        let file = VirtualFile::new(Vec::new(), parts);
        let frames: Vec<_> = FragmentedFrames::new(&file)
            .collect::<Result<_, _>>()
            .unwrap();
        assert_eq!(frames.len(), 3);
        let pts: Vec<i64> = frames.iter().map(|f| f.pts.0).collect();
        assert_eq!(pts, vec![93_000, 99_000, 96_000]);
        assert_eq!(
            frames.iter().map(|f| f.dts().0).collect::<Vec<_>>(),
            vec![90_000, 93_000, 96_000]
        );
        assert_eq!(&frames[1].data[..], b"bbb");
        assert!(frames[0].is_key && !frames[1].is_key);
        assert_eq!(
            (frames[0].params.width, frames[0].params.height),
            (160, 120)
        );
    }

    #[test]
    fn a_truncated_file_is_an_error_not_a_panic() {
        let file = VirtualFile::new(
            Vec::new(),
            vec![Part::Bytes(Arc::from(&b"\0\0\0\x40moofxxxx"[..]))],
        );
        let got: Vec<_> = FragmentedFrames::new(&file).collect();
        assert_eq!(got.len(), 1);
        assert!(got[0].is_err());
    }
}

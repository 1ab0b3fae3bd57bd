//! Just enough H.264 / H.265 bitstream parsing to build decoder configuration records: NAL unit
//! splitting (Annex B and length-prefixed), emulation-prevention removal, the SPS fields that
//! `avcC` / `hvcC` and RFC 6381 need, and the reorder depth an SPS declares (how many frames a B-frame
//! stream holds back; see [`max_reorder_frames`]). No decoding.

use super::Mp4Error;
use vigil_core::VideoCodec;

/// H.264 NAL unit type of a sequence parameter set.
pub const AVC_NAL_SPS: u8 = 7;
/// H.264 NAL unit type of a picture parameter set.
pub const AVC_NAL_PPS: u8 = 8;
/// H.265 NAL unit type of a video parameter set.
pub const HEVC_NAL_VPS: u8 = 32;
/// H.265 NAL unit type of a sequence parameter set.
pub const HEVC_NAL_SPS: u8 = 33;
/// H.265 NAL unit type of a picture parameter set.
pub const HEVC_NAL_PPS: u8 = 34;

/// H.264 NAL unit type (low 5 bits of the first byte).
pub fn avc_nal_type(nal: &[u8]) -> u8 {
    nal.first().map_or(0, |b| b & 0x1f)
}

/// H.265 NAL unit type (bits 1..7 of the first byte).
pub fn hevc_nal_type(nal: &[u8]) -> u8 {
    nal.first().map_or(0, |b| (b >> 1) & 0x3f)
}

/// Splits an Annex B byte stream (start codes `00 00 01` / `00 00 00 01`) into NAL units without their
/// start codes. Bytes before the first start code are ignored; empty units are skipped.
pub fn split_annexb(data: &[u8]) -> Vec<&[u8]> {
    let mut starts = Vec::new();
    let mut i = 0;
    while i + 3 <= data.len() {
        if data[i] == 0 && data[i + 1] == 0 && data[i + 2] == 1 {
            starts.push(i + 3);
            i += 3;
        } else {
            i += 1;
        }
    }
    let mut nals = Vec::with_capacity(starts.len());
    for (k, &s) in starts.iter().enumerate() {
        let mut end = if k + 1 < starts.len() {
            starts[k + 1] - 3
        } else {
            data.len()
        };
        // trailing zero bytes belong to the next 4-byte start code (or are trailing_zero_8bits)
        while end > s && data[end - 1] == 0 {
            end -= 1;
        }
        if end > s {
            nals.push(&data[s..end]);
        }
    }
    nals
}

/// True when `data` begins with an Annex B start code.
pub fn is_annexb(data: &[u8]) -> bool {
    data.starts_with(&[0, 0, 1]) || data.starts_with(&[0, 0, 0, 1])
}

/// Splits length-prefixed NAL units (`length_size` bytes of big-endian length before each).
pub fn split_length_prefixed<'a>(
    what: &str,
    data: &'a [u8],
    length_size: usize,
) -> Result<Vec<&'a [u8]>, Mp4Error> {
    if !(1..=4).contains(&length_size) {
        return Err(Mp4Error::invalid(
            what,
            format!("NAL length size {length_size} is not 1..4"),
        ));
    }
    let mut nals = Vec::new();
    let mut pos = 0;
    while pos < data.len() {
        if data.len() - pos < length_size {
            return Err(Mp4Error::invalid(
                what,
                format!("truncated NAL length at byte {pos}"),
            ));
        }
        let len = data[pos..pos + length_size]
            .iter()
            .fold(0usize, |acc, &b| (acc << 8) | usize::from(b));
        pos += length_size;
        if data.len() - pos < len {
            return Err(Mp4Error::invalid(
                what,
                format!(
                    "NAL of {len} bytes at byte {pos} runs past the end ({} bytes)",
                    data.len()
                ),
            ));
        }
        nals.push(&data[pos..pos + len]);
        pos += len;
    }
    Ok(nals)
}

/// Removes emulation-prevention bytes (`00 00 03` -> `00 00`) to get the RBSP.
pub fn unescape_rbsp(nal: &[u8]) -> Vec<u8> {
    let mut out = Vec::with_capacity(nal.len());
    let mut zeros = 0;
    for &b in nal {
        if zeros >= 2 && b == 3 {
            zeros = 0;
            continue;
        }
        zeros = if b == 0 { zeros + 1 } else { 0 };
        out.push(b);
    }
    out
}

/// Reads bits MSB-first, with Exp-Golomb codes.
pub(crate) struct BitReader<'a> {
    what: &'a str,
    data: &'a [u8],
    bit: usize,
}

impl<'a> BitReader<'a> {
    pub(crate) fn new(what: &'a str, data: &'a [u8]) -> Self {
        Self { what, data, bit: 0 }
    }

    fn eof(&self) -> Mp4Error {
        Mp4Error::invalid(self.what, "ends in the middle of a field")
    }

    pub(crate) fn u(&mut self, n: u32) -> Result<u32, Mp4Error> {
        let mut v = 0u32;
        for _ in 0..n {
            let byte = *self.data.get(self.bit / 8).ok_or_else(|| self.eof())?;
            let b = (byte >> (7 - (self.bit % 8))) & 1;
            v = (v << 1) | u32::from(b);
            self.bit += 1;
        }
        Ok(v)
    }

    pub(crate) fn skip(&mut self, n: usize) -> Result<(), Mp4Error> {
        if self.bit + n > self.data.len() * 8 {
            return Err(self.eof());
        }
        self.bit += n;
        Ok(())
    }

    pub(crate) fn ue(&mut self) -> Result<u32, Mp4Error> {
        let mut zeros = 0;
        while self.u(1)? == 0 {
            zeros += 1;
            if zeros > 31 {
                return Err(Mp4Error::invalid(self.what, "Exp-Golomb code too long"));
            }
        }
        let rest = self.u(zeros)?;
        Ok(((1u64 << zeros) - 1 + u64::from(rest)) as u32)
    }

    /// A signed Exp-Golomb code.
    pub(crate) fn se(&mut self) -> Result<i32, Mp4Error> {
        let k = i64::from(self.ue()?);
        Ok(if k % 2 == 1 { (k + 1) / 2 } else { -k / 2 } as i32)
    }
}

/// The largest number of frames that may precede any frame in decode order and follow it in
/// presentation order, as the sequence parameter set `sps` (a NAL unit with its header) declares it:
/// H.265's `sps_max_num_reorder_pics` of the highest sub-layer (always present), H.264's VUI
/// `max_num_reorder_frames` when the SPS carries bitstream restrictions, 0 for H.264 Baseline (which has no
/// B-frames). `Ok(None)` when an H.264 SPS does not say.
pub fn max_reorder_frames(codec: VideoCodec, sps: &[u8]) -> Result<Option<u32>, Mp4Error> {
    match codec {
        VideoCodec::H264 => avc_max_reorder_frames(sps),
        VideoCodec::H265 => parse_hevc_sps(sps).map(|info| info.max_num_reorder_pics),
    }
}

/// Skips an H.264 `scaling_list` of `size` coefficients (7.3.2.1.1.1).
fn skip_scaling_list(r: &mut BitReader<'_>, size: usize) -> Result<(), Mp4Error> {
    let (mut last, mut next) = (8i32, 8i32);
    for _ in 0..size {
        if next != 0 {
            let delta = r.se()?;
            next = (last + delta + 256).rem_euclid(256);
        }
        last = if next == 0 { last } else { next };
    }
    Ok(())
}

/// Skips H.264 `hrd_parameters` (E.1.2).
fn skip_hrd(r: &mut BitReader<'_>) -> Result<(), Mp4Error> {
    let cpb_cnt = r.ue()? + 1;
    if cpb_cnt > 32 {
        return Err(Mp4Error::invalid("H.264 SPS", "cpb_cnt_minus1 above 31"));
    }
    r.skip(8)?; // bit_rate_scale, cpb_size_scale
    for _ in 0..cpb_cnt {
        r.ue()?;
        r.ue()?;
        r.skip(1)?;
    }
    r.skip(20) // four 5-bit lengths
}

/// H.264 SPS (7.3.2.1.1) up to the VUI's bitstream restriction (E.1.1).
fn avc_max_reorder_frames(nal: &[u8]) -> Result<Option<u32>, Mp4Error> {
    let what = "H.264 SPS";
    let rbsp = unescape_rbsp(nal);
    if rbsp.len() < 4 {
        return Err(Mp4Error::invalid(
            what,
            format!("{} bytes is too short", rbsp.len()),
        ));
    }
    let profile_idc = rbsp[1];
    let mut r = BitReader::new(what, &rbsp[4..]);
    r.ue()?; // seq_parameter_set_id
    if matches!(
        profile_idc,
        100 | 110 | 122 | 244 | 44 | 83 | 86 | 118 | 128 | 138 | 139 | 134 | 135
    ) {
        let chroma_format_idc = r.ue()?;
        if chroma_format_idc == 3 {
            r.skip(1)?; // separate_colour_plane_flag
        }
        r.ue()?; // bit_depth_luma_minus8
        r.ue()?; // bit_depth_chroma_minus8
        r.skip(1)?; // qpprime_y_zero_transform_bypass_flag
        if r.u(1)? == 1 {
            let lists = if chroma_format_idc == 3 { 12 } else { 8 };
            for i in 0..lists {
                if r.u(1)? == 1 {
                    skip_scaling_list(&mut r, if i < 6 { 16 } else { 64 })?;
                }
            }
        }
    }
    r.ue()?; // log2_max_frame_num_minus4
    match r.ue()? {
        0 => {
            r.ue()?; // log2_max_pic_order_cnt_lsb_minus4
        }
        1 => {
            r.skip(1)?; // delta_pic_order_always_zero_flag
            r.se()?;
            r.se()?;
            let cycle = r.ue()?;
            if cycle > 255 {
                return Err(Mp4Error::invalid(
                    what,
                    "num_ref_frames_in_pic_order_cnt_cycle above 255",
                ));
            }
            for _ in 0..cycle {
                r.se()?;
            }
        }
        _ => {}
    }
    r.ue()?; // max_num_ref_frames
    r.skip(1)?; // gaps_in_frame_num_value_allowed_flag
    r.ue()?; // pic_width_in_mbs_minus1
    r.ue()?; // pic_height_in_map_units_minus1
    if r.u(1)? == 0 {
        r.skip(1)?; // mb_adaptive_frame_field_flag
    }
    r.skip(1)?; // direct_8x8_inference_flag
    if r.u(1)? == 1 {
        for _ in 0..4 {
            r.ue()?; // frame_crop_*_offset
        }
    }
    // Baseline (and Constrained Baseline) streams have no B slices.
    let baseline = (profile_idc == 66).then_some(0);
    if r.u(1)? == 0 {
        return Ok(baseline);
    }
    // vui_parameters()
    if r.u(1)? == 1 && r.u(8)? == 255 {
        r.skip(32)?; // sar_width, sar_height
    }
    if r.u(1)? == 1 {
        r.skip(1)?; // overscan_appropriate_flag
    }
    if r.u(1)? == 1 {
        r.skip(4)?; // video_format, video_full_range_flag
        if r.u(1)? == 1 {
            r.skip(24)?; // colour_primaries, transfer_characteristics, matrix_coefficients
        }
    }
    if r.u(1)? == 1 {
        r.ue()?;
        r.ue()?; // chroma_sample_loc_type_top/bottom_field
    }
    if r.u(1)? == 1 {
        r.skip(65)?; // num_units_in_tick, time_scale, fixed_frame_rate_flag
    }
    let nal_hrd = r.u(1)? == 1;
    if nal_hrd {
        skip_hrd(&mut r)?;
    }
    let vcl_hrd = r.u(1)? == 1;
    if vcl_hrd {
        skip_hrd(&mut r)?;
    }
    if nal_hrd || vcl_hrd {
        r.skip(1)?; // low_delay_hrd_flag
    }
    r.skip(1)?; // pic_struct_present_flag
    if r.u(1)? == 0 {
        return Ok(baseline);
    }
    r.skip(1)?; // motion_vectors_over_pic_boundaries_flag
    for _ in 0..4 {
        r.ue()?; // max_bytes_per_pic_denom, max_bits_per_mb_denom, log2_max_mv_length_*
    }
    Ok(Some(r.ue()?))
}

/// Fields of an H.265 SPS that `hvcC` needs.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct HevcSpsInfo {
    /// The 12 bytes of general profile/tier/level, as they appear in the SPS and in `hvcC`.
    pub general_ptl: [u8; 12],
    pub max_sub_layers_minus1: u8,
    pub temporal_id_nesting: bool,
    pub chroma_format_idc: u8,
    pub bit_depth_luma_minus8: u8,
    pub bit_depth_chroma_minus8: u8,
    /// `sps_max_num_reorder_pics` of the highest sub-layer; `None` when the SPS ends before it.
    pub max_num_reorder_pics: Option<u32>,
}

/// Parses the start of an H.265 SPS NAL unit (with its 2-byte header).
pub(crate) fn parse_hevc_sps(nal: &[u8]) -> Result<HevcSpsInfo, Mp4Error> {
    let what = "H.265 SPS";
    let rbsp = unescape_rbsp(nal);
    if rbsp.len() < 15 {
        return Err(Mp4Error::invalid(
            what,
            format!("{} bytes is too short", rbsp.len()),
        ));
    }
    let b = rbsp[2];
    let max_sub_layers_minus1 = (b >> 1) & 0x7;
    let temporal_id_nesting = b & 1 == 1;
    let mut general_ptl = [0u8; 12];
    general_ptl.copy_from_slice(&rbsp[3..15]);
    let mut r = BitReader::new(what, &rbsp[15..]);
    let n = usize::from(max_sub_layers_minus1);
    let mut profile_present = [false; 8];
    let mut level_present = [false; 8];
    for i in 0..n {
        profile_present[i] = r.u(1)? == 1;
        level_present[i] = r.u(1)? == 1;
    }
    if n > 0 {
        r.skip(2 * (8 - n))?;
    }
    for i in 0..n {
        if profile_present[i] {
            r.skip(88)?;
        }
        if level_present[i] {
            r.skip(8)?;
        }
    }
    let _sps_id = r.ue()?;
    let chroma_format_idc = r.ue()?;
    if chroma_format_idc > 3 {
        return Err(Mp4Error::invalid(
            what,
            format!("chroma_format_idc {chroma_format_idc} > 3"),
        ));
    }
    if chroma_format_idc == 3 {
        r.skip(1)?;
    }
    let _width = r.ue()?;
    let _height = r.ue()?;
    if r.u(1)? == 1 {
        for _ in 0..4 {
            r.ue()?;
        }
    }
    let bit_depth_luma_minus8 = r.ue()?;
    let bit_depth_chroma_minus8 = r.ue()?;
    if bit_depth_luma_minus8 > 8 || bit_depth_chroma_minus8 > 8 {
        return Err(Mp4Error::invalid(what, "bit depth above 16"));
    }
    // The reorder depth follows; hvcC does not need it, so an SPS cut short here still serves for that.
    let max_num_reorder_pics = (|| -> Result<u32, Mp4Error> {
        r.ue()?; // log2_max_pic_order_cnt_lsb_minus4
        let all_layers = r.u(1)? == 1; // sps_sub_layer_ordering_info_present_flag
        let mut reorder = 0;
        for _ in (if all_layers { 0 } else { n })..=n {
            r.ue()?; // sps_max_dec_pic_buffering_minus1
            reorder = r.ue()?; // sps_max_num_reorder_pics
            r.ue()?; // sps_max_latency_increase_plus1
        }
        Ok(reorder)
    })()
    .ok();
    Ok(HevcSpsInfo {
        general_ptl,
        max_sub_layers_minus1,
        temporal_id_nesting,
        chroma_format_idc: chroma_format_idc as u8,
        bit_depth_luma_minus8: bit_depth_luma_minus8 as u8,
        bit_depth_chroma_minus8: bit_depth_chroma_minus8 as u8,
        max_num_reorder_pics,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn annexb_split_handles_3_and_4_byte_start_codes() {
        let data = [
            0, 0, 0, 1, 0x67, 1, 2, 0, 0, 1, 0x68, 3, 0, 0, 0, 1, 0x65, 4,
        ];
        let nals = split_annexb(&data);
        assert_eq!(
            nals,
            vec![&[0x67, 1, 2][..], &[0x68, 3][..], &[0x65, 4][..]]
        );
        assert!(is_annexb(&data));
        assert!(split_annexb(&[1, 2, 3]).is_empty());
    }

    #[test]
    fn length_prefixed_split_rejects_overruns() {
        let ok = [0, 0, 0, 2, 9, 9, 0, 0, 0, 1, 7];
        assert_eq!(split_length_prefixed("t", &ok, 4).unwrap().len(), 2);
        let bad = [0, 0, 0, 9, 1, 2];
        let err = split_length_prefixed("frame 3", &bad, 4).unwrap_err();
        assert!(err.to_string().contains("frame 3"), "{err}");
        assert!(split_length_prefixed("t", &ok, 0).is_err());
    }

    #[test]
    fn emulation_prevention_is_removed() {
        assert_eq!(unescape_rbsp(&[0, 0, 3, 1, 0, 0, 3]), vec![0, 0, 1, 0, 0]);
    }

    fn hex(s: &str) -> Vec<u8> {
        (0..s.len())
            .step_by(2)
            .map(|i| u8::from_str_radix(&s[i..i + 2], 16).unwrap())
            .collect()
    }

    #[test]
    fn reorder_depth_as_the_sps_declares_it() {
        // SPS NAL units written by real encoders; the expected values are what FFmpeg's trace_headers
        // reads from them (max_num_reorder_frames / sps_max_num_reorder_pics).
        let cases = [
            // libx264 defaults (High, 3 B-frames with a pyramid): 2
            (
                VideoCodec::H264,
                "67640016acd940c037a6a0c0c0c8000003000800000300a078b16cb0",
                Some(2),
            ),
            // libx264 -bf 0: 0
            (
                VideoCodec::H264,
                "67640016acb40601bd3506060640000003004000000503c58ba8",
                Some(0),
            ),
            // Intel's classroom clip (High, scaling-list-free, B-pyramid): 2
            (
                VideoCodec::H264,
                "67640015acd941e08fea10000003001000000301e0f162d960",
                Some(2),
            ),
            // Intel's one-by-one clip (Main with B-frames, VUI without bitstream restriction): not said
            (
                VideoCodec::H264,
                "674d401f965281806f4d418181900000030010000003014840",
                None,
            ),
            // Intel's car clip (Baseline): no B-frames by profile
            (
                VideoCodec::H264,
                "6742801696540601bd3506060640000003004000000661",
                Some(0),
            ),
            // libx265 defaults: 2
            (
                VideoCodec::H265,
                "42010101600000030090000003000003005aa0060201b1659596e4c2e6a0c0c0dc2000000300200000030141",
                Some(2),
            ),
        ];
        for (codec, sps, expected) in cases {
            assert_eq!(
                max_reorder_frames(codec, &hex(sps)).unwrap(),
                expected,
                "{sps}"
            );
        }
        // Cut short: an error (or, for H.265, "not said"), never a panic.
        let sps = hex(cases[0].1);
        for cut in 0..sps.len() {
            let _ = max_reorder_frames(VideoCodec::H264, &sps[..cut]);
        }
        assert!(max_reorder_frames(VideoCodec::H264, &sps[..10]).is_err());
        let sps = hex(cases[5].1);
        for cut in 0..sps.len() {
            let _ = max_reorder_frames(VideoCodec::H265, &sps[..cut]);
        }
    }

    #[test]
    fn exp_golomb() {
        // bits: 1 (=0), 010 (=1), 011 (=2), 00100 (=3)
        let data = [0b1010_0110, 0b0100_0000];
        let mut r = BitReader::new("t", &data);
        assert_eq!(r.ue().unwrap(), 0);
        assert_eq!(r.ue().unwrap(), 1);
        assert_eq!(r.ue().unwrap(), 2);
        assert_eq!(r.ue().unwrap(), 3);
        assert!(r.ue().is_err());
        // signed: 1 (=0), 010 (=+1), 011 (=-1), 00100 (=+2)
        let mut r = BitReader::new("t", &data);
        assert_eq!(
            [
                r.se().unwrap(),
                r.se().unwrap(),
                r.se().unwrap(),
                r.se().unwrap()
            ],
            [0, 1, -1, 2]
        );
    }
}

//! Just enough H.264 / H.265 bitstream parsing to build decoder configuration records: NAL unit
//! splitting (Annex B and length-prefixed), emulation-prevention removal and the SPS fields that
//! `avcC` / `hvcC` and RFC 6381 need. No decoding.

use super::Mp4Error;

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
    Ok(HevcSpsInfo {
        general_ptl,
        max_sub_layers_minus1,
        temporal_id_nesting,
        chroma_format_idc: chroma_format_idc as u8,
        bit_depth_luma_minus8: bit_depth_luma_minus8 as u8,
        bit_depth_chroma_minus8: bit_depth_chroma_minus8 as u8,
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
    }
}

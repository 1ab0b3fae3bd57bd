//! Sample entries (`avc1`+`avcC`, `hvc1`+`hvcC`) and RFC 6381 codec strings, built from a decoder
//! configuration record or from parameter-set NAL units (FFmpeg extradata in either form), and parsed
//! back from a sample entry (to index recovered segment files).

use super::Mp4Error;
use super::boxes::{BoxWriter, Reader, children, read_box_header};
use super::h26x::{
    AVC_NAL_PPS, AVC_NAL_SPS, HEVC_NAL_PPS, HEVC_NAL_SPS, HEVC_NAL_VPS, avc_nal_type,
    hevc_nal_type, is_annexb, parse_hevc_sps, split_annexb,
};
use vigil_core::{VideoCodec, VideoParams};

/// Builds complete [`VideoParams`] (sample entry box and RFC 6381 string) from FFmpeg-style extradata:
/// either a decoder configuration record (`avcC` / `hvcC` body, as MP4 and Matroska demuxers give) or
/// Annex B parameter sets (as MPEG-TS and raw streams give).
pub fn video_params_from_extradata(
    codec: VideoCodec,
    width: u32,
    height: u32,
    extradata: &[u8],
) -> Result<VideoParams, Mp4Error> {
    let config = decoder_config_from_extradata(codec, extradata)?;
    video_params_from_config(codec, width, height, &config)
}

/// Builds [`VideoParams`] from a decoder configuration record (`avcC` / `hvcC` body).
pub fn video_params_from_config(
    codec: VideoCodec,
    width: u32,
    height: u32,
    config: &[u8],
) -> Result<VideoParams, Mp4Error> {
    let rfc6381_codec = rfc6381_codec(codec, config)?;
    if width == 0 || height == 0 || width > 0xffff || height > 0xffff {
        return Err(Mp4Error::invalid(
            format!("{} sample entry", codec.fourcc()),
            format!("picture size {width}x{height} is not 1..65535"),
        ));
    }
    Ok(VideoParams {
        codec,
        width,
        height,
        rfc6381_codec,
        sample_entry: sample_entry(codec, width as u16, height as u16, config),
    })
}

/// Returns the decoder configuration record for `extradata`, converting Annex B parameter sets when
/// needed and validating a given record.
pub fn decoder_config_from_extradata(
    codec: VideoCodec,
    extradata: &[u8],
) -> Result<Vec<u8>, Mp4Error> {
    if extradata.is_empty() {
        return Err(Mp4Error::invalid(
            format!("{} extradata", codec.fourcc()),
            "empty: the stream carries no parameter sets",
        ));
    }
    if is_annexb(extradata) {
        let nals = split_annexb(extradata);
        return match codec {
            VideoCodec::H264 => {
                let sps: Vec<&[u8]> = nals
                    .iter()
                    .copied()
                    .filter(|n| avc_nal_type(n) == AVC_NAL_SPS)
                    .collect();
                let pps: Vec<&[u8]> = nals
                    .iter()
                    .copied()
                    .filter(|n| avc_nal_type(n) == AVC_NAL_PPS)
                    .collect();
                avc_config_from_nals(&sps, &pps)
            }
            VideoCodec::H265 => {
                let pick = |t: u8| -> Vec<&[u8]> {
                    nals.iter()
                        .copied()
                        .filter(|n| hevc_nal_type(n) == t)
                        .collect()
                };
                hevc_config_from_nals(
                    &pick(HEVC_NAL_VPS),
                    &pick(HEVC_NAL_SPS),
                    &pick(HEVC_NAL_PPS),
                )
            }
        };
    }
    // A configuration record: validate it by parsing.
    nal_length_size(codec, extradata)?;
    rfc6381_codec(codec, extradata)?;
    Ok(extradata.to_vec())
}

/// Builds an `avcC` body (AVCDecoderConfigurationRecord, 4-byte NAL lengths) from SPS and PPS NAL units.
pub fn avc_config_from_nals(sps: &[&[u8]], pps: &[&[u8]]) -> Result<Vec<u8>, Mp4Error> {
    let what = "avcC from parameter sets";
    let first = sps
        .first()
        .ok_or_else(|| Mp4Error::invalid(what, "no SPS NAL unit"))?;
    if pps.is_empty() {
        return Err(Mp4Error::invalid(what, "no PPS NAL unit"));
    }
    if first.len() < 4 {
        return Err(Mp4Error::invalid(what, "SPS shorter than 4 bytes"));
    }
    if sps.len() > 31 || pps.len() > 255 {
        return Err(Mp4Error::invalid(what, "too many parameter sets"));
    }
    let mut out = vec![
        1,
        first[1],
        first[2],
        first[3],
        0xff,
        0xe0 | sps.len() as u8,
    ];
    for s in sps {
        push_u16_prefixed(what, &mut out, s)?;
    }
    out.push(pps.len() as u8);
    for p in pps {
        push_u16_prefixed(what, &mut out, p)?;
    }
    Ok(out)
}

/// Builds an `hvcC` body (HEVCDecoderConfigurationRecord, 4-byte NAL lengths) from VPS, SPS and PPS NAL
/// units (with their 2-byte NAL headers).
pub fn hevc_config_from_nals(
    vps: &[&[u8]],
    sps: &[&[u8]],
    pps: &[&[u8]],
) -> Result<Vec<u8>, Mp4Error> {
    let what = "hvcC from parameter sets";
    if vps.is_empty() || sps.is_empty() || pps.is_empty() {
        return Err(Mp4Error::invalid(
            what,
            format!(
                "needs VPS, SPS and PPS; got {} VPS, {} SPS, {} PPS",
                vps.len(),
                sps.len(),
                pps.len()
            ),
        ));
    }
    let info = parse_hevc_sps(sps[0])?;
    let mut out = Vec::with_capacity(64);
    out.push(1);
    out.extend_from_slice(&info.general_ptl);
    out.extend_from_slice(&0xf000u16.to_be_bytes()); // min_spatial_segmentation_idc = 0
    out.push(0xfc); // parallelismType = 0 (unknown)
    out.push(0xfc | info.chroma_format_idc);
    out.push(0xf8 | info.bit_depth_luma_minus8);
    out.push(0xf8 | info.bit_depth_chroma_minus8);
    out.extend_from_slice(&0u16.to_be_bytes()); // avgFrameRate unknown
    out.push(
        ((info.max_sub_layers_minus1 + 1) << 3) | (u8::from(info.temporal_id_nesting) << 2) | 3,
    );
    out.push(3);
    for (nal_type, list) in [
        (HEVC_NAL_VPS, vps),
        (HEVC_NAL_SPS, sps),
        (HEVC_NAL_PPS, pps),
    ] {
        out.push(0x80 | nal_type);
        let count = u16::try_from(list.len())
            .map_err(|_| Mp4Error::invalid(what, "too many parameter sets"))?;
        out.extend_from_slice(&count.to_be_bytes());
        for nal in list {
            push_u16_prefixed(what, &mut out, nal)?;
        }
    }
    Ok(out)
}

fn push_u16_prefixed(what: &str, out: &mut Vec<u8>, nal: &[u8]) -> Result<(), Mp4Error> {
    let len = u16::try_from(nal.len())
        .map_err(|_| Mp4Error::invalid(what, "parameter set longer than 65535 bytes"))?;
    out.extend_from_slice(&len.to_be_bytes());
    out.extend_from_slice(nal);
    Ok(())
}

/// The NAL length size (1, 2 or 4 bytes) a decoder configuration record declares.
pub fn nal_length_size(codec: VideoCodec, config: &[u8]) -> Result<usize, Mp4Error> {
    let (what, min, byte) = match codec {
        VideoCodec::H264 => ("avcC", 7, 4),
        VideoCodec::H265 => ("hvcC", 23, 21),
    };
    if config.len() < min {
        return Err(Mp4Error::invalid(
            what,
            format!("{} bytes, needs at least {min}", config.len()),
        ));
    }
    if config[0] != 1 {
        return Err(Mp4Error::invalid(
            what,
            format!("configurationVersion {} is not 1", config[0]),
        ));
    }
    let size = usize::from(config[byte] & 3) + 1;
    if size == 3 {
        return Err(Mp4Error::invalid(what, "NAL length size 3 is not allowed"));
    }
    Ok(size)
}

/// The RFC 6381 codec string (`avc1.PPCCLL`, `hvc1.P.C.TL.B...`) for a decoder configuration record.
pub fn rfc6381_codec(codec: VideoCodec, config: &[u8]) -> Result<String, Mp4Error> {
    nal_length_size(codec, config)?;
    match codec {
        VideoCodec::H264 => Ok(format!(
            "avc1.{:02X}{:02X}{:02X}",
            config[1], config[2], config[3]
        )),
        VideoCodec::H265 => {
            let b = config[1];
            let space = match b >> 6 {
                0 => "",
                1 => "A",
                2 => "B",
                _ => "C",
            };
            let tier = if b & 0x20 != 0 { 'H' } else { 'L' };
            let profile_idc = b & 0x1f;
            let compat = u32::from_be_bytes([config[2], config[3], config[4], config[5]]);
            let constraints = &config[6..12];
            let level = config[12];
            let mut s = format!(
                "hvc1.{space}{profile_idc}.{:X}.{tier}{level}",
                compat.reverse_bits()
            );
            let keep = constraints
                .iter()
                .rposition(|&c| c != 0)
                .map_or(0, |i| i + 1);
            for c in &constraints[..keep] {
                s.push_str(&format!(".{c:X}"));
            }
            Ok(s)
        }
    }
}

/// Builds the complete visual sample entry box (`avc1` or `hvc1`) around a decoder configuration record.
pub fn sample_entry(codec: VideoCodec, width: u16, height: u16, config: &[u8]) -> Vec<u8> {
    let (entry, record) = match codec {
        VideoCodec::H264 => (b"avc1", b"avcC"),
        VideoCodec::H265 => (b"hvc1", b"hvcC"),
    };
    let mut w = BoxWriter::with_capacity(86 + 8 + config.len());
    w.start(entry);
    w.zeros(6); // reserved
    w.u16(1); // data_reference_index
    w.zeros(16); // pre_defined, reserved, pre_defined[3]
    w.u16(width);
    w.u16(height);
    w.u32(0x0048_0000); // 72 dpi
    w.u32(0x0048_0000);
    w.u32(0); // reserved
    w.u16(1); // frame_count
    w.zeros(32); // compressorname (empty)
    w.u16(0x0018); // depth
    w.u16(0xffff); // pre_defined = -1
    w.start(record);
    w.bytes(config);
    w.end();
    w.end();
    w.into_bytes()
}

/// Parses a visual sample entry box (`avc1`/`avc3`/`hvc1`/`hev1`) back into [`VideoParams`].
pub fn video_params_from_sample_entry(entry: &[u8]) -> Result<VideoParams, Mp4Error> {
    let header = read_box_header(entry)?
        .ok_or_else(|| Mp4Error::invalid("sample entry", "shorter than a box header"))?;
    let name = header.name();
    let what = format!("sample entry '{name}'");
    let codec = match &header.fourcc {
        b"avc1" | b"avc3" => VideoCodec::H264,
        b"hvc1" | b"hev1" => VideoCodec::H265,
        _ => {
            return Err(Mp4Error::Unsupported(format!(
                "video sample entry '{name}'"
            )));
        }
    };
    let size = header.size.unwrap_or(entry.len() as u64);
    if size != entry.len() as u64 {
        return Err(Mp4Error::invalid(
            &what,
            format!("box size {size} but {} bytes given", entry.len()),
        ));
    }
    let body = &entry[header.header_len as usize..];
    let mut r = Reader::new(&what, body);
    r.skip(24)?;
    let width = r.u16()?;
    let height = r.u16()?;
    r.skip(50)?;
    let want: &[u8; 4] = match codec {
        VideoCodec::H264 => b"avcC",
        VideoCodec::H265 => b"hvcC",
    };
    for child in children(&what, r.rest()) {
        let (cc, config) = child?;
        if &cc == want {
            let rfc6381_codec = rfc6381_codec(codec, config)?;
            return Ok(VideoParams {
                codec,
                width: u32::from(width),
                height: u32::from(height),
                rfc6381_codec,
                sample_entry: entry.to_vec(),
            });
        }
    }
    Err(Mp4Error::invalid(
        what,
        format!("no '{}' box", String::from_utf8_lossy(want)),
    ))
}

#[cfg(test)]
mod tests {
    use super::*;

    // SPS/PPS shaped like libx264's High-profile ones; only the SPS header bytes (profile, constraints,
    // level) matter to the record and codec string. Real streams are covered by the demux tests.
    const SPS: &[u8] = &[
        0x67, 0x64, 0x00, 0x1e, 0xac, 0xd9, 0x40, 0xa0, 0x2f, 0xf9, 0x70, 0x11, 0x00, 0x00, 0x03,
        0x00, 0x01, 0x00, 0x00, 0x03, 0x00, 0x32, 0x0f, 0x16, 0x2d, 0x96,
    ];
    const PPS: &[u8] = &[0x68, 0xeb, 0xe3, 0xcb, 0x22, 0xc0];

    #[test]
    fn avc_annexb_and_record_agree() {
        let mut annexb = vec![0, 0, 0, 1];
        annexb.extend_from_slice(SPS);
        annexb.extend_from_slice(&[0, 0, 0, 1]);
        annexb.extend_from_slice(PPS);
        let from_annexb = video_params_from_extradata(VideoCodec::H264, 640, 360, &annexb).unwrap();
        assert_eq!(from_annexb.rfc6381_codec, "avc1.64001E");
        let config = decoder_config_from_extradata(VideoCodec::H264, &annexb).unwrap();
        let from_record = video_params_from_extradata(VideoCodec::H264, 640, 360, &config).unwrap();
        assert_eq!(from_annexb, from_record);
        let parsed = video_params_from_sample_entry(&from_record.sample_entry).unwrap();
        assert_eq!(parsed, from_record);
        assert_eq!(&parsed.sample_entry[4..8], b"avc1");
        assert_eq!(nal_length_size(VideoCodec::H264, &config).unwrap(), 4);
    }

    #[test]
    fn hevc_codec_string_follows_iso_14496_15_annex_e() {
        // Main profile, compat flags 0x60000000, constraints 0xb0, level 93 (3.1)
        let mut config = vec![1, 0x01, 0x60, 0, 0, 0, 0xb0, 0, 0, 0, 0, 0, 93];
        config.extend_from_slice(&[0xf0, 0, 0xfc, 0xfd, 0xf8, 0xf8, 0, 0, 0x0f, 0]);
        assert_eq!(
            rfc6381_codec(VideoCodec::H265, &config).unwrap(),
            "hvc1.1.6.L93.B0"
        );
    }

    #[test]
    fn bad_extradata_is_a_clear_error() {
        let err = video_params_from_extradata(VideoCodec::H264, 640, 360, &[]).unwrap_err();
        assert!(err.to_string().contains("empty"), "{err}");
        let err =
            video_params_from_extradata(VideoCodec::H264, 640, 360, &[2, 0x64, 0, 0x1e, 0xff])
                .unwrap_err();
        assert!(err.to_string().contains("avcC"), "{err}");
        let err = video_params_from_extradata(VideoCodec::H264, 640, 360, &[0, 0, 1, 0x68, 1])
            .unwrap_err();
        assert!(err.to_string().contains("no SPS"), "{err}");
        let err = video_params_from_extradata(VideoCodec::H265, 640, 360, &[0, 0, 1, 0x40, 1, 2])
            .unwrap_err();
        assert!(err.to_string().contains("needs VPS, SPS and PPS"), "{err}");
        let config = decoder_config_from_extradata(
            VideoCodec::H264,
            &[&[0u8, 0, 1][..], SPS, &[0, 0, 1], PPS].concat(),
        )
        .unwrap();
        let err = video_params_from_config(VideoCodec::H264, 0, 360, &config).unwrap_err();
        assert!(err.to_string().contains("0x360"), "{err}");
        let err = video_params_from_sample_entry(b"\0\0\0\x10mp4v\0\0\0\0\0\0\0\0").unwrap_err();
        assert!(err.to_string().contains("mp4v"), "{err}");
    }
}

//! Unit tests of the segment file format: writing, recovery, checksums.

use super::*;

fn entry() -> Vec<u8> {
    let config = vigil_mp4::codec::avc_config_from_nals(
        &[&[0x67, 0x42, 0xc0, 0x1e, 0x95]],
        &[&[0x68, 0xce, 0x38, 0x80]],
    )
    .unwrap();
    vigil_mp4::codec::sample_entry(vigil_core::VideoCodec::H264, 320, 240, &config)
}

fn header() -> SegmentHeader {
    SegmentHeader {
        stream_id: 3,
        seq: 17,
        start_90k: 1_700_000_000 * 90_000,
        run_start: true,
        camera: "front door".into(),
        stream: "main".into(),
        key_id: None,
    }
}

/// The frame data of fragment `f` (5 frames of 100..104 bytes).
fn sample_data(f: usize) -> Vec<u8> {
    (0..(100..105).sum::<u32>())
        .map(|b| (b as usize * 7 + f) as u8)
        .collect()
}

fn write_sample(path: &Path, fragments: usize) -> FinishedFile {
    write_sample_with(path, fragments, None)
}

fn write_sample_with(path: &Path, fragments: usize, key: Option<SegmentKey>) -> FinishedFile {
    let header = SegmentHeader {
        key_id: key.as_ref().map(|k| k.id),
        ..header()
    };
    let mut w = SegmentWriter::create(path, &header, &entry(), key).unwrap();
    for f in 0..fragments {
        // decode order I P B B P with the B-frames shown first: composition offsets
        let samples: Vec<FragmentSample> = (0..5)
            .map(|i| FragmentSample {
                duration: 3000,
                size: 100 + i,
                is_key: i == 0,
                composition_offset: [3000, 9000, 0, 0, 6000][i as usize],
            })
            .collect();
        let data = sample_data(f);
        w.write_fragment(&samples, &[&data[..]]).unwrap();
    }
    w.finish().unwrap()
}

#[test]
fn names_round_trip() {
    assert_eq!(parse_file_name(&file_name(12, 345)), Some((12, 345)));
    assert_eq!(parse_file_name("x-1.mp4"), None);
    assert_eq!(parse_file_name("1-2.mp4.tmp"), None);
    assert_eq!(parse_file_name(".vigil-dir"), None);
}

#[test]
fn complete_file_recovers_exactly() {
    let dir = tempfile::tempdir().unwrap();
    let p = dir.path().join(file_name(3, 17));
    let fin = write_sample(&p, 4);
    let r = recover(&p).unwrap();
    assert_eq!(r.header, header());
    assert_eq!(r.sample_entry, entry());
    assert_eq!(r.index, fin.index);
    assert_eq!((r.valid_len, r.file_len), (fin.bytes, fin.bytes));
    assert_eq!(r.checksum, fin.checksum);
    assert_eq!(file_checksum(&p).unwrap(), (fin.bytes, fin.checksum));
}

#[test]
fn every_truncation_keeps_the_complete_fragments_before_it() {
    every_truncation_recovers(None, CRC_BOX_LEN);
}

#[test]
fn encrypted_segments_recover_at_every_cut_without_the_key() {
    every_truncation_recovers(Some(SegmentKey::new(&[5; 32]).unwrap()), ENC_TRAILER_LEN);
}

#[test]
fn encrypted_frames_are_not_on_disk_and_decrypt_with_their_key_only() {
    use vigil_mp4::SourceReader;
    let dir = tempfile::tempdir().unwrap();
    let p = dir.path().join(file_name(3, 17));
    let fin = write_sample_with(&p, 3, Some(SegmentKey::new(&[5; 32]).unwrap()));
    let disk = std::fs::read(&p).unwrap();
    for f in 0..3 {
        let data = sample_data(f);
        assert!(
            !disk.windows(32).any(|w| data.windows(32).any(|d| d == w)),
            "fragment {f}: frame bytes on disk in the clear"
        );
    }
    let r = recover(&p).unwrap();
    assert_eq!(r.header.key_id, Some(SegmentKey::new(&[5; 32]).unwrap().id));
    assert_eq!(r.index, fin.index);
    let frags = |fin: &FinishedFile| -> Vec<(u64, u64)> {
        let mut frame = 0usize;
        fin.index
            .fragments
            .iter()
            .map(|g| {
                let len: u64 = fin.index.frames[frame..frame + g.frames as usize]
                    .iter()
                    .map(|f| u64::from(f.size))
                    .sum();
                frame += g.frames as usize;
                (g.data_offset, len)
            })
            .collect()
    };
    let reader = crate::crypt::DecryptingReader::new(
        p.clone(),
        SegmentKey::new(&[5; 32]).unwrap(),
        frags(&fin),
    );
    // Reads at any offset and length, also across fragments' data, give the plain bytes back.
    for (f, &(offset, len)) in frags(&fin).iter().enumerate() {
        let mut buf = vec![0u8; len as usize];
        reader.read_exact_at(&mut buf, offset).unwrap();
        assert_eq!(buf, sample_data(f));
        let mut part = vec![0u8; 17];
        reader.read_exact_at(&mut part, offset + 33).unwrap();
        assert_eq!(part[..], sample_data(f)[33..50]);
    }
    let wrong = crate::crypt::DecryptingReader::new(
        p.clone(),
        SegmentKey::new(&[6; 32]).unwrap(),
        frags(&fin),
    );
    let mut buf = vec![0u8; 10];
    let e = wrong.read_exact_at(&mut buf, frags(&fin)[0].0).unwrap_err();
    assert!(e.to_string().contains("does not decrypt"), "{e}");
}

fn every_truncation_recovers(key: Option<SegmentKey>, trailer: u64) {
    let dir = tempfile::tempdir().unwrap();
    let p = dir.path().join(file_name(3, 17));
    let fin = write_sample_with(&p, 3, key);
    let full = std::fs::read(&p).unwrap();
    let frag_ends: Vec<u64> = {
        // a fragment ends its trailer box (16 bytes, 32 encrypted) after its data
        let offs = fin.index.offsets();
        fin.index
            .fragments
            .iter()
            .scan(0usize, |frame, g| {
                *frame += g.frames as usize;
                let last = *frame - 1;
                Some(offs[last] + u64::from(fin.index.frames[last].size) + trailer)
            })
            .collect()
    };
    let moof = fragment::moof_len(
        &[FragmentSample {
            composition_offset: 1,
            ..Default::default()
        }; 5],
    );
    let init_len = fin.index.fragments[0].data_offset - moof as u64 - 8;
    assert_eq!(recover(&p).unwrap().valid_len, fin.bytes);
    for cut in 0..full.len() as u64 {
        let q = dir.path().join("cut.mp4");
        std::fs::write(&q, &full[..cut as usize]).unwrap();
        match recover(&q) {
            Err(_) => assert!(
                cut < init_len,
                "cut {cut}: init is complete but recovery failed"
            ),
            Ok(r) => {
                let complete = frag_ends.iter().filter(|&&e| e <= cut).count();
                assert_eq!(r.index.fragments.len(), complete, "cut {cut}");
                // The frames recovered are the written ones, composition offsets included.
                assert_eq!(r.index.frames[..], fin.index.frames[..5 * complete]);
                assert_eq!(
                    r.valid_len,
                    if complete == 0 {
                        init_len
                    } else {
                        frag_ends[complete - 1]
                    }
                );
            }
        }
    }
}

#[test]
fn corrupt_fragment_ends_the_valid_prefix() {
    let dir = tempfile::tempdir().unwrap();
    let p = dir.path().join(file_name(3, 17));
    let fin = write_sample(&p, 3);
    let mut bytes = std::fs::read(&p).unwrap();
    // flip a byte of frame data in the second fragment
    let off = fin.index.fragments[1].data_offset as usize + 10;
    bytes[off] ^= 0xff;
    std::fs::write(&p, &bytes).unwrap();
    let r = recover(&p).unwrap();
    assert_eq!(r.index.fragments.len(), 1);
    // zero-filled tail (as after a power cut with delayed allocation)
    let mut zeros = std::fs::read(&p).unwrap();
    zeros.truncate(r.valid_len as usize);
    zeros.resize(zeros.len() + 5000, 0);
    std::fs::write(&p, &zeros).unwrap();
    assert_eq!(recover(&p).unwrap().index.fragments.len(), 1);
    // not a segment at all
    std::fs::write(&p, b"hello world, this is not an mp4 file").unwrap();
    assert!(recover(&p).is_err());
}

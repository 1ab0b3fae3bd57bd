//! Plain-language reasons why a local file cannot be opened as video, for the cases FFmpeg only calls
//! "Invalid data found when processing input": an empty file, a text file, an MP4 cut before its index.

use std::fs::File;
use std::io::{Read, Seek, SeekFrom};
use std::path::Path;

/// Checks that a local path is a non-empty regular file before FFmpeg sees it.
pub(crate) fn check_local_file(path: &Path) -> Result<(), String> {
    let meta = std::fs::metadata(path).map_err(|e| match e.kind() {
        std::io::ErrorKind::NotFound => "no such file".to_string(),
        _ => e.to_string(),
    })?;
    if meta.is_dir() {
        return Err("is a directory, not a video file".to_string());
    }
    if meta.is_file() && meta.len() == 0 {
        return Err("file is empty (0 bytes)".to_string());
    }
    Ok(())
}

/// Why FFmpeg could not open `path`, in words a user can act on, with FFmpeg's own message appended.
pub(crate) fn explain_open_failure(path: &Path, error: &ffmpeg_next::Error) -> String {
    match diagnose(path) {
        Some(what) => format!("{what} (FFmpeg: {error})"),
        None => format!("not a readable video file (FFmpeg: {error})"),
    }
}

/// True when the file starts with (nearly) nothing but text.
pub(crate) fn is_text_file(path: &Path) -> bool {
    File::open(path)
        .and_then(|mut f| read_head(&mut f))
        .is_ok_and(|head| looks_like_text(&head))
}

fn read_head(file: &mut File) -> std::io::Result<Vec<u8>> {
    let mut head = vec![0u8; 4096];
    let n = read_up_to(file, &mut head)?;
    head.truncate(n);
    Ok(head)
}

fn diagnose(path: &Path) -> Option<String> {
    let mut file = File::open(path).ok()?;
    let head = read_head(&mut file).ok()?;
    if head.get(4..8) == Some(b"ftyp") {
        let boxes = top_level_boxes(&mut file).ok()?;
        if !boxes.iter().any(|b| b == b"moov") {
            let seen: Vec<String> = boxes
                .iter()
                .map(|b| String::from_utf8_lossy(b).into_owned())
                .collect();
            return Some(format!(
                "MP4 file has no moov box (top-level boxes: {}): it was cut off before its index was \
                 written (truncated copy, or a recording still in progress)",
                seen.join(", ")
            ));
        }
        return Some("MP4 file with a damaged structure".to_string());
    }
    if looks_like_text(&head) {
        return Some("not a video file: it contains text".to_string());
    }
    None
}

fn read_up_to(file: &mut File, buf: &mut [u8]) -> std::io::Result<usize> {
    let mut total = 0;
    while total < buf.len() {
        match file.read(&mut buf[total..])? {
            0 => break,
            n => total += n,
        }
    }
    Ok(total)
}

/// The types of the top-level ISO BMFF boxes, following box sizes; stops at the end of the file or at a
/// box that runs past it.
fn top_level_boxes(file: &mut File) -> std::io::Result<Vec<[u8; 4]>> {
    let len = file.metadata()?.len();
    let mut pos = 0u64;
    let mut boxes = Vec::new();
    while pos + 8 <= len && boxes.len() < 1000 {
        file.seek(SeekFrom::Start(pos))?;
        let mut header = [0u8; 16];
        let n = read_up_to(file, &mut header)?;
        if n < 8 {
            break;
        }
        let size32 = u32::from_be_bytes([header[0], header[1], header[2], header[3]]) as u64;
        let kind = [header[4], header[5], header[6], header[7]];
        let size = match size32 {
            0 => len - pos,
            1 if n >= 16 => u64::from_be_bytes([
                header[8], header[9], header[10], header[11], header[12], header[13], header[14],
                header[15],
            ]),
            s => s,
        };
        boxes.push(kind);
        if size < 8 {
            break;
        }
        pos = pos.saturating_add(size);
    }
    Ok(boxes)
}

/// True when the bytes are (nearly) all printable text: ASCII or UTF-8, tabs and line breaks.
fn looks_like_text(bytes: &[u8]) -> bool {
    if bytes.is_empty() {
        return false;
    }
    let text = String::from_utf8_lossy(bytes);
    let total = text.chars().count();
    let printable = text
        .chars()
        .filter(|c| !c.is_control() || matches!(c, '\n' | '\r' | '\t'))
        .filter(|&c| c != char::REPLACEMENT_CHARACTER)
        .count();
    printable * 100 >= total * 98
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn text_detection() {
        assert!(looks_like_text(b"hello, world\nline two\t tab\n"));
        assert!(looks_like_text("caméra: entrée\n".as_bytes()));
        assert!(!looks_like_text(&[
            0, 0, 0, 24, b'f', b't', b'y', b'p', 0xff, 0xd8
        ]));
        assert!(!looks_like_text(b""));
    }
}

//! The canonical 44-byte PCM header and crash repair.

use std::fs::OpenOptions;
use std::io::{Read, Seek, SeekFrom, Write};
use std::path::Path;

use super::WavError;
use crate::audio::SampleRate;

/// Bytes before the samples in a file this module writes.
pub(crate) const HEADER_LEN: u64 = 44;
/// Channels × bytes per sample.
pub(crate) const BLOCK_ALIGN: u64 = 4;
/// Offset of the RIFF size field.
pub(crate) const RIFF_SIZE_AT: u64 = 4;
/// Offset of the data chunk size field.
pub(crate) const DATA_SIZE_AT: u64 = 40;
/// The size written at open, before any refresh: "unknown, read to end of file".
pub(crate) const UNKNOWN_SIZE: u32 = u32::MAX;

/// The largest data chunk: whole stereo frames such that the RIFF size (36 + data) fits in 32 bits.
pub const MAX_DATA_BYTES: u64 = (u32::MAX as u64 - 36) / BLOCK_ALIGN * BLOCK_ALIGN;
/// The most stereo frames a recording can hold.
pub const MAX_FRAMES: u64 = MAX_DATA_BYTES / BLOCK_ALIGN;

/// Chunks walked before giving up on finding `data`.
const MAX_CHUNKS: usize = 64;

/// The header of a 16-bit stereo PCM file at `rate`; `None` writes the unknown-size marker.
pub(crate) fn header(rate: SampleRate, data_bytes: Option<u32>) -> [u8; HEADER_LEN as usize] {
    let (riff, data) = match data_bytes {
        Some(d) => (d.saturating_add(36), d),
        None => (UNKNOWN_SIZE, UNKNOWN_SIZE),
    };
    let hz = rate.hz();
    let mut h = [0u8; HEADER_LEN as usize];
    h[0..4].copy_from_slice(b"RIFF");
    h[4..8].copy_from_slice(&riff.to_le_bytes());
    h[8..12].copy_from_slice(b"WAVE");
    h[12..16].copy_from_slice(b"fmt ");
    h[16..20].copy_from_slice(&16u32.to_le_bytes());
    h[20..22].copy_from_slice(&1u16.to_le_bytes()); // WAVE_FORMAT_PCM
    h[22..24].copy_from_slice(&2u16.to_le_bytes()); // channels
    h[24..28].copy_from_slice(&hz.to_le_bytes());
    h[28..32].copy_from_slice(&(hz * BLOCK_ALIGN as u32).to_le_bytes());
    h[32..34].copy_from_slice(&(BLOCK_ALIGN as u16).to_le_bytes());
    h[34..36].copy_from_slice(&16u16.to_le_bytes()); // bits per sample
    h[36..40].copy_from_slice(b"data");
    h[40..44].copy_from_slice(&data.to_le_bytes());
    h
}

/// Writes the RIFF and data sizes for `frames` stereo frames (≤ [`MAX_FRAMES`]).
pub(crate) fn write_sizes<W: Write + Seek>(out: &mut W, frames: u64) -> std::io::Result<()> {
    let data = (frames.min(MAX_FRAMES) * BLOCK_ALIGN) as u32;
    out.seek(SeekFrom::Start(RIFF_SIZE_AT))?;
    out.write_all(&(data + 36).to_le_bytes())?;
    out.seek(SeekFrom::Start(DATA_SIZE_AT))?;
    out.write_all(&data.to_le_bytes())?;
    out.seek(SeekFrom::Start(HEADER_LEN + data as u64))?;
    out.flush()
}

/// What [`repair`] found and did.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct RepairReport {
    /// Whole sample frames (all channels) now declared in the data chunk.
    pub frames: u64,
    /// Bytes now declared in the data chunk.
    pub data_bytes: u64,
    /// Byte offset where the data chunk ends; anything after it is not audio.
    pub data_end: u64,
    /// Bytes past `data_end` (a partial frame, or audio beyond the 4 GiB limit).
    /// [`repair_file`] cuts them off; [`repair`] leaves them, as readers ignore them.
    pub trailing_bytes: u64,
    /// Whether either size field was rewritten.
    pub changed: bool,
}

/// Recomputes the RIFF and data sizes of a PCM WAV from its length, for a file
/// left by a crash. Assumes the data chunk is the last chunk (true of every
/// file [`WavRecorder`](super::WavRecorder) writes) and declares it as running
/// to the end of the file, in whole frames, capped at the 4 GiB RIFF limit.
/// Rejects anything that is not RIFF/WAVE with a `fmt ` chunk before `data`.
pub fn repair<F: Read + Write + Seek>(file: &mut F) -> Result<RepairReport, WavError> {
    let len = file.seek(SeekFrom::End(0))?;
    let mut riff = [0u8; 12];
    read_at(file, 0, &mut riff, len)?;
    if &riff[0..4] != b"RIFF" || &riff[8..12] != b"WAVE" {
        return Err(WavError::NotRepairable("no RIFF/WAVE signature"));
    }
    let old_riff = le32(&riff[4..8]);
    let mut pos = 12u64;
    let mut block_align = None;
    for _ in 0..MAX_CHUNKS {
        let mut chunk = [0u8; 8];
        read_at(file, pos, &mut chunk, len)?;
        let size = le32(&chunk[4..8]) as u64;
        match &chunk[0..4] {
            b"fmt " => {
                let mut fmt = [0u8; 16];
                read_at(file, pos + 8, &mut fmt, len)?;
                let align = u16::from_le_bytes([fmt[12], fmt[13]]) as u64;
                if size < 16 || align == 0 {
                    return Err(WavError::NotRepairable("bad fmt chunk"));
                }
                block_align = Some(align);
            }
            b"data" => {
                let align = block_align.ok_or(WavError::NotRepairable("no fmt before data"))?;
                return fix_sizes(file, len, pos, size, old_riff, align);
            }
            _ => {}
        }
        pos += 8 + size + (size & 1);
    }
    Err(WavError::NotRepairable("no data chunk"))
}

/// [`repair`] on a file path, then truncates the file to the end of its data chunk.
pub fn repair_file(path: impl AsRef<Path>) -> Result<RepairReport, WavError> {
    let mut file = OpenOptions::new().read(true).write(true).open(path)?;
    let report = repair(&mut file)?;
    if report.trailing_bytes > 0 {
        file.set_len(report.data_end)?;
    }
    file.sync_all()?;
    Ok(report)
}

/// Rewrites the sizes for a data chunk whose header is at `chunk_at`.
fn fix_sizes<F: Write + Seek>(
    file: &mut F,
    len: u64,
    chunk_at: u64,
    old_data: u64,
    old_riff: u32,
    align: u64,
) -> Result<RepairReport, WavError> {
    let data_at = chunk_at + 8;
    // RIFF size = everything after its own 8 bytes: (data_at - 8) + data ≤ u32::MAX.
    let max_data = (u32::MAX as u64).saturating_sub(data_at - 8);
    let data_bytes = len.saturating_sub(data_at).min(max_data) / align * align;
    let riff = (data_at - 8 + data_bytes) as u32;
    let changed = old_data != data_bytes || old_riff != riff;
    if changed {
        file.seek(SeekFrom::Start(RIFF_SIZE_AT))?;
        file.write_all(&riff.to_le_bytes())?;
        file.seek(SeekFrom::Start(chunk_at + 4))?;
        file.write_all(&(data_bytes as u32).to_le_bytes())?;
        file.flush()?;
    }
    let data_end = data_at + data_bytes;
    Ok(RepairReport {
        frames: data_bytes / align,
        data_bytes,
        data_end,
        trailing_bytes: len.saturating_sub(data_end),
        changed,
    })
}

/// Reads exactly `buf.len()` bytes at `pos`, or fails as not repairable if the file is shorter.
fn read_at<F: Read + Seek>(
    file: &mut F,
    pos: u64,
    buf: &mut [u8],
    len: u64,
) -> Result<(), WavError> {
    if pos.saturating_add(buf.len() as u64) > len {
        return Err(WavError::NotRepairable("truncated header"));
    }
    file.seek(SeekFrom::Start(pos))?;
    file.read_exact(buf)?;
    Ok(())
}

fn le32(b: &[u8]) -> u32 {
    u32::from_le_bytes([b[0], b[1], b[2], b[3]])
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::io::Cursor;

    #[test]
    fn cap_constants_fit_riff() {
        assert!(MAX_DATA_BYTES.is_multiple_of(4));
        assert!(MAX_DATA_BYTES + 36 <= u32::MAX as u64);
        assert!(MAX_DATA_BYTES + 4 + 36 > u32::MAX as u64);
        assert_eq!(MAX_FRAMES, 1_073_741_814);
    }

    #[test]
    fn header_bytes_are_canonical() {
        let h = header(SampleRate::Hz8000, Some(640));
        assert_eq!(&h[0..4], b"RIFF");
        assert_eq!(le32(&h[4..8]), 676);
        assert_eq!(le32(&h[24..28]), 8000);
        assert_eq!(le32(&h[28..32]), 32000);
        assert_eq!(le32(&h[40..44]), 640);
        let h = header(SampleRate::Hz48000, None);
        assert_eq!(le32(&h[4..8]), u32::MAX);
        assert_eq!(le32(&h[40..44]), u32::MAX);
    }

    #[test]
    fn repair_is_a_no_op_on_a_good_file() {
        let mut bytes = header(SampleRate::Hz16000, Some(8)).to_vec();
        bytes.extend_from_slice(&[1, 0, 2, 0, 3, 0, 4, 0]);
        let mut cur = Cursor::new(bytes.clone());
        let report = repair(&mut cur).expect("repair");
        assert!(!report.changed);
        assert_eq!((report.frames, report.trailing_bytes), (2, 0));
        assert_eq!(cur.into_inner(), bytes);
    }

    #[test]
    fn repair_skips_unknown_chunks_and_odd_sizes() {
        let h = header(SampleRate::Hz8000, None);
        let mut bytes = h[..36].to_vec();
        bytes.extend_from_slice(b"LIST\x03\x00\x00\x00abc\x00"); // odd size, padded
        bytes.extend_from_slice(b"data\xff\xff\xff\xff");
        bytes.extend_from_slice(&[9; 10]);
        let report = repair(&mut Cursor::new(&mut bytes)).expect("repair");
        assert_eq!(report.frames, 2);
        assert_eq!(report.trailing_bytes, 2);
        assert_eq!(report.data_end, 56 + 8);
        assert_eq!(le32(&bytes[4..8]), 56 - 8 + 8);
        assert_eq!(le32(&bytes[52..56]), 8);
    }

    #[test]
    fn repair_rejects_garbage() {
        for bytes in [
            &b""[..],
            b"RIFF",
            b"RIFX\0\0\0\0WAVE",
            b"RIFF\0\0\0\0WAVEdata\0\0\0\0",
        ] {
            let err = repair(&mut Cursor::new(bytes.to_vec())).expect_err("garbage");
            assert!(matches!(err, WavError::NotRepairable(_)), "{err:?}");
        }
    }
}

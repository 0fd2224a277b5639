//! Stereo WAV recorder, read back with `hound` as the independent reader.

use std::fs::{self, File, OpenOptions};
use std::io::Cursor;
use std::path::PathBuf;

use proptest::prelude::*;
use tenex_media::SampleRate;
use tenex_media::wav::{
    Channel, RecorderConfig, RecorderStats, WavError, WavRecorder, repair, repair_file,
};

/// Reads a WAV with hound: spec plus interleaved samples.
fn read(bytes: &[u8]) -> (hound::WavSpec, Vec<i16>) {
    let mut reader = hound::WavReader::new(Cursor::new(bytes)).expect("hound opens it");
    let samples = reader
        .samples::<i16>()
        .collect::<Result<Vec<_>, _>>()
        .expect("hound reads every sample");
    (reader.spec(), samples)
}

/// The expected recording: per-channel sample arrays.
#[derive(Debug, Clone)]
struct Model {
    left: Vec<i16>,
    right: Vec<i16>,
}

impl Model {
    fn new(frames: usize) -> Model {
        Model {
            left: vec![0; frames],
            right: vec![0; frames],
        }
    }

    fn put(&mut self, ch: Channel, start: usize, samples: &[i16]) {
        let dst = match ch {
            Channel::Caller => &mut self.left,
            Channel::Agent => &mut self.right,
        };
        dst[start..start + samples.len()].copy_from_slice(samples);
    }

    fn interleaved(&self, frames: usize) -> Vec<i16> {
        (0..frames)
            .flat_map(|i| [self.left[i], self.right[i]])
            .collect()
    }
}

fn ramp(from: i16, n: usize) -> Vec<i16> {
    (0..n).map(|i| from.wrapping_add(i as i16)).collect()
}

fn config(window_ms: u32, header_refresh_ms: u32) -> RecorderConfig {
    RecorderConfig {
        window_ms,
        header_refresh_ms,
        max_duration_ms: None,
    }
}

fn temp_path(name: &str) -> PathBuf {
    std::env::temp_dir().join(format!("tenex-wav-{}-{name}.wav", std::process::id()))
}

fn le32(b: &[u8]) -> u32 {
    u32::from_le_bytes([b[0], b[1], b[2], b[3]])
}

#[test]
fn gaps_are_silence_and_both_channels_are_exact() {
    let rate = SampleRate::Hz8000;
    let mut rec = WavRecorder::new(Cursor::new(Vec::new()), rate, RecorderConfig::default())
        .expect("recorder");
    let mut model = Model::new(560);
    let caller_a = ramp(1, 160);
    let agent = vec![-3; 100];
    rec.push_caller(0, &caller_a).expect("push");
    rec.push_caller(400, &[7; 160]).expect("push"); // 160..400 is a gap
    rec.push_agent(80, &agent).expect("push");
    model.put(Channel::Caller, 0, &caller_a);
    model.put(Channel::Caller, 400, &[7; 160]);
    model.put(Channel::Agent, 80, &agent);

    let (out, stats) = rec.finish().expect("finish");
    let bytes = out.into_inner();
    assert_eq!(bytes.len(), 44 + 560 * 4);
    assert_eq!(le32(&bytes[4..8]), 36 + 560 * 4);
    assert_eq!(le32(&bytes[40..44]), 560 * 4);
    let (spec, samples) = read(&bytes);
    assert_eq!(
        spec,
        hound::WavSpec {
            channels: 2,
            sample_rate: 8000,
            bits_per_sample: 16,
            sample_format: hound::SampleFormat::Int,
        }
    );
    assert_eq!(samples, model.interleaved(560));
    assert_eq!(
        stats,
        RecorderStats {
            frames_written: 560,
            end_frame: 560,
            ..RecorderStats::default()
        }
    );
}

#[test]
fn overlapping_pushes_on_one_channel_last_write_wins() {
    let mut rec = WavRecorder::new(Cursor::new(Vec::new()), SampleRate::Hz16000, config(100, 0))
        .expect("recorder");
    rec.push(Channel::Caller, 0, &[1; 320]).expect("push");
    rec.push(Channel::Caller, 160, &[2; 320]).expect("push");
    rec.push(Channel::Agent, 100, &[5; 10]).expect("push");
    rec.push(Channel::Agent, 105, &[6; 10]).expect("push");
    let (out, _) = rec.finish().expect("finish");
    let mut model = Model::new(480);
    model.put(Channel::Caller, 0, &[1; 320]);
    model.put(Channel::Caller, 160, &[2; 320]);
    model.put(Channel::Agent, 100, &[5; 10]);
    model.put(Channel::Agent, 105, &[6; 10]);
    assert_eq!(read(&out.into_inner()).1, model.interleaved(480));
}

#[test]
fn channels_out_of_step_within_the_window_lose_nothing() {
    let rate = SampleRate::Hz8000;
    let mut rec =
        WavRecorder::new(Cursor::new(Vec::new()), rate, config(2000, 5000)).expect("recorder");
    let mut model = Model::new(100 * 160);
    // The agent's frames arrive 1.5 s (75 frames) after the caller's.
    for k in 0..175usize {
        if k < 100 {
            let f = ramp(k as i16 * 100, 160);
            rec.push_caller(k as u64 * 160, &f).expect("push");
            model.put(Channel::Caller, k * 160, &f);
        }
        if k >= 75 {
            let j = k - 75;
            let f = ramp(-(j as i16) * 100, 160);
            rec.push_agent(j as u64 * 160, &f).expect("push");
            model.put(Channel::Agent, j * 160, &f);
        }
    }
    let (out, stats) = rec.finish().expect("finish");
    assert_eq!(read(&out.into_inner()).1, model.interleaved(16_000));
    assert_eq!(
        (stats.late_caller_samples, stats.late_agent_samples),
        (0, 0)
    );
}

#[test]
fn channel_running_ahead_flushes_and_late_samples_are_dropped_and_counted() {
    let rate = SampleRate::Hz8000;
    // Window 200 ms = 1600 frames.
    let mut rec =
        WavRecorder::new(Cursor::new(Vec::new()), rate, config(200, 5000)).expect("recorder");
    let caller = ramp(10, 8000);
    rec.push_caller(0, &caller).expect("push"); // 1 s at once: frames 0..6400 written
    assert_eq!(rec.stats().frames_written, 6400);
    let agent = ramp(-5000, 8000);
    rec.push_agent(0, &agent)
        .expect("late part dropped, rest kept");
    rec.push_agent(6300, &[9; 200])
        .expect("straddles the written edge");
    let stats = rec.stats();
    assert_eq!(stats.late_agent_samples, 6400 + 100);
    assert_eq!(stats.late_caller_samples, 0);

    let (out, _) = rec.finish().expect("finish");
    let mut model = Model::new(8000);
    model.put(Channel::Caller, 0, &caller);
    model.put(Channel::Agent, 6400, &agent[6400..]);
    model.put(Channel::Agent, 6400, &[9; 100]);
    assert_eq!(read(&out.into_inner()).1, model.interleaved(8000));
}

#[test]
fn long_recording_through_a_small_window_with_jitter() {
    let rate = SampleRate::Hz16000;
    let frame = rate.frame_samples();
    let mut rec =
        WavRecorder::new(Cursor::new(Vec::new()), rate, config(500, 1000)).expect("recorder");
    let frames = 500; // 10 s, 20 window lengths
    let mut model = Model::new(frames * frame);
    for k in 0..frames + 15 {
        if k < frames {
            let f = ramp(k as i16, frame);
            rec.push_caller((k * frame) as u64, &f).expect("push");
            model.put(Channel::Caller, k * frame, &f);
        }
        // Agent 300 ms behind, pairs of frames swapped (reordering).
        if k >= 15 {
            let j = (k - 15) ^ 1;
            if j < frames {
                let f = ramp(-(j as i16), frame);
                rec.push_agent((j * frame) as u64, &f).expect("push");
                model.put(Channel::Agent, j * frame, &f);
            }
        }
    }
    let (out, stats) = rec.finish().expect("finish");
    assert_eq!(read(&out.into_inner()).1, model.interleaved(frames * frame));
    assert_eq!(stats.frames_written, (frames * frame) as u64);
    assert_eq!(stats.late_agent_samples + stats.late_caller_samples, 0);
    // One per second written: 1..=9 s while recording, 10 s when finish flushes the window.
    assert_eq!(stats.header_refreshes, 10);
}

#[test]
fn forward_jump_is_written_as_silence() {
    let rate = SampleRate::Hz8000;
    let mut rec =
        WavRecorder::new(Cursor::new(Vec::new()), rate, config(100, 5000)).expect("recorder");
    rec.push_caller(0, &[4; 160]).expect("push");
    rec.push_agent(80_000, &[8; 160]).expect("push"); // 10 s later
    let (out, stats) = rec.finish().expect("finish");
    let mut model = Model::new(80_160);
    model.put(Channel::Caller, 0, &[4; 160]);
    model.put(Channel::Agent, 80_000, &[8; 160]);
    assert_eq!(read(&out.into_inner()).1, model.interleaved(80_160));
    assert_eq!(stats.frames_written, 80_160);
}

#[test]
fn size_cap_keeps_what_fits_and_reports_the_rest() {
    let rate = SampleRate::Hz8000;
    let cfg = RecorderConfig {
        max_duration_ms: Some(1000),
        ..config(200, 5000)
    };
    let mut rec = WavRecorder::new(Cursor::new(Vec::new()), rate, cfg).expect("recorder");
    assert_eq!(rec.max_frames(), 8000);
    rec.push_caller(0, &[1; 7920]).expect("fits");
    let err = rec
        .push_agent(7920, &[2; 160])
        .expect_err("straddles the cap");
    assert!(matches!(err, WavError::CapReached { max_frames: 8000 }));
    let err = rec
        .push_caller(u64::MAX - 10, &[3; 160])
        .expect_err("far past");
    assert!(matches!(err, WavError::CapReached { .. }));
    assert_eq!(rec.stats().beyond_cap_samples, 80 + 160);
    let (out, stats) = rec.finish().expect("finish still works");
    let mut model = Model::new(8000);
    model.put(Channel::Caller, 0, &[1; 7920]);
    model.put(Channel::Agent, 7920, &[2; 80]);
    assert_eq!(read(&out.into_inner()).1, model.interleaved(8000));
    assert_eq!(stats.end_frame, 8000);
}

#[test]
fn crash_before_any_refresh_is_repaired_in_memory() {
    let rate = SampleRate::Hz24000;
    let mut cur = Cursor::new(Vec::new());
    let mut model = Model::new(24_000);
    {
        let mut rec = WavRecorder::new(&mut cur, rate, config(200, 5000)).expect("recorder");
        for k in 0..50usize {
            let f = ramp(k as i16 * 7, 480);
            rec.push_caller((k * 480) as u64, &f).expect("push");
            rec.push_agent((k * 480) as u64, &f).expect("push");
            model.put(Channel::Caller, k * 480, &f);
            model.put(Channel::Agent, k * 480, &f);
        }
        std::mem::forget(rec); // the process dies: no finish, no drop
    }
    // Still the open-time header: sizes unknown.
    assert_eq!(le32(&cur.get_ref()[4..8]), u32::MAX);
    assert_eq!(le32(&cur.get_ref()[40..44]), u32::MAX);
    let report = repair(&mut cur).expect("repair");
    // 1 s pushed, the last 200 ms were still in the window.
    assert_eq!(report.frames, 24_000 - 4800);
    assert!(report.changed);
    assert_eq!(report.trailing_bytes, 0);
    let (spec, samples) = read(cur.get_ref());
    assert_eq!(spec.sample_rate, 24_000);
    assert_eq!(samples, model.interleaved(24_000 - 4800));
}

#[test]
fn crash_after_refreshes_is_repaired_on_disk_and_partial_frame_cut() {
    let path = temp_path("crash");
    let rate = SampleRate::Hz8000;
    let mut model = Model::new(24_000);
    let file = File::create(&path).expect("create");
    let mut rec = WavRecorder::new(file, rate, config(200, 1000)).expect("recorder");
    for k in 0..150usize {
        let f = ramp(k as i16, 160);
        rec.push_caller((k * 160) as u64, &f).expect("push");
        model.put(Channel::Caller, k * 160, &f);
    }
    // While recording, the header already covers the last refresh (2 s).
    let live = fs::read(&path).expect("read");
    assert_eq!(live.len(), 44 + 22_400 * 4);
    assert_eq!(read(&live).1, model.interleaved(16_000));
    std::mem::forget(rec);
    // A half-written frame at the end.
    let mut f = OpenOptions::new().append(true).open(&path).expect("open");
    std::io::Write::write_all(&mut f, &[1, 2, 3]).expect("append");
    drop(f);

    let report = repair_file(&path).expect("repair");
    assert_eq!((report.frames, report.trailing_bytes), (22_400, 3));
    let bytes = fs::read(&path).expect("read");
    assert_eq!(bytes.len() as u64, report.data_end);
    assert_eq!(read(&bytes).1, model.interleaved(22_400));
    fs::remove_file(&path).expect("cleanup");
}

#[test]
fn file_truncated_mid_frame_is_repaired() {
    let rate = SampleRate::Hz48000;
    let mut rec = WavRecorder::new(Cursor::new(Vec::new()), rate, RecorderConfig::default())
        .expect("recorder");
    let f = ramp(100, 960);
    rec.push_caller(0, &f).expect("push");
    rec.push_agent(0, &f).expect("push");
    let (out, _) = rec.finish().expect("finish");
    let mut bytes = out.into_inner();
    bytes.truncate(bytes.len() - 3);
    let mut cur = Cursor::new(bytes);
    let report = repair(&mut cur).expect("repair");
    assert_eq!((report.frames, report.trailing_bytes), (959, 1));
    let mut model = Model::new(960);
    model.put(Channel::Caller, 0, &f);
    model.put(Channel::Agent, 0, &f);
    assert_eq!(read(cur.get_ref()).1, model.interleaved(959));
}

#[test]
fn drop_without_finish_leaves_a_complete_file() {
    let mut cur = Cursor::new(Vec::new());
    {
        let mut rec =
            WavRecorder::new(&mut cur, SampleRate::Hz8000, config(2000, 5000)).expect("rec");
        rec.push_caller(0, &[5; 160]).expect("push");
        rec.push_agent(160, &[6; 160]).expect("push");
    }
    let mut model = Model::new(320);
    model.put(Channel::Caller, 0, &[5; 160]);
    model.put(Channel::Agent, 160, &[6; 160]);
    assert_eq!(read(cur.get_ref()).1, model.interleaved(320));
}

#[test]
fn file_constructor_and_bad_config() {
    let path = temp_path("create");
    let mut rec =
        WavRecorder::create(&path, SampleRate::Hz16000, RecorderConfig::default()).expect("create");
    rec.push_caller(0, &[3; 320]).expect("push");
    let (writer, _) = rec.finish().expect("finish");
    drop(writer);
    let (spec, samples) = read(&fs::read(&path).expect("read"));
    assert_eq!(spec.sample_rate, 16_000);
    assert_eq!(samples.len(), 640);
    fs::remove_file(&path).expect("cleanup");
    for window_ms in [0, 19, 30_001] {
        let err = WavRecorder::new(
            Cursor::new(Vec::new()),
            SampleRate::Hz8000,
            config(window_ms, 0),
        )
        .expect_err("bad window");
        assert!(matches!(err, WavError::InvalidConfig(_)));
    }
}

type Push = (bool, u64, Vec<i16>);

fn pushes() -> impl Strategy<Value = Vec<Push>> {
    prop::collection::vec(
        (
            any::<bool>(),
            0u64..5000,
            prop::collection::vec(any::<i16>(), 0..400),
        ),
        0..60,
    )
}

proptest! {
    /// Any sequence of pushes gives exactly what the windowed model predicts.
    #[test]
    fn recording_matches_the_window_model(pushes in pushes()) {
        const W: u64 = 160; // 20 ms at 8 kHz
        const CAP: u64 = 4000; // 500 ms
        let cfg = RecorderConfig { max_duration_ms: Some(500), ..config(20, 0) };
        let mut rec = WavRecorder::new(Cursor::new(Vec::new()), SampleRate::Hz8000, cfg)
            .expect("recorder");
        let mut model = Model::new(CAP as usize);
        let (mut base, mut end, mut late, mut beyond) = (0u64, 0u64, [0u64; 2], 0u64);
        for (agent, start, samples) in &pushes {
            let ch = if *agent { Channel::Agent } else { Channel::Caller };
            let res = rec.push(ch, *start, samples);
            let len = samples.len() as u64;
            let keep = len.min(CAP.saturating_sub(*start));
            beyond += len - keep;
            prop_assert_eq!(res.is_err(), keep < len);
            let skip = keep.min(base.saturating_sub(*start));
            late[*agent as usize] += skip;
            if keep > skip {
                let s = &samples[skip as usize..keep as usize];
                model.put(ch, (start + skip) as usize, s);
                end = end.max(start + keep);
                base = base.max((start + keep).saturating_sub(W));
            }
        }
        let (out, stats) = rec.finish().expect("finish");
        prop_assert_eq!(read(&out.into_inner()).1, model.interleaved(end as usize));
        prop_assert_eq!(stats.frames_written, end);
        prop_assert_eq!([stats.late_caller_samples, stats.late_agent_samples], late);
        prop_assert_eq!(stats.beyond_cap_samples, beyond);
    }

    /// Repair never panics, whatever the bytes.
    #[test]
    fn repair_never_panics(mut bytes in prop::collection::vec(any::<u8>(), 0..200), riff in any::<bool>()) {
        if riff && bytes.len() >= 12 {
            bytes[0..4].copy_from_slice(b"RIFF");
            bytes[8..12].copy_from_slice(b"WAVE");
        }
        let _ = repair(&mut Cursor::new(bytes));
    }
}

/// A writer that fails once more than `limit` bytes were written.
#[derive(Debug)]
struct FailingWriter {
    inner: Cursor<Vec<u8>>,
    limit: usize,
}

impl std::io::Write for FailingWriter {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        if self.inner.get_ref().len() + buf.len() > self.limit {
            return Err(std::io::Error::other("disk full"));
        }
        self.inner.write(buf)
    }
    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

impl std::io::Seek for FailingWriter {
    fn seek(&mut self, pos: std::io::SeekFrom) -> std::io::Result<u64> {
        self.inner.seek(pos)
    }
}

#[test]
fn io_error_fails_the_recorder_without_panicking() {
    let out = FailingWriter {
        inner: Cursor::new(Vec::new()),
        limit: 44 + 1000,
    };
    let mut rec = WavRecorder::new(out, SampleRate::Hz8000, config(20, 5000)).expect("recorder");
    rec.push_caller(0, &[1; 160]).expect("fits in the window");
    let err = rec.push_caller(1000, &[1; 160]).expect_err("flush fails");
    assert!(matches!(err, WavError::Io(_)), "{err:?}");
    assert!(matches!(
        rec.push_agent(1000, &[1; 10]),
        Err(WavError::Failed)
    ));
    assert!(matches!(rec.finish(), Err(WavError::Failed)));
}

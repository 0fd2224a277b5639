//! Playout pacer behaviour on a simulated clock.

use std::time::{Duration, Instant};

use tenex_media::pacer::{Flushed, ItemProgress, ItemTag, Pacer, PacerConfig};

const A: ItemTag = ItemTag(1);
const B: ItemTag = ItemTag(2);

fn ms(t0: Instant, ms: u64) -> Instant {
    t0 + Duration::from_millis(ms)
}

fn small(max_frames: usize, initial: usize) -> Pacer<u8> {
    Pacer::new(PacerConfig {
        frame_len: 4,
        silence: 0xFF,
        initial_frames: initial,
        max_frames,
    })
}

/// Plays one tick at `now`, returning (first byte, item, talkspurt start).
fn tick(p: &mut Pacer<u8>, now: Instant) -> (u8, Option<ItemTag>, bool) {
    let t = p.poll(now).expect("a tick is due");
    (t.frame[0], t.item, t.talkspurt_start)
}

#[test]
fn a_burst_plays_out_one_frame_per_tick_then_silence() {
    let t0 = Instant::now();
    let mut p = small(100, 100);
    for i in 0..50u8 {
        p.push(A, &[i; 4], 20_000);
    }
    let mut got = Vec::new();
    for k in 0..60u64 {
        let now = ms(t0, 20 * k);
        got.push(tick(&mut p, now).0);
        assert!(p.poll(now).is_none(), "exactly one frame per tick");
        assert_eq!(p.next_deadline(), Some(ms(t0, 20 * (k + 1))));
    }
    let want: Vec<u8> = (0..50).chain(std::iter::repeat_n(0xFF, 10)).collect();
    assert_eq!(got, want);
    assert_eq!((p.stats().played, p.stats().silence), (50, 10));
}

#[test]
fn talkspurt_start_marks_the_first_audio_after_silence_or_a_flush() {
    let t0 = Instant::now();
    let mut p = small(100, 100);
    p.push(A, &[1; 4], 20_000);
    p.push(A, &[2; 4], 20_000);
    let marks: Vec<bool> = (0..4).map(|k| tick(&mut p, ms(t0, 20 * k)).2).collect();
    assert_eq!(marks, [true, false, false, false]);
    p.push(B, &[3; 4], 20_000);
    p.push(B, &[4; 4], 20_000);
    assert!(
        tick(&mut p, ms(t0, 80)).2,
        "audio after silence starts a spurt"
    );
    p.flush();
    p.push(B, &[5; 4], 20_000);
    assert!(
        tick(&mut p, ms(t0, 100)).2,
        "audio after a flush starts a spurt"
    );
}

#[test]
fn flush_reports_the_milliseconds_of_the_playing_item_heard() {
    let t0 = Instant::now();
    let mut p = small(100, 100);
    for i in 0..10 {
        p.push(A, &[i; 4], 20_000);
    }
    for k in 0..4 {
        tick(&mut p, ms(t0, 20 * k));
    }
    assert_eq!(
        p.flush(),
        Flushed {
            dropped_frames: 6,
            item: Some(ItemProgress {
                item: A,
                played_ms: 80
            })
        }
    );
    assert_eq!(p.queued_frames(), 0);
    assert_eq!(
        tick(&mut p, ms(t0, 80)),
        (0xFF, None, false),
        "silence at once"
    );
    assert_eq!(p.stats().flushed, 6);
}

#[test]
fn flush_counts_only_the_item_at_the_head() {
    let t0 = Instant::now();
    let mut p = small(100, 100);
    for _ in 0..3 {
        p.push(A, &[1; 4], 20_000);
    }
    for _ in 0..5 {
        p.push(B, &[2; 4], 20_000);
    }
    for k in 0..5 {
        tick(&mut p, ms(t0, 20 * k));
    }
    assert_eq!(
        p.flush().item,
        Some(ItemProgress {
            item: B,
            played_ms: 40
        })
    );
}

#[test]
fn an_item_not_yet_started_reports_zero() {
    let t0 = Instant::now();
    let mut p = small(100, 100);
    p.push(A, &[1; 4], 20_000);
    tick(&mut p, ms(t0, 0));
    p.push(B, &[2; 4], 20_000);
    assert_eq!(
        p.flush().item,
        Some(ItemProgress {
            item: B,
            played_ms: 0
        })
    );
}

#[test]
fn a_padded_last_frame_never_reports_more_than_was_received() {
    let t0 = Instant::now();
    let mut p = small(100, 100);
    p.push(A, &[1; 4], 20_000);
    p.push(A, &[1; 4], 20_000);
    p.push(A, &[1, 0xFF], 7_500); // 7.5 ms of audio, padded out to a frame
    for k in 0..5 {
        tick(&mut p, ms(t0, 20 * k));
    }
    assert_eq!(
        p.flush().item,
        Some(ItemProgress {
            item: A,
            played_ms: 47
        })
    );
    assert_eq!(p.flush().item, None, "nothing since the last flush");
}

#[test]
fn short_and_long_frames_are_padded_and_cut() {
    let t0 = Instant::now();
    let mut p = small(100, 100);
    p.push(A, &[9], 5_000);
    p.push(A, &[7; 10], 20_000);
    assert_eq!(p.poll(t0).expect("tick").frame, &[9, 0xFF, 0xFF, 0xFF]);
    assert_eq!(p.poll(ms(t0, 20)).expect("tick").frame, &[7; 4]);
}

#[test]
fn overflow_drops_the_oldest_frames_and_counts_them() {
    let t0 = Instant::now();
    let mut p = small(10, 4);
    for i in 0..15u8 {
        let kept = p.push(A, &[i; 4], 20_000);
        assert_eq!(kept, i < 10, "frame {i}");
    }
    assert_eq!(p.stats().overflow_drops, 5);
    let got: Vec<u8> = (0..10).map(|k| tick(&mut p, ms(t0, 20 * k)).0).collect();
    assert_eq!(got, (5..15).collect::<Vec<u8>>());
}

#[test]
fn growing_preserves_order_with_a_wrapped_ring() {
    let t0 = Instant::now();
    let mut p = small(1000, 3);
    p.push(A, &[0; 4], 20_000);
    p.push(A, &[1; 4], 20_000);
    tick(&mut p, t0); // head now at slot 1
    for i in 2..60u8 {
        assert!(p.push(A, &[i; 4], 20_000));
    }
    let got: Vec<u8> = (1..60).map(|k| tick(&mut p, ms(t0, 20 * k)).0).collect();
    assert_eq!(got, (1..60).collect::<Vec<u8>>());
    assert_eq!(p.stats().overflow_drops, 0);
}

#[test]
fn a_slightly_late_driver_catches_up_and_a_very_late_one_skips() {
    let t0 = Instant::now();
    let mut p = small(100, 100);
    for i in 0..20 {
        p.push(A, &[i; 4], 20_000);
    }
    tick(&mut p, t0);
    // 60 ms late: the three due ticks come back to back.
    let now = ms(t0, 60);
    let burst: Vec<u32> = std::iter::from_fn(|| p.poll(now).map(|t| t.skipped)).collect();
    assert_eq!(burst, [0, 0, 0]);
    // 200 ms late: skip to the current tick instead of bursting ten frames.
    let now = ms(t0, 260);
    let t = p.poll(now).expect("tick");
    assert_eq!((t.frame[0], t.skipped), (4, 9));
    assert!(p.poll(now).is_none());
    assert_eq!(p.next_deadline(), Some(ms(t0, 280)));
    assert_eq!(p.stats().skipped_ticks, 9);
}

#[test]
fn a_jittery_driver_gets_exactly_one_frame_per_elapsed_tick() {
    let t0 = Instant::now();
    let mut p = small(100, 100);
    let mut frames = 0u64;
    let mut now_us = 0u64;
    let mut last_polled_us = 0u64;
    let mut state = 12345u64;
    while now_us < 10_000_000 {
        while p.poll(t0 + Duration::from_micros(now_us)).is_some() {
            frames += 1;
        }
        last_polled_us = now_us;
        // Wake up 0-15 ms after the deadline, like a loaded scheduler.
        state = state
            .wrapping_mul(6364136223846793005)
            .wrapping_add(1442695040888963407);
        let deadline = p.next_deadline().expect("started");
        now_us = deadline.duration_since(t0).as_micros() as u64 + (state >> 33) % 15_000;
    }
    // Ticks are due at 0, 20, 40, ... ms: every one up to the last poll played once.
    assert_eq!(frames, last_polled_us / 20_000 + 1);
    assert_eq!(p.stats().skipped_ticks, 0);
    assert_eq!(frames, p.stats().played + p.stats().silence);
}

#[test]
fn pcm_frames_work_the_same() {
    let t0 = Instant::now();
    let mut p = Pacer::new(PacerConfig::pcm(480));
    p.push(A, &[1000i16; 480], 20_000);
    let t = p.poll(t0).expect("tick");
    assert_eq!((t.frame.len(), t.frame[0], t.is_audio()), (480, 1000, true));
    let t = p.poll(ms(t0, 20)).expect("tick");
    assert_eq!((t.frame[0], t.is_audio()), (0, false));
}

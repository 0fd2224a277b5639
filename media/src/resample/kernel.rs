//! The inner loop: one output sample is the dot product of a polyphase branch with
//! a window of input history, in 16-bit fixed point.
//!
//! Taps are Q14 (`TAP_SHIFT`), samples PCM16, products accumulate in `i32`. On
//! x86-64 the dot product uses `pmaddwd` (16 multiply-adds per AVX2 instruction,
//! 8 with the SSE2 every x86-64 CPU has), chosen at run time; elsewhere a
//! portable loop. All three give bit-identical results (tested). Integer
//! accumulation has no long dependency chain, so one output at a time runs at
//! full throughput.

/// Fixed-point scale of the taps: 1.0 = 2^14, leaving headroom for branch gains
/// up to 2 without overflowing the `i32` accumulator.
pub(crate) const TAP_SHIFT: u32 = 14;

/// Taps per branch are padded to a multiple of this.
pub(crate) const LANES: usize = 16;

/// Where output sample `n` of a frame reads from.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Step {
    /// Offset of the polyphase branch in the branch table.
    pub(crate) branch: u32,
    /// First input-history index of the window.
    pub(crate) start: u32,
}

/// Filters one frame: `out[n] = dot(branch(plan[n]), window(plan[n]))`.
type FilterFn = fn(branches: &[i16], taps: usize, plan: &[Step], history: &[i16], out: &mut [i16]);

/// A polyphase filter bank whose plan has been checked against its branches and
/// history length once, so the vector kernels can run without per-frame checks.
pub(crate) struct Bank {
    branches: Box<[i16]>,
    taps: usize,
    plan: Box<[Step]>,
    history_len: usize,
    filter: FilterFn,
}

impl std::fmt::Debug for Bank {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Bank")
            .field("taps", &self.taps)
            .field("outputs", &self.plan.len())
            .field("history_len", &self.history_len)
            .finish_non_exhaustive()
    }
}

impl Bank {
    /// A bank; `None` if any step of `plan` would read outside `branches` or a
    /// history of `history_len` samples, or `taps` is not a multiple of [`LANES`].
    pub(crate) fn new(
        branches: Box<[i16]>,
        taps: usize,
        plan: Box<[Step]>,
        history_len: usize,
    ) -> Option<Bank> {
        let ok = taps.is_multiple_of(LANES)
            && plan.iter().all(|s| {
                s.branch as usize + taps <= branches.len() && s.start as usize + taps <= history_len
            });
        ok.then(|| Bank {
            filter: select(taps, Layout::of(&plan, taps)),
            branches,
            taps,
            plan,
            history_len,
        })
    }

    /// Filters one frame from `history` (exactly `history_len` samples) into `out`.
    /// Returns false (and writes nothing) on a wrong history length.
    #[inline]
    pub(crate) fn run(&self, history: &[i16], out: &mut [i16]) -> bool {
        if history.len() != self.history_len {
            return false;
        }
        (self.filter)(&self.branches, self.taps, &self.plan, history, out);
        true
    }
}

/// The shape of a plan, which decides the kernels that can run it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Layout {
    /// Every output uses branch 0 (integer decimation).
    SingleBranch,
    /// Output `n` uses branch `n % up` and window `n / up` (integer upsampling):
    /// each window is shared by `up` consecutive outputs.
    Upsample(usize),
    /// Anything else.
    General,
}

impl Layout {
    fn of(plan: &[Step], taps: usize) -> Layout {
        if plan.iter().all(|s| s.branch == 0) {
            return Layout::SingleBranch;
        }
        let up = plan.iter().take_while(|s| s.start == 0).count();
        let upsample = up > 1
            && plan
                .iter()
                .enumerate()
                .all(|(n, s)| s.branch as usize == (n % up) * taps && s.start as usize == n / up);
        if upsample {
            Layout::Upsample(up)
        } else {
            Layout::General
        }
    }
}

/// Picks the fastest implementation this CPU supports for banks of this shape. The
/// returned function may only be called with shapes a [`Bank`] has checked.
fn select(taps: usize, layout: Layout) -> FilterFn {
    #[cfg(target_arch = "x86_64")]
    {
        if std::arch::is_x86_feature_detected!("avx2") {
            let special = match layout {
                Layout::SingleBranch => x86::decimator(taps / LANES),
                Layout::Upsample(up) => x86::upsampler(up, taps / LANES),
                Layout::General => None,
            };
            return special.unwrap_or(x86::filter_avx2);
        }
        let _ = (taps, layout);
        x86::filter_sse2
    }
    #[cfg(not(target_arch = "x86_64"))]
    {
        let _ = (taps, layout);
        filter_portable
    }
}

/// Rounds a Q14 accumulator back to PCM16, saturating.
#[inline(always)]
pub(crate) fn to_i16(acc: i32) -> i16 {
    let rounded = (acc.wrapping_add(1 << (TAP_SHIFT - 1))) >> TAP_SHIFT;
    rounded.clamp(i32::from(i16::MIN), i32::from(i16::MAX)) as i16
}

/// Portable implementation (and the reference the vector kernels are tested against).
#[cfg(any(test, not(target_arch = "x86_64")))]
fn filter_portable(branches: &[i16], taps: usize, plan: &[Step], history: &[i16], out: &mut [i16]) {
    for (o, step) in out.iter_mut().zip(plan) {
        let (b, s) = (step.branch as usize, step.start as usize);
        let acc = branches[b..b + taps]
            .iter()
            .zip(&history[s..s + taps])
            .fold(0i32, |a, (&t, &w)| {
                a.wrapping_add(i32::from(t) * i32::from(w))
            });
        *o = to_i16(acc);
    }
}

#[cfg(target_arch = "x86_64")]
mod x86 {
    use std::arch::x86_64::*;

    use super::{LANES, Step, to_i16};

    /// Only called through a [`super::Bank`], which checked the shapes.
    pub(super) fn filter_avx2(
        branches: &[i16],
        taps: usize,
        plan: &[Step],
        history: &[i16],
        out: &mut [i16],
    ) {
        // SAFETY: `select` hands out this function only after detecting AVX2, and
        // `Bank::new`/`Bank::run` checked every window and branch is in bounds.
        unsafe { avx2(branches, taps, plan, history, out) }
    }

    /// Only called through a [`super::Bank`], which checked the shapes.
    pub(super) fn filter_sse2(
        branches: &[i16],
        taps: usize,
        plan: &[Step],
        history: &[i16],
        out: &mut [i16],
    ) {
        // SAFETY: SSE2 is part of the x86-64 baseline; `Bank` checked bounds.
        unsafe { sse2(branches, taps, plan, history, out) }
    }

    /// The register-resident kernel for a single-branch bank (decimation) with `chunks`
    /// 16-tap chunks, when there is one.
    pub(super) fn decimator(chunks: usize) -> Option<super::FilterFn> {
        Some(match chunks {
            4 => decimate::<4>,
            5 => decimate::<5>,
            6 => decimate::<6>,
            7 => decimate::<7>,
            8 => decimate::<8>,
            9 => decimate::<9>,
            10 => decimate::<10>,
            11 => decimate::<11>,
            12 => decimate::<12>,
            _ => return None,
        })
    }

    /// The register-resident kernel for an integer upsampler by `up` with `chunks`
    /// 16-tap chunks per branch, when its taps fit in registers.
    pub(super) fn upsampler(up: usize, chunks: usize) -> Option<super::FilterFn> {
        Some(match (up, chunks) {
            (2, 2) => upsample::<2, 2>,
            (2, 3) => upsample::<2, 3>,
            (2, 4) => upsample::<2, 4>,
            (2, 5) => upsample::<2, 5>,
            (2, 6) => upsample::<2, 6>,
            (3, 2) => upsample::<3, 2>,
            (3, 3) => upsample::<3, 3>,
            (3, 4) => upsample::<3, 4>,
            _ => return None,
        })
    }

    /// Only handed out by `select` for upsampling banks of this shape, after
    /// detecting AVX2; `Bank` checked the shapes.
    fn upsample<const UP: usize, const C: usize>(
        branches: &[i16],
        taps: usize,
        plan: &[Step],
        history: &[i16],
        out: &mut [i16],
    ) {
        debug_assert_eq!(taps, C * LANES);
        // SAFETY: AVX2 detected by `select`; bounds and layout checked by `Bank`.
        unsafe { upsample_avx2::<UP, C>(branches, plan, history, out) }
    }

    /// Upsampling by `UP`: the `UP` outputs of each input position share one window,
    /// loaded once and multiplied by every branch, whose taps stay in registers.
    /// Partial sums are reduced eight outputs at a time.
    ///
    /// # Safety
    /// AVX2 available; `branches` holds `UP` branches of `16 * C` taps; output `n`
    /// reads window `n / UP`, within `history` (what `Layout::Upsample` checked).
    #[target_feature(enable = "avx2")]
    unsafe fn upsample_avx2<const UP: usize, const C: usize>(
        branches: &[i16],
        plan: &[Step],
        history: &[i16],
        out: &mut [i16],
    ) {
        let tp = branches.as_ptr() as *const __m256i;
        // SAFETY: UP * C chunks of taps are in bounds per the caller.
        let taps: [[__m256i; C]; UP] = std::array::from_fn(|b| {
            std::array::from_fn(|c| unsafe { _mm256_loadu_si256(tp.add(b * C + c)) })
        });
        let n = out.len().min(plan.len());
        let mut batch = [_mm256_setzero_si256(); 8];
        let mut filled = 0;
        let mut written = 0;
        for position in 0..n / UP {
            // SAFETY: window `position` is in bounds per the caller.
            let w = unsafe { history.as_ptr().add(position) } as *const __m256i;
            // SAFETY: C chunks of the checked window.
            let window: [__m256i; C] =
                std::array::from_fn(|c| unsafe { _mm256_loadu_si256(w.add(c)) });
            for branch in &taps {
                let mut acc = _mm256_setzero_si256();
                for (t, v) in branch.iter().zip(&window) {
                    acc = _mm256_add_epi32(acc, _mm256_madd_epi16(*t, *v));
                }
                batch[filled] = acc;
                filled += 1;
                if filled == 8 {
                    out[written..written + 8].copy_from_slice(&reduce8(batch));
                    written += 8;
                    filled = 0;
                }
            }
        }
        for (o, acc) in out[written..].iter_mut().zip(&batch[..filled]) {
            let sum = _mm_add_epi32(
                _mm256_castsi256_si128(*acc),
                _mm256_extracti128_si256::<1>(*acc),
            );
            *o = to_i16(hsum128(sum));
        }
    }

    /// Only handed out by `select` for single-branch banks with `C` chunks, after
    /// detecting AVX2; `Bank` checked the shapes.
    fn decimate<const C: usize>(
        branches: &[i16],
        taps: usize,
        plan: &[Step],
        history: &[i16],
        out: &mut [i16],
    ) {
        debug_assert_eq!(taps, C * LANES);
        // SAFETY: AVX2 detected by `select`; bounds checked by `Bank`.
        unsafe { decimate_avx2::<C>(branches, plan, history, out) }
    }

    /// Decimation: every output uses branch 0, so its taps stay in registers and
    /// only the input window is loaded.
    ///
    /// # Safety
    /// AVX2 available; `branches` holds at least `16 * C` taps; every
    /// `start + 16 * C` in `plan` is within `history`.
    #[target_feature(enable = "avx2")]
    unsafe fn decimate_avx2<const C: usize>(
        branches: &[i16],
        plan: &[Step],
        history: &[i16],
        out: &mut [i16],
    ) {
        let tp = branches.as_ptr() as *const __m256i;
        // SAFETY: C chunks of taps are in bounds per the caller.
        let taps: [__m256i; C] = std::array::from_fn(|c| unsafe { _mm256_loadu_si256(tp.add(c)) });
        let window = |start: u32| -> __m256i {
            // SAFETY: in bounds per the caller.
            let w = unsafe { history.as_ptr().add(start as usize) } as *const __m256i;
            let mut acc = _mm256_setzero_si256();
            for (c, t) in taps.iter().enumerate() {
                // SAFETY: chunk c of the checked window.
                let v = unsafe { _mm256_loadu_si256(w.add(c)) };
                acc = _mm256_add_epi32(acc, _mm256_madd_epi16(*t, v));
            }
            acc
        };
        let n = out.len().min(plan.len());
        let (plan8, plan_rest) = plan[..n].as_chunks::<8>();
        let (out8, out_rest) = out[..n].as_chunks_mut::<8>();
        for (steps, o) in plan8.iter().zip(out8.iter_mut()) {
            let acc: [__m256i; 8] = std::array::from_fn(|k| window(steps[k].start));
            *o = reduce8(acc);
        }
        for (o, step) in out_rest.iter_mut().zip(plan_rest) {
            let acc = window(step.start);
            let sum = _mm_add_epi32(
                _mm256_castsi256_si128(acc),
                _mm256_extracti128_si256::<1>(acc),
            );
            *o = to_i16(hsum128(sum));
        }
    }

    /// # Safety
    /// AVX2 must be available; every `branch + taps` and `start + taps` in `plan`
    /// must be within `branches` and `history`, and `taps` a multiple of 16.
    #[target_feature(enable = "avx2")]
    unsafe fn avx2(branches: &[i16], taps: usize, plan: &[Step], history: &[i16], out: &mut [i16]) {
        let n = out.len().min(plan.len());
        let (plan8, plan_rest) = plan[..n].as_chunks::<8>();
        let (out8, out_rest) = out[..n].as_chunks_mut::<8>();
        for (steps, o) in plan8.iter().zip(out8.iter_mut()) {
            // SAFETY: forwarded caller contract.
            let acc: [__m256i; 8] =
                std::array::from_fn(|k| unsafe { dot_avx2(branches, taps, steps[k], history) });
            *o = reduce8(acc);
        }
        for (o, &step) in out_rest.iter_mut().zip(plan_rest) {
            // SAFETY: forwarded caller contract.
            let acc = unsafe { dot_avx2(branches, taps, step, history) };
            let sum = _mm_add_epi32(
                _mm256_castsi256_si128(acc),
                _mm256_extracti128_si256::<1>(acc),
            );
            *o = to_i16(hsum128(sum));
        }
    }

    /// Eight lanes of partial sums for one output.
    ///
    /// # Safety
    /// AVX2 available; the step's branch and window are in bounds; `taps % 16 == 0`.
    #[inline]
    #[target_feature(enable = "avx2")]
    unsafe fn dot_avx2(branches: &[i16], taps: usize, step: Step, history: &[i16]) -> __m256i {
        // SAFETY: in bounds per the caller's contract.
        let (t, w) = unsafe {
            (
                branches.as_ptr().add(step.branch as usize) as *const __m256i,
                history.as_ptr().add(step.start as usize) as *const __m256i,
            )
        };
        let mut acc = _mm256_setzero_si256();
        for i in 0..taps / LANES {
            // SAFETY: chunk i of 16 lanes lies inside the checked window.
            let (tv, wv) = unsafe { (_mm256_loadu_si256(t.add(i)), _mm256_loadu_si256(w.add(i))) };
            acc = _mm256_add_epi32(acc, _mm256_madd_epi16(tv, wv));
        }
        acc
    }

    /// Reduces eight outputs' partial sums together, then rounds and saturates all
    /// eight to PCM16 at once (`packs` saturates exactly like [`to_i16`]).
    #[inline]
    #[target_feature(enable = "avx2")]
    fn reduce8(a: [__m256i; 8]) -> [i16; 8] {
        let h01 = _mm256_hadd_epi32(a[0], a[1]);
        let h23 = _mm256_hadd_epi32(a[2], a[3]);
        let h45 = _mm256_hadd_epi32(a[4], a[5]);
        let h67 = _mm256_hadd_epi32(a[6], a[7]);
        let h0123 = _mm256_hadd_epi32(h01, h23);
        let h4567 = _mm256_hadd_epi32(h45, h67);
        // Lane k of the low half holds output k's low-128 sum (k < 4 from h0123).
        let lo = _mm256_permute2x128_si256::<0x20>(h0123, h4567);
        let hi = _mm256_permute2x128_si256::<0x31>(h0123, h4567);
        let sums = _mm256_add_epi32(lo, hi);
        let rounded = _mm256_srai_epi32::<{ super::TAP_SHIFT as i32 }>(_mm256_add_epi32(
            sums,
            _mm256_set1_epi32(1 << (super::TAP_SHIFT - 1)),
        ));
        let packed = _mm_packs_epi32(
            _mm256_castsi256_si128(rounded),
            _mm256_extracti128_si256::<1>(rounded),
        );
        let mut out = [0i16; 8];
        // SAFETY: `out` is 16 bytes; unaligned store.
        unsafe { _mm_storeu_si128(out.as_mut_ptr() as *mut __m128i, packed) };
        out
    }

    /// # Safety
    /// Every `branch + taps` and `start + taps` in `plan` must be within `branches`
    /// and `history`, and `taps` a multiple of 16.
    #[target_feature(enable = "sse2")]
    unsafe fn sse2(branches: &[i16], taps: usize, plan: &[Step], history: &[i16], out: &mut [i16]) {
        let chunks = taps / 8;
        for (o, step) in out.iter_mut().zip(plan) {
            // SAFETY: in bounds per the caller's contract.
            let (t, w) = unsafe {
                (
                    branches.as_ptr().add(step.branch as usize) as *const __m128i,
                    history.as_ptr().add(step.start as usize) as *const __m128i,
                )
            };
            let mut acc = _mm_setzero_si128();
            for i in 0..chunks {
                // SAFETY: chunk i of 8 lanes lies inside the checked window.
                let (tv, wv) = unsafe { (_mm_loadu_si128(t.add(i)), _mm_loadu_si128(w.add(i))) };
                acc = _mm_add_epi32(acc, _mm_madd_epi16(tv, wv));
            }
            *o = to_i16(hsum128(acc));
        }
    }

    #[inline(always)]
    fn hsum128(v: __m128i) -> i32 {
        // SAFETY: SSE2 is part of the x86-64 baseline.
        unsafe {
            let v = _mm_add_epi32(v, _mm_shuffle_epi32::<0b01_00_11_10>(v));
            let v = _mm_add_epi32(v, _mm_shuffle_epi32::<0b10_11_00_01>(v));
            _mm_cvtsi128_si32(v)
        }
    }

    /// Every x86 kernel valid for a bank of `chunks` chunks with this layout.
    #[cfg(test)]
    pub(super) fn all(chunks: usize, layout: super::Layout) -> Vec<super::FilterFn> {
        let mut v: Vec<super::FilterFn> = vec![filter_sse2];
        if std::arch::is_x86_feature_detected!("avx2") {
            v.push(filter_avx2);
            match layout {
                super::Layout::SingleBranch => v.extend(decimator(chunks)),
                super::Layout::Upsample(up) => v.extend(upsampler(up, chunks)),
                super::Layout::General => {}
            }
        }
        v
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn selected_kernel_matches_portable_and_naive() {
        let taps = 64;
        let branches: Vec<i16> = (0..2 * taps)
            .map(|i| ((i as f32 * 0.37).sin() * 4000.0) as i16)
            .collect();
        let history: Vec<i16> = (0..200)
            .map(|i| ((i as f32 * 0.11).cos() * 30000.0) as i16)
            .collect();
        // 100 outputs: twelve batches of eight and a remainder of four.
        let plan: Vec<Step> = (0..100u32)
            .map(|n| Step {
                branch: (n % 2) * taps as u32,
                start: n,
            })
            .collect();
        let mut a = vec![0i16; 100];
        filter_portable(&branches, taps, &plan, &history, &mut a);
        assert_eq!(Layout::of(&plan, taps), Layout::General);
        let mut kernels: Vec<FilterFn> = vec![select(taps, Layout::General)];
        #[cfg(target_arch = "x86_64")]
        kernels.extend(x86::all(taps / LANES, Layout::General));
        for k in &kernels {
            let mut b = vec![0i16; 100];
            k(&branches, taps, &plan, &history, &mut b);
            assert_eq!(a, b);
        }
        // Single-branch plans (decimation) through every kernel, incl. the
        // register-resident one, for every supported chunk count.
        for chunks in 1..=12usize {
            let taps = chunks * LANES;
            let plan: Vec<Step> = (0..37u32)
                .map(|n| Step {
                    branch: 0,
                    start: 3 * n,
                })
                .collect();
            let history: Vec<i16> = (0..(taps + 120))
                .map(|i| ((i * 7919) % 65536) as i16)
                .collect();
            let bank_taps: Vec<i16> = (0..taps)
                .map(|i| ((i as f32 * 0.29).cos() * 3000.0) as i16)
                .collect();
            let mut want = vec![0i16; plan.len()];
            filter_portable(&bank_taps, taps, &plan, &history, &mut want);
            assert_eq!(Layout::of(&plan, taps), Layout::SingleBranch);
            let mut ks: Vec<FilterFn> = vec![select(taps, Layout::SingleBranch)];
            #[cfg(target_arch = "x86_64")]
            ks.extend(x86::all(chunks, Layout::SingleBranch));
            for k in ks {
                let mut got = vec![0i16; plan.len()];
                k(&bank_taps, taps, &plan, &history, &mut got);
                assert_eq!(got, want, "chunks={chunks}");
            }
        }
        // Upsampling plans (branch n % up, window n / up) through every kernel.
        for up in 2..=3usize {
            for chunks in 1..=6usize {
                let taps = chunks * LANES;
                let outputs = 8 * up * 3 + up; // batches of eight plus a remainder
                let plan: Vec<Step> = (0..outputs)
                    .map(|n| Step {
                        branch: ((n % up) * taps) as u32,
                        start: (n / up) as u32,
                    })
                    .collect();
                assert_eq!(Layout::of(&plan, taps), Layout::Upsample(up));
                let bank_taps: Vec<i16> = (0..up * taps)
                    .map(|i| ((i as f32 * 0.13).sin() * 5000.0) as i16)
                    .collect();
                let history: Vec<i16> = (0..outputs / up + taps)
                    .map(|i| ((i * 104_729) % 65536) as i16)
                    .collect();
                let mut want = vec![0i16; outputs];
                filter_portable(&bank_taps, taps, &plan, &history, &mut want);
                let mut ks: Vec<FilterFn> = vec![select(taps, Layout::Upsample(up))];
                #[cfg(target_arch = "x86_64")]
                ks.extend(x86::all(chunks, Layout::Upsample(up)));
                for k in ks {
                    let mut got = vec![0i16; outputs];
                    k(&bank_taps, taps, &plan, &history, &mut got);
                    assert_eq!(got, want, "up={up} chunks={chunks}");
                }
            }
        }
        for (n, step) in plan.iter().enumerate() {
            let naive: i64 = (0..taps)
                .map(|j| {
                    i64::from(branches[step.branch as usize + j])
                        * i64::from(history[step.start as usize + j])
                })
                .sum();
            let want = ((naive + (1 << 13)) >> 14).clamp(-32768, 32767);
            assert_eq!(i64::from(a[n]), want, "n={n}");
        }
    }

    #[test]
    fn banks_refuse_plans_that_would_read_out_of_bounds() {
        let plan = || {
            vec![Step {
                branch: 0,
                start: 10,
            }]
            .into_boxed_slice()
        };
        assert!(Bank::new(vec![1i16; 16].into(), 16, plan(), 20).is_none());
        assert!(Bank::new(vec![1i16; 16].into(), 8, plan(), 40).is_none());
        let bank = Bank::new(vec![1i16; 16].into(), 16, plan(), 26).expect("fits");
        let mut out = [7i16; 1];
        assert!(!bank.run(&[1; 20], &mut out));
        assert_eq!(out, [7]);
        assert!(bank.run(&[1 << 14; 26], &mut out));
        assert_eq!(out, [16]);
    }

    #[test]
    fn conversion_rounds_and_saturates() {
        assert_eq!(to_i16(1 << 14), 1);
        assert_eq!(to_i16((1 << 13) - 1), 0);
        assert_eq!(to_i16(1 << 13), 1);
        assert_eq!(to_i16(-(1 << 14)), -1);
        assert_eq!(to_i16(i32::MAX - (1 << 13)), i16::MAX);
        assert_eq!(to_i16(i32::MIN), i16::MIN);
    }
}

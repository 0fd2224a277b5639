use criterion::{Criterion, criterion_group, criterion_main};
use std::hint::black_box;
use tenex_media::SampleRate;
use tenex_media::resample::Resampler;

fn resample(c: &mut Criterion) {
    let mut g = c.benchmark_group("resample");
    for (from, to) in [(SampleRate::Hz8000, SampleRate::Hz24000), (SampleRate::Hz24000, SampleRate::Hz8000), (SampleRate::Hz48000, SampleRate::Hz24000)] {
        let mut r = Resampler::new(from, to);
        let input: Vec<i16> = (0..from.frame_samples()).map(|i| (i * 97 % 2000) as i16).collect();
        let mut out = vec![0i16; to.frame_samples()];
        g.bench_function(format!("{}_to_{}", from.hz(), to.hz()), |b| b.iter(|| r.process(black_box(&input), &mut out).unwrap()));
    }
}
criterion_group!(benches, resample);
criterion_main!(benches);

#!/usr/bin/env python3
"""Per-20-ms-frame cost of pipecat's telephony <-> OpenAI Realtime audio path.

Counterpart of `benches/hot_path.rs` (uplink/downlink groups) for the Python
framework pipecat (PyPI `pipecat-ai`). pipecat is imported as a library; this
script only calls pipecat's own public helpers and event models, the way its
Twilio/Telnyx/Plivo serializers and its OpenAI Realtime service call them.

Setup (outside the repo) and run:

    python3 -m venv /tmp/pipecat-venv
    /tmp/pipecat-venv/bin/pip install pipecat-ai        # 1.14.0 when written
    /tmp/pipecat-venv/bin/python scripts/compare/pipecat_hot_path.py
    # options: --frames 5000 --blocks 5 --warmup 500 --rewarm 50 --quality VHQ
    #          --no-startup (skip the resampler start-up report)

It is single-threaded and takes a few seconds; run nothing else alongside.

Python 3.11/3.12 use the stdlib `audioop` (deprecated, still present);
pipecat pulls in `audioop-lts` itself on 3.13+. pipecat prints a one-line
banner on stderr when imported.

The path being measured (pipecat 1.14.0 sources):

  uplink   serializers/twilio.py `deserialize`: base64 media payload ->
           `audio.utils.ulaw_to_pcm(payload, 8000, rate, self._input_resampler)`
           (= `audioop.ulaw2lin` + `SOXRStreamAudioResampler.resample`, made by
           `create_stream_resampler()`), then services/openai/realtime/llm.py
           `_send_user_audio`: resample to 24 kHz if not already (its own
           `create_stream_resampler()`), `base64.b64encode(...).decode()`,
           `send_client_event(events.InputAudioBufferAppendEvent(audio=...))`
           which is `json.dumps(event.model_dump(exclude_none=True))`.
           An empty resampler result produces no frame and no append.
  downlink llm.py `_receive_task_handler`: `events.parse_server_event(text)`
           (json.loads + pydantic `ResponseAudioDelta.model_validate`), then
           `_handle_evt_audio_delta`: `base64.b64decode(evt.delta)` into a 24 kHz
           TTSAudioRawFrame; the output transport / serializer then runs
           `audio.utils.pcm_to_ulaw(pcm, 24000, 8000, resampler)`
           (= `SOXRStreamAudioResampler.resample` + `audioop.lin2ulaw`).

Whatever the PipelineParams sample rates, the rows below do one 8k->24k (uplink)
and one 24k->8k (downlink) stream resample per direction, as pipecat does with
`audio_in_sample_rate=8000, audio_out_sample_rate=8000` (its own telephony
template); only which object owns the resampler differs. With pipecat's
defaults (16 kHz in) the uplink runs two stream resamplers (8->16 in the
serializer, 16->24 in the Realtime service); the start-up report shows that chain.

Rows (input -> output of one timed call; one call per 20 ms frame; resampler
state carried across frames; 50 distinct frames of a continuous 1 s signal of
440 Hz + 1.3 kHz, cycled, which is periodic so cycling is seamless):

  uplink/pcmu_to_append_pcm16     160 B mu-law -> ulaw_to_pcm(8k->24k) -> base64
                                  -> InputAudioBufferAppendEvent -> JSON text
  uplink/pcmu_to_append_passthrough
                                  160 B mu-law -> base64 -> append event JSON.
                                  pipecat has NO mu-law passthrough (serializers
                                  always decode to PCM; the Realtime service
                                  always sends 24 kHz PCM), so this is the
                                  obvious equivalent built from pipecat's event
                                  model.
  downlink/delta_pcm16_to_pcmu    `response.output_audio.delta` text (1280 b64
                                  chars = 20 ms 24 kHz PCM16) ->
                                  parse_server_event -> b64decode ->
                                  pcm_to_ulaw(24k->8k) -> mu-law bytes
  downlink/delta_passthrough_to_pcmu
                                  delta text carrying 160 B mu-law ->
                                  parse_server_event -> b64decode. Again not a
                                  pipecat path; the equivalent.

Variants of each row:

  asyncio   the row as one `async def` step, awaited once per frame inside a
            running asyncio loop (asyncio.Runner) - how pipecat's handlers run.
            pipecat's helpers never suspend, so the loop never schedules
            anything mid-call; this includes coroutine creation but NOT
            pipecat's pipeline overhead (frame objects, per-processor queues
            and task switches between transport, serializer and service).
  no-loop   the very same pipecat coroutines stepped by hand with
            `coro.send(None)`, no event loop running: the event loop excluded.
            (Not cheaper in practice: stepping by hand costs about what the
            interpreter's own `await` does, and the loop is never entered.)
  kernels   no pipecat code: the library calls pipecat's helpers end up in
            (audioop, soxr.ResampleStream with the same quality/int16 settings,
            base64, json), called synchronously; the uplink JSON is
            `{"type":"input_audio_buffer.append","audio":"..."}` without the
            uuid4 `event_id` pipecat adds. A floor for this work in Python.

Columns: mean / p50 / p99 of per-call wall time in microseconds
(time.perf_counter_ns around each call, GC left on), the share of calls that
returned audio, and the mean over those calls only. pipecat's default VHQ
stream resampler returns audio in bursts (see the start-up report), so for the
resampling rows p50 is the cost of a call that returned nothing and the mean
is the honest per-20-ms cost. The last column is the lowest and highest mean
of the blocks: every line runs in --blocks blocks, interleaved with all other
lines, so host noise on a shared machine hits every line alike; each block
follows --rewarm untimed frames (pipecat's default clear_after_secs=0.2 resets a
resampler idle for 200 ms, which the other lines' blocks can exceed).
Absolute figures move with the host (we saw ~1.7x between sessions on a shared
2-core VM); compare against the Rust bench run in the same session.

The start-up report feeds pipecat's stream resampler 20 ms chunks and prints
what comes back for the first frames, the burst pattern, and the delay the
buffering adds: for each output sample, (call that returned it) - (call whose
input contained it), in ms; an ideal per-frame converter scores 0. The stream
output is first checked to be time-aligned with pipecat's one-shot resampler
(`create_file_resampler`), so output sample j belongs to input time j/rate.

The signal is deterministic (no random input); pipecat's event_id is a uuid4.
"""

import argparse
import asyncio
import base64
import json
import os
import platform
import sys
import time
import warnings
from importlib.metadata import version

with warnings.catch_warnings():
    warnings.simplefilter("ignore", DeprecationWarning)
    import audioop  # what pipecat.audio.utils uses on Python < 3.13

import numpy as np
import soxr

from pipecat.audio.resamplers.soxr_stream_resampler import SOXRStreamAudioResampler
from pipecat.audio.utils import (
    create_file_resampler,
    create_stream_resampler,
    pcm_to_ulaw,
    ulaw_to_pcm,
)
from pipecat.services.openai.realtime import events as rt_events

FRAME_MS = 20
OPENAI_RATE = 24000
PHONE_RATE = 8000
LOOP_FRAMES = 50  # 1 s; 440 Hz and 1.3 kHz are whole cycles in 1 s


def signal(rate: int, frames: int) -> np.ndarray:
    """440 Hz + 1.3 kHz, same amplitudes as benches/hot_path.rs, truncated to int16."""
    t = np.arange(rate * FRAME_MS // 1000 * frames) / rate
    x = 6000.0 * np.sin(2 * np.pi * 440.0 * t) + 3000.0 * np.sin(2 * np.pi * 1300.0 * t)
    return x.astype(np.int16)


def frames_of(x: np.ndarray, rate: int) -> list[bytes]:
    n = rate * FRAME_MS // 1000
    return [x[i : i + n].tobytes() for i in range(0, len(x), n)]


def ulaw_frames(frames: int) -> list[bytes]:
    """160-byte mu-law payloads of the 8 kHz signal (stdlib audioop G.711)."""
    ulaw = audioop.lin2ulaw(signal(PHONE_RATE, frames).tobytes(), 2)
    return [ulaw[i : i + 160] for i in range(0, len(ulaw), 160)]


def delta_event(payload: bytes) -> str:
    """A server delta shaped like benches/hot_path.rs `delta_event`."""
    b64 = base64.b64encode(payload).decode("ascii")
    return (
        '{"type":"response.output_audio.delta","event_id":"event_1","response_id":"resp_1",'
        '"item_id":"item_1","output_index":0,"content_index":0,"delta":"' + b64 + '"}'
    )


def make_stream_resampler(quality: str):
    # Serializers and the Realtime service call create_stream_resampler() with no
    # quality, i.e. VHQ. Other qualities only via the class itself.
    if quality == "VHQ":
        return create_stream_resampler()
    return SOXRStreamAudioResampler(quality=quality)


def drive(coro):
    """Run a coroutine that never suspends, without an event loop."""
    try:
        coro.send(None)
    except StopIteration as stop:
        return stop.value
    coro.close()
    raise RuntimeError("pipecat helper suspended; it needs an event loop")


# ---------------------------------------------------------------- the rows


def uplink_pcm16(quality):
    rs = make_stream_resampler(quality)

    async def step(ulaw: bytes):
        pcm = await ulaw_to_pcm(ulaw, PHONE_RATE, OPENAI_RATE, rs)
        if not pcm:
            return None  # pipecat emits no frame, hence no append
        payload = base64.b64encode(pcm).decode("utf-8")
        event = rt_events.InputAudioBufferAppendEvent(audio=payload)
        return json.dumps(event.model_dump(exclude_none=True))

    return step


def uplink_pcm16_kernels(quality):
    stream = soxr.ResampleStream(PHONE_RATE, OPENAI_RATE, 1, dtype="int16", quality=quality)

    def step(ulaw: bytes):
        pcm = stream.resample_chunk(np.frombuffer(audioop.ulaw2lin(ulaw, 2), dtype=np.int16))
        if not len(pcm):
            return None
        payload = base64.b64encode(pcm.tobytes()).decode("ascii")
        return json.dumps({"type": "input_audio_buffer.append", "audio": payload})

    return step


def uplink_passthrough(_quality):
    async def step(ulaw: bytes):
        payload = base64.b64encode(ulaw).decode("utf-8")
        event = rt_events.InputAudioBufferAppendEvent(audio=payload)
        return json.dumps(event.model_dump(exclude_none=True))

    return step


def uplink_passthrough_kernels(_quality):
    def step(ulaw: bytes):
        payload = base64.b64encode(ulaw).decode("ascii")
        return json.dumps({"type": "input_audio_buffer.append", "audio": payload})

    return step


def downlink_pcm16(quality):
    rs = make_stream_resampler(quality)

    async def step(text: str):
        evt = rt_events.parse_server_event(text)
        pcm = base64.b64decode(evt.delta)
        return await pcm_to_ulaw(pcm, OPENAI_RATE, PHONE_RATE, rs)

    return step


def downlink_pcm16_kernels(quality):
    stream = soxr.ResampleStream(OPENAI_RATE, PHONE_RATE, 1, dtype="int16", quality=quality)

    def step(text: str):
        pcm = base64.b64decode(json.loads(text)["delta"])
        out = stream.resample_chunk(np.frombuffer(pcm, dtype=np.int16))
        return audioop.lin2ulaw(out.tobytes(), 2)

    return step


def downlink_passthrough(_quality):
    async def step(text: str):
        evt = rt_events.parse_server_event(text)
        return base64.b64decode(evt.delta)

    return step


def downlink_passthrough_kernels(_quality):
    def step(text: str):
        return base64.b64decode(json.loads(text)["delta"])

    return step


# ---------------------------------------------------------------- timing


def summarize(times_ns: np.ndarray, emitted: np.ndarray, block_means_us) -> dict:
    us = times_ns / 1000.0
    return {
        "mean": us.mean(),
        "p50": np.percentile(us, 50),
        "p99": np.percentile(us, 99),
        "emit": emitted.mean(),
        "mean_emit": us[emitted].mean() if emitted.any() else float("nan"),
        "block_lo": min(block_means_us),
        "block_hi": max(block_means_us),
    }


class Lane:
    """One row x variant: its step (and so its resampler state) lives across blocks.

    kind: "sync" (plain function), "no-loop" (pipecat coroutine stepped by
    hand) or "asyncio" (awaited inside the shared running loop).
    """

    def __init__(self, kind, step, inputs):
        self.kind, self.step, self.inputs = kind, step, inputs
        self.i = 0
        self.times, self.emitted, self.block_means = [], [], []

    def _frames(self, n):
        xs = self.inputs
        for _ in range(n):
            x = xs[self.i % len(xs)]
            self.i += 1
            yield x

    def _run_sync(self, warm, n):
        step = self.step if self.kind == "sync" else (lambda x, f=self.step: drive(f(x)))
        for x in self._frames(warm):
            step(x)
        times = np.empty(n, dtype=np.int64)
        emitted = np.empty(n, dtype=bool)
        clock = time.perf_counter_ns
        for k, x in enumerate(self._frames(n)):
            t0 = clock()
            r = step(x)
            t1 = clock()
            times[k] = t1 - t0
            emitted[k] = bool(r)
        return times, emitted

    async def _run_async(self, warm, n):
        step = self.step
        for x in self._frames(warm):
            await step(x)
        times = np.empty(n, dtype=np.int64)
        emitted = np.empty(n, dtype=bool)
        clock = time.perf_counter_ns
        for k, x in enumerate(self._frames(n)):
            t0 = clock()
            r = await step(x)
            t1 = clock()
            times[k] = t1 - t0
            emitted[k] = bool(r)
        return times, emitted

    def block(self, runner, warm, n):
        if self.kind == "asyncio":
            times, emitted = runner.run(self._run_async(warm, n))
        else:
            times, emitted = self._run_sync(warm, n)
        if n == 0:
            return
        self.times.append(times)
        self.emitted.append(emitted)
        self.block_means.append(times.mean() / 1000.0)

    def result(self):
        return summarize(np.concatenate(self.times), np.concatenate(self.emitted),
                         self.block_means)


def timer_overhead_ns(n=20000):
    clock = time.perf_counter_ns
    d = np.empty(n, dtype=np.int64)
    for i in range(n):
        t0 = clock()
        t1 = clock()
        d[i] = t1 - t0
    return float(np.median(d))


# ---------------------------------------------------------------- checks


def check_outputs(quality):
    """Sanity: the rows produce what they claim, and the right amount of it."""
    up = uplink_pcm16(quality)
    total = 0
    for u in ulaw_frames(100):
        assert len(u) == 160
        text = drive(up(u))
        if text:
            msg = json.loads(text)
            assert msg["type"] == "input_audio_buffer.append"
            total += len(base64.b64decode(msg["audio"])) // 2
    expected = 100 * OPENAI_RATE * FRAME_MS // 1000
    assert expected * 0.8 < total <= expected, (total, expected)

    down = downlink_pcm16(quality)
    total = 0
    for pcm in frames_of(signal(OPENAI_RATE, 100), OPENAI_RATE):
        text = delta_event(pcm)
        assert len(json.loads(text)["delta"]) == 1280
        total += len(drive(down(text)))
    expected = 100 * 160
    assert expected * 0.8 < total <= expected, (total, expected)


# ---------------------------------------------------------------- start-up


async def stream_profile(stages, in_rate, n_frames):
    """Feed n_frames of 20 ms through a chain of pipecat stream resamplers.

    stages: list of (resampler, in_rate, out_rate); a stage is only called when
    the previous one returned audio, as in pipecat (empty -> no frame).
    Returns (per-call output sample counts, concatenated output, flushed tail).
    """
    x = signal(in_rate, n_frames)
    sizes, outs = [], []
    for chunk in frames_of(x, in_rate):
        data = chunk
        for rs, i, o in stages:
            if not data:
                break
            data = await rs.resample(data, i, o)
        sizes.append(len(data) // 2)
        outs.append(data)
    tail = b""
    for k, (rs, i, o) in enumerate(stages):
        t = await rs.flush()
        for rs2, i2, o2 in stages[k + 1 :]:
            if t:
                t = await rs2.resample(t, i2, o2)
        tail += t
    return x, np.array(sizes), np.frombuffer(b"".join(outs), dtype=np.int16), tail


def best_lag(a: np.ndarray, b: np.ndarray, span=64):
    """Lag (samples) of a against b that minimises the mean abs difference."""
    n = min(len(a), len(b)) - 2 * span
    ref = b[span : span + n].astype(np.int32)
    best = None
    for lag in range(-span, span + 1):
        err = np.abs(a[span + lag : span + lag + n].astype(np.int32) - ref).mean()
        if best is None or err < best[1]:
            best = (lag, err)
    return best


def added_delay_ms(sizes: np.ndarray, out_rate: int, skip_frames=0):
    """Per output sample: (index of the call returning it - index of the call
    whose input held it) * 20 ms. Returns (first sample's, mean, max)."""
    per_frame = out_rate * FRAME_MS // 1000
    emit_call = np.repeat(np.arange(len(sizes)), sizes)
    src_call = np.arange(len(emit_call)) // per_frame
    d = (emit_call - src_call) * FRAME_MS
    steady = d[src_call >= skip_frames]
    return d[0], steady.mean(), steady.max()


def burst_pattern(sizes: np.ndarray, out_rate: int, skip=20):
    s = sizes[skip:]
    nz = np.flatnonzero(s)
    if len(nz) < 2:
        return "n/a"
    gaps = np.diff(nz)
    vals = s[nz]
    return (
        f"1 call in {gaps.mean():.2f} returns audio, "
        f"{vals.min() * 1000 / out_rate:.1f}-{vals.max() * 1000 / out_rate:.1f} ms at a time"
    )


async def startup_report(n_frames=200):
    print("\n## Stream resampler start-up and buffering (pipecat create_stream_resampler)")
    print(f"fed {n_frames} x 20 ms chunks; sizes in output samples per call; "
          "'added delay' = (call that returns a sample - call that brought it in) x 20 ms")
    cases = [
        ("uplink 8k->24k (VHQ, default)", PHONE_RATE, [(create_stream_resampler(), 8000, 24000)]),
        ("downlink 24k->8k (VHQ, default)", OPENAI_RATE, [(create_stream_resampler(), 24000, 8000)]),
        ("uplink, default PipelineParams: 8k->16k->24k",
         PHONE_RATE,
         [(create_stream_resampler(), 8000, 16000), (create_stream_resampler(), 16000, 24000)]),
    ]
    for q in ("HQ", "MQ", "LQ", "QQ"):
        cases.append((f"uplink 8k->24k ({q}, not reachable via serializer params)", PHONE_RATE,
                      [(SOXRStreamAudioResampler(quality=q), 8000, 24000)]))
        cases.append((f"downlink 24k->8k ({q})", OPENAI_RATE,
                      [(SOXRStreamAudioResampler(quality=q), 24000, 8000)]))

    for name, in_rate, stages in cases:
        out_rate = stages[-1][2]
        per_frame = out_rate * FRAME_MS // 1000
        x, sizes, out, tail = await stream_profile(stages, in_rate, n_frames)
        first10 = sizes[:10]
        empty = int((first10 == 0).sum())
        short = int(((first10 > 0) & (first10 < per_frame)).sum())
        first_nz = int(np.flatnonzero(sizes)[0])
        deficit_ms = (10 * per_frame - first10.sum()) * 1000 / out_rate
        first_d, mean_d, max_d = added_delay_ms(sizes, out_rate, skip_frames=20)
        # alignment against pipecat's one-shot resampler of the same input
        ref = x.tobytes()
        for _rs, i, o in stages:
            ref = await create_file_resampler(quality=_rs._quality).resample(ref, i, o)
        ref = np.frombuffer(ref, dtype=np.int16)
        full = np.concatenate([out, np.frombuffer(tail, dtype=np.int16)])
        lag, err = best_lag(full, ref)
        print(f"\n- {name}")
        print(f"  first 10 calls: {first10.tolist()}  (a full frame = {per_frame})")
        print(f"  empty {empty}/10, short {short}/10; first audio on call #{first_nz + 1} "
              f"(t = {(first_nz + 1) * FRAME_MS} ms); after 10 calls "
              f"{deficit_ms:.1f} ms of audio still held back")
        print(f"  steady state: {burst_pattern(sizes, out_rate)}")
        print(f"  added delay: first sample {first_d} ms; from call 21 on mean "
              f"{mean_d:.1f} ms, max {max_d} ms")
        print(f"  output vs one-shot resample: lag {lag} samples, mean |diff| {err:.2f}; "
              f"total out {len(full)} vs in-time {len(x) * out_rate // in_rate}")

    # clear_after_secs=0.2 (serializer default): a pause > 200 ms between calls
    # makes the resampler discard what it holds and start over.
    rs = create_stream_resampler()
    chunks = frames_of(signal(OPENAI_RATE, 60), OPENAI_RATE)
    before = 0
    for c in chunks[:40]:
        before += len(await rs.resample(c, 24000, 8000))
    time.sleep(0.25)
    after_sizes = [len(await rs.resample(c, 24000, 8000)) // 2 for c in chunks[40:]]
    tail = len(await rs.flush()) // 2
    lost = 60 * 160 - (before // 2 + sum(after_sizes) + tail)
    print("\n- downlink 24k->8k with clear_after_secs=0.2 (the serializers' default): 40 calls, "
          "a 250 ms pause\n  (e.g. a delivery gap reaching the serializer's resampler), "
          "20 more calls, then flush()")
    print(f"  after the pause: {after_sizes[:10]} ...; "
          f"audio lost: {lost} samples = {lost * 1000 / 8000:.1f} ms")


# ---------------------------------------------------------------- main


ROWS = [
    ("uplink/pcmu_to_append_pcm16", uplink_pcm16, uplink_pcm16_kernels, "ulaw"),
    ("uplink/pcmu_to_append_passthrough", uplink_passthrough, uplink_passthrough_kernels, "ulaw"),
    ("downlink/delta_pcm16_to_pcmu", downlink_pcm16, downlink_pcm16_kernels, "delta_pcm"),
    ("downlink/delta_passthrough_to_pcmu", downlink_passthrough, downlink_passthrough_kernels,
     "delta_ulaw"),
]


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--frames", type=int, default=5000, help="timed frames per row/variant")
    ap.add_argument("--warmup", type=int, default=500, help="untimed frames first")
    ap.add_argument("--blocks", type=int, default=5,
                    help="timed frames are split into this many blocks, interleaved "
                         "across all lines so host noise hits every line alike")
    ap.add_argument("--rewarm", type=int, default=50, help="untimed frames before each block")
    ap.add_argument("--quality", default="VHQ", choices=["VHQ", "HQ", "MQ", "LQ", "QQ"],
                    help="soxr quality; pipecat's serializers/Realtime service use VHQ")
    ap.add_argument("--no-startup", action="store_true", help="skip the start-up report")
    args = ap.parse_args()

    print("# pipecat hot path, per 20 ms frame")
    print(f"pipecat-ai {version('pipecat-ai')}, Python {platform.python_version()} "
          f"({platform.python_implementation()}), numpy {np.__version__}, "
          f"soxr {soxr.__version__} (libsoxr {soxr.__libsoxr_version__}), "
          f"pydantic {version('pydantic')}")
    print(f"{platform.machine()}, {os.cpu_count()} CPUs, load avg {os.getloadavg()[0]:.2f}; "
          f"resampler quality {args.quality}; per line {args.warmup} warm-up frames, then "
          f"{args.frames} timed in {args.blocks} interleaved blocks (each after "
          f"{args.rewarm} untimed); perf_counter_ns overhead ~{timer_overhead_ns():.0f} ns/call")

    check_outputs(args.quality)

    ulaw = ulaw_frames(LOOP_FRAMES)
    inputs = {
        "ulaw": ulaw,
        "delta_pcm": [delta_event(p) for p in frames_of(signal(OPENAI_RATE, LOOP_FRAMES),
                                                        OPENAI_RATE)],
        "delta_ulaw": [delta_event(u) for u in ulaw],
    }

    lanes = []
    for name, pipecat_row, kernel_row, kind in ROWS:
        xs = inputs[kind]
        lanes += [
            (name, "asyncio", Lane("asyncio", pipecat_row(args.quality), xs)),
            (name, "no-loop", Lane("no-loop", pipecat_row(args.quality), xs)),
            (name, "kernels", Lane("sync", kernel_row(args.quality), xs)),
        ]
    per_block = max(1, args.frames // args.blocks)
    with asyncio.Runner() as runner:
        for _n, _v, lane in lanes:
            lane.block(runner, args.warmup, 0)  # initial warm-up, through start-up
        for _b in range(args.blocks):
            for _n, _v, lane in lanes:
                # re-warm: the other lanes ran in between, and pipecat's default
                # clear_after_secs=0.2 may have reset this lane's resampler
                lane.block(runner, args.rewarm, per_block)

    header = (f"{'row':36} {'variant':8} {'mean µs':>9} {'p50 µs':>9} {'p99 µs':>9} "
              f"{'emit':>6} {'mean µs|emit':>12} {'block means µs':>15}")
    print("\n" + header)
    print("-" * len(header))
    for name, variant, lane in lanes:
        r = lane.result()
        print(f"{name:36} {variant:8} {r['mean']:9.2f} {r['p50']:9.2f} {r['p99']:9.2f} "
              f"{r['emit'] * 100:5.1f}% {r['mean_emit']:12.2f} "
              f"{r['block_lo']:7.1f}-{r['block_hi']:<7.1f}")
    print("asyncio = pipecat helpers awaited in a running loop; no-loop = same coroutines, "
          "no event loop;\nkernels = audioop/soxr/base64/json directly, no pipecat. "
          "emit = calls that returned audio;\n"
          "block means = lowest-highest mean of the interleaved blocks (run-to-run noise).")
    print(f"load avg after: {os.getloadavg()[0]:.2f}")

    if not args.no_startup:
        asyncio.run(startup_report())


if __name__ == "__main__":
    sys.exit(main())

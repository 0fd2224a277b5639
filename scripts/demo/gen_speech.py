#!/usr/bin/env python3
"""Regenerates the demo's speech recordings (assets/demo/*.wav) from assets/demo/lines.json.

Each line is spoken by an offline text-to-speech engine, then made into what the
demo plays: 8 kHz mono 16-bit WAV, band-limited to the phone band, trimmed, and
with every pause inside a line cut to at most 250 ms, so that one line is one
turn for a voice-activity detector that ends a turn after 500 ms of silence.

Needs (Debian): festival festvox-us-slt-hts flite sox.
Usage: scripts/demo/gen_speech.py [OUT_DIR]   (default: assets/demo)
"""
import array
import json
import pathlib
import subprocess
import sys
import tempfile
import wave

HERE = pathlib.Path(__file__).resolve().parent
ROOT = HERE.parent.parent
RATE = 8000
FRAME = RATE // 50  # 20 ms
GATE = 32768 * 10 ** (-45 / 20)  # -45 dBFS: quieter frames count as pause
MAX_PAUSE_FRAMES = 250 // 20
EDGE_FRAMES = 3  # 60 ms kept before the first and after the last voiced frame


def synthesize(voice, text, path):
    if voice["engine"] == "festival":
        subprocess.run(
            ["text2wave", "-o", str(path), "-eval", f"(voice_{voice['voice']})"],
            input=text.encode(), check=True)
    elif voice["engine"] == "flite":
        subprocess.run(["flite", "-voice", voice["voice"], "-t", text, "-o", str(path)], check=True)
    else:
        sys.exit(f"unknown engine {voice['engine']}")


def to_phone_band(src, dst):
    subprocess.run(["sox", str(src), "-b", "16", "-c", "1", str(dst),
                    "rate", "-v", str(RATE), "sinc", "200-3400", "norm", "-3"], check=True)


def rms(frame):
    return (sum(s * s for s in frame) / len(frame)) ** 0.5


def tidy(samples):
    frames = [samples[i:i + FRAME] for i in range(0, len(samples) - FRAME + 1, FRAME)]
    voiced = [rms(f) > GATE for f in frames]
    if not any(voiced):
        sys.exit("a line came out silent")
    first = max(voiced.index(True) - EDGE_FRAMES, 0)
    last = min(len(voiced) - voiced[::-1].index(True) + EDGE_FRAMES, len(frames))
    out, pause = array.array("h"), 0
    for f, v in zip(frames[first:last], voiced[first:last]):
        pause = 0 if v else pause + 1
        if pause <= MAX_PAUSE_FRAMES:
            out.extend(f)
    return out


def main():
    out_dir = pathlib.Path(sys.argv[1]) if len(sys.argv) > 1 else ROOT / "assets" / "demo"
    out_dir.mkdir(parents=True, exist_ok=True)
    spec = json.loads((ROOT / "assets" / "demo" / "lines.json").read_text())
    total = 0
    for line in spec["lines"]:
        with tempfile.TemporaryDirectory() as tmp:
            raw, band = pathlib.Path(tmp, "raw.wav"), pathlib.Path(tmp, "band.wav")
            synthesize(spec["voices"][line["voice"]], line["text"], raw)
            to_phone_band(raw, band)
            with wave.open(str(band)) as w:
                samples = array.array("h", w.readframes(w.getnframes()))
        if sys.byteorder != "little":
            samples.byteswap()
        pcm = tidy(samples)
        if sys.byteorder != "little":
            pcm.byteswap()
        dst = out_dir / f"{line['id']}.wav"
        with wave.open(str(dst), "wb") as w:
            w.setnchannels(1)
            w.setsampwidth(2)
            w.setframerate(RATE)
            w.writeframes(pcm.tobytes())
        total += dst.stat().st_size
        print(f"{dst.name:18} {len(pcm) / RATE:5.2f} s  {line['text']}")
    print(f"{len(spec['lines'])} lines, {total} bytes in {out_dir}")


if __name__ == "__main__":
    main()

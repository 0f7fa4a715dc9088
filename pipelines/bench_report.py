"""The HTML report on a long meeting: file size, render time, and how the page behaves in headless Chromium.

Builds a synthetic transcript of the given length (speakers taking turns of 1-12 s (``--longest-turn``) at about 2.5
words per second, a fifth of the turns starting over the previous one, short pauses that split the
diarization) and a synthetic recording of the same length (quiet noise, 16 kHz mono FLAC, written
block by block), renders the report with the audio embedded and linked, and opens each page in
headless Chromium (the flags of tests/test_report.py). Prints, per page: file size, render seconds,
time to DOMContentLoaded and load, time until the audio is ready, DOM elements, JS heap, time for the
search box to show its results (it waits 150 ms after typing on long transcripts), time for a click on
a turn to seek, and the mean and worst frame time while scrolling the transcript from top to bottom.

    python pipelines/bench_report.py --minutes 120 --speakers 6
"""

from __future__ import annotations

import argparse
import tempfile
import time
from pathlib import Path

import numpy as np
import soundfile as sf

from meetsep.core.intervals import inside, overlapping_parts
from meetsep.schema import ChannelLayout, SpeakerSegment, TimeSpan, Transcript, Word
from meetsep.stages.transcript import build_turns

VOCABULARY = (
    "the we project budget meeting schedule customer design team next week review release plan data report "
    "agree think should could would maybe really good problem issue question answer today tomorrow number"
).split()
FLAGS = [
    "--headless=new", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
    "--disable-background-networking", "--disable-component-update", "--disable-sync",
]  # fmt: skip


def synthetic_transcript(minutes: float, speakers: int, longest_turn: float = 12.0, seed: int = 0) -> Transcript:
    rng = np.random.default_rng(seed)
    duration = minutes * 60
    names = [f"SPEAKER_{i:02d}" for i in range(speakers)]
    words, segments, cursor, previous = [], [], 0.5, -1
    while True:
        who = int(rng.integers(speakers - 1))
        who = who + (who >= previous) if previous >= 0 else who
        length = float(rng.uniform(1, longest_turn))
        start = cursor - float(rng.uniform(0.3, 1.5)) if previous >= 0 and rng.random() < 0.2 else cursor
        if start + length > duration - 0.5:
            break
        time_, piece_start = start, start
        while time_ < start + length:
            word_length = float(rng.uniform(0.15, 0.55))
            text = VOCABULARY[int(rng.integers(len(VOCABULARY)))]
            words.append(
                Word(
                    text=text,
                    start=round(time_, 3),
                    end=round(time_ + word_length, 3),
                    speaker=names[who],
                    probability=0.9,
                )
            )
            time_ += word_length + float(rng.uniform(0.02, 0.12))
            if rng.random() < 0.05:  # a breath: the diarization splits here
                segments.append(SpeakerSegment(speaker=names[who], start=round(piece_start, 3), end=round(time_, 3)))
                time_ += float(rng.uniform(0.3, 0.8))
                piece_start = time_
        segments.append(SpeakerSegment(speaker=names[who], start=round(piece_start, 3), end=round(time_, 3)))
        cursor, previous = time_ + float(rng.uniform(0.2, 1.5)), who
    overlaps = overlapping_parts(segments)
    middles = np.array([(w.start + w.end) / 2 for w in words])
    flags = inside(middles, np.array(overlaps).reshape(-1, 2))
    words = [w.model_copy(update={"overlap": bool(o)}) for w, o in zip(words, flags)]
    return Transcript(
        session_id=f"synthetic-{minutes:g}min",
        duration=duration,
        layout=ChannelLayout.ARRAY,
        language="en",
        speakers=names,
        turns=build_turns(words),
        diarization=sorted(segments, key=lambda s: (s.start, s.speaker)),
        overlaps=[TimeSpan(start=a, end=b) for a, b in overlaps],
        meetsep_version="bench",
        config_hash="bench",
    )


def synthetic_audio(path: Path, minutes: float, rate: int = 16000) -> None:
    rng = np.random.default_rng(1)
    with sf.SoundFile(str(path), "w", rate, 1, format="FLAC", subtype="PCM_16") as out:
        for _ in range(int(minutes)):
            out.write((0.01 * rng.standard_normal(60 * rate)).astype(np.float32))


MEASURE_SCROLL = """
const done = arguments[arguments.length - 1];
const times = []; let last = performance.now(); let step = 0;
const list = document.getElementById('turns'); const top = list.getBoundingClientRect().top + window.scrollY;
const steps = 60, span = list.scrollHeight;
function frame(now) {
  times.push(now - last); last = now;
  if (step++ < steps) { window.scrollTo(0, top + span * step / steps); requestAnimationFrame(frame); }
  else { times.shift(); done([times.reduce((a, b) => a + b, 0) / times.length, Math.max(...times)]); }
}
requestAnimationFrame(frame);
"""
MEASURE_SEARCH = """
const done = arguments[arguments.length - 1];
const shown = document.getElementById('shown'); const before = shown.textContent;
const search = document.getElementById('search'); const began = performance.now();
search.value = arguments[0]; search.dispatchEvent(new Event('input'));
(function wait() { if (shown.textContent !== before) done([performance.now() - began, shown.textContent]); else setTimeout(wait, 1); })();
"""


def measure(page: Path) -> dict:
    from selenium import webdriver
    from selenium.webdriver.chrome.service import Service
    from selenium.webdriver.common.by import By
    from selenium.webdriver.support.ui import WebDriverWait

    options = webdriver.ChromeOptions()
    options.binary_location = "/usr/bin/chromium"
    for flag in [*FLAGS, f"--user-data-dir={tempfile.mkdtemp()}", "--window-size=1280,1000"]:
        options.add_argument(flag)
    options.set_capability("goog:loggingPrefs", {"browser": "ALL"})
    driver = webdriver.Chrome(options=options, service=Service("/usr/bin/chromedriver"))
    driver.set_script_timeout(120)
    try:
        began = time.perf_counter()
        driver.get(page.resolve().as_uri())
        WebDriverWait(driver, 300, poll_frequency=0.02).until(
            lambda d: d.execute_script("return document.getElementById('audio').readyState >= 1")
        )
        audio_ready = time.perf_counter() - began
        timing = driver.execute_script(
            "const n = performance.getEntriesByType('navigation')[0];"
            "return [n.domContentLoadedEventEnd, n.loadEventEnd, document.getElementsByTagName('*').length,"
            " performance.memory.usedJSHeapSize]"
        )
        search_ms, search_text = driver.execute_async_script(MEASURE_SEARCH, "budget review")
        driver.execute_async_script(MEASURE_SEARCH, "")
        rows = driver.find_elements(By.CSS_SELECTOR, "#turns li")
        row = rows[len(rows) // 2]
        driver.execute_script("arguments[0].scrollIntoView({block: 'center'})", row)
        clicked = time.perf_counter()
        row.click()
        seek_ms = 1000 * (time.perf_counter() - clicked)
        seek_error = abs(
            driver.execute_script("return document.getElementById('audio').currentTime")
            - float(row.get_attribute("data-t"))
        )
        driver.execute_script("document.getElementById('audio').pause(); window.scrollTo(0, 0)")
        frame_mean, frame_worst = driver.execute_async_script(MEASURE_SCROLL)
        errors = [e for e in driver.get_log("browser") if e["level"] == "SEVERE"]
    finally:
        driver.quit()
    return dict(
        dom_content_loaded_ms=round(timing[0]),
        load_ms=round(timing[1]),
        audio_ready_s=round(audio_ready, 2),
        elements=timing[2],
        js_heap_mb=round(timing[3] / 2**20, 1),
        search_ms=round(search_ms),
        search_result=search_text,
        click_seek_ms=round(seek_ms),
        seek_error_s=round(seek_error, 3),
        scroll_frame_mean_ms=round(frame_mean, 1),
        scroll_frame_worst_ms=round(frame_worst, 1),
        console_errors=len(errors),
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--minutes", type=float, default=120)
    parser.add_argument("--speakers", type=int, default=6)
    parser.add_argument("--longest-turn", type=float, default=12.0, help="Turns last 1 s to this many seconds.")
    parser.add_argument("--linked-only", action="store_true", help="Skip the page with the audio embedded.")
    parser.add_argument("--out", type=Path, default=Path("build/bench_report"))
    args = parser.parse_args()
    from meetsep.outputs import write_page

    args.out.mkdir(parents=True, exist_ok=True)
    transcript = synthetic_transcript(args.minutes, args.speakers, args.longest_turn)
    audio = args.out / "audio.flac"
    if not audio.exists():
        synthetic_audio(audio, args.minutes)
    print(
        f"transcript: {args.minutes:g} min, {len(transcript.speakers)} speakers, {len(transcript.turns)} turns, "
        f"{len(transcript.words)} words, {len(transcript.diarization)} diarization segments, {len(transcript.overlaps)} overlaps"
    )
    for name, link in (("embedded", False), ("linked", True))[args.linked_only :]:
        page = args.out / f"report-{name}.html"
        began = time.perf_counter()
        write_page(transcript, page, audio, link_audio=link)
        render = time.perf_counter() - began
        print(f"{name}: {page.stat().st_size / 2**20:.1f} MB, rendered in {render:.1f} s")
        for key, value in measure(page).items():
            print(f"  {key}: {value}")


if __name__ == "__main__":
    main()

"""The HTML report: self-contained and repeatable, the audio embedded, and checked in a real headless
Chromium (Debian's chromium and chromedriver, which scripts/setup.sh installs): no console errors, one
timeline lane per speaker, a click on a turn or on the timeline seeks the audio, the search box
filters; screenshots go to build/report/ for a person to look at."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

import numpy as np
import pytest
import soundfile as sf

from meetsep.analysis.report import LOW_COUNT_CONFIDENCE, encode_audio, render_report
from meetsep.core.intervals import overlapping_parts
from meetsep.io.formats import write_transcript
from meetsep.outputs import write_outputs
from meetsep.schema import ChannelLayout, SpeakerSegment, TimeSpan, Transcript, Word
from meetsep.stages.transcript import build_turns

ROOT = Path(__file__).resolve().parents[2]
EXAMPLE = ROOT / "examples" / "meeting"
SCREENSHOTS = ROOT / "build" / "report"
MEETSEP = [sys.executable, "-m", "meetsep.cli"]
CHROME_FLAGS = [
    "--headless=new",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]  # fmt: skip  (without the background-networking flags Chromium stalls on a closed network)


def transcript_from_reference(entries: list[dict], duration: float, session_id: str = "mix") -> Transcript:
    """A transcript whose words are the reference's, spread evenly over each entry."""
    segments = [SpeakerSegment(speaker=e["speaker"], start=e["start_time"], end=e["end_time"]) for e in entries]
    overlaps = overlapping_parts(segments)
    words = []
    for entry in entries:
        texts = entry["words"].split()
        step = (entry["end_time"] - entry["start_time"]) / len(texts)
        for index, text in enumerate(texts):
            start = round(entry["start_time"] + index * step, 3)
            inside = any(a < start + 0.9 * step and start < b for a, b in overlaps)
            words.append(
                Word(
                    text=text,
                    start=start,
                    end=round(start + 0.9 * step, 3),
                    speaker=entry["speaker"],
                    probability=1.0,
                    overlap=inside,
                )
            )
    return Transcript(
        session_id=session_id,
        duration=duration,
        layout=ChannelLayout.ARRAY,
        language="en",
        speakers=sorted({e["speaker"] for e in entries}),
        turns=build_turns(words),
        diarization=segments,
        overlaps=[TimeSpan(start=a, end=b) for a, b in overlaps],
        meetsep_version="0",
        config_hash="reference",
    )


@pytest.fixture(scope="module")
def example_reference() -> Transcript:
    return transcript_from_reference(json.loads((EXAMPLE / "reference.seglst.json").read_text()), 37.7)


# ---------------------------------------------------------------------------- the page itself


def test_page_is_self_contained_escaped_and_repeatable(example_reference):
    tricky = example_reference.model_copy(
        update={"turns": [example_reference.turns[0].model_copy(update={"text": "<script>alert(1)</script> & co"})]}
    )
    audio = b"ID3 not really mp3"
    page = render_report(tricky, audio=audio)
    assert page == render_report(tricky, audio=audio)
    assert "<script>alert(1)" not in page and "&lt;script&gt;alert(1)&lt;/script&gt; &amp; co" in page
    for external in ("http://", "https://", 'src="//', "@import", "url("):
        assert external not in page
    assert page.count('<g class="lane"') == len(tricky.speakers) == 3
    assert "Content-Security-Policy" in page and "default-src 'none'" in page


@pytest.mark.parametrize("confidence", [None, 0.05, 0.49, 0.5, 0.9])
def test_an_uncertain_speaker_count_is_said_on_the_page(example_reference, confidence):
    """Below LOW_COUNT_CONFIDENCE the page says the count may be wrong and what to do; above it, or when
    the count was given (no confidence), nothing."""
    told = example_reference.model_copy(update={"speaker_count_confidence": confidence})
    page = render_report(told)
    low = confidence is not None and confidence < LOW_COUNT_CONFIDENCE
    assert ('id="count-note"' in page) == low
    if low:
        assert f"count confidence {confidence:.2f}" in page and "--num-speakers" in page
        assert "The number of speakers (3) is uncertain" in page


def test_audio_is_a_mono_mp3_of_the_recording(tmp_path):
    rate = 44100
    tone = (0.3 * np.sin(2 * np.pi * 440 * np.arange(int(2.5 * rate)) / rate)).astype(np.float32)
    stereo = tmp_path / "stereo.wav"
    sf.write(str(stereo), np.stack([tone, -0.5 * tone]).T, rate)
    encoded = tmp_path / "out.mp3"
    encoded.write_bytes(encode_audio(stereo))
    decoded, decoded_rate = sf.read(str(encoded), dtype="float32")
    assert decoded.ndim == 1 and decoded_rate == 16000
    assert abs(len(decoded) / decoded_rate - 2.5) < 0.1
    assert abs(np.sqrt(np.mean(decoded[8000:-8000] ** 2)) - 0.25 * 0.3 / np.sqrt(2)) < 0.02  # channel average
    assert encode_audio(stereo) == encoded.read_bytes()
    example = tmp_path / "example.mp3"  # 4 channels at 16 kHz
    example.write_bytes(encode_audio(EXAMPLE / "mix.flac"))
    assert sf.info(str(example)).channels == 1 and abs(sf.info(str(example)).duration - 37.7) < 0.1
    assert example.stat().st_size < 37.7 * 3100  # 24 kbit/s


def test_html_is_an_output_format_that_needs_the_audio(tmp_path, example_reference):
    with pytest.raises(ValueError, match="needs the audio"):
        write_transcript(example_reference, tmp_path, ["json", "html"])
    assert not any(tmp_path.iterdir())
    written = write_outputs(example_reference, tmp_path, ["json", "html"], audio_path=EXAMPLE / "mix.flac")
    assert [p.name for p in written] == ["mix.json", "mix.html"]
    assert 'id="audio-data"' in (tmp_path / "mix.html").read_text()


def test_report_command_errors_are_one_line(tmp_path):
    bad = tmp_path / "bad.json"
    bad.write_text('{"turns": []}')
    result = subprocess.run(
        [*MEETSEP, "report", str(bad), "--out", str(tmp_path / "r.html")], capture_output=True, text=True
    )
    assert result.returncode == 1 and result.stderr.startswith(f"meetsep: error: {bad}: not a meetsep transcript JSON")
    assert len(result.stderr.splitlines()) == 1 and not (tmp_path / "r.html").exists()


# ---------------------------------------------------------------------------- in a real browser


@pytest.fixture(scope="module")
def browser():
    """Headless Chromium driven by selenium. Skips only outside CI and only when chromium is absent."""
    in_ci = os.environ.get("CI", "").lower() in ("1", "true", "yes")
    binary, driver_binary = shutil.which("chromium"), shutil.which("chromedriver")
    if binary is None or driver_binary is None:
        reason = "chromium and chromium-driver are not installed (scripts/setup.sh installs them)"
        if in_ci:
            pytest.fail(reason)
        pytest.skip(reason)
    from selenium import webdriver
    from selenium.webdriver.chrome.service import Service

    options = webdriver.ChromeOptions()
    options.binary_location = binary
    profile = tempfile.mkdtemp(prefix="meetsep-chromium-")
    for flag in [*CHROME_FLAGS, f"--user-data-dir={profile}", "--window-size=1280,1000"]:
        options.add_argument(flag)
    options.set_capability("goog:loggingPrefs", {"browser": "ALL"})
    driver = webdriver.Chrome(options=options, service=Service(driver_binary))  # a failure to start fails the tests
    yield driver
    driver.quit()
    shutil.rmtree(profile, ignore_errors=True)


def current_time(driver) -> float:
    return driver.execute_script("return document.getElementById('audio').currentTime")


def check_in_browser(driver, page: Path, speakers: list[str], screenshot: Path) -> None:
    from selenium.webdriver.common.action_chains import ActionChains
    from selenium.webdriver.common.by import By
    from selenium.webdriver.support.ui import WebDriverWait

    driver.get_log("browser")  # drop what an earlier page logged
    driver.get(page.as_uri())
    WebDriverWait(driver, 30).until(
        lambda d: d.execute_script(
            "return document.body.dataset.ready === '1' && document.getElementById('audio').readyState >= 1"
        )
    )
    lanes = driver.find_elements(By.CSS_SELECTOR, "#tl g.lane")
    assert [lane.get_attribute("data-speaker") for lane in lanes] == speakers
    assert driver.execute_script("return document.getElementById('audio').duration") == pytest.approx(37.7, abs=0.2)
    rows = driver.find_elements(By.CSS_SELECTOR, "#turns li")
    for row in (rows[len(rows) // 2], rows[-1]):  # a click on a turn seeks the audio to its start
        driver.execute_script("arguments[0].scrollIntoView({block: 'center'})", row)
        row.click()
        assert current_time(driver) == pytest.approx(float(row.get_attribute("data-t")), abs=0.25)
    timeline = driver.find_element(By.ID, "tl")
    driver.execute_script("arguments[0].scrollIntoView({block: 'center'})", timeline)
    ActionChains(driver).move_to_element_with_offset(timeline, timeline.size["width"] // 4, 0).click().perform()
    assert current_time(driver) == pytest.approx(0.75 * float(timeline.get_attribute("data-duration")), abs=0.5)
    driver.execute_script("document.getElementById('audio').pause()")
    word = "meeting"
    search = driver.find_element(By.ID, "search")
    search.send_keys(word)
    WebDriverWait(driver, 5).until(lambda d: "of" in d.find_element(By.ID, "shown").text)
    shown = [row for row in rows if row.is_displayed()]
    assert 0 < len(shown) < len(rows) and all(word in row.text.lower() for row in shown)
    assert sum(word in row.get_attribute("textContent").lower() for row in rows) == len(shown)
    search.clear()
    search.send_keys(" ")  # an input event with an empty query shows every turn again
    WebDriverWait(driver, 5).until(lambda d: len([r for r in rows if r.is_displayed()]) == len(rows))
    driver.execute_script("window.scrollTo(0, 0)")
    height = driver.execute_script("return document.documentElement.scrollHeight")
    driver.set_window_size(1280, min(height + 140, 4000))
    screenshot.parent.mkdir(parents=True, exist_ok=True)
    assert driver.save_screenshot(str(screenshot))
    errors = [entry for entry in driver.get_log("browser") if entry["level"] == "SEVERE"]
    assert not errors, errors
    driver.set_window_size(1280, 1000)


def test_reference_report_in_the_browser(browser, tmp_path, example_reference):
    transcript = tmp_path / "mix.json"
    write_transcript(example_reference, tmp_path, ["json"])
    page = tmp_path / "report.html"
    result = subprocess.run(
        [*MEETSEP, "report", str(transcript), "--audio", str(EXAMPLE / "mix.flac"), "--out", str(page)],
        capture_output=True,
        text=True,
    )
    assert result.returncode == 0, result.stderr
    check_in_browser(browser, page, ["spk0", "spk1", "spk2"], SCREENSHOTS / "reference.png")


@pytest.mark.integration
def test_bundled_example_report_in_the_browser(browser, tmp_path):
    """The real pipeline on the bundled example, --format html and --analytics, opened offline."""
    out = tmp_path / "out"
    result = subprocess.run(
        [*MEETSEP, "transcribe", str(EXAMPLE / "mix.flac"), "--config", "meeting_array", "--out", str(out)]
        + ["--format", "json,html", "--analytics"],
        capture_output=True,
        text=True,
        timeout=600,
    )
    assert result.returncode == 0, result.stderr
    transcript = Transcript.model_validate_json((out / "mix.json").read_text())
    analytics = transcript.metadata["analytics"]
    assert [s["speaker"] for s in analytics["speakers"]] == transcript.speakers
    assert 30 < analytics["speech_seconds"] <= transcript.duration
    check_in_browser(browser, out / "mix.html", transcript.speakers, SCREENSHOTS / "example.png")

"""End to end with the real shipped weights (segmentation-3.0, CAM++, Whisper tiny.en): no mocks."""

from __future__ import annotations

import json

import numpy as np
import pytest

import meetsep
from meetsep.evaluate import score_session
from meetsep.formats import seglst_entries, to_json
from meetsep.hooks import TimingHook

pytestmark = pytest.mark.integration

FAST = {"asr.model": "tiny.en", "asr.beam_size": 1}


def test_two_speakers_with_overlap(two_speaker_mix):
    timing = TimingHook()
    transcript = meetsep.transcribe(two_speaker_mix.path, overrides=FAST, hook=timing)
    assert set(timing.seconds) == {"beamform", "segment", "asr", "attribute"}
    assert transcript.layout is meetsep.ChannelLayout.MONO and len(transcript.speakers) == 2
    scores = score_session(two_speaker_mix.reference, seglst_entries(transcript))
    assert scores.cpwer <= 0.2, scores
    # the real overlap is turn 2's first second; it must be found and its words flagged
    first_end = two_speaker_mix.reference[0]["end_time"]
    assert any(o.start < first_end and o.end > first_end - 1.0 for o in transcript.overlaps)
    assert any(w.overlap for w in transcript.words) and not all(w.overlap for w in transcript.words)


def test_same_input_same_bytes(two_speaker_mix):
    import soundfile as sf

    first = to_json(meetsep.transcribe(two_speaker_mix.path, overrides=FAST))
    assert to_json(meetsep.transcribe(two_speaker_mix.path, overrides=FAST)) == first
    samples, rate = sf.read(str(two_speaker_mix.path), dtype="float32")
    from_array = meetsep.transcribe(samples, sample_rate=rate, overrides=FAST)
    assert to_json(from_array.model_copy(update={"session_id": "mix"})) == first


def test_forced_speaker_count(two_speaker_mix):
    transcript = meetsep.transcribe(two_speaker_mix.path, num_speakers=1, overrides=FAST)
    assert transcript.speakers == ["SPEAKER_00"]


def test_call_center_stereo_attributes_by_channel_without_duplicates(call_center):
    config = meetsep.load_config(["call_center_stereo"], FAST)
    transcript = meetsep.Pipeline(config)(call_center.path)
    assert transcript.speakers == ["agent", "customer"]
    scores = score_session(call_center.reference, seglst_entries(transcript))
    # crosstalk at -25 dB is audible on the other channel: transcribing it twice would add insertions
    assert scores.cpwer <= 0.1, scores


def test_silence_gives_an_empty_transcript():
    transcript = meetsep.transcribe(np.zeros((1, 16000 * 5), dtype=np.float32), sample_rate=16000, overrides=FAST)
    assert transcript.turns == [] and transcript.speakers == [] and transcript.duration == 5.0
    assert json.loads(to_json(transcript))["turns"] == []


def test_openai_whisper_backend_gives_the_same_words_as_faster_whisper_float32(two_speaker_mix, tmp_path):
    common = {
        "asr.model": "tiny.en",
        "asr.beam_size": 1,
        "asr.compute_type": "float32",
        "runtime.model_dir": str(tmp_path),
    }
    faster = meetsep.transcribe(two_speaker_mix.path, overrides={**common, "asr.kind": "faster-whisper"})
    openai = meetsep.transcribe(two_speaker_mix.path, overrides={**common, "asr.kind": "openai-whisper"})
    assert (tmp_path / "whisper-tiny.en-openai.pt").is_file()  # converted once into the model folder
    assert [w.text for w in openai.words] == [w.text for w in faster.words] and len(faster.words) > 20
    assert max(abs(a.start - b.start) for a, b in zip(openai.words, faster.words)) < 0.3


EXAMPLE = __import__("pathlib").Path(__file__).resolve().parent.parent / "examples" / "meeting"


def test_example_through_the_cli_finds_three_speakers(tmp_path):
    import subprocess
    import sys

    result = subprocess.run(
        [
            sys.executable,
            "-m",
            "meetsep.cli",
            "transcribe",
            str(EXAMPLE / "mix.flac"),
            "--out",
            str(tmp_path),
            "--format",
            "seglst,rttm,srt",
        ],
        capture_output=True,
        text=True,
        timeout=900,
    )
    assert result.returncode == 0, result.stderr
    assert sorted(p.name for p in tmp_path.iterdir()) == ["mix.rttm", "mix.seglst.json", "mix.srt"]
    speakers = {line.split()[7] for line in (tmp_path / "mix.rttm").read_text().splitlines()}
    assert len(speakers) == 3
    scores = score_session(
        json.loads((EXAMPLE / "reference.seglst.json").read_text()),
        json.loads((tmp_path / "mix.seglst.json").read_text()),
    )
    assert scores.cpwer < 0.3, scores  # measured 13.7 % with GSS (54.0 % without separation)

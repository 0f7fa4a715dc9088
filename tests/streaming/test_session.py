"""Live sessions: events in order (partial before final, finals never retracted), the end transcript,
bad input refused in one line, and emitted times from the session's clock."""

from __future__ import annotations

import numpy as np
import pytest
import soundfile as sf

from meetsep.core.errors import AudioInputError
from meetsep.streaming import LiveSession

pytestmark = pytest.mark.integration


class FakeClock:
    """Advances a fixed amount at every reading: emitted times are known without waiting."""

    def __init__(self, tick: float) -> None:
        self.now, self.tick = 100.0, tick

    def __call__(self) -> float:
        self.now += self.tick
        return self.now


@pytest.fixture(scope="module")
def pipeline():
    import meetsep

    return meetsep.Pipeline(meetsep.load_config([], ["asr.model=tiny.en"]))


def _play(session: LiveSession, audio: np.ndarray, rate: int, seconds: float = 0.5) -> list:
    events = []
    size = int(seconds * rate)
    for start in range(0, len(audio), size):
        events += session.feed(audio[start : start + size])
    last, transcript = session.finish()
    return events + last, transcript


def test_partials_come_before_finals_and_finals_are_never_retracted(pipeline, two_speaker_mix):
    clock = FakeClock(0.25)
    session = LiveSession(pipeline, final="online", clock=clock, session_id="mix")
    events, transcript = _play(session, two_speaker_mix.audio, 16000)
    kinds = [e.type for e in events]
    assert kinds[-1] == "end" and kinds.count("end") == 1 and "final" in kinds and "partial" in kinds
    finals = [w for e in events if e.type == "final" for w in e.words]
    assert [w.start for w in finals] == sorted(w.start for w in finals)  # in time order
    assert all(w.speaker.startswith("SPEAKER_") for w in finals)
    # each final word was shown as partial before (the same place in time, its text possibly changed)
    for index, event in enumerate(events):
        if event.type != "final":
            continue
        earlier = [w for e in events[:index] if e.type == "partial" for w in e.words]
        assert all(any(abs(p.start - w.start) < 1.0 for p in earlier) for w in event.words)
    # finals are sent once: no word of a final appears again in a later final
    assert len({(w.start, w.end, w.text) for w in finals}) == len(finals)
    assert [e.emitted for e in events] == sorted(e.emitted for e in events) and events[0].emitted > 0
    assert transcript.words == finals and transcript.session_id == "mix"
    spoken = " ".join(entry["words"] for entry in two_speaker_mix.reference).lower()
    heard = [w.text.strip(".,").lower() for w in finals]
    assert sum(word in spoken for word in heard) >= 0.7 * len(spoken.split())  # most words are heard
    speakers = [e.speaker for e in events if e.type == "speaker"]
    assert speakers[0] == "SPEAKER_00" and len(speakers) == len(set(speakers)) == len(transcript.speakers)


def test_a_session_loads_its_models_before_audio_arrives(two_speaker_mix, monkeypatch):
    """Segmentation, CAM++ and Whisper are loaded (and run once) when the session starts, not while the
    first words wait for them; a second session of the same pipeline does not warm up again."""
    import meetsep
    from meetsep.loading import models
    from meetsep.streaming import session as live

    monkeypatch.setattr(models, "_LOADED", {})  # nothing loaded in this process yet
    fresh = meetsep.Pipeline(meetsep.load_config([], ["asr.model=tiny.en"]))
    session = LiveSession(fresh, final="online", session_id="warm")
    loaded = set(models._LOADED)
    assert all(
        any(key[0].startswith(kind) for key in loaded) for kind in ("segmentation", "embedding", "faster-whisper")
    )
    events, _ = _play(session, two_speaker_mix.audio, 16000)
    assert any(e.type == "final" for e in events)
    assert set(models._LOADED) == loaded  # feeding audio loaded nothing more
    calls = []
    monkeypatch.setattr(fresh, "segmenter", lambda *args: calls.append(args))
    live.warm_up(fresh)
    assert not calls  # warmed once per pipeline


def test_the_end_transcript_is_the_offline_one(pipeline, two_speaker_mix):
    session = LiveSession(pipeline, session_id="mix")  # final="offline"
    audio, _ = sf.read(two_speaker_mix.path, dtype="float32")  # the file's samples, as the offline run reads them
    _, transcript = _play(session, audio, 16000, seconds=3.0)
    offline = pipeline(two_speaker_mix.path, session_id="mix")
    assert transcript.model_dump_json() == offline.model_dump_json()


def test_stereo_chunks_at_8_khz_and_bad_input(pipeline, call_center, tmp_path):
    audio, rate = sf.read(call_center.path, dtype="float32", always_2d=True)
    session = LiveSession(pipeline, sample_rate=rate, channels=2, final="online")
    with pytest.raises(AudioInputError, match="expected \\(2, samples\\)"):
        session.feed(audio[:, 0])
    with pytest.raises(AudioInputError, match="NaN"):
        session.feed(np.full((2, 100), np.nan, np.float32))
    events, transcript = _play(session, audio.T, rate)
    assert transcript.words and events[-1].type == "end"
    with pytest.raises(AudioInputError, match="finished"):
        session.feed(np.zeros((2, 100), np.float32))
    with pytest.raises(AudioInputError, match="sample rate"):
        LiveSession(pipeline, sample_rate=100)

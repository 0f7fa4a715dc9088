"""Real people (recordings from Debian packages, meetsep.sim.real_speech), not synthetic voices.

A real voice varies from turn to turn about as much as two TTS voices differ; these check that the
chain neither splits one person nor joins two. Only the dev voices are used (held-out ones report).
"""

from __future__ import annotations

import os

import numpy as np
import pytest

from meetsep.sim import real_speech

IN_CI = os.environ.get("CI", "").lower() in ("1", "true", "yes")
if not real_speech.available():
    if IN_CI:
        raise RuntimeError(f"real voices missing: scripts/setup.sh installs {', '.join(real_speech.PACKAGES)}")
    pytest.skip("real voices not installed (scripts/setup.sh installs them)", allow_module_level=True)


def test_utterances_are_cut_at_pauses_and_used_voices_are_dev_or_heldout_only():
    quiet = np.zeros(16000, np.float32)
    tone = 0.1 * np.sin(2 * np.pi * 200 * np.arange(16000 * 2) / 16000).astype(np.float32)
    pieces = real_speech.split_at_pauses(np.concatenate([quiet, tone, quiet, tone[:16000], quiet, tone[:4000]]))
    assert [round(len(p) / 16000, 1) for p in pieces] == [2.0, 1.0]  # the 0.25 s burst is too short
    assert set(real_speech.voices("dev")).isdisjoint(real_speech.voices("heldout"))
    for voice in real_speech.voices():
        sources = {u.source.split("#")[0].split("/")[-1] for u in real_speech.utterances(voice)}
        assert not sources & real_speech.RESERVED


def test_allison_prompts_come_with_their_words():
    known = [u for u in real_speech.utterances("allison") if u.text]
    assert len(known) > 300
    assert all(0.8 <= len(u.audio) / 16000 <= 8.0 for u in known)


def test_the_game_dialogs_give_two_dev_people_of_about_25_minutes_each():
    """Fish Fillets NG's two fish in Dutch: one character each, whole lines."""
    for name in ("nl_bigfish", "nl_smallfish"):
        voice, said = real_speech.VOICES[name], real_speech.utterances(name)
        assert voice.split == "dev" and name in real_speech.voices("dev")
        assert sum(len(u.audio) for u in said) / 16000 > 20 * 60
        assert all(0.8 <= len(u.audio) / 16000 <= 8.0 for u in said)
        assert all(f"-{voice.fillets}-" in u.source and u.text is None for u in said)


def test_a_real_session_made_before_a_voice_joined_is_made_again(tmp_path):
    """Real sessions draw from every voice of their split: a session on disk from a smaller pool is stale."""
    import json

    from meetsep.sim.corpora import make_corpus

    (session,) = make_corpus("real", tmp_path, {"dev_real_short_02"})
    meta = json.loads((session / "meta.json").read_text())
    assert meta["real_voices"] == real_speech.voices("dev")
    first = (session / "mix.flac").read_bytes()
    (session / "meta.json").write_text(json.dumps(dict(meta, real_voices=meta["real_voices"][:-1])))
    make_corpus("real", tmp_path, {"dev_real_short_02"})
    assert json.loads((session / "meta.json").read_text())["real_voices"] == real_speech.voices("dev")
    assert (session / "mix.flac").read_bytes() == first  # the same plan and pool: the same session


def _ve9qrp() -> np.ndarray:
    from meetsep.io.audio import resample

    audio = np.fromfile(real_speech.CODEC2 / "ve9qrp.raw", dtype="<i2").astype(np.float32) / 32768.0
    return resample(audio, 8000, 16000)


def _speakers(path, layout: str):  # noqa: ANN001
    import meetsep

    pipeline = meetsep.Pipeline(meetsep.load_config([], ["asr.model=tiny.en"]))
    return pipeline(path, layout=layout)


@pytest.mark.integration
def test_one_real_voice_through_a_phone_is_one_speaker(tmp_path):
    """ve9qrp (112 s, one man on an amateur-radio link) through a telephone line, on one channel."""
    import soundfile as sf

    from meetsep.sim.degrade import apply_channel

    sf.write(tmp_path / "phone.wav", apply_channel(_ve9qrp(), "telephone") * 0.5, 16000)
    transcript = _speakers(tmp_path / "phone.wav", "mono")
    assert len({segment.speaker for segment in transcript.diarization}) == 1


@pytest.mark.integration
def test_one_real_voice_in_a_room_is_one_speaker(tmp_path):
    """ve9qrp in a reverberant room (RT60 0.5 s) heard by a 4-microphone array, with noise."""
    import pyroomacoustics as pra
    import soundfile as sf

    pra.constants.set("num_threads", 1)
    absorption, order = pra.inverse_sabine(0.5, [6.0, 5.0, 3.0])
    room = pra.ShoeBox([6.0, 5.0, 3.0], fs=16000, materials=pra.Material(absorption), max_order=order)
    room.add_microphone_array(np.vstack([pra.circular_2D_array([3.0, 2.5], 4, 0.0, 0.05), np.full(4, 1.2)]))
    voice = _ve9qrp()
    room.add_source([4.5, 3.2, 1.5], signal=voice)
    room.simulate()
    audio = room.mic_array.signals[:, : len(voice)]
    audio = audio + np.sqrt(np.mean(audio**2) / 10**1.5) * np.random.default_rng(0).standard_normal(audio.shape)
    sf.write(tmp_path / "room.flac", (0.5 * audio / np.abs(audio).max()).T, 16000)
    transcript = _speakers(tmp_path / "room.flac", "array")
    assert len({segment.speaker for segment in transcript.diarization}) == 1


@pytest.fixture(scope="module")
def real_call_scores(tmp_path_factory):
    """Two real people (Carlo and Paola, Asterisk's Italian prompts) on a phone call recorded on one
    channel, each through their own codec, 20 turns with a little overlap: the default chain's scores."""
    from meetsep.analysis.evaluate import score_session
    from meetsep.sim.simulate import SimulationConfig, simulate_meeting, write_meeting

    folder = tmp_path_factory.mktemp("call")
    settings = dict(mode="phone-call", voices=["real:carlo", "real:menardi"], num_sentences=20, degrade=True)
    call = simulate_meeting(SimulationConfig(seed=1, overlap_ratio=0.05, snr_db=20.0, **settings), "call")
    write_meeting(call, folder)
    transcript = _speakers(folder / "mix.flac", "mono")
    hypothesis = [dict(speaker=s.speaker, start_time=s.start, end_time=s.end) for s in transcript.diarization]
    return score_session(call.reference, [dict(h, words="") for h in hypothesis], hypothesis, session_id="call")


@pytest.mark.integration
def test_a_two_person_real_call_on_one_channel_is_two_speakers(real_call_scores):
    assert real_call_scores.hypothesis_speakers == 2


@pytest.mark.integration
@pytest.mark.xfail(
    strict=True,
    reason="open target of the real-voices work: this call's DER is 20.9 % with the defaults (2 speakers found); "
    "on the dev real calls most of the DER is speech the segmentation misses (DER 15.0 % with every unit given "
    "its true speaker)",
)
def test_a_two_person_real_call_on_one_channel_has_der_at_most_15_percent(real_call_scores):
    assert real_call_scores.der <= 0.15

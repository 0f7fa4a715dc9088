"""Call-center stereo: one speaker per channel, crosstalk is nobody's speech."""

from __future__ import annotations

import numpy as np

from meetsep.core.records import RecognizedWord
from meetsep.stages.channels import FRAME_SECONDS, attribute_channels, frame_levels_db, own_speech


def rw(text, start, end, speaker=None):
    return RecognizedWord(text=text, start=start, end=end, probability=1.0, stream="mix", speaker=speaker)


def test_crosstalk_is_not_anyones_own_speech_and_words_are_dropped():
    rate = 16000
    t = np.arange(rate * 2) / rate
    speech = (0.3 * np.sin(2 * np.pi * 300 * t)).astype(np.float32)
    left = np.concatenate([speech, np.zeros(rate * 2, np.float32)])
    right = np.concatenate([np.zeros(rate * 2, np.float32), speech])
    leak = 10 ** (-25 / 20)
    stereo = np.stack([left + leak * right, right + leak * left])
    levels = frame_levels_db(stereo, rate)
    dominance = {"agent": levels[0] - levels[1], "customer": levels[1] - levels[0]}
    assert levels.shape == (2, int(4 / FRAME_SECONDS))
    # each channel's VAD fires everywhere (crosstalk is audible); own speech is only where it dominates
    agent_own = own_speech([(0.0, 4.0)], dominance["agent"] > -10)
    customer_own = own_speech([(0.0, 4.0)], dominance["customer"] > -10)
    assert len(agent_own) == 1 and abs(agent_own[0][1] - 2.0) < 0.2
    assert len(customer_own) == 1 and abs(customer_own[0][0] - 2.0) < 0.2
    words = [rw("hello", 0.5, 0.9, "agent"), rw("hello", 0.5, 0.9, "customer"), rw("bye", 3.0, 3.3, "customer")]
    diarization, kept = attribute_channels(words, {"agent": agent_own, "customer": customer_own}, dominance, 10.0)
    assert [(k.word.text, k.speaker) for k in kept] == [("hello", "agent"), ("bye", "customer")]
    assert diarization.speakers == ["agent", "customer"]


def test_levels_of_signals_read_block_by_block_equal_the_levels_of_the_array(monkeypatch):
    import meetsep.stages.channels as channels_module
    from meetsep.io.audio import SignalFile

    monkeypatch.setattr(channels_module, "BLOCK_FRAMES", 7)
    stereo = np.random.default_rng(0).standard_normal((2, 16000 * 3 + 123)).astype(np.float32)
    files = [SignalFile([channel]) for channel in stereo]
    assert np.array_equal(frame_levels_db(files, 16000), frame_levels_db(stereo, 16000))
    for signal in files:
        signal.close()

"""Speech windows and their packing for Whisper: layout, audio, and mapping words back to recording time."""

from __future__ import annotations

import numpy as np
import pytest

from meetsep.core.records import HeldSpeech, Stream
from meetsep.stages.asr import pack_audio, pack_pieces, speech_windows, unpack_time

RATE = 16000


def ramp_stream(name, speaker, offset, seconds, regions):
    """A stream whose sample value is its own recording time, so packed audio can be checked exactly."""
    audio = (offset + np.arange(int(seconds * RATE)) / RATE).astype(np.float32)
    return Stream(audio, RATE, name, speaker, regions, offset)


def test_pieces_of_one_speaker_are_packed_in_time_order_with_gaps_and_a_cap():
    a1 = ramp_stream("a1", "A", 0.0, 12.0, [(1.0, 5.0)])
    a2 = ramp_stream("a2", "A", 10.0, 30.0, [(11.0, 20.0), (30.0, 37.0)])
    b = ramp_stream("b", "B", 0.0, 40.0, [(2.0, 3.0)])
    packs = pack_pieces([a2, b, a1], max_window=20.0, merge_gap=2.0, padding=0.5, gap=1.0)
    layout = [[(p.stream.name, p.start, p.end, p.offset) for p in pack] for pack in packs]
    assert layout == [
        [("a1", 0.5, 5.5, 0.0), ("a2", 10.5, 20.5, 6.0)],  # 5 s + 1 s gap + 10 s = 16 s <= 20 s
        [("a2", 29.5, 37.5, 0.0)],  # would end at 25 s: a new pack
        [("b", 1.5, 3.5, 0.0)],  # another speaker, its own packs
    ]
    audio = pack_audio(packs[0])
    assert len(audio) == 16 * RATE
    np.testing.assert_allclose(audio[: 5 * RATE][::RATE], [0.5, 1.5, 2.5, 3.5, 4.5], atol=1e-4)
    assert not audio[5 * RATE + 10 : 6 * RATE - 10].any()  # silence between pieces
    np.testing.assert_allclose(audio[6 * RATE], 10.5, atol=1e-4)


def test_padding_never_makes_a_speakers_pieces_overlap():
    first = ramp_stream("x", "A", 0.0, 10.0, [(1.0, 3.0)])
    second = ramp_stream("y", "A", 0.0, 10.0, [(3.2, 5.0)])
    packs = pack_pieces([first, second], max_window=30.0, merge_gap=0.0, padding=0.5, gap=1.0)
    ((one, two),) = packs
    assert one.end == 3.5 and two.start == 3.5  # the second piece starts where the first ends


def test_a_batchs_unfilled_last_pack_is_held_and_filled_by_the_next_batch():
    """Two batches of one recording: each speaker's last pack of the first batch is not decoded alone
    but waits in ``held`` and shares a pack with the second batch's speech; every second of speech
    is packed exactly once, and padding is cut at the held speech's end as within one batch."""
    first = [ramp_stream("a1", "A", 0.0, 10.0, [(1.0, 5.0)]), ramp_stream("b1", "B", 0.0, 10.0, [(2.0, 4.0)])]
    second = [ramp_stream("a2", "A", 5.0, 10.0, [(5.4, 8.0)]), ramp_stream("b2", "B", 290.0, 10.0, [(291.0, 293.0)])]
    options = dict(max_window=30.0, merge_gap=0.0, padding=0.5, gap=1.0)
    held = HeldSpeech()
    assert pack_pieces(first, **options, held=held, hold=True) == []  # both packs wait
    assert [(p.stream.name, p.start, p.end) for p in held.pieces] == [("a1", 0.5, 5.5), ("b1", 1.5, 4.5)]
    packs = pack_pieces(second, **options, held=held)
    layout = [[(p.stream.name, p.start, p.end, p.offset) for p in pack] for pack in packs]
    assert layout == [
        [("a1", 0.5, 5.5, 0.0), ("a2", 5.5, 8.5, 6.0)],  # a2's padding starts where a1's held piece ends
        [("b1", 1.5, 4.5, 0.0), ("b2", 290.5, 293.5, 4.0)],
    ]
    assert held.pieces == [] and held.ends == {"A": 8.5, "B": 293.5}
    # one batch at a time (no carry): four packs, one per speaker and batch, for the same speech
    alone = pack_pieces(first, **options) + pack_pieces(second, **options)
    assert len(alone) == 4 and sum(len(pack) for pack in alone) == 4
    # a held pack that the next speech would overflow is decoded as it is
    held = HeldSpeech()
    pack_pieces([ramp_stream("a1", "A", 0.0, 30.0, [(1.0, 26.0)])], **options, held=held, hold=True)
    packs = pack_pieces([ramp_stream("a2", "A", 30.0, 10.0, [(31.0, 36.0)])], **options, held=held)
    assert [[p.stream.name for p in pack] for pack in packs] == [["a1"], ["a2"]]


def test_words_map_back_to_their_piece_and_stay_inside_it():
    a1 = ramp_stream("a1", "A", 0.0, 12.0, [(1.0, 5.0)])
    a2 = ramp_stream("a2", "A", 10.0, 30.0, [(11.0, 20.0)])
    pack = pack_pieces([a1, a2], max_window=30.0, merge_gap=2.0, padding=0.5, gap=1.0)[0]
    piece, start, end = unpack_time(pack, 2.0, 2.5)
    assert piece.stream.name == "a1" and (start, end) == (2.5, 3.0)
    piece, start, end = unpack_time(pack, 6.5, 7.0)
    assert piece.stream.name == "a2" and (start, end) == (11.0, 11.5)
    piece, start, end = unpack_time(pack, 4.8, 5.6)  # straddles the end of the first piece: kept inside it
    assert piece.stream.name == "a1" and (start, end) == (5.3, 5.5)


@pytest.mark.integration
def test_packs_decoded_at_once_give_the_words_of_one_at_a_time(tts):
    """Several faster-whisper workers (the default on a multi-core machine): same words, same
    language (identified by the vote), same order as one pack at a time."""
    from meetsep.core.config import AsrConfig, RuntimeConfig
    from meetsep.stages.asr import Recognizer, decoder_layout

    lines = [
        "Good morning everyone, thanks for joining.",
        "The design team finished the first version.",
        "Then we can move the testing phase forward.",
        "Let us meet again next week on Tuesday.",
    ]
    streams = []
    for index, (voice, text) in enumerate(zip(["awb", "slt", "rms", "slt"], lines)):
        speech = tts(text, voice)
        audio = np.concatenate([np.zeros(RATE // 2, np.float32), speech, np.zeros(RATE // 2, np.float32)])
        offset = 10.0 * index
        streams.append(
            Stream(
                audio, RATE, f"s{index}", f"spk{index % 3}", [(offset + 0.5, offset + 0.5 + len(speech) / RATE)], offset
            )
        )
    config = AsrConfig(model="base", beam_size=1, language=None)
    results = {
        workers: Recognizer(config, RuntimeConfig(threads=2, asr_workers=workers))(streams) for workers in (1, 2)
    }
    assert decoder_layout(2) == (2, 1) and decoder_layout(8) == (4, 2) and decoder_layout(2, 1) == (1, 2)
    assert results[1].language.code == results[2].language.code == "en"
    assert results[1].words == results[2].words
    spoken = " ".join(word.text.lower() for word in results[2].words)
    assert "morning" in spoken and "tuesday" in spoken
    assert [word.stream for word in results[2].words if word.text.lower().startswith("morning")] == ["s0"]


def test_the_language_vote_encodes_each_voting_pack_once_and_decoding_is_unchanged(tts):
    """The vote's encoder outputs are handed to the decoding of the same packs (faster-whisper): each
    voting pack is encoded once, not twice, and the words are those of decoding in that language alone."""
    from meetsep.core.config import AsrConfig, RuntimeConfig
    from meetsep.loading.encoder_reuse import VoteEncodings, vote_encodings
    from meetsep.stages.asr import Recognizer

    streams = []
    for index, (voice, text) in enumerate(
        [("awb", "We should ship the release on Friday."), ("slt", "Yes, after the review.")]
    ):
        speech = tts(text, voice)
        streams.append(Stream(speech, RATE, f"s{index}", f"spk{index}", [(0.0, len(speech) / RATE)], 0.0))
    runtime = RuntimeConfig(threads=1)
    voting = Recognizer(AsrConfig(model="base", beam_size=1, language=None, language_packs=2), runtime)
    model = voting._model()
    calls = []
    encode = vote_encodings(model).encode
    vote_encodings(model).encode = lambda features: calls.append(features.shape) or encode(features)
    try:
        found = voting(streams)
        hits = vote_encodings(model).hits
        assert isinstance(model.encode, VoteEncodings) and vote_encodings(model) is model.encode
        assert found.language.code == "en" and hits == 2 and len(calls) == 2  # two packs, each encoded once
        pinned = Recognizer(AsrConfig(model="base", beam_size=1, language="en"), runtime)(streams)
        assert len(calls) == 4 and vote_encodings(model).hits == hits  # no vote: each pack encoded when decoded
    finally:
        vote_encodings(model).encode = encode
    assert found.words == pinned.words and "friday" in " ".join(w.text.lower() for w in found.words)


@pytest.mark.integration
def test_short_windows_are_encoded_at_their_own_length_and_keep_the_words(tts):
    """asr.short_windows: a pack of a few seconds reaches the encoder at its own length (whole seconds, with
    TRIM_MARGIN_FRAMES of padding after it), not Whisper's 3000 frames; the words are still found; without
    it, 3000."""
    from meetsep.core.config import AsrConfig, RuntimeConfig
    from meetsep.loading.encoder_reuse import TRIM_MARGIN_FRAMES, vote_encodings
    from meetsep.stages.asr import Recognizer

    speech = tts("We should ship the release on Friday.", "awb")
    streams = [Stream(speech, RATE, "s0", "spk0", [(0.0, len(speech) / RATE)], 0.0)]
    runtime = RuntimeConfig(threads=1)
    short = Recognizer(AsrConfig(model="base", beam_size=1, language="en", short_windows=True), runtime)
    model = short._model()
    encode = vote_encodings(model).encode
    frames = []
    vote_encodings(model).encode = lambda features: frames.append(features.shape[-1]) or encode(features)
    try:
        found = short(streams)
        padded = Recognizer(AsrConfig(model="base", beam_size=1, language="en", short_windows=False), runtime)(streams)
    finally:
        vote_encodings(model).encode = encode
    assert len(frames) == 2 and frames[1] == 3000 and frames[0] % 100 == 0
    least = len(speech) / RATE * 100 + TRIM_MARGIN_FRAMES
    assert least <= frames[0] <= least + 200 and frames[0] < 3000
    for result in (found, padded):  # ("ship" is heard as "shut" / "check")
        assert {"should", "release", "friday"} <= {w.text.lower().strip(".,") for w in result.words}


def test_trimming_keeps_the_audios_frames_and_only_within_the_block():
    from meetsep.loading.encoder_reuse import TRIM_MARGIN_FRAMES, _trimmed, short_windows

    features = np.zeros((80, 3000), np.float32)
    features[:, :1234] = np.random.default_rng(0).normal(size=(80, 1234))
    kept = -(-(1234 + TRIM_MARGIN_FRAMES) // 100) * 100  # the audio's frames and the margin, up to whole seconds
    assert _trimmed(features).shape == (80, 3000)  # outside the block: Whisper's 30 s window
    with short_windows():
        assert _trimmed(features).shape == (80, kept) and kept < 3000
        assert np.array_equal(_trimmed(features), features[:, :kept])
        with short_windows(enabled=False):
            assert _trimmed(features).shape == (80, 3000)
        assert _trimmed(np.ones((1, 80, 3000), np.float32)).shape == (1, 80, 3000)  # a full window stays whole
    assert _trimmed(features).shape == (80, 3000)


def test_speech_windows_merge_and_cap():
    regions = [(0, 5), (6, 10), (13, 20), (20.5, 45), (46, 47), (50, 51)]
    assert speech_windows(regions, max_window=30, merge_gap=2) == [(0, 10), (13, 20), (20.5, 47), (50, 51)]
    assert speech_windows([(0, 50)], max_window=30, merge_gap=2) == [(0, 50)]


class FakeDetector:
    """A Recognizer whose Whisper is replaced by fixed language probabilities per pack (by its first sample)."""

    def __init__(self, recognizer, by_start):
        recognizer._model = lambda: None
        recognizer._language_probabilities = lambda model, audio: by_start[round(float(audio[0]))]


def language_recognizer(**asr):
    from meetsep.core.config import AsrConfig, RuntimeConfig
    from meetsep.stages.asr import Recognizer

    return Recognizer(AsrConfig(model="base", **asr), RuntimeConfig(threads=1))


def test_the_language_vote_ignores_a_wrong_first_pack():
    """One accented sentence at the start (Whisper: Welsh) does not decide for the whole recording."""
    recognizer = language_recognizer(language_packs=6)
    # six speakers' worth of packs: the value of each pack's audio is its start time (ramp streams)
    streams = [ramp_stream(f"s{i}", f"S{i}", 40.0 * i, 30.0, [(40.0 * i + 1, 40.0 * i + 11)]) for i in range(6)]
    probabilities = {round(40.0 * i + 0.8): {"en": 0.9, "cy": 0.1} for i in range(6)}
    probabilities[1] = {"cy": 0.9, "en": 0.1}  # the first pack
    FakeDetector(recognizer, probabilities)
    choice = recognizer.identify_language(streams)
    assert (choice.code, choice.fallback) == ("en", False)
    assert choice.probability == pytest.approx((5 * 0.9 + 0.1) / 6, abs=1e-4)


def test_an_unconfident_vote_falls_back_and_a_pinned_language_is_not_identified():
    recognizer = language_recognizer(language_min_probability=0.5, language_fallback="en")
    streams = [ramp_stream("a", "A", 0.0, 30.0, [(1.0, 11.0)])]
    FakeDetector(recognizer, {1: {"cy": 0.4, "ga": 0.35, "en": 0.25}})
    choice = recognizer.identify_language(streams)
    assert (choice.code, choice.fallback, choice.probability) == ("en", True, 0.4)
    pinned = language_recognizer(language="de")
    assert not pinned.identifies_language and pinned.identify_language(streams).code == "de"


def test_each_speaker_may_keep_their_own_language():
    recognizer = language_recognizer(language_per_speaker=True, language_packs=2)
    streams = [ramp_stream("a", "A", 0.0, 30.0, [(1.0, 11.0)]), ramp_stream("b", "B", 40.0, 30.0, [(41.0, 51.0)])]
    FakeDetector(recognizer, {1: {"en": 0.9, "de": 0.1}, 41: {"de": 0.8, "en": 0.2}})
    choice = recognizer.identify_language(streams)
    assert choice.speakers == {"A": "en", "B": "de"} and choice.for_speaker("B") == "de"


def test_words_faster_whisper_cannot_align_are_kept_and_timed_within_their_segment():
    """faster-whisper's word alignment raises IndexError on some audio (SYSTRAN/faster-whisper#1342): the
    pack is decoded again without word timestamps and its words share their segment's time (cut at the
    audio's end), instead of the whole recording failing."""
    from types import SimpleNamespace

    from meetsep.core.config import AsrConfig, RuntimeConfig
    from meetsep.stages.asr import Recognizer

    calls = []

    class Model:
        def transcribe(self, audio, **options):
            calls.append(options["word_timestamps"])
            if options["word_timestamps"]:
                raise IndexError("boolean index did not match indexed array along axis 0")
            segment = dict(compression_ratio=1.2, no_speech_prob=0.01, avg_logprob=-0.2, words=None)
            return [
                SimpleNamespace(text=" hello there", start=1.0, end=2.0, **segment),
                SimpleNamespace(text=" past the end", start=3.5, end=31.0, **segment),
            ], None

    recognizer = Recognizer(AsrConfig(short_windows=False), RuntimeConfig())  # a stand-in without an encoder
    found = recognizer._transcribe(Model(), np.zeros(16000 * 4, np.float32), "en")
    assert calls == [True, False]
    assert [w[0] for w in found] == ["hello", "there", "past", "the", "end"]
    assert found[0][1:3] == (1.0, 1.5) and found[1][1:3] == (1.5, 2.0)
    assert found[2][1] == 3.5 and abs(found[-1][2] - 4.0) < 1e-9  # cut at the audio's 4 s
    assert all(abs(w[3] - np.exp(-0.2)) < 1e-6 for w in found)

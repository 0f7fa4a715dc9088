"""Call and meeting analytics: against an independent millisecond-grid computation on simulated
calls and meetings (their references place every sentence exactly), and on hand-worked cases."""

from __future__ import annotations

import json

import numpy as np
import pytest

from meetsep.analysis.analytics import Roles, Settings, call_roles, from_reference, from_transcript, stored_or_computed
from meetsep.schema import ChannelLayout, SpeakerSegment, Transcript, Word
from meetsep.sim.simulate import SimulationConfig, simulate_meeting
from meetsep.stages.transcript import build_turns

TOLERANCE = 0.1  # seconds


# ---------------------------------------------------------------------------- an independent computation


def runs(mask: np.ndarray) -> list[tuple[int, int]]:
    """``[start, end)`` frame indices of the True runs of a boolean mask."""
    edges = np.diff(np.concatenate([[0], mask.astype(np.int8), [0]]))
    return list(zip(np.flatnonzero(edges == 1).tolist(), np.flatnonzero(edges == -1).tolist()))


def grid_measures(entries: list[dict], duration: float, settings: Settings) -> dict:
    """The documented measures computed on a 1 ms grid of speaker masks (references are in whole ms)."""
    frames = int(round(duration * 1000)) + 1
    speakers = sorted({e["speaker"] for e in entries})
    masks = {s: np.zeros(frames, dtype=bool) for s in speakers}
    for e in entries:
        masks[e["speaker"]][int(round(e["start_time"] * 1000)) : int(round(e["end_time"] * 1000))] = True
    bridge = settings.pause_bridge * 1000
    for mask in masks.values():  # fill a speaker's own pauses shorter than the bridge
        for (_, end), (start, _) in zip(runs(mask), runs(mask)[1:]):
            if start - end < bridge:
                mask[end:start] = True
    count = sum(m.astype(int) for m in masks.values())
    anyone = count > 0
    measures: dict = dict(
        talk={s: m.sum() / 1000 for s, m in masks.items()},
        speech=anyone.sum() / 1000,
        overlap=(count >= 2).sum() / 1000,
    )
    spoken = runs(anyone)
    gaps = [(b - a) / 1000 for (_, a), (b, _) in zip(spoken, spoken[1:]) if b - a >= settings.dead_air_seconds * 1000]
    measures["dead_air"] = (len(gaps), sum(gaps), max(gaps, default=0.0))
    events = []
    for by, mask in masks.items():
        for b0, b1 in runs(mask):
            for over, other in masks.items():
                if over == by or not (other[b0] and b0 > 0 and other[b0 - 1]):
                    continue
                a1 = b0 + int(np.argmin(other[b0:])) if not other[b0:].all() else frames
                end = min(a1, b1)
                if end - b0 >= settings.min_overtalk * 1000:
                    interruption = a1 <= b1 and a1 - b0 <= settings.interruption_seconds * 1000
                    events.append((by, over, (end - b0) / 1000, interruption))
    measures["events"] = sorted(events)
    latencies: dict[tuple[str, str], list[float]] = {}
    for responder, mask in masks.items():
        for b0, _ in runs(mask):
            if any(m[b0] for s, m in masks.items() if s != responder) or not anyone[:b0].any():
                continue
            last = int(np.flatnonzero(anyone[:b0])[-1])
            before = {s for s, m in masks.items() if m[last]}
            if responder not in before:
                latencies.setdefault((responder, min(before)), []).append((b0 - last - 1) / 1000)
    measures["latency"] = {pair: (len(v), float(np.mean(v)), max(v)) for pair, v in latencies.items()}
    turns = {}
    for speaker, mask in masks.items():
        others = count - mask.astype(int) > 0
        joined: list[list[int]] = []
        for start, end in runs(mask):
            if joined and start - joined[-1][1] < settings.turn_gap * 1000 and not others[joined[-1][1] : start].any():
                joined[-1][1] = end
            else:
                joined.append([start, end])
        turns[speaker] = (len(joined), max(b - a for a, b in joined) / 1000)
    measures["turns"] = turns
    return measures


def assert_matches(entries: list[dict], duration: float, settings: Settings) -> None:
    analytics = from_reference(entries, duration=duration, settings=settings)
    grid = grid_measures(entries, duration, settings)
    assert analytics.speech_seconds == pytest.approx(grid["speech"], abs=TOLERANCE)
    assert analytics.overlap_seconds == pytest.approx(grid["overlap"], abs=TOLERANCE)
    assert analytics.silence_seconds == pytest.approx(duration - grid["speech"], abs=TOLERANCE)
    for stats in analytics.speakers:
        assert stats.talk_seconds == pytest.approx(grid["talk"][stats.speaker], abs=TOLERANCE)
        assert (stats.turns, stats.longest_monologue) == pytest.approx(grid["turns"][stats.speaker], abs=TOLERANCE)
        words = sum(len(e["words"].split()) for e in entries if e["speaker"] == stats.speaker)
        assert stats.words == words
        assert stats.words_per_minute == pytest.approx(60 * words / grid["talk"][stats.speaker], rel=0.01)
    dead = analytics.dead_air
    assert (dead.count, dead.total_seconds, dead.longest_seconds) == pytest.approx(grid["dead_air"], abs=TOLERANCE)
    events = sorted((e.by, e.over, e.end - e.start, e.interruption) for e in analytics.overtalk.events)
    assert [(b, o, i) for b, o, _, i in events] == [(b, o, i) for b, o, _, i in grid["events"]]
    assert [d for _, _, d, _ in events] == pytest.approx([d for _, _, d, _ in grid["events"]], abs=TOLERANCE)
    latency = {(x.responder, x.after): (x.count, x.mean_seconds, x.max_seconds) for x in analytics.response_latency}
    assert latency.keys() == grid["latency"].keys()
    for pair, values in grid["latency"].items():
        assert latency[pair] == pytest.approx(values, abs=TOLERANCE)


SIMULATIONS = {
    "call, overtalk": dict(mode="call-center", seed=2, num_sentences=10, overlap_ratio=0.15),
    "call, pauses": dict(mode="call-center", seed=3, num_sentences=12, overlap_ratio=0.0),
    "meeting, 3 speakers": dict(seed=5, num_speakers=3, num_sentences=10, overlap_ratio=0.3, num_mics=2, rt60=0.0),
    "meeting, 4 speakers": dict(seed=8, num_speakers=4, num_sentences=12, overlap_ratio=0.1, num_mics=2, rt60=0.0),
}
SETTINGS = {
    "defaults": Settings(),
    "no bridging, short dead air": Settings(pause_bridge=0.0, dead_air_seconds=0.5, min_overtalk=0.0),
    "long bridge, short turns": Settings(pause_bridge=0.6, turn_gap=0.4, interruption_seconds=1.0),
}


@pytest.fixture(scope="module")
def simulations() -> dict:
    return {name: simulate_meeting(SimulationConfig(**config)) for name, config in SIMULATIONS.items()}


@pytest.mark.parametrize("settings", SETTINGS.values(), ids=list(SETTINGS))
@pytest.mark.parametrize("name", SIMULATIONS)
def test_simulated_references_match_an_independent_computation(simulations, name, settings):
    meeting = simulations[name]
    assert_matches(meeting.reference, meeting.metadata["duration"], settings)


@pytest.mark.parametrize("name", SIMULATIONS)
def test_overlap_share_is_the_one_the_simulation_measured(simulations, name):
    meeting = simulations[name]
    analytics = from_reference(
        meeting.reference, duration=meeting.metadata["duration"], settings=Settings(pause_bridge=0)
    )
    assert analytics.overlap_seconds / analytics.speech_seconds == pytest.approx(
        meeting.metadata["overlap_ratio"], abs=1e-3
    )
    if meeting.metadata["overlap_ratio"] > 0:
        assert analytics.overtalk.count > 0 and analytics.overtalk.interruptions > 0


def test_call_roles_and_talk_to_listen(simulations):
    meeting = simulations["call, overtalk"]
    roles = Roles(agent="agent", customer="customer")
    analytics = from_reference(meeting.reference, duration=meeting.metadata["duration"], roles=roles)
    talk = {
        s: sum(e["end_time"] - e["start_time"] for e in meeting.reference if e["speaker"] == s)
        for s in roles.model_dump().values()
    }
    assert analytics.speaker("agent").role == "agent" and analytics.speaker("customer").role == "customer"
    assert analytics.agent_talk_to_listen == pytest.approx(talk["agent"] / talk["customer"], abs=0.01)


def seg(speaker: str, start: float, end: float) -> dict:
    return dict(speaker=speaker, start_time=start, end_time=end, words="a b c")


def test_a_hand_worked_call():
    """A talks 0-10 s; B starts at 8 s and A stops 2 s later (an interruption); nobody talks 12-15 s
    (3 s of dead air); A answers after those 3 s and talks 15-20 s; B says "yes" at 19.5-19.8 s over
    A, who goes on (overtalk, not an interruption); A pauses 0.2 s at 17 s (bridged)."""
    entries = [seg("A", 0, 10), seg("B", 8, 12), seg("A", 15, 17), seg("A", 17.2, 20), seg("B", 19.5, 19.8)]
    analytics = from_reference(entries, duration=22.0, roles=Roles(agent="A", customer="B"))
    a, b = analytics.speaker("A"), analytics.speaker("B")
    assert (a.talk_seconds, b.talk_seconds) == (15.0, 4.3)
    assert (analytics.speech_seconds, analytics.silence_seconds, analytics.overlap_seconds) == (17.0, 5.0, 2.3)
    assert (a.share, a.talk_to_listen, analytics.agent_talk_to_listen) == (
        round(15 / 19.3, 3),
        round(15 / 4.3, 3),
        round(15 / 4.3, 3),
    )
    assert (a.turns, a.longest_monologue, a.longest_monologue_start) == (2, 10.0, 0.0)
    assert (a.words, a.words_per_minute) == (9, 36.0)
    overtalk = analytics.overtalk
    assert [(e.by, e.over, e.start, e.end, e.interruption) for e in overtalk.events] == [
        ("B", "A", 8.0, 10.0, True),
        ("B", "A", 19.5, 19.8, False),
    ]
    assert (overtalk.count, overtalk.total_seconds, overtalk.longest_seconds, overtalk.interruptions) == (
        2,
        2.3,
        2.0,
        1,
    )
    assert (analytics.dead_air.count, analytics.dead_air.total_seconds) == (1, 3.0)
    assert [(x.responder, x.after, x.count, x.mean_seconds) for x in analytics.response_latency] == [("A", "B", 1, 3.0)]
    # without bridging A's 0.2 s pause is not talk, but still inside one turn (shorter than turn_gap)
    unbridged = from_reference(entries, duration=22.0, settings=Settings(pause_bridge=0.0))
    assert unbridged.speaker("A").talk_seconds == 14.8 and unbridged.speaker("A").turns == 2
    assert [(x.responder, x.after) for x in unbridged.response_latency] == [("A", "B")]  # a pause is no response


def test_short_overtalk_simultaneous_starts_and_another_voice_in_a_pause():
    """B's first 0.05 s over A is under min_overtalk; A and B start together at 9 s (nobody started
    over anybody); A's 0.8 s pause at 5 s is shorter than turn_gap but B talks in it."""
    entries = [seg("A", 0, 5), seg("B", 4.95, 5.5), seg("A", 5.8, 8), seg("B", 9, 10), seg("A", 9, 9.5)]
    analytics = from_reference(entries, duration=10.0)
    assert analytics.overtalk.count == 0 and analytics.overlap_seconds == 0.55
    assert analytics.speaker("A").turns == 3
    assert [(x.responder, x.after, x.mean_seconds) for x in analytics.response_latency] == [("A", "B", 0.3)]


def word(text: str, start: float, end: float, speaker: str, stream: str = "mix") -> Word:
    return Word(text=text, start=start, end=end, speaker=speaker, probability=0.9, stream=stream)


def call_transcript(diarization: bool = True) -> Transcript:
    words = [
        word("hello", 0.5, 0.9, "agent", "channel-0"),
        word("there", 1.0, 1.4, "agent", "channel-0"),
        word("hi", 2.0, 2.3, "customer", "channel-1"),
    ]
    return Transcript(
        session_id="call",
        duration=3.0,
        layout=ChannelLayout.STEREO_SPEAKERS,
        language="en",
        speakers=["agent", "customer"],
        turns=build_turns(words),
        diarization=[
            SpeakerSegment(speaker="agent", start=0.4, end=1.5),
            SpeakerSegment(speaker="customer", start=1.9, end=2.4),
        ]
        if diarization
        else [],
        overlaps=[],
        meetsep_version="0",
        config_hash="x",
    )


def test_from_a_transcript_diarization_or_words():
    with_diarization = from_transcript(call_transcript())
    assert with_diarization.source == "diarization"
    assert with_diarization.speaker("agent").talk_seconds == 1.1 and with_diarization.speaker("agent").words == 2
    words_only = from_transcript(call_transcript(diarization=False))
    assert words_only.source == "words"
    assert words_only.speaker("agent").talk_seconds == 0.9  # 0.5-1.4: the 0.1 s pause is bridged
    assert words_only.roles == Roles(agent="agent", customer="customer")  # from the channels the words came from


def test_roles_come_from_channel_speakers_and_only_for_calls():
    transcript = call_transcript()
    assert call_roles(transcript, ["customer", "agent"]) == Roles(agent="customer", customer="agent")
    assert call_roles(transcript.model_copy(update={"layout": ChannelLayout.MONO})) is None


def test_analytics_stored_in_metadata_round_trip():
    from meetsep.analysis.analytics import with_analytics
    from meetsep.io.formats import to_json

    transcript = with_analytics(call_transcript(), channel_speakers=["agent", "customer"])
    stored = json.loads(to_json(transcript))["metadata"]["analytics"]
    assert stored["roles"] == {"agent": "agent", "customer": "customer"}
    assert stored_or_computed(Transcript.model_validate_json(to_json(transcript))) == from_transcript(call_transcript())


def test_a_mono_call_gets_roles_from_the_enrolled_agent():
    from meetsep.core.errors import ConfigError
    from meetsep.core.presets import load_config

    segments = [("Dana", 0.0, 5.0), ("SPEAKER_01", 5.0, 9.0), ("SPEAKER_02", 9.0, 10.0), ("Dana", 10.0, 12.0)]
    transcript = Transcript(
        session_id="call",
        duration=12.0,
        layout=ChannelLayout.MONO,
        language="en",
        speakers=["Dana", "SPEAKER_01", "SPEAKER_02"],
        turns=[],
        diarization=[SpeakerSegment(speaker=s, start=a, end=b) for s, a, b in segments],
        overlaps=[],
        meetsep_version="test",
        config_hash="x",
    )
    roles = call_roles(transcript, agent="Dana")
    assert (roles.agent, roles.customer) == ("Dana", "SPEAKER_01")  # the other speaker who talks most
    assert from_transcript(transcript, agent="Dana").agent_talk_to_listen == 7.0 / 4.0
    assert call_roles(transcript, agent="Eve") is None and call_roles(transcript) is None  # not heard / not given
    with pytest.raises(ConfigError, match="speaker_db"):
        load_config([], ["attribute.agent=Dana"])

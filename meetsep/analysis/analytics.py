"""Conversation analytics of a transcript: talk time, overtalk, interruptions, dead air, response latency.

Computed from who speaks when (speaker activity intervals, in seconds) and how many words each
speaker said. From a :class:`~meetsep.schema.Transcript` the activity is its diarization (the speech
detector's activity, which also covers speech without recognized words), or its words when it has
no diarization; from a reference (SegLST entries) it is the entries themselves.

Formulas (all times in seconds; ``Settings`` holds the thresholds):

- A speaker's activity: their intervals, merged where they touch or where the pause between two of
  them is shorter than ``pause_bridge`` (speech detectors split speech at short breaths).
- ``talk_seconds`` = length of the speaker's activity; ``share`` = talk / sum of all speakers' talk
  (overlapped time counts for each speaker); ``talk_to_listen`` = own talk / time any other speaker
  talks; ``words_per_minute`` = words / (talk / 60).
- Turn: the speaker's activity with pauses shorter than ``turn_gap`` bridged, unless another speaker
  talks inside the pause. ``turns`` counts them; ``longest_monologue`` is the longest turn.
- ``speech_seconds``: time anyone talks; ``overlap_seconds``: time two or more talk;
  ``silence_seconds`` = duration - speech.
- Overtalk event: speaker B starts (an activity interval begins) strictly inside an activity interval
  of speaker A; it lasts until either stops: ``[b0, min(a1, b1))``. Kept when at least
  ``min_overtalk`` long. Counted per ordered pair (B over A) and in total.
- Interruption: an overtalk event after which A stops first, within ``interruption_seconds`` of B's
  start (``a1 <= b1`` and ``a1 - b0 <= interruption_seconds``): B took the floor.
- Dead air: a pause with nobody talking, between the first and the last speech, at least
  ``dead_air_seconds`` long: count, total, longest.
- Response latency: when B starts while nobody talks and the last speech before was another
  speaker A's, latency = B's start - A's last end. Per ordered pair (B responding to A): count, mean,
  median, max. Starts in overlap are overtalk, not responses.
- Calls: ``roles`` names the agent and the customer (stereo: left and right channel, ``audio.channel_speakers``;
  mono: ``attribute.agent`` found by voice); ``agent_talk_to_listen`` = agent talk / customer talk.
"""

from __future__ import annotations

import statistics
from bisect import bisect_right
from collections import Counter
from collections.abc import Iterable
from typing import Any

from pydantic import BaseModel, ConfigDict, Field

from meetsep.core.intervals import SpanIndex, covered_by_at_least, merge_spans, spans_length
from meetsep.core.records import Interval
from meetsep.schema import ChannelLayout, SpeakerSegment, TimeSpan, Transcript

Span = Interval
DIGITS = 3


class Settings(BaseModel):
    """Thresholds of the analytics, in seconds."""

    model_config = ConfigDict(extra="forbid")
    pause_bridge: float = Field(default=0.3, ge=0.0, description="A speaker's shorter pauses are bridged.")
    turn_gap: float = Field(default=1.0, ge=0.0, description="A turn ends at a pause this long (or another speaker).")
    min_overtalk: float = Field(default=0.1, ge=0.0, description="Shorter overtalk is not an event.")
    interruption_seconds: float = Field(default=2.0, ge=0.0, description="The interrupted speaker stops within this.")
    dead_air_seconds: float = Field(default=2.0, gt=0.0, description="Silences this long or longer are dead air.")


class SpeakerStats(BaseModel):
    model_config = ConfigDict(extra="forbid")
    speaker: str
    role: str | None = None
    talk_seconds: float
    share: float
    talk_to_listen: float | None
    words: int
    words_per_minute: float | None
    turns: int
    longest_monologue: float
    longest_monologue_start: float | None


class OvertalkEvent(BaseModel):
    model_config = ConfigDict(extra="forbid")
    by: str
    over: str
    start: float
    end: float
    interruption: bool


class PairOvertalk(BaseModel):
    """Overtalk of ``by`` starting over ``over``."""

    model_config = ConfigDict(extra="forbid")
    by: str
    over: str
    count: int
    total_seconds: float
    longest_seconds: float
    interruptions: int


class Overtalk(BaseModel):
    model_config = ConfigDict(extra="forbid")
    count: int
    total_seconds: float
    longest_seconds: float
    interruptions: int
    by_pair: list[PairOvertalk]
    events: list[OvertalkEvent]


class DeadAir(BaseModel):
    model_config = ConfigDict(extra="forbid")
    threshold_seconds: float
    count: int
    total_seconds: float
    longest_seconds: float
    spans: list[TimeSpan]


class Latency(BaseModel):
    """How quickly ``responder`` starts after ``after`` stops (nobody talking in between)."""

    model_config = ConfigDict(extra="forbid")
    responder: str
    after: str
    count: int
    mean_seconds: float
    median_seconds: float
    max_seconds: float


class Roles(BaseModel):
    model_config = ConfigDict(extra="forbid")
    agent: str
    customer: str


class Analytics(BaseModel):
    """Per-call (or per-meeting) measures; see the module docstring for the formulas."""

    model_config = ConfigDict(extra="forbid")
    source: str = Field(description="Where the activity came from: diarization, words or reference.")
    settings: Settings
    duration: float
    speech_seconds: float
    silence_seconds: float
    overlap_seconds: float
    speakers: list[SpeakerStats]
    overtalk: Overtalk
    dead_air: DeadAir
    response_latency: list[Latency]
    roles: Roles | None = None
    agent_talk_to_listen: float | None = None

    def speaker(self, name: str) -> SpeakerStats:
        return next(s for s in self.speakers if s.speaker == name)


def _round(value: float) -> float:
    return round(value, DIGITS)


# ---------------------------------------------------------------------------- the measures


def _turns(own: list[Span], others: SpanIndex, turn_gap: float) -> list[Span]:
    """Own activity with pauses shorter than ``turn_gap`` bridged unless someone else talks in them."""
    turns: list[list[float]] = []
    for start, end in own:
        if turns and start - turns[-1][1] < turn_gap and not others.any_within(turns[-1][1], start):
            turns[-1][1] = end
        else:
            turns.append([start, end])
    return [(a, b) for a, b in turns]


def _overtalk(tracks: dict[str, SpanIndex], settings: Settings) -> Overtalk:
    events: list[OvertalkEvent] = []
    for by, track in tracks.items():
        for b0, b1 in track.spans:
            for over, other in tracks.items():
                found = other.active_at(b0) if over != by else None
                if found is None or found[0] >= b0:
                    continue
                a1 = found[1]
                end = min(a1, b1)
                if end - b0 < settings.min_overtalk:
                    continue
                stops_first = a1 <= b1 and a1 - b0 <= settings.interruption_seconds
                events.append(
                    OvertalkEvent(by=by, over=over, start=_round(b0), end=_round(end), interruption=stops_first)
                )
    events.sort(key=lambda e: (e.start, e.by, e.over))
    pairs = []
    for by, over in sorted({(e.by, e.over) for e in events}):
        own = [e for e in events if (e.by, e.over) == (by, over)]
        pairs.append(
            PairOvertalk(
                by=by,
                over=over,
                count=len(own),
                total_seconds=_round(sum(e.end - e.start for e in own)),
                longest_seconds=_round(max(e.end - e.start for e in own)),
                interruptions=sum(e.interruption for e in own),
            )
        )
    return Overtalk(
        count=len(events),
        total_seconds=_round(sum(e.end - e.start for e in events)),
        longest_seconds=_round(max((e.end - e.start for e in events), default=0.0)),
        interruptions=sum(e.interruption for e in events),
        by_pair=pairs,
        events=events,
    )


def _dead_air(speech: list[Span], threshold: float) -> DeadAir:
    gaps = [(a1, b0) for (_, a1), (b0, _) in zip(speech, speech[1:]) if b0 - a1 >= threshold]
    return DeadAir(
        threshold_seconds=threshold,
        count=len(gaps),
        total_seconds=_round(spans_length(gaps)),
        longest_seconds=_round(max((b - a for a, b in gaps), default=0.0)),
        spans=[TimeSpan(start=_round(a), end=_round(b)) for a, b in gaps],
    )


def _latencies(tracks: dict[str, SpanIndex]) -> list[Latency]:
    ends = sorted((b, speaker) for speaker, track in tracks.items() for b in track.ends)
    end_times = [end for end, _ in ends]
    samples: dict[tuple[str, str], list[float]] = {}
    for responder, track in tracks.items():
        for start in track.starts:
            if any(other.active_at(start) for name, other in tracks.items() if name != responder):
                continue  # a start in overlap is overtalk
            index = bisect_right(end_times, start)
            if index == 0:
                continue  # nobody spoke before
            last = end_times[index - 1]
            stopped = {speaker for end, speaker in ends[bisect_right(end_times, last - 1e-9) : index]}
            if responder not in stopped:  # the responder's own pause is not a response
                samples.setdefault((responder, min(stopped)), []).append(start - last)
    return [
        Latency(
            responder=responder,
            after=after,
            count=len(values),
            mean_seconds=_round(statistics.fmean(values)),
            median_seconds=_round(statistics.median(values)),
            max_seconds=_round(max(values)),
        )
        for (responder, after), values in sorted(samples.items())
    ]


def compute(
    segments: Iterable[SpeakerSegment],
    *,
    duration: float,
    words: dict[str, int] | None = None,
    speakers: list[str] | None = None,
    roles: Roles | None = None,
    settings: Settings | None = None,
    source: str = "reference",
) -> Analytics:
    """Analytics of speaker activity ``segments`` (possibly overlapping between speakers).

    Args:
        segments: who is active when, in seconds.
        duration: length of the recording in seconds.
        words: words said per speaker (missing speakers: 0).
        speakers: every speaker to report, also silent ones (default: those in ``segments``).
        roles: agent and customer of a call.
        settings: thresholds (default :class:`Settings`).
        source: what the segments are, recorded in the result.
    """
    settings = settings or Settings()
    words = words or {}
    raw: dict[str, list[Span]] = {}
    for segment in segments:
        raw.setdefault(segment.speaker, []).append((segment.start, segment.end))
    names = sorted(set(speakers or []) | set(raw) | set(words))
    activity = {name: merge_spans(raw.get(name, []), settings.pause_bridge) for name in names}
    tracks = {name: SpanIndex(spans) for name, spans in activity.items()}
    talk = {name: spans_length(spans) for name, spans in activity.items()}
    total_talk = sum(talk.values())
    speech = covered_by_at_least(activity.values(), 1)
    role_of = {roles.agent: "agent", roles.customer: "customer"} if roles else {}
    stats = []
    for name in names:
        others = merge_spans((s for other, spans in activity.items() if other != name for s in spans), 0.0)
        turns = _turns(activity[name], SpanIndex(others), settings.turn_gap)
        longest = max(turns, key=lambda t: (t[1] - t[0], -t[0]), default=None)
        listen = spans_length(others)
        stats.append(
            SpeakerStats(
                speaker=name,
                role=role_of.get(name),
                talk_seconds=_round(talk[name]),
                share=_round(talk[name] / total_talk) if total_talk else 0.0,
                talk_to_listen=_round(talk[name] / listen) if listen else None,
                words=words.get(name, 0),
                words_per_minute=_round(60 * words.get(name, 0) / talk[name]) if talk[name] else None,
                turns=len(turns),
                longest_monologue=_round(longest[1] - longest[0]) if longest else 0.0,
                longest_monologue_start=_round(longest[0]) if longest else None,
            )
        )
    agent_ratio = None
    if roles and talk.get(roles.customer):
        agent_ratio = _round(talk.get(roles.agent, 0.0) / talk[roles.customer])
    return Analytics(
        source=source,
        settings=settings,
        duration=_round(duration),
        speech_seconds=_round(spans_length(speech)),
        silence_seconds=_round(max(0.0, duration - spans_length(speech))),
        overlap_seconds=_round(spans_length(covered_by_at_least(activity.values(), 2))),
        speakers=stats,
        overtalk=_overtalk(tracks, settings),
        dead_air=_dead_air(speech, settings.dead_air_seconds),
        response_latency=_latencies(tracks),
        roles=roles,
        agent_talk_to_listen=agent_ratio,
    )


def from_reference(
    entries: list[dict[str, Any]], *, duration: float, roles: Roles | None = None, settings: Settings | None = None
) -> Analytics:
    """Analytics of SegLST entries (``speaker``, ``start_time``, ``end_time``, ``words``), e.g. a simulation's reference."""
    words = dict(Counter(e["speaker"] for e in entries for _ in str(e.get("words", "")).split()))
    segments = [SpeakerSegment(speaker=e["speaker"], start=e["start_time"], end=e["end_time"]) for e in entries]
    return compute(segments, duration=duration, words=words, roles=roles, settings=settings, source="reference")


def call_roles(
    transcript: Transcript, channel_speakers: list[str] | None = None, agent: str | None = None
) -> Roles | None:
    """Agent and customer of a call, else None: on call-center stereo, the left and right channels (the config's
    ``audio.channel_speakers``, else told apart by the words' streams: ``channel-0`` is the left); on a mono
    call, the enrolled ``agent`` found by voice (``attribute.agent``) and the other speaker who talks most."""
    if transcript.layout is ChannelLayout.MONO and agent and agent in transcript.speakers:
        talk = {name: 0.0 for name in transcript.speakers if name != agent}
        for segment in (s for s in transcript.diarization if s.speaker != agent):
            talk[segment.speaker] += segment.end - segment.start
        return Roles(agent=agent, customer=max(sorted(talk), key=talk.__getitem__)) if talk else None
    if transcript.layout is not ChannelLayout.STEREO_SPEAKERS:
        return None
    if channel_speakers:
        return Roles(agent=channel_speakers[0], customer=channel_speakers[1])
    by_stream = {w.stream: w.speaker for w in transcript.words}
    left, right = by_stream.get("channel-0"), by_stream.get("channel-1")
    if left and right and left != right:
        return Roles(agent=left, customer=right)
    if {"channel-0", "channel-1"} <= set(transcript.speakers):
        return Roles(agent="channel-0", customer="channel-1")
    return None


def from_transcript(
    transcript: Transcript,
    *,
    channel_speakers: list[str] | None = None,
    settings: Settings | None = None,
    agent: str | None = None,
) -> Analytics:
    """Analytics of a transcript: activity from its diarization, or from its words when it has none."""
    words = transcript.words
    counts = dict(Counter(word.speaker for word in words))
    if transcript.diarization:
        segments, source = list(transcript.diarization), "diarization"
    else:
        segments = [SpeakerSegment(speaker=w.speaker, start=w.start, end=w.end) for w in words]
        source = "words"
    return compute(
        segments,
        duration=transcript.duration,
        words=counts,
        speakers=transcript.speakers,
        roles=call_roles(transcript, channel_speakers, agent),
        settings=settings,
        source=source,
    )


def with_analytics(transcript: Transcript, **options: Any) -> Transcript:
    """The transcript with its analytics in ``metadata["analytics"]`` (what ``--analytics`` writes);
    ``options``: those of :func:`from_transcript`."""
    analytics = from_transcript(transcript, **options)
    metadata = {**transcript.metadata, "analytics": analytics.model_dump(mode="json")}
    return transcript.model_copy(update={"metadata": metadata})


def stored_or_computed(transcript: Transcript) -> Analytics:
    """The analytics stored in the transcript's metadata, else computed with the default settings."""
    stored = transcript.metadata.get("analytics")
    if isinstance(stored, dict):
        try:
            return Analytics.model_validate(stored)
        except ValueError:
            pass  # another tool's field of that name: compute ours
    return from_transcript(transcript)

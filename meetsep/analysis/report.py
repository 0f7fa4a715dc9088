"""The meeting report: one self-contained HTML page to look at a transcript and listen to it.

The page (``meetsep report``, ``--format html``) holds everything inline and loads nothing from the
network: a speaker timeline (one SVG lane per speaker, each speaker's activity merged into one path,
overlapped speech marked, a time axis), per-speaker talk time, share, words and turns, the call and
meeting analytics (:mod:`meetsep.analysis.analytics`), the overlaps, and the transcript with speaker colours
and times and a search box. Clicking a turn, an overlap or the timeline seeks the audio.

The audio is embedded (the recording averaged to one channel, resampled to at most 16 kHz and
encoded as constant-bitrate MP3, about 3 kB per second: 22 MB for two hours, plus a third for
base64) or, with ``link_audio``, linked by its path relative to the page. The page is a pure function
of the transcript and the audio, so the same input gives the same bytes.
"""

from __future__ import annotations

import base64
import html
import io
import os
from importlib import resources
from pathlib import Path

from meetsep.analysis.analytics import Analytics, stored_or_computed
from meetsep.core.errors import MeetsepError
from meetsep.core.intervals import merge_spans
from meetsep.schema import Transcript

PALETTE = ("#4e79a7", "#f28e2b", "#59a14f", "#b07aa1", "#e15759", "#76b7b2", "#9c755f", "#edc948", "#ff9da7", "#bab0ac")
MP3_RATES = (8000, 11025, 12000, 16000)  # the low MPEG rates; higher input is resampled to 16 kHz
MP3_LEVEL = 0.9  # libsndfile compression level: 24 kbit/s constant bitrate at 16 kHz mono
LANE = 10.0  # lane height in the timeline's own units (its width is the duration in seconds)
TIMELINE_PIXELS = 4000  # gaps shorter than duration / this are merged: they would be under a pixel


def encode_audio(path: Path) -> bytes:
    """The recording at ``path`` as mono MP3 bytes (constant bitrate, so browsers seek exactly).

    Read block by block (bounded memory for long recordings); channels are averaged.

    Raises:
        AudioInputError: the file cannot be read.
    """
    import soundfile as sf

    from meetsep.io.audio import iter_blocks, load_recording, resample_blocks

    recording = load_recording(path, layout="mono")  # the mono layout reads the channel average
    rate = max((r for r in MP3_RATES if r <= recording.sample_rate), default=MP3_RATES[0])
    blocks = (block[0] for block in iter_blocks(recording))
    if rate != recording.sample_rate:
        blocks = resample_blocks(blocks, recording.sample_rate, rate)
    buffer = io.BytesIO()
    with sf.SoundFile(
        buffer,
        "w",
        rate,
        1,
        format="MP3",
        subtype="MPEG_LAYER_III",
        compression_level=MP3_LEVEL,
        bitrate_mode="CONSTANT",
    ) as encoded:
        for block in blocks:
            encoded.write(block.clip(-1.0, 1.0))
    return buffer.getvalue()


def clock(seconds: float) -> str:
    """``m:ss`` (``h:mm:ss`` from an hour on)."""
    whole = int(seconds)
    hours, rest = divmod(whole, 3600)
    minutes, secs = divmod(rest, 60)
    return f"{hours}:{minutes:02d}:{secs:02d}" if hours else f"{minutes}:{secs:02d}"


def _duration_text(seconds: float) -> str:
    return f"{seconds:.1f} s" if seconds < 60 else f"{clock(seconds)} ({seconds:.0f} s)"


def _asset(name: str) -> str:
    return resources.files("meetsep").joinpath("assets", name).read_text(encoding="utf-8")


def _esc(text: object) -> str:
    return html.escape(str(text), quote=True)


def _number(value: float | None, digits: int = 1, suffix: str = "") -> str:
    return "–" if value is None else f"{value:.{digits}f}{suffix}"


def _timeline(transcript: Transcript, colours: dict[str, str]) -> str:
    """Labels, one SVG lane per speaker (its activity as one path), the overlap lane and the time axis."""
    duration = max(transcript.duration, 1e-3)
    resolution = duration / TIMELINE_PIXELS
    activity: dict[str, list[tuple[float, float]]] = {name: [] for name in transcript.speakers}
    spans = transcript.diarization or [w for t in transcript.turns for w in t.words]
    for span in spans:
        activity.setdefault(span.speaker, []).append((span.start, span.end))
    names = list(activity)
    height = LANE * (len(names) + 1)

    def path(spans: list[tuple[float, float]], row: int) -> str:
        top, tall = row * LANE + 1.5, LANE - 3
        return "".join(f"M{a:.2f} {top:g}h{b - a:.2f}v{tall:g}h{a - b:.2f}z" for a, b in merge_spans(spans, resolution))

    lanes = [
        f'<g class="lane" data-speaker="{_esc(name)}"><rect class="bg" x="0" y="{row * LANE + 1.5:g}" '
        f'width="{duration:.2f}" height="{LANE - 3:g}"/><path fill="{colours[name]}" d="{path(activity[name], row)}"/></g>'
        for row, name in enumerate(names)
    ]
    overlaps = [(o.start, o.end) for o in transcript.overlaps]
    bands = "".join(f"M{a:.2f} 0h{b - a:.2f}v{height:g}h{a - b:.2f}z" for a, b in merge_spans(overlaps, resolution))
    labels = "".join(
        f'<div title="{_esc(n)}"><span class="dot" style="background:{colours[n]}"></span>{_esc(n)}</div>'
        for n in names
    )
    step = next((s for s in (5, 10, 15, 30, 60, 120, 300, 600, 900, 1800, 3600) if duration / s <= 12), 7200)
    ticks = "".join(
        f'<span style="left:{100 * t / duration:.3f}%">{clock(t)}</span>' for t in range(0, int(duration) + 1, step)
    )
    return (
        f'<div class="timeline"><div class="labels">{labels}<div>overlap</div></div>'
        f'<svg id="tl" style="--lanes:{len(names) + 1}" data-duration="{duration:.3f}" viewBox="0 0 {duration:.3f} {height:g}" '
        f'preserveAspectRatio="none" role="img" aria-label="speaker timeline">'
        f'<path class="band" d="{bands}"/>{"".join(lanes)}'
        f'<path class="ov" d="{path(overlaps, len(names))}"/>'
        f'<line id="playhead" x1="0" x2="0" y1="0" y2="{height:g}" vector-effect="non-scaling-stroke"/></svg>'
        f'<div class="axis">{ticks}</div></div>'
    )


def _speaker_table(analytics: Analytics, colours: dict[str, str]) -> str:
    widest = max((s.share for s in analytics.speakers), default=0.0) or 1.0
    rows = "".join(
        f'<tr><td><span class="dot" style="background:{colours.get(s.speaker, "#888")}"></span>{_esc(s.speaker)}'
        f"{f' ({_esc(s.role)})' if s.role and s.role != s.speaker else ''}</td>"
        f'<td class="n">{_duration_text(s.talk_seconds)}</td>'
        f'<td class="n"><span class="bar" style="width:{60 * s.share / widest:.0f}px;background:{colours.get(s.speaker, "#888")}"></span>'
        f"{100 * s.share:.0f} %</td>"
        f'<td class="n">{s.words}</td><td class="n">{s.turns}</td><td class="n">{_number(s.words_per_minute, 0)}</td>'
        f'<td class="n">{s.longest_monologue:.1f} s</td><td class="n">{_number(s.talk_to_listen, 2)}</td></tr>'
        for s in analytics.speakers
    )
    return (
        '<table id="speakers"><tr><th>Speaker</th><th class="n">Talk time</th><th class="n">Share</th>'
        '<th class="n">Words</th><th class="n">Turns</th><th class="n">Words/min</th>'
        f'<th class="n">Longest monologue</th><th class="n">Talk/listen</th></tr>{rows}</table>'
    )


def _summary_table(analytics: Analytics) -> str:
    speech = analytics.speech_seconds or 1.0
    dead = analytics.dead_air
    overtalk = analytics.overtalk
    items = [
        ("Speech", _duration_text(analytics.speech_seconds)),
        ("Silence", _duration_text(analytics.silence_seconds)),
        ("Overlapped speech", f"{analytics.overlap_seconds:.1f} s ({100 * analytics.overlap_seconds / speech:.0f} % of speech)"),
        ("Overtalk", f"{overtalk.count} times, {overtalk.total_seconds:.1f} s, longest {overtalk.longest_seconds:.1f} s"),
        ("Interruptions", str(overtalk.interruptions)),
        (f"Dead air (≥ {dead.threshold_seconds:g} s)", f"{dead.count} times, {dead.total_seconds:.1f} s, longest {dead.longest_seconds:.1f} s"),
    ]  # fmt: skip
    if analytics.roles:
        items.insert(0, ("Agent talk / customer talk", _number(analytics.agent_talk_to_listen, 2)))
    rows = "".join(f"<tr><th>{_esc(k)}</th><td>{_esc(v)}</td></tr>" for k, v in items)
    latency = "".join(
        f"<tr><td>{_esc(x.responder)} after {_esc(x.after)}</td><td class='n'>{x.count}</td>"
        f"<td class='n'>{x.mean_seconds:.2f} s</td><td class='n'>{x.median_seconds:.2f} s</td><td class='n'>{x.max_seconds:.2f} s</td></tr>"
        for x in analytics.response_latency
    )
    latency = latency or "<tr><td colspan='5' class='note'>nobody answered after a silence</td></tr>"
    return (
        f'<table id="summary">{rows}</table><h2>Response latency</h2><table id="latency"><tr><th>Who</th>'
        f'<th class="n">Times</th><th class="n">Mean</th><th class="n">Median</th><th class="n">Longest</th></tr>{latency}</table>'
    )


def _overlap_list(analytics: Analytics) -> str:
    rows = "".join(
        f'<tr class="seek" data-seek="{e.start:.3f}"><td>{clock(e.start)}</td><td>{_esc(e.by)} over {_esc(e.over)}</td>'
        f'<td class="n">{e.end - e.start:.1f} s</td><td>{"interruption" if e.interruption else ""}</td></tr>'
        for e in analytics.overtalk.events
    )
    pairs = "".join(
        f"<tr><td>{_esc(p.by)} over {_esc(p.over)}</td><td class='n'>{p.count}</td><td class='n'>{p.total_seconds:.1f} s</td>"
        f"<td class='n'>{p.longest_seconds:.1f} s</td><td class='n'>{p.interruptions}</td></tr>"
        for p in analytics.overtalk.by_pair
    )
    dead = "".join(
        f'<tr class="seek" data-seek="{s.start:.3f}"><td>{clock(s.start)}</td><td class="n">{s.end - s.start:.1f} s</td></tr>'
        for s in analytics.dead_air.spans
    )
    return (
        '<table id="pairs"><tr><th>Who started over whom</th><th class="n">Times</th><th class="n">Total</th>'
        f'<th class="n">Longest</th><th class="n">Interruptions</th></tr>{pairs}</table>'
        f"<details><summary>{len(analytics.overtalk.events)} overlaps (click to listen)</summary>"
        f'<table id="overlaps">{rows}</table></details>'
        f"<details><summary>{analytics.dead_air.count} dead-air pauses</summary><table>{dead}</table></details>"
    )


def _turn_list(transcript: Transcript, index: dict[str, int]) -> str:
    return "".join(
        f'<li class="s{index.get(t.speaker, 0)}{" o" if t.overlap else ""}" data-t="{t.start:.3f}">'
        f'<span class="t">{clock(t.start)}</span><span class="w">{_esc(t.speaker)}</span><span>{_esc(t.text)}</span></li>'
        for t in transcript.turns
    )


# Below this speaker_count_confidence the page warns that the count may be wrong. Chosen on the dev sessions
# (python pipelines/tune_diarization.py --split dev --embedding-rate 8000, --corpus real and --corpus
# generalization; commit 43c8532): 20 real-voice sessions (ve9qrp, Armelle, Carlo, Menardi) and 40 TTS
# meetings (espeak-ng, flite). Below 0.5 the count was wrong in 11 of 16 sessions (real 6 of 7), at 0.5 or
# above in 4 of 44 (real 0 of 13). Held-out voices: README "Real people".
LOW_COUNT_CONFIDENCE = 0.5


def count_note(transcript: Transcript) -> str | None:
    """A sentence when the speaker count is uncertain (``speaker_count_confidence`` below
    :data:`LOW_COUNT_CONFIDENCE`), saying what to do; None otherwise (or when the count was given)."""
    confidence = transcript.speaker_count_confidence
    if confidence is None or confidence >= LOW_COUNT_CONFIDENCE:
        return None
    count = len(transcript.speakers)
    return (
        f"The number of speakers ({count}) is uncertain: count confidence {confidence:.2f}, below "
        f"{LOW_COUNT_CONFIDENCE:g}, where meetsep's count was wrong about two times in three on its evaluation "
        "sessions. If you know how many people spoke, run again with --num-speakers N (or --min-speakers / "
        "--max-speakers)."
    )


def render_report(
    transcript: Transcript,
    *,
    analytics: Analytics | None = None,
    audio: bytes | None = None,
    audio_link: str | None = None,
) -> str:
    """The report page as HTML text.

    Args:
        transcript: what to show.
        analytics: its analytics (default: stored in the transcript's metadata, else computed).
        audio: MP3 bytes to embed (:func:`encode_audio`).
        audio_link: instead, a URL (a path relative to the page) of the audio file.
    """
    analytics = analytics or stored_or_computed(transcript)
    names = list(dict.fromkeys([*transcript.speakers, *(s.speaker for s in analytics.speakers)]))
    index = {name: i for i, name in enumerate(names)}
    colours = {name: PALETTE[i % len(PALETTE)] for i, name in enumerate(names)}
    speaker_css = "".join(
        f"#turns li.s{i}{{border-left-color:{colours[n]}}}#turns li.s{i} .w{{color:{colours[n]}}}"
        for n, i in index.items()
    )
    if audio is not None:
        player = '<audio id="audio" controls preload="auto"></audio>'
        data = f'<script id="audio-data" type="application/octet-stream" data-mime="audio/mpeg">{base64.b64encode(audio).decode()}</script>'
    elif audio_link is not None:
        player, data = f'<audio id="audio" controls preload="auto" src="{_esc(audio_link)}"></audio>', ""
    else:
        player, data = '<p class="note">No audio with this report (meetsep report --audio FILE adds it).</p>', ""
    meta = [
        _duration_text(transcript.duration),
        f"{len(transcript.speakers)} speakers",
        f"layout {transcript.layout.value}",
        f"language {transcript.language or '–'}",
        f"meetsep {transcript.meetsep_version}",
    ]
    note = count_note(transcript)
    warning = f'<p class="note" id="count-note">{_esc(note)}</p>' if note else ""
    policy = "default-src 'none'; style-src 'unsafe-inline'; script-src 'unsafe-inline'; img-src data:; connect-src data:; media-src data: blob:"
    if audio_link is not None:
        policy += " 'self' file:"
    return (
        '<!DOCTYPE html>\n<html lang="en"><head><meta charset="utf-8">'
        f'<meta http-equiv="Content-Security-Policy" content="{policy}">'
        '<meta name="viewport" content="width=device-width, initial-scale=1"><link rel="icon" href="data:,">'
        f"<title>{_esc(transcript.session_id)} · meetsep report</title>"
        f"<style>{_asset('report.css')}{speaker_css}</style></head>\n<body>"
        f"<header><h1>{_esc(transcript.session_id)}</h1><div class='meta'>{_esc(' · '.join(meta))}</div>{warning}</header>\n<main>"
        f'<section id="player">{player}</section>\n'
        f'<section><div class="card"><h2>Who spoke when</h2>{_timeline(transcript, colours)}</div></section>\n'
        f'<section><div class="card"><h2>Speakers</h2>{_speaker_table(analytics, colours)}</div>'
        f'<div class="grid"><div class="card"><h2>Conversation</h2>{_summary_table(analytics)}</div>'
        f'<div class="card"><h2>Overlaps</h2>{_overlap_list(analytics)}</div></div></section>\n'
        '<section><div class="card"><h2>Transcript</h2><div class="tools">'
        '<input id="search" type="search" placeholder="Search words or a speaker" aria-label="search the transcript">'
        f'<span id="shown">{len(transcript.turns)} turns</span></div>'
        f'<ol id="turns">{_turn_list(transcript, index)}</ol></div></section></main>\n'
        f"{data}<script>{_asset('report.js')}</script></body></html>\n"
    )


def report_html(transcript: Transcript, audio_path: Path | None, out_path: Path, link_audio: bool = False) -> str:
    """The page for ``transcript`` written at ``out_path``, with ``audio_path`` embedded or linked."""
    if audio_path is None:
        return render_report(transcript)
    if link_audio:
        relative = Path(os.path.relpath(Path(audio_path).resolve(), Path(out_path).resolve().parent)).as_posix()
        return render_report(transcript, audio_link=relative)
    return render_report(transcript, audio=encode_audio(Path(audio_path)))


def read_transcript_file(path: Path) -> Transcript:
    """A transcript JSON written by meetsep; a one-line error when it is not one."""
    from pydantic import ValidationError

    from meetsep.io.formats import read_transcript

    try:
        return read_transcript(path)
    except FileNotFoundError:
        raise MeetsepError(f"{path}: file not found") from None
    except (OSError, UnicodeDecodeError) as error:
        raise MeetsepError(f"{path}: unreadable ({error.__class__.__name__})") from None
    except ValidationError as error:
        first = error.errors()[0]
        where = ".".join(str(p) for p in first.get("loc", ())) or "file"
        raise MeetsepError(f"{path}: not a meetsep transcript JSON ({where}: {first.get('msg')})") from None

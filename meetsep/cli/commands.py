"""The ``meetsep`` command line. It mirrors the Python API: the same names, the same options.

Errors print one line, ``meetsep: error: <file>: <problem>``, and exit non-zero.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Any

import click

from meetsep.cli.batch import batch, batch_report
from meetsep.cli.console import (
    EXIT_INPUT_ERROR,
    EXIT_USAGE,
    ProgressHook,
    analytics_option,
    chosen_formats,
    fail,
    output_options,
    progress_option,
    say,
    show_progress,
)
from meetsep.cli.live import live, serve
from meetsep.cli.models import models
from meetsep.cli.speakers import enroll, link, speakers
from meetsep.core.errors import MeetsepError


@click.group(context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(package_name="meetsep")
@click.option("-q", "--quiet", is_flag=True, help="Print errors only (no progress, no result lines).")
@click.option("-v", "--verbose", is_flag=True, help="Also print meetsep's notes and third-party warnings and logs.")
@click.pass_context
def cli(context: click.Context, quiet: bool, verbose: bool) -> None:
    """Speaker-attributed transcripts of meetings and calls, including overlapped speech."""
    from meetsep.core import logs

    if quiet and verbose:
        raise click.UsageError("--quiet and --verbose exclude each other")
    verbosity = -1 if quiet else int(verbose)
    context.meta["meetsep.verbosity"] = verbosity
    logs.configure(verbosity)


@cli.command()
@click.argument("inputs", nargs=-1, required=True, type=click.Path(path_type=Path))
@output_options
@click.option(
    "--layout",
    type=click.Choice(["auto", "mono", "array", "stereo-speakers"]),
    default=None,
    help="Channel layout (default auto: 1ch mono, 2ch stereo-speakers, 3+ array).",
)
@click.option("--num-speakers", type=click.IntRange(min=1), default=None)
@click.option("--min-speakers", type=click.IntRange(min=1), default=None)
@click.option("--max-speakers", type=click.IntRange(min=1), default=None)
@click.option(
    "--beamforming",
    type=click.Choice(["average", "reference", "mvdr"]),
    default=None,
    help="Array beamforming (beamform.kind; mvdr: a beam per speaker after diarization).",
)
@click.option(
    "--separation",
    type=click.Choice(["none", "gss", "convtasnet", "sepformer"]),
    default=None,
    help="Separation of overlapped speech (separate.kind; none: speaker beams or mixture).",
)
@click.option(
    "--diarization",
    type=click.Path(path_type=Path),
    default=None,
    help="Who spoke when, given: an RTTM file (one input) or a folder of <input stem>.rttm files; "
    "the chain runs on it instead of its own diarization (mono and array layouts).",
)
@click.option(
    "--speakers",
    type=click.Path(file_okay=False, path_type=Path),
    default=None,
    help="A database of enrolled voices (meetsep enroll): speakers who match one are shown by name "
    "(attribute.speaker_db).",
)
@analytics_option
@progress_option
def transcribe(
    inputs: tuple[Path, ...],
    out_dir: Path,
    formats: str,
    configs: tuple[str, ...],
    overrides: tuple[str, ...],
    analytics: bool,
    progress: bool | None,
    diarization: Path | None,
    **options: Any,
) -> None:
    """Transcribe INPUT files into OUT/<input stem>.<ext>; keeps going past a bad file."""
    from meetsep.core.presets import load_config, option_overrides
    from meetsep.io.files import check_writable_folder
    from meetsep.io.formats import output_path

    chosen = chosen_formats(formats)
    chosen_options = option_overrides(**options)  # --layout, --num-speakers, ...: the same names as the API
    extra = [*overrides, *(f"{key}={value}" for key, value in chosen_options.items())]
    config = load_config(list(configs), extra)
    stems = [p.stem for p in inputs]
    duplicates = sorted({s for s in stems if stems.count(s) > 1})
    if duplicates:
        raise click.UsageError(
            f"inputs share the output name {duplicates[0]!r}; transcribe them into different --out folders"
        )
    if diarization is not None and not diarization.is_dir() and len(inputs) > 1:
        raise click.UsageError("--diarization: give a folder of <input stem>.rttm files for several inputs")
    check_writable_folder(out_dir)  # before any model loads: an unusable --out is found at once
    failed = 0
    usable: dict[Path, Path | None] = {}
    for path in inputs:
        rttm = diarization  # who spoke when: an RTTM file, or a folder of <stem>.rttm
        if diarization is not None and diarization.is_dir():
            rttm = diarization / f"{path.stem}.rttm"
        try:
            for fmt in chosen:  # an unsafe output name fails before the work
                output_path(out_dir, path.stem, fmt)
            if rttm is not None and not rttm.is_file():
                raise MeetsepError(f"{rttm}: diarization file not found")
        except MeetsepError as error:
            fail(f"{path}: {error}")
            failed += 1
            continue
        usable[path] = rttm
    if usable:
        from meetsep.pipeline import Pipeline

        hook = ProgressHook(show_progress(progress))
        failed += _transcribe_each(Pipeline(config), usable, out_dir, chosen, hook, analytics)
    if failed:
        click.echo(f"meetsep: {failed} of {len(inputs)} input(s) failed", err=True)
        sys.exit(EXIT_INPUT_ERROR)


def _transcribe_each(
    pipeline: Any, inputs: dict[Path, Path | None], out_dir: Path, formats: list[str], hook: Any, analytics: bool
) -> int:
    """Transcribe and write each input (with its given diarization, if any), reporting each result or
    error on one line; returns the failures."""
    from meetsep.analysis.report import count_note
    from meetsep.outputs import transcribe_to_files

    failed = 0
    for path, rttm in inputs.items():
        try:
            transcript, written = transcribe_to_files(
                pipeline, path, out_dir, formats, analytics=analytics, diarization=rttm, hook=hook
            )
        except MeetsepError as error:
            fail(str(error))
            failed += 1
            continue
        except Exception as error:  # one file's unexpected failure must not stop the others
            detail = str(error).splitlines()[0] if str(error) else ""
            fail(f"{path}: unexpected {type(error).__name__}{': ' + detail if detail else ''}")
            failed += 1
            continue
        speakers = len(transcript.speakers)
        uncertain = "" if count_note(transcript) is None else " (count uncertain: see the report)"
        say(
            f"{path}: {len(transcript.turns)} turns, {speakers} speaker{'s' * (speakers != 1)}{uncertain} -> {', '.join(str(p) for p in written)}"
        )
    return failed


@cli.command()
@click.argument("source", type=click.Path(path_type=Path))
@click.option(
    "--out", "out_dir", required=True, type=click.Path(file_okay=False, path_type=Path), help="Output folder."
)
@click.option(
    "--model",
    default="convtasnet-16k",
    show_default=True,
    help="Model name, SpeechBrain folder, asteroid ConvTasNet file, or hub id.",
)
@click.option("--model-dir", default=None, help="Model folder searched first (also MEETSEP_MODEL_DIR).")
@click.option("--allow-download", is_flag=True, help="Fetch a hub id that is not found locally.")
@click.option(
    "--trust-model-code",
    is_flag=True,
    help="Load the model with SpeechBrain's own HyperPyYAML loader, which runs any code the file names "
    "(only for files you trust; runtime.trust_model_code).",
)
@click.option("--start", type=click.FloatRange(min=0.0), default=0.0, show_default=True, help="Start of the range (s).")
@click.option("--end", type=click.FloatRange(min=0.0), default=None, help="End of the range (s; default: the end).")
@click.option(
    "--chunk", type=click.FloatRange(min=4.0), default=30.0, show_default=True, help="Seconds separated at once."
)
@progress_option
def separate(
    source: Path,
    out_dir: Path,
    model: str,
    model_dir: str | None,
    allow_download: bool,
    trust_model_code: bool,
    start: float,
    end: float | None,
    chunk: float,
    progress: bool | None,
) -> None:
    """Separate SOURCE (or --start/--end of it) into one 16 kHz WAV per speaker: OUT/<stem>.s1.wav, ..."""
    from meetsep.core.hooks import stage
    from meetsep.io.audio import load_recording
    from meetsep.io.files import check_writable_folder
    from meetsep.loading.models import load_separation, resolve_model
    from meetsep.pipeline import separate_file

    try:
        check_writable_folder(out_dir)
        recording = load_recording(source)
        separator = load_separation(
            resolve_model(model, "separation", model_dir=model_dir, allow_download=allow_download), trust_model_code
        )
        hook = ProgressHook(show_progress(progress))
        with stage(hook, "separate", recording.session_id) as reporter:
            written = separate_file(recording, separator, out_dir, start=start, end=end, chunk=chunk, reporter=reporter)
    except MeetsepError as error:
        fail(str(error))
        sys.exit(EXIT_INPUT_ERROR)
    say(f"{source}: {len(written)} streams -> {', '.join(str(p) for p in written)}")


@cli.command()
@click.argument("reference", type=click.Path(exists=True, path_type=Path))
@click.argument("hypothesis", type=click.Path(exists=True, path_type=Path))
@click.option("--json", "as_json", is_flag=True, help="Print the scores as JSON.")
def evaluate(reference: Path, hypothesis: Path, as_json: bool) -> None:
    """Score HYPOTHESIS against REFERENCE: cpWER, tcpWER (meeteval, 5 s collar), DER, JER (pyannote.metrics).

    Each is a file or a folder. References are SegLST files (*.seglst.json); hypotheses are meetsep
    transcript JSONs or SegLST files; sessions are matched by session_id. Folders give one row per
    session and a TOTAL from summed errors (not a mean of rates).
    """
    from meetsep.analysis.evaluate import score_paths, total

    rows = score_paths(reference, hypothesis)
    if len(rows) > 1:
        rows.append(total(rows))
    if as_json:
        click.echo(json.dumps([row.as_dict() for row in rows], indent=2, sort_keys=True))
        return
    for scores in rows:
        der = "-" if scores.der is None else f"{100 * scores.der:.1f}%"
        jer = "-" if scores.jer is None else f"{100 * scores.jer:.1f}%"
        click.echo(
            f"{scores.session_id}: cpWER {100 * scores.cpwer:.1f}%  tcpWER {100 * scores.tcpwer:.1f}%  DER {der}  JER {jer}  "
            f"speakers {scores.hypothesis_speakers} (reference {scores.reference_speakers})  words {scores.reference_words}"
        )


@cli.command()
@click.option(
    "--out", "out_dir", required=True, type=click.Path(file_okay=False, path_type=Path), help="Output folder."
)
@click.option("--seed", type=int, default=0, show_default=True)
@click.option(
    "--mode",
    type=click.Choice(["meeting", "call-center", "phone-call"]),
    default="meeting",
    show_default=True,
    help="phone-call: two people on one 8 kHz channel.",
)
@click.option("--speakers", "num_speakers", type=click.IntRange(2, 6), default=3, show_default=True)
@click.option("--sentences", "num_sentences", type=click.IntRange(min=1), default=12, show_default=True)
@click.option(
    "--overlap",
    "overlap_ratio",
    type=click.FloatRange(0.0, 0.6),
    default=0.2,
    show_default=True,
    help="Target overlapped / total speech.",
)
@click.option("--rt60", type=click.FloatRange(0.0, 1.0), default=0.3, show_default=True)
@click.option("--mics", "num_mics", type=click.IntRange(1, 16), default=4, show_default=True)
@click.option("--array", type=click.Choice(["circular", "linear"]), default="circular", show_default=True)
@click.option("--snr", "snr_db", type=float, default=30.0, show_default=True, help="Noise SNR in dB.")
@click.option(
    "--family",
    type=click.Choice(["espeak", "flite", "festival", "piper", "real"]),
    default=None,
    help="Voices of one TTS family, or real: recordings of people of the --sentence-set split "
    "(default: flite and espeak-ng voices mixed).",
)
@click.option("--degrade", is_flag=True, help="Vary each speaker as a real one varies (channel, level, speed).")
@click.option(
    "--sentence-set",
    "sentences",
    type=click.Choice(["dev", "heldout"]),
    default="dev",
    show_default=True,
    help="heldout: sentences no default was tuned on.",
)
@click.option("--noise", type=click.Choice(["white", "pink"]), default="white", show_default=True)
@click.option("--session-id", default="meeting", show_default=True)
def simulate(out_dir: Path, session_id: str, **settings: Any) -> None:
    """Simulate a meeting (or a call) with exact references: mix.flac, speakers/, reference.seglst.json/.rttm, meta.json."""
    from meetsep.sim.simulate import SimulationConfig, simulate_meeting, write_meeting

    meeting = simulate_meeting(SimulationConfig(**settings), session_id=session_id)
    write_meeting(meeting, out_dir)
    meta = meeting.metadata
    say(
        f"{out_dir}: {meta['duration']:.1f} s, {meeting.audio.shape[0]} channels at {meeting.sample_rate} Hz, "
        f"{len(meeting.speaker_images)} speakers, overlap ratio {meta['overlap_ratio']:.3f}"
    )


@cli.command()
@click.argument("transcript_path", metavar="TRANSCRIPT.json", type=click.Path(path_type=Path))
@click.option(
    "--out", "out_path", required=True, type=click.Path(dir_okay=False, path_type=Path), help="The HTML file to write."
)
@click.option(
    "--audio", "audio_path", type=click.Path(path_type=Path), default=None, help="The recording to listen to."
)
@click.option("--link-audio", is_flag=True, help="Link the audio by its relative path instead of embedding it.")
def report(transcript_path: Path, out_path: Path, audio_path: Path | None, link_audio: bool) -> None:
    """Write a self-contained HTML report of a transcript JSON: timeline, speakers, analytics, transcript, audio."""
    from meetsep.analysis.report import read_transcript_file
    from meetsep.outputs import write_page

    transcript = read_transcript_file(transcript_path)
    if audio_path is not None and link_audio and not audio_path.is_file():
        raise MeetsepError(f"{audio_path}: file not found")
    write_page(transcript, out_path, audio_path, link_audio)
    say(f"{transcript_path}: report -> {out_path}")


cli.add_command(batch)
cli.add_command(batch_report)
cli.add_command(models)
cli.add_command(enroll)
cli.add_command(speakers)
cli.add_command(link)
cli.add_command(live)
cli.add_command(serve)


def main(argv: list[str] | None = None) -> None:
    """Console entry point: one-line errors, non-zero exit codes."""
    try:
        cli.main(args=argv, prog_name="meetsep", standalone_mode=False)
    except click.exceptions.UsageError as error:
        fail(error.format_message())
        sys.exit(EXIT_USAGE)
    except click.exceptions.Abort:
        fail("aborted")
        sys.exit(130)
    except MeetsepError as error:
        fail(str(error))
        sys.exit(EXIT_INPUT_ERROR)
    except click.exceptions.Exit as exit_:
        sys.exit(exit_.exit_code)


if __name__ == "__main__":
    main()

"""``meetsep enroll`` and ``meetsep speakers``: the database of enrolled voices that ``--speakers DB`` names speakers from."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

import click

from meetsep.cli.console import say

if TYPE_CHECKING:
    from meetsep.io.speaker_db import SpeakerDB

DB_OPTION = click.option(
    "--db",
    "db",
    required=True,
    type=click.Path(file_okay=False, path_type=Path),
    help="The speaker database folder (made on the first enrollment).",
)


@click.command()
@click.argument("name")
@click.argument("audio", nargs=-1, required=True, type=click.Path(path_type=Path))
@DB_OPTION
@click.option("--start", type=click.FloatRange(min=0.0), default=None, help="Only from this time on (s).")
@click.option("--end", type=click.FloatRange(min=0.0), default=None, help="Only up to this time (s).")
@click.option(
    "--speaker-of",
    nargs=2,
    type=(click.Path(path_type=Path), str),
    default=None,
    metavar="TRANSCRIPT.json SPEAKER",
    help="Enroll a diarized speaker of AUDIO: its transcript JSON and the speaker's label in it.",
)
@click.option("-c", "--config", "configs", multiple=True, help="Config file or preset (the embedding model).")
@click.option("--set", "overrides", multiple=True, metavar="KEY=VALUE", help="Config override.")
def enroll(
    name: str,
    audio: tuple[Path, ...],
    db: Path,
    start: float | None,
    end: float | None,
    speaker_of: tuple[Path, str] | None,
    configs: tuple[str, ...],
    overrides: tuple[str, ...],
) -> None:
    """Enroll NAME's voice from AUDIO files of them (about 30 s of speech is enough) into --db."""
    from meetsep.core.presets import load_config
    from meetsep.enrollment import enroll as enroll_voice
    from meetsep.pipeline import Pipeline

    if start is not None and end is not None and end <= start:
        raise click.UsageError("--end must be after --start")
    pipeline = Pipeline(load_config(list(configs), list(overrides)))
    speaker = enroll_voice(db, name, list(audio), pipeline=pipeline, start=start, end=end, speaker_of=speaker_of)
    say(f"{name}: enrolled from {len(audio)} recording(s), {speaker.total_seconds:.1f} s of speech in all -> {db}")


@click.group()
def speakers() -> None:
    """List, rename or remove enrolled speakers."""


def _existing(db: Path) -> SpeakerDB:
    """The speaker database in ``db``; a one-line error when there is none (list, remove, rename)."""
    from meetsep.io.speaker_db import SpeakerDB, SpeakerDBError

    if not (db / "speakers.json").is_file():
        raise SpeakerDBError(f"{db}: not a speaker database")
    return SpeakerDB(db)


@speakers.command("list")
@DB_OPTION
def speakers_list(db: Path) -> None:
    """One line per enrolled person: name, seconds of speech, enrollments."""
    database = _existing(db)
    for name in database.names:
        speaker = database.speakers[name]
        click.echo(
            f"{name}\t{speaker.total_seconds:.1f} s\t{len(speaker.seconds)} enrollment(s)\t{'; '.join(speaker.sources)}"
        )


@speakers.command("remove")
@click.argument("name")
@DB_OPTION
def speakers_remove(name: str, db: Path) -> None:
    """Forget NAME."""
    _existing(db).remove(name)
    say(f"{name}: removed from {db}")


@speakers.command("rename")
@click.argument("old")
@click.argument("new")
@DB_OPTION
def speakers_rename(old: str, new: str, db: Path) -> None:
    """Call OLD by the name NEW from now on."""
    _existing(db).rename(old, new)
    say(f"{old}: now {new} in {db}")


@click.command()
@click.argument("out_dir", metavar="OUT", type=click.Path(exists=True, file_okay=False, path_type=Path))
@click.option(
    "--threshold",
    type=click.FloatRange(-1.0, 1.0, min_open=True, max_open=True),
    default=None,
    help="Mean cosine similarity of two groups of speakers from which they are one voice (default: attribute.link_threshold).",
)
def link(out_dir: Path, threshold: float | None) -> None:
    """Give each voice one id across the transcripts in OUT (made with --link-speakers): OUT/speakers.csv."""
    from meetsep.analysis.linking import link_folder
    from meetsep.core.config import PipelineConfig

    chosen = PipelineConfig().attribute.link_threshold if threshold is None else threshold
    voices, speakers = link_folder(out_dir, chosen)
    say(f"{out_dir}: {speakers} speakers, {voices} voices -> {out_dir / 'speakers.csv'}")

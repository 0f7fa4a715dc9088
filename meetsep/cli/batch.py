"""The ``meetsep batch`` and ``meetsep batch-report`` commands: archives of recordings."""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Any

import click

from meetsep.cli.console import (
    EXIT_INPUT_ERROR,
    analytics_option,
    chosen_formats,
    fail,
    output_options,
    progress_option,
    say,
    show_progress,
)


@click.command()
@click.argument("source", type=click.Path(exists=True, path_type=Path))
@output_options
@click.option(
    "--jobs", type=click.IntRange(min=1), default=None, help="Parallel workers (default: from cores and memory)."
)
@click.option("--engine", type=click.Choice(["local", "ray"]), default="local", show_default=True)
@click.option(
    "--ray-address",
    default=None,
    help="Ray cluster to join ('auto' = the running one); default starts a local runtime.",
)
@click.option(
    "--timeout", type=click.FloatRange(min=0, min_open=True), default=None, help="Per-file time limit in seconds."
)
@click.option(
    "--speakers",
    type=click.Path(file_okay=False, path_type=Path),
    default=None,
    help="A database of enrolled voices (meetsep enroll): speakers who match one are shown by name.",
)
@click.option(
    "--link-speakers",
    is_flag=True,
    help="Keep each speaker's voiceprint and give one voice one id across the archive: OUT/speakers.csv.",
)
@click.option("--shard", default=None, metavar="I/N", help="Only every N-th item starting at I (0-based).")
@click.option("--overwrite", is_flag=True, help="Redo items that are already done.")
@analytics_option
@progress_option
def batch(
    source: Path,
    out_dir: Path,
    formats: str,
    configs: tuple[str, ...],
    overrides: tuple[str, ...],
    jobs: int | None,
    engine: str,
    ray_address: str | None,
    timeout: float | None,
    shard: str | None,
    speakers: Path | None,
    link_speakers: bool,
    overwrite: bool,
    analytics: bool,
    progress: bool | None,
) -> None:
    """Transcribe a folder (recursive) or a JSONL/CSV manifest; resumable, parallel, local or on Ray.

    Finished files are skipped on a re-run; every result goes to OUT/batch_report.jsonl; the exit
    code is 0 only when every file succeeded. One run per OUT at a time (a second is refused).
    """
    from meetsep.batch.engines import BatchSettings, default_jobs, run_batch
    from meetsep.core.presets import load_config
    from meetsep.io.manifest import discover, parse_shard, select_shard

    chosen = chosen_formats(formats)
    extra = [f"attribute.speaker_db={speakers}"] if speakers else []
    extra += ["attribute.voiceprints=true"] if link_speakers else []
    config = load_config(list(configs), [*overrides, *extra])
    items = discover(source)
    if shard:
        items = select_shard(items, *parse_shard(shard))
    jobs = jobs or default_jobs()
    settings = BatchSettings(out_dir, chosen, config, jobs, timeout, overwrite, engine, ray_address, analytics)  # type: ignore[arg-type]
    show_bar = show_progress(progress)
    from tqdm import tqdm

    bar = tqdm(total=len(items), desc="batch", unit="file", file=sys.stderr, disable=not show_bar)

    def report(result: Any, summary: Any) -> None:
        bar.update(1)
        bar.set_postfix(
            done=summary.ok + summary.skipped,
            failed=summary.failed + summary.timeout,
            audio_h=f"{summary.audio_seconds / 3600:.2f}",
        )
        if not show_bar:
            finished = summary.ok + summary.skipped + summary.failed + summary.timeout
            say(f"[{finished}/{summary.total}] {result.status} {result.id} ({result.seconds:.1f} s)", err=True)
        if result.error:
            fail(result.error)

    try:
        summary = run_batch(items, settings, report)  # refuses an unwritable or busy folder before any model loads
    finally:
        bar.close()
    say(summary.line())
    if link_speakers:
        from meetsep.analysis.linking import link_folder

        voices, found = link_folder(out_dir, config.attribute.link_threshold)
        say(f"{out_dir}: {found} speakers, {voices} voices -> {out_dir / 'speakers.csv'}")
    if not summary.success:
        sys.exit(EXIT_INPUT_ERROR)


@click.command("batch-report")
@click.argument("out_dirs", nargs=-1, required=True, type=click.Path(exists=True, file_okay=False, path_type=Path))
@click.option("--json", "as_json", is_flag=True, help="Print the summary as JSON.")
@click.option(
    "--metrics",
    "metrics_path",
    type=click.Path(dir_okay=False, path_type=Path),
    default=None,
    help="Also write one CSV row per file: status and call analytics (talk, overtalk, dead air, ...).",
)
def batch_report(out_dirs: tuple[Path, ...], as_json: bool, metrics_path: Path | None) -> None:
    """Summarize one or more batch output folders: latest status per file, totals, failures."""
    from meetsep.batch.run import REPORT_NAME, metric_rows, metrics_csv, summarize_reports
    from meetsep.core.errors import MeetsepError
    from meetsep.io.files import atomic_write_text

    for folder in out_dirs:
        if not (folder / REPORT_NAME).is_file():
            raise MeetsepError(f"{folder}: no {REPORT_NAME} (not a meetsep batch output folder)")
    summary = summarize_reports(list(out_dirs))
    if metrics_path is not None:
        rows = metric_rows(list(out_dirs))
        atomic_write_text(metrics_path, metrics_csv(rows))
        say(f"{len(rows)} rows -> {metrics_path}", err=as_json)
    if as_json:
        click.echo(json.dumps(summary, indent=2, sort_keys=True))
    else:
        click.echo(
            f"{summary['items']} files over {summary['runs']} run(s): {summary['ok']} done, {summary['skipped']} skipped, "
            f"{summary['failed']} failed, {summary['timeout']} timed out; {summary['audio_hours']:.2f} audio h"
        )
        for failure in summary["failures"]:
            click.echo(f"  {failure['status']}: {failure['error']}")
    if summary["failed"] or summary["timeout"]:
        sys.exit(EXIT_INPUT_ERROR)

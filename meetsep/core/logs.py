"""What the user sees besides results: meetsep's log messages and third-party warnings.

meetsep reports through the ``meetsep`` logger (``logging``); the command line sets its level with
``--quiet`` / ``--verbose``. Third-party libraries warn about things that do not concern a meetsep
user (a CPU build of PyTorch without Intel GPU support, a CUDA-only torchcodec that meetsep never
uses, pyannote's evaluation-map notes); those known warnings are silenced when meetsep is imported,
by exact message, and shown again under ``--verbose``. Any other warning still shows.
"""

from __future__ import annotations

import logging
import re
import sys
import warnings

logger = logging.getLogger("meetsep")

# (message regex, category) of third-party warnings that say nothing a meetsep user can act on.
KNOWN_WARNINGS: tuple[tuple[str, type[Warning]], ...] = (
    # torch.backends.mkldnn.flags() on a CPU build (CAM++ runs with oneDNN off)
    (r"TF32 acceleration on top of oneDNN is available for Intel GPUs", UserWarning),
    # torchcodec's CUDA wheel cannot load beside a CPU torch; meetsep hands pyannote audio in memory
    (r"(?s).*torchcodec", UserWarning),
    # pyannote.metrics when a reference has no UEM: meetsep scores the whole extent on purpose
    (r"'uem' was approximated by the union of 'reference' and 'hypothesis' extents", UserWarning),
)


def _is_known(entry: tuple) -> bool:
    action, message, category, _, _ = entry
    pattern = message.pattern if isinstance(message, re.Pattern) else message
    return action == "ignore" and any(pattern == known and category is cls for known, cls in KNOWN_WARNINGS)


def silence_known_warnings() -> None:
    """Ignore the :data:`KNOWN_WARNINGS`, ahead of other filters (idempotent; called when meetsep is imported)."""
    show_known_warnings()
    for message, category in KNOWN_WARNINGS:
        warnings.filterwarnings("ignore", message=message, category=category)


def show_known_warnings() -> None:
    """Undo :func:`silence_known_warnings` (``--verbose``)."""
    warnings.filters[:] = [entry for entry in warnings.filters if not _is_known(entry)]
    warnings._filters_mutated()  # type: ignore[attr-defined]  # the module's own cache reset


def _log_warning(
    message: Warning | str,
    category: type[Warning],
    filename: str,
    lineno: int,
    file: object = None,
    line: str | None = None,
) -> None:
    text = " ".join(str(message).split())
    logging.getLogger("py.warnings").warning("%s: %s (%s:%d)", category.__name__, text, filename, lineno)


def configure(verbosity: int = 0) -> None:
    """Set up logging for the command line.

    Args:
        verbosity: ``-1`` quiet (errors only), ``0`` normal (meetsep's warnings), ``1`` verbose
            (meetsep's progress notes, third-party warnings, and their log messages).
    """
    level = {-1: logging.ERROR, 0: logging.WARNING}.get(verbosity, logging.DEBUG)
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(
        logging.Formatter("meetsep: %(levelname)s: %(message)s" if verbosity > 0 else "meetsep: %(message)s")
    )
    root = logging.getLogger()
    root.handlers[:] = [handler]
    # third-party loggers (speechbrain, pyannote, lightning, ...) stay quiet unless verbose
    root.setLevel(logging.INFO if verbosity > 0 else logging.ERROR)
    logger.setLevel(level)
    # warnings that still show (unknown ones; all under --verbose) go through logging, one line each
    logging.getLogger("py.warnings").setLevel(logging.ERROR if verbosity < 0 else logging.WARNING)
    warnings.showwarning = _log_warning
    if verbosity > 0:
        show_known_warnings()
    else:
        silence_known_warnings()

"""DCMTK's console logging: ``<L>: text`` on stderr, every line of a message prefixed.

Levels fatal, error, warn (default), info, debug, trace map onto Python's logging; the
loggers are ``dimse.*`` (the network core) and ``dimse.tools.<tool>`` (each tool).
"""

from __future__ import annotations

import logging
import sys

from ..files.pywarnings import route_to_log
from .logconfig import configure_from_file
from .options import CommandLine, CommandLineError, Parsed

TRACE = 5
logging.addLevelName(TRACE, "TRACE")
LEVELS = {
    "fatal": logging.CRITICAL,
    "error": logging.ERROR,
    "warn": logging.WARNING,
    "info": logging.INFO,
    "debug": logging.DEBUG,
    "trace": TRACE,
}
_PREFIX = {
    logging.CRITICAL: "F",
    logging.ERROR: "E",
    logging.WARNING: "W",
    logging.INFO: "I",
    logging.DEBUG: "D",
    TRACE: "T",
}


class PrefixFormatter(logging.Formatter):
    """``F:``/``E:``/``W:``/``I:``/``D:``/``T:`` before every line."""

    def format(self, record: logging.LogRecord) -> str:
        prefix = _PREFIX.get(record.levelno, "I")
        text = record.getMessage()
        if record.exc_info and record.levelno <= logging.DEBUG:
            text += "\n" + self.formatException(record.exc_info)
        return "\n".join(f"{prefix}: {line}" for line in text.split("\n"))


def add_logging_options(cmd: CommandLine) -> None:
    cmd.add("-q", "--quiet", "quiet mode, print no warnings and errors")
    cmd.add("-v", "--verbose", "verbose mode, print processing details")
    cmd.add("-d", "--debug", "debug mode, print debug information")
    cmd.add(
        "-ll",
        "--log-level",
        "use level l for the logger",
        "[l]evel: string constant\n(fatal, error, warn, info, debug, trace)",
    )
    cmd.add("-lc", "--log-config", "use config file f for the logger", "[f]ilename: string")


def quiet_requested(argv: list[str]) -> bool:
    """Whether -q wins among -q/-v/-d (used before parsing succeeded, for error output)."""
    for arg in reversed(argv):
        if arg in ("-q", "--quiet"):
            return True
        if arg in ("-v", "--verbose", "-d", "--debug"):
            return False
    return False


def configure(parsed: Parsed, tool: str) -> logging.Logger:
    """Set the level from -q/-v/-d/-ll and attach the prefix handler; returns the tool's logger."""
    route_to_log()
    block = parsed.winner("--quiet", "--verbose", "--debug")
    level_name = parsed.value("--log-level")
    if level_name is not None and block is not None:
        raise CommandLineError("--log-level not allowed with --verbose, --debug or --quiet")
    root = logging.getLogger("dimse")
    logger = logging.getLogger(f"dimse.tools.{tool}")
    if parsed.has("--log-config"):
        if level_name is not None:
            raise CommandLineError("--log-config not allowed with --log-level")
        if block is not None:
            raise CommandLineError("--log-config not allowed with --verbose, --debug or --quiet")
        configure_from_file(parsed.given("--log-config")[0], tool)
        _forced_arguments(parsed, tool, logger, root.handlers)
        _header(logger, tool)
        return logger
    if level_name is not None:
        if level_name not in LEVELS:
            raise CommandLineError("Invalid log level for --log-level option")
        level = LEVELS[level_name]
    else:
        level = {"--quiet": logging.CRITICAL, "--verbose": logging.INFO, "--debug": logging.DEBUG}.get(
            block or "", logging.WARNING
        )
    root.handlers.clear()
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(PrefixFormatter())
    root.addHandler(handler)
    root.setLevel(level)
    root.propagate = False
    _forced_arguments(parsed, tool, logger, [handler])
    _header(logger, tool)
    return logger


def _header(logger: logging.Logger, tool: str) -> None:
    from .._version import __version__
    from .dictionary import load_from_environment

    logger.debug("$dimse: %s v%s $\n", tool, __version__)
    load_from_environment(logger)


def _forced_arguments(parsed: Parsed, tool: str, logger: logging.Logger, handlers: list[logging.Handler]) -> None:
    """``--arguments``: one INFO record printed whatever the level, as DCMTK does."""
    if not parsed.has("--arguments"):
        return
    args = "".join(f"'{a}' " if a else "" for a in parsed.expanded)
    text = f"calling '{parsed.argv0 or tool}' with {len(parsed.expanded)} arguments: {args}\n"
    record = logger.makeRecord(logger.name, logging.INFO, __file__, 0, text, (), None)
    for handler in handlers:
        handler.handle(record)

"""``-lc file``: DCMTK's log4cplus property files, for the cases DCMTK ships and people use.

Supported: ``log4cplus.rootLogger = LEVEL, appender...``; Console, File, RollingFile and Null
appenders with ``Threshold``, ``logToStdErr``, ``File``, ``Append``, ``ImmediateFlush``,
``MaxFileSize``, ``MaxBackupIndex``; Pattern, Simple and TTCC layouts; ``${appname}`` and
environment variables; ``log4cplus.logger.<name> = LEVEL`` for ``dcmtk.apps.<tool>`` and the
library loggers.  Anything else is reported on stderr as not supported and left out.
"""

from __future__ import annotations

import logging
import os
import re
import socket
import sys
import threading
import time

from .options import CommandLineError

_LEVELS = {"TRACE": 5, "DEBUG": 10, "INFO": 20, "WARN": 30, "ERROR": 40, "FATAL": 50, "ALL": 0, "OFF": 100}
_LEVEL_NAMES = {5: "TRACE", 10: "DEBUG", 20: "INFO", 30: "WARN", 40: "ERROR", 50: "FATAL"}
_STARTED = time.time()
_TOKEN = re.compile(r"%(-?)(\d*)(?:\.(\d+))?([a-zA-Z%])(?:\{([^}]*)\})?")


def read_properties(text: str, appname: str) -> dict[str, str]:
    """``key = value`` lines; ``#``/``!`` comments; ``${appname}`` and ``${ENV}`` expanded."""
    props: dict[str, str] = {}
    for raw in text.splitlines():
        line = raw.strip()
        if not line or line[0] in "#!" or "=" not in line:
            continue
        key, value = (part.strip() for part in line.split("=", 1))
        props[key] = re.sub(
            r"\$\{([^}]*)\}", lambda m: appname if m.group(1) == "appname" else os.environ.get(m.group(1), ""), value
        )
    return props


class PatternFormatter(logging.Formatter):
    """log4cplus's PatternLayout: %m %n %p %c{n} %D{fmt} %d{fmt} %r %i %t %h %%, with widths."""

    def __init__(self, pattern: str) -> None:
        super().__init__()
        self.pattern = pattern

    def _field(self, conv: str, opt: str | None, record: logging.LogRecord, message: str) -> str:
        if conv == "m":
            return message
        if conv == "n":
            return "\n"
        if conv == "p":
            return _LEVEL_NAMES.get(record.levelno, record.levelname)
        if conv == "c":
            name = record.name.replace("dimse.tools.", "dcmtk.apps.")
            return ".".join(name.split(".")[-int(opt) :]) if opt and opt.isdigit() else name
        if conv in ("D", "d"):
            when = time.localtime(record.created) if conv == "D" else time.gmtime(record.created)
            fmt = (
                (opt or "%Y-%m-%d %H:%M:%S")
                .replace("%q", f"{int(record.msecs):03d}")
                .replace("%Q", f"{record.msecs:07.3f}")
            )
            return time.strftime(fmt, when)
        if conv == "r":
            return str(int((record.created - _STARTED) * 1000))
        if conv == "i":
            return str(os.getpid())
        if conv == "t":
            return threading.current_thread().name
        if conv == "h":
            return socket.gethostname()
        if conv == "%":
            return "%"
        return ""

    def format_line(self, record: logging.LogRecord, message: str) -> str:
        out, pos = [], 0
        for match in _TOKEN.finditer(self.pattern):
            out.append(self.pattern[pos : match.start()])
            left, width, limit, conv, opt = match.groups()
            value = self._field(conv, opt, record, message)
            if limit:
                value = value[: int(limit)]
            if width:
                value = value.ljust(int(width)) if left else value.rjust(int(width))
            out.append(value)
            pos = match.end()
        out.append(self.pattern[pos:])
        return "".join(out)

    def format(self, record: logging.LogRecord) -> str:
        lines = record.getMessage().split("\n")
        text = "".join(self.format_line(record, line) for line in lines)
        return text[:-1] if text.endswith("\n") else text  # the handler adds the final newline


def _size(text: str) -> int:
    match = re.fullmatch(r"\s*(\d+)\s*(KB|MB|GB)?\s*", text.upper())
    if not match:
        return 10 << 20
    return int(match.group(1)) << {"KB": 10, "MB": 20, "GB": 30}.get(match.group(2) or "", 0)


def _truthy(value: str | None, default: bool) -> bool:
    return default if value is None else value.strip().lower() in ("true", "1", "yes")


def _handler(name: str, props: dict[str, str], unsupported: list[str]) -> logging.Handler | None:
    prefix = f"log4cplus.appender.{name}"
    kind = props.get(prefix, "").split("::")[-1]
    if kind == "ConsoleAppender":
        handler: logging.Handler = logging.StreamHandler(
            # log4cplus's key is logToStdErr; DCMTK's sample files spell it logToStderr, which
            # log4cplus ignores (their output goes to stdout), and so do we
            sys.stderr if _truthy(props.get(f"{prefix}.logToStdErr"), False) else sys.stdout
        )
    elif kind in ("FileAppender", "RollingFileAppender"):
        path = props.get(f"{prefix}.File", "dimse.log")
        mode = "a" if _truthy(props.get(f"{prefix}.Append"), True) else "w"
        if kind == "RollingFileAppender":
            from logging.handlers import RotatingFileHandler  # only here: it costs every start-up a few ms

            handler = RotatingFileHandler(
                path,
                mode=mode,
                maxBytes=_size(props.get(f"{prefix}.MaxFileSize", "10MB")),
                backupCount=int(props.get(f"{prefix}.MaxBackupIndex", "1") or 1),
            )
        else:
            handler = logging.FileHandler(path, mode=mode)
    elif kind == "NullAppender":
        handler = logging.NullHandler()
    else:
        unsupported.append(f"appender {name} of type {props.get(prefix) or '(none)'}")
        return None
    threshold = props.get(f"{prefix}.Threshold")
    if threshold:
        handler.setLevel(_LEVELS.get(threshold.strip().upper(), 0))
    layout = props.get(f"{prefix}.layout", "log4cplus::SimpleLayout").split("::")[-1]
    pattern = {
        "SimpleLayout": "%p - %m%n",
        "TTCCLayout": "%r [%t] %p %c - %m%n",
    }.get(layout)
    if layout == "PatternLayout":
        pattern = props.get(f"{prefix}.layout.ConversionPattern", "%m%n")
    if pattern is None:
        unsupported.append(f"layout {layout} of appender {name}")
        pattern = "%p - %m%n"
    handler.setFormatter(PatternFormatter(pattern))
    return handler


def configure_from_file(path: str, appname: str) -> int:
    """Set up the ``dimse`` loggers from a log4cplus file; returns the root level."""
    if not os.path.exists(path):
        raise CommandLineError("Specified --log-config file does not exist")
    try:
        with open(path, encoding="utf-8", errors="replace") as fp:
            text = fp.read()
    except OSError:
        raise CommandLineError("Specified --log-config file cannot be read") from None
    props = read_properties(text, appname)
    if not props:
        raise CommandLineError("Specified --log-config file does not contain any settings")
    if not any(key.startswith("log4cplus.") for key in props):
        raise CommandLineError("Specified --log-config file does not contain any valid settings")
    root_spec = props.get("log4cplus.rootLogger")
    if root_spec is None:
        raise CommandLineError("Specified --log-config file does not set up log4cplus.rootLogger")
    level_name, *appenders = [part.strip() for part in root_spec.split(",")]
    level = _LEVELS.get(level_name.upper(), logging.DEBUG)
    unsupported: list[str] = []
    root = logging.getLogger("dimse")
    root.handlers.clear()
    root.setLevel(level)
    root.propagate = False
    for name in filter(None, appenders):
        handler = _handler(name, props, unsupported)
        if handler is not None:
            root.addHandler(handler)
    for key, value in props.items():
        if key.startswith("log4cplus.logger."):
            target = key[len("log4cplus.logger.") :]
            if target.startswith("dcmtk.apps."):
                rest = target[len("dcmtk.apps.") :]
                if rest.endswith(".progress"):
                    continue  # progress output is not a log stream here
                logging.getLogger(f"dimse.tools.{rest}").setLevel(
                    _LEVELS.get(value.split(",")[0].strip().upper(), level)
                )
            # other dcmtk.* library loggers have no counterpart: the network core logs under the root
        elif not key.startswith(("log4cplus.appender.", "log4cplus.rootLogger")):
            unsupported.append(f"setting {key}")
    for what in unsupported:
        sys.stderr.write(f"W: --log-config: {what} is not supported, ignored\n")
    return level

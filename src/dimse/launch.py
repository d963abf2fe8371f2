"""The console scripts' entry points: ``--help``, ``-h``, ``--version`` and a call without
arguments answered from text written down in advance (:mod:`dimse._usage`), before any of
the tool is imported.  Scripts call ``storescu --version`` to probe which tool they have, and
loading the network stack, asyncio and pydicom to print a page of text cost ~0.4 s.

Any other command line runs the tool's ``main``.  ``python -m dimse.launch --write-usage``
writes the texts again from the tools' own command-line definitions; ``tests/test_launch.py``
checks that they agree.
"""

from __future__ import annotations

import importlib
import os
import sys

TYPE_CHECKING = False  # typing.TYPE_CHECKING without importing typing (~10 ms at start-up)
if TYPE_CHECKING:
    from collections.abc import Callable
    from pathlib import Path

#: the tools with console scripts (``dimse-demo`` has no DCMTK counterpart and no fast path)
TOOLS = ("echoscu", "storescp", "storescu", "movescu", "findscu", "getscu")
_HELP: tuple[list[str], ...] = (["--help"], ["-h"], [])


def _main(tool: str) -> int:
    args = sys.argv[1:]
    if args in _HELP or args == ["--version"]:
        from ._usage import USAGE

        text = USAGE[tool]
        sys.stdout.write(text if args != ["--version"] else _version_text(text))
        sys.stdout.flush()
        return 0
    module = importlib.import_module(f"dimse.tools.{tool}")
    code: int = module.main()
    return code


def _version_text(usage: str) -> str:
    """``--version``: the usage text's first three lines (header, blank, tool: description)
    and the versions of the package and of pydicom."""
    from ._version import __version__

    head = "\n".join(usage.split("\n")[:3])
    return f"{head}\nPython package dimse {__version__}, pydicom {pydicom_version()}\n"


def pydicom_version() -> str:
    """pydicom's version from its installed metadata's folder name, without importing it
    (pydicom's own import takes ~0.2 s; ``importlib.metadata`` ~0.05 s)."""
    for entry in sys.path:
        try:
            names = os.listdir(entry or ".")
        except OSError:
            continue
        for name in names:
            if name.startswith("pydicom-") and name.endswith((".dist-info", ".egg-info")):
                return name.removeprefix("pydicom-").rsplit(".", 1)[0]
    from importlib.metadata import PackageNotFoundError, version

    try:
        return version("pydicom")
    except PackageNotFoundError:
        return "unknown"


def _entry(tool: str) -> Callable[[], int]:
    """The console script ``tool`` (``[project.scripts]`` names these)."""

    def script() -> int:
        return _main(tool)

    script.__name__ = script.__qualname__ = tool
    return script


echoscu = _entry("echoscu")
storescp = _entry("storescp")
storescu = _entry("storescu")
movescu = _entry("movescu")
findscu = _entry("findscu")
getscu = _entry("getscu")


def usage_texts() -> dict[str, str]:
    """Each tool's ``--help`` text, from its command-line definition."""
    return {tool: importlib.import_module(f"dimse.tools.{tool}").command_line().usage() for tool in TOOLS}


def write_usage() -> Path:
    """Write :mod:`dimse._usage` from the tools' definitions."""
    from pathlib import Path

    path = Path(__file__).with_name("_usage.py")
    lines = [
        '"""Each tool\'s ``--help`` text, for :mod:`dimse.launch` (written by',
        '``python -m dimse.launch --write-usage``; do not edit)."""',
        "",
        "USAGE = {",
    ]
    for tool, text in usage_texts().items():
        lines.append(f"    {tool!r}: (")
        lines += [f"        {line!r}" for line in text.splitlines(keepends=True)]
        lines.append("    ),")
    lines.append("}")
    path.write_text("\n".join(lines) + "\n")
    return path


if __name__ == "__main__":
    if sys.argv[1:] != ["--write-usage"]:
        sys.exit("usage: python -m dimse.launch --write-usage")
    print(write_usage())

"""DCMTK-style command lines: ``+``/``-`` options, rightmost wins, ``@file`` expansion.

The rules are DCMTK's (OFCommandLine): an argument is an option when it has two or more
characters, starts with ``-`` or ``+`` and its second character is not a digit; short forms
are whole tokens; an option with n values takes the next n arguments verbatim; options and
parameters mix in any order; everything is reported under the long name.
"""

from __future__ import annotations

import sys
from collections.abc import Callable, Sequence
from typing import TextIO, overload

from ..core.record import FrozenRecord, Record

_set = object.__setattr__


class CommandLineError(Exception):
    """A syntax error: printed in DCMTK's layout, exit code 1."""


class ExitRequest(Exception):
    """``--help``/``--version`` were handled: exit with ``code``."""

    def __init__(self, code: int) -> None:
        super().__init__(code)
        self.code = code


class Option(FrozenRecord):
    __slots__ = ("long", "short", "values", "help", "exclusive")
    long: str
    short: str | None
    values: tuple[str, ...]  # value descriptions, e.g. ("[a]etitle: string",)
    help: str
    exclusive: bool

    def __init__(  # noqa: PLR0913 (an option's description)
        self, long: str, short: str | None, values: tuple[str, ...], help: str, exclusive: bool = False
    ) -> None:
        _set(self, "long", long)
        _set(self, "short", short)
        _set(self, "values", values)
        _set(self, "help", help)
        _set(self, "exclusive", exclusive)


class Param(FrozenRecord):
    __slots__ = ("name", "help", "optional", "repeat")
    name: str
    help: str
    optional: bool
    repeat: bool

    def __init__(self, name: str, help: str, optional: bool = False, repeat: bool = False) -> None:
        _set(self, "name", name)
        _set(self, "help", help)
        _set(self, "optional", optional)
        _set(self, "repeat", repeat)


class _Group(Record):
    __slots__ = ("title", "depth", "options")

    def __init__(self, title: str, depth: int) -> None:
        self.title = title
        self.depth = depth
        self.options: list[Option] = []


def is_option(arg: str) -> bool:
    return len(arg) >= 2 and arg[0] in "+-" and not arg[1].isdigit()


def expand_command_files(argv: Sequence[str]) -> list[str]:
    """Replace each ``@file`` argument by the tokens of that file (one level, DCMTK quoting)."""
    out: list[str] = []
    for arg in argv:
        if len(arg) > 1 and arg[0] == "@":
            try:
                with open(arg[1:], encoding="utf-8", errors="surrogateescape") as fp:
                    out.extend(tokenize_command_file(fp.read()))
            except OSError:
                raise CommandLineError(f"Cannot open command file '{arg[1:]}'") from None
        else:
            out.append(arg)
    return out


def tokenize_command_file(text: str) -> list[str]:
    """Split as DCMTK does: blanks separate, '..' and ".." quote, no escapes, no comments."""
    tokens: list[str] = []
    current: list[str] = []
    in_token = False
    i, n = 0, len(text)
    while i < n:
        ch = text[i]
        if ch in "\"'":
            end = text.find(ch, i + 1)
            end = n if end < 0 else end
            current.append(text[i + 1 : end])
            tokens.append("".join(current))
            current, in_token = [], False
            i = end + 1
        elif ch in " \t\r\n":
            if in_token:
                tokens.append("".join(current))
                current, in_token = [], False
            i += 1
        else:
            current.append(ch)
            in_token = True
            i += 1
    if in_token:
        tokens.append("".join(current))
    return tokens


#: DCMTK options whose value is an unsigned integer (OFCmdUnsignedInt): decimal only, and a
#: minus sign anywhere makes the value invalid; the others are read as C's ``%li`` reads them
UNSIGNED_OPTIONS = frozenset(
    {
        "--max-pdu",
        "--max-send-pdu",
        "--repeat",
        "--port",
        "--padding-create",
        "--compression-level",
        "--invent-series",
        "--invent-study",
        "--invent-patient",
        "--propose-ts",
        "--propose-pc",
    }
)
_SIGNS = {"-": -1, "+": 1}


def _scan_int(text: str, unsigned: bool) -> tuple[int | None, str]:
    """(value, what follows it) as ``sscanf`` reads a leading integer: ``%lu`` (decimal;
    a negative value wraps around) when ``unsigned``, else ``%li`` (0x.. hex, 0.. octal).
    The value is None when no digit was read."""
    s = text.lstrip()
    sign = _SIGNS.get(s[:1], 0)
    body = s[1:] if sign else s
    base = 10
    if not unsigned and body[:2].lower() == "0x" and body[2:3] and body[2:3] in "0123456789abcdefABCDEF":
        base, body = 16, body[2:]
    elif not unsigned and body.startswith("0"):
        base = 8
    digits = "0123456789abcdef"[:base]
    n = 0
    while n < len(body) and body[n].lower() in digits:
        n += 1
    if n == 0:
        return None, body
    value = int(body[:n], base) * (sign or 1)
    if unsigned and value < 0:
        value += 1 << 64  # what %lu makes of a minus sign
    return value, body[n:]


def parse_int(
    text: str,
    what: str,
    low: int | None = None,
    high: int | None = None,
    option: bool = True,
    unsigned: bool | None = None,
) -> int:
    """An integer option value (``what`` is the option's long name) or parameter (``option``
    False; always unsigned, as DCMTK's port parameters), with DCMTK's messages.

    DCMTK reads a leading number and ignores what follows it ("2.5" is 2, "0x68" for a port
    is 0, hence "underflow"); we give the same error whenever DCMTK gives one, and refuse the
    text where DCMTK would silently use only its leading digits (docs/compatibility.md)."""
    if unsigned is None:
        unsigned = not option or what in UNSIGNED_OPTIONS
    invalid = (
        f"Invalid value for option {what} ({text})" if text else f"Invalid value for option {what}"
    ) if option else f"Invalid parameter value {text}"
    if option and unsigned and "-" in text:
        raise CommandLineError(invalid)
    value, rest = _scan_int(text, unsigned)
    if value is None:
        raise CommandLineError(invalid)
    for word, bad in (("underflow", low is not None and value < low), ("overflow", high is not None and value > high)):
        if bad:
            if option:
                raise CommandLineError(f"Invalid value for option {what} ({word}: {text})")
            raise CommandLineError(f"Invalid parameter value {text} ({word})")
    if rest.strip():
        raise CommandLineError(invalid)
    return value


class Parsed:
    """The result of parsing: option occurrences in order, and the parameters."""

    def __init__(self, occurrences: list[tuple[str, list[str]]], params: list[str], expanded: list[str]) -> None:
        self.occurrences = occurrences  # (long name, values) in command-line order
        self.params = params
        self.expanded = expanded  # arguments after @file expansion, options in long form
        self.argv0 = ""

    def has(self, long: str) -> bool:
        return any(name == long for name, _ in self.occurrences)

    def values(self, long: str) -> list[str] | None:
        """Values of the rightmost occurrence of ``long`` (None if absent)."""
        for name, vals in reversed(self.occurrences):
            if name == long:
                return vals
        return None

    def given(self, long: str) -> list[str]:
        """Values of the rightmost occurrence of an option the caller knows was given."""
        vals = self.values(long)
        if vals is None:
            raise KeyError(long)
        return vals

    @overload
    def value(self, long: str) -> str | None: ...
    @overload
    def value(self, long: str, default: str) -> str: ...
    @overload
    def value(self, long: str, default: None) -> str | None: ...
    def value(self, long: str, default: str | None = None) -> str | None:
        vals = self.values(long)
        return vals[0] if vals else default

    def all_values(self, long: str) -> list[list[str]]:
        return [vals for name, vals in self.occurrences if name == long]

    def winner(self, *longs: str) -> str | None:
        """Of mutually exclusive options, the one furthest to the right (None if none given)."""
        for name, _ in reversed(self.occurrences):
            if name in longs:
                return name
        return None


class CommandLine:
    """Declares a tool's options and parameters, parses argv and prints usage."""

    def __init__(self, tool: str, description: str, version: str) -> None:
        self.tool = tool
        self.argv0 = tool  # the program name as typed, for --arguments
        self.description = description
        self.version = version
        self.params: list[Param] = []
        self.groups: list[_Group] = []
        self._by_name: dict[str, Option] = {}
        #: exclusive options other than --help/--version, with what they print (in this order)
        self._listings: list[tuple[str, Callable[[TextIO], None]]] = []

    @property
    def header(self) -> str:
        return f"$dimse: {self.tool} v{self.version} $"

    def param(self, name: str, help: str, optional: bool = False, repeat: bool = False) -> None:
        self.params.append(Param(name, help, optional, repeat))

    def group(self, title: str, depth: int = 0) -> None:
        self.groups.append(_Group(title, depth))

    def add(self, short: str | None, long: str, help: str, *values: str, exclusive: bool = False) -> None:
        opt = Option(long, short, values, help, exclusive)
        self.groups[-1].options.append(opt)
        self._by_name[long] = opt
        if short:
            self._by_name[short] = opt

    def on_exclusive(self, long: str, listing: Callable[[TextIO], None]) -> None:
        """What the exclusive option ``long`` prints before the tool exits 0 (``+cc``, ``+ph``):
        handled with --help and --version, before any parameter is needed."""
        if not self._by_name[long].exclusive:
            raise ValueError(f"{long} is not an exclusive option")
        self._listings.append((long, listing))

    # -------------------------------------------------------------- parsing

    def parse(self, argv: Sequence[str]) -> Parsed:
        args = expand_command_files(argv)
        occurrences: list[tuple[str, list[str]]] = []
        params: list[str] = []
        expanded: list[str] = []
        i = 0
        while i < len(args):
            arg = args[i]
            i += 1
            if not is_option(arg):
                params.append(arg)
                expanded.append(arg)
                continue
            opt = self._by_name.get(arg)
            if opt is None:
                raise CommandLineError(f"Unknown option {arg}")
            if i + len(opt.values) > len(args):
                raise CommandLineError(f"Missing value for option {opt.long}")
            vals = list(args[i : i + len(opt.values)])
            i += len(opt.values)
            occurrences.append((opt.long, vals))
            expanded.extend([opt.long, *vals])
        parsed = Parsed(occurrences, params, expanded)
        parsed.argv0 = self.argv0
        if any(self._by_name[name].exclusive for name, _ in occurrences):
            return parsed
        required = [p for p in self.params if not p.optional]
        if len(params) < len(required):
            raise CommandLineError(f"Missing parameter {required[len(params)].name}")
        if not any(p.repeat for p in self.params) and len(params) > len(self.params):
            raise CommandLineError("Too many parameters")
        return parsed

    # -------------------------------------------------------------- output

    def usage(self) -> str:
        names = " ".join(
            (
                f"[{p.name}...]"
                if p.repeat and p.optional
                else f"{p.name}..."
                if p.repeat
                else f"[{p.name}]"
                if p.optional
                else p.name
            )
            for p in self.params
        )
        lines = [
            self.header,
            "",
            f"{self.tool}: {self.description}",
            f"usage: {self.tool} [options] {names}".rstrip(),
            "",
        ]
        if self.params:
            lines.append("parameters:")
            for p in self.params:
                lines.append(f"  {p.name:<29}{p.help}")
            lines.append("")
        for group in self.groups:
            indent = "  " * group.depth
            lines.append(f"{indent}{group.title}:")
            for opt in group.options:
                short = opt.short or ""
                pad = indent + "  "
                head = f"{pad}{short:<6}{opt.long}"
                help_lines = opt.help.split("\n")
                if opt.values:
                    help_lines = [*", ".join(v for v in opt.values if v).split("\n"), *help_lines]
                width = max(31, len(head) + 1)
                lines.append(f"{head:<{width}}{help_lines[0]}")
                for extra in help_lines[1:]:
                    lines.append(" " * width + extra)
        return "\n".join(lines) + "\n"

    def error_text(self, message: str) -> str:
        return f"{self.header}\n\n{self.tool}: {self.description}\nerror: {message}\n"

    def handle_exclusive(self, parsed: Parsed, out: TextIO | None = None) -> None:
        """Print help, version or a listing and raise ExitRequest(0) when one was asked for."""
        out = out or sys.stdout
        if parsed.has("--help"):
            out.write(self.usage())
            raise ExitRequest(0)
        if parsed.has("--version"):
            import pydicom

            out.write(f"{self.header}\n\n{self.tool}: {self.description}\n")
            out.write(f"Python package dimse {self.version}, pydicom {pydicom.__version__}\n")
            raise ExitRequest(0)
        for long, listing in self._listings:
            if parsed.has(long):
                listing(out)
                raise ExitRequest(0)

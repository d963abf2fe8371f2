"""DCMTK's association negotiation profiles (``asconfig.txt`` format), for ``storescu -xf``.

The file is an INI dialect (spec section 10.1): ``[[SuperSections]]`` holding ``[Sections]`` of
``Key = Value`` entries, keys and section names upper-cased with anything but ``A-Z0-9-_``
dropped, ``#`` comments in column 1, values continued on lines that start with whitespace,
numbered keys read from 1 up to the first gap.  UIDs may be given as DCMTK's names.

Errors say which file and line and what is wrong, in DCMTK's words.
"""

from __future__ import annotations

import functools
import re
import sys

from ..core.negotiation import MAX_CONTEXTS
from ..core.pdu import RoleSelection, SOPClassExtendedNegotiation
from ..core.record import Record
from ..dcmtk.uid_names import SOP_CLASS_NAMES, TRANSFER_SYNTAX_NAMES


@functools.cache
def _by_keyword() -> dict[str, str]:
    """pydicom's UID keywords (imported only when a profile names a UID by keyword)."""
    from pydicom._uid_dict import UID_dictionary

    return {entry[4]: uid for uid, entry in UID_dictionary.items()}


_UID = re.compile(r"^[0-9]+(\.[0-9]+)*$")
_NUMBERED = re.compile(r"^([A-Z_-]*?)([1-9][0-9]*)$")
_BY_DCMTK_NAME = {name: uid for uid, name in SOP_CLASS_NAMES.items()} | {
    names[0]: uid for uid, names in TRANSFER_SYNTAX_NAMES.items()
}
_LOCAL, _OPPOSITE = ("1.2.840.10008.1.2.1", "1.2.840.10008.1.2.2")[:: 1 if sys.byteorder == "little" else -1]
_BY_DCMTK_NAME |= {"LocalEndianExplicit": _LOCAL, "OppositeEndianExplicit": _OPPOSITE}


class ConfigError(Exception):
    """A problem in a config file or profile, in DCMTK's words (plus where, when known)."""


def _normalize(name: str) -> str:
    return re.sub(r"[^A-Z0-9_-]", "", name.upper())


class _Entry(Record):
    __slots__ = ("value", "line")

    def __init__(self, value: str, line: int) -> None:
        self.value = value
        self.line = line


class Profile(Record):
    """What one profile proposes: contexts in order, role items, extended negotiation items."""

    __slots__ = ("contexts", "roles", "extended")

    def __init__(
        self,
        contexts: list[tuple[str, list[str]]],
        roles: list[RoleSelection] | None = None,
        extended: list[SOPClassExtendedNegotiation] | None = None,
    ) -> None:
        self.contexts = contexts
        self.roles: list[RoleSelection] = [] if roles is None else roles
        self.extended: list[SOPClassExtendedNegotiation] = [] if extended is None else extended


class AssociationConfig:
    """A parsed and checked config file."""

    def __init__(self, path: str) -> None:
        self.path = path
        try:
            with open(path, encoding="utf-8", errors="replace") as fp:
                text = fp.read()
        except OSError:
            raise ConfigError(f"unable to open configuration file: {path}") from None
        self.tree = self._parse(text)
        for required in ("TRANSFERSYNTAXES", "PRESENTATIONCONTEXTS", "PROFILES"):
            if required not in self.tree:
                raise ConfigError(f"cannot find section [[{required}]] in config file")
        self.transfer_syntaxes = {
            label: [self._uid(e, "transfer syntax") for e in self._numbered(entries, "TRANSFERSYNTAX")]
            for label, entries in self.tree["TRANSFERSYNTAXES"].items()
        }
        self.context_lists = {
            label: self._contexts(label, entries) for label, entries in self.tree["PRESENTATIONCONTEXTS"].items()
        }
        self.role_lists = {
            label: self._roles(entries) for label, entries in self.tree.get("SCPSCUROLESELECTION", {}).items()
        }
        self.extended_lists = {
            label: self._extended(entries) for label, entries in self.tree.get("EXTENDEDNEGOTIATION", {}).items()
        }
        self.profiles = self.tree["PROFILES"]

    # ------------------------------------------------------------------ syntax

    def _where(self, line: int) -> str:
        return f"{self.path}:{line}: "

    def _parse(self, text: str) -> dict[str, dict[str, dict[str, _Entry]]]:
        tree: dict[str, dict[str, dict[str, _Entry]]] = {}
        superkey: str | None = None
        section: str | None = None
        last: _Entry | None = None
        for number, raw in enumerate(text.splitlines(), 1):
            if not raw.strip() or raw.startswith("#"):
                continue
            if raw[0] in " \t":
                if last is None:
                    raise ConfigError(self._where(number) + "continuation line without an entry")
                last.value += "\n" + raw.strip()
                continue
            line = raw.rstrip()
            if line.startswith("[["):
                superkey = _normalize(line.strip("[] \t"))
                tree.setdefault(superkey, {})
                section, last = None, None
            elif line.startswith("["):
                if superkey is None:
                    raise ConfigError(self._where(number) + f"section {line} outside a [[super section]]")
                section = _normalize(line.strip("[] \t"))
                if section in tree[superkey]:
                    what = (
                        "two profiles defined for key"
                        if superkey == "PROFILES"
                        else f"section defined twice in [[{superkey}]]"
                    )
                    raise ConfigError(self._where(number) + f"{what}: {section}")
                tree[superkey][section] = {}
                last = None
            elif "=" in line:
                if superkey is None or section is None:
                    raise ConfigError(self._where(number) + "entry outside a [section]")
                key, value = line.split("=", 1)
                key = _normalize(key)
                if key in tree[superkey][section]:
                    raise ConfigError(self._where(number) + f"key {key} defined twice in section [{section}]")
                last = tree[superkey][section][key] = _Entry(value.lstrip(), number)
            else:
                raise ConfigError(self._where(number) + f"syntax error: {line!r} is neither a section nor an entry")
        return tree

    @staticmethod
    def _numbered(entries: dict[str, _Entry], prefix: str) -> list[_Entry]:
        found, n = [], 1
        while f"{prefix}{n}" in entries:
            found.append(entries[f"{prefix}{n}"])
            n += 1
        return found

    def _uid(self, entry: _Entry, what: str, text: str | None = None) -> str:
        """A UID or a name; abstract syntaxes are not trimmed (DCMTK does not trim them either)."""
        name = entry.value.strip() if text is None else text
        name = name[1:] if name.startswith("=") else name
        uid = name if _UID.match(name) else _BY_DCMTK_NAME.get(name) or _by_keyword().get(name)
        if not uid:
            raise ConfigError(self._where(entry.line) + f"not a valid {what} UID: {name}")
        return uid

    def _split(self, entry: _Entry, key: str) -> tuple[str, str]:
        if "\\" not in entry.value:
            raise ConfigError(self._where(entry.line) + f"syntax error: missing '\\' in entry {key} in config file")
        first, second = entry.value.split("\\", 1)
        return first, second

    # ------------------------------------------------------------------ semantics

    def _contexts(self, label: str, entries: dict[str, _Entry]) -> list[tuple[_Entry, str, str]]:
        items = self._numbered(entries, "PRESENTATIONCONTEXT")
        if len(items) > MAX_CONTEXTS:
            raise ConfigError(f"presentation context list too long (> {MAX_CONTEXTS} entries): {label}")
        out = []
        for n, entry in enumerate(items, 1):
            abstract, ts_label = self._split(entry, f"PresentationContext{n}")
            out.append((entry, self._uid(entry, "abstract syntax", abstract), _normalize(ts_label)))
        return out

    def _roles(self, entries: dict[str, _Entry]) -> dict[str, RoleSelection]:
        roles: dict[str, RoleSelection] = {}
        for n, entry in enumerate(self._numbered(entries, "ROLE"), 1):
            abstract, keyword = self._split(entry, f"Role{n}")
            uid = self._uid(entry, "abstract syntax", abstract)
            flags = {"SCU": (True, False), "SCP": (False, True), "BOTH": (True, True)}.get(keyword.strip().upper())
            if flags is None:
                raise ConfigError(
                    self._where(entry.line) + f"syntax error: unknown role key in entry Role{n} in config file"
                )
            if uid in roles:
                raise ConfigError(
                    self._where(entry.line) + f"role selection defined twice for abstract syntax UID: {uid}"
                )
            roles[uid] = RoleSelection(uid, *flags)
        return roles

    def _extended(self, entries: dict[str, _Entry]) -> list[SOPClassExtendedNegotiation]:
        items: dict[str, SOPClassExtendedNegotiation] = {}
        for n, entry in enumerate(self._numbered(entries, "EXTENDEDNEGOTIATION"), 1):
            abstract, data = self._split(entry, f"ExtendedNegotiation{n}")
            uid = self._uid(entry, "abstract syntax", abstract)
            data = data.strip()
            if len(data) % 2 or not re.fullmatch(r"[0-9A-Fa-f]*", data):
                raise ConfigError(
                    self._where(entry.line)
                    + f"parse error in extended negotiation data in entry ExtendedNegotiation{n}"
                )
            if len(data) // 2 > 1024:
                raise ConfigError(
                    self._where(entry.line)
                    + f"extended negotiation data too long, cannot handle > 1024 bytes in entry ExtendedNegotiation{n}"
                )
            if uid in items:
                raise ConfigError(
                    self._where(entry.line) + f"extended negotiation defined twice for abstract syntax UID: {uid}"
                )
            items[uid] = SOPClassExtendedNegotiation(uid, bytes.fromhex(data))
        return list(items.values())

    def profile(self, name: str) -> Profile:
        """The profile ``name`` (any case, whitespace ignored), checked; raises ConfigError."""
        key = _normalize(name)
        section = self.profiles.get(key)
        if section is None:
            raise ConfigError(f"0006:0426 profile key undefined: {key}")
        pc = section.get("PRESENTATIONCONTEXTS")
        if pc is None:
            raise ConfigError(f"no PRESENTATIONCONTEXTS  entry in section {key} in config file")
        pc_label = _normalize(pc.value)
        if pc_label not in self.context_lists:
            raise ConfigError(f"presentation context key undefined: {pc_label}")
        contexts = []
        for entry, abstract, ts_label in self.context_lists[pc_label]:
            if ts_label not in self.transfer_syntaxes:
                raise ConfigError(self._where(entry.line) + f"transfer syntax key undefined: {ts_label}")
            if not self.transfer_syntaxes[ts_label]:
                raise ConfigError(f"transfer syntax list empty: {ts_label}")
            contexts.append((abstract, list(self.transfer_syntaxes[ts_label])))
        roles: list[RoleSelection] = []
        if "SCPSCUROLESELECTION" in section:
            label = _normalize(section["SCPSCUROLESELECTION"].value)
            if label not in self.role_lists:
                raise ConfigError(f"role selection key undefined: {label}")
            role_map = self.role_lists[label]
            roles = [role_map[abstract] for abstract, _ in contexts if abstract in role_map]
        extended: list[SOPClassExtendedNegotiation] = []
        if "EXTENDEDNEGOTIATION" in section:
            label = _normalize(section["EXTENDEDNEGOTIATION"].value)
            if label not in self.extended_lists:
                raise ConfigError(f"extended negotiation key undefined: {label}")
            extended = list(self.extended_lists[label])
        return Profile(contexts, roles, extended)

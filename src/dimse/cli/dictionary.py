"""``DCMDICTPATH``: DCMTK-format data dictionaries added to pydicom's dictionary.

Each file has lines ``(gggg,eeee)<TAB>VR<TAB>Keyword<TAB>VM<TAB>Version`` and, for private
tags, ``(gggg,"creator",ee)``.  Entries pydicom already knows are left as pydicom has them;
ranges such as ``(60xx,0010)`` are skipped (pydicom has its own repeaters).
"""

from __future__ import annotations

import logging
import os
import re

_PUBLIC = re.compile(r"^\(([0-9A-Fa-f]{4}),([0-9A-Fa-f]{4})\)$")
_PRIVATE = re.compile(r'^\(([0-9A-Fa-f]{4}),"([^"]*)",([0-9A-Fa-f]{2})\)$')


def load(path: str) -> int:
    """Add the entries of one dictionary file; returns how many were new."""
    from pydicom.datadict import add_dict_entries, add_private_dict_entries, dictionary_has_tag

    public: dict[int, tuple[str, str, str, str, str]] = {}
    private: dict[str, dict[int, tuple[str, str, str, str]]] = {}
    with open(path, encoding="utf-8", errors="replace") as fp:
        for line in fp:
            if not line.strip() or line.lstrip().startswith("#"):
                continue
            fields = line.rstrip("\n").split("\t")
            if len(fields) < 4:
                continue
            tag_text, vr, keyword, vm = (f.strip() for f in fields[:4])
            version = fields[4].strip() if len(fields) > 4 else ""
            if match := _PUBLIC.match(tag_text):
                tag = int(match.group(1) + match.group(2), 16)
                if not (tag >> 16) & 1 and not dictionary_has_tag(tag):  # odd groups are private
                    public[tag] = (vr, vm, keyword, "RET" if "RET" in version.upper() else "", keyword)
            elif match := _PRIVATE.match(tag_text):
                tag = int(match.group(1) + "00" + match.group(3), 16)
                private.setdefault(match.group(2), {})[tag] = (vr, vm, keyword, "")
    if public:
        add_dict_entries(public)
    for creator, entries in private.items():
        add_private_dict_entries(creator, entries)
    return len(public) + sum(len(e) for e in private.values())


def load_from_environment(log: logging.Logger) -> None:
    """Load every file named in ``DCMDICTPATH`` (``:``-separated), as DCMTK does at start-up."""
    value = os.environ.get("DCMDICTPATH", "")
    for path in filter(None, value.split(os.pathsep)):
        log.debug("DcmDataDictionary: Loading file: %s", path)
        try:
            load(path)
        except OSError as exc:
            log.warning("cannot read data dictionary %s: %s", path, exc.strerror or exc)

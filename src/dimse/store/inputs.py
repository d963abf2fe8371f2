"""storescu's input files: expanding directories, checking files before the association.

Spec section 3.1 steps 3-4.  Directory scans are sorted by name (DCMTK uses the file system's
order), so runs are reproducible.
"""

from __future__ import annotations

import fnmatch
import logging
import os
import stat
from pathlib import Path

from ..core.record import FrozenRecord
from ..dcmtk.modality import MODALITY_PREFIX
from ..dcmtk.sopclasses import STORAGE_CLASSES
from ..files.part10 import BadDicomFile, open_regular, read_part10_header
from ..files.pywarnings import logged
from ..files.storage import PART_FOLDER

SOP_CLASS_TAG, SOP_INSTANCE_TAG = 0x00080016, 0x00080018


class InputError(Exception):
    """A fatal input problem (``F: ...``), exit code 1."""


class ReadMode(FrozenRecord):
    """``+f`` (file, falling back to a bare data set), ``+fo`` (file only), ``-f`` (data set only)."""

    __slots__ = ("allow_file", "allow_dataset")
    allow_file: bool
    allow_dataset: bool

    def __init__(self, allow_file: bool = True, allow_dataset: bool = True) -> None:
        object.__setattr__(self, "allow_file", allow_file)
        object.__setattr__(self, "allow_dataset", allow_dataset)


def determine(params: list[str], scan: bool, pattern: str | None, recurse: bool, log: logging.Logger) -> list[str]:
    """The files named on the command line, directories expanded with ``+sd``."""
    if scan:
        log.info("determining input files ...")
    files: list[str] = []
    for param in params:
        if os.path.isdir(param):
            if not scan:
                log.warning("ignoring directory because option --scan-directories is not set: %s", param)
                continue
            files.extend(_scan(param, pattern, recurse))
        else:
            files.append(param)
    return files


def _scan(directory: str, pattern: str | None, recurse: bool) -> list[str]:
    found: list[str] = []
    try:
        entries = sorted(os.scandir(directory), key=lambda e: e.name)
    except OSError:
        return found
    for entry in entries:
        path = entry.name if directory == "." else os.path.join(directory, entry.name)
        if entry.is_dir():
            # a receiver's half-received objects are never sent
            if recurse and entry.name != PART_FOLDER:
                found.extend(_scan(path, pattern, recurse))
        elif pattern is None or fnmatch.fnmatchcase(entry.name, pattern):
            found.append(path)
    return found


def _readable_file(path: str) -> bool:
    """An existing file (not a directory) we may read: one stat and one access check."""
    try:
        if stat.S_ISDIR(os.stat(path).st_mode):
            return False
    except (OSError, ValueError):
        return False
    return os.access(path, os.R_OK)


def is_storage_class(uid: str) -> bool:
    """Known as a storage SOP class (DCMTK's tables, or pydicom's dictionary)."""
    if uid in MODALITY_PREFIX or uid in STORAGE_CLASSES:
        return True
    from pydicom.uid import UID

    known = UID(uid)
    return known.is_valid and "Storage" in known.name and known.name != uid


def read_sop_uids(path: str, mode: ReadMode, uid_padding: bool) -> tuple[str, str]:
    """SOP Class and Instance UID of a file: meta header if it has both, else the data set."""
    if mode.allow_file:
        try:
            header = read_part10_header(path)
            return header.sop_class, header.sop_instance
        except BadDicomFile:
            if not mode.allow_dataset:
                raise
    return dataset_sop_uids(path, mode, uid_padding)


def dataset_sop_uids(path: str, mode: ReadMode, uid_padding: bool) -> tuple[str, str]:
    """SOP Class and Instance UID read from the data set (pixel data is not read)."""
    from pydicom import dcmread

    try:
        with logged(), open_regular(path) as fp:
            ds = dcmread(
                fp,
                force=mode.allow_dataset,
                stop_before_pixels=True,
                specific_tags=[SOP_CLASS_TAG, SOP_INSTANCE_TAG],
            )
            elements = [ds.get(tag) for tag in (SOP_CLASS_TAG, SOP_INSTANCE_TAG)]
            values = [str(e.value) if e is not None and e.value else "" for e in elements]
    except BadDicomFile:
        raise
    except Exception as exc:  # pydicom raises many kinds on bad input
        raise BadDicomFile(str(exc) or type(exc).__name__) from None
    uids = []
    for text in values:
        if uid_padding and text.endswith(" "):
            text = text[:-1]
        uids.append(text.rstrip("\0"))
    return uids[0], uids[1]


def check(
    files: list[str],
    required: bool,
    halt: bool,
    mode: ReadMode,
    uid_padding: bool,
    log: logging.Logger,
) -> tuple[list[str], list[str]]:
    """Drop or refuse unusable files; with ``-R`` also collect the SOP classes to propose."""
    log.info("checking input files ...")
    kept: list[str] = []
    classes: list[str] = []

    def problem(message: str) -> None:
        if halt:
            raise InputError(message)
        log.warning("%s, ignoring file", message)

    for path in files:
        if not _readable_file(path):
            problem(f"cannot access file: {path}")
            continue
        if required:
            try:
                sop_class, sop_instance = read_sop_uids(path, mode, uid_padding)
            except BadDicomFile:
                sop_class = sop_instance = ""
            if not sop_class or not sop_instance:
                problem(f"missing SOP class (or instance) in file: {path}")
                continue
            if not is_storage_class(sop_class):
                problem(f"unknown storage SOP class in file: {path}: {sop_class}")
                continue
            classes.append(sop_class)
        kept.append(path)
    return kept, list(dict.fromkeys(classes))


def file_size(path: str) -> int:
    try:
        return Path(path).stat().st_size
    except OSError:
        return 0

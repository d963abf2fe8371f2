"""The ``-k`` override keys of the query/retrieve tools, and query files (spec section 6.2).

A key is ``path=value`` (the value after the first ``=``; none or empty: a zero-length element,
backslash for multiple values, the dictionary VR).  DCMTK 3.6.7 reads it two ways:

* findscu (``parse_path``, dcmdata's path processor): every key is a path of tags and item
  numbers -- ``gggg,eeee``, ``(gggg,eeee)`` or a keyword, then ``[n]`` after a sequence and
  ``.`` before the next tag (``(0040,0100)[0].Modality=CT``).  ``apply_paths`` applies the keys
  in command-line order, finding or creating each sequence and item (what is there is kept,
  items up to ``n`` are added) and setting the leaf's value: the rightmost key for a tag wins.
* movescu (``parse_key``): top-level keys only (``gggg,eeee`` or a keyword), applied right to
  left with "replace" by ``apply_keys``: the leftmost key for a tag wins.  A key with an item
  number (``[``) is read as findscu reads it here and merged into what is there, so a sequence
  can be given to movescu and getscu too.

A key is kept as one element: a path as its top-level sequence holding the items up to the one
it names (``Sequence[1].Modality`` -> an empty item, then one with Modality), so the callers
and the ``-v`` dump see ordinary elements.  Keys that ``move.identifier`` can code without
pydicom never reach this module.
"""

from __future__ import annotations

import re
from collections.abc import Sequence

from pydicom.datadict import dictionary_has_tag, dictionary_VR, tag_for_keyword
from pydicom.dataelem import DataElement
from pydicom.dataset import Dataset
from pydicom.sequence import Sequence as DicomSequence

from ..cli.options import CommandLineError
from ..files.part10 import BadDicomFile, read_any
from .identifier import split_key

_NUMERIC = {"US": int, "SS": int, "UL": int, "SL": int, "UV": int, "SV": int, "FL": float, "FD": float}
#: the path processor's condition (dcmdata module 1, code 25) and what a bad value gives
_PATH_ERROR, _CORRUPTED = "0001:0019", "0001:0006 Corrupted data"
#: ``[n]`` as DCMTK reads it (``sscanf("[%ld]")``: blanks, a sign, digits; the rest ignored)
_ITEM = re.compile(r"\[[ \t\n\v\f\r]*([+-]?[0-9]+)")
#: the highest item number a path may name (DCMTK has none: it would add 4 billion items)
MAX_ITEM = 65535


class BadPath(CommandLineError):
    """A key DCMTK's path processor refuses; ``condition`` is findscu's condition text."""

    def __init__(self, text: str, condition: str) -> None:
        super().__init__(f"bad override key/path: {text}: {condition.split(' ', 1)[1]}")
        self.condition = condition


def _tag_text(tag: int) -> str:
    """``(gggg,eeee)`` as DCMTK's messages print a tag."""
    return f"({tag >> 16:04x},{tag & 0xFFFF:04x})"


def _vr_for(tag: int) -> str:
    """The dictionary VR of ``tag`` (the first of "US or SS"); private creators are LO."""
    group, element = tag >> 16, tag & 0xFFFF
    if group % 2 == 1 and 0x0010 <= element <= 0x00FF:
        return "LO"  # private creator
    if not dictionary_has_tag(tag):
        raise CommandLineError(f"unknown tag: {_tag_text(tag)}")
    vr = dictionary_VR(tag)
    return vr.split(" or ")[0]


def _leaf(tag: int, vr: str, value: str) -> DataElement:
    """A non-sequence element holding ``value`` (raises CommandLineError for a bad value)."""
    if not value:
        return DataElement(tag, vr, None)
    try:
        parts = value.split("\\")
        converted: list[str] | list[int] | list[float]
        if vr in _NUMERIC:
            converted = [_NUMERIC[vr](p) for p in parts]
        elif vr == "AT":
            converted = [int(p.replace(",", ""), 16) for p in parts]
        elif vr in ("OB", "OW", "OD", "OF", "OL", "OV", "UN"):
            raise ValueError("binary value")
        else:
            converted = parts
        return DataElement(tag, vr, converted if len(converted) > 1 else converted[0])
    except ValueError:
        raise CommandLineError(f'cannot put tag value: {_tag_text(tag)}="{value}"') from None


def parse_key(text: str) -> DataElement:
    """One movescu ``-k`` argument as an element; a key with an item number is a path."""
    tag, name, value = split_key(text)
    if "[" in name:
        return _path_key(text)
    if tag is None:
        tag = tag_for_keyword(name)
        if tag is None:
            raise CommandLineError(f"bad key format or dictionary name not found in dictionary: {name}")
    vr = _vr_for(tag)
    if vr == "SQ":
        if value:
            raise CommandLineError(f'cannot put tag value: {_tag_text(tag)}="{value}"')
        return DataElement(tag, vr, DicomSequence())
    return _leaf(tag, vr, value)


def parse_keys(texts: Sequence[str]) -> list[DataElement]:
    """All movescu ``-k`` values, validated at command-line time as DCMTK does."""
    return [parse_key(text) for text in texts]


def parse_path(text: str) -> DataElement:
    """One findscu ``-k`` argument (a path, with its value) as an element; raises BadPath
    with DCMTK's condition text."""
    return _path_key(text)


def _path_key(text: str) -> DataElement:
    path, _, value = text.partition("=")
    if not path:
        raise BadPath(text, "0000:0001 Illegal parameter")
    if "*" in path:  # findscu turns the item wildcard off, and looks for it anywhere
        raise BadPath(text, f"{_PATH_ERROR} Item wildcard '*' found in path but wildcards disabled")
    nodes, end = _walk(text, path)
    if end is not None and end[1] != "SQ":
        return _nest(nodes, _value_of(text, *end, value))
    if value:
        raise BadPath(text, f"{_PATH_ERROR} Cannot insert value into path ending with item or sequence")
    return _nest(nodes, None if end is None else DataElement(end[0], "SQ", DicomSequence()))


def _walk(text: str, path: str) -> tuple[list[tuple[int, int]], tuple[int, str] | None]:
    """The (sequence tag, item number) steps of ``path`` and its last element's (tag, VR),
    None when it ends with an item."""
    nodes: list[tuple[int, int]] = []
    rest = path
    while True:
        tag, rest = _tag_from(text, rest)
        vr = _vr_of(text, tag)
        if not rest:
            return nodes, (tag, vr)
        if vr != "SQ":
            raise BadPath(text, f"{_PATH_ERROR} Invalid Path: Non-sequence tag found with rest path following")
        number, rest = _item_from(text, rest)
        nodes.append((tag, number))
        if not rest:
            return nodes, None


def _tag_from(text: str, rest: str) -> tuple[int, str]:
    """The tag at the start of ``rest`` and what follows it (DcmPath's tag reading)."""
    if rest.startswith("("):
        close = rest.find(")")
        if close < 0:
            raise BadPath(text, f"{_PATH_ERROR} Unable to parse tag at beginning of path: {rest}")
        name, after = rest[1:close], rest[close + 1 :]
    else:
        bracket = rest.find("[")
        name, after = (rest, "") if bracket < 0 else (rest[:bracket], rest[bracket:])
    tag = split_key(name)[0] if name else None
    if tag is None and name:
        tag = tag_for_keyword(name)
    if tag is None:
        raise BadPath(text, f"{_PATH_ERROR} Unable to parse tag/dictionary name at beginning of path: {rest}")
    return tag, after


def _item_from(text: str, rest: str) -> tuple[int, str]:
    """The item number at the start of ``rest`` and what follows it (the character after
    ``]``, normally ``.``, is dropped)."""
    close = rest.find("]")
    match = _ITEM.match(rest)
    if close < 0 or match is None:
        raise BadPath(text, f"{_PATH_ERROR} Unable to parse item number at beginning of path: {rest}")
    number = int(match.group(1))
    if number < 0:
        raise BadPath(text, f"{_PATH_ERROR} Negative item number (not permitted) at beginning of path: {rest}")
    if number > MAX_ITEM:
        raise BadPath(text, f"{_PATH_ERROR} Item number above {MAX_ITEM} at beginning of path: {rest}")
    return number, rest[close + 2 :]


def _vr_of(text: str, tag: int) -> str:
    try:
        return _vr_for(tag)
    except CommandLineError:
        raise BadPath(text, _CORRUPTED) from None


def _value_of(text: str, tag: int, vr: str, value: str) -> DataElement:
    try:
        return _leaf(tag, vr, value)
    except CommandLineError:
        raise BadPath(text, _CORRUPTED) from None


def _nest(nodes: list[tuple[int, int]], last: DataElement | None) -> DataElement:
    """The path as its top-level element: each sequence holds items up to the one named."""
    if last is None:  # the path ends with an item: an empty one
        tag, number = nodes.pop()
        last = DataElement(tag, "SQ", DicomSequence([Dataset() for _ in range(number + 1)]))
    for tag, number in reversed(nodes):
        items = [Dataset() for _ in range(number + 1)]
        items[number][last.tag] = last
        last = DataElement(tag, "SQ", DicomSequence(items))
    return last


def _merge(ds: Dataset, key: DataElement) -> None:
    """Find or create ``key`` in ``ds``: sequences and items found are kept (items added up to
    the one named), a leaf takes the key's value.  Nothing of the key itself is inserted, so
    the key can be applied again (the next query file)."""
    if key.VR != "SQ":
        ds[key.tag] = DataElement(key.tag, key.VR, key.value)
        return
    if key.tag not in ds or ds[key.tag].VR != "SQ":
        ds[key.tag] = DataElement(key.tag, "SQ", DicomSequence())
    items = ds[key.tag].value
    for number, wanted in enumerate(key.value):
        if number == len(items):
            items.append(Dataset())
        for element in wanted:
            _merge(items[number], element)


def apply_keys(ds: Dataset, keys: Sequence[DataElement]) -> Dataset:
    """movescu's way: right to left, top-level keys inserted or replaced (the leftmost key for
    a tag wins), paths merged into what is there."""
    for element in reversed(keys):
        if element.VR == "SQ":
            if len(element.value):
                _merge(ds, element)
            else:
                ds[element.tag] = DataElement(element.tag, "SQ", DicomSequence())  # never the key's own
        else:
            ds[element.tag] = DataElement(element.tag, element.VR, element.value)
    return ds


def apply_paths(ds: Dataset, keys: Sequence[DataElement]) -> Dataset:
    """findscu's way: left to right, each key found or created (the rightmost wins)."""
    for element in keys:
        _merge(ds, element)
    return ds


def load_query(path: str) -> Dataset:
    """A query file's data set (Part 10 or bare); its meta header is not sent."""
    ds = read_any(path)
    if hasattr(ds, "file_meta"):
        del ds.file_meta
    if not len(ds):
        raise BadDicomFile("no data set in query file")
    query = Dataset(ds)
    query.set_original_encoding(*ds.original_encoding)  # how its raw elements are coded (findscu's dump says it)
    return query

"""movescu's ``-k`` override keys and query files (spec section 6.2).

``-k gggg,eeee=value`` or ``-k Keyword=value``: top-level only, the dictionary VR, an empty value
for a zero-length element, backslash for multiple values, and -- because DCMTK applies the keys
right to left with "replace" -- the leftmost of two keys for the same tag wins.  Keys that
``move.identifier`` can code without pydicom never reach this module.
"""

from __future__ import annotations

from collections.abc import Sequence

from pydicom.datadict import dictionary_has_tag, dictionary_VR, tag_for_keyword
from pydicom.dataelem import DataElement
from pydicom.dataset import Dataset
from pydicom.sequence import Sequence as DicomSequence

from ..cli.options import CommandLineError
from ..files.part10 import BadDicomFile, read_any
from .identifier import split_key

_NUMERIC = {"US": int, "SS": int, "UL": int, "SL": int, "UV": int, "SV": int, "FL": float, "FD": float}


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


def parse_key(text: str) -> DataElement:
    """One ``-k`` argument as an element (the value after the first ``=``)."""
    tag, name, value = split_key(text)
    if tag is None:
        tag = tag_for_keyword(name)
        if tag is None:
            raise CommandLineError(f"bad key format or dictionary name not found in dictionary: {name}")
    vr = _vr_for(tag)
    if vr == "SQ":
        if value:
            raise CommandLineError(f'cannot put tag value: {_tag_text(tag)}="{value}"')
        return DataElement(tag, vr, DicomSequence())
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
        element = DataElement(tag, vr, converted if len(converted) > 1 else converted[0])
    except ValueError:
        raise CommandLineError(f'cannot put tag value: {_tag_text(tag)}="{value}"') from None
    return element


def parse_keys(texts: Sequence[str]) -> list[DataElement]:
    """All ``-k`` values, validated at command-line time as DCMTK does."""
    return [parse_key(text) for text in texts]


def apply_keys(ds: Dataset, keys: Sequence[DataElement]) -> Dataset:
    """Insert or replace top-level elements; the leftmost key for a tag wins."""
    for element in reversed(keys):
        ds[element.tag] = DataElement(element.tag, element.VR, element.value)
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

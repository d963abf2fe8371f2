"""What a C-GET will bring, learnt before it is sent: the C-GET association can hold at most
127 storage contexts (PS3.8 9.3.2.2: 128 contexts, one is the GET model), so a study holding a
SOP class that is not proposed loses those instances.  getscu first walks the query's
hierarchy with C-FINDs of the same model down to IMAGE level (SOP Instance UID and SOP Class
UID of each instance), then proposes the classes found (:func:`class_groups`) and fetches
what one association cannot hold on further ones, at IMAGE level."""

from __future__ import annotations

import logging
from collections.abc import Sequence
from copy import deepcopy
from typing import TYPE_CHECKING, Any, Union, cast

from ..codes import Status
from ..core.negotiation import build_request
from ..core.record import FrozenRecord
from ..errors import DimseError
from ..files.part10 import decode_dataset
from ..files.scan import top_level_values
from ..move.identifier import QUERY_KEYS, KeyIdentifier
from ..net.association import Association, Timeouts
from ..uids import ExplicitVRLittleEndian, ImplicitVRLittleEndian

if TYPE_CHECKING:
    from pydicom.dataset import Dataset

#: the FIND model of each GET or MOVE model that has one (-P, -S; -O's has no IMAGE-level walk)
FIND_MODELS = {
    "1.2.840.10008.5.1.4.1.2.1.3": "1.2.840.10008.5.1.4.1.2.1.1",
    "1.2.840.10008.5.1.4.1.2.2.3": "1.2.840.10008.5.1.4.1.2.2.1",
    "1.2.840.10008.5.1.4.1.2.1.2": "1.2.840.10008.5.1.4.1.2.1.1",
    "1.2.840.10008.5.1.4.1.2.2.2": "1.2.840.10008.5.1.4.1.2.2.1",
}
PATIENT_ROOT_FIND = "1.2.840.10008.5.1.4.1.2.1.1"
LEVELS = ("PATIENT", "STUDY", "SERIES", "IMAGE")
UNIQUE = {"PATIENT": "PatientID", "STUDY": "StudyInstanceUID", "SERIES": "SeriesInstanceUID", "IMAGE": "SOPInstanceUID"}
#: storage contexts one C-GET association can hold beside its GET context
ROOM = 127


#: keyword -> tag of the values the walk reads from each response (read without pydicom)
_TAGS = {keyword: QUERY_KEYS[keyword][0] for keyword in (*UNIQUE.values(), "SOPClassUID")}
_WANTED = frozenset(_TAGS.values())
#: a query is coded without pydicom when it can be (see ``move.identifier``)
Query = Union[KeyIdentifier, "Dataset"]


class Instance(FrozenRecord):
    """One instance the query matches; ``sop_class`` is "" when the peer did not say."""

    __slots__ = ("keys", "uid", "sop_class")
    keys: tuple[tuple[str, str], ...]
    uid: str
    sop_class: str

    def __init__(
        self,
        keys: tuple[tuple[str, str], ...],  # the unique keys above IMAGE level (PatientID, Study, Series)
        uid: str,
        sop_class: str,
    ) -> None:
        object.__setattr__(self, "keys", keys)
        object.__setattr__(self, "uid", uid)
        object.__setattr__(self, "sop_class", sop_class)


class Peer(FrozenRecord):
    """Where and how to associate (the C-GET's own parameters)."""

    __slots__ = ("host", "port", "calling", "called", "max_pdu", "timeouts", "request_options")
    host: str
    port: int
    calling: str
    called: str
    max_pdu: int
    timeouts: Timeouts
    request_options: dict[str, Any]

    def __init__(  # noqa: PLR0913
        self,
        host: str,
        port: int,
        calling: str,
        called: str,
        max_pdu: int,
        timeouts: Timeouts,
        request_options: dict[str, Any],
    ) -> None:
        object.__setattr__(self, "host", host)
        object.__setattr__(self, "port", port)
        object.__setattr__(self, "calling", calling)
        object.__setattr__(self, "called", called)
        object.__setattr__(self, "max_pdu", max_pdu)
        object.__setattr__(self, "timeouts", timeouts)
        object.__setattr__(self, "request_options", request_options)


async def survey(peer: Peer, get_class: str, identifier: Query, log: logging.Logger) -> list[Instance] | None:
    """The instances ``identifier`` matches, or None when they cannot be learnt (no FIND model,
    refused, a failed C-FIND): getscu then proposes its default list, as DCMTK does.
    ``get_class`` is the retrieve model: a GET one (getscu) or a MOVE one (movescu --verify)."""
    find_class = FIND_MODELS.get(get_class)
    level = _value(identifier, "QueryRetrieveLevel").strip().upper()
    if find_class is None or level not in LEVELS or (level == "PATIENT" and find_class != PATIENT_ROOT_FIND):
        return None
    rq = build_request(
        peer.calling, peer.called, [(find_class, [ExplicitVRLittleEndian, ImplicitVRLittleEndian])], peer.max_pdu
    )
    try:
        assoc = await Association.request(peer.host, peer.port, rq, peer.timeouts, **peer.request_options)
    except (DimseError, OSError) as exc:
        log.debug("Study survey: no C-FIND association (%s)", exc)
        return None
    try:
        if assoc.find_context(find_class) is None:
            log.debug("Study survey: C-FIND model not accepted")
            await assoc.abort()
            return None
        instances = await _walk(assoc, find_class, identifier, level, find_class == PATIENT_ROOT_FIND)
        await assoc.release()
    except (DimseError, OSError) as exc:
        log.debug("Study survey failed: %s", exc)
        await assoc.abort()
        return None
    if instances is None:
        log.debug("Study survey: a C-FIND failed")
        return None
    log.debug("Study survey: %d instances, %d SOP classes", len(instances), len({i.sop_class for i in instances}))
    return instances


async def _walk(
    assoc: Association, find_class: str, identifier: Query, level: str, patient_root: bool
) -> list[Instance] | None:
    """The query's own level with the user's keys, then each level below with the unique keys
    found (hierarchical, as PS3.4 C.4.1.2.2 asks of a peer without relational queries)."""
    above = [name for name in LEVELS[: LEVELS.index(level)] if patient_root or name != "PATIENT"]
    carried = {UNIQUE[name]: _value(identifier, UNIQUE[name]) for name in above}
    found = await _find(assoc, find_class, _first(identifier, level))
    if found is None:
        return None
    nodes = [(_keys(carried, level, values), values) for values in found]
    for below in LEVELS[LEVELS.index(level) + 1 :]:
        deeper: list[tuple[dict[str, str], dict[str, str]]] = []
        for keys, _ in nodes:
            results = await _find(assoc, find_class, _query(keys, below))
            if results is None:
                return None
            deeper += [(_keys(keys, below, values), values) for values in results]
        nodes = deeper
    return [
        Instance(
            tuple((k, v) for k, v in keys.items() if k != "SOPInstanceUID"),
            keys["SOPInstanceUID"],
            values.get("SOPClassUID", ""),
        )
        for keys, values in nodes
        if keys.get("SOPInstanceUID")
    ]


def _asked(level: str) -> tuple[str, ...]:
    """The keys a query at ``level`` asks for: the level's unique key (and, at IMAGE level,
    the SOP class)."""
    return (UNIQUE[level], "SOPClassUID") if level == "IMAGE" else (UNIQUE[level],)


def _value(identifier: Query, keyword: str) -> str:
    if isinstance(identifier, KeyIdentifier):
        _, parts = identifier.elements.get(QUERY_KEYS[keyword][0], ("", None))
        return "\\".join(parts) if parts else ""
    return str(identifier.get(keyword, ""))


def _first(identifier: Query, level: str) -> Query:
    """The user's identifier at ``level``, asking for what the walk needs."""
    if isinstance(identifier, KeyIdentifier):
        elements = dict(identifier.elements)
        elements[QUERY_KEYS["QueryRetrieveLevel"][0]] = ("CS", [level])
        for keyword in _asked(level):
            tag, vr = QUERY_KEYS[keyword]
            elements.setdefault(tag, (vr, None))
        return KeyIdentifier([], elements)
    first = deepcopy(identifier)
    first.QueryRetrieveLevel = level
    for keyword in _asked(level):
        if keyword not in first:
            setattr(first, keyword, "")
    return first


def _keys(carried: dict[str, str], level: str, values: dict[str, str]) -> dict[str, str]:
    return {**carried, UNIQUE[level]: values.get(UNIQUE[level], "")}


def _query(keys: dict[str, str], level: str) -> Query:
    """The query one level down: coded here, or by pydicom for a value that is not ASCII."""
    texts = {"QueryRetrieveLevel": level, **keys, **{k: "" for k in _asked(level) if k not in keys}}
    if all(value.isascii() for value in texts.values()):
        elements: dict[int, tuple[str, list[str] | None]] = {}
        for keyword, value in texts.items():
            tag, vr = QUERY_KEYS[keyword]
            elements[tag] = (vr, value.split("\\") if value else None)
        return KeyIdentifier([], elements)
    from pydicom.dataset import Dataset

    query = Dataset()
    for keyword, value in texts.items():
        setattr(query, keyword, value)
    return query


async def _find(assoc: Association, find_class: str, query: Query) -> list[dict[str, str]] | None:
    """The walk's values of each identifier of one C-FIND, or None when its final status is
    not Success."""
    found = []
    async for rsp, data, transfer_syntax in assoc.find_bytes(cast("Dataset", query), find_class):
        status = rsp.get("Status", Status.CANNOT_UNDERSTAND)
        if status in (Status.PENDING, Status.PENDING_WITH_WARNINGS):
            if data is not None:
                found.append(_values(data, transfer_syntax))
        elif status != Status.SUCCESS:
            return None
    return found


def _values(data: bytes, transfer_syntax: str) -> dict[str, str]:
    """The walk's values of one response identifier: read from the bytes when they are plain
    ASCII in a native little-endian syntax (the rule), else decoded by pydicom."""
    raw = None
    if transfer_syntax in (ImplicitVRLittleEndian, ExplicitVRLittleEndian):
        raw = top_level_values(data, transfer_syntax == ImplicitVRLittleEndian, True, _WANTED)
    if raw is not None and all(value.isascii() for value in raw.values()):
        return {keyword: raw[tag].decode("ascii").rstrip("\0 ") for keyword, tag in _TAGS.items() if tag in raw}
    ds = decode_dataset(data, transfer_syntax)
    return {keyword: str(ds.get(keyword, "") or "") for keyword in _TAGS}


def class_groups(
    instances: Sequence[Instance] | None, default: Sequence[str], every: Sequence[str], room: int = ROOM
) -> list[list[str]]:
    """The storage classes of each association, in order.  Unknown study: the default list
    alone (DCMTK's).  Known classes: those first, then the default list where there is room
    (an instance the walk missed may still come); more than ``room`` classes take several
    associations.  An instance whose class the peer did not say: every class we know, in
    groups, the default list first."""
    if instances is None:
        return [list(default)]
    known = list(dict.fromkeys(i.sop_class for i in instances if i.sop_class))
    if any(not i.sop_class for i in instances):
        order = list(dict.fromkeys([*known, *default, *every]))
        return [order[n : n + room] for n in range(0, len(order), room)] or [list(default)]
    groups = [known[n : n + room] for n in range(0, len(known), room)] or [[]]
    last = groups[-1]
    last += [uid for uid in default if uid not in known][: room - len(last)]
    return groups

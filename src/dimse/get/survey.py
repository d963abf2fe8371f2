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
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from ..codes import Status
from ..core.negotiation import build_request
from ..errors import DimseError
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


@dataclass(frozen=True)
class Instance:
    """One instance the query matches; ``sop_class`` is "" when the peer did not say."""

    keys: tuple[tuple[str, str], ...]  # the unique keys above IMAGE level (PatientID, Study, Series)
    uid: str
    sop_class: str


@dataclass(frozen=True)
class Peer:
    """Where and how to associate (the C-GET's own parameters)."""

    host: str
    port: int
    calling: str
    called: str
    max_pdu: int
    timeouts: Timeouts
    request_options: dict[str, Any]


async def survey(peer: Peer, get_class: str, identifier: Dataset, log: logging.Logger) -> list[Instance] | None:
    """The instances ``identifier`` matches, or None when they cannot be learnt (no FIND model,
    refused, a failed C-FIND): getscu then proposes its default list, as DCMTK does.
    ``get_class`` is the retrieve model: a GET one (getscu) or a MOVE one (movescu --verify)."""
    find_class = FIND_MODELS.get(get_class)
    level = str(identifier.get("QueryRetrieveLevel", "")).strip().upper()
    if find_class is None or level not in LEVELS or (level == "PATIENT" and find_class != PATIENT_ROOT_FIND):
        return None
    rq = build_request(peer.calling, peer.called, [(find_class, [ExplicitVRLittleEndian, ImplicitVRLittleEndian])],
                       peer.max_pdu)
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
    assoc: Association, find_class: str, identifier: Dataset, level: str, patient_root: bool
) -> list[Instance] | None:
    """The query's own level with the user's keys, then each level below with the unique keys
    found (hierarchical, as PS3.4 C.4.1.2.2 asks of a peer without relational queries)."""
    first = deepcopy(identifier)
    first.QueryRetrieveLevel = level
    _ask(first, level)
    above = [name for name in LEVELS[: LEVELS.index(level)] if patient_root or name != "PATIENT"]
    carried = {UNIQUE[name]: str(identifier.get(UNIQUE[name], "")) for name in above}
    found = await _find(assoc, find_class, first)
    if found is None:
        return None
    nodes = [(_keys(carried, level, ds), ds) for ds in found]
    for below in LEVELS[LEVELS.index(level) + 1 :]:
        deeper: list[tuple[dict[str, str], Dataset]] = []
        for keys, _ in nodes:
            query = _query(keys, below)
            results = await _find(assoc, find_class, query)
            if results is None:
                return None
            deeper += [(_keys(keys, below, ds), ds) for ds in results]
        nodes = deeper
    return [
        Instance(tuple((k, v) for k, v in keys.items() if k != "SOPInstanceUID"), keys["SOPInstanceUID"],
                 str(ds.get("SOPClassUID", "") or ""))
        for keys, ds in nodes
        if keys.get("SOPInstanceUID")
    ]


def _ask(query: Dataset, level: str) -> None:
    """Ask for the level's unique key (and, at IMAGE level, the SOP class) where it is not given."""
    for keyword in (UNIQUE[level], "SOPClassUID") if level == "IMAGE" else (UNIQUE[level],):
        if keyword not in query:
            setattr(query, keyword, "")


def _keys(carried: dict[str, str], level: str, ds: Dataset) -> dict[str, str]:
    return {**carried, UNIQUE[level]: str(ds.get(UNIQUE[level], "") or "")}


def _query(keys: dict[str, str], level: str) -> Dataset:
    from pydicom.dataset import Dataset

    query = Dataset()
    query.QueryRetrieveLevel = level
    for keyword, value in keys.items():
        setattr(query, keyword, value)
    _ask(query, level)
    return query


async def _find(assoc: Association, find_class: str, query: Dataset) -> list[Dataset] | None:
    """The identifiers of one C-FIND, or None when its final status is not Success."""
    found = []
    async for rsp, identifier in assoc.find(query, find_class):
        status = rsp.get("Status", Status.CANNOT_UNDERSTAND)
        if status in (Status.PENDING, 0xFF01):
            if identifier is not None:
                found.append(identifier)
        elif status != Status.SUCCESS:
            return None
    return found


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

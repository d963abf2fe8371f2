"""movescu ``--verify``: what the archive holds, learnt before the move with C-FINDs of the
same model down to IMAGE level (getscu's walk, :mod:`dimse.get.survey`), against what arrived.

An archive may report a move done and still leave instances out; ``--retry`` asks for those
again at IMAGE level, and ``--skip-existing`` leaves out what an earlier, interrupted run
already wrote to ``-od`` (files named ``<modality prefix>.<SOP Instance UID>``).
"""

from __future__ import annotations

import logging
import os
from collections.abc import Iterable, Sequence

from ..files.part10 import BadDicomFile
from ..get.survey import Instance, Peer, survey
from .mover import MoveRequest, request_identifier
from .requests import requests


async def holdings(
    peer: Peer, move_class: str, wanted: Sequence[MoveRequest], log: logging.Logger
) -> list[Instance] | None:
    """Every instance the requests match, once each, in the archive's order; None when they
    cannot be learnt (no IMAGE-level walk for the model, a refused or failed C-FIND, an
    unreadable query file)."""
    found: dict[str, Instance] = {}
    for query_file, keys in wanted:
        try:
            identifier = request_identifier(query_file, keys)
        except BadDicomFile:
            return None
        instances = await survey(peer, move_class, identifier, log)
        if instances is None:
            return None
        for instance in instances:
            found.setdefault(instance.uid, instance)
    return list(found.values())


def existing_uids(folder: str | os.PathLike[str]) -> set[str]:
    """SOP Instance UIDs of the objects already in ``folder``: the part of each file's name
    after the first dot (temporary files live in a sub-folder and are not counted)."""
    with os.scandir(folder) as entries:
        return {e.name.split(".", 1)[1] for e in entries if "." in e.name and e.is_file(follow_symlinks=False)}


def image_requests(instances: Iterable[Instance]) -> list[MoveRequest]:
    """IMAGE-level requests for ``instances``: one per series, its SOP Instance UIDs as a list."""
    by_series: dict[tuple[tuple[str, str], ...], list[str]] = {}
    for instance in instances:
        by_series.setdefault(instance.keys, []).append(instance.uid)
    made: list[MoveRequest] = []
    for keys, uids in by_series.items():
        texts = ["QueryRetrieveLevel=IMAGE", *(f"{k}={v}" for k, v in keys), "SOPInstanceUID=" + "\\".join(uids)]
        made += requests(texts, [])
    return made

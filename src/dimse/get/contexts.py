"""What getscu proposes: its query context and, in the SCP role, the storage contexts the
peer's C-STORE sub-operations come on (PS3.7 D.3.3.4; PS3.4 C.4.3.1: a C-GET SCP stores on
the C-GET association itself)."""

from __future__ import annotations

from collections.abc import Sequence

from ..core.pdu import RoleSelection
from ..dcmtk.sopclasses import STORAGE_CLASSES

#: the storage classes of our list (``STORAGE_CLASSES``, newer ones included) that DCMTK 3.6.7's
#: getscu does not propose: its "long SCU" list predates them (checked against its ``-d`` dump)
_NOT_PROPOSED_BY_DCMTK = frozenset(
    (
        "1.2.840.10008.5.1.4.1.1.88.71 1.2.840.10008.5.1.4.1.1.11.8 1.2.840.10008.5.1.4.1.1.9.8.1 "
        "1.2.840.10008.5.1.4.1.1.13.1.4 1.2.840.10008.5.1.4.1.1.13.1.5 1.2.840.10008.5.1.4.1.1.481.19 "
        "1.2.840.10008.5.1.4.1.1.481.13 1.2.840.10008.5.1.4.1.1.11.7 1.2.840.10008.5.1.4.1.1.90.1 "
        "1.2.840.10008.5.1.4.1.1.82.1 1.2.840.10008.5.1.4.1.1.200.2 1.2.840.10008.5.1.4.1.1.77.1.7 "
        "1.2.840.10008.5.1.4.1.1.9.7.2 1.2.840.10008.5.1.4.1.1.9.7.3 1.2.840.10008.5.1.4.1.1.104.5 "
        "1.2.840.10008.5.1.4.1.1.104.4 1.2.840.10008.5.1.4.1.1.104.3 1.2.840.10008.5.1.4.1.1.88.76 "
        "1.2.840.10008.5.1.4.1.1.88.35 1.2.840.10008.5.1.4.1.1.11.6 1.2.840.10008.5.1.4.1.1.91.1 "
        "1.2.840.10008.5.1.4.1.1.9.6.2 1.2.840.10008.5.1.4.1.1.11.11 1.2.840.10008.5.1.4.1.1.77.1.5.8 "
        "1.2.840.10008.5.1.4.1.1.77.1.5.7 1.2.840.10008.5.1.4.1.1.30 1.2.840.10008.5.1.4.1.1.88.73 "
        "1.2.840.10008.5.1.4.1.1.88.75 1.2.840.10008.5.1.4.1.1.88.74 1.2.840.10008.5.1.4.1.1.88.68 "
        "1.2.840.10008.5.1.4.1.1.481.15 1.2.840.10008.5.1.4.1.1.481.20 1.2.840.10008.5.1.4.1.1.9.7.1 "
        "1.2.840.10008.5.1.4.34.10 1.2.840.10008.5.1.4.1.1.481.10 1.2.840.10008.5.1.4.1.1.481.16 "
        "1.2.840.10008.5.1.4.1.1.481.17 1.2.840.10008.5.1.4.1.1.481.21 1.2.840.10008.5.1.4.1.1.481.12 "
        "1.2.840.10008.5.1.4.1.1.481.11 1.2.840.10008.5.1.4.1.1.481.22 1.2.840.10008.5.1.4.1.1.11.10 "
        "1.2.840.10008.5.1.4.1.1.88.72 1.2.840.10008.5.1.4.1.1.9.7.4 1.2.840.10008.5.1.4.1.1.481.18 "
        "1.2.840.10008.5.1.4.1.1.481.14 1.2.840.10008.5.1.4.1.1.66.6 1.2.840.10008.5.1.4.1.1.11.9 "
        "1.2.840.10008.5.1.4.1.1.77.1.5.5 1.2.840.10008.5.1.4.1.1.77.1.5.6 "
        "1.2.840.10008.5.1.4.1.1.200.8 1.2.840.10008.5.1.4.1.1.88.2 1.2.840.10008.5.1.4.1.1.88.4 "
        "1.2.840.10008.5.1.4.1.1.88.3 1.2.840.10008.5.1.4.1.1.88.1 1.2.840.10008.5.1.4.1.1.9.1 "
        "1.2.840.10008.5.1.4.34.1 1.2.840.10008.5.1.4.1.1.501.1 1.2.840.10008.5.1.4.1.1.501.2.1 "
        "1.2.840.10008.5.1.4.1.1.501.2.2 1.2.840.10008.5.1.4.1.1.501.3 1.2.840.10008.5.1.4.1.1.501.4 "
        "1.2.840.10008.5.1.4.1.1.501.5 1.2.840.10008.5.1.4.1.1.501.6 1.2.840.10008.5.1.4.1.1.601.1 "
        "1.2.840.10008.5.1.4.1.1.601.2 "
    ).split()
)
#: the 120 storage classes DCMTK 3.6.7's getscu proposes, in its order (by name, as ours)
GETSCU_STORAGE_CLASSES: tuple[str, ...] = tuple(uid for uid in STORAGE_CLASSES if uid not in _NOT_PROPOSED_BY_DCMTK)


def contexts(
    get_class: str, query_syntaxes: Sequence[str], storage_syntaxes: Sequence[str], storage_classes: Sequence[str]
) -> tuple[list[tuple[str, list[str]]], list[RoleSelection]]:
    """The contexts to propose (the GET model first, then one per storage class) and the role
    selection items asking for the SCP role (only) of each storage class."""
    proposed = [(get_class, list(query_syntaxes))]
    proposed += [(uid, list(storage_syntaxes)) for uid in storage_classes]
    roles = [RoleSelection(uid, scu_role=False, scp_role=True) for uid in storage_classes]
    return proposed, roles

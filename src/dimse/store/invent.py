"""storescu's invent mode (``+II``, ``+IR n``, ``+IS n``, ``+IP n``), spec section 3.7.

New UIDs come from pydicom's ``generate_uid`` (a UUID-derived ``2.25.`` UID) instead of DCMTK's
OFFIS root, and names use ``DIMSE^TEST_PN_`` instead of ``OFFIS^TEST_PN_``.
"""

from __future__ import annotations

import logging
import time
from typing import TYPE_CHECKING

from ..core.record import Record

if TYPE_CHECKING:
    from pydicom.dataset import Dataset


def generate_uid() -> str:
    from pydicom.uid import generate_uid as pydicom_generate_uid

    return pydicom_generate_uid()


_ATTRIBUTES = {
    "PatientName": 0x00100010,
    "PatientID": 0x00100020,
    "StudyInstanceUID": 0x0020000D,
    "StudyID": 0x00200010,
    "SeriesInstanceUID": 0x0020000E,
    "SeriesNumber": 0x00200011,
    "SOPInstanceUID": 0x00080018,
    "InstanceNumber": 0x00200013,
}


class Inventor(Record):
    """Process-wide counters; each data set gets the current patient/study/series and a new image."""

    __slots__ = (
        "images_per_series",
        "series_per_study",
        "studies_per_patient",
        "log",
        "image",
        "series",
        "study",
        "patient",
        "_values",
    )

    def __init__(
        self,
        images_per_series: int = 100,
        series_per_study: int = 50,
        studies_per_patient: int = 25,
        log: logging.Logger | None = None,
    ) -> None:
        self.images_per_series = images_per_series
        self.series_per_study = series_per_study
        self.studies_per_patient = studies_per_patient
        self.log = logging.getLogger("dimse.tools.storescu") if log is None else log
        self.image = self.series = self.study = self.patient = 0
        self._values: dict[str, str] = {}

    def _new_series(self) -> None:
        self._values["SeriesInstanceUID"] = generate_uid()
        self._values["SeriesNumber"] = str(self.series)

    def _new_study(self, seconds: int) -> None:
        self._values["StudyInstanceUID"] = generate_uid()
        self._values["StudyID"] = f"SID_{seconds}{self.study}"

    def _new_patient(self, seconds: int) -> None:
        self._values["PatientID"] = f"PID_{seconds}{self.patient}"
        self._values["PatientName"] = f"DIMSE^TEST_PN_{seconds}{self.patient}"

    def apply(self, ds: Dataset) -> None:
        """Replace the identifying attributes that ``ds`` already has."""
        seconds = int(time.time())
        if not self._values:
            self._new_series()
            self._new_study(seconds)
            self._new_patient(seconds)
        if self.image >= self.images_per_series:
            self.image = 0
            self.series += 1
            self._new_series()
        if self.series >= self.series_per_study:
            self.series = 0
            self.study += 1
            self._new_study(seconds)
        if self.study >= self.studies_per_patient:
            self.study = 0
            self.patient += 1
            self._new_patient(seconds)
        self._values["SOPInstanceUID"] = generate_uid()
        self._values["InstanceNumber"] = str(self.image)
        self.log.info(
            "Inventing Identifying Information (pa%d, st%d, se%d, im%d):\n%s",
            self.patient,
            self.study,
            self.series,
            self.image,
            "\n".join(f"  {k if k != 'InstanceNumber' else 'ImageNumber'}={self._values[k]}" for k in _ATTRIBUTES),
        )
        for keyword, tag in _ATTRIBUTES.items():
            if tag in ds:
                ds[tag].value = self._values[keyword]
            else:
                self.log.error(
                    "updateStringAttributeValue: cannot find: %s (%04x,%04x): Tag Not Found",
                    keyword,
                    tag >> 16,
                    tag & 0xFFFF,
                )
        self.image += 1

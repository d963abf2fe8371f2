"""Changing a data set's pixel encoding when the peer did not accept the file's own syntax.

DCMTK's storescu fails here; we decompress (dcmsend's ``+dls`` lossless only, the default;
``+dly`` lossy too; ``-dn`` never) and compress to a proposed compressed syntax when pydicom
has an encoder for it (RLE, JPEG-LS, JPEG 2000 with the ``codecs`` extra).  All codec work is
pydicom's.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from ..core.record import FrozenRecord
from ..errors import DimseError
from ..files.part10 import encode_dataset
from ..files.pywarnings import logged
from ..uids import NATIVE

if TYPE_CHECKING:
    from pydicom.dataset import Dataset

#: compressed syntaxes whose decoding does not give back the original pixels
LOSSY = frozenset(
    {
        "1.2.840.10008.1.2.4.50",
        "1.2.840.10008.1.2.4.51",
        "1.2.840.10008.1.2.4.81",
        "1.2.840.10008.1.2.4.91",
        "1.2.840.10008.1.2.4.93",
        *(f"1.2.840.10008.1.2.4.{n}" for n in range(100, 109)),
    }
)


def _name(uid: str) -> str:
    from pydicom.uid import UID

    return UID(uid).name


class TranscodeError(DimseError):
    """The data set cannot be brought into the wanted transfer syntax."""


class Transcoder(FrozenRecord):
    """``decompress`` is ``"lossless"`` (default), ``"lossy"`` or ``"never"``."""

    __slots__ = ("decompress", "deflate_level")
    decompress: str
    deflate_level: int

    def __init__(self, decompress: str = "lossless", deflate_level: int = 6) -> None:
        object.__setattr__(self, "decompress", decompress)
        object.__setattr__(self, "deflate_level", deflate_level)

    def convert(self, ds: Dataset, source: str, target: str) -> bytes:
        """``ds`` (in ``source``) encoded in ``target``; may change ``ds`` (and, for lossy
        compression, its SOP Instance UID, as PS3.5 requires)."""
        with logged():  # pydicom's codec warnings are log lines
            if source not in NATIVE:
                self._decompress(ds, source)
            if target in NATIVE:
                return encode_dataset(ds, target, self.deflate_level)
            return self._compress(ds, target)

    def _decompress(self, ds: Dataset, source: str) -> None:
        if self.decompress == "never":
            raise TranscodeError("decompression is disabled (-dn)")
        if source in LOSSY and self.decompress != "lossy":
            raise TranscodeError(f"{_name(source)} is lossy; decompress it only with +dly")
        try:
            ds.decompress(generate_instance_uid=False)
        except Exception as exc:  # codec plugins raise many kinds
            raise TranscodeError(f"cannot decompress {_name(source)}: {exc}") from None

    def _compress(self, ds: Dataset, target: str) -> bytes:
        try:
            ds.compress(target, generate_instance_uid=target in LOSSY)
        except Exception as exc:
            raise TranscodeError(f"cannot compress to {_name(target)}: {exc}") from None
        return encode_dataset(ds, target)

"""movescu's re-encoding output options: ``+te/+tb/+ti/+td``, ``+g/-g``, ``-e``, ``+p``, ``-u``, ``+cl``.

Objects are first streamed to disk as received; only when one of these options asks for a
different encoding is the stored object decoded with pydicom and written again (into a
temporary file that replaces it, in the hidden folder the received objects' temporary files
are in), so the default path keeps memory bounded.
"""

from __future__ import annotations

import os
import struct
import zlib
from pathlib import Path
from typing import TYPE_CHECKING

from ..core.record import FrozenRecord
from ..files.part10 import encode_dataset, meta_prefix
from ..files.storage import random_temporary, sync_folder
from ..uids import DeflatedExplicitVRLittleEndian as DEFLATED
from ..uids import ExplicitVRBigEndian as BEE
from ..uids import ExplicitVRLittleEndian as LEE
from ..uids import ImplicitVRLittleEndian as LEI

NEW_VRS = {"UN", "UT", "UC", "UR", "OD", "OF", "OL", "OV", "SV", "UV"}

if TYPE_CHECKING:
    from pydicom.dataset import Dataset


class OutputFormat(FrozenRecord):
    __slots__ = (
        "transfer_syntax",
        "group_length",
        "undefined_lengths",
        "padding",
        "new_vrs",
        "deflate_level",
        "write_meta",
        "fsync",
    )
    transfer_syntax: str | None
    group_length: str
    undefined_lengths: bool
    padding: tuple[int, int] | None
    new_vrs: bool
    deflate_level: int
    write_meta: bool
    fsync: bool

    def __init__(  # noqa: PLR0913
        self,
        transfer_syntax: str | None = None,  # None: the one the object was received in (+t=)
        group_length: str = "recalc",  # recalc (+g=), create (+g), remove (-g)
        undefined_lengths: bool = False,  # -e
        padding: tuple[int, int] | None = None,  # +p file item
        new_vrs: bool = True,  # -u turns them into OB
        deflate_level: int = 6,
        write_meta: bool = True,
        fsync: bool = False,  # --fsync: the rewritten file on disk before the response
    ) -> None:
        object.__setattr__(self, "transfer_syntax", transfer_syntax)
        object.__setattr__(self, "group_length", group_length)
        object.__setattr__(self, "undefined_lengths", undefined_lengths)
        object.__setattr__(self, "padding", padding)
        object.__setattr__(self, "new_vrs", new_vrs)
        object.__setattr__(self, "deflate_level", deflate_level)
        object.__setattr__(self, "write_meta", write_meta)
        object.__setattr__(self, "fsync", fsync)

    @property
    def needed(self) -> bool:
        return bool(
            self.transfer_syntax
            or self.group_length != "recalc"
            or self.undefined_lengths
            or self.padding
            or not self.new_vrs
        )

    def rewrite(self, path: Path, source_ae: str = "") -> None:
        """Decode ``path`` and write it again with these options, atomically."""
        from pydicom import dcmread  # only here: movescu starts without pydicom
        from pydicom.dataset import Dataset

        ds = dcmread(path, force=True)
        received = str(getattr(ds, "file_meta", Dataset()).get("TransferSyntaxUID", "") or LEI)
        target = self.transfer_syntax or received
        body = Dataset({tag: elem for tag, elem in ds.items() if tag >> 16 != 0x0002})
        body.set_original_encoding(*ds.original_encoding)
        self._lengths(body)
        if not self.new_vrs:
            for elem in body.iterall():
                if elem.VR in NEW_VRS:
                    value = elem.value.encode("utf-8") if isinstance(elem.value, str) else elem.value
                    elem.VR, elem.value = "OB", value
        prefix = b""
        if self.write_meta:
            meta = ds.file_meta
            prefix = meta_prefix(
                str(meta.MediaStorageSOPClassUID), str(meta.MediaStorageSOPInstanceUID), target, source_ae
            )
        raw = self._encode(body, target)
        if self.padding and self.padding[0] and target in (LEI, LEE):
            raw += self._pad(len(prefix) + len(raw), target == LEI)
        fd, tmp = random_temporary(str(path))  # the mode received files have
        try:
            with os.fdopen(fd, "wb") as fp:
                fp.write(prefix + raw)
                if self.fsync:
                    fp.flush()
                    os.fsync(fp.fileno())
            os.replace(tmp, path)
        except BaseException:
            Path(tmp).unlink(missing_ok=True)
            raise
        if self.fsync:
            sync_folder(str(path.parent))

    def _lengths(self, ds: Dataset) -> None:
        for elem in ds.iterall():
            if elem.VR == "SQ":
                elem.is_undefined_length = self.undefined_lengths
                for item in elem.value:
                    item.is_undefined_length_sequence_item = self.undefined_lengths

    def _encode(self, ds: Dataset, target: str) -> bytes:
        """The data set in ``target``; pydicom drops group lengths, so groups are written one by
        one with their (gggg,0000) element in front where one is wanted."""
        from pydicom.dataset import Dataset

        present = {tag >> 16 for tag in ds.keys() if tag & 0xFFFF == 0}
        for tag in [t for t in ds.keys() if t & 0xFFFF == 0]:
            del ds[tag]
        if self.group_length == "remove" or (self.group_length == "recalc" and not present):
            return encode_dataset(ds, target, self.deflate_level)
        native = LEE if target == DEFLATED else target
        charset = ds.get("SpecificCharacterSet", "iso8859") or "iso8859"
        implicit, order = native == LEI, "<" if native != BEE else ">"
        parts = []
        for group in sorted({tag >> 16 for tag in ds.keys()}):
            members = Dataset({t: e for t, e in ds.items() if t >> 16 == group})
            members.set_original_encoding(*ds.original_encoding)
            raw = encode_dataset(members, native, character_set=charset)
            if self.group_length == "create" or group in present:
                head = struct.pack(order + "HH", group, 0)
                head += struct.pack(order + "L", 4) if implicit else b"UL" + struct.pack(order + "H", 4)
                parts.append(head + struct.pack(order + "L", len(raw)))
            parts.append(raw)
        body = b"".join(parts)
        if target == DEFLATED:
            packer = zlib.compressobj(self.deflate_level, zlib.DEFLATED, -zlib.MAX_WBITS)
            body = packer.compress(body) + packer.flush()
            body += b"\0" * (len(body) % 2)
        return body

    def _pad(self, size: int, implicit: bool) -> bytes:
        """A Data Set Trailing Padding element that makes the file a multiple of the file pad."""
        unit = self.padding[0] if self.padding else 0
        header = 8 if implicit else 12
        length = (-(size + header)) % unit
        if length % 2:
            length += unit
        tag = b"\xfc\xff\xfc\xff"
        head = tag + length.to_bytes(4, "little") if implicit else tag + b"OB\0\0" + length.to_bytes(4, "little")
        return head + bytes(length)

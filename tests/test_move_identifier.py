"""movescu's identifier from ``-k`` keys: coded without pydicom, the same bytes as pydicom's.

``move.identifier.KeyIdentifier`` codes the common case (a few query/retrieve keys) so that
movescu never imports pydicom; whatever it does not take falls back to ``move.keys`` (pydicom).
Every identifier it takes must be what pydicom would have sent, in each transfer syntax, and
must be one pydicom would have built without a warning.
"""

from __future__ import annotations

import random
import subprocess
import sys
import warnings

import pytest
from pydicom import dcmread
from pydicom.datadict import dictionary_VR, tag_for_keyword
from pydicom.dataset import Dataset

from dimse.cli.options import CommandLineError
from dimse.files.part10 import encode_dataset
from dimse.move.identifier import QUERY_KEYS, KeyIdentifier
from dimse.move.keys import apply_keys, parse_keys

from .conftest import CT_SMALL, ours, run
from .test_movescu import archive  # noqa: F401 (the dcmqrscp fixture)

LEI, LEE, BEE, DEFLATED = "1.2.840.10008.1.2", "1.2.840.10008.1.2.1", "1.2.840.10008.1.2.2", "1.2.840.10008.1.2.1.99"
NATIVE = (LEI, LEE, BEE)

#: values per VR: valid ones, and ones pydicom warns about, converts or cannot code as ASCII
VALUES = {
    "CS": ["STUDY", "SERIES", "IMAGE", "PATIENT", "", "CT\\MR", "CT\\", "M R", "O_T", "study", "A" * 16, "A" * 17],
    "UI": ["1.2.3", "1.2.840.10008.5.1.4.1.2.2.2", "1.2.3\\4.5", "1.2.3.4", "", "1." + "2" * 62, "1." + "2" * 63]
    + ["1.02", " 1.2", "1.2 "],
    "DA": ["20200101", "20200101-20201231", "-20200101", "20200101-", "", "2020", "2020-01-01", "20201301"],
    "TM": ["101010", "1010", "10", "101010.123456", "101010.1-1200", "", "25", "10:10"],
    "LO": ["ABC", "Some Description", "", "x" * 63, "x" * 64, "x" * 65, "M\u00fcller", "a=b", "CT*", "?A", "a\tb"],
    "SH": ["A1", "ACC 1", "", "x" * 16, "x" * 17, "\u00e9"],
    "PN": ["Doe^John", "Doe*", "Doe^John^^Dr", "", "Doe^Jane\\Roe^R", "A=B", "x" * 64, "x" * 65, "Y\u00e9"],
    "IS": ["1", "007", "-5", "", "1\\2\\3", "2147483647", "+5", " 7", "2147483648", "abc", "1.5"],
    "AE": ["ANY-SCP", "A B", "", "x" * 16, "x" * 17],
    "AS": ["034Y", "012M", "", "34Y"],
}
CHARSETS = ["ISO_IR 100", "ISO_IR 192", "", "ISO_IR 6", "ISO_IR 13", "ISO 2022 IR 87", "ISO 2022 IR 6\\ISO 2022 IR 87"]
#: keys pydicom knows that the table leaves to it
OTHER_KEYS = ["PatientComments=x", "ReferencedSOPSequence=", "0009,0010=CREATOR", "Rows=512", "NoSuchKeyword=1"]


def reference(texts: list[str]) -> tuple[Dataset | None, list[str]]:
    """The identifier as movescu built it with pydicom only (None if refused), and its warnings."""
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        try:
            ds = apply_keys(Dataset(), parse_keys(texts))
        except CommandLineError:
            ds = None
    return ds, [str(w.message) for w in caught]


def check(texts: list[str]) -> bool:
    """Assert the fast coder agrees with pydicom for ``texts``; True when it took them."""
    fast = KeyIdentifier.parse(texts)
    if fast is None:
        return False
    ds, caught = reference(texts)
    assert ds is not None, texts
    assert not caught, (texts, caught)
    for syntax in NATIVE:
        assert fast.encode_as(syntax) == encode_dataset(ds, syntax), (texts, syntax)
        assert encode_dataset(fast, syntax) == encode_dataset(ds, syntax)  # what Association.move sends
    return True


def key_text(rng: random.Random, keyword: str, value: str) -> str:
    """``Keyword=value`` or one of DCMTK's tag spellings."""
    tag = QUERY_KEYS[keyword][0]
    group, element = tag >> 16, tag & 0xFFFF
    form = rng.choice(["keyword", "keyword", f"{group:04x},{element:04x}", f"{group:04X},{element:04X}"])
    name = keyword if form == "keyword" else form
    if form != "keyword" and rng.random() < 0.3:
        name = f"0x{group:04x}, 0x{element:04x}"
    return f"{name}={value}"


def test_table_matches_the_dictionary():
    for keyword, (tag, vr) in QUERY_KEYS.items():
        assert tag_for_keyword(keyword) == tag
        assert dictionary_VR(tag) == vr
    required = {"QueryRetrieveLevel", "PatientID", "PatientName", "StudyInstanceUID", "SeriesInstanceUID"}
    required |= {"SOPInstanceUID", "AccessionNumber", "StudyDate", "StudyTime", "Modality", "ModalitiesInStudy"}
    required |= {"StudyDescription", "SeriesNumber", "InstanceNumber", "PatientBirthDate", "PatientSex", "StudyID"}
    assert required | {"SpecificCharacterSet"} <= set(QUERY_KEYS)


@pytest.mark.parametrize(
    "texts",
    [
        ["QueryRetrieveLevel=STUDY", "StudyInstanceUID=1.2.3"],
        ["QueryRetrieveLevel=PATIENT", "PatientID=PAT 1"],
        ["QueryRetrieveLevel=SERIES", "StudyInstanceUID=1.2.3", "SeriesInstanceUID=1.2.3.4"],
        ["QueryRetrieveLevel=IMAGE", "StudyInstanceUID=1.2", "SeriesInstanceUID=1.2.3", "SOPInstanceUID=1.2.3.4.5"],
        ["0008,0052=STUDY", "0020,000d=1.2.840.113619.2.1.1"],
        ["QueryRetrieveLevel=STUDY", "0008,0052=SERIES"],  # the leftmost key for a tag wins
        ["0008,0052=SERIES", "QueryRetrieveLevel=STUDY"],
        ["PatientName=Doe^John", "PatientBirthDate=19700101", "PatientSex=M", "PatientID="],
        ["StudyDate=20200101-20201231", "StudyTime=1010-", "Modality=CT", "ModalitiesInStudy=CT\\MR"],
        ["AccessionNumber=A1", "StudyID=7", "StudyDescription=Head", "SeriesNumber=3", "InstanceNumber=12"],
        ["SpecificCharacterSet=ISO_IR 192", "PatientName=Doe"],
        ["SpecificCharacterSet=ISO_IR 100", "PatientID=ABC"],
        ["SpecificCharacterSet=", "PatientName=X"],
        ["SeriesNumber=007", "InstanceNumber=-5\\3"],
    ],
)
def test_common_keys_are_coded_without_pydicom(texts):
    assert check(texts), f"{texts} fell back to pydicom"


@pytest.mark.parametrize(
    "texts",
    [
        ["QueryRetrieveLevel=study"],  # pydicom warns: not a CS value
        ["StudyInstanceUID= 1.2.3"],
        ["PatientID=" + "x" * 65],
        ["PatientName=M\u00fcller"],
        ["PatientName=Yamada^Tarou=\u5c71\u7530"],
        ["SeriesNumber= 7"],
        ["SeriesNumber=1.5"],
        ["SpecificCharacterSet=ISO 2022 IR 87", "PatientName=X"],
        ["SpecificCharacterSet=ISO_IR 100\\ISO_IR 192"],
        ["QueryRetrieveLevel=STUDY", "ReferencedSOPSequence="],
        ["QueryRetrieveLevel=STUDY", "PatientComments=x"],
        ["QueryRetrieveLevel=STUDY", "Rows=512"],
        ["0009,0010=CREATOR"],
        ["NoSuchKeyword=1"],
    ],
)
def test_other_keys_fall_back_to_pydicom(texts):
    assert KeyIdentifier.parse(texts) is None


def test_many_combinations_match_pydicom():
    """Random key sets (seeded): every one the fast coder takes is pydicom's, byte for byte."""
    rng = random.Random(20240607)
    keywords = sorted(QUERY_KEYS)
    taken = 0
    for _ in range(1500):
        texts = []
        for keyword in rng.sample(keywords, rng.randint(1, 6)):
            vr = QUERY_KEYS[keyword][1]
            pool = CHARSETS if keyword == "SpecificCharacterSet" else VALUES[vr]
            texts.append(key_text(rng, keyword, rng.choice(pool)))
        if rng.random() < 0.2:  # the same tag twice
            texts.append(texts[0].split("=")[0] + "=" + rng.choice(VALUES["CS"]))
        if rng.random() < 0.05:
            texts.append(rng.choice(OTHER_KEYS))
        rng.shuffle(texts)
        taken += check(texts)
    assert taken > 200  # the valid values are common enough that most simple sets are coded here


def test_every_valid_value_alone():
    for keyword, (_, vr) in QUERY_KEYS.items():
        for value in CHARSETS if keyword == "SpecificCharacterSet" else VALUES[vr]:
            check([f"{keyword}={value}"])


def test_deflated_and_other_character_sets_go_through_pydicom():
    texts = ["QueryRetrieveLevel=STUDY", "StudyInstanceUID=1.2.3", "PatientName=Doe^J"]
    fast = KeyIdentifier.parse(texts)
    ds, _ = reference(texts)
    assert fast is not None
    assert encode_dataset(fast, DEFLATED) == encode_dataset(ds, DEFLATED)
    assert fast.encode_as(LEE, character_set="ISO_IR 192") == encode_dataset(ds, LEE, character_set="ISO_IR 192")
    assert fast.dataset() == ds


def test_identifier_build_imports_no_pydicom():
    """movescu's command line and the identifier's coding, in a fresh interpreter."""
    code = """
import sys
from dimse.tools import movescu
parsed = movescu.command_line().parse(
    ["-k", "QueryRetrieveLevel=STUDY", "-k", "StudyInstanceUID=1.2.3", "--port", "11112", "127.0.0.1", "104"]
)
(path, keys), = movescu._identifiers(parsed)
from dimse.files.part10 import encode_dataset
assert encode_dataset(keys, "1.2.840.10008.1.2.1")
print(sorted(m for m in sys.modules if m.startswith(("pydicom", "numpy"))))
"""
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60)
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip() == "[]"


def test_move_without_pydicom(archive, tmp_path):  # noqa: F811 (the fixture)
    """A move by study against dcmqrscp: the object arrives and pydicom is never imported."""
    uid = dcmread(CT_SMALL).StudyInstanceUID
    args = ["-aet", "MOVESCU", "-aec", "QRSCP", "-S", "--port", str(archive.move_port), "-od", str(tmp_path)]
    args += ["-k", "QueryRetrieveLevel=STUDY", "-k", f"StudyInstanceUID={uid}", "127.0.0.1", str(archive.port)]
    done = run([sys.executable, "-X", "importtime", ours("movescu"), *args])
    assert done.returncode == 0, done.stderr
    assert [p.name for p in tmp_path.iterdir()] == [f"CT.{dcmread(CT_SMALL).SOPInstanceUID}"]
    imported = [line for line in done.stderr.splitlines() if "import time:" in line]
    assert imported, "no -X importtime output"
    assert not [line for line in imported if "pydicom" in line or "numpy" in line]


def test_identifier_and_keys_read_the_key_syntax_once():
    """``-k`` text is split in one place (``identifier.split_key``), and ``move.identifier``
    (no pydicom) never imports ``move.keys``: the two modules do not import each other."""
    import ast
    from pathlib import Path

    import dimse.move.identifier as identifier

    tree = ast.parse(Path(identifier.__file__).read_text())
    imported = {node.module for node in ast.walk(tree) if isinstance(node, ast.ImportFrom)}
    assert "keys" not in imported
    assert identifier.split_key(" 0x0010 , 0x0020=ID=1") == (0x00100020, " 0x0010 , 0x0020", "ID=1")
    assert identifier.split_key("PatientID=") == (None, "PatientID", "")
    assert parse_keys(["0010,0020=ID=1"])[0].value == "ID=1"


def test_which_key_wins_with_and_without_a_query_file(tmp_path):
    """Two keys for one tag: movescu's requests keep the leftmost, getscu's (rightmost_wins)
    the rightmost -- keys alone (coded without pydicom) and applied to a query file alike."""
    from pydicom.dataset import Dataset

    from dimse.move.mover import request_identifier
    from dimse.move.requests import requests

    query = Dataset()
    query.QueryRetrieveLevel = "STUDY"
    query.save_as(tmp_path / "q.dcm", implicit_vr=True, little_endian=True, enforce_file_format=False)
    texts = ["PatientID=LEFT", "PatientID=RIGHT"]
    for files in ([], [str(tmp_path / "q.dcm")]):
        for rightmost, expected in ((False, "LEFT"), (True, "RIGHT")):
            ((query_file, keys),) = requests(texts, files, rightmost_wins=rightmost)
            identifier = request_identifier(query_file, keys)
            shown = identifier.dataset() if hasattr(identifier, "dataset") else identifier
            assert shown.PatientID == expected, (files, rightmost)

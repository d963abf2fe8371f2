"""The shared DCMTK-style command line and logging, unit-level and side by side with DCMTK."""

from __future__ import annotations

import pytest

from dimse.cli.logconfig import PatternFormatter, read_properties
from dimse.cli.options import CommandLine, CommandLineError, parse_int, tokenize_command_file

from .conftest import dcmtk, ours, run, running


def make() -> CommandLine:
    cmd = CommandLine("tool", "a tool", "0")
    cmd.param("peer", "p")
    cmd.param("file", "f", optional=True, repeat=True)
    cmd.group("options")
    cmd.add("-aet", "--aetitle", "title", "[a]etitle: string")
    cmd.add("-xa", "--first", "one of a block")
    cmd.add("-xb", "--second", "one of a block")
    cmd.add("-h", "--help", "help", exclusive=True)
    return cmd


def test_options_anywhere_values_verbatim_rightmost_wins():
    parsed = make().parse(["-xb", "host", "--aetitle", "-v", "f1", "-xa", "-aet", "B", "f2"])
    assert parsed.params == ["host", "f1", "f2"]
    assert parsed.value("--aetitle") == "B"  # rightmost of a single-valued option
    assert parsed.all_values("--aetitle") == [["-v"], ["B"]]  # a value is taken verbatim
    assert parsed.winner("--first", "--second") == "--first"
    assert parsed.expanded[:4] == ["--second", "host", "--aetitle", "-v"]  # long names


@pytest.mark.parametrize(
    ("argv", "message"),
    [
        (["host", "--bogus"], "Unknown option --bogus"),
        (["host", "-aet"], "Missing value for option --aetitle"),
        ([], "Missing parameter peer"),
    ],
)
def test_syntax_errors(argv, message):
    with pytest.raises(CommandLineError, match=message):
        make().parse(argv)


def test_negative_numbers_are_parameters():
    assert make().parse(["host", "-1", "+5", "-"]).params == ["host", "-1", "+5", "-"]


def test_command_file_tokens_as_dcmtk():
    assert tokenize_command_file('ab"cd" "ef"gh "" x\'y"z\'') == ["abcd", "ef", "gh", "", 'xy"z']
    assert tokenize_command_file("a\tb\r\n#c 'unterminated rest") == ["a", "b", "#c", "unterminated rest"]


@pytest.mark.parametrize(("text", "value"), [("0x10", 16), ("010", 8), ("10", 10), ("-3", -3)])
def test_integers_as_c_reads_them(text, value):
    assert parse_int(text, "--x") == value


def test_integer_ranges():
    with pytest.raises(CommandLineError, match=r"Invalid value for option --max-pdu \(overflow: 200000\)"):
        parse_int("200000", "--max-pdu", 4096, 131072)
    with pytest.raises(CommandLineError, match=r"Invalid parameter value 70000 \(overflow\)"):
        parse_int("70000", "port", 1, 65535, option=False)


def test_pattern_layout():
    import logging

    record = logging.LogRecord("dimse.tools.storescu", logging.WARNING, __file__, 0, "two\nlines", None, None)
    out = PatternFormatter("%5p - %-8c{1} - %m%n").format(record)
    assert out == " WARN - storescu - two\n WARN - storescu - lines"


def test_properties_expand_appname_and_environment(monkeypatch):
    monkeypatch.setenv("LOGDIR", "/var/log")
    props = read_properties("# c\nlog4cplus.x = ${LOGDIR}/${appname}.log\n! other\n", "storescu")
    assert props == {"log4cplus.x": "/var/log/storescu.log"}


LOG_CONFIG_CASES = [
    ["-lc", "/etc/dcmtk/logger.cfg", "-v"],
    ["-lc", "/etc/dcmtk/logger.cfg", "-ll", "info"],
    ["-lc", "/nonexistent.cfg"],
    ["-lc", "/dev/null"],
    ["-q", "-v", "-ll", "debug"],
    ["-ll", "loud"],
    ["--max-pdu", "100"],
    ["--repeat"],
]


@pytest.mark.parametrize("args", LOG_CONFIG_CASES, ids=[" ".join(a) for a in LOG_CONFIG_CASES])
def test_option_errors_side_by_side(args, port):
    """DCMTK echoscu and our echoscu: the same error line and exit code for the same bad options."""
    theirs = run([dcmtk("echoscu"), *args, "127.0.0.1", str(port)])
    mine = run([ours("echoscu"), *args, "127.0.0.1", str(port)])
    assert mine.returncode == theirs.returncode
    assert [line for line in mine.stderr.splitlines() if line.startswith("error:")] == [
        line for line in theirs.stderr.splitlines() if line.startswith("error:")
    ]


def test_log_config_files_side_by_side(port, tmp_path):
    """DCMTK's shipped logger.cfg with DCMTK echoscu and ours: same console lines, a log file each."""
    (tmp_path / "a").mkdir()
    (tmp_path / "b").mkdir()
    with running([dcmtk("storescp"), str(port)], port):
        theirs = run([dcmtk("echoscu"), "-lc", "/etc/dcmtk/logger.cfg", "127.0.0.1", str(port)], cwd=tmp_path / "a")
        mine = run([ours("echoscu"), "-lc", "/etc/dcmtk/logger.cfg", "127.0.0.1", str(port)], cwd=tmp_path / "b")
    assert mine.returncode == theirs.returncode == 0

    def strip_time(text: str) -> list[str]:
        return [line[9:] for line in text.splitlines()]

    assert strip_time(mine.stdout) == strip_time(theirs.stdout)  # logToStderr is not log4cplus's key
    assert strip_time(mine.stdout)[0] == " INFO: Requesting Association"
    assert mine.stderr == theirs.stderr == ""
    log = (tmp_path / "b" / "echoscu.log").read_text()
    assert "DEBUG: Request Parameters:" in log and " INFO: Releasing Association" in log


def test_unsupported_log_config_is_reported(tmp_path, port):
    cfg = tmp_path / "odd.cfg"
    cfg.write_text("log4cplus.rootLogger = INFO, s\nlog4cplus.appender.s = log4cplus::SyslogAppender\n")
    mine = run([ours("echoscu"), "-lc", str(cfg), "127.0.0.1", str(port)])
    assert "W: --log-config: appender s of type log4cplus::SyslogAppender is not supported, ignored" in mine.stderr


def test_dcmdictpath_adds_entries(tmp_path, monkeypatch):
    """A DCMTK-format dictionary file adds public and private entries pydicom did not know."""
    import logging

    from pydicom.datadict import dictionary_VR, get_private_entry, keyword_for_tag

    from dimse.cli.dictionary import load_from_environment

    path = tmp_path / "my.dic"
    path.write_text(
        '# comment\n(0042,7777)\tLO\tMyLocalAttribute\t1\tLocal\n(0011,0010)\tLO\tIgnoredOdd\t1\tLocal\n(0009,"ACME 1.0",10)\tUS\tAcmeCounter\t1\tPrivateTag\n'
        "(60xx,0010)\tUS\tOverlayRows\t1\tDICOM\n(0010,0010)\tLO\tNotPatientName\t1\tDICOM\n"
    )
    monkeypatch.setenv("DCMDICTPATH", f"{path}:{tmp_path / 'missing.dic'}")
    load_from_environment(logging.getLogger("dimse.test"))
    assert keyword_for_tag(0x00427777) == "MyLocalAttribute" and dictionary_VR(0x00427777) == "LO"
    assert get_private_entry(0x00091010, "ACME 1.0")[2] == "AcmeCounter"
    assert keyword_for_tag(0x00100010) == "PatientName"  # pydicom's own entries stay

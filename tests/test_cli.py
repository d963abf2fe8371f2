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


def test_exclusive_listing_runs_before_the_tool(capsys):
    """A listing option (``+cc``, ``+ph``) is handled by app.run like --help: printed, exit 0,
    no parameter needed and the tool's body never runs."""
    from dimse.cli.app import run as run_tool

    cmd = make()
    cmd.add("+cc", "--list-things", "list and exit", exclusive=True)
    cmd.on_exclusive("--list-things", lambda out: out.write("thing one\n"))

    async def body(parsed):
        raise AssertionError("the body ran")

    assert run_tool(cmd, ["+cc"], body) == 0
    assert capsys.readouterr().out == "thing one\n"
    assert run_tool(cmd, ["+cc", "-h"], body) == 0  # --help first, as before
    assert capsys.readouterr().out.startswith("$dimse: tool v0 $")
    with pytest.raises(ValueError):
        cmd.on_exclusive("--aetitle", lambda out: None)  # not an exclusive option


def test_conditions_follow_the_kind_not_the_words():
    """The DCMTK condition for an error comes from its type and kind; the message only fills
    in the words at the end of a line."""
    from dimse.cli.conditions import ACSE_TIMEOUT, DIMSE_TIMEOUT, PEER_ABORTED, describe
    from dimse.errors import AssociationAborted, NetworkTimeout

    assert describe(NetworkTimeout("no DIMSE message", NetworkTimeout.DIMSE)) == DIMSE_TIMEOUT
    assert describe(NetworkTimeout("DIMSE", NetworkTimeout.ACSE)) == ACSE_TIMEOUT
    # a timeout that does not say its kind is told in our words, whatever its message says
    assert describe(NetworkTimeout("timeout waiting for DIMSE message")) == (
        "0006:031c TCP Initialization Error: timeout waiting for DIMSE message"
    )
    assert describe(AssociationAborted("connection lost", by_peer=True)) == PEER_ABORTED
    assert describe(AssociationAborted("Peer went away", by_peer=False)) == "0006:0317 Peer went away"


def test_exit_codes_are_dcmtks():
    """Each tool's exit codes carry DCMTK's values (spec sections 4.1 and 8.1)."""
    from dimse.cli.app import ExitCode
    from dimse.tools.echoscu import EchoscuExit
    from dimse.tools.movescu import MovescuExit
    from dimse.tools.storescp import StorescpExit
    from dimse.tools.storescu import StorescuExit

    assert ExitCode.COMMANDLINE_SYNTAX_ERROR == 1 and ExitCode.NO_ERROR == 0
    assert (StorescuExit.FAILURE, StorescuExit.NO_STATUS, StorescpExit.FAILURE, EchoscuExit.ASSOCIATION_ABORTED) == (
        1,
        10,
        1,
        70,
    )
    assert {m.name: m.value for m in MovescuExit} == {
        "NO_ERROR": 0,
        "COMMANDLINE_SYNTAX_ERROR": 1,
        "CANNOT_WRITE_OUTPUT_FILE": 40,
        "INVALID_OUTPUT_DIRECTORY": 45,
        "CANNOT_INITIALIZE_NETWORK": 60,
        "CANNOT_NEGOTIATE_ASSOCIATION": 61,
        "NO_PRESENTATION_CONTEXT": 66,
        "CANNOT_CLOSE_ASSOCIATION": 67,
        "CMOVE_WARNING": 68,
        "CMOVE_ERROR": 69,
        "CANNOT_CREATE_TLS_LAYER": 70,
    }


@pytest.mark.parametrize(
    ("option", "syntaxes"),
    [
        ("-x=", ("1.2.840.10008.1.2.1", "1.2.840.10008.1.2.2", "1.2.840.10008.1.2")),
        ("-xe", ("1.2.840.10008.1.2.1", "1.2.840.10008.1.2.2", "1.2.840.10008.1.2")),
        ("-xb", ("1.2.840.10008.1.2.2", "1.2.840.10008.1.2.1", "1.2.840.10008.1.2")),
        ("-xd", ("1.2.840.10008.1.2.1.99", "1.2.840.10008.1.2.1", "1.2.840.10008.1.2.2", "1.2.840.10008.1.2")),
        ("-xi", ("1.2.840.10008.1.2",)),
    ],
)
def test_movescu_proposes_from_storescus_table(option, syntaxes):
    """movescu's -x* options come from store.proposal's table, in one context per model class."""
    from dimse.tools import movescu

    parsed = movescu.command_line().parse([option, "-k", "PatientID=1", "127.0.0.1", "104"])
    contexts = movescu.read_settings(parsed).rq.contexts
    assert [tuple(c.transfer_syntaxes) for c in contexts] == [syntaxes, syntaxes]


@pytest.mark.parametrize(
    "args",
    [
        ["echoscu", "-aec", "ÄBC", "127.0.0.1", "9"],
        ["storescu", "-aet", "A\tB", "127.0.0.1", "9", "x.dcm"],
        ["movescu", "-aem", "Ä", "-k", "QueryRetrieveLevel=STUDY", "127.0.0.1", "9"],
        ["storescp", "-aet", "Ä", "9"],
    ],
    ids=["echoscu-call", "storescu-control-char", "movescu-move", "storescp-aetitle"],
)
def test_ae_title_that_is_not_printable_ascii_is_refused(args):
    """ours: an AE title outside printable ASCII is a command-line error naming the option (exit
    1, no traceback); it once escaped as ``F: internal error: UnicodeEncodeError`` (DCMTK sends
    the bytes, and receivers refuse the request as malformed)."""
    done = run([ours(args[0]), *args[1:]])
    assert done.returncode == 1
    assert "AE titles are printable ASCII" in done.stderr
    assert "internal error" not in done.stderr and "Traceback" not in done.stderr

"""What the command line prints: an error is one line whatever the file name holds."""

from __future__ import annotations

from meetsep.cli.console import fail, printable


def test_errors_stay_on_one_line_whatever_the_file_name(capsys):
    fail("/data/odd\nname\udcff.wav: file not found")
    err = capsys.readouterr().err
    assert err == "meetsep: error: /data/odd\\nname\\udcff.wav: file not found\n"
    assert printable("plain: text é") == "plain: text é"

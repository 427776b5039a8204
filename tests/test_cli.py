import pytest

from tfsem.cli import error_line


def test_error_line_takes_the_cause_of_a_traced_function_error():
    message = ("in user code:\n\n    File \"/x.py\", line 3, in f  *\n        g()\n"
               "    File \"/y.py\", line 9, in g\n\n    TypeError: missing a required "
               "argument: 'instance'\n")
    assert error_line(ValueError(message)) == "TypeError: missing a required argument: 'instance'"


@pytest.mark.parametrize("message, expected", [
    ("data.batch_size: must be >= 1, got 0", "data.batch_size: must be >= 1, got 0"),
    ("first line\nsecond line", "first line"),
])
def test_error_line_keeps_plain_messages(message, expected):
    assert error_line(ValueError(message)) == expected


def test_unexpected_errors_are_one_line_unless_debugging(monkeypatch, capsys):
    from tfsem.cli import run_cli

    def broken(argv):
        raise IndexError("list index out of range")

    monkeypatch.delenv("TFSEM_DEBUG", raising=False)
    assert run_cli(broken, []) == 1
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "error: IndexError: list index out of range" in err
    assert "TFSEM_DEBUG=1" in err
    monkeypatch.setenv("TFSEM_DEBUG", "1")
    with pytest.raises(IndexError):
        run_cli(broken, [])

"""The command line: one dispatch style, one program name, clear errors, CMR_DEBUG."""

import pathlib

import pytest

from cmr import REPO_ROOT
from cmr.cli import BENCHMARKS, COMMANDS, main


@pytest.mark.parametrize("argv", [[name] for name in COMMANDS] + [["bench", name] for name in BENCHMARKS])
def test_every_command_has_help_under_one_program_name(argv, capsys):
    with pytest.raises(SystemExit) as exit_info:
        main([*argv, "--help"])
    assert exit_info.value.code == 0
    assert capsys.readouterr().out.startswith(f"usage: python -m cmr {' '.join(argv)}")


@pytest.mark.parametrize("name", ["train", "eval", "demo", "sheet"])
def test_model_commands_take_a_config_and_overrides(name, capsys):
    with pytest.raises(SystemExit):
        main([name, "--help"])
    usage = capsys.readouterr().out
    assert "--config CONFIG" in usage and "overrides" in usage


def test_user_errors_print_a_message_unless_debugging(tmp_path, monkeypatch, capsys):
    broken = tmp_path / "broken.yaml"
    broken.write_text("TRAIN: [unclosed\n")
    assert main(["train", "--config", str(broken)]) == 2
    assert capsys.readouterr().err.startswith(f"error: {broken}: malformed YAML")
    monkeypatch.setenv("CMR_DEBUG", "1")
    with pytest.raises(ValueError, match="malformed YAML"):
        main(["train", "--config", str(broken)])


def test_an_unwritable_output_folder_is_reported_before_any_work(tmp_path, monkeypatch, capsys):
    """Simulated (tests may run as root, who can write into read-only folders)."""
    real = pathlib.Path.write_bytes

    def refuse(path, data):
        if path.parent == tmp_path / "out":
            raise PermissionError(13, "Permission denied", str(path))
        return real(path, data)

    monkeypatch.setattr(pathlib.Path, "write_bytes", refuse)
    status = main(["demo", "--input", str(REPO_ROOT / "cmr" / "assets" / "samples"), "--output", str(tmp_path / "out")])
    assert status == 2
    assert f"output folder {tmp_path / 'out'} is not writable (Permission denied)" in capsys.readouterr().err

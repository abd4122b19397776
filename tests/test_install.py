"""`asterisk-bridge init` and what the wheel ships: a first-time admin's path from pip to a
configuration that passes check-config, with Asterisk's AMI account and the systemd unit."""

from __future__ import annotations

import re
import stat
import zipfile
from pathlib import Path

import pytest
from click.testing import CliRunner

from asterisk_bridge.cli import main
from asterisk_bridge.config import load_config
from asterisk_bridge.install import init
from asterisk_bridge.resources import systemd_unit

ROOT = Path(__file__).parent.parent


def _unit(path: Path) -> dict[str, str]:
    return dict(line.split("=", 1) for line in path.read_text(encoding="utf-8").splitlines()
                if "=" in line and not line.startswith("#"))


def test_init_writes_a_configuration_that_passes_check_config(tmp_path, monkeypatch):
    monkeypatch.delenv("ASTERISK_BRIDGE_CONFIG", raising=False)
    etc, units = tmp_path / "etc" / "asterisk-bridge", tmp_path / "systemd"
    result = CliRunner().invoke(main, ["init", "--dir", str(etc), "--systemd", "--systemd-dir", str(units)])
    assert result.exit_code == 0, result.output
    config, secret_file, unit = etc / "asterisk-bridge.toml", etc / "ami.secret", units / "asterisk-bridge.service"
    secret = secret_file.read_text(encoding="utf-8").strip()
    assert len(secret) >= 32 and stat.S_IMODE(secret_file.stat().st_mode) == 0o640
    # the manager.conf account printed carries the same secret, and the [general] settings it needs
    assert f"    secret = {secret}\n" in result.output and "    timestampevents = yes" in result.output
    assert "    [asterisk-bridge]\n" in result.output and "    read = call,agent,user,dialplan\n" in result.output
    # where the dialplan snippets are, and which Asterisk file includes each
    for snippet, target in (("extensions_contact_center.conf", "extensions.conf"),
                            ("queues_contact_center.conf", "queues.conf")):
        path = re.search(rf"(\S+/{snippet})  ->  /etc/asterisk/{target}", result.output).group(1)
        assert Path(path).is_file()
    # the example, pointed at the secret: check-config passes out of the box
    cfg = load_config(config)
    assert cfg.ami.secret == secret and f'secret_file = "{secret_file}"' in config.read_text(encoding="utf-8")
    checked = CliRunner().invoke(main, ["check-config", "-c", str(config)])
    assert checked.exit_code == 0, checked.output
    assert secret not in checked.output
    # the unit runs this installation with this configuration
    settings = _unit(unit)
    assert settings["Environment"] == f"ASTERISK_BRIDGE_CONFIG={config}"
    executable = settings["ExecStart"].split()[0]
    assert executable.endswith("/asterisk-bridge") and Path(executable).is_file()
    assert settings["ExecStartPre"] == f"{executable} check-config" and settings["User"] == "asterisk-bridge"


def test_init_refuses_to_overwrite_without_force(tmp_path):
    first = init(tmp_path)
    secret = first.secret_file.read_text(encoding="utf-8")
    first.config.write_text("# mine\n", encoding="utf-8")
    result = CliRunner().invoke(main, ["init", "--dir", str(tmp_path)])
    assert result.exit_code == 2
    assert f"{first.config}, {first.secret_file} already exist; nothing was written" in result.output
    assert first.config.read_text(encoding="utf-8") == "# mine\n"
    assert first.secret_file.read_text(encoding="utf-8") == secret
    # one file there is enough to write nothing
    first.config.unlink()
    result = CliRunner().invoke(main, ["init", "--dir", str(tmp_path), "--systemd", "--systemd-dir", str(tmp_path)])
    assert result.exit_code == 2 and not first.config.exists() and not (tmp_path / "asterisk-bridge.service").exists()
    result = CliRunner().invoke(main, ["init", "--dir", str(tmp_path), "--force"])
    assert result.exit_code == 0, result.output
    assert first.secret_file.read_text(encoding="utf-8") != secret and "lines = " not in first.config.read_text()


def test_the_wheel_ships_the_unit_the_example_the_templates_and_the_dialplan(tmp_path):
    builders = pytest.importorskip("hatchling.builders.wheel",
                                   reason="hatchling is not installed (pip install -e '.[test]')")
    wheel = next(builders.WheelBuilder(str(ROOT)).build(directory=str(tmp_path), versions=["standard"]))
    names = set(zipfile.ZipFile(wheel).namelist())
    for shipped in ("asterisk_bridge/systemd/asterisk-bridge.service", "asterisk_bridge/example.toml",
                    "asterisk_bridge/templates/summary.html", "asterisk_bridge/templates/_labels.ru.j2",
                    "asterisk_bridge/dialplan/extensions_contact_center.conf",
                    "asterisk_bridge/dialplan/manager_contact_center.conf", "asterisk_bridge/install.py",
                    "asterisk_bridge/py.typed", "asterisk_bridge/config/load.py",
                    "asterisk_bridge/templates/web/wallboard.html", "asterisk_bridge/templates/web/_labels.en.j2",
                    "asterisk_bridge/web/static/console.css", "asterisk_bridge/web/static/console.js"):
        assert shipped in names, shipped
    assert systemd_unit().is_file()


def test_init_systemd_after_init_adds_the_unit_and_keeps_the_edited_configuration(tmp_path):
    etc, units = tmp_path / "etc", tmp_path / "units"
    first = CliRunner().invoke(main, ["init", "--dir", str(etc)])
    assert first.exit_code == 0, first.output
    config, secret_file = etc / "asterisk-bridge.toml", etc / "ami.secret"
    edited = config.read_text(encoding="utf-8").replace('node = "pbx1"', 'node = "pbx7"')
    assert 'node = "pbx7"' in edited
    config.write_text(edited, encoding="utf-8")
    secret = secret_file.read_text(encoding="utf-8")
    result = CliRunner().invoke(main, ["init", "--dir", str(etc), "--systemd", "--systemd-dir", str(units)])
    assert result.exit_code == 0, result.output
    assert config.read_text(encoding="utf-8") == edited and secret_file.read_text(encoding="utf-8") == secret
    assert f"kept {config} and {secret_file} (already there; --force replaces them)" in result.output
    assert f"    secret = {secret.strip()}\n" in result.output  # the account Asterisk already has
    assert _unit(units / "asterisk-bridge.service")["Environment"] == f"ASTERISK_BRIDGE_CONFIG={config}"
    # once the unit is there too, init refuses like any other time
    again = CliRunner().invoke(main, ["init", "--dir", str(etc), "--systemd", "--systemd-dir", str(units)])
    assert again.exit_code == 2 and "nothing was written" in again.output
    assert config.read_text(encoding="utf-8") == edited

"""The shipped systemd unit says what the README promises: dedicated user, config, state dir, restart, reload."""

from __future__ import annotations

from pathlib import Path

UNIT = Path(__file__).parent.parent / "systemd" / "asterisk-bridge.service"


def unit_settings() -> dict[str, list[str]]:
    settings: dict[str, list[str]] = {}
    section = ""
    for raw in UNIT.read_text(encoding="utf-8").splitlines():
        line = raw.strip()
        if not line or line.startswith("#"):
            continue
        if line.startswith("["):
            section = line.strip("[]")
            continue
        key, _, value = line.partition("=")
        settings.setdefault(f"{section}.{key}", []).append(value)
    return settings


def test_unit_runs_the_bridge_as_a_dedicated_user_with_config_and_state_dirs():
    s = unit_settings()
    assert s["Service.User"] == ["asterisk-bridge"] and s["Service.Group"] == ["asterisk-bridge"]
    assert s["Service.Environment"] == ["ASTERISK_BRIDGE_CONFIG=/etc/asterisk-bridge/asterisk-bridge.toml"]
    assert s["Service.ExecStart"][0].endswith("asterisk-bridge -v run")
    assert s["Service.ExecStartPre"][0].endswith("asterisk-bridge check-config")
    assert s["Service.StateDirectory"] == ["asterisk-bridge"]  # /var/lib/asterisk-bridge
    assert s["Service.Restart"] == ["on-failure"]
    assert s["Service.ExecReload"] == ["/bin/kill -HUP $MAINPID"]
    assert s["Service.KillSignal"] == ["SIGTERM"]
    assert s["Install.WantedBy"] == ["multi-user.target"]

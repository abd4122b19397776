"""Files shipped next to the code: the example configuration, the templates, the dialplan, the
systemd unit.

In a wheel they live inside the package (see ``force-include`` in pyproject.toml); in a source
checkout they sit at the repository root. Both layouts are looked up here, nowhere else.
"""

from __future__ import annotations

from pathlib import Path

_PACKAGE = Path(__file__).resolve().parent
_CHECKOUT = _PACKAGE.parent


def _find(in_package: str, in_checkout: str) -> Path:
    for candidate in (_PACKAGE / in_package, _CHECKOUT / in_checkout):
        if candidate.exists():
            return candidate
    raise FileNotFoundError(f"{in_checkout} is not shipped with this installation (looked in {_PACKAGE} and {_CHECKOUT})")


def example_config() -> Path:
    return _find("example.toml", "asterisk-bridge.example.toml")


def templates_dir() -> Path:
    return _find("templates", "templates")


def dialplan_dir() -> Path:
    return _find("dialplan", "dialplan")


def systemd_unit() -> Path:
    return _find("systemd/asterisk-bridge.service", "systemd/asterisk-bridge.service")

"""``asterisk-bridge init``: a first configuration to start from, in one command.

Without it a pip user digs the example, the dialplan snippets and the systemd unit out of
site-packages, and the example fails ``check-config`` until an AMI secret file exists. ``init``
writes, in ``--dir`` (``/etc/asterisk-bridge``):

- ``asterisk-bridge.toml``: the shipped example (lines 122 and 117), its paths under ``--dir``;
- ``ami.secret``: a random AMI secret, mode 0640 (group ``asterisk-bridge`` when that group exists
  and init runs as root, so the service user can read it and nobody else; the directory and the
  configuration get that group too);
- with ``--systemd``: ``asterisk-bridge.service`` in ``--systemd-dir``, the shipped unit running
  this installation's executable with this configuration;

and returns Asterisk's ``manager.conf`` account with the same secret and where the dialplan
snippets are. Nothing is overwritten without ``force``, and nothing at all is written when one
of the files exists, with one exception: ``--systemd`` after an earlier ``init`` (the
configuration and the secret both there, the unit not) writes only the unit and keeps the
two, so an admin adding the unit to an edited configuration is not pushed to ``--force``, which
would replace that configuration and the secret Asterisk already has.
"""

from __future__ import annotations

import grp
import os
import re
import secrets
import shutil
import sys
from dataclasses import dataclass, field
from pathlib import Path

from .errors import InitError
from .resources import dialplan_dir, example_config, systemd_unit

DEFAULT_DIR = Path("/etc/asterisk-bridge")
DEFAULT_SYSTEMD_DIR = Path("/etc/systemd/system")
SERVICE_GROUP = "asterisk-bridge"
#: The dialplan snippets and the Asterisk file that includes each (the manager account is printed
#: with its secret instead: the shipped manager_contact_center.conf has a placeholder).
DIALPLAN = {"extensions_contact_center.conf": "extensions.conf", "queues_contact_center.conf": "queues.conf"}



@dataclass
class InitResult:
    config: Path
    secret_file: Path
    unit: Path | None
    executable: Path  # what the unit runs
    manager_conf: str  # the AMI account for manager.conf, with the secret
    dialplan: dict[Path, str]  # snippet -> the Asterisk file that includes it
    group: str | None  # the group given read access, when there was one
    written: list[Path] = field(default_factory=list)
    kept: list[Path] = field(default_factory=list)  # the configuration and secret already there


def init(directory: Path = DEFAULT_DIR, *, systemd_dir: Path | None = None, force: bool = False,
         executable: Path | None = None) -> InitResult:
    """Write the configuration, the AMI secret and (with ``systemd_dir``) the unit; see the module."""
    directory = directory.absolute()
    config, secret_file = directory / "asterisk-bridge.toml", directory / "ami.secret"
    unit = systemd_dir.absolute() / "asterisk-bridge.service" if systemd_dir is not None else None
    targets = [p for p in (config, secret_file, unit) if p is not None]
    existing = [str(p) for p in targets if p.exists()]
    executable = executable or own_executable()
    snippets = {dialplan_dir() / name: target for name, target in DIALPLAN.items()}
    if unit is not None and not force and existing == [str(config), str(secret_file)]:
        secret = secret_file.read_text(encoding="utf-8").strip()
        unit.parent.mkdir(parents=True, exist_ok=True)
        _write(unit, unit_text(config, executable), 0o644, None)
        group = SERVICE_GROUP if _group_of(secret_file) == SERVICE_GROUP else None
        return InitResult(config, secret_file, unit, executable, manager_account(secret), snippets, group, [unit],
                          kept=[config, secret_file])
    if existing and not force:
        raise InitError(f"{', '.join(existing)} already exist{'s' if len(existing) == 1 else ''}; "
                        "nothing was written (use --force to replace them)")
    secret = secrets.token_urlsafe(24)
    group = _service_group()
    directory.mkdir(parents=True, exist_ok=True)
    if group is not None:  # the unit's ConfigurationDirectoryMode is 0750: the service reads by group
        shutil.chown(directory, group=group)
        directory.chmod(0o750)
    _write(config, example_text(directory), 0o640, group)
    _write(secret_file, secret + "\n", 0o640, group)
    written = [config, secret_file]
    if unit is not None:
        unit.parent.mkdir(parents=True, exist_ok=True)
        _write(unit, unit_text(config, executable), 0o644, None)
        written.append(unit)
    return InitResult(config, secret_file, unit, executable, manager_account(secret), snippets, group, written)


def example_text(directory: Path) -> str:
    """The shipped example with its ``/etc/asterisk-bridge/`` paths (the AMI secret file, the
    commented SMTP password file) moved to ``directory``."""
    return example_config().read_text(encoding="utf-8").replace(f"{DEFAULT_DIR}/", f"{directory}/")


def unit_text(config: Path, executable: Path) -> str:
    """The shipped unit, running ``executable`` with ``config``."""
    text = systemd_unit().read_text(encoding="utf-8")
    text = text.replace("/usr/local/bin/asterisk-bridge", str(executable))
    return text.replace(f"ASTERISK_BRIDGE_CONFIG={DEFAULT_DIR}/asterisk-bridge.toml", f"ASTERISK_BRIDGE_CONFIG={config}")


def manager_account(secret: str) -> str:
    """The ``[asterisk-bridge]`` account of the shipped manager_contact_center.conf, without its
    comments, with ``secret``; preceded by the [general] settings it relies on."""
    shipped = (dialplan_dir() / "manager_contact_center.conf").read_text(encoding="utf-8")
    account = shipped[shipped.index("[asterisk-bridge]"):]
    lines = [line for line in account.splitlines() if line.strip() and not line.lstrip().startswith(";")]
    lines = [f"secret = {secret}" if line.startswith("secret") else line for line in lines]
    general = [line.strip(" ;") for line in shipped.splitlines()
               if re.match(r";\s+(enabled|port|bindaddr|timestampevents)\s*=", line)]
    return "\n".join(["[general]", *general, "", *lines])


def _service_group() -> str | None:
    """``asterisk-bridge`` when it exists and we may give files to it (running as root)."""
    if os.geteuid() != 0:
        return None
    try:
        grp.getgrnam(SERVICE_GROUP)
    except KeyError:
        return None
    return SERVICE_GROUP


def _group_of(path: Path) -> str | None:
    try:
        return grp.getgrgid(path.stat().st_gid).gr_name
    except KeyError:
        return None


def _write(path: Path, text: str, mode: int, group: str | None) -> None:
    """Write ``text`` with exactly ``mode`` (not widened by the umask, not readable in between)."""
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as fh:
            fh.write(text)
        if group is not None:
            shutil.chown(tmp, group=group)
        os.chmod(tmp, mode)
        os.replace(tmp, path)
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise


def own_executable() -> Path:
    """This installation's ``asterisk-bridge``: next to the interpreter (a venv), else on PATH."""
    beside = Path(sys.executable).parent / "asterisk-bridge"
    if beside.is_file():
        return beside
    found = shutil.which("asterisk-bridge")
    return Path(found) if found else Path("/usr/local/bin/asterisk-bridge")

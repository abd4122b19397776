"""Console users: one line per user in ``[web] users_file``, passwords as stdlib scrypt hashes.

The file is plain text so an admin can read what it grants (``name:role:hash``), and it is
written with mode 0600 through a temporary file and a rename, so a crash never leaves half a
file. scrypt (``hashlib.scrypt``, n=2**14, r=8, p=1: about 16 MiB and a few tens of
milliseconds per check) makes a stolen file expensive to attack; the check runs in a thread so
the event loop keeps serving calls meanwhile.
"""

from __future__ import annotations

import base64
import functools
import hashlib
import hmac
import logging
import os
import re
import secrets
from dataclasses import dataclass
from pathlib import Path

from .errors import UsersFileError

log = logging.getLogger("asterisk_bridge.web")

ROLES = ("viewer", "admin")
MIN_PASSWORD = 8
_NAME_RE = re.compile(r"[A-Za-z0-9][A-Za-z0-9_.@-]{0,63}")
_N, _R, _P, _DKLEN = 2**14, 8, 1, 32
_MAXMEM = 64 * 1024 * 1024


@dataclass(frozen=True)
class User:
    name: str
    role: str  # viewer | admin

    @property
    def admin(self) -> bool:
        return self.role == "admin"


def check_name(name: str) -> str:
    if not _NAME_RE.fullmatch(name or ""):
        raise UsersFileError(f"user name {name!r}: use 1-64 letters, digits, . _ @ - (starting with a letter or digit)")
    return name


def hash_password(password: str, *, salt: bytes | None = None) -> str:
    """``scrypt$n$r$p$salt$hash`` (base64 without padding)."""
    salt = salt if salt is not None else secrets.token_bytes(16)
    digest = hashlib.scrypt(password.encode(), salt=salt, n=_N, r=_R, p=_P, dklen=_DKLEN, maxmem=_MAXMEM)
    return f"scrypt${_N}${_R}${_P}${_b64(salt)}${_b64(digest)}"


def verify_password(password: str, stored: str) -> bool:
    """True when ``password`` matches ``stored``; a malformed hash never matches."""
    try:
        kind, n, r, p, salt, digest = stored.split("$")
        if kind != "scrypt":
            return False
        expected = _unb64(digest)
        got = hashlib.scrypt(password.encode(), salt=_unb64(salt), n=int(n), r=int(r), p=int(p),
                             dklen=len(expected), maxmem=_MAXMEM)
    except (ValueError, TypeError):
        return False
    return hmac.compare_digest(got, expected)


@functools.cache
def _dummy_hash() -> str:
    """Checked for unknown user names too, so a login takes as long whether or not the name exists."""
    return hash_password("not a password", salt=b"\0" * 16)


def _b64(data: bytes) -> str:
    return base64.b64encode(data).decode().rstrip("=")


def _unb64(text: str) -> bytes:
    return base64.b64decode(text + "=" * (-len(text) % 4), validate=True)


class UsersFile:
    """The users of ``path``, re-read whenever the file changes (``web adduser`` while ``run`` runs)."""

    def __init__(self, path: str | os.PathLike[str]) -> None:
        self.path = Path(path)
        self._stamp: tuple[int, int, int] | None = None
        self._entries: dict[str, tuple[str, str]] = {}  # name -> (role, hash)

    def users(self) -> list[User]:
        self._refresh()
        return [User(name, role) for name, (role, _) in self._entries.items()]

    def __len__(self) -> int:
        self._refresh()
        return len(self._entries)

    def check(self, name: str, password: str) -> User | None:
        """The user when ``password`` is theirs; None otherwise (same work either way). Blocking: scrypt."""
        self._refresh()
        role, stored = self._entries.get(name) or (None, _dummy_hash())
        ok = verify_password(password, stored)
        return User(name, role) if ok and role is not None else None

    def role_of(self, name: str) -> str | None:
        """The user's current role, or None once the user is removed (sessions end with it)."""
        self._refresh()
        entry = self._entries.get(name)
        return entry[0] if entry else None

    # -- writing (``web adduser``) ---------------------------------------------------------------

    def add(self, name: str, password: str, role: str) -> bool:
        """Add or replace a user; True when the user is new."""
        check_name(name)
        if role not in ROLES:
            raise UsersFileError(f"role {role!r}: expected one of {', '.join(ROLES)}")
        if len(password) < MIN_PASSWORD:
            raise UsersFileError(f"the password must have at least {MIN_PASSWORD} characters")
        self._refresh(missing_ok=True)
        new = name not in self._entries
        entries = dict(self._entries)
        entries[name] = (role, hash_password(password))
        self._write(entries)
        return new

    def remove(self, name: str) -> bool:
        self._refresh(missing_ok=True)
        if name not in self._entries:
            return False
        self._write({k: v for k, v in self._entries.items() if k != name})
        return True

    def _write(self, entries: dict[str, tuple[str, str]]) -> None:
        text = "# asterisk-bridge web console users: name:role:scrypt hash (asterisk-bridge web adduser)\n"
        text += "".join(f"{name}:{role}:{digest}\n" for name, (role, digest) in entries.items())
        tmp = self.path.with_name(f".{self.path.name}.{os.getpid()}.tmp")
        try:
            before = self.path.stat() if self.path.exists() else None
            fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
            with os.fdopen(fd, "w", encoding="utf-8") as fh:
                fh.write(text)
            os.chmod(tmp, 0o600)
            if before is not None and os.geteuid() == 0:  # root edits the service user's file: keep it theirs
                os.chown(tmp, before.st_uid, before.st_gid)
            os.replace(tmp, self.path)
        except OSError as exc:
            tmp.unlink(missing_ok=True)
            raise UsersFileError(f"cannot write {self.path}: {exc.strerror or exc}") from None
        self._stamp = None

    # -- reading ---------------------------------------------------------------------------------

    def _refresh(self, *, missing_ok: bool = False) -> None:
        try:
            st = self.path.stat()
        except FileNotFoundError:
            if not missing_ok:
                raise UsersFileError(f"users file {self.path} does not exist "
                                     "(create it with `asterisk-bridge web adduser NAME`)") from None
            self._entries, self._stamp = {}, None
            return
        except OSError as exc:
            raise UsersFileError(f"cannot read users file {self.path}: {exc.strerror or exc}") from None
        stamp = (st.st_mtime_ns, st.st_size, st.st_ino)
        if stamp == self._stamp:
            return
        if st.st_mode & 0o077:
            log.warning("users file %s is readable or writable by others (mode %04o); chmod 600 it",
                        self.path, st.st_mode & 0o777)
        try:
            text = self.path.read_text(encoding="utf-8")
        except (OSError, UnicodeDecodeError) as exc:
            reason = exc.strerror if isinstance(exc, OSError) and exc.strerror else "not UTF-8 text"
            raise UsersFileError(f"cannot read users file {self.path}: {reason}") from None
        self._entries = parse_users(text, str(self.path))
        self._stamp = stamp


def parse_users(text: str, source: str = "users file") -> dict[str, tuple[str, str]]:
    entries: dict[str, tuple[str, str]] = {}
    for number, line in enumerate(text.splitlines(), start=1):
        line = line.strip()
        if not line or line.startswith("#"):
            continue
        parts = line.split(":")
        where = f"{source}:{number}"
        if len(parts) != 3:
            raise UsersFileError(f"{where}: expected name:role:hash")
        name, role, digest = parts
        if not _NAME_RE.fullmatch(name):
            raise UsersFileError(f"{where}: {name!r} is not a valid user name")
        if role not in ROLES:
            raise UsersFileError(f"{where}: role {role!r} is not one of {', '.join(ROLES)}")
        if not digest.startswith("scrypt$") or digest.count("$") != 5:
            raise UsersFileError(f"{where}: the password hash is not an scrypt hash from `web adduser`")
        if name in entries:
            raise UsersFileError(f"{where}: user {name!r} appears twice")
        entries[name] = (role, digest)
    return entries

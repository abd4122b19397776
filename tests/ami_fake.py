"""A small loopback AMI server for the client tests (Asterisk's side of the Manager protocol).

It behaves like Asterisk 22 where the tests need it (tests/fixtures/asterisk/README.md, M1 and
M2): banner line without a blank line, ``\\r\\n`` framing, Login answered ``Authentication
accepted`` + ``FullyBooted``, a wrong secret answered ``Authentication failed`` after
``auth_delay`` and then EOF, Ping answered with ``Ping: Pong``. Everything after login is driven
by the test through ``Session``; ``Late`` answers an action only after a delay.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Awaitable, Callable

BANNER = b"Asterisk Call Manager/11.0.0\r\n"


def block(*headers: tuple[str, str]) -> bytes:
    return b"".join(f"{k}: {v}\r\n".encode() for k, v in headers) + b"\r\n"


class Session:
    """One accepted AMI connection."""

    def __init__(self, server: FakeAMI, reader: asyncio.StreamReader, writer: asyncio.StreamWriter):
        self.server, self.reader, self.writer = server, reader, writer
        self.actions: list[dict[str, str]] = []
        self.logged_in = asyncio.Event()

    async def send(self, data: bytes) -> None:
        self.writer.write(data)
        await self.writer.drain()

    def abort(self) -> None:
        self.writer.transport.abort()

    async def run(self) -> None:
        banner, step = self.server.banner, self.server.banner_step or len(self.server.banner) or 1
        for i in range(0, len(banner), step):
            await self.send(banner[i:i + step])
            await asyncio.sleep(0)
        while True:
            try:
                raw = await self.reader.readuntil(b"\r\n\r\n")
            except (asyncio.IncompleteReadError, ConnectionError):
                return
            action = {}
            for line in raw.decode().split("\r\n"):
                if ": " in line:
                    key, _, value = line.partition(": ")
                    action[key.lower()] = value
            self.actions.append(action)
            self.server.actions.append(action)
            await self.answer(action)

    async def answer(self, action: dict[str, str]) -> None:
        name = action.get("action", "").lower()
        aid = ("ActionID", action["actionid"]) if "actionid" in action else None
        ids = [aid] if aid else []
        if name == "login":
            ok = action.get("username") == self.server.username and action.get("secret") == self.server.secret
            self.server.logins.append((time.monotonic(), action.get("username"), ok))
            if not ok:
                await asyncio.sleep(self.server.auth_delay)
                await self.send(block(("Response", "Error"), *ids, ("Message", "Authentication failed")))
                self.writer.close()
                return
            await self.send(block(("Response", "Success"), *ids, ("Message", "Authentication accepted")))
            if self.server.fully_booted:
                await self.send(block(("Event", "FullyBooted"), ("Privilege", "system,all"),
                                      ("Uptime", "12"), ("LastReload", "12"), ("Status", "Fully Booted")))
            self.logged_in.set()
            if self.server.after_login is not None:
                self.server._scripts.add(asyncio.create_task(self.server.after_login(self)))
        elif self.server.script is not None:
            await self.server.script(self, action)
        elif name == "ping":
            if self.server.answer_pings:
                await self.send(block(("Response", "Success"), *ids, ("Ping", "Pong"),
                                      ("Timestamp", f"{time.time():.6f}")))
        elif name in self.server.responders:
            await self.server.responders[name](self, action)


class Late:
    """A responder that answers only after ``delay`` seconds, like an Asterisk too busy to answer
    in time; the answer is sent in the background, so the session keeps reading actions (a Ping
    is still answered at once). ``delay = 0`` answers at once again. ``calls`` counts the actions."""

    def __init__(self, responder: Callable[[Session, dict[str, str]], Awaitable[None]], delay: float):
        self.responder, self.delay, self.calls = responder, delay, 0

    async def __call__(self, session: Session, action: dict[str, str]) -> None:
        self.calls += 1
        if self.delay <= 0:
            await self.responder(session, action)
            return

        async def later() -> None:
            await asyncio.sleep(self.delay)
            await self.responder(session, action)

        session.server._scripts.add(asyncio.create_task(later()))


class FakeAMI:
    def __init__(self, *, username: str = "bridge", secret: str = "s3cret-Пароль", auth_delay: float = 0.0,
                 banner: bytes = BANNER, fully_booted: bool = True,
                 after_login: Callable[[Session], Awaitable[None]] | None = None):
        self.username, self.secret, self.auth_delay = username, secret, auth_delay
        self.banner, self.fully_booted, self.after_login = banner, fully_booted, after_login
        self.answer_pings = True
        self.script: Callable[[Session, dict[str, str]], Awaitable[None]] | None = None  # answers all but Login
        self.banner_step = 0  # >0: write the banner this many bytes at a time
        self.responders: dict[str, Callable[[Session, dict[str, str]], Awaitable[None]]] = {}
        self.logins: list[tuple[float, str | None, bool]] = []
        self.actions: list[dict[str, str]] = []
        self.sessions: list[Session] = []
        self.port = 0
        self._server: asyncio.Server | None = None
        self._tasks: set[asyncio.Task] = set()
        self._scripts: set[asyncio.Task] = set()

    async def start(self, port: int = 0) -> FakeAMI:
        self._server = await asyncio.start_server(self._accept, "127.0.0.1", port or self.port)
        self.port = self._server.sockets[0].getsockname()[1]
        return self

    async def _accept(self, reader, writer) -> None:
        session = Session(self, reader, writer)
        self.sessions.append(session)
        task = asyncio.current_task()
        self._tasks.add(task)
        try:
            await session.run()
        finally:
            self._tasks.discard(task)
            writer.close()

    async def stop(self) -> None:
        """Stop listening and drop every connection (an Asterisk restart)."""
        if self._server is not None:
            self._server.close()
            for session in self.sessions:
                session.abort()
            await self._server.wait_closed()
            self._server = None
        for task in self._scripts:
            task.cancel()
        await asyncio.gather(*self._tasks, *self._scripts, return_exceptions=True)
        self._scripts.clear()

    async def wait_session(self, n: int, timeout: float = 5.0) -> Session:
        """Wait until the n-th (1-based) connection has logged in."""
        async with asyncio.timeout(timeout):
            while len(self.sessions) < n:
                await asyncio.sleep(0.01)
            await self.sessions[n - 1].logged_in.wait()
        return self.sessions[n - 1]

    async def __aenter__(self) -> FakeAMI:
        return await self.start()

    async def __aexit__(self, *exc) -> None:
        await self.stop()

"""FastAGI TCP server: accepts Asterisk's connections and runs one handler per call.

Written on asyncio.start_server rather than panoramisk.fast_agi, whose env
reader spins the event loop forever when a client connects and closes before
its environment block (panoramisk 1.4). Every session is isolated: bad input, handler
crashes and slow peers end that session only, and the socket is always closed
by us because Asterisk keeps the call in the AGI until we do (A9).
"""

from __future__ import annotations

import asyncio
import ipaddress
import logging
from collections.abc import Awaitable, Callable, Iterable

from ..config import is_loopback
from .badpeers import BadConnections
from .channel import DEFAULT_LINE_LIMIT, AGIChannel
from .errors import AGIEnvError
from .protocol import parse_env

__all__ = ["FastAGIServer"]

log = logging.getLogger("asterisk_bridge.fastagi")

Handler = Callable[[AGIChannel], Awaitable[None]]


class FastAGIServer:
    """Serve FastAGI sessions on ``host:port`` (default loopback 127.0.0.1:4573).

    ``allow`` lists peer addresses or networks that may connect (empty = all);
    anything else is closed before a byte is read.
    """

    def __init__(
        self,
        handler: Handler,
        host: str = "127.0.0.1",
        port: int = 4573,
        allow: Iterable[str] = (),
        env_limit: int = 65536,
        env_timeout: float = 5.0,
        command_timeout: float | None = 60.0,
        *,
        line_limit: int = DEFAULT_LINE_LIMIT,
        shutdown_grace: float = 30.0,
        backlog: int = 1024,
        bad_peer_window: float = 60.0,
    ) -> None:
        if env_limit < 64 or line_limit < 64:
            raise ValueError(f"env_limit {env_limit} / line_limit {line_limit}: must be at least 64 bytes")
        self._handler = handler
        self.host = host
        self._requested_port = port
        self.env_limit = env_limit
        self.env_timeout = env_timeout
        self.command_timeout = command_timeout
        self.line_limit = line_limit
        self.shutdown_grace = shutdown_grace
        self._backlog = backlog
        self._allow_exact, self._allow_networks = _parse_allow(allow)
        self._server: asyncio.Server | None = None
        self._sessions: set[asyncio.Task] = set()
        self._bad_connections = BadConnections(bad_peer_window)
        self._bad_window_opened = asyncio.Event()
        self._bad_reporter: asyncio.Task[None] | None = None
        self._closing = False
        self.served = 0  # sessions whose handler ran (whatever the outcome)
        self.rejected = 0  # peers refused by the allow-list or with a bad env block
        self.failed = 0  # handlers that raised

    @property
    def active(self) -> int:
        """Sessions connected right now (including ones still sending their env block)."""
        return len(self._sessions)

    @property
    def port(self) -> int:
        """The bound port (the real one when constructed with port=0)."""
        if self._server is None or not self._server.sockets:
            return self._requested_port
        return self._server.sockets[0].getsockname()[1]

    async def start(self) -> None:
        if self._server is not None:
            raise RuntimeError("FastAGIServer already started")
        if not is_loopback(self.host):
            log.warning(
                "FastAGI listens on %s, not a loopback address: Asterisk sends caller data in clear text; "
                "restrict peers with fastagi.allow and a firewall",
                self.host,
            )
        self._server = await asyncio.start_server(
            self._on_connect,
            self.host,
            self._requested_port,
            limit=max(self.env_limit, self.line_limit) + 1,
            backlog=self._backlog,
        )
        self._bad_reporter = asyncio.create_task(self._report_bad_connections(), name="fastagi-bad-peers")
        log.info("FastAGI listening on %s:%d", self.host, self.port)

    async def close(self, grace: float | None = None) -> None:
        """Stop accepting, give running sessions ``grace`` seconds, then cancel the rest."""
        if grace is None:
            grace = self.shutdown_grace
        self._closing = True
        if self._server is None:
            return
        self._server.close()
        sessions = set(self._sessions)
        cancelled = 0
        if sessions:
            log.info("FastAGI stopping: waiting up to %.1f s for %d active session(s)", grace, len(sessions))
            _, pending = await asyncio.wait(sessions, timeout=grace)
            for task in pending:
                task.cancel()
            cancelled = len(pending)
            if pending:
                await asyncio.wait(pending, timeout=5.0)
        try:
            async with asyncio.timeout(5.0):
                await self._server.wait_closed()
        except TimeoutError:
            log.warning("FastAGI listener did not finish closing within 5 s")
        if self._bad_reporter is not None:
            self._bad_reporter.cancel()
            await asyncio.gather(self._bad_reporter, return_exceptions=True)
            self._bad_reporter = None
        for line in self._bad_connections.flush():
            log.warning("%s", line)
        log.info("FastAGI stopped: %d session(s) served, %d cancelled at shutdown", self.served, cancelled)

    async def __aenter__(self) -> FastAGIServer:
        await self.start()
        return self

    async def __aexit__(self, *exc_info: object) -> None:
        await self.close()

    async def _on_connect(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        peername = writer.get_extra_info("peername")
        peer_ip = peername[0] if peername else "?"
        peer = f"{peer_ip}:{peername[1]}" if peername else "?"
        if self._closing or not self._allowed(peer_ip):
            if not self._closing:
                self._bad(peer_ip, "not in fastagi.allow", "address not in fastagi.allow",
                          f"FastAGI connection from {peer} refused: address not in fastagi.allow")
            writer.transport.abort()
            return
        task = asyncio.current_task()
        assert task is not None  # a connection callback of asyncio.start_server runs as a task
        self._sessions.add(task)
        channel = None
        try:
            try:
                env = parse_env(await self._read_env(reader, peer))
            except AGIEnvError as exc:
                self._bad(peer_ip, exc.kind, str(exc), f"FastAGI session from {peer} dropped: {exc}")
                return
            channel = AGIChannel(
                reader, writer, env, self.command_timeout, peer=peer, line_limit=self.line_limit
            )
            if log.isEnabledFor(logging.DEBUG):
                log.debug("FastAGI session from %s: script=%s uniqueid=%s", peer, env.script, env.uniqueid)
            try:
                await self._handler(channel)
            except Exception:
                self.failed += 1
                log.exception(
                    "FastAGI handler failed for %s (uniqueid %s, script %s)", peer, env.uniqueid, env.script
                )
            finally:
                self.served += 1
        finally:
            self._sessions.discard(task)
            if channel is not None:
                channel._release()
            await _close_writer(writer)

    def _bad(self, peer_ip: str, kind: str, detail: str, line: str) -> None:
        """A connection that never became a session: logged at once when it is the peer's first
        in a while, else counted into the peer's once-a-minute line (badpeers.py)."""
        self.rejected += 1
        if self._bad_connections.add(peer_ip, kind, detail):
            log.warning("%s", line)
            self._bad_window_opened.set()

    async def _report_bad_connections(self) -> None:
        while True:
            wait = self._bad_connections.next_due()
            if wait is None:
                await self._bad_window_opened.wait()
                self._bad_window_opened.clear()
                continue
            await asyncio.sleep(wait)
            for line in self._bad_connections.due():
                log.warning("%s", line)

    async def _read_env(self, reader: asyncio.StreamReader, peer: str) -> bytes:
        """The env block through its blank line, bounded in size and time."""
        try:
            async with asyncio.timeout(self.env_timeout):
                block = await reader.readuntil(b"\n\n")
        except TimeoutError:
            raise AGIEnvError(
                f"no complete env block within {self.env_timeout} s ({len(_buffered(reader))} bytes received)",
                kind="no env block in time",
            ) from None
        except asyncio.IncompleteReadError as exc:
            if not exc.partial:
                raise AGIEnvError("connection closed before sending anything", kind="closed early") from None
            raise AGIEnvError(
                f"connection closed after {len(exc.partial)} bytes, before the env block's blank line",
                kind="closed early",
            ) from None
        except asyncio.LimitOverrunError:
            raise AGIEnvError(f"env block larger than {self.env_limit} bytes", kind="env block too large") from None
        except (ConnectionError, OSError) as exc:
            raise AGIEnvError(f"connection failed while reading the env block: {exc}",
                              kind="connection failed") from None
        if len(block) > self.env_limit:
            raise AGIEnvError(f"env block of {len(block)} bytes is larger than {self.env_limit} bytes",
                              kind="env block too large")
        return block

    def _allowed(self, peer_ip: str) -> bool:
        if not self._allow_exact and not self._allow_networks:
            return True
        if peer_ip in self._allow_exact:
            return True
        if not self._allow_networks:
            return False
        try:
            address = ipaddress.ip_address(peer_ip)
        except ValueError:
            return False
        return any(address in network for network in self._allow_networks)


async def _close_writer(writer: asyncio.StreamWriter) -> None:
    """Close and wait for the socket to be released; bounded when unsent data is stuck."""
    try:
        writer.close()
        if writer.transport.get_write_buffer_size() == 0:
            await writer.wait_closed()  # nothing to flush: closes on the next loop turn
            return
        async with asyncio.timeout(1.0):
            await writer.wait_closed()
    except TimeoutError:
        writer.transport.abort()
    except (ConnectionError, OSError):
        pass


def _buffered(reader: asyncio.StreamReader) -> bytes:
    # Only for the timeout message: how much of an env block had arrived.
    return bytes(getattr(reader, "_buffer", b""))


def _parse_allow(allow: Iterable[str]) -> tuple[frozenset[str], tuple]:
    if isinstance(allow, str):
        allow = (allow,)
    exact: set[str] = set()
    networks = []
    for entry in allow:
        try:
            if "/" in entry:
                networks.append(ipaddress.ip_network(entry, strict=False))
            else:
                exact.add(str(ipaddress.ip_address(entry)))
        except ValueError:
            raise ValueError(f"fastagi allow entry {entry!r} is not an IP address or network") from None
    return frozenset(exact), tuple(networks)

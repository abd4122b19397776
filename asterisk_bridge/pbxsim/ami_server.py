"""AMI half of the PBX simulator: an asyncio server that speaks like Asterisk 22's manager.

Why: tests, `make demo` and benchmarks need an AMI peer that behaves like the real one
(framing, login quirks, list responses, key order; see tests/fixtures/asterisk/README.md
M1-M7) without a PBX. Events are pushed with `emit()`, which also keeps the lists that
CoreShowChannels and QueueStatus answer from (`ami_lists.py`); `ami_calls.play_call` uses it to
replay whole calls on a simulated clock. `broadcast()` sends an event and changes nothing.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Awaitable, Callable, Collection

from ..ami.frames import parse_message
from .ami_lists import ChannelState, Message, QueueState, forget_calls, member_headers, merge_lists, track
from .errors import AMIServerError

log = logging.getLogger(__name__)

BANNER = b"Asterisk Call Manager/11.0.0\r\n"

# Actions allowed before Login (everything else gets "Permission denied", M2).
_PRE_AUTH = {"login", "logoff", "challenge"}
_MAX_MESSAGE = 65536


def encode_message(headers: Message) -> bytes:
    """`Key: Value` lines, CRLF, blank line; empty values keep the trailing space (M1)."""
    return "".join(f"{k}: {v}\r\n" for k, v in headers).encode() + b"\r\n"


def stamp(headers: Message, timestamp: float) -> list[tuple[str, str]]:
    """``headers`` with ``Timestamp`` right after ``Privilege``, as ``timestampevents = yes`` writes it."""
    ts = f"{timestamp:.6f}"
    for i, (k, _) in enumerate(headers):
        if k == "Privilege":
            return [*headers[: i + 1], ("Timestamp", ts), *headers[i + 1 :]]
    return list(headers)


class _Session:
    def __init__(self, server: AMIServer, reader: asyncio.StreamReader, writer: asyncio.StreamWriter):
        self.server = server
        self.reader = reader
        self.writer = writer
        self.authenticated = False
        self.events_on = True
        self.username = ""
        peer = writer.get_extra_info("peername") or ("?", 0)
        self.peer = f"{peer[0]}:{peer[1]}"
        self.session_id = f"0x{id(self):x}"

    def send(self, headers: Message) -> None:
        if not self.writer.is_closing():
            self.writer.write(encode_message(headers))

    def close_now(self) -> None:
        transport = self.writer.transport
        if transport is not None:
            transport.abort()


class AMIServer:
    """Asterisk-like AMI server on loopback.

    `login_delay` is how long a failed Login waits before "Authentication failed" and the
    close (1 s in Asterisk, M2); tests shorten it. `timestampevents` adds `Timestamp`
    after `Privilege` on async events only, as manager.conf does.
    """

    def __init__(
        self,
        host: str = "127.0.0.1",
        port: int = 0,
        username: str = "bridge",
        secret: str = "bridge-secret",
        *,
        login_delay: float = 1.0,
        timestampevents: bool = False,
        clock: Callable[[], float] = time.time,
    ):
        if not username:
            raise AMIServerError("username must not be empty")
        self.host = host
        self._port = port
        self.username = username
        self.secret = secret
        self.login_delay = login_delay
        self.timestampevents = timestampevents
        self.clock = clock
        self.queues: dict[str, QueueState] = {}
        self.channels: dict[str, ChannelState] = {}
        #: the lists of calls other processes play (``simulate --workers``), asked for per list action
        self.remote_lists: Callable[[], Awaitable[list[tuple[dict[str, ChannelState], dict[str, QueueState]]]]] | None
        self.remote_lists = None
        self._server: asyncio.Server | None = None
        self._sessions: set[_Session] = set()
        self._tasks: set[asyncio.Task] = set()
        self._running = asyncio.Event()
        self._running.set()
        self.started_at = clock()

    # lifecycle -----------------------------------------------------------------------
    async def start(self) -> None:
        self._server = await asyncio.start_server(self._handle, self.host, self._port)
        log.debug("AMI simulator listening on %s:%s", self.host, self.port)

    @property
    def port(self) -> int:
        if self._server is None or not self._server.sockets:
            raise AMIServerError("AMIServer.port is only known after start()")
        return self._server.sockets[0].getsockname()[1]

    async def close(self) -> None:
        if self._server is not None:
            self._server.close()
        for s in list(self._sessions):
            s.close_now()
        for t in list(self._tasks):
            t.cancel()
        if self._tasks:
            await asyncio.gather(*self._tasks, return_exceptions=True)
        if self._server is not None:
            await self._server.wait_closed()
            self._server = None

    async def __aenter__(self) -> AMIServer:
        await self.start()
        return self

    async def __aexit__(self, *exc) -> None:
        await self.close()

    # fault injection -----------------------------------------------------------------
    def drop_connections(self) -> None:
        """Abort every client socket (RST-like), as when Asterisk crashes or restarts."""
        for s in list(self._sessions):
            s.close_now()

    def pause(self) -> None:
        """Stop answering actions and sending events: a hung Asterisk (sockets stay open)."""
        self._running.clear()

    def resume(self) -> None:
        self._running.set()

    @property
    def paused(self) -> bool:
        return not self._running.is_set()

    @property
    def connections(self) -> int:
        """Logged-in sessions."""
        return sum(1 for s in self._sessions if s.authenticated)

    # events --------------------------------------------------------------------------
    def emit(self, headers: Message, *, timestamp: float | None = None) -> int:
        """The PBX does something: its channel and queue lists follow the event, then it is broadcast.

        ``broadcast`` alone sends an event without touching the lists (captures replayed by tests).
        Returns the number of sessions reached.
        """
        at = self.clock() if timestamp is None else timestamp
        headers = member_headers(self.queues, headers, at)
        track(self.channels, self.queues, headers, at)
        return self.broadcast(headers, timestamp=timestamp)

    def forget_calls(self, linkedids: Collection[str]) -> None:
        """Take the calls ``linkedids`` off the channel and queue lists, with no event."""
        forget_calls(self.channels, self.queues, linkedids)

    def broadcast(self, headers: Message, *, timestamp: float | None = None) -> int:
        """Send an async event to every logged-in session with events on.

        `timestamp` is the (simulated) time written in the `Timestamp` header when
        timestampevents is on; it goes right after `Privilege`. Returns the number of
        sessions reached. Events sent while paused are dropped (a hung PBX sends nothing).
        """
        if self.paused:
            return 0
        headers = self._stamp(list(headers), timestamp)
        data = encode_message(headers)
        n = 0
        for s in list(self._sessions):
            if s.authenticated and s.events_on and not s.writer.is_closing():
                s.writer.write(data)
                n += 1
        return n

    async def drain(self) -> None:
        """Wait until the bytes written to every session have been handed to the OS."""
        for s in list(self._sessions):
            try:
                await s.writer.drain()
            except (ConnectionError, RuntimeError):
                pass

    def _stamp(self, headers: list[tuple[str, str]], timestamp: float | None) -> list[tuple[str, str]]:
        if not self.timestampevents:
            return headers
        return stamp(headers, self.clock() if timestamp is None else timestamp)

    def broadcast_raw(self, data: bytes) -> None:
        """Send events already stamped and encoded (by a ``simulate`` worker, ``workers.py``) to every
        logged-in session with events on; the worker keeps the lists of its calls (``remote_lists``)."""
        if self.paused:
            return
        for s in self._sessions:
            if s.authenticated and s.events_on and not s.writer.is_closing():
                s.writer.write(data)

    async def _lists(self) -> tuple[dict[str, ChannelState], dict[str, QueueState]]:
        """The channels and queues to list: this server's, and the workers' when they play calls."""
        if self.remote_lists is None:
            return self.channels, self.queues
        return merge_lists([(self.channels, self.queues), *await self.remote_lists()])

    # connection handling -------------------------------------------------------------
    async def _handle(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        task = asyncio.current_task()
        if task is not None:
            self._tasks.add(task)
        session = _Session(self, reader, writer)
        self._sessions.add(session)
        try:
            await self._running.wait()
            writer.write(BANNER)
            while True:
                try:
                    block = await reader.readuntil(b"\r\n\r\n")
                except asyncio.LimitOverrunError:
                    log.debug("AMI sim: oversized action from %s, closing", session.peer)
                    return
                except asyncio.IncompleteReadError:
                    return
                if len(block) > _MAX_MESSAGE:
                    return
                await self._running.wait()
                action = parse_message(block[:-4]).pairs  # the one AMI parser, as the bridge reads
                if not action:
                    continue
                if not await self._dispatch(session, action):
                    return
                await writer.drain()
        except (ConnectionError, asyncio.CancelledError):
            pass
        finally:
            self._sessions.discard(session)
            if not writer.is_closing():
                writer.close()
            if task is not None:
                self._tasks.discard(task)

    async def _dispatch(self, s: _Session, action: list[tuple[str, str]]) -> bool:
        """Answer one action; False means close the connection."""
        lower: dict[str, str] = {}
        for k, v in action:
            lower.setdefault(k.lower(), v)
        name = lower.get("action", "")
        act = name.lower()
        aid = lower.get("actionid")
        head = [("ActionID", aid)] if aid is not None else []
        log.debug("AMI sim: action %s from %s", name, s.peer)

        def resp(kind: str, *rest: tuple[str, str]) -> None:
            s.send([("Response", kind), *head, *rest])

        if not s.authenticated and act not in _PRE_AUTH:
            resp("Error", ("Message", "Permission denied"))
            return True
        if act == "login":
            return await self._login(s, lower, resp)
        if act == "logoff":
            resp("Goodbye", ("Message", "Thanks for all the fish."))
            await s.writer.drain()
            return False
        if act == "challenge":
            resp("Error", ("Message", "Must specify AuthType"))  # MD5 not simulated
            return True
        if act == "ping":
            resp("Success", ("Ping", "Pong"), ("Timestamp", f"{self.clock():.6f}"))
        elif act == "events":
            mask = lower.get("eventmask", "").lower()
            s.events_on = mask not in ("off", "no", "false", "0", "")
            resp("Success", ("Events", "On" if s.events_on else "Off"))
        elif act == "coreshowchannels":
            self._core_show_channels(s, head, resp, (await self._lists())[0])
        elif act == "queuestatus":
            self._queue_status(s, head, resp, lower.get("queue"), (await self._lists())[1])
        else:
            resp(
                "Error",
                ("Message", f"Invalid/unknown command: {name}. Use Action: ListCommands to show available commands."),
            )
        return True

    async def _login(self, s: _Session, lower: dict[str, str], resp) -> bool:
        user = lower.get("username", "")
        if user != self.username or lower.get("secret", "") != self.secret:
            log.debug("AMI sim: failed login for %r from %s", user, s.peer)
            await asyncio.sleep(self.login_delay)
            resp("Error", ("Message", "Authentication failed"))
            await s.writer.drain()
            return False
        s.authenticated = True
        s.username = user
        s.events_on = lower.get("events", "on").lower() not in ("off", "no", "false", "0")
        resp("Success", ("Message", "Authentication accepted"))
        if s.events_on:
            uptime = str(int(self.clock() - self.started_at))
            s.send([("Event", "FullyBooted"), ("Privilege", "system,all"), ("Uptime", uptime),
                    ("LastReload", uptime), ("Status", "Fully Booted")])
            tv = time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(self.clock())) + ".000+0000"
            local = s.writer.get_extra_info("sockname") or ("127.0.0.1", 0)
            self._send_event(s, [
                ("Event", "SuccessfulAuth"), ("Privilege", "security,all"), ("EventTV", tv),
                ("Severity", "Informational"), ("Service", "AMI"), ("EventVersion", "1"),
                ("AccountID", user), ("SessionID", s.session_id),
                ("LocalAddress", f"IPV4/TCP/{local[0]}/{local[1]}"),
                ("RemoteAddress", f"IPV4/TCP/{s.peer.replace(':', '/')}"),
                ("UsingPassword", "0"), ("SessionTV", tv),
            ])
        return True

    def _send_event(self, s: _Session, headers: list[tuple[str, str]]) -> None:
        s.send(self._stamp(headers, None))

    def _core_show_channels(self, s: _Session, head, resp, channels: dict[str, ChannelState]) -> None:
        resp("Success", ("EventList", "start"), ("Message", "Channels will follow"))
        now = self.clock()
        for ch in channels.values():
            secs = max(0, int(now - ch.started_at))
            dur = f"{secs // 3600:02d}:{secs // 60 % 60:02d}:{secs % 60:02d}"
            s.send([("Event", "CoreShowChannel"), *head, *ch.snapshot, ("Application", ch.application),
                    ("ApplicationData", ch.application_data), ("Duration", dur), ("BridgeId", ch.bridge_id)])
        s.send([("Event", "CoreShowChannelsComplete"), *head, ("EventList", "Complete"),
                ("ListItems", str(len(channels)))])

    def _queue_status(self, s: _Session, head, resp, only: str | None, queues: dict[str, QueueState]) -> None:
        resp("Success", ("EventList", "start"), ("Message", "Queue status will follow"))
        items = 0
        now = self.clock()
        for q in queues.values():
            if only and q.name != only:
                continue
            s.send([("Event", "QueueParams"), ("Queue", q.name), ("Max", "0"), ("Strategy", q.strategy),
                    ("Calls", str(len(q.entries))), ("Holdtime", str(q.holdtime)), ("TalkTime", str(q.talktime)),
                    ("Completed", str(q.completed)), ("Abandoned", str(q.abandoned)), ("ServiceLevel", "60"),
                    ("ServicelevelPerf", "0.0"), ("ServicelevelPerf2", "0.0"), ("Weight", "0"), *head])
            items += 1
            for m in q.members:
                s.send([("Event", "QueueMember"), ("Queue", q.name), ("Name", m.name), ("Location", m.interface),
                        ("StateInterface", m.interface), ("Membership", m.membership), ("Penalty", "0"),
                        ("CallsTaken", str(m.calls_taken)), ("LastCall", str(m.last_call)),
                        ("LastPause", str(m.last_pause)),
                        ("LoginTime", str(m.login_time)), ("InCall", "0"), ("Status", str(m.status)),
                        ("Paused", "1" if m.paused else "0"), ("PausedReason", m.paused_reason),
                        ("Wrapuptime", "0"), *head])
                items += 1
            for pos, (chan, uid, num, cname, joined) in enumerate(q.entries, 1):
                s.send([("Event", "QueueEntry"), ("Queue", q.name), ("Position", str(pos)), ("Channel", chan),
                        ("Uniqueid", uid), ("CallerIDNum", num), ("CallerIDName", cname),
                        ("ConnectedLineNum", num), ("ConnectedLineName", cname),
                        ("Wait", str(max(0, int(now - joined)))), ("Priority", "0"), *head])
                items += 1
        s.send([("Event", "QueueStatusComplete"), *head, ("EventList", "Complete"), ("ListItems", str(items))])

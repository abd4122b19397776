"""Runs the topic menu over one FastAGI session.

The menu itself is pure logic (:mod:`asterisk_bridge.menu.flow`); this module is the thin edge
that turns its actions into AGI commands, turns Asterisk's replies back into answers, sets the
channel variables the dialplan queues on, and hands the finished record to the store.

The one rule that shapes everything here: the bridge never makes a call worse. ``IVR_RESULT`` is
set to ``error`` and ``IVR_QUEUE`` to the line's default queue before anything else, so a call
whose session breaks at any point still reaches an operator.
"""

from __future__ import annotations

import logging
import time
import uuid
from collections.abc import Callable
from dataclasses import replace
from typing import TYPE_CHECKING

from .fastagi import AGIChannel, AGIConnectionClosed, AGIDeadChannel, AGIError
from .menu import (
    HUNG_UP,
    NO_KEY,
    PROMPT_MISSING,
    Answer,
    Ask,
    Done,
    MenuFlow,
    MenuOutcome,
    MenuRecord,
    Play,
    Pressed,
    error_outcome,
)
from .privacy import mask_number

if TYPE_CHECKING:
    from .config import Config, Line
    from .fastagi import AGIEnv
    from .mqtt import CallEvents, Gauges
    from .store import Store

log = logging.getLogger("asterisk_bridge.ivr")

IVR_SCRIPT = "ivr"

#: how long a finished session waits for its record's commit before it closes anyway (seconds);
#: a commit normally takes the store's coalescing window (25 ms) plus a few milliseconds
COMMIT_WAIT = 0.5


def route(config: Config, env: AGIEnv) -> Line | None:
    """Find the line a session belongs to.

    The dialplan passes it in the query string (``ivr?line=122``); a dialplan written by hand
    may not, so the dialled number and then the extension are tried next.
    """
    for candidate in (env.query.get("line"), env.dnid, env.extension):
        if candidate:
            line = config.line_for(candidate)
            if line is not None:
                return line
    return None


class IVR:
    """The FastAGI handler for the ``ivr`` script.

    ``config`` is read once at the start of each session, so a reload applies to new calls while
    calls already in the menu finish on the menu they started with.
    """

    def __init__(
        self,
        config: Config,
        store: Store | None = None,
        *,
        events: CallEvents | None = None,
        gauges: Gauges | None = None,
        clock: Callable[[], float] = time.time,
        commit_wait: float = COMMIT_WAIT,
    ):
        self.config = config
        self.commit_wait = commit_wait
        self.store = store
        self.events = events
        self.gauges = gauges
        self.clock = clock

    async def handle(self, agi: AGIChannel) -> None:
        config = self.config
        env = agi.env
        started = self.clock()
        session_id = uuid.uuid4().hex
        line = route(config, env) if env.script == IVR_SCRIPT else None
        if self.gauges is not None and line is not None:
            self.gauges.menu_entered(session_id, line.number)
        linkedid: str | None = None
        flow: MenuFlow | None = None
        error: str | None = None
        try:
            # First act: whatever happens next, the dialplan can route this call.
            await agi.set_variable("IVR_RESULT", "error")
            if line is None:
                error = f"no line for script {env.script!r}, query {env.query}, extension {env.extension!r}"
                log.error("FastAGI session %s: %s", env.uniqueid, error)
                outcome = error_outcome(None, error, self.clock)
            else:
                await agi.set_variable("IVR_QUEUE", line.default_queue)
                linkedid = await agi.get_variable("CHANNEL(linkedid)")
                flow = MenuFlow(line, self.clock)
                outcome = await self._run(agi, flow)
                await self._set_outcome(agi, outcome)
        except Exception as exc:  # noqa: BLE001 - any failure still ends with an operator
            if isinstance(exc, AGIConnectionClosed):
                error = "Asterisk closed the session"
            else:
                error = f"{type(exc).__name__}: {exc}"
            if not isinstance(exc, AGIError):
                log.exception("menu session %s failed", env.uniqueid)
            outcome = flow.fail(error) if flow is not None else error_outcome(line, error, self.clock)
            if agi.hung_up and outcome.result == "error":
                outcome = _as_hangup(outcome)
            else:
                await self._set_error_variables(agi, line)
        record = MenuRecord(
            session_id=session_id,
            node=config.node,
            line=line.number if line else (env.query.get("line") or env.extension or ""),
            caller_number=env.caller_number,
            caller_name=env.caller_name,
            channel=env.channel,
            uniqueid=env.uniqueid,
            linkedid=linkedid,
            agi_script=env.fields.get("agi_network_script", ""),
            started_at=started,
            ended_at=self.clock(),
            result=outcome.result,
            topic=outcome.topic,
            queue=outcome.queue,
            age_group=outcome.age_group,
            ended_in=outcome.ended_in,
            hung_up=agi.hung_up or outcome.result == "hangup",
            error=error,
            steps=outcome.steps,
        )
        log.info(
            "menu line=%s caller=%s result=%s topic=%s queue=%s age=%s ended_in=%s menu_s=%.1f",
            record.line, mask_number(record.caller_number), record.result, record.topic or "-",
            record.queue or "-", record.age_group, record.ended_in, record.ended_at - record.started_at,
        )
        if self.gauges is not None:
            self.gauges.menu_finished(record)
        if self.store is not None:
            # The dialplan goes on once the session closes; by then the record is on disk
            # (unless the database is failing or slow: then it stays queued and the call goes on).
            events = self.events.menu_events(record) if self.events else None
            if not await self.store.keep_menu(record, wait=self.commit_wait, events=events):
                log.debug("menu record %s still queued as its session closes", record.session_id)

    async def _run(self, agi: AGIChannel, flow: MenuFlow) -> MenuOutcome:
        step = flow.start()
        while not isinstance(step, Done):
            step = flow.send(await self._perform(agi, step))
        return step.outcome

    async def _perform(self, agi: AGIChannel, action: Play | Ask) -> Answer:
        """Play one prompt or read one key; map Asterisk's reply to what the menu understands."""
        if agi.hung_up:
            return HUNG_UP
        try:
            if isinstance(action, Play):
                reply = await agi.stream_file(action.prompt, action.keys)
                if reply.result == "-1":
                    return await self._missing_or_gone(agi, action.prompt)
                key = reply.digit
            else:
                reply = await agi.get_data(action.prompt, action.timeout_ms, action.max_digits)
                if reply.result == "-1":
                    return await self._missing_or_gone(agi, action.prompt)
                key = reply.digits or None
        except AGIDeadChannel:
            return HUNG_UP
        if agi.hung_up:
            return HUNG_UP
        return Pressed(key) if key else NO_KEY

    async def _missing_or_gone(self, agi: AGIChannel, prompt: str) -> Answer:
        """``result=-1`` means the caller hung up *or* the prompt file is missing (facts A4, A7).

        A dead channel answers ``CHANNEL STATUS`` with 511; a live one with its state.
        """
        if agi.hung_up:
            return HUNG_UP
        try:
            await agi.channel_status()
        except AGIDeadChannel:
            return HUNG_UP
        log.error("prompt %r is missing on the PBX (channel %s); the menu goes on", prompt, agi.env.channel)
        return PROMPT_MISSING

    async def _set_outcome(self, agi: AGIChannel, outcome: MenuOutcome) -> None:
        # IVR_RESULT goes last: until it changes, "error" plus the default queue stands.
        variables = outcome.variables()
        for name in ("IVR_TOPIC", "IVR_QUEUE", "IVR_AGE_GROUP", "IVR_RESULT"):
            await agi.set_variable(name, variables[name])

    async def _set_error_variables(self, agi: AGIChannel, line: Line | None) -> None:
        try:
            if line is not None:
                await agi.set_variable("IVR_QUEUE", line.default_queue)
            await agi.set_variable("IVR_RESULT", "error")
        except (AGIError, OSError):
            pass  # the session is gone; the dialplan sees the IVR_RESULT set at the start


def _as_hangup(outcome: MenuOutcome) -> MenuOutcome:
    return replace(outcome, result="hangup", queue=None)

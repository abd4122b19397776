"""A simulated call's script on the PBX side: what the caller does in the menu and in the queue.

``CallScenario`` says what happens, in simulated seconds; ``ami_calls.call_events`` turns it into
the AMI events Asterisk 22 emits for such a call. Scenarios that cannot happen are refused with a
``ScenarioError`` naming the contradiction.
"""

from __future__ import annotations

from dataclasses import dataclass

from .errors import ScenarioError

MENU_RESULTS = ("queue", "timeout", "hangup", "bridge-down", "selfservice")
NO_QUEUE = ("hangup", "selfservice")  # menu results that never reach a queue


@dataclass(frozen=True)
class Operator:
    """A queue member: Local/<exten>@agents/n named `name` in the queue."""

    exten: str
    name: str

    @property
    def interface(self) -> str:
        return f"Local/{self.exten}@agents/n"


@dataclass(frozen=True)
class CallScenario:
    """One caller's path. Times are simulated seconds.

    menu: "queue" (a key chose a topic queue), "timeout" (no valid key: default queue),
    "hangup" (caller hangs up in the menu), "bridge-down" (FastAGI unreachable:
    AGISTATUS=FAILURE, BridgeDown UserEvent, default queue), "selfservice" (a key chose a
    self-service topic: the information message, then the dialplan hangs up; no queue).
    keys: digits pressed at successive GET DATA prompts; invalid ones are those not in
    `valid_keys`. A "queue" or "selfservice" caller whose keys hold no valid one presses
    `valid_keys[0]` at the last attempt: the menu must have chosen the topic that the
    scenario names, or IVR_TOPIC/IVR_QUEUE would never be set.
    result: IVR_RESULT as asterisk-bridge sets it. None replays the lab IVR (which sets only
    IVR_QUEUE/IVR_TOPIC, from `queue` and `topic` or the key); given, the menu ends the way
    the bridge ends it: IVR_TOPIC, IVR_QUEUE, IVR_AGE_GROUP, IVR_RESULT from `topic`,
    `queue`, `age_group`, `result` ("" for None).
    hold: seconds in the queue before any member is free to ring (all busy). no_answer: members rung 5 s each without answer before `operator`;
    with `auto_pause` the queue pauses each of them (Auto-Pause) after the ring-out for that many seconds.
    Without `operator` the caller abandons after `abandon_after` s in the queue.
    """

    name: str  # caller-sim extension (lab scenario name)
    line: str = "122"
    caller_number: str = "79161234567"
    caller_name: str = "Иван Петров"
    menu: str = "queue"
    keys: tuple[str, ...] = ()
    valid_keys: tuple[str, ...] = ("1", "2", "3", "4", "5")
    queue: str | None = None  # IVR_QUEUE for menu="queue"
    topic: str | None = None  # IVR_TOPIC
    default_queue: str = "default"
    no_answer: tuple[Operator, ...] = ()
    operator: Operator | None = None
    answer_after: float = 2.0  # member answers after ringing this long
    talk: float = 5.0
    hangup_by: str = "agent"  # caller | agent
    abandon_after: float | None = None
    menu_hangup_after: float = 2.0
    attempts: int = 2
    result: str | None = None
    age_group: str | None = None
    hold: float = 0.0
    auto_pause: float = 0.0

    def __post_init__(self) -> None:
        if self.menu not in MENU_RESULTS:
            raise ScenarioError(f"menu must be one of {MENU_RESULTS}, got {self.menu!r}")
        if self.hangup_by not in ("caller", "agent"):
            raise ScenarioError(f"hangup_by must be 'caller' or 'agent', got {self.hangup_by!r}")
        if self.menu == "queue" and not self.queue:
            raise ScenarioError("menu='queue' needs the topic queue name in `queue`")
        if self.menu in ("queue", "selfservice") and not self.valid_keys:
            raise ScenarioError(f"menu={self.menu!r} needs at least one valid key")
        if self.hold < 0 or self.auto_pause < 0:
            raise ScenarioError(f"hold and auto_pause must be >= 0, got {self.hold!r} and {self.auto_pause!r}")
        if self.menu in NO_QUEUE:
            if self.operator is not None or self.abandon_after is not None:
                raise ScenarioError(f"menu={self.menu!r} never reaches a queue: no `operator` or `abandon_after`")
        elif self.operator is None and self.abandon_after is None:
            raise ScenarioError("a queued call needs an `operator` who answers or `abandon_after`")
        if self.operator is not None and self.abandon_after is not None:
            raise ScenarioError("give either `operator` or `abandon_after`, not both")

    @property
    def queue_joined(self) -> str | None:
        if self.menu in NO_QUEUE:
            return None
        return self.queue if self.menu == "queue" else self.default_queue

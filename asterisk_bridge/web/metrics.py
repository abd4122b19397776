"""``/metrics``: the bridge in Prometheus text format (``prometheus-client``, its own registry).

Counters and histograms are fed as things happen: the gauges' watchers (``mqtt/gauges.py``)
see every finished menu session and call, the store reports each commit's duration. Levels
(callers in the menu, waiting, connections, queues of work) are read when Prometheus scrapes,
from the same live figures and status the wallboard and ``/status`` show.
"""

from __future__ import annotations

from typing import Any

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram, generate_latest
from prometheus_client.exposition import CONTENT_TYPE_LATEST

CONTENT_TYPE = CONTENT_TYPE_LATEST
_P = "asterisk_bridge_"


class BridgeMetrics:
    def __init__(self, node: str, version: str, *, ami: bool, mqtt: bool) -> None:
        """``ami`` / ``mqtt``: whether those parts are on; their levels are left out when off."""
        self.registry = r = CollectorRegistry(auto_describe=True)
        Gauge(f"{_P}info", "The bridge's node and version", ["node", "version"], registry=r).labels(node, version).set(1)
        self.calls = Counter(f"{_P}calls", "Calls that ended since the service started, by line and outcome "
                             "(AMI)", ["line", "outcome"], registry=r)
        self.menu = Counter(f"{_P}menu_sessions", "Menu sessions that ended since the service started, by line "
                            "and result", ["line", "result"], registry=r)
        self.menu_seconds = Histogram(f"{_P}menu_session_seconds", "Duration of menu sessions",
                                      buckets=(2, 5, 10, 15, 20, 30, 45, 60, 90, 120, 180, 300), registry=r)
        self.write_seconds = Histogram(f"{_P}store_write_seconds", "Time to write and commit one batch of records",
                                       buckets=(.001, .0025, .005, .01, .025, .05, .1, .25, .5, 1, 2.5, 10), registry=r)
        self.in_menu = Gauge(f"{_P}callers_in_menu", "Callers in the voice menu now", ["line"], registry=r)
        self.waiting = Gauge(f"{_P}callers_waiting", "Callers waiting in a queue now, by line", ["line"], registry=r)
        self.queue_waiting = Gauge(f"{_P}queue_callers_waiting", "Callers waiting now, by queue", ["queue"], registry=r)
        self.queue_longest = Gauge(f"{_P}queue_longest_wait_seconds", "The longest wait of a caller waiting now",
                                   ["queue"], registry=r)
        self.ami = Gauge(f"{_P}ami_connected", "1 while logged in to AMI", registry=r) if ami else None
        self.mqtt = Gauge(f"{_P}mqtt_connected", "1 while connected to the MQTT broker", registry=r) if mqtt else None
        self.outbox = Gauge(f"{_P}mqtt_outbox_events", "MQTT events waiting for the broker",
                            registry=r) if mqtt else None
        self.pending = Gauge(f"{_P}store_records_waiting", "Records handed to the store and not yet committed",
                             registry=r)
        self.menu_active = Gauge(f"{_P}fastagi_sessions", "FastAGI sessions open now", registry=r)

    # -- as things happen ------------------------------------------------------------------------

    def watch(self, kind: str, what: Any) -> None:
        """A gauges watcher (``Gauges.watch``): count finished menu sessions and calls."""
        if kind == "menu_finished":
            self.menu.labels(what.line, what.result).inc()
            self.menu_seconds.observe(what.duration_ms / 1000.0)
        elif kind == "call_update" and what.kind == "finished" and what.record is not None:
            self.calls.labels(what.record.line or "unknown", what.record.outcome or "unknown").inc()

    def committed(self, seconds: float, records: int) -> None:
        """A store commit hook (``Store.on_commit``)."""
        self.write_seconds.observe(seconds)

    # -- at scrape time --------------------------------------------------------------------------

    def render(self, status: dict[str, Any], figures: dict[str, dict[str, dict]] | None) -> bytes:
        """The text format, after setting the levels from ``status`` (what ``/status`` shows) and
        the live ``figures`` (``Gauges.figures``)."""
        if figures is not None:
            for line, f in figures["lines"].items():
                self.in_menu.labels(line).set(f["in_menu"])
                self.waiting.labels(line).set(f["waiting"])
            for queue, f in figures["queues"].items():
                self.queue_waiting.labels(queue).set(f["waiting"])
                self.queue_longest.labels(queue).set(f["longest_wait_seconds"])
        ami, mqtt = status.get("ami") or {}, status.get("mqtt") or {}
        if self.ami is not None:
            self.ami.set(1 if ami.get("connected") else 0)
        if self.mqtt is not None:
            self.mqtt.set(1 if mqtt.get("connected") else 0)
        if self.outbox is not None and isinstance(mqtt.get("outbox_depth"), int):
            self.outbox.set(mqtt["outbox_depth"])
        self.pending.set((status.get("store") or {}).get("pending") or 0)
        self.menu_active.set((status.get("fastagi") or {}).get("active") or 0)
        return generate_latest(self.registry)


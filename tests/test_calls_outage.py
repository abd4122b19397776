"""An AMI outage as the admin hears of it: the gap reported is the time without data from Asterisk,
counted from its last message, not from when the bridge noticed the loss."""

from __future__ import annotations

import asyncio
import logging
import re
import time
from dataclasses import replace

from ami_fake import FakeAMI, block
from test_calls import empty_list, follower, make_config, wait_until

from asterisk_bridge.store import Store


async def test_back_after_counts_from_the_last_message_received(tmp_path, caplog):
    caplog.set_level(logging.WARNING, "asterisk_bridge")
    fake = FakeAMI()
    fake.responders["coreshowchannels"] = empty_list
    fake.responders["queuestatus"] = empty_list
    async with fake, Store(tmp_path / "calls.db") as store:
        config = make_config(fake.port)
        config = replace(config, ami=replace(config.ami, ping_interval=0.5, action_timeout=0.4))
        async with follower(config, store) as follow:
            await wait_until(lambda: follow.connected)
            session = fake.sessions[0]
            await asyncio.sleep(0.6)  # a Ping answered: the link is alive
            fake.answer_pings = False  # Asterisk hangs: nothing more comes
            await session.send(block(("Event", "PeerStatus"), ("Privilege", "system,all"), ("Peer", "PJSIP/1002"),
                                     ("PeerStatus", "Reachable")))
            last_sent = time.time()
            await wait_until(lambda: not follow.connected)  # found by the unanswered Ping, not at once
            noticed = time.time()
            fake.answer_pings = True
            await wait_until(lambda: follow.connected and len(fake.sessions) == 2)
            back = time.time()
    lines = [r.getMessage() for r in caplog.records if "AMI connection back" in r.getMessage()]
    assert len(lines) == 1, lines
    m = re.fullmatch(r"AMI connection back after ([\d.]+) s without data from Asterisk "
                     r"\(the loss was noticed after ([\d.]+) s\); reconciling calls", lines[0])
    assert m, lines[0]
    silent, noticed_after = float(m.group(1)), float(m.group(2))
    assert noticed_after >= 0.3  # the watchdog needed a Ping and its timeout
    assert abs(noticed_after - (noticed - last_sent)) < 0.15
    assert abs(silent - (back - last_sent)) < 0.15  # from the last message, not from the loss
    assert silent > back - noticed + 0.25

"""What ``check-config`` prints: a one-screen summary of a valid configuration.

Secret values never appear: only where each secret comes from.
"""

from __future__ import annotations

from .prompts import count_texts
from .settings import Config, Menu


def describe(config: Config) -> str:
    """A one-screen summary for ``check-config``: what the service will do, with no secret values."""
    f, a, m, s = config.fastagi, config.ami, config.mqtt, config.smtp
    out = [f"node {config.node}, time zone {config.timezone}",
           f"FastAGI  listens on {f.host}:{f.port}, allowed peers: {', '.join(f.allow) or 'any'}",
           "AMI      " + (f"on: {a.username}@{a.host}:{a.port}, secret from {a.secret_source}"
                           if a.enabled else "off (IVR data only)"),
           f"database {config.database.path}",
           "MQTT     " + (f"on: {m.host}:{m.port}, prefix {m.prefix}, callers {m.caller_numbers}"
                           if m.enabled else "off"),
           "mail     " + (f"{config.summary.send_at} via {s.host}:{s.port} ({s.security}) to "
                           f"{len(s.recipients)} recipient(s)" if s.host else "off (summary not mailed)"),
           "web      " + (f"http://{config.web.host}:{config.web.port}{config.web.base_path}/, "
                           + (f"login required (users in {config.web.users_file})" if config.web.users_file
                              else "no login (loopback only)") if config.web.enabled else "off"),
           f"queues   {len(config.queues)} declared",
           f"prompts  texts: {count_texts(config.prompts)} (menus without a text are written from the menu)"]
    p = config.privacy
    retention = [f"numbers hashed after {p.hash_after_days} days" if p.hash_after_days else "",
                 f"menu steps dropped after {p.drop_steps_after_days} days" if p.drop_steps_after_days else ""]
    out.append(f"privacy  callers {'masked' if p.mask_callers else 'shown in full'} in summaries; retention: "
               + (", ".join(r for r in retention if r) or "off (records kept as they are)"))
    for line in config.lines.values():
        out.append(f"line {line.number} ({line.name}): default queue {line.default_queue}, "
                   f"{line.attempts} attempts, {line.key_timeout_ms / 1000:g} s per key")
        if line.operator_key:
            out.append(f"  {line.operator_key} → operator → {line.operator_queue}")
        if line.repeat_key:
            out.append(f"  {line.repeat_key} → repeat the menu")
        out.extend(_describe_menu(line.menu, "  "))
        if line.age_question is not None:
            groups = ", ".join(f"{k}={v}" for k, v in line.age_question.groups.items())
            out.append(f"  age question: {groups}")
    return "\n".join(out)


def _describe_menu(menu: Menu, indent: str) -> list[str]:
    out = []
    for topic in menu.topics.values():
        head = f"{indent}{topic.key} → {topic.id} ({topic.name})"
        if topic.menu is not None:
            fallback = f", fallback {topic.queue}" if topic.queue else ""
            out.append(f"{head} → sub-menu {topic.menu.path}{fallback}")
            out.extend(_describe_menu(topic.menu, indent + "    "))
        elif topic.self_service:
            tail = "then ends" if topic.after_info == "end" else f"then offers an operator → {topic.queue}"
            out.append(f"{head} → self-service, {tail}")
        else:
            out.append(f"{head} → {topic.queue}")
    return out

"""The web console's pure parts: parameters, addresses, throttling, sessions, users, the chart."""

from __future__ import annotations

from datetime import date

import pytest

from asterisk_bridge.privacy import hash_number
from asterisk_bridge.store.call_search import CallerMatch
from asterisk_bridge.web.auth import LoginLimiter, Sessions, client_address, is_https, networks
from asterisk_bridge.web.chart import hourly_chart, nice_top
from asterisk_bridge.web.errors import BadParameter, UsersFileError
from asterisk_bridge.web.live import clock, level_class
from asterisk_bridge.web.params import Query, caller, period
from asterisk_bridge.web.users import UsersFile, hash_password, parse_users, verify_password


def q(**values: str) -> Query:
    return Query(values.items(), ("from", "to", "caller"))


def test_a_caller_is_matched_by_masked_form_full_number_or_hash():
    assert caller(q(caller="7916***4567"), None) == CallerMatch(prefix="7916", suffix="4567")
    assert caller(q(caller="****67"), None) == CallerMatch(suffix="67", length=6)
    assert caller(q(caller="h:0123456789abcdef"), None) == CallerMatch(exact=("h:0123456789abcdef",))
    assert caller(q(caller="+7 (916) 123-45-67"), None) == CallerMatch(exact=("+79161234567", "79161234567"))
    salted = caller(q(caller="79161234567"), "pepper")
    assert salted == CallerMatch(exact=("79161234567", "h:" + hash_number("79161234567", "pepper")))
    for bad in ("ivan", "79*", "h:xyz", "12"):
        with pytest.raises(BadParameter, match="caller"):
            caller(q(caller=bad), None)


def test_a_period_defaults_to_today_and_must_run_forwards():
    today = date(2026, 11, 25)
    assert period(q(), today) == (today, today)
    assert period(q(), today, default_days=7) == (date(2026, 11, 19), today)
    assert period(q(**{"from": "2026-11-01"}), today) == (date(2026, 11, 1), today)
    with pytest.raises(BadParameter, match="to: 2026-11-01 is before from"):
        period(q(**{"from": "2026-11-25", "to": "2026-11-01"}), today)
    with pytest.raises(BadParameter, match="longer than 3660 days"):
        period(q(**{"from": "2000-01-01"}), today)


def test_x_forwarded_for_is_believed_only_from_trusted_proxies_and_read_from_the_right():
    trusted = networks(["127.0.0.1", "10.0.0.0/8"])
    assert str(client_address("127.0.0.1", "203.0.113.5", trusted)) == "203.0.113.5"
    assert str(client_address("127.0.0.1", "198.51.100.1, 203.0.113.5", trusted)) == "203.0.113.5"
    assert str(client_address("127.0.0.1", "203.0.113.5, 10.1.1.1", trusted)) == "203.0.113.5"  # two proxies
    assert str(client_address("192.0.2.7", "203.0.113.5", trusted)) == "192.0.2.7"  # not a proxy: ignored
    assert str(client_address("127.0.0.1", "garbage", trusted)) == "127.0.0.1"
    assert str(client_address("::ffff:127.0.0.1", "203.0.113.5", trusted)) == "203.0.113.5"
    assert is_https("http", "127.0.0.1", "https", trusted) and not is_https("http", "192.0.2.7", "https", trusted)


def test_the_login_limiter_counts_failures_per_address_and_per_name_in_a_window():
    now = [1000.0]
    limiter = LoginLimiter(max_failures=3, window=60, clock=lambda: now[0])
    for _ in range(3):
        assert limiter.retry_after("10.0.0.1", "anna") == 0
        limiter.failed("10.0.0.1", "anna")
    assert limiter.retry_after("10.0.0.1", "boris") == 60  # this address is throttled for any name
    assert limiter.retry_after("10.0.0.2", "anna") == 60  # and this name from any address
    assert limiter.retry_after("10.0.0.2", "boris") == 0
    now[0] += 61
    assert limiter.retry_after("10.0.0.1", "anna") == 0


def test_sessions_end_after_idle_time_and_on_demand():
    now = [0.0]
    sessions = Sessions(idle=100, clock=lambda: now[0])
    one = sessions.create("anna", "admin")
    two = sessions.create("boris", "viewer")
    now[0] = 90
    assert sessions.get(one.token) is one  # seen: its idle time restarts
    now[0] = 150
    assert sessions.get(one.token) is one and sessions.get(two.token) is None
    sessions.drop_user("anna")
    assert sessions.get(one.token) is None and sessions.get("forged") is None and len(sessions) == 0
    assert one.csrf != one.token and len(one.token) >= 40


def test_passwords_are_scrypt_hashes_and_a_malformed_hash_never_matches():
    digest = hash_password("correct horse")
    assert digest.startswith("scrypt$16384$8$1$") and "correct horse" not in digest
    assert verify_password("correct horse", digest) and not verify_password("wrong horse", digest)
    for broken in ("", "scrypt$1$2", "md5$x$y$z$a$b", digest[:-4] + "!!!!"):
        assert not verify_password("correct horse", broken)


def test_a_broken_users_file_names_the_line(tmp_path):
    good = hash_password("correct horse")
    with pytest.raises(UsersFileError, match=r"web-users:3: role 'root' is not one of viewer, admin"):
        parse_users(f"# users\nanna:admin:{good}\nboris:root:{good}\n", "web-users")
    with pytest.raises(UsersFileError, match=r":1: expected name:role:hash"):
        parse_users("anna\n")
    with pytest.raises(UsersFileError, match="appears twice"):
        parse_users(f"anna:admin:{good}\nanna:viewer:{good}\n")
    with pytest.raises(UsersFileError, match="does not exist"):
        len(UsersFile(tmp_path / "missing"))
    with pytest.raises(UsersFileError, match="user name"):
        UsersFile(tmp_path / "u").add("a b", "correct horse", "viewer")


def test_the_hour_chart_stacks_lines_under_four_round_guides():
    assert [nice_top(n) for n in (0, 3, 4, 5, 9, 30, 41, 199)] == [4, 4, 4, 8, 20, 40, 80, 200]
    chart = hourly_chart([[2] + [0] * 23, [1] + [0] * 22 + [5]])
    assert chart.top == 8 and chart.totals[0] == 3 and chart.totals[23] == 5
    assert [value for value, _ in chart.grid] == [2, 4, 6, 8]
    first, second = [b for b in chart.bars if b.hour == 0]
    assert (first.series, first.height, second.height) == (0, 25.0, 12.5)
    assert second.y + second.height == first.y  # stacked
    assert hourly_chart([[0] * 24]).empty


def test_wait_clock_and_service_level_colours():
    assert [clock(s) for s in (0, 65.9, 3600 + 61)] == ["0:00", "1:05", "1:01:01"]
    assert [level_class(x, 80) for x in (None, 0.8, 0.75, 0.69)] == ["", "good", "warn", "bad"]

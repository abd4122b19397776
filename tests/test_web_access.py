"""Who may see what in the web console: sign-in, sessions, CSRF, roles, monitoring addresses."""

from __future__ import annotations

import logging

import pytest
from click.testing import CliRunner

from web_support import PASSWORD, add_users, client_of, form_token, make_console, sign_in, write_config

from asterisk_bridge.cli import main
from asterisk_bridge.config import ConfigError, load_config
from asterisk_bridge.web.server import check_access
from asterisk_bridge.web.users import UsersFile


def cookie_header(response, name: str) -> str:
    return next(v for v in response.headers.getall("Set-Cookie") if v.startswith(name + "="))


async def test_a_console_without_users_is_the_local_admins_and_sets_a_strict_httponly_cookie(tmp_path):
    async with client_of(make_console(tmp_path)) as client:
        response = await client.get("/")
        assert response.status == 200
        cookie = cookie_header(response, "ab_session")
        assert "HttpOnly" in cookie and "SameSite=Strict" in cookie and "Secure" not in cookie
        assert "локальный доступ" in await response.text()
        assert response.headers["X-Frame-Options"] == "DENY"
        assert "script-src 'self'" in response.headers["Content-Security-Policy"]
        assert response.headers["Cache-Control"] == "no-store"


async def test_a_console_without_users_answers_only_to_a_loopback_host_name(tmp_path):
    """A page elsewhere cannot reach it through a DNS name that resolves to 127.0.0.1."""
    async with client_of(make_console(tmp_path)) as client:
        assert (await client.get("/", headers={"Host": "localhost:8122"})).status == 200
        assert (await client.get("/", headers={"Host": "[::1]:8122"})).status == 200
        refused = await client.get("/", headers={"Host": "evil.example:8122"})
        assert refused.status == 403 and "localhost" in await refused.text()


async def test_with_users_every_page_asks_for_a_sign_in(tmp_path):
    async with client_of(make_console(tmp_path, users={"anna": "viewer"})) as client:
        for path in ("/", "/stats", "/calls", "/calls/1795600000.1", "/summaries", "/status"):
            response = await client.get(path + "?x=1" if path == "/stats" else path, allow_redirects=False)
            assert response.status == 303, path
            assert response.headers["Location"].startswith("/login?next=/"), path
        for path in ("/live", "/stats.json", "/stats.csv", "/metrics", "/status.json"):
            response = await client.get(path)
            assert response.status == 401 and (await response.text()) == "sign in first\n", path
        login = await client.get("/login")
        assert login.status == 200 and 'type="password"' in await login.text()
        assert (await client.get("/static/console.css")).status == 200


async def test_sign_in_with_the_right_password_opens_the_console_and_is_logged(tmp_path, caplog):
    caplog.set_level(logging.INFO, logger="asterisk_bridge.web")
    async with client_of(make_console(tmp_path, users={"anna": "viewer"})) as client:
        wrong = await sign_in(client, "anna", "not the password")
        assert wrong.status == 401 and "Неверное имя или пароль" in await wrong.text()
        right = await sign_in(client, "anna", next_page="/calls")
        assert right.status == 303 and right.headers["Location"] == "/calls"
        cookie = cookie_header(right, "ab_session")
        assert "HttpOnly" in cookie and "SameSite=Strict" in cookie
        page = await client.get("/")
        assert page.status == 200 and "anna · просмотр" in await page.text()
    messages = [r.getMessage() for r in caplog.records]
    assert any("failed login as 'anna' from 127.0.0.1" in m for m in messages)
    assert any("anna (viewer) signed in from 127.0.0.1" in m for m in messages)
    assert not any(PASSWORD in m or "not the password" in m for m in messages)


async def test_sign_in_needs_the_forms_own_token(tmp_path):
    async with client_of(make_console(tmp_path, users={"anna": "viewer"})) as client:
        await client.get("/login")
        response = await client.post("/login", data={"name": "anna", "password": PASSWORD, "csrf": "forged"},
                                     allow_redirects=False)
        assert response.status == 403
        assert (await client.get("/", allow_redirects=False)).status == 303  # not signed in


async def test_after_five_failures_sign_in_is_refused_for_a_while_even_with_the_right_password(tmp_path, caplog):
    async with client_of(make_console(tmp_path, users={"anna": "admin"})) as client:
        for _ in range(5):
            assert (await sign_in(client, "anna", "guess")).status == 401
        throttled = await sign_in(client, "anna")
        assert throttled.status == 429 and int(throttled.headers["Retry-After"]) > 500
        assert "Слишком много неудачных попыток" in await throttled.text()
    assert any("too many failed attempts" in r.getMessage() for r in caplog.records)


async def test_the_session_cookie_is_secure_behind_a_trusted_tls_proxy_only(tmp_path):
    web = 'trusted_proxies = ["127.0.0.1"]'
    async with client_of(make_console(tmp_path, users={"anna": "viewer"}, web=web)) as client:
        page = await client.get("/login", headers={"X-Forwarded-Proto": "https"})
        login_cookie = cookie_header(page, "ab_login")
        assert "Secure" in login_cookie
        token = form_token(await page.text())
        # the test client talks plain HTTP to the proxy's side, so it keeps Secure cookies to itself
        response = await client.post("/login", data={"name": "anna", "password": PASSWORD, "csrf": token},
                                     headers={"X-Forwarded-Proto": "https",
                                              "Cookie": login_cookie.split(";")[0]}, allow_redirects=False)
        assert response.status == 303
        assert "Secure" in cookie_header(response, "ab_session")
    (tmp_path / "other").mkdir()
    web = 'trusted_proxies = ["10.9.9.9"]'  # the test client's 127.0.0.1 is not it
    async with client_of(make_console(tmp_path / "other", users={"anna": "viewer"}, web=web)) as client:
        page = await client.get("/login", headers={"X-Forwarded-Proto": "https"})
        response = await client.post("/login", data={"name": "anna", "password": PASSWORD,
                                                     "csrf": form_token(await page.text())},
                                     headers={"X-Forwarded-Proto": "https"}, allow_redirects=False)
        assert "Secure" not in cookie_header(response, "ab_session")


async def test_every_post_needs_the_sessions_csrf_token(tmp_path, caplog):
    async with client_of(make_console(tmp_path, users={"anna": "viewer"})) as client:
        await sign_in(client, "anna")
        page = await client.get("/")
        token = form_token(await page.text())
        refused = await client.post("/logout", data={}, allow_redirects=False)
        assert refused.status == 403 and "security token" in await refused.text()
        refused = await client.post("/logout", data={"csrf": token + "x"}, allow_redirects=False)
        assert refused.status == 403
        assert (await client.get("/")).status == 200  # still signed in
        out = await client.post("/logout", data={"csrf": token}, allow_redirects=False)
        assert out.status == 303 and out.headers["Location"] == "/login"
        assert (await client.get("/", allow_redirects=False)).status == 303
    assert any("missing or stale CSRF token" in r.getMessage() for r in caplog.records)


async def test_after_sign_in_only_pages_of_this_console_are_followed(tmp_path):
    async with client_of(make_console(tmp_path, users={"anna": "viewer"})) as client:
        for target in ("//evil.example/", "https://evil.example/", "/\\evil.example"):
            client.session.cookie_jar.clear()
            response = await sign_in(client, "anna", next_page=target)
            assert response.headers["Location"] == "/", target


async def test_a_removed_user_is_signed_out_and_a_new_role_applies_at_once(tmp_path):
    async with client_of(make_console(tmp_path, users={"anna": "viewer", "boris": "viewer"})) as client:
        await sign_in(client, "anna")
        assert "anna · просмотр" in await (await client.get("/")).text()
        users = UsersFile(tmp_path / "web-users")
        users.add("anna", PASSWORD, "admin")
        assert "anna · администратор" in await (await client.get("/")).text()
        users.remove("anna")
        assert (await client.get("/", allow_redirects=False)).status == 303


async def test_monitoring_addresses_read_metrics_and_status_without_a_session(tmp_path):
    web = 'metrics_allow = ["127.0.0.1/32"]'
    async with client_of(make_console(tmp_path, users={"anna": "viewer"}, web=web)) as client:
        metrics = await client.get("/metrics")
        assert metrics.status == 200 and "asterisk_bridge_callers_in_menu" in await metrics.text()
        assert (await client.get("/status.json")).status == 200
        assert (await client.get("/status")).status == 200
        assert (await client.get("/stats", allow_redirects=False)).status == 303  # nothing else


async def test_a_monitoring_address_behind_a_trusted_proxy_is_read_from_x_forwarded_for(tmp_path):
    web = 'metrics_allow = ["10.1.2.3"]\ntrusted_proxies = ["127.0.0.1"]'
    async with client_of(make_console(tmp_path, users={"anna": "viewer"}, web=web)) as client:
        assert (await client.get("/metrics", headers={"X-Forwarded-For": "10.1.2.3"})).status == 200
        assert (await client.get("/metrics", headers={"X-Forwarded-For": "10.1.2.3, 10.7.7.7"})).status == 401
        assert (await client.get("/metrics")).status == 401  # the proxy itself is not allowed
    (tmp_path / "b").mkdir()
    web = 'metrics_allow = ["10.1.2.3"]'  # no trusted proxy: the header proves nothing
    async with client_of(make_console(tmp_path / "b", users={"anna": "viewer"}, web=web)) as client:
        assert (await client.get("/metrics", headers={"X-Forwarded-For": "10.1.2.3"})).status == 401


# -- the rule `run` enforces and the users command ---------------------------------------------


def test_a_console_open_to_others_needs_a_users_file_in_the_configuration(tmp_path):
    db = tmp_path / "calls.db"
    for web in ('host = "0.0.0.0"', 'trusted_proxies = ["127.0.0.1"]'):
        with pytest.raises(ConfigError) as info:
            load_config(write_config(tmp_path, db, web=web))
        assert [p.path for p in info.value.problems] == ["web.users_file"]
        assert "asterisk-bridge web adduser" in str(info.value)
    with pytest.raises(ConfigError) as info:
        load_config(write_config(tmp_path, db, web='base_path = "console/"\nmetrics_allow = ["nope"]'))
    assert sorted(p.path for p in info.value.problems) == ["web.base_path", "web.metrics_allow[0]"]


def test_run_refuses_a_console_open_to_others_while_its_users_file_has_no_user(tmp_path):
    users = tmp_path / "web-users"
    config = write_config(tmp_path, tmp_path / "calls.db", web=f'host = "0.0.0.0"\nusers_file = "{users}"')
    result = CliRunner().invoke(main, ["run", "-c", str(config)])
    assert result.exit_code == 2
    assert "refusing to start" in result.output and "web adduser" in result.output
    users.write_text("# nobody yet\n")
    result = CliRunner().invoke(main, ["run", "-c", str(config)])
    assert result.exit_code == 2 and "has no users" in result.output


def test_web_adduser_writes_a_scrypt_hash_with_mode_0600_and_never_the_password(tmp_path):
    users = tmp_path / "web-users"
    config = write_config(tmp_path, tmp_path / "calls.db", web=f'users_file = "{users}"')
    runner = CliRunner()
    added = runner.invoke(main, ["web", "adduser", "anna", "--admin", "-c", str(config)],
                          input=f"{PASSWORD}\n{PASSWORD}\n")
    assert added.exit_code == 0, added.output
    assert "added anna (admin)" in added.output and PASSWORD not in added.output
    assert users.stat().st_mode & 0o777 == 0o600
    text = users.read_text()
    assert "anna:admin:scrypt$16384$8$1$" in text and PASSWORD not in text
    piped = runner.invoke(main, ["web", "adduser", "boris", "--password-stdin", "-c", str(config)],
                          input="short\n")
    assert piped.exit_code == 1 and "at least 8 characters" in piped.output
    assert runner.invoke(main, ["web", "adduser", "boris", "--password-stdin", "-c", str(config)],
                         input=f"{PASSWORD}\n").exit_code == 0
    listed = runner.invoke(main, ["web", "users", "-c", str(config)])
    assert listed.output.splitlines() == ["anna\tadmin", "boris\tviewer"]
    assert UsersFile(users).check("boris", PASSWORD).role == "viewer"
    assert runner.invoke(main, ["web", "deluser", "boris", "-c", str(config)]).exit_code == 0
    gone = runner.invoke(main, ["web", "deluser", "boris", "-c", str(config)])
    assert gone.exit_code == 1 and "no user 'boris'" in gone.output
    no_file = write_config(tmp_path, tmp_path / "calls.db")
    refused = runner.invoke(main, ["web", "adduser", "anna", "-c", str(no_file)], input="x\n")
    assert refused.exit_code == 2 and "users_file" in refused.output


async def test_under_a_base_path_every_link_cookie_and_redirect_carries_it(tmp_path):
    web = 'base_path = "/console"'
    async with client_of(make_console(tmp_path, users={"anna": "viewer"}, web=web)) as client:
        first = await client.get("/console/calls", allow_redirects=False)
        assert first.status == 303 and first.headers["Location"] == "/console/login?next=/console/calls"
        assert (await client.get("/calls")).status == 404
        assert (await client.get("/console", allow_redirects=False)).headers["Location"] == "/console/"
        page = await client.get("/console/login")
        token = form_token(await page.text())
        signed = await client.post("/console/login", allow_redirects=False,
                                   data={"name": "anna", "password": PASSWORD, "csrf": token, "next": "/console/stats"})
        assert signed.headers["Location"] == "/console/stats"
        assert "Path=/console" in cookie_header(signed, "ab_session")
        html = await (await client.get("/console/")).text()
        assert 'href="/console/stats"' in html and 'src="/console/static/console.js?v=' in html
        assert 'data-live="/console/live"' in html
        assert (await client.get("/console/static/console.css")).status == 200


def test_a_users_file_others_may_read_is_named_when_run_checks_it(tmp_path, caplog):
    """Like the other secret files: the service says so (the hashes are worth attacking offline)."""
    users = add_users(tmp_path, anna="admin")
    config = load_config(write_config(tmp_path, tmp_path / "calls.db", web=f'users_file = "{users}"'))
    users.chmod(0o644)
    check_access(config)
    warned = [r.getMessage() for r in caplog.records if r.levelno == logging.WARNING]
    assert warned == [f"users file {users} is readable or writable by others (mode 0644); chmod 600 it"]
    caplog.clear()
    users.chmod(0o600)
    check_access(config)
    assert not [r for r in caplog.records if r.levelno == logging.WARNING]

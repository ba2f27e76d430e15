"""``mistral-client serve`` attacked as someone on the network, or a web page in the user's browser, would.

Each test runs a real ``serve`` process on a free loopback port (tests/support/serveproc.py) and sends
requests whose headers the attacker writes by hand. docs/local-server.md, "Sharing the server
safely", promises what these tests hold.
"""

from __future__ import annotations

import json
import socket
from pathlib import Path
from typing import Any

import httpx2
import pytest

from mistral_client.server import LocalServer
from mistral_client.server._llama import local_model_missing
from tests.support.rawserver import RawConnection, RawServer
from tests.support.serveproc import RawAnswer, Served, outward_address, raw_request, run_serve, serving

KEY = "sk-serve-guard-7c1f0e"
MODEL = "mistral-small-latest"
CHAT = "/v1/chat/completions"
BODY = json.dumps({"model": MODEL, "messages": [{"role": "user", "content": "hi"}], "max_tokens": 3}).encode()
UI_BODY = json.dumps({"model": MODEL, "messages": [{"role": "user", "content": "hi"}]}).encode()
JSON = {"Content-Type": "application/json"}
EVIL = "https://evil.example"


def host(served: Served) -> dict[str, str]:
    """The Host header a client that reached the server by its printed address sends."""
    return {"Host": f"127.0.0.1:{served.port}"}


def bearer(key: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {key}"}


def post(served: Served, path: str, body: bytes = BODY, **headers: str) -> RawAnswer:
    return raw_request(served.port, "POST", path, {**host(served), **JSON, **headers}, body)


def get(served: Served, path: str, **headers: str) -> RawAnswer:
    return raw_request(served.port, "GET", path, {**host(served), **headers})


def error_of(answer: RawAnswer) -> dict[str, Any]:
    """The API's error envelope, checked whole."""
    assert answer.headers["content-type"] == "application/json", answer
    error = json.loads(answer.body)
    assert set(error) == {"object", "message", "type", "param", "code"}, error
    assert error["object"] == "error" and error["message"], error
    return dict(error)


def is_unauthorized(answer: RawAnswer) -> bool:
    return answer.status == 401 and json.loads(answer.body) == {"detail": "Unauthorized"}


# --- The key and the knobs -------------------------------------------------------------------------


def test_a_request_cannot_choose_its_own_key() -> None:
    with serving("--api-key", KEY, "--fast") as served:
        assert is_unauthorized(post(served, CHAT))
        picked = {"x-mock-api-key": "mine", **bearer("mine")}
        assert is_unauthorized(post(served, CHAT, **picked))
        assert is_unauthorized(get(served, "/v1/models", **picked))
        assert post(served, CHAT, **bearer(KEY)).status == 200
        # The knob still works for a keyed request, as a second check: it can refuse, never admit.
        assert is_unauthorized(post(served, CHAT, **bearer(KEY), **{"x-mock-api-key": "other"}))


def test_the_knobs_of_a_request_without_the_key_are_ignored() -> None:
    with serving("--api-key", KEY, "--fast") as served:
        assert is_unauthorized(post(served, CHAT, **{"x-mock-tokens": "many"}))
        refused = post(served, CHAT, **bearer(KEY), **{"x-mock-tokens": "many"})
        assert refused.status == 400 and "x-mock-tokens" in error_of(refused)["message"]
        shortened = post(served, CHAT, **bearer(KEY), **{"x-mock-tokens": "2"})
        assert shortened.status == 200 and json.loads(shortened.body)["usage"]["completion_tokens"] == 2


def test_a_request_cannot_lift_the_rate_limit() -> None:
    with serving("--rate-limit", "1", "--fast") as served:
        lifted = {"x-mock-rate-limit": "100000"}
        assert [post(served, CHAT, **lifted).status for _ in range(3)] == [200, 429, 429]
        own_bucket = {**lifted, "x-mock-id": "mine"}
        refused = post(served, CHAT, **own_bucket)
        assert refused.status == 429 and error_of(refused)["type"] == "rate_limited"
        assert 1 <= int(refused.headers["retry-after"]) <= 60


def test_a_request_can_still_ask_for_a_stricter_rate_limit() -> None:
    with serving("--rate-limit", "100", "--fast") as served:
        stricter = {"x-mock-rate-limit": "1", "x-mock-id": "strict"}
        assert [post(served, CHAT, **stricter).status for _ in range(2)] == [200, 429]
        assert post(served, CHAT).status == 200  # the operator's own limit is far from reached


# --- The chat page ---------------------------------------------------------------------------------


def test_the_chat_page_needs_the_key_like_the_api() -> None:
    with serving("--ui", "--api-key", KEY, "--fast") as served:
        page = get(served, "/ui/")
        assert page.status == 200 and b"chat.js" in page.body  # the page itself loads, to ask for the key
        assert is_unauthorized(post(served, "/ui/chat", UI_BODY))
        assert is_unauthorized(get(served, "/ui/models"))
        assert is_unauthorized(post(served, "/ui/chat", UI_BODY, **bearer("wrong")))
        models = get(served, "/ui/models", **bearer(KEY))
        assert models.status == 200 and MODEL in json.loads(models.body)["models"]
        answer = post(served, "/ui/chat", UI_BODY, **bearer(KEY))
        assert answer.status == 200 and answer.body.endswith(b"data: [DONE]\n\n")


def test_without_a_key_the_chat_page_answers_this_machine_only() -> None:
    address = outward_address()
    if address is None:
        pytest.skip("this machine has no address but loopback to reach the server from")
    with serving("--ui", "--host", "0.0.0.0", "--allowed-host", address, "--fast") as served:
        outside = {"Host": f"{address}:{served.port}"}
        for method, path, body in [("GET", "/ui/", b""), ("GET", "/ui/models", b""), ("POST", "/ui/chat", UI_BODY)]:
            refused = raw_request(served.port, method, path, {**outside, **JSON}, body, address=address)
            assert refused.status == 403, (path, refused)
            assert "--api-key" in error_of(refused)["message"]
        # The API itself is open to the network (the warning said so), and the page still works here.
        assert raw_request(served.port, "GET", "/v1/models", outside, address=address).status == 200
        assert get(served, "/ui/models").status == 200
        assert post(served, "/ui/chat", UI_BODY).body.endswith(b"data: [DONE]\n\n")


# --- Requests a web page can send ------------------------------------------------------------------


@pytest.mark.parametrize(
    "content_type", [None, "text/plain", "application/x-www-form-urlencoded", "multipart/form-data"]
)
def test_a_post_must_be_json(content_type: str | None) -> None:
    with serving("--ui", "--fast") as served:
        headers = {**host(served), **({"Content-Type": content_type} if content_type else {})}
        for path, body in [("/ui/chat", UI_BODY), (CHAT, BODY), ("/v1/embeddings", b'{"model":"mistral-embed"}')]:
            refused = raw_request(served.port, "POST", path, headers, body)
            assert refused.status == 415, (path, refused)
            assert "application/json" in error_of(refused)["message"]
        charset = {"Content-Type": "application/json; charset=utf-8"}
        assert post(served, CHAT, **charset).status == 200


def test_a_post_from_another_origin_is_refused() -> None:
    with serving("--ui", "--fast") as served:
        # The request: what any page can send without a preflight.
        simple = post(served, "/ui/chat", UI_BODY, **{"Content-Type": "text/plain", "Origin": EVIL})
        assert simple.status in (403, 415)
        for origin in (EVIL, "null", f"http://localhost:{served.port}", f"http://127.0.0.1:{served.port + 1}"):
            for path, body in [("/ui/chat", UI_BODY), (CHAT, BODY)]:
                refused = post(served, path, body, Origin=origin)
                assert refused.status == 403, (origin, path, refused)
                assert "origin" in error_of(refused)["message"].lower()
                assert "access-control-allow-origin" not in refused.headers
        own = post(served, "/ui/chat", UI_BODY, Origin=f"http://127.0.0.1:{served.port}")
        assert own.status == 200 and own.body.endswith(b"data: [DONE]\n\n")
        assert post(served, CHAT).status == 200  # no Origin: not a browser


def test_no_cross_origin_reads_unless_an_origin_is_named() -> None:
    preflight = {
        "Origin": EVIL,
        "Access-Control-Request-Method": "POST",
        "Access-Control-Request-Headers": "content-type",
    }
    with serving("--ui", "--fast") as served:
        answers = [
            raw_request(served.port, "OPTIONS", CHAT, {**host(served), **preflight}),
            raw_request(served.port, "OPTIONS", "/ui/chat", {**host(served), **preflight}),
            get(served, "/v1/models", Origin=EVIL),
            get(served, "/ui/models", Origin=EVIL),
        ]
        assert answers[2].status == 200
        for answer in answers:
            assert not [name for name in answer.headers if name.startswith("access-control-")], answer


def test_a_named_cors_origin_gets_preflights_and_answers() -> None:
    app = "https://app.example"
    with serving("--cors-origin", app, "--cors-origin", "http://localhost:5173", "--fast") as served:
        asked = {
            "Access-Control-Request-Method": "POST",
            "Access-Control-Request-Headers": "authorization, content-type",
        }
        for origin in (app, "http://localhost:5173"):
            allowed = raw_request(served.port, "OPTIONS", CHAT, {**host(served), "Origin": origin, **asked})
            assert allowed.status == 200, allowed
            assert allowed.headers["access-control-allow-origin"] == origin
            assert "POST" in allowed.headers["access-control-allow-methods"]
            assert {"authorization", "content-type"} <= set(
                allowed.headers["access-control-allow-headers"].lower().replace(" ", "").split(",")
            )
        answered = post(served, CHAT, Origin=app)
        assert answered.status == 200 and answered.headers["access-control-allow-origin"] == app
        assert "x-ratelimit-remaining-req-minute" in answered.headers["access-control-expose-headers"].lower()

        denied = raw_request(served.port, "OPTIONS", CHAT, {**host(served), "Origin": EVIL, **asked})
        assert "access-control-allow-origin" not in denied.headers
        assert denied.status == 400 and "origin" in error_of(denied)["message"].lower()
        refused = post(served, CHAT, Origin=EVIL)
        assert refused.status == 403 and "access-control-allow-origin" not in refused.headers


def test_a_cors_origin_must_be_an_origin() -> None:
    for bad in ("*", "app.example", "https://app.example/path"):
        done = run_serve("--port", "0", "--cors-origin", bad)
        assert done.returncode == 2, done.stderr
        assert "--cors-origin" in done.stderr


# --- Host names: DNS rebinding ---------------------------------------------------------------------


def test_a_foreign_host_header_is_refused() -> None:
    with serving("--fast") as served:
        port = served.port
        for name in (
            "evil.example",
            f"evil.example:{port}",
            f"127.0.0.1.evil.example:{port}",
            "localhost.evil.example",
        ):
            for method, path, body in [("GET", "/v1/models", b""), ("POST", CHAT, BODY)]:
                refused = raw_request(port, method, path, {"Host": name, **JSON}, body)
                assert refused.status == 400, (name, refused)
                assert "host" in error_of(refused)["message"].lower()
        # A rebound page's request: the page's own origin, and its own name as the Host.
        rebound = raw_request(
            port, "POST", CHAT, {"Host": "evil.example", "Origin": "http://evil.example", **JSON}, BODY
        )
        assert rebound.status == 400
        for name in (f"127.0.0.1:{port}", f"localhost:{port}", f"[::1]:{port}", "localhost", "LocalHost:8000"):
            assert raw_request(port, "GET", "/v1/models", {"Host": name}).status == 200, name


def test_the_listening_address_and_allowed_hosts_are_accepted() -> None:
    with serving("--host", "127.0.0.2", "--allowed-host", "team.example", "--allowed-host", "Gpu-Box") as served:
        port = served.port
        for name in (f"127.0.0.2:{port}", "team.example", f"team.example:{port}", "gpu-box:8000", f"localhost:{port}"):
            assert raw_request(port, "GET", "/v1/models", {"Host": name}, address="127.0.0.2").status == 200, name
        for name in ("127.0.0.3", "other.example", "sub.team.example"):
            assert raw_request(port, "GET", "/v1/models", {"Host": name}, address="127.0.0.2").status == 400, name


# --- Listening on the network ----------------------------------------------------------------------


def test_serve_listens_on_this_machine_only_by_default() -> None:
    with serving("--fast") as served:
        assert served.base_url == f"http://127.0.0.1:{served.port}"
        assert get(served, "/v1/models").status == 200
        # Bound to 127.0.0.1 alone: another address of this machine has nothing listening on that port
        # (127.0.0.2 is loopback too on Linux, so this holds even without a network).
        elsewhere = ["127.0.0.2", *filter(None, [outward_address()])]
        for address in elsewhere:
            with pytest.raises(ConnectionRefusedError):
                socket.create_connection((address, served.port), timeout=5).close()


def test_listening_beyond_loopback_without_a_key_warns() -> None:
    with serving("--host", "0.0.0.0", "--fast") as served:
        assert "warning: listening on 0.0.0.0" in served.stderr
        assert "--api-key" in served.stderr.split("warning:", 1)[1].splitlines()[0]
        assert "--allowed-host NAME" in served.stderr  # how other machines' Host names get in
    with serving("--host", "0.0.0.0", "--api-key", KEY, "--fast") as served:
        assert "warning" not in served.stderr
    with serving("--fast") as served:
        assert "warning" not in served.stderr


@pytest.mark.parametrize("what", ["llama", "record"])
def test_a_model_or_a_recorder_on_the_network_needs_a_key_or_allow_open(what: str, tmp_path: Path) -> None:
    mode = ["--engine", "llama"] if what == "llama" else ["--record", str(tmp_path), "--upstream", "http://127.0.0.1:9"]
    done = run_serve("--port", "0", "--host", "0.0.0.0", *mode, timeout=15)
    assert done.returncode == 2, done.stderr
    lines = done.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("mistral-client: error: refusing"), done.stderr
    assert "--api-key" in lines[0] and "--allow-open" in lines[0]
    if what == "llama" and local_model_missing() is not None:
        # Past the refusal, a model asked for by name and not installed is a usage error (issue 17).
        done = run_serve("--port", "0", "--host", "0.0.0.0", *mode, "--allow-open", timeout=15)
        assert done.returncode == 2 and "pip install 'mistral-client[local-model]'" in done.stderr, done.stderr
        return
    with serving("--host", "0.0.0.0", *mode, "--allow-open") as served:
        assert "warning: listening on 0.0.0.0" in served.stderr
    with serving("--host", "0.0.0.0", *mode, "--api-key", KEY) as served:
        assert "warning" not in served.stderr
    with serving("--host", "127.0.0.1", *mode) as served:  # this machine only: nothing to refuse
        assert "warning" not in served.stderr


# --- Record mode: the upstream's key ---------------------------------------------------------------


def test_record_mode_sends_the_key_to_the_upstream_only(tmp_path: Path) -> None:
    upstream_key = "sk-upstream-only-41d9a2"
    recordings = tmp_path / "recordings"
    with (
        LocalServer(api_key=upstream_key) as upstream,
        LocalServer() as elsewhere,
        serving("--record", str(recordings), "--upstream", upstream.base_url, "--fast") as served,
    ):
        auth = bearer(upstream_key)
        assert post(served, CHAT, **auth).status == 200  # the upstream requires the key: it got it
        streamed = json.dumps({"model": MODEL, "messages": [{"role": "user", "content": "yo"}], "stream": True})
        assert post(served, CHAT, streamed.encode(), **auth).body.endswith(b"data: [DONE]\n\n")
        assert post(served, CHAT, **auth, **{"x-mock-status": "503"}).status == 503
        # Requests shaped to send it somewhere else.
        there = f"127.0.0.1:{elsewhere.port}"
        for target in (f"@{there}{CHAT}", f"//{there}{CHAT}", f"http://{there}{CHAT}", f"/..//{there}{CHAT}"):
            raw_request(served.port, "POST", target, {**host(served), **JSON, **auth}, BODY)
        raw_request(served.port, "POST", CHAT, {"Host": there, **JSON, **auth}, BODY)
        upstream_paths = [record.path for record in upstream.requests]
    assert elsewhere.requests == []
    assert upstream_paths.count(CHAT) >= 3
    assert upstream_key not in served.output
    files = list(recordings.rglob("*"))
    assert len([path for path in files if path.suffix == ".json"]) >= 3
    for path in files:
        if path.is_file():
            assert upstream_key.encode() not in path.read_bytes(), path


def test_record_mode_does_not_follow_an_upstream_redirect(tmp_path: Path) -> None:
    upstream_key = "sk-upstream-redirected-77e0"
    with LocalServer() as elsewhere:

        def redirect(conn: RawConnection) -> None:
            conn.send_full(307, b"{}", extra=f"location: {elsewhere.base_url}{CHAT}\r\n")

        with RawServer(redirect) as upstream, serving("--record", str(tmp_path), "--upstream", upstream.base_url) as s:
            answer = post(s, CHAT, **bearer(upstream_key))
        assert answer.status == 307  # passed back to the client, which decides
        assert upstream.connections[0].request.headers["authorization"] == f"Bearer {upstream_key}"
        assert elsewhere.requests == []
    assert upstream_key not in s.output


def test_a_key_guards_record_and_replay_modes(tmp_path: Path) -> None:
    with (
        LocalServer(api_key=KEY) as upstream,
        serving("--record", str(tmp_path), "--upstream", upstream.base_url, "--api-key", KEY) as served,
    ):
        assert is_unauthorized(post(served, CHAT))
        assert is_unauthorized(post(served, CHAT, **bearer("another")))
        assert post(served, CHAT, **bearer(KEY)).status == 200
    with serving("--replay", str(tmp_path), "--fast", "--api-key", KEY) as served:
        assert is_unauthorized(post(served, CHAT))
        assert post(served, CHAT, **bearer(KEY)).status == 200


def test_the_guard_answers_httpx2_clients_too() -> None:
    # The same refusals through an ordinary client, as an app (not a hand-written request) sees them.
    with serving("--api-key", KEY, "--fast") as served, httpx2.Client(base_url=served.base_url, timeout=10) as http:
        assert http.post(CHAT, content=BODY, headers={"content-type": "text/plain", **bearer(KEY)}).status_code == 415
        assert http.post(CHAT, content=BODY, headers={**JSON, **bearer(KEY), "origin": EVIL}).status_code == 403
        assert http.get("/v1/models", headers={**bearer(KEY), "host": "evil.example"}).status_code == 400
        assert http.post(CHAT, content=BODY, headers={**JSON, **bearer(KEY)}).status_code == 200


def test_the_guards_refusals_come_before_the_request_is_read() -> None:
    with LocalServer(rate_limit=1) as server:
        port, own = server.port, {"Host": f"127.0.0.1:{server.port}"}
        refused = [
            raw_request(port, "POST", CHAT, {**own, "Content-Type": "text/plain"}, BODY),
            raw_request(port, "POST", CHAT, {**own, **JSON, "Origin": EVIL}, BODY),
            raw_request(port, "POST", CHAT, {"Host": "evil.example", **JSON}, BODY),
        ]
        assert [answer.status for answer in refused] == [415, 403, 400]
        for answer in refused:
            assert "mistral-correlation-id" not in answer.headers
        assert server.requests == [] and server.responses == []
        # None of them counted against the limit of one request a minute.
        answered = raw_request(port, "POST", CHAT, {**own, **JSON}, BODY)
        assert answered.status == 200 and answered.headers["mistral-correlation-id"]
        assert [record.path for record in server.requests] == [CHAT]

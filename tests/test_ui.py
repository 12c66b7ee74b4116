"""The dashboard at ``/ui`` in a real browser (headless Chromium through Selenium) against a real gateway with
the mock provider, governance and the request log: sign in with the master key, see requests just made
appear in Logs without a reload and open one, see Spend's charts, create a key in Keys and call the model
route with it (then revoke it), see the providers. After each test the browser's console has no error and
the page has asked nothing of any host but the gateway.

Also, over plain HTTP: what ``/ui`` serves (only its own files, with a policy that forbids anything else)
and that building the gateway does not import the dashboard's module.
"""

from __future__ import annotations

import subprocess
import sys
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import openai
import pytest

from tests.fakes import browser
from tests.fakes.gateway import GatewayServer, wait_for

MASTER = "fm-master-" + uuid.uuid4().hex
PRICE = {"input_mtok": 2.5, "output_mtok": 10}


def dashboard_config(store: str) -> dict[str, Any]:
    """The mock provider (priced, so spend is not all zeros) behind an alias, governance and the request log."""
    return {
        "store": store,
        "governance": {"master_key": "env.FM_MASTER"},
        "providers": {},
        "models": [{"name": "smart", "target": "mock/gpt-4o"}],
        "pricing": {"mock/gpt-4o": PRICE},
    }


@pytest.fixture(scope="module")
def gateway(tmp_path_factory: pytest.TempPathFactory) -> Iterator[GatewayServer]:
    store = f"sqlite:///{tmp_path_factory.mktemp('ui')}/ferryman.db"
    with GatewayServer(dashboard_config(store), {"FM_MASTER": MASTER}) as server:
        yield server


@pytest.fixture(scope="module")
def chrome() -> Iterator[Any]:
    reason = browser.missing()
    if reason is not None:
        pytest.skip(reason)
    driver = browser.chromium()
    yield driver
    driver.quit()


@pytest.fixture
def page(chrome: Any, gateway: GatewayServer) -> Iterator[Any]:
    """The browser, signed in on the gateway's dashboard; afterwards: no console error, no other host asked."""
    # signed out from a page of the same origin that runs no script: the dashboard of the previous test, still
    # signed in, would otherwise poll with the key just cleared (a 401 in the console)
    chrome.get(f"{gateway.url}/health")
    chrome.execute_script("sessionStorage.clear()")
    browser.console_errors(chrome)  # drained: the browser's own ask for /health's favicon.ico (a 404) is not the UI's
    chrome.get(f"{gateway.url}/ui")
    password = find(chrome, "#master-key")
    assert password.get_attribute("type") == "password"
    password.send_keys(MASTER)
    find(chrome, "#login-form button[type=submit]").click()
    visible(chrome, "#app")
    yield chrome
    assert browser.console_errors(chrome) == []
    assert browser.hosts_asked(chrome) == {f"127.0.0.1:{gateway.port}"}


def find(driver: Any, css: str) -> Any:
    from selenium.webdriver.common.by import By

    return driver.find_element(By.CSS_SELECTOR, css)


def find_all(driver: Any, css: str) -> list[Any]:
    from selenium.webdriver.common.by import By

    found: list[Any] = driver.find_elements(By.CSS_SELECTOR, css)
    return found


def until(driver: Any, condition: Any, timeout: float = 10) -> Any:
    """What ``condition()`` returns once it is true; an element a redraw replaced meanwhile is asked for again."""
    from selenium.common.exceptions import StaleElementReferenceException
    from selenium.webdriver.support.ui import WebDriverWait

    wait = WebDriverWait(driver, timeout, ignored_exceptions=(StaleElementReferenceException,))
    return wait.until(lambda d: condition())


def visible(driver: Any, css: str) -> Any:
    return until(driver, lambda: find(driver, css) if find(driver, css).is_displayed() else None)


def client(gateway: GatewayServer, key: str = MASTER) -> openai.OpenAI:
    return openai.OpenAI(base_url=f"{gateway.url}/v1", api_key=key, max_retries=0)


def admin(gateway: GatewayServer, path: str, **params: Any) -> Any:
    resp = httpx.get(f"{gateway.url}{path}", params=params, headers={"authorization": f"Bearer {MASTER}"})
    assert resp.status_code == 200, resp.text
    return resp.json()


def test_sign_in_keeps_the_key_in_the_session_only(page: Any) -> None:
    assert [a.text for a in find_all(page, "nav a")] == ["Logs", "Spend", "Keys", "Providers"]
    assert page.execute_script("return sessionStorage.getItem('ferryman.master')") == MASTER
    assert page.execute_script("return localStorage.length") == 0 and MASTER not in page.get_cookies().__str__()
    find(page, "#sign-out").click()
    visible(page, "#login")
    assert page.execute_script("return sessionStorage.getItem('ferryman.master')") is None


def test_a_wrong_key_is_refused(chrome: Any, gateway: GatewayServer) -> None:
    # signed out from a page of the same origin that runs no script: the dashboard of the previous test, still
    # signed in, would otherwise poll with the key just cleared (a 401 in the console)
    chrome.get(f"{gateway.url}/health")
    chrome.execute_script("sessionStorage.clear()")
    browser.console_errors(chrome)  # drained: the browser's own ask for /health's favicon.ico (a 404) is not the UI's
    chrome.get(f"{gateway.url}/ui")
    find(chrome, "#master-key").send_keys("not-the-master-key")
    find(chrome, "#login-form button[type=submit]").click()
    until(chrome, lambda: "master key" in find(chrome, "#login-error").text)
    assert find(chrome, "#app").is_displayed() is False
    errors = browser.console_errors(chrome)  # the refused sign-in is the one failed load the console shows
    assert errors and all("401" in e for e in errors), errors
    assert browser.hosts_asked(chrome) == {f"127.0.0.1:{gateway.port}"}


def test_logs_show_new_requests_live_and_open_one(page: Any, gateway: GatewayServer) -> None:
    visible(page, "#view-logs")
    until(page, lambda: "live ·" in find(page, "#live").text)  # the first page is drawn
    page.execute_script("window.notReloaded = true")
    words = [f"first-{uuid.uuid4().hex[:8]}", f"second-{uuid.uuid4().hex[:8]}"]
    answers = [client(gateway).responses.create(model="smart", input=w) for w in words]
    entries = {e["response_id"]: e for e in admin(gateway, "/admin/logs", limit=1000)["data"]}
    ids = [entries[a.id]["id"] for a in answers]

    def rows() -> list[str]:  # read in one go: a poll may redraw the table between two reads
        found: list[str] = page.execute_script(
            "return [...document.querySelectorAll('#log-table tbody tr.row')].map((tr) => tr.dataset.id)"
        )
        return found

    until(page, lambda: set(ids) <= set(rows()))
    assert page.execute_script("return window.notReloaded === true")  # it came without a reload
    listed = rows()
    assert listed.index(ids[1]) < listed.index(ids[0])  # newest first
    row = find(page, f'#log-table tr[data-id="{ids[1]}"]')
    cells = [td.text for td in row.find_elements("css selector", "td")]
    entry = entries[answers[1].id]
    assert cells[1:4] == ["smart", "mock/gpt-4o", "200"]
    assert cells[6] == f"{entry['input_tokens']} / {entry['output_tokens']}"
    row.click()
    detail = visible(page, "#log-detail")
    until(page, lambda: words[1] in find(page, "#log-detail .input").text)
    assert answers[1].output_text in find(page, "#log-detail .output").text
    [attempt] = [tr.text for tr in detail.find_elements("css selector", ".attempts tr")][1:]
    assert attempt.startswith("mock/gpt-4o 200")
    cost = {
        tr.text.rsplit(" ", 1)[0]: tr.text.rsplit(" ", 1)[1] for tr in detail.find_elements("css selector", ".cost tr")
    }
    assert cost["Total"].startswith("$") and cost["Total"] != "$0"
    # a filter narrows the live page: only the first request has its word
    find(page, "#log-filters input[name=q]").send_keys(words[0])
    until(page, lambda: rows() == [ids[0]])


def test_spend_draws_charts(page: Any, gateway: GatewayServer) -> None:
    done = client(gateway).responses.create(model="smart", input="spend something")
    # spend rows are written after the reply: the chart is drawn from the store
    wait_for(lambda: any(r["requests"] for r in admin(gateway, "/admin/spend", group_by="model")["data"]))
    total = sum(r["requests"] for r in admin(gateway, "/admin/spend", group_by="model")["data"])
    assert done.usage is not None
    find(page, 'nav a[href="#spend"]').click()
    visible(page, "#view-spend")
    for chart in ("#chart-requests", "#chart-tokens", "#chart-cost"):
        canvas = until(page, lambda c=chart: find_all(page, f"{c} canvas"))
        assert canvas[0].size["width"] > 100 and canvas[0].size["height"] > 50
    legends = [e.text for e in find_all(page, "#chart-requests .u-legend .u-series")]
    assert any("smart" in text for text in legends)
    until(page, lambda: find(page, "#spend-totals b").text == str(total))
    assert [td.text for td in find_all(page, "#spend-table tbody td")][:2] == ["smart", str(total)]


def test_keys_create_use_and_revoke(page: Any, gateway: GatewayServer) -> None:
    find(page, 'nav a[href="#keys"]').click()
    visible(page, "#view-keys")
    name = f"ci-{uuid.uuid4().hex[:6]}"
    find(page, "#key-form input[name=name]").send_keys(name)
    find(page, "#key-form input[name=models]").send_keys("smart")
    find(page, "#key-form input[name=max_usd]").send_keys("5")
    find(page, "#key-form input[name=rpm]").send_keys("60")
    [button] = [b for b in find_all(page, "#key-form button") if b.text == "Create key"]
    button.click()
    key = visible(page, "#new-key-value").text
    assert key.startswith("sk-fm-")
    answer = client(gateway, key).responses.create(model="smart", input="hello from the new key")
    assert answer.output_text
    row = until(page, lambda: [tr for tr in find_all(page, "#key-table tbody tr") if tr.text.startswith(name)])[0]
    assert "smart" in row.text and "of $5" in row.text and "60 rpm" in row.text and "active" in row.text
    assert key not in find(page, "#key-table").text  # the value is in the one-time notice only
    with pytest.raises(openai.PermissionDeniedError):  # its allow-list holds
        client(gateway, key).responses.create(model="mock/other", input="hi")
    revoke = row.find_element("css selector", "button.danger")
    revoke.click()
    assert revoke.text == "Confirm"
    revoke.click()
    until(
        page,
        lambda: any(tr.text.startswith(name) and "revoked" in tr.text for tr in find_all(page, "#key-table tbody tr")),
    )
    with pytest.raises(openai.AuthenticationError):
        client(gateway, key).responses.create(model="smart", input="hi")
    assert browser.console_errors(page) == []  # the page itself made no failed call


def test_providers(page: Any, gateway: GatewayServer) -> None:
    client(gateway).responses.create(model="smart", input="count me")
    listed = {p["name"]: p for p in admin(gateway, "/admin/providers")["data"]}
    find(page, 'nav a[href="#providers"]').click()
    visible(page, "#view-providers")
    row = until(page, lambda: find_all(page, '#provider-table tr[data-name="mock"]'))[0]
    cells = [td.text for td in row.find_elements("css selector", "td")]
    assert cells[:3] == ["mock", "mock", str(listed["mock"]["requests"])] and listed["mock"]["requests"] >= 1
    assert cells[3] == "0.0%" and cells[4].endswith("ms") and cells[6] == "smart"


# ---- over plain HTTP -------------------------------------------------------------------------------


def test_ui_files_and_their_policy(gateway: GatewayServer) -> None:
    page = httpx.get(f"{gateway.url}/ui")
    assert page.status_code == 200 and page.headers["content-type"] == "text/html; charset=utf-8"
    policy = page.headers["content-security-policy"]
    assert "default-src 'none'" in policy and "connect-src 'self'" in policy and "script-src 'self'" in policy
    assert httpx.get(f"{gateway.url}/ui/").text == page.text
    for asset, kind in (
        ("app.js", "text/javascript"),
        ("app.css", "text/css"),
        ("vendor/uPlot.iife.min.js", "text/javascript"),
        ("vendor/uPlot.min.css", "text/css"),
    ):
        resp = httpx.get(f"{gateway.url}/ui/{asset}")
        assert resp.status_code == 200 and resp.headers["content-type"].startswith(kind), asset
        assert f"/ui/{asset}" in page.text  # the page loads it
    for path in ("/ui/../pyproject.toml", "/ui/vendor/uPlot.LICENSE", "/ui/__init__.py", "/ui/nothing.js"):
        missing = httpx.get(f"{gateway.url}{path}")
        assert missing.status_code == 404 and missing.json()["error"]["code"] == "route_not_found", path
    assert "http://" not in page.text.replace("http://www.w3.org", "") and "https://" not in page.text


def test_building_the_gateway_does_not_import_the_dashboard(tmp_path: Path) -> None:
    script = (
        "import sys\n"
        "from ferryman.app import create_app\n"
        "from ferryman.config import config_from_dict\n"
        f"create_app(config_from_dict({dashboard_config(f'sqlite:///{tmp_path}/f.db')!r}, {{'FM_MASTER': 'x' * 20}}))\n"
        "print('ferryman.routes.ui' in sys.modules, 'ferryman.ui' in sys.modules)\n"
    )
    out = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, check=True)
    assert out.stdout.split() == ["False", "False"]

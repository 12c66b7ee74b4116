"""The README's screenshots of the dashboard: ``python docs/screenshots.py`` (from the repository root, with the
dev extras, chromium and chromium-driver installed) writes ``docs/ui-{logs,spend,keys,providers}.png``.

It starts a gateway with the mock provider (priced, so spend shows), governance and the request log, a team
and a few keys, and sends a day of requests through it: the gateway's clocks (governance's and the log's)
are moved back an hour at a time so the charts have a day to show. Then headless Chromium signs in and
takes a picture of each view.
"""

from __future__ import annotations

import contextlib
import random
import sys
import tempfile
import time
import uuid
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path[:0] = [str(ROOT), str(ROOT / "src")]

import httpx  # noqa: E402
import openai  # noqa: E402

from tests.fakes import browser  # noqa: E402
from tests.fakes.gateway import GatewayServer  # noqa: E402

MASTER = "fm-master-" + uuid.uuid4().hex
QUESTIONS = [
    "Summarise the release notes for 2.4 in three bullet points.",
    "Translate 'the ferry leaves at noon' into French.",
    "What is the capital of Australia?",
    "Write a haiku about load balancers.",
    "Explain retries with exponential backoff to a new engineer.",
    "Which HTTP status means the rate limit was hit?",
]


def config(store: str) -> dict[str, object]:
    return {
        "store": store,
        "governance": {"master_key": "env.FM_MASTER"},
        "providers": {"mock": {"latency_ms": 40, "tokens_per_second": 400}, "backup": {"type": "mock"}},
        "models": [
            {"name": "smart", "target": "mock/gpt-4o", "fallbacks": ["backup/gpt-4o-mini"]},
            {"name": "fast", "target": "mock/gpt-4o-mini"},
            {"name": "claude", "target": "backup/claude-sonnet-4"},
        ],
        "pricing": {
            "mock/gpt-4o": {"input_mtok": 2.5, "output_mtok": 10},
            "mock/gpt-4o-mini": {"input_mtok": 0.15, "output_mtok": 0.6},
            "backup/gpt-4o-mini": {"input_mtok": 0.15, "output_mtok": 0.6},
            "backup/claude-sonnet-4": {"input_mtok": 3, "output_mtok": 15},
        },
    }


def traffic(server: GatewayServer) -> None:
    admin = httpx.Client(base_url=server.url, headers={"authorization": f"Bearer {MASTER}"})
    research = admin.post("/admin/teams", json={"name": "research", "budget": {"max_usd": 20, "period": "30d"}}).json()
    support = admin.post("/admin/teams", json={"name": "support", "limits": {"rpm": 600}}).json()
    keys = [
        admin.post("/admin/keys", json={"name": name, "team_id": team["id"], **extra}).json()["key"]
        for name, team, extra in (
            ("alice", research, {"budget": {"max_usd": 5, "period": "1d"}}),
            ("batch-jobs", research, {"models": ["fast"], "limits": {"rpm": 120, "tpm": 200000}}),
            ("helpdesk", support, {"budget": {"max_usd": 2}}),
        )
    ]
    clients = [openai.OpenAI(base_url=f"{server.url}/v1", api_key=k, max_retries=0) for k in keys]
    gov, log = server.app.governance, server.app.log_writer
    assert gov is not None and log is not None
    rng = random.Random(7)
    now = time.time()
    for hours_ago in range(23, -1, -1):
        at = now - hours_ago * 3600
        gov.clock = log.clock = lambda at=at: at
        for _ in range(rng.randint(1, 4) + (3 if 9 <= (23 - hours_ago) <= 16 else 0)):
            i = rng.randrange(3)
            model = ("smart", "fast", "claude")[rng.randrange(3)] if i != 1 else "fast"
            question = rng.choice(QUESTIONS) * rng.randint(1, 6)
            with contextlib.suppress(openai.APIError):
                clients[i].responses.create(model=model, input=question)
    gov.clock = log.clock = time.time
    with contextlib.suppress(openai.APIError):  # one failure, to show an error in Logs
        clients[0].responses.create(model="claude", input="Draft the incident summary.", metadata={"mock_error": "503"})
    for i, q in enumerate(QUESTIONS[:3]):  # the newest rows
        with clients[i % 3].responses.stream(model="smart" if i != 1 else "fast", input=q) as stream:
            stream.get_final_response()


def shoot(server: GatewayServer, out: Path) -> None:
    from selenium.webdriver.common.by import By
    from selenium.webdriver.support.ui import WebDriverWait

    driver = browser.chromium(1440, 900)
    try:
        wait = WebDriverWait(driver, 10)
        driver.get(f"{server.url}/ui")
        driver.find_element(By.ID, "master-key").send_keys(MASTER)
        driver.find_element(By.CSS_SELECTOR, "#login-form button").click()
        wait.until(lambda d: d.find_elements(By.CSS_SELECTOR, "#log-table tr.row"))
        driver.find_elements(By.CSS_SELECTOR, "#log-table tr.row")[0].click()
        wait.until(lambda d: d.find_element(By.CSS_SELECTOR, "#log-detail .cost").is_displayed())
        driver.save_screenshot(str(out / "ui-logs.png"))
        driver.get(f"{server.url}/ui#spend")
        wait.until(lambda d: len(d.find_elements(By.CSS_SELECTOR, ".chart canvas")) == 3)
        driver.save_screenshot(str(out / "ui-spend.png"))
        driver.get(f"{server.url}/ui#keys")
        form = wait.until(lambda d: d.find_element(By.ID, "key-form"))
        form.find_element(By.NAME, "name").send_keys("notebook")
        form.find_element(By.NAME, "models").send_keys("smart, fast")
        form.find_element(By.NAME, "max_usd").send_keys("10")
        [button] = [b for b in form.find_elements(By.TAG_NAME, "button") if b.text == "Create key"]
        button.click()
        wait.until(lambda d: d.find_element(By.ID, "new-key").is_displayed())
        driver.save_screenshot(str(out / "ui-keys.png"))
        driver.get(f"{server.url}/ui#providers")
        wait.until(lambda d: d.find_elements(By.CSS_SELECTOR, "#provider-table tbody tr"))
        driver.save_screenshot(str(out / "ui-providers.png"))
        errors = browser.console_errors(driver)
        if errors:
            raise SystemExit(f"the page logged errors: {errors}")
    finally:
        driver.quit()


def main() -> None:
    reason = browser.missing()
    if reason is not None:
        raise SystemExit(reason)
    out = ROOT / "docs"
    with tempfile.TemporaryDirectory() as tmp:
        server = GatewayServer(config(f"sqlite:///{tmp}/ferryman.db"), {"FM_MASTER": MASTER})
        with server:
            traffic(server)
            shoot(server, out)
    print("wrote", ", ".join(str(p.relative_to(ROOT)) for p in sorted(out.glob("ui-*.png"))))


if __name__ == "__main__":
    main()

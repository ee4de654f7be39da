"""The TV page in a real headless Chromium (Debian's; no browser download), over CDP.

The page is served by a worker; events produced to Kafka change the ranking
and the page shows it without reloading (server-sent events). A screenshot is
kept in ``test-artifacts/tv-page.png`` (``SPM_ARTIFACTS_DIR``).
"""

from __future__ import annotations

import asyncio
import base64
import contextlib
import itertools
import json
import os
import shutil
import subprocess
import time
from datetime import UTC, datetime
from pathlib import Path
from typing import Any
from urllib.parse import urlencode

import aiohttp
import pytest

from spm_stream.access import sign_tv_query, tv_key
from spm_stream.config.settings import Settings
from spm_stream.devtools.embedded import free_port
from spm_stream.store.redis_store import Store
from tests.events import event
from tests.fixtures import produce, wait_for_processed

pytestmark = pytest.mark.integration

ROOT = Path(__file__).parents[2]


def chromium() -> str:
    found = shutil.which("chromium") or shutil.which("chromium-browser")
    if found is None:
        if os.environ.get("CI"):
            pytest.fail("CI needs Debian's chromium for the TV page test (.ci/run installs it)")
        pytest.skip("chromium is not installed")
    return found


class Page:
    """One browser tab driven over the Chrome DevTools Protocol."""

    def __init__(self, ws: aiohttp.ClientWebSocketResponse) -> None:
        self.ws = ws
        self.ids = itertools.count(1)

    async def call(self, method: str, **params: Any) -> dict[str, Any]:
        call_id = next(self.ids)
        await self.ws.send_json({"id": call_id, "method": method, "params": params})
        while True:
            message = await self.ws.receive_json(timeout=30)
            if message.get("id") == call_id:
                if "error" in message:
                    raise AssertionError(message["error"])
                result: dict[str, Any] = message["result"]
                return result

    async def js(self, expression: str) -> Any:
        result = await self.call("Runtime.evaluate", expression=expression, returnByValue=True)
        return result["result"].get("value")

    async def until(self, expression: str, timeout_s: float = 60) -> Any:
        deadline = time.monotonic() + timeout_s
        while time.monotonic() < deadline:
            value = await self.js(expression)
            if value:
                return value
            await asyncio.sleep(0.2)
        raise AssertionError(f"page never satisfied {expression}")


def launch(binary: str, port: int, profile: Path) -> subprocess.Popen[bytes]:
    """Debian's chromium, headless, with the DevTools protocol on ``port``."""
    return subprocess.Popen(
        [
            binary, "--headless=new", "--no-sandbox", "--disable-gpu", "--hide-scrollbars",
            f"--remote-debugging-port={port}", "--window-size=1600,900",
            f"--user-data-dir={profile}", "about:blank",
        ],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )  # fmt: skip


def keep_artifact(name: str, data: bytes) -> None:
    """Write a test artifact (CI keeps the directory)."""
    artifacts = Path(os.environ.get("SPM_ARTIFACTS_DIR", ROOT / "test-artifacts"))
    artifacts.mkdir(parents=True, exist_ok=True)
    (artifacts / name).write_bytes(data)


def calls(tag: str, rep: str, n: int, start: int) -> list[tuple[bytes, bytes]]:
    now = datetime.now(UTC).isoformat()
    return [(rep.encode(), event(f"{tag}-{rep}-{start + i}", rep=rep, at=now)) for i in range(n)]


async def test_tv_page_updates_itself_in_headless_chromium(
    env: dict[str, str], settings: Settings, store: Store, start_worker: Any, tmp_path: Path
) -> None:
    binary = chromium()
    tag = env["SPM_TEST_TAG"]
    produce(settings, calls(tag, "rep-1", 5, 0) + calls(tag, "rep-2", 3, 0))
    worker = start_worker(SPM_LEADERBOARD_INTERVAL_S="0")
    await wait_for_processed(store, 8, worker)

    port = free_port()
    browser = launch(binary, port, tmp_path / "chromium")
    try:
        async with aiohttp.ClientSession() as http:
            for _ in range(100):
                with contextlib.suppress(aiohttp.ClientError):
                    async with http.get(f"http://127.0.0.1:{port}/json/list") as response:
                        targets = await response.json()
                        break
                await asyncio.sleep(0.2)
            else:
                pytest.fail("chromium did not open its debugging port")
            tab = next(t for t in targets if t["type"] == "page")
            async with http.ws_connect(tab["webSocketDebuggerUrl"], max_msg_size=0) as ws:
                page = Page(ws)
                await page.call("Page.enable")
                # A wall screen sends no header: it opens its signed link.
                link = sign_tv_query(
                    tv_key(env["SPM_API_TOKEN"]),
                    "lobby",
                    {"team": "t1", "metrics": "calls,emails", "period": "week"},
                )
                url = f"{worker.web}/tv?{urlencode(link)}&interval=0.5"
                await page.call("Page.navigate", url=url)
                first = await page.until(
                    "document.querySelector('ol[data-metric=calls] li')?.dataset.rep"
                )
                assert first == "rep-1"
                assert await page.js("document.getElementById('title').textContent") == "Team One"

                # Ben overtakes Ana: the page shows it without a reload.
                produce(settings, calls(tag, "rep-2", 4, 3))
                await page.until(
                    "document.querySelector('ol[data-metric=calls] li')?.dataset.rep === 'rep-2'"
                )
                assert await page.js("window.__pageLoads") == 1
                assert int(await page.js("document.body.dataset.updates")) >= 2
                rows = await page.js(
                    "[...document.querySelectorAll('ol[data-metric=calls] li')]"
                    ".map(li => li.textContent)"
                )
                assert rows == ["🥇Ben7", "🥈Ana5"]

                shot = await page.call("Page.captureScreenshot", format="png")
                png = base64.b64decode(shot["data"])
                assert png.startswith(b"\x89PNG")
                keep_artifact("tv-page.png", png)

                # The org board, from a laptop to a wall screen: every name beside its value,
                # with the rep's team.
                org = sign_tv_query(
                    tv_key(env["SPM_API_TOKEN"]),
                    "hall",
                    {"metrics": "calls,emails,meetings_booked", "period": "week"},
                )
                await page.call("Page.navigate", url=f"{worker.web}/tv?{urlencode(org)}")
                await page.until("!!document.querySelector('ol[data-metric=calls] li .team')")
                assert (
                    await page.js(
                        "document.querySelector('ol[data-metric=calls] li .team').textContent"
                    )
                    == "Team One"
                )
                for width, height in ((1280, 720), (1400, 900), (3840, 2160)):
                    await page.call(
                        "Emulation.setDeviceMetricsOverride",
                        width=width, height=height, deviceScaleFactor=1, mobile=False,
                    )  # fmt: skip
                    overlaps = await page.js(
                        "[...document.querySelectorAll('li')].filter(li => {"
                        " const n = li.querySelector('.name').getBoundingClientRect();"
                        " const v = li.querySelector('.value').getBoundingClientRect();"
                        " const row = li.getBoundingClientRect();"
                        " return n.right > v.left || v.right > row.right + 1;"
                        "}).length"
                    )
                    assert overlaps == 0, f"names collide with values at {width} px"
                    wide = await page.js("document.documentElement.scrollWidth")
                    assert wide <= width, f"the page scrolls sideways at {width} px"
            async with http.get(f"{worker.web}/tv?team=nope", headers=worker.auth) as response:
                assert response.status == 400
                assert "unknown team 'nope'" in json.dumps(await response.json())
    finally:
        browser.terminate()
        browser.wait(10)

"""The HTTP load's generator (bench/http_load.py starts it as its own process, so its CPU is
not the server's): agents that log in and work, and open-loop signed webhooks.

    .venv/bin/python -m bench.http_agents SPEC.json     # prints the result as JSON
"""

from __future__ import annotations

import asyncio
import json
import math
import random
import re
import resource
import secrets
import sys
from collections import defaultdict
from pathlib import Path

import httpx

from bench import webhook_load

REPLY_EVERY_S = 30.0
THINK_S = (4.0, 12.0)


class Tally:
    def __init__(self):
        self.latencies: dict[str, list[float]] = defaultdict(list)
        self.errors: dict[str, list[str]] = defaultdict(list)
        self.window = (0.0, 0.0)

    def add(self, endpoint: str, at: float, seconds: float, error: str | None = None) -> None:
        if endpoint == "login" or self.window[0] <= at < self.window[1]:
            if error:
                self.errors[endpoint].append(error)
            else:
                self.latencies[endpoint].append(seconds)


CSRF_FIELD = re.compile(rb'name="csrfmiddlewaretoken" value="([^"]+)"')


async def _agent(
    spec: dict, tally: Tally, username: str, conversations: list[int], start: float, window
):
    """Log in at ``start``, then (once ``window`` says when) work until its end."""
    loop = asyncio.get_running_loop()
    rng = random.Random(username)
    base = f"http://127.0.0.1:{spec['port']}"
    replies: list[int] = []
    async with httpx.AsyncClient(base_url=base, timeout=60, follow_redirects=False) as client:
        await asyncio.sleep(max(0.0, start - loop.time()))
        at = loop.time()
        try:
            form = await client.get("/login/")
            token = CSRF_FIELD.search(form.content)
            response = await client.post(
                "/login/",
                data={
                    "username": username,
                    "password": spec["password"],
                    "csrfmiddlewaretoken": token.group(1).decode() if token else "",
                },
                headers={"Referer": f"{base}/login/"},
            )
            ok = response.status_code == 302 and "sessionid" in client.cookies
            tally.add("login", at, loop.time() - at, None if ok else str(response.status_code))
        except httpx.HTTPError as exc:
            ok = False
            tally.add("login", at, loop.time() - at, type(exc).__name__)
        window.logged_in()
        if not ok:
            return replies
        client.headers["X-CSRFToken"] = client.cookies.get("csrftoken", "")
        t0, end = await window.opens
        next_reply = t0 + rng.uniform(0, REPLY_EVERY_S)
        current = rng.choice(conversations)
        await asyncio.sleep(max(0.0, t0 - loop.time() - rng.uniform(0, THINK_S[1])))
        step = 0
        while loop.time() < end:
            at = loop.time()
            if at >= next_reply:
                endpoint, expected = "reply", 302
                body = f"{username} reply {len(replies)} {secrets.token_hex(4)}"
                request = client.post(
                    f"/conversations/{current}/reply/",
                    data={"body": body},
                    headers={"Referer": f"{base}/conversations/{current}/"},
                )
                next_reply += REPLY_EVERY_S
            elif step % 2 == 0:
                endpoint, expected = "inbox", 200
                request = client.get("/inbox/")
            else:
                endpoint, expected = "conversation", 200
                current = rng.choice(conversations)
                request = client.get(f"/conversations/{current}/")
            try:
                response = await request
                error = None if response.status_code == expected else str(response.status_code)
            except httpx.HTTPError as exc:
                error = type(exc).__name__
            tally.add(endpoint, at, loop.time() - at, error)
            if endpoint == "reply" and error is None:
                replies.append(current)
            else:
                step += 1
            await asyncio.sleep(rng.uniform(*THINK_S) if endpoint != "reply" else 1.0)
    return replies


async def _webhooks(spec: dict, tally: Tally, requests: list[bytes], window) -> dict:
    loop = asyncio.get_running_loop()
    t0, end = await window.opens
    rate = spec["webhook_rate"]
    stored = 0

    async def one(data: bytes, at: float) -> None:
        nonlocal stored
        try:
            status, ok = await asyncio.wait_for(
                webhook_load._request(spec["port"], data), timeout=60
            )
            error = None if status == 200 and ok else str(status)
        except (OSError, TimeoutError) as exc:
            error = type(exc).__name__
        stored += error is None
        tally.add("webhook", at, loop.time() - at, error)

    tasks = []
    for i, data in enumerate(requests):
        at = t0 + i / rate
        if at >= end:
            break
        delay = at - loop.time()
        if delay > 0:
            await asyncio.sleep(delay)
        tasks.append(asyncio.create_task(one(data, at)))
    await asyncio.gather(*tasks)
    return {"sent": len(tasks), "answered_ok": stored}


class Window:
    """The measured window opens a second after the last agent's login attempt (however long
    the logins took), and the parent learns it from ``flag`` to start its CPU accounting."""

    def __init__(self, agents: int, duration: float, tally: Tally, flag: Path):
        self.loop = asyncio.get_running_loop()
        self.opens = self.loop.create_future()
        self.left, self.duration, self.tally, self.flag = agents, duration, tally, flag

    def logged_in(self) -> None:
        self.left -= 1
        if self.left == 0:
            t0 = self.loop.time() + 1
            self.tally.window = (t0, t0 + self.duration)
            self.loop.call_at(t0, self.flag.write_text, "open")
            self.opens.set_result(self.tally.window)


async def _generate_async(spec: dict) -> dict:
    loop = asyncio.get_running_loop()
    tally = Tally()
    tally.window = (math.inf, math.inf)
    now = loop.time()
    ramp = spec["ramp_s"]
    window = Window(len(spec["agents"]), spec["duration_s"], tally, Path(spec["window_flag"]))
    by_channel: dict[int, list[int]] = defaultdict(list)
    for conv_id, channel_id, _ in spec["open"]:
        by_channel[channel_id].append(conv_id)
    agents = [
        _agent(spec, tally, name, by_channel[channel], now + ramp * i / len(spec["agents"]), window)
        for i, (name, channel) in enumerate(spec["agents"])
    ]
    with open(spec["webhooks"], "rb") as handle:
        bodies = json.load(handle)
    requests = [b.encode("latin-1") for b in bodies]
    results = await asyncio.gather(_webhooks(spec, tally, requests, window), *agents)
    hooks, replies = results[0], results[1:]
    return {
        "latencies": tally.latencies,
        "errors": tally.errors,
        "webhooks": hooks,
        "replies": [c for r in replies for c in r],
        "window_s": spec["duration_s"],
    }


def _generate(spec_path: str) -> None:
    spec = json.loads(Path(spec_path).read_text())
    result = asyncio.run(_generate_async(spec))
    usage = resource.getrusage(resource.RUSAGE_SELF)
    result["generator_cpu_s"] = usage.ru_utime + usage.ru_stime
    sys.stdout.write(json.dumps(result))


if __name__ == "__main__":
    _generate(sys.argv[1])

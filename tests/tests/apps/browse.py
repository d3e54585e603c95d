"""Loads a page in headless Chromium and waits for an element of the app's real UI.

Usage: browse.py <chromium> <url> <css selector> [<screenshot.png>]

Starts Chromium headless with a fresh profile and no background networking, drives it over
the DevTools protocol (websocket-client, which Jupyter Server depends on), loads <url>, and
polls until an element matching <css selector> exists and is displayed. Prints the page
title and the element's text, optionally saves a screenshot, and exits 0; exits 1 with what
the page showed when the element does not appear within 60 s.
"""

import base64
import json
import os
import signal
import subprocess
import sys
import tempfile
import time
import urllib.request

import websocket

DEADLINE = 60
FLAGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--disable-dev-shm-usage",
    "--window-size=1280,800",
    "--remote-debugging-port=0",
]


class Page:
    def __init__(self, ws):
        self.ws, self.next_id = ws, 0

    def call(self, method, **params):
        self.next_id += 1
        self.ws.send(json.dumps({"id": self.next_id, "method": method, "params": params}))
        while True:
            msg = json.loads(self.ws.recv())
            if msg.get("id") == self.next_id:
                if "error" in msg:
                    raise RuntimeError(f"{method}: {msg['error']}")
                return msg.get("result", {})

    def eval(self, expression):
        result = self.call("Runtime.evaluate", expression=expression, returnByValue=True)
        return result.get("result", {}).get("value")


def debugger_url(profile, browser):
    """The first page's DevTools websocket, once Chromium has written its port."""
    port_file = os.path.join(profile, "DevToolsActivePort")
    end = time.monotonic() + DEADLINE
    while time.monotonic() < end:
        if browser.poll() is not None:
            sys.exit(f"chromium exited with {browser.returncode}")
        try:
            with open(port_file) as f:
                port = int(f.readline())
            with urllib.request.urlopen(f"http://127.0.0.1:{port}/json/list", timeout=5) as r:
                pages = [t for t in json.load(r) if t.get("type") == "page"]
            if pages:
                return pages[0]["webSocketDebuggerUrl"]
        except (OSError, ValueError):
            pass
        time.sleep(0.1)
    sys.exit("chromium did not open its DevTools port")


def main():
    chromium, url, selector = sys.argv[1:4]
    shot = sys.argv[4] if len(sys.argv) > 4 else None
    # Chromium's helpers may still write to the profile while they exit.
    with tempfile.TemporaryDirectory(ignore_cleanup_errors=True) as profile:
        # A session of its own, so that its helper processes are stopped with it.
        browser = subprocess.Popen(
            [chromium, *FLAGS, f"--user-data-dir={profile}", "about:blank"],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
            start_new_session=True,
        )
        try:
            ws = websocket.create_connection(debugger_url(profile, browser), timeout=DEADLINE)
            return run(Page(ws), url, selector, shot)
        finally:
            stop(browser)


def stop(browser):
    """SIGTERM to Chromium's process group, SIGKILL to what is left after 10 s."""
    try:
        os.killpg(browser.pid, signal.SIGTERM)
        browser.wait(10)
    except subprocess.TimeoutExpired:
        pass
    except ProcessLookupError:
        return
    try:
        os.killpg(browser.pid, signal.SIGKILL)
    except ProcessLookupError:
        pass
    browser.wait()


def run(page, url, selector, shot):
    page.call("Page.enable")
    page.call("Page.navigate", url=url)
    check = (
        "(() => { const e = document.querySelector(%s);"
        " return e && e.getClientRects().length > 0 ? (e.innerText || e.tagName) : null; })()"
        % json.dumps(selector)
    )
    end = time.monotonic() + DEADLINE
    found = None
    while time.monotonic() < end:
        found = page.eval(check)
        if found is not None:
            break
        time.sleep(0.25)
    title = page.eval("document.title")
    if found is None:
        body = page.eval("document.body ? document.body.innerText.slice(0, 2000) : ''")
        print(f"no {selector} on {url} (title {title!r}); the page shows:\n{body}", file=sys.stderr)
        return 1
    if shot:
        time.sleep(1)  # let fonts and icons settle for the picture
        data = page.call("Page.captureScreenshot", format="png")["data"]
        with open(shot, "wb") as f:
            f.write(base64.b64decode(data))
    print(f"title: {title}")
    print(f"found: {' '.join(str(found).split())[:300]}")
    return 0


if __name__ == "__main__":
    sys.exit(main())

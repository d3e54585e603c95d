"""Runs code in a new kernel of a Jupyter server, as a browser does, and prints its output.

Usage: run_code.py <base url> <page> <code>

Creates a kernel session through the REST API, with the XSRF cookie that loading <page> sets and the
header the server asks of a client without a token (as the app's own page does), executes <code> over the kernel's websocket, prints the
stream output it sends back, and prints `kernel <id>` first so the caller can look for the
kernel's process. Exits non-zero on an error reply or after 60 s without one.
"""

import json
import sys
import time
import urllib.request
import uuid
from http.cookiejar import CookieJar

import websocket  # websocket-client, a dependency of jupyter_server

DEADLINE = 60


def main() -> int:
    base, page, code = sys.argv[1].rstrip("/"), sys.argv[2], sys.argv[3]
    jar = CookieJar()
    opener = urllib.request.build_opener(urllib.request.HTTPCookieProcessor(jar))
    opener.open(f"{base}{page}", timeout=DEADLINE).read()
    xsrf = next((c.value for c in jar if c.name == "_xsrf"), "")
    body = json.dumps(
        {"path": "krunner-check.ipynb", "type": "notebook", "name": "", "kernel": {"name": "python3"}}
    ).encode()
    request = urllib.request.Request(
        f"{base}/api/sessions",
        data=body,
        method="POST",
        headers={"Content-Type": "application/json", "X-XSRFToken": xsrf},
    )
    session = json.load(opener.open(request, timeout=DEADLINE))
    kernel = session["kernel"]["id"]
    print(f"kernel {kernel}", flush=True)
    cookies = "; ".join(f"{c.name}={c.value}" for c in jar)
    client = uuid.uuid4().hex
    ws_url = base.replace("http", "ws", 1) + f"/api/kernels/{kernel}/channels?session_id={client}"
    ws = websocket.create_connection(ws_url, header=[f"Cookie: {cookies}"], timeout=DEADLINE)
    msg_id = uuid.uuid4().hex
    ws.send(
        json.dumps(
            {
                "header": {
                    "msg_id": msg_id,
                    "msg_type": "execute_request",
                    "username": "krunner",
                    "session": client,
                    "version": "5.3",
                },
                "parent_header": {},
                "metadata": {},
                "content": {"code": code, "silent": False, "store_history": False},
                "channel": "shell",
            }
        )
    )
    # The reply comes on the shell channel, the output on iopub: done when both are in.
    replied, idle, status = False, False, 1
    end = time.monotonic() + DEADLINE
    while time.monotonic() < end and not (replied and idle):
        msg = json.loads(ws.recv())
        if msg.get("parent_header", {}).get("msg_id") != msg_id:
            continue
        kind = msg["header"]["msg_type"]
        if kind == "stream":
            print(msg["content"]["text"], end="", flush=True)
        elif kind == "error":
            print("\n".join(msg["content"]["traceback"]), file=sys.stderr)
            return 1
        elif kind == "execute_reply":
            replied, status = True, 0 if msg["content"]["status"] == "ok" else 1
        elif kind == "status" and msg["content"]["execution_state"] == "idle":
            idle = True
    if not (replied and idle):
        print("no execute_reply in time", file=sys.stderr)
        return 2
    return status


if __name__ == "__main__":
    sys.exit(main())

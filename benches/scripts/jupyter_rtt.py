"""The `code "1"` round trip of a Jupyter kernel measured with jupyter_client, for comparison
with the same kernel behind krunner (README, "Jupyter kernels"). Prints the median, in ms, of
execute_request -> execute_reply and of execute_request -> execute_reply and status: idle
(what krunner waits for before `finished`).

usage: python3 jupyter_rtt.py KERNEL [N]
"""

import statistics
import sys
import time

import jupyter_client


def main():
    name = sys.argv[1]
    n = int(sys.argv[2]) if len(sys.argv) > 2 else 200
    km, kc = jupyter_client.manager.start_new_kernel(kernel_name=name)
    try:
        reply_ms, idle_ms = [], []
        for i in range(n + 5):
            start = time.perf_counter()
            msg_id = kc.execute("1")
            while kc.get_shell_msg(timeout=30)["parent_header"].get("msg_id") != msg_id:
                pass
            replied = time.perf_counter()
            while True:
                m = kc.get_iopub_msg(timeout=30)
                if (m["parent_header"].get("msg_id") == msg_id and m["msg_type"] == "status"
                        and m["content"]["execution_state"] == "idle"):
                    break
            idle = time.perf_counter()
            if i >= 5:
                reply_ms.append((replied - start) * 1000)
                idle_ms.append((idle - start) * 1000)
        print(f"{name}: execute_reply {statistics.median(reply_ms):.2f} ms, "
              f"reply and idle {statistics.median(idle_ms):.2f} ms (median of {n})")
    finally:
        kc.stop_channels()
        km.shutdown_kernel(now=True)


if __name__ == "__main__":
    main()

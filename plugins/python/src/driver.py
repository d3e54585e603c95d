"""krunner's Python interpreter driver.

One long-lived interpreter per runner. Commands arrive on stdin as JSON lines; everything
the interpreter produces goes back on the original stdout as framed records ``KIND LEN\\n`` +
``LEN`` bytes. User code runs in the main thread in one persistent namespace; a reader thread
takes input replies and completion requests even while user code runs. File descriptors 1 and 2
are pipes read by two threads, so output of C extensions and child processes is captured too.
"""

import ast
import base64
import builtins
import codeop
import io
import json
import os
import queue
import re
import signal
import sys
import threading
import traceback
import types
import warnings

_CTL_FD = os.dup(1)
_ctl_lock = threading.Lock()
_MAIN = threading.main_thread()
_deferred = []


def _defer(signum, frame):
    _deferred.append(signum)


# The host takes a record of more than 64 MiB for a corrupt stream (MAX_RECORD in
# plugins/common/repl/src/records.rs): output goes in pieces of at most 1 MiB, and larger rich
# output is refused here.
_MAX_RECORD = 64 << 20
_PIECE = 1 << 20


def _frames(kind, data):
    if kind in ("out", "err"):
        pieces = [data[i:i + _PIECE] for i in range(0, len(data), _PIECE)] or [b""]
    elif len(data) > _MAX_RECORD:
        pieces = [b"krunner: a %d-byte %s record is over the 64 MiB limit; not shown\n"
                  % (len(data), kind.encode("ascii"))]
        kind = "err"
    else:
        pieces = [data]
    return b"".join(b"%s %d\n" % (kind.encode("ascii"), len(p)) + p for p in pieces)


def send(kind, data):
    """Writes one record (user output: as many as it takes). In the main thread, an interrupt
    that arrives meanwhile is raised only after the record is complete, so the stream never
    holds half a record."""
    if isinstance(data, str):
        data = data.encode("utf-8", "replace")
    frame = _frames(kind, data)
    in_main = threading.current_thread() is _MAIN
    previous = signal.getsignal(signal.SIGINT) if in_main else None
    try:
        if in_main:
            signal.signal(signal.SIGINT, _defer)
        with _ctl_lock:
            view = memoryview(frame)
            while view:
                n = os.write(_CTL_FD, view)
                view = view[n:]
    finally:
        if in_main:
            signal.signal(signal.SIGINT, previous)
            if _deferred:
                del _deferred[:]
                raise KeyboardInterrupt


_CMD = os.fdopen(os.dup(0), "rb")
_null = os.open(os.devnull, os.O_RDONLY)
os.dup2(_null, 0)
os.close(_null)
sys.stdin = open(os.devnull, "r")

# --- output capture -------------------------------------------------------------------

_SYNC = b"\x00krunner-sync-%s\x00" % os.urandom(8).hex().encode()


class _FdPump(threading.Thread):
    """Forwards what is written to fd 1 or 2 (C code, child processes) as records."""

    def __init__(self, fd, kind):
        super().__init__(daemon=True)
        r, w = os.pipe()
        os.dup2(w, fd)
        os.close(w)
        self.read_fd = r
        self.kind = kind
        self.synced = threading.Event()

    def run(self):
        pending = b""
        while True:
            try:
                chunk = os.read(self.read_fd, 1 << 16)
            except InterruptedError:
                continue
            if not chunk:
                return
            pending += chunk
            while True:
                at = pending.find(_SYNC)
                if at < 0:
                    break
                if at:
                    send(self.kind, pending[:at])
                pending = pending[at + len(_SYNC):]
                self.synced.set()
            keep = 0
            for k in range(min(len(_SYNC) - 1, len(pending)), 0, -1):
                if _SYNC.startswith(pending[-k:]):
                    keep = k
                    break
            if len(pending) > keep:
                send(self.kind, pending[: len(pending) - keep])
                pending = pending[len(pending) - keep:]


_pumps = [_FdPump(1, "out"), _FdPump(2, "err")]
for _p in _pumps:
    _p.start()


def _sync_fds():
    """Waits until everything written to fd 1 and 2 so far has been forwarded."""
    for p in _pumps:
        p.synced.clear()
    for fd in (1, 2):
        try:
            os.write(fd, _SYNC)
        except OSError:
            pass
    for p in _pumps:
        p.synced.wait(2.0)


def _write_fd(fd, data):
    view = memoryview(data)
    while view:
        view = view[os.write(fd, view):]


class _Raw(io.RawIOBase):
    def __init__(self, fd):
        self._fd = fd

    def writable(self):
        return True

    def write(self, b):
        _write_fd(self._fd, bytes(b))
        return len(b)


class _Stream(io.TextIOBase):
    """sys.stdout / sys.stderr, line-buffered like a terminal. Text goes to fd 1 / fd 2 like
    everything else written there (by C code, child processes), so one pipe per stream keeps
    all of a stream's output in order: complete lines go out as they are written, the rest on
    flush(), before any other record, and at the end of the query."""

    def __init__(self, kind, fd):
        self.kind = kind
        self._fd = fd
        self._parts = []
        self._lock = threading.RLock()
        self.buffer = _Raw(fd)

    encoding = "utf-8"
    errors = "replace"

    def writable(self):
        return True

    def write(self, s):
        if not isinstance(s, str):
            raise TypeError("write() argument must be str, not %s" % type(s).__name__)
        if s:
            with self._lock:
                self._parts.append(s)
                if "\n" in s:
                    text = "".join(self._parts)
                    cut = text.rindex("\n") + 1
                    self._parts = [text[cut:]] if cut < len(text) else []
                    _write_fd(self._fd, text[:cut].encode("utf-8", "replace"))
        return len(s)

    def flush(self):
        with self._lock:
            if self._parts:
                text = "".join(self._parts)
                self._parts = []
                if text:
                    _write_fd(self._fd, text.encode("utf-8", "replace"))

    def isatty(self):
        return False

    def fileno(self):
        return self._fd


_stdout = _Stream("out", 1)
_stderr = _Stream("err", 2)
sys.stdout = sys.__stdout__ = _stdout
sys.stderr = sys.__stderr__ = _stderr


def _flush_streams():
    """Puts all output so far ahead of the record about to be sent."""
    _stdout.flush()
    _stderr.flush()
    _sync_fds()

# --- rich output ----------------------------------------------------------------------


def _media(mime, data):
    _flush_streams()
    send("media", json.dumps({"type": mime, "data": data}))


def _data_uri(mime, data):
    if isinstance(data, str):
        data = data.encode("ascii")
    return "data:%s;base64,%s" % (mime, base64.b64encode(data).decode("ascii"))


def _display_one(obj):
    if not isinstance(obj, type):
        for method, mime in (
            ("_repr_html_", "text/html"),
            ("_repr_svg_", "image/svg+xml"),
            ("_repr_png_", "image/png"),
            ("_repr_jpeg_", "image/jpeg"),
        ):
            f = getattr(obj, method, None)
            if not callable(f):
                continue
            data = f()
            if data is None:
                continue
            if isinstance(data, tuple):
                data = data[0]
            if mime == "text/html":
                _flush_streams()
                send("html", data)
            elif mime == "image/svg+xml":
                _media(mime, data if isinstance(data, str) else data.decode("utf-8"))
            elif isinstance(data, (bytes, bytearray)):
                _media(mime, _data_uri(mime, bytes(data)))
            else:
                _media(mime, _data_uri(mime, base64.b64decode(data)))
            return
        savefig = getattr(obj, "savefig", None)
        if callable(savefig) and type(obj).__name__ == "Figure":
            _show_figure(obj)
            return
    _stdout.write(repr(obj) + "\n")


def display(*objs, **_kwargs):
    """Shows objects richly: HTML, SVG, PNG or JPEG when they can, else their repr."""
    for obj in objs:
        _display_one(obj)


builtins.display = display

# --- matplotlib: plt.show() emits each figure --------------------------------------------

MPL_FORMAT = os.environ.get("KRUNNER_MPL_FORMAT", "svg")


def _show_figure(fig):
    buf = io.BytesIO()
    fmt = "png" if MPL_FORMAT == "png" else "svg"
    fig.savefig(buf, format=fmt, bbox_inches="tight")
    if fmt == "svg":
        _media("image/svg+xml", buf.getvalue().decode("utf-8"))
    else:
        _media("image/png", _data_uri("image/png", buf.getvalue()))


class _MplBackendFinder:
    """Provides ``module://krunner_mpl`` when matplotlib asks for it."""

    def find_spec(self, name, path=None, target=None):
        if name != "krunner_mpl":
            return None
        import importlib.util

        return importlib.util.spec_from_loader(name, self)

    def create_module(self, spec):
        return None

    def exec_module(self, module):
        from matplotlib.backend_bases import FigureManagerBase
        from matplotlib.backends.backend_agg import FigureCanvasAgg

        def show(*args, **kwargs):
            import matplotlib.pyplot as plt

            for num in plt.get_fignums():
                _show_figure(plt.figure(num))
            plt.close("all")

        module.FigureCanvas = FigureCanvasAgg
        module.FigureManager = FigureManagerBase
        module.show = show


sys.meta_path.append(_MplBackendFinder())
os.environ.setdefault("MPLBACKEND", "module://krunner_mpl")

# --- input ----------------------------------------------------------------------------

_inputs = queue.Queue()
_CANCEL = object()


def _ask(prompt, password):
    prompt = str(prompt)
    if len(prompt) > _PIECE:
        # Too long for a record: shown as output, like every prompt.
        _stdout.write(prompt)
        prompt = ""
    _flush_streams()
    try:
        send("input", json.dumps({"prompt": prompt, "password": bool(password)}))
    except KeyboardInterrupt:
        # Interrupted while the request was being written: it is out, and the plugin will
        # answer it or cancel it; wait for that.
        pass
    answer = _inputs.get()
    if answer is _CANCEL:
        raise KeyboardInterrupt
    return answer


def _input(prompt=""):
    return _ask(prompt, False)


def _getpass(prompt="Password: ", stream=None):
    return _ask(prompt, True)


builtins.input = _input
try:
    import getpass as _getpass_module

    _getpass_module.getpass = _getpass
except Exception:  # noqa: BLE001 - getpass is optional
    pass

# --- completion -----------------------------------------------------------------------

_main = types.ModuleType("__main__")
_main.__builtins__ = builtins
sys.modules["__main__"] = _main
_ns = _main.__dict__


_jedi = {"state": "cold"}


def _warm_jedi():
    try:
        import jedi

        jedi.Interpreter("", [{}]).complete(1, 0)
        _jedi["state"] = "warm"
    except Exception:  # noqa: BLE001 - jedi is optional
        _jedi["state"] = "missing"


def _complete(req):
    """Completions from the live namespace: jedi once it has warmed up (its first use takes
    seconds), rlcompleter meanwhile and when jedi is not installed."""
    code = req.get("code") or req.get("line") or ""
    line = req.get("line") or code
    col = req.get("col")
    if not isinstance(col, int) or col < 0 or col > len(line):
        col = len(line)
    if _jedi["state"] == "cold":
        _jedi["state"] = "warming"
        threading.Thread(target=_warm_jedi, daemon=True).start()
    try:
        if _jedi["state"] != "warm":
            raise ImportError("jedi is not ready")
        import jedi

        row = req.get("row")
        source = code if isinstance(row, int) and code else line
        lines = source.splitlines() or [""]
        row = row if isinstance(row, int) and 0 <= row < len(lines) and code else len(lines) - 1
        column = min(col, len(lines[row])) if code and isinstance(req.get("row"), int) else len(lines[row])
        script = jedi.Interpreter(source, [_ns])
        return [c.name for c in script.complete(row + 1, column)][:200]
    except ImportError:
        pass
    except Exception:  # noqa: BLE001 - completion must never fail
        return []
    import rlcompleter

    token = re.search(r"[\w.]*$", line[:col]).group()
    completer = rlcompleter.Completer(_ns)
    found = []
    for i in range(200):
        try:
            c = completer.complete(token, i)
        except Exception:  # noqa: BLE001
            break
        if c is None:
            break
        found.append(c.rsplit(".", 1)[-1].rstrip("("))
    return found


# --- is the snippet complete? ----------------------------------------------------------


def _indent_after(line):
    """The indentation of the line after ``line`` in an open block."""
    indent = line[: len(line) - len(line.lstrip())]
    if line.rstrip().endswith(":"):
        indent += "    "
    return indent


def _is_complete(code):
    """Like IPython's check_complete, with codeop: ``incomplete`` while a bracket, string or
    block is open (a block ends at a blank line), ``invalid`` when no more lines can help,
    else ``complete``."""
    if not isinstance(code, str):
        return {"status": "invalid"}
    lines = code.split("\n")
    if not code.strip():
        return {"status": "complete"}
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            compiled = codeop.compile_command(code, "<input>", "exec")
    except (SyntaxError, OverflowError, ValueError, TypeError):
        return {"status": "invalid"}
    if compiled is None:
        return {"status": "incomplete", "indent": _indent_after(lines[-1])}
    last = lines[-1]
    if last.strip() and last[:1] in (" ", "\t"):
        # Inside a block that may go on: a blank line ends it.
        return {"status": "incomplete", "indent": _indent_after(last)}
    return {"status": "complete"}


# --- commands -------------------------------------------------------------------------

_jobs = queue.Queue()


def _reader():
    for raw in _CMD:
        try:
            cmd = json.loads(raw)
        except ValueError:
            continue
        op = cmd.get("op")
        if op == "exec":
            _jobs.put(cmd)
        elif op == "input":
            _inputs.put(cmd.get("text", ""))
        elif op == "input-cancel":
            _inputs.put(_CANCEL)
        elif op == "complete":
            try:
                suggestions = _complete(cmd)
            except Exception:  # noqa: BLE001
                suggestions = []
            send("completion", json.dumps({"id": cmd.get("id"), "suggestions": suggestions}))
        elif op == "is-complete":
            try:
                verdict = _is_complete(cmd.get("code", ""))
            except Exception:  # noqa: BLE001 - an answer is always due
                verdict = {"status": "unknown"}
            verdict["id"] = cmd.get("id")
            send("is-complete", json.dumps(verdict))
    _jobs.put(None)


def _user_traceback(exc):
    tb = exc.__traceback__
    while tb is not None and tb.tb_frame.f_code.co_filename != "<input>":
        tb = tb.tb_next
    lines = traceback.format_exception(type(exc), exc, tb)
    if tb is None and not isinstance(exc, SyntaxError):
        lines = ["Traceback (most recent call last):\n"] + traceback.format_exception_only(type(exc), exc)
    return "".join(lines)


def _run(code):
    """Runs one snippet; returns its exit code."""
    try:
        tree = ast.parse(code, "<input>", "exec")
        last = None
        if tree.body and isinstance(tree.body[-1], ast.Expr):
            last = ast.Expression(tree.body.pop().value)
        exec(compile(tree, "<input>", "exec"), _ns)
        if last is not None:
            value = eval(compile(last, "<input>", "eval"), _ns)
            if value is not None:
                _ns["_"] = value
                _display_one(value)
        return 0
    except SystemExit as e:
        if e.code is None:
            return 0
        if isinstance(e.code, int):
            return e.code
        sys.stderr.write(str(e.code) + "\n")
        return 1
    except KeyboardInterrupt as e:
        sys.stderr.write(_user_traceback(e))
        return 130
    except BaseException as e:  # noqa: BLE001 - report everything the user code raised
        sys.stderr.write(_user_traceback(e))
        return 1


def _finish(job, code):
    """Flushes output, then sends the job's done record (despite late interrupts)."""
    for _ in range(3):
        try:
            _flush_streams()
            break
        except KeyboardInterrupt:
            continue
    try:
        send("done", json.dumps({"id": job.get("id"), "exit": code}))
    except KeyboardInterrupt:
        pass  # raised after the record was written completely


def main():
    threading.Thread(target=_reader, daemon=True).start()
    send("ready", "")
    while True:
        job = None
        try:
            job = _jobs.get()
            if job is None:
                return
            # Answers and cancellations meant for an earlier, interrupted query.
            while not _inputs.empty():
                _inputs.get_nowait()
            code = _run(job.get("code", ""))
        except KeyboardInterrupt:
            code = 130
        if job is not None:
            _finish(job, code)


if __name__ == "__main__":
    signal.signal(signal.SIGINT, signal.default_int_handler)
    main()

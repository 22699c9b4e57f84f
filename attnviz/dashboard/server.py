"""Start the dashboard: bind loopback only (unless asked), print the address, stop cleanly on Ctrl-C.

    python -m attnviz.dashboard                     # http://127.0.0.1:8050
    python -m attnviz.dashboard --port 8123
    python -m attnviz.dashboard --host 0.0.0.0 --allow-remote   # other machines can reach it: on purpose only

The server is werkzeug's threaded WSGI server (what Dash runs on), without Flask's debugger or reloader.
"""

from __future__ import annotations

import ipaddress
import os
import socket
import sys
import threading

from attnviz.cli import OneLineParser

DEFAULT_PORT = 8050


class RemoteBindError(ValueError):
    """A non-loopback address was asked for without ``--allow-remote``."""


def check_host(host: str, allow_remote: bool = False) -> str:
    """``host`` if it is a loopback address (``127.0.0.0/8``, ``::1``, ``localhost``) or ``allow_remote``.

    Anything else — ``0.0.0.0``, a LAN address, a name that resolves elsewhere — would let other machines
    use the dashboard (and the models on this one), so it needs the explicit flag.
    """
    if not isinstance(host, str) or not host.strip():
        raise RemoteBindError(f"host: got {host!r}; expected an address such as 127.0.0.1")
    host = host.strip()
    if allow_remote:
        return host
    try:
        loopback = ipaddress.ip_address(host.strip("[]")).is_loopback
    except ValueError:  # a name: every address it resolves to must be loopback
        try:
            addresses = {info[4][0] for info in socket.getaddrinfo(host, None)}
        except OSError:
            addresses = set()
        loopback = bool(addresses) and all(ipaddress.ip_address(a.split("%")[0]).is_loopback for a in addresses)
    if not loopback:
        raise RemoteBindError(f"host: {host!r} is not a loopback address; the dashboard binds 127.0.0.1 only, "
                              "unless you pass --allow-remote to let other machines reach it")
    return host


def _quiet_handler():
    from werkzeug.serving import WSGIRequestHandler

    class QuietHandler(WSGIRequestHandler):
        """No line per request (the page makes dozens per redraw); errors are still logged."""

        def log_request(self, code="-", size="-"):
            if str(code).startswith(("4", "5")):
                super().log_request(code, size)

    return QuietHandler


class DashboardServer:
    """The app on a werkzeug server: ``.url``, ``.serve_forever()``, or ``.start()`` in a thread and ``.stop()``."""

    def __init__(self, host: str = "127.0.0.1", port: int = DEFAULT_PORT, *, allow_remote: bool = False,
                 max_tokens: int | None = None, log_requests: bool = False):
        host = check_host(host, allow_remote)  # before anything is loaded or bound
        from werkzeug.serving import WSGIRequestHandler, make_server

        from attnviz.dashboard import compute
        from attnviz.dashboard.app import create_app

        self.app = create_app(max_tokens or compute.MAX_TOKENS)
        handler = WSGIRequestHandler if log_requests else _quiet_handler()
        self.server = make_server(host, port, self.app.server, threaded=True, request_handler=handler)
        self.host, self.port = host, self.server.server_port  # port 0 -> the free port the system chose
        self._thread: threading.Thread | None = None

    @property
    def url(self) -> str:
        host = f"[{self.host}]" if ":" in self.host else self.host
        return f"http://{host}:{self.port}/"

    def serve_forever(self) -> None:
        self.server.serve_forever()

    def start(self) -> DashboardServer:
        self._thread = threading.Thread(target=self.serve_forever, name="attnviz-dashboard", daemon=True)
        self._thread.start()
        return self

    def stop(self) -> None:
        self.server.shutdown()
        self.server.server_close()
        if self._thread is not None:
            self._thread.join(timeout=10)


def warm_up() -> None:
    """Load the default model and compute every panel of the default sentence once, so that the first page,
    and the first sentence typed, do not pay for the one-time work (imports, the flow solver's compilation,
    the first backward pass)."""
    from attnviz.dashboard import compute

    a = compute.analyse(compute.DEFAULT_MODEL, compute.DEFAULT_TEXTS["encoder"])
    compute.views_data(a)
    compute.rollout(a)
    compute.flow_row(a, 0)
    compute.gradient_relevance(a, compute.default_target(a), compute.DEFAULT_OTHER)


def main(argv=None) -> int:
    parser = OneLineParser(prog="python -m attnviz.dashboard",
                           description="Serve the live attention dashboard (offline) on this machine.")
    parser.add_argument("--host", default="127.0.0.1", help="address to bind (default: 127.0.0.1, loopback only)")
    parser.add_argument("--port", type=int, default=DEFAULT_PORT, help=f"port (default: {DEFAULT_PORT}; 0 = any free)")
    parser.add_argument("--allow-remote", action="store_true",
                        help="allow a non-loopback --host, so other machines can reach the dashboard")
    parser.add_argument("--max-tokens", type=int, default=None, help="longer inputs are truncated (default: 128)")
    parser.add_argument("--threads", type=int, default=1,
                        help="torch threads per computation (default: 1 — Dash answers the panels in parallel "
                             "threads, and more torch threads per panel only compete for the same cores)")
    parser.add_argument("--log-requests", action="store_true", help="print one line per HTTP request")
    parser.add_argument("--no-warm-up", action="store_true", help="do not load the default model before serving")
    args = parser.parse_args(argv)
    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")
    os.environ.setdefault("MPLBACKEND", "Agg")
    if args.max_tokens is not None and not 2 <= args.max_tokens <= 512:
        print(f"error: --max-tokens: got {args.max_tokens}; expected 2 to 512", file=sys.stderr)
        return 2
    if args.threads < 1:
        print(f"error: --threads: got {args.threads}; expected 1 or more", file=sys.stderr)
        return 2
    import signal

    import torch

    # Ctrl-C stops the server even when it was started from a script that ignores or blocks SIGINT (a shell runs
    # background jobs with SIGINT ignored, and a child inherits both): Python only turns SIGINT into
    # KeyboardInterrupt when the signal arrives and its handler is the default one.
    signal.signal(signal.SIGINT, signal.default_int_handler)
    signal.pthread_sigmask(signal.SIG_UNBLOCK, {signal.SIGINT})
    torch.set_num_threads(args.threads)
    try:
        server = DashboardServer(args.host, args.port, allow_remote=args.allow_remote, max_tokens=args.max_tokens,
                                 log_requests=args.log_requests)
    except RemoteBindError as err:
        print(f"error: {err}", file=sys.stderr)
        return 2
    except OSError as err:
        print(f"error: cannot listen on {args.host}:{args.port} ({err.strerror or err}); try --port <another>",
              file=sys.stderr)
        return 2
    if not args.no_warm_up:
        print("loading the default model ...", flush=True)
        warm_up()
    print(f"attnviz dashboard: {server.url}  (Ctrl-C stops it)", flush=True)
    try:
        server.serve_forever()  # werkzeug's server returns (or we get the interrupt) on Ctrl-C
    except KeyboardInterrupt:
        pass
    finally:
        server.server.server_close()
    print("\nstopped", flush=True)
    return 0

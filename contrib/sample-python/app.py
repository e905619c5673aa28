"""berth sample Python app: a dependency-free HTTP server on $PORT.

GET / greets with the release and commit berth sets; GET /health returns "ok".
"""
import os
import signal
import sys
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

PORT = int(os.environ.get("PORT") or 5000)
GREETING = os.environ.get("GREETING") or "Hello"
RELEASE = os.environ.get("BERTH_RELEASE") or "unknown"
COMMIT = (os.environ.get("SOURCE_VERSION") or "")[:7] or "unknown"


class Handler(BaseHTTPRequestHandler):
    def do_GET(self):
        if self.path == "/":
            status, body = 200, f"Hello from berth (Python)! {GREETING} — release {RELEASE}, commit {COMMIT}\n"
        elif self.path == "/health":
            status, body = 200, "ok\n"
        else:
            status, body = 404, "not found\n"
        data = body.encode("utf-8")
        self.send_response(status)
        self.send_header("Content-Type", "text/plain; charset=utf-8")
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    def log_message(self, fmt, *args):
        print(f"{self.address_string()} {fmt % args}", flush=True)


def on_sigterm(signum, frame):
    print("SIGTERM received, shutting down", flush=True)
    raise SystemExit(0)


if __name__ == "__main__":
    signal.signal(signal.SIGTERM, on_sigterm)
    server = ThreadingHTTPServer(("", PORT), Handler)
    print(f"listening on port {PORT}", flush=True)
    try:
        server.serve_forever()
    finally:
        server.server_close()
    sys.exit(0)

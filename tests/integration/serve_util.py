"""`ragd serve` for tests: started on a free loopback port, stopped with
SIGTERM, its JSON log lines collected."""
import atexit
import http.client
import json
import signal
import subprocess
import sys
import threading

from harness import ragd_path, sanitized, timeout_scale

# The sanitizer build runs the encoder many times slower; memcheck more.
TIMEOUT = (120 if sanitized() else 30) * timeout_scale()


class Server:
    """ragd serve on a free loopback port; stderr collected line by line."""

    def __init__(self, data, *extra, no_auth=True):
        self.proc = subprocess.Popen(
            [ragd_path(), "--data", data, "serve", "--listen", "127.0.0.1:0",
             *(["--no-auth"] if no_auth else []), "--workers", "2", *extra],
            stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
        atexit.register(self.kill)  # never left running when a test dies
        self.lines = []
        self.port = None
        ready = threading.Event()

        def pump():
            for line in self.proc.stderr:
                self.lines.append(line)
                if '"event":"listening"' in line:
                    self.port = int(json.loads(line)["url"].rsplit(":", 1)[1])
                    ready.set()
            ready.set()
        self.reader = threading.Thread(target=pump, daemon=True)
        self.reader.start()
        ready.wait(TIMEOUT * 2)
        if self.port is None:
            self.proc.kill()
            sys.exit("ragd serve did not start:\n" + "".join(self.lines[-20:]))

    def conn(self):
        return http.client.HTTPConnection("127.0.0.1", self.port, timeout=TIMEOUT)

    def request(self, method, path, body=None, headers=None, raw=None):
        c = self.conn()
        data = raw if raw is not None else (json.dumps(body).encode() if body is not None else None)
        c.request(method, path, body=data, headers=headers or {})
        r = c.getresponse()
        payload = r.read()
        c.close()
        try:
            obj = json.loads(payload)
        except ValueError:
            obj = None
        return r.status, dict(r.getheaders()), obj, payload

    def stop(self):
        self.proc.send_signal(signal.SIGTERM)
        try:
            return self.proc.wait(TIMEOUT)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            return None

    def kill(self):
        if self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait()

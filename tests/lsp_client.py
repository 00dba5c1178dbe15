"""A small Language Server Protocol client: JSON-RPC 2.0 over a server's stdin and stdout.

The tests use it to drive yaml-language-server exactly as an editor does: start it with
`--stdio`, `initialize` with the client's capabilities, answer its `workspace/configuration`
requests with the editor settings under test, open documents with `textDocument/didOpen`, ask
for completion and hover, and collect the diagnostics it publishes. Every wait has a timeout, so
a server that hangs fails the test that waited instead of hanging the test run.
"""
from __future__ import annotations

import json
import os
import queue
import shutil
import subprocess
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable

ROOT = Path(__file__).resolve().parent.parent
SERVER_PACKAGE = ROOT / "node_modules" / "yaml-language-server"
SERVER_SCRIPT = SERVER_PACKAGE / "bin" / "yaml-language-server"

TIMEOUT = 20.0          # seconds for one request, or for diagnostics to arrive
SHUTDOWN_TIMEOUT = 5.0  # seconds for the server to exit after `exit`


class LspError(Exception):
    """The server answered with an error, broke the protocol, died, or did not answer in time."""


NPM_CI = ["npm", "ci", "--no-audit", "--no-fund", "--silent"]
NPM_TIMEOUT = 600.0


def unavailable_reason() -> str | None:
    """Why yaml-language-server cannot be started here; None when it can. The first time, with
    node and npm at hand, it installs the server package-lock.json pins (`npm ci`), so that the
    README's test command sets the editor tests up by itself."""
    if shutil.which("node") is None:
        return "node is not installed"
    if not SERVER_SCRIPT.is_file():
        if shutil.which("npm") is None:
            return "yaml-language-server is not installed, and npm is not there to install it"
        try:
            done = subprocess.run(NPM_CI, cwd=ROOT, capture_output=True, text=True,
                                  timeout=NPM_TIMEOUT)
        except subprocess.TimeoutExpired:
            return f"npm ci did not finish in {NPM_TIMEOUT:.0f} s"
        if done.returncode != 0 or not SERVER_SCRIPT.is_file():
            last = (done.stderr.strip().splitlines() or ["no output"])[-1]
            return f"npm ci could not install yaml-language-server: {last}"
    return None


def server_version() -> str:
    return json.loads((SERVER_PACKAGE / "package.json").read_text(encoding="utf-8"))["version"]


def file_uri(path: Path | str) -> str:
    return Path(path).resolve().as_uri()


@dataclass
class Diagnostic:
    line: int         # 0-based, as in LSP
    character: int    # 0-based
    end_line: int
    end_character: int
    severity: int     # 1 error, 2 warning, 3 information, 4 hint
    message: str
    source: str | None = None
    raw: dict = field(default_factory=dict, repr=False)

    @classmethod
    def from_lsp(cls, d: dict) -> "Diagnostic":
        start, end = d["range"]["start"], d["range"]["end"]
        return cls(start["line"], start["character"], end["line"], end["character"],
                   d.get("severity", 1), d["message"], d.get("source"), d)


class LanguageServer:
    """One running language server and the client side of its connection.

    `settings` is what the client answers to `workspace/configuration`, by section name
    (`{"yaml": {"schemas": {...}}}`), as an editor answers from its settings file.
    """

    def __init__(self, command: list[str], *, root: Path, settings: dict[str, Any] | None = None,
                 env: dict[str, str] | None = None):
        self.root = root
        self.settings = settings or {}
        self._proc = subprocess.Popen(command, stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                                      stderr=subprocess.PIPE, cwd=root,
                                      env={**os.environ, **(env or {})})
        self._write_lock = threading.Lock()
        self._next_id = 0
        self._responses: dict[int, queue.Queue] = {}
        self._responses_lock = threading.Lock()
        self._diagnostics: dict[str, tuple[int, list[dict]]] = {}   # uri -> (generation, items)
        self._generation = 0
        self._changed = threading.Condition()
        self._versions: dict[str, int] = {}
        self.log: list[dict] = []       # window/logMessage and showMessage notifications
        self.stderr: list[str] = []
        self.server_requests: list[str] = []  # methods of the requests the server sent us
        self._closed = False
        self._reader = threading.Thread(target=self._read_loop, name="lsp-reader", daemon=True)
        self._reader.start()
        threading.Thread(target=self._drain_stderr, name="lsp-stderr", daemon=True).start()

    # -- starting and stopping ---------------------------------------------------------------

    @classmethod
    def yaml_language_server(cls, *, root: Path = ROOT, settings: dict[str, Any] | None = None,
                             capabilities: dict | None = None) -> "LanguageServer":
        """Start the pinned yaml-language-server over stdio and initialize it."""
        reason = unavailable_reason()
        if reason is not None:
            raise LspError(reason)
        server = cls([shutil.which("node"), str(SERVER_SCRIPT), "--stdio"], root=root,
                     settings=settings)
        try:
            server.initialize(capabilities)
        except BaseException:
            server.close()
            raise
        return server

    def initialize(self, capabilities: dict | None = None) -> dict:
        result = self.request("initialize", {
            "processId": os.getpid(),
            "clientInfo": {"name": "tlspec-tests", "version": "1"},
            "rootUri": file_uri(self.root),
            "rootPath": str(self.root),
            "workspaceFolders": [{"uri": file_uri(self.root), "name": self.root.name}],
            "capabilities": capabilities or EDITOR_CAPABILITIES,
            "initializationOptions": {},
        })
        self.notify("initialized", {})
        # An editor announces its settings after start-up; the server then pulls them with
        # workspace/configuration, answered by _on_request from self.settings.
        self.notify("workspace/didChangeConfiguration", {"settings": self.settings})
        self.capabilities = result.get("capabilities", {})
        return result

    def close(self) -> None:
        if self._closed:
            return
        self._closed = True
        try:
            if self._proc.poll() is None:
                try:
                    self.request("shutdown", None, timeout=SHUTDOWN_TIMEOUT)
                    self.notify("exit", None)
                except (LspError, OSError):
                    pass
                try:
                    self._proc.wait(timeout=SHUTDOWN_TIMEOUT)
                except subprocess.TimeoutExpired:
                    self._proc.kill()
                    self._proc.wait(timeout=SHUTDOWN_TIMEOUT)
        finally:
            for stream in (self._proc.stdin, self._proc.stdout, self._proc.stderr):
                try:
                    stream.close()
                except OSError:
                    pass

    def __enter__(self) -> "LanguageServer":
        return self

    def __exit__(self, *exc) -> None:
        self.close()

    # -- JSON-RPC -------------------------------------------------------------------------------

    def _send(self, message: dict) -> None:
        body = json.dumps({"jsonrpc": "2.0", **message}).encode("utf-8")
        with self._write_lock:
            if self._proc.poll() is not None:
                raise LspError(f"the server exited with status {self._proc.returncode}"
                               + self._stderr_tail())
            self._proc.stdin.write(b"Content-Length: %d\r\n\r\n" % len(body) + body)
            self._proc.stdin.flush()

    def notify(self, method: str, params: Any) -> None:
        self._send({"method": method, "params": params})

    def request(self, method: str, params: Any, *, timeout: float = TIMEOUT) -> Any:
        with self._responses_lock:
            self._next_id += 1
            request_id = self._next_id
            answer: queue.Queue = queue.Queue(maxsize=1)
            self._responses[request_id] = answer
        try:
            self._send({"id": request_id, "method": method, "params": params})
            try:
                response = answer.get(timeout=timeout)
            except queue.Empty:
                raise LspError(f"no answer to {method} within {timeout:g} s"
                               + self._stderr_tail()) from None
        finally:
            with self._responses_lock:
                self._responses.pop(request_id, None)
        if response is None:
            raise LspError(f"the server closed the connection during {method}"
                           + self._stderr_tail())
        if "error" in response:
            raise LspError(f"{method} failed: {response['error']}")
        return response.get("result")

    def _read_message(self) -> dict | None:
        stream = self._proc.stdout
        length = None
        while True:
            line = stream.readline()
            if not line:
                return None                       # end of stream: the server is gone
            line = line.strip()
            if not line:
                break                             # end of the header
            name, _, value = line.decode("ascii").partition(":")
            if name.lower() == "content-length":
                length = int(value)
        if length is None:
            raise LspError("a message without Content-Length")
        body = stream.read(length)
        if len(body) < length:
            return None
        return json.loads(body)

    def _read_loop(self) -> None:
        try:
            while True:
                message = self._read_message()
                if message is None:
                    break
                if "method" in message and "id" in message:
                    self._on_request(message)
                elif "method" in message:
                    self._on_notification(message)
                else:
                    with self._responses_lock:
                        answer = self._responses.get(message.get("id"))
                    if answer is not None:
                        answer.put(message)
        except (OSError, ValueError, LspError) as err:
            self.stderr.append(f"[client] reader stopped: {err!r}\n")
        finally:
            with self._responses_lock:       # wake every waiter: no answer is coming
                for answer in self._responses.values():
                    if answer.empty():
                        answer.put(None)
            with self._changed:
                self._changed.notify_all()

    def _drain_stderr(self) -> None:
        for line in iter(self._proc.stderr.readline, b""):
            self.stderr.append(line.decode("utf-8", "replace"))

    def _stderr_tail(self) -> str:
        tail = "".join(self.stderr[-20:]).strip()
        return f"\nserver stderr:\n{tail}" if tail else ""

    # -- what the server asks of the client ----------------------------------------------------

    def _on_request(self, message: dict) -> None:
        method, params = message["method"], message.get("params") or {}
        self.server_requests.append(method)
        result: Any = None
        if method == "workspace/configuration":
            result = [self._setting(item.get("section")) for item in params.get("items", [])]
        elif method == "workspace/workspaceFolders":
            result = [{"uri": file_uri(self.root), "name": self.root.name}]
        # client/registerCapability, window/workDoneProgress/create and the like: accept.
        self._send({"id": message["id"], "result": result})

    def _setting(self, section: str | None) -> Any:
        if not section:
            return self.settings
        node: Any = self.settings
        for part in section.split("."):
            if not isinstance(node, dict) or part not in node:
                return None
            node = node[part]
        return node

    def _on_notification(self, message: dict) -> None:
        method, params = message["method"], message.get("params") or {}
        if method == "textDocument/publishDiagnostics":
            with self._changed:
                self._generation += 1
                self._diagnostics[params["uri"]] = (self._generation, params.get("diagnostics", []))
                self._changed.notify_all()
        elif method in ("window/logMessage", "window/showMessage"):
            self.log.append(params)

    # -- documents ---------------------------------------------------------------------------------

    def open(self, uri: str, text: str, language: str = "yaml") -> None:
        self._versions[uri] = 1
        self.notify("textDocument/didOpen", {"textDocument": {
            "uri": uri, "languageId": language, "version": 1, "text": text}})

    def change(self, uri: str, text: str) -> None:
        self._versions[uri] += 1
        self.notify("textDocument/didChange", {
            "textDocument": {"uri": uri, "version": self._versions[uri]},
            "contentChanges": [{"text": text}]})

    def close_document(self, uri: str) -> None:
        self.notify("textDocument/didClose", {"textDocument": {"uri": uri}})
        self._versions.pop(uri, None)

    def completion(self, uri: str, line: int, character: int) -> list[dict]:
        result = self.request("textDocument/completion", {
            "textDocument": {"uri": uri}, "position": {"line": line, "character": character}})
        if result is None:
            return []
        return result["items"] if isinstance(result, dict) else result

    def hover(self, uri: str, line: int, character: int) -> str | None:
        """The hover text at a position, as markdown or plain text; None when there is none."""
        result = self.request("textDocument/hover", {
            "textDocument": {"uri": uri}, "position": {"line": line, "character": character}})
        if not result:
            return None
        contents = result["contents"]
        if isinstance(contents, dict):
            return contents.get("value", "")
        if isinstance(contents, list):
            return "\n".join(c if isinstance(c, str) else c.get("value", "") for c in contents)
        return contents

    def diagnostics(self, uri: str, *, after: int = 0, timeout: float = TIMEOUT,
                    until: Callable[[list[Diagnostic]], bool] | None = None) -> list[Diagnostic]:
        """The diagnostics published for `uri` after generation `after` (see `generation`), once
        `until` accepts them (by default the first publication does); LspError on timeout."""
        deadline = time.monotonic() + timeout
        last = None
        with self._changed:
            while True:
                generation, items = self._diagnostics.get(uri, (0, None))
                if items is not None and generation > after:
                    last = [Diagnostic.from_lsp(d) for d in items]
                    if until is None or until(last):
                        return last
                    after = generation
                remaining = deadline - time.monotonic()
                if remaining <= 0 or self._proc.poll() is not None:
                    raise LspError(f"no matching diagnostics for {uri} within {timeout:g} s; last "
                                   f"published: {last}" + self._stderr_tail())
                self._changed.wait(remaining)

    @property
    def generation(self) -> int:
        """A marker: diagnostics(after=marker) waits for a publication later than now."""
        with self._changed:
            return self._generation


# What a typical editor (VS Code) tells the server it can do.
EDITOR_CAPABILITIES = {
    "workspace": {
        "configuration": True,
        "workspaceFolders": True,
        "didChangeConfiguration": {"dynamicRegistration": True},
    },
    "textDocument": {
        "synchronization": {"dynamicRegistration": False, "didSave": True},
        "completion": {
            "completionItem": {
                "snippetSupport": True,
                "documentationFormat": ["markdown", "plaintext"],
                "deprecatedSupport": True,
                "labelDetailsSupport": True,
            },
            "contextSupport": True,
        },
        "hover": {"contentFormat": ["markdown", "plaintext"]},
        "publishDiagnostics": {"relatedInformation": True, "versionSupport": True,
                               "tagSupport": {"valueSet": [1, 2]}},
    },
}


class LspClient(LanguageServer):
    """The interface tests/test_editor.py was written against: raw LSP dicts for hover and
    diagnostics, explicit initialize() and shutdown()."""

    def __init__(self, command: list[str], *, settings: dict[str, Any] | None = None,
                 root: Path = ROOT):
        super().__init__(command, root=root, settings=settings)

    def initialize(self, capabilities: dict | None = None) -> dict:  # noqa: D401
        return super().initialize(capabilities)

    def shutdown(self) -> None:
        self.close()

    def hover(self, uri: str, line: int, character: int) -> dict | None:  # type: ignore[override]
        return self.request("textDocument/hover", {
            "textDocument": {"uri": uri}, "position": {"line": line, "character": character}})

    def diagnostics(self, uri: str, *, predicate=None, timeout: float = TIMEOUT,  # type: ignore[override]
                    after: int = 0) -> list[dict]:
        found = super().diagnostics(
            uri, after=after, timeout=timeout,
            until=None if predicate is None else (lambda ds: predicate([d.raw for d in ds])))
        return [d.raw for d in found]

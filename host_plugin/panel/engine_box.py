"""The engine: a local one started and stopped by the panel, or a remote host:port with token and TLS; a
connection indicator fed by the health service, and the engine's capabilities."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from pathlib import Path

from PySide6.QtCore import QTimer, Signal
from PySide6.QtWidgets import QComboBox, QFormLayout, QGroupBox, QHBoxLayout, QLabel, QLineEdit, QPushButton, QWidget

from dreamstyle.v1 import engine_pb2 as pb
from host_plugin.client import EngineClient
from host_plugin.errors import EngineUnavailable
from host_plugin.local_engine import LocalEngine

from .widgets import StatusDot
from .workers import run_task

__all__ = ["EngineBox"]

LOCAL, REMOTE = "Local (started by the panel)", "Remote"


class EngineBox(QGroupBox):
    """Owns the connection; `ensure(roots, then)` connects (or starts a local engine) off the GUI thread."""

    connected = Signal(object)  # pb.Capabilities
    connect_timeout = 8.0  # seconds to wait for an engine to accept the connection

    def __init__(self, state_dir: Path, parent: QWidget | None = None) -> None:
        super().__init__("Engine", parent)
        self.state_dir = state_dir
        self.mode = QComboBox()
        self.mode.addItems([LOCAL, REMOTE])
        self.address = QLineEdit(placeholderText="host:port, e.g. render01:50051")
        self.token = QLineEdit(placeholderText="bearer token (optional)", echoMode=QLineEdit.Password)
        self.tls_ca = QLineEdit(placeholderText="CA certificate file for TLS (optional)")
        self.button = QPushButton("Start")
        self.button.clicked.connect(self._toggle)
        self.dot = StatusDot()
        self.status = QLabel("not running", objectName="hint")
        self.status.setWordWrap(True)
        self.mode.currentTextChanged.connect(self._switch)
        self.form = form = QFormLayout(self)
        form.addRow("Engine", self.mode)
        form.addRow("Address", self.address)
        form.addRow("Token", self.token)
        form.addRow("TLS CA", self.tls_ca)
        row = QHBoxLayout()
        row.addWidget(self.dot)
        row.addWidget(self.status, 1)
        row.addWidget(self.button)
        form.addRow(row)
        self._client: EngineClient | None = None
        self._local: LocalEngine | None = None
        # Calls made while connecting: (roots, then, failed), answered when the engine is up.
        self._waiting: list[tuple[list[Path], Callable[[EngineClient], None], Callable[[str], None]]] = []
        self._roots: list[Path] = []
        self.busy = False  # set by the window while renders run: never restart under them
        self._closed = False  # the panel closed: no engine starts any more
        self._timer = QTimer(self, interval=3000, timeout=self._poll)
        self._timer.start()
        self._mode_changed(LOCAL)

    def is_local(self) -> bool:
        return self.mode.currentText() == LOCAL

    def client(self) -> EngineClient | None:
        return self._client

    def _mode_changed(self, mode: str) -> None:
        for field in (self.address, self.token, self.tls_ca):
            self.form.setRowVisible(field, mode == REMOTE)
        self.button.setText(("Start" if mode == LOCAL else "Connect") if self._client is None else "Stop")

    def _covered(self, roots: Sequence[Path]) -> bool:
        return all(any(r == root or root in r.parents for root in self._roots) for r in roots)

    def ensure(self, roots: Sequence[Path], then: Callable[[EngineClient], None],
               failed: Callable[[str], None]) -> None:
        """Calls `then(client)` once an engine answers; a local engine is (re)started to reach `roots`, or
        when it has died. Calls made while connecting wait for that connection instead of starting another."""
        roots = sorted({Path(r).resolve() for r in roots})
        if self._closed:
            failed("the panel is closed")
            return
        if self._waiting:
            self._waiting.append((roots, then, failed))
            return
        if self._local is not None and not self._local.alive() and not self.busy:
            self._close(*self._detach())  # the local engine died (crash, killed): start a new one
        if self._client is not None and (not self.is_local() or self.busy or self._covered(roots)):
            then(self._client)
            return
        self._waiting.append((roots, then, failed))
        self._start(roots)

    def _start(self, roots: list[Path]) -> None:
        """Connects (starting the local engine for `roots`) on a worker, then answers every waiting call."""
        self.dot.set_state("busy", "connecting")
        self.status.setText("starting the local engine…" if self.is_local() else "connecting…")
        remote = None
        if not self.is_local():
            ca = self.tls_ca.text().strip()
            remote = (self.address.text().strip(), self.token.text().strip() or None, Path(ca) if ca else None)
        run_task(self, lambda emit: self._connect(roots, remote), done=self._answer_waiting, failed=self._refuse_waiting)

    def _answer_waiting(self, caps: pb.Capabilities) -> None:
        wanted = sorted({root for roots, _, _ in self._waiting for root in roots})
        if self.is_local() and not self._covered(wanted):  # a call for other folders came while starting
            self._start(wanted)
            return
        self._connected(caps)
        waiting, self._waiting = self._waiting, []
        for _, then, failed in waiting:
            try:
                assert self._client is not None
                then(self._client)
            except Exception as exc:  # one caller's error must not lose the others' answers
                failed(f"{type(exc).__name__}: {exc}")

    def _refuse_waiting(self, message: str) -> None:
        self.dot.set_state("down", message)
        self.status.setText(message.splitlines()[0][:160])
        self._mode_changed(self.mode.currentText())
        waiting, self._waiting = self._waiting, []
        for _, _, failed in waiting:
            failed(message)

    def _connect(self, roots: list[Path], remote: tuple[str, str | None, Path | None] | None) -> pb.Capabilities:
        """Worker thread: (re)starts the local engine or reaches `remote`; returns the capabilities."""
        self.stop()
        if remote is None:
            self._local = local = LocalEngine(self.state_dir, roots or [self.state_dir])
            address, token, ca = local.start(), None, None
            self._roots = roots
            if self._closed:  # closed while it started: it would outlive the panel
                local.stop()
                raise EngineUnavailable("the panel closed while its engine started")
        else:
            address, token, ca = remote
        # A local engine that stops answering is gone (`ensure` starts a new one): shots fail in seconds.
        client = EngineClient(address, token=token, tls_ca=ca, reconnect_s=300 if remote else 15)
        try:
            client.wait_ready(self.connect_timeout)
            caps = client.capabilities()
        except Exception:
            client.close()
            raise
        self._client = client
        return caps

    def _connected(self, caps: pb.Capabilities) -> None:
        assert self._client is not None
        names = ", ".join(b.name + ("" if not b.missing else " (not ready)") for b in caps.backends)
        self.dot.set_state("ok", f"connected to {self._client.address}")
        self.status.setText(f"{self._client.address} · {caps.gpus} GPU · {names}")
        self.button.setText("Stop")
        self.connected.emit(caps)

    def _switch(self, mode: str) -> None:
        """Another kind of engine: drop the current connection (stopping a local engine) first."""
        if self._client is not None:
            self._toggle()
        self._mode_changed(mode)

    def _toggle(self) -> None:
        if self.dot.state == "busy":  # connecting or stopping already
            return
        if self._client is None:
            self.ensure([self.state_dir], lambda client: None, lambda message: None)
            return
        self.dot.set_state("busy", "stopping")
        parts = self._detach()

        def stopped(_: object) -> None:
            self.dot.set_state("unknown", "")
            self.status.setText("not running" if self.is_local() else "disconnected")
            self._mode_changed(self.mode.currentText())

        run_task(self, lambda emit: self._close(*parts), done=stopped)

    def stop(self) -> None:
        """Closes the connection and stops the local engine, if the panel started one."""
        self._close(*self._detach())

    def shutdown(self) -> None:
        """The panel closes: stops the engine, also one still starting, and starts none any more."""
        self._closed = True
        self._timer.stop()
        self.stop()

    def _detach(self) -> tuple[EngineClient | None, LocalEngine | None]:
        parts = self._client, self._local
        self._client, self._local, self._roots = None, None, []
        return parts

    @staticmethod
    def _close(client: EngineClient | None, local: LocalEngine | None) -> None:
        if client is not None:
            client.close()
        if local is not None:
            local.stop()

    def _poll(self) -> None:
        client = self._client
        if client is None or self.dot.state == "busy":
            return

        def show(ok: bool) -> None:
            if client is self._client:
                self.dot.set_state("ok" if ok else "down", "serving" if ok else f"{client.address} does not answer")

        run_task(self, lambda emit: client.healthy(1.0), done=show)

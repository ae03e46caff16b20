"""How a running simulator is told to start or clear a fault from another process.

The control channel is a directory, by default ``<var dir>/simulator/`` (``PLANTGUARD_VAR_DIR``):

``simulator.lock``
    held (``flock``) by the running simulator for its whole life. A process that can take the
    lock knows no simulator is running, even if the simulator was killed without cleaning up.
``status.json``
    rewritten (atomically) by the simulator about once a second: pid, ports, simulated time,
    speed, active faults.
``commands/<id>.json``
    one file per command, written atomically (temporary name, then rename) by
    ``plantguard simulate trigger`` / ``clear`` or by the web console. The simulator polls the
    directory every 0.2 s, applies the commands in order and deletes them.
``results/<id>.json``
    the simulator's answer to a command (ok, error message, the faults started or ended); the
    sender waits for it, reads it and deletes it.

Files rather than a control port because nothing has to be configured or kept free, the
channel works whatever ports the servers use, a command sent just before the simulator starts
is still picked up (commands older than :data:`COMMAND_TTL_S` are answered as expired), and the
lock gives a reliable "is it running" even after a crash.
"""

from __future__ import annotations

import contextlib
import fcntl
import json
import os
import time
import uuid
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO, Any

COMMAND_TTL_S = 30.0
POLL_INTERVAL_S = 0.2
ACTIONS = ("trigger", "clear")


class ControlError(RuntimeError):
    """The command could not be delivered or the simulator refused it."""


class NotRunning(ControlError):
    """No simulator holds the control directory."""


@dataclass(frozen=True)
class Command:
    action: str  # trigger | clear
    fault: str | None = None
    target: str | None = None
    time_scale: float | None = None  # trigger: the fault's clock speed (None: as the plant's)
    id: str = field(default_factory=lambda: f"{time.time_ns():020d}-{uuid.uuid4().hex[:8]}")
    sent_at: float = field(default_factory=time.time)

    def to_json(self) -> dict[str, Any]:
        out: dict[str, Any] = {"id": self.id, "action": self.action, "fault": self.fault, "target": self.target,
                               "sent_at": self.sent_at}
        if self.time_scale is not None:
            out["time_scale"] = self.time_scale
        return out

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> Command:
        action = data.get("action")
        if action not in ACTIONS:
            raise ValueError(f"action: must be one of {', '.join(ACTIONS)}")
        fault, target = data.get("fault"), data.get("target")
        if fault is not None and not isinstance(fault, str):
            raise ValueError("fault: must be a string")
        if target is not None and not isinstance(target, str):
            raise ValueError("target: must be a string")
        scale = data.get("time_scale")
        if scale is not None and (isinstance(scale, bool) or not isinstance(scale, (int, float))):
            raise ValueError("time_scale: must be a number")
        return cls(action=action, fault=fault, target=target, id=str(data["id"]),
                   sent_at=float(data.get("sent_at", 0.0)), time_scale=None if scale is None else float(scale))


def _write_atomic(path: Path, data: dict[str, Any]) -> None:
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    tmp.write_text(json.dumps(data, ensure_ascii=False, indent=1), encoding="utf-8")
    os.replace(tmp, path)


class ControlDir:
    """Both ends of the channel: the simulator's (:meth:`acquire`, :meth:`pending`, :meth:`reply`,
    :meth:`write_status`) and the sender's (:meth:`send`, :meth:`status`, :meth:`is_running`)."""

    def __init__(self, root: Path | str) -> None:
        self.root = Path(root)
        self.commands = self.root / "commands"
        self.results = self.root / "results"
        self.lock_path = self.root / "simulator.lock"
        self.status_path = self.root / "status.json"
        self._lock: IO[str] | None = None

    def _ensure(self) -> None:
        self.commands.mkdir(parents=True, exist_ok=True)
        self.results.mkdir(parents=True, exist_ok=True)

    # --- simulator side --------------------------------------------------------------------

    def acquire(self) -> None:
        """Take the lock; raises :class:`ControlError` if another simulator holds it."""
        self._ensure()
        fh = self.lock_path.open("a+", encoding="utf-8")
        # A sender probing the lock holds it for a moment: retry briefly before giving up.
        for attempt in range(10):
            try:
                fcntl.flock(fh.fileno(), fcntl.LOCK_EX | fcntl.LOCK_NB)
                break
            except BlockingIOError:
                if attempt == 9:
                    fh.close()
                    raise ControlError(f"another simulator is running with control directory {self.root}") from None
                time.sleep(0.05)
        fh.seek(0)
        fh.truncate()
        fh.write(str(os.getpid()))
        fh.flush()
        self._lock = fh

    def release(self) -> None:
        if self._lock is None:
            return
        with contextlib.suppress(FileNotFoundError):
            self.status_path.unlink()
        fcntl.flock(self._lock.fileno(), fcntl.LOCK_UN)
        self._lock.close()
        self._lock = None

    def pending(self) -> Iterator[tuple[Command | None, str, str]]:
        """Commands waiting, oldest first, each removed as it is yielded: (command or ``None``
        if unreadable, its id, an error to report if it cannot be applied)."""
        for path in sorted(self.commands.glob("*.json")):
            cid = path.stem
            try:
                data = json.loads(path.read_text(encoding="utf-8"))
                cmd = Command.from_json(data)
                error = "command expired" if time.time() - cmd.sent_at > COMMAND_TTL_S else ""
                yield cmd, cid, error
            except (OSError, ValueError, KeyError, TypeError) as exc:
                yield None, cid, f"unreadable command: {exc}"
            finally:
                with contextlib.suppress(FileNotFoundError):
                    path.unlink()

    def reply(self, command_id: str, result: dict[str, Any]) -> None:
        _write_atomic(self.results / f"{command_id}.json", result)

    def write_status(self, status: dict[str, Any]) -> None:
        _write_atomic(self.status_path, status)

    # --- sender side -----------------------------------------------------------------------

    def is_running(self) -> bool:
        """True while a simulator holds the lock (probed without disturbing it)."""
        if not self.lock_path.exists():
            return False
        with self.lock_path.open("a+", encoding="utf-8") as fh:
            try:
                fcntl.flock(fh.fileno(), fcntl.LOCK_EX | fcntl.LOCK_NB)
            except BlockingIOError:
                return True
            fcntl.flock(fh.fileno(), fcntl.LOCK_UN)
            return False

    def status(self) -> dict[str, Any] | None:
        """The running simulator's last status, or ``None`` if none is running."""
        if not self.is_running():
            return None
        try:
            data = json.loads(self.status_path.read_text(encoding="utf-8"))
        except (OSError, ValueError):
            return {}
        return data if isinstance(data, dict) else {}

    def send(self, command: Command, *, timeout: float = 10.0) -> dict[str, Any]:
        """Deliver a command and wait for the simulator's answer. Raises :class:`NotRunning` if no
        simulator is running, :class:`ControlError` if it refuses the command or does not answer."""
        if not self.is_running():
            raise NotRunning(f"no simulator is running (control directory {self.root})")
        self._ensure()
        _write_atomic(self.commands / f"{command.id}.json", command.to_json())
        result_path = self.results / f"{command.id}.json"
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if result_path.exists():
                try:
                    result = json.loads(result_path.read_text(encoding="utf-8"))
                except ValueError:  # pragma: no cover - the write is atomic
                    time.sleep(0.05)
                    continue
                result_path.unlink(missing_ok=True)
                if not result.get("ok"):
                    raise ControlError(str(result.get("error") or "the simulator refused the command"))
                return dict(result)
            time.sleep(0.05)
        with contextlib.suppress(FileNotFoundError):
            (self.commands / f"{command.id}.json").unlink()
        raise ControlError(f"the simulator did not answer within {timeout:g} s")


def default_control_dir(var_dir: Path | None = None) -> ControlDir:
    """The control directory under the PlantGuard var dir (``PLANTGUARD_VAR_DIR``, ``./var``)."""
    if var_dir is None:
        from plantguard.core.settings import get_settings

        var_dir = get_settings().var_dir
    return ControlDir(Path(var_dir) / "simulator")

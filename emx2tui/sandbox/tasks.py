"""Asynchronous server tasks: one worker thread runs them one at a time, like EMX2."""

from __future__ import annotations

import queue
import threading
import time
import uuid
from collections.abc import Callable

TERMINAL = {"COMPLETED", "ERROR", "CANCELLED", "SKIPPED"}


def _ms() -> int:
    return int(time.time() * 1000)


class Task:
    def __init__(self, description: str, status: str = "WAITING", user: str | None = None) -> None:
        self.id = str(uuid.uuid4())
        self.description = description
        self.status = status
        self.user = user
        self.sub_tasks: list[Task] = []
        self.total: int | None = None
        self.submit_ms = _ms()
        self.start_ms: int | None = _ms() if status == "RUNNING" else None
        self.end_ms: int | None = None
        self._lock = threading.Lock()

    # -------------------------------------------------------------- progress
    def sub(self, description: str) -> "Task":
        t = Task(description, status="RUNNING")
        with self._lock:
            self.sub_tasks.append(t)
        return t

    def start(self) -> None:
        self.status = "RUNNING"
        self.start_ms = _ms()

    def complete(self, description: str | None = None, total: int | None = None) -> None:
        if description:
            self.description = description
        if total is not None:
            self.total = total
        self.status = "COMPLETED"
        self.end_ms = _ms()

    def skip(self, description: str | None = None) -> None:
        if description:
            self.description = description
        self.status = "SKIPPED"
        self.end_ms = _ms()

    def fail(self, description: str) -> None:
        self.description = description
        self.status = "ERROR"
        self.end_ms = _ms()

    # -------------------------------------------------------------- views
    def to_json(self) -> dict:
        with self._lock:
            subs = list(self.sub_tasks)
        out: dict = {"id": self.id, "description": self.description, "status": self.status}
        if subs:
            out["subTasks"] = [s.to_json() for s in subs]
        if self.total is not None:
            out["total"] = self.total
        if self.user:
            out["submitUser"] = self.user
        out["submitTimeMilliseconds"] = self.submit_ms
        if self.start_ms:
            out["startTimeMilliseconds"] = self.start_ms
        if self.end_ms:
            out["endTimeMilliseconds"] = self.end_ms
        return out

    def to_graphql(self) -> dict:
        with self._lock:
            subs = list(self.sub_tasks)
        return {"id": self.id, "status": self.status, "description": self.description,
                "subTasks": [s.to_graphql() for s in subs], "total": self.total}


class TaskService:
    """Keeps tasks by id and runs submitted work on one background thread."""

    def __init__(self, fault_hook: Callable[[], str | None] | None = None) -> None:
        self.fault_hook = fault_hook
        self.tasks: dict[str, Task] = {}
        self._queue: queue.Queue = queue.Queue()
        self._thread = threading.Thread(target=self._loop, name="sandbox-tasks", daemon=True)
        self._thread.start()

    def submit(self, task: Task, work: Callable[[Task], None]) -> Task:
        self.tasks[task.id] = task
        self._queue.put((task, work))
        return task

    def get(self, task_id: str) -> Task | None:
        return self.tasks.get(task_id)

    def wait(self, task_id: str, timeout: float = 30.0) -> Task | None:
        end = time.monotonic() + timeout
        while time.monotonic() < end:
            t = self.tasks.get(task_id)
            if t is None or t.status in TERMINAL:
                return t
            time.sleep(0.01)
        return self.tasks.get(task_id)

    def stop(self) -> None:
        self._queue.put(None)

    def _loop(self) -> None:
        while True:
            item = self._queue.get()
            if item is None:
                return
            task, work = item
            task.start()
            injected = self.fault_hook() if self.fault_hook is not None else None
            if injected is not None:
                task.fail(f"Import failed: {injected}")
                continue
            try:
                work(task)
            except Exception as exc:  # noqa: BLE001 - a failed task reports, it does not crash
                message = getattr(exc, "message", None) or str(exc) or type(exc).__name__
                task.fail(f"Import failed: {message}")
            else:
                if task.status not in TERMINAL:
                    task.complete()

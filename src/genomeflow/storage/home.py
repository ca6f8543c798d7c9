"""Where the local services live and what `genomeflow services up` recorded about them.

Everything sits under one home folder (``$GENOMEFLOW_HOME``, default ``~/.genomeflow``):
``services.json`` (URIs, credentials, pids), the MLflow database and artifacts, the object
store's data, and every service's log.
"""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

from genomeflow.storage.local import atomic_output

STATE_FILE = "services.json"


def genomeflow_home(home: str | os.PathLike[str] | None = None) -> Path:
    """The services home: ``home``, else ``$GENOMEFLOW_HOME``, else ``~/.genomeflow``."""
    chosen = home or os.environ.get("GENOMEFLOW_HOME") or Path.home() / ".genomeflow"
    return Path(chosen).expanduser().resolve()


def read_state(home: str | os.PathLike[str] | None = None) -> dict[str, Any]:
    """The recorded services, ``{}`` when none were started."""
    path = genomeflow_home(home) / STATE_FILE
    if not path.is_file():
        return {}
    return json.loads(path.read_text(encoding="utf-8"))


def write_state(state: dict[str, Any], home: str | os.PathLike[str] | None = None) -> Path:
    """Record the services (atomically; readable by the owner only, it holds credentials)."""
    folder = genomeflow_home(home)
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / STATE_FILE
    with atomic_output(path) as temporary:
        temporary.write_text(json.dumps(state, indent=2) + "\n", encoding="utf-8")
        temporary.chmod(0o600)
    return path


def pid_alive(pid: int) -> bool:
    """Whether a process with this pid exists (and is not a zombie)."""
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    try:  # a zombie child still answers kill(0); its /proc status says Z
        status = Path(f"/proc/{pid}/stat").read_text().split(") ", 1)[1][0]
    except (OSError, IndexError):
        return True
    return status != "Z"

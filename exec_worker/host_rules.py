"""Rules of this host that no front end can override.

A worker holds the Docker socket, root on its host, so it does not take a front
end's word for everything: containers with the deny label are never opened or
listed, with an allow label set only labelled containers are, and the worker's own
container never is (a shell there would hold the Docker socket). Pure decisions,
plus reading /proc once to learn the worker's own container.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path

from shared.messages import ContainerInfo

_CONTAINER_ID = re.compile(r"/(?:docker|containers)/([0-9a-f]{64})")
FALSE = {"", "0", "false", "no", "off"}


def own_container_id() -> str:
    """The id of the container this process runs in, or "" on a plain host."""
    for source in ("/proc/self/mountinfo", "/proc/self/cgroup"):
        try:
            found = _CONTAINER_ID.search(Path(source).read_text())
        except OSError:
            continue
        if found:
            return found.group(1)
    return ""


@dataclass(frozen=True, slots=True)
class HostRules:
    deny_label: str = "dterm.deny"
    allow_label: str = ""
    own_container: str = ""

    def refusal(self, info: ContainerInfo) -> str:
        """Why this host refuses sessions in the container, or "" if it does not."""
        if self.own_container and info.id == self.own_container:
            return "this is the worker's own container"
        if info.labels.get(self.deny_label, "false").lower() not in FALSE:
            return f"the container has the label {self.deny_label}"
        if self.allow_label and info.labels.get(self.allow_label, "").lower() in FALSE:
            return f"this host only allows containers labelled {self.allow_label}"
        return ""

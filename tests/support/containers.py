"""Docker for the tests: labelled test containers, and skipping loudly where a part
is missing (failing instead under CI, so nothing is skipped silently there)."""

from __future__ import annotations

import os
from typing import Any

import docker
import pytest

from tests.support.images import BUSYBOX_IMAGE

TEST_LABEL = "dterm-test"


def require(condition: bool, reason: str) -> None:
    """Skip locally, fail under CI: nothing is skipped silently where it matters."""
    if condition:
        return
    if os.environ.get("CI") == "true":
        pytest.fail(reason)
    pytest.skip(reason)


class Containers:
    """Starts labelled test containers; all are removed at the end of the session."""

    def __init__(self, client: docker.DockerClient) -> None:
        self.client = client

    def run(self, image: str = BUSYBOX_IMAGE, **kwargs: Any) -> Any:
        labels = {TEST_LABEL: "1", **kwargs.pop("labels", {})}
        return self.client.containers.run(
            image,
            kwargs.pop("command", ["sleep", "1000000"]),
            detach=True,
            network_mode="none",
            labels=labels,
            **kwargs,
        )

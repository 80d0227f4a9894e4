"""Requests waiting for a worker's reply, matched by request id.

A reply (or a Failed naming the request) resolves its future; a deadline or a lost
host ends it with Unavailable, so no caller waits for a worker that will not answer.

Concurrency: one event loop.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable

from shared.errors import Unavailable, error_from_code
from shared.messages import Failed, Message


class PendingRequests:
    def __init__(self) -> None:
        self._waiting: dict[str, asyncio.Future[Message]] = {}

    def __contains__(self, request_id: str) -> bool:
        return request_id in self._waiting

    async def ask(
        self, send: Callable[[], None], request_id: str, within: float, who: str
    ) -> Message:
        """Send (through `send`) and wait for the reply; a Failed is raised as its
        typed error, silence past `within` seconds as Unavailable."""
        future: asyncio.Future[Message] = asyncio.get_running_loop().create_future()
        self._waiting[request_id] = future
        try:
            send()
            reply = await asyncio.wait_for(future, within)
        except TimeoutError:
            raise Unavailable(f"worker {who} did not answer") from None
        finally:
            self._waiting.pop(request_id, None)
        if isinstance(reply, Failed):
            raise error_from_code(reply.code, reply.message)
        return reply

    def answer(self, request_id: str, reply: Message) -> None:
        future = self._waiting.get(request_id)
        if future is not None and not future.done():
            future.set_result(reply)

    def fail_all(self, why: str) -> None:
        for future in self._waiting.values():
            if not future.done():
                future.set_exception(Unavailable(why))

"""The worker wire protocol: every message round-trips; anything off is rejected."""

from __future__ import annotations

import dataclasses
from concurrent.futures import ThreadPoolExecutor
from typing import Any, get_args

import msgpack
import pytest
from hypothesis import example, given, settings
from hypothesis import strategies as st

from shared.errors import ErrorCode, ProtocolError, TooLarge, VersionMismatch
from shared.messages import (
    Ack,
    AttachSession,
    CloseSession,
    ContainerChanged,
    ContainerInfo,
    ContainersListed,
    Detached,
    DetachSession,
    EndInput,
    ExitReason,
    Failed,
    FindSession,
    Hello,
    IdleWarning,
    Input,
    InputAck,
    ListContainers,
    ListSessions,
    Message,
    Mode,
    OpenSession,
    Output,
    Pause,
    Paused,
    RecordingPolicy,
    Resize,
    SessionExited,
    SessionFound,
    SessionInfo,
    SessionOpened,
    SessionResized,
    SessionsListed,
    WatcherInfo,
    WatchersChanged,
    Welcome,
)
from shared.observe_messages import ReadLogs, ReadStats, StatsRead
from shared.protocol import (
    MAX_DATA_BYTES,
    MAX_STRING,
    OLDEST_PROTOCOL,
    PROTOCOL_VERSION,
    _checked,
    _getter,
    agree,
    decode,
    encode,
)
from shared.revocation_messages import Revocation, RevokeSignIns, SignInsRevoked
from shared.transfer_messages import (
    FetchRecording,
    FileAbort,
    FileAck,
    FileData,
    FileEnd,
    FileOpened,
    FileStored,
    GetFile,
    ListRecordings,
    PutFile,
    RecordingEntry,
    RecordingsListed,
)

WEB = ContainerInfo(
    id="abc",
    name="web",
    image="nginx",
    state="running",
    created=1700000000,
    started_at=1700000100,
    finished_at=0,
    exit_code=0,
    labels={"a": "b"},
)

EXAMPLES: list[Message] = [
    Hello("fe-1", 3, 3),
    Pause("a1b2c3d4"),
    Paused("a1b2c3d4"),
    Welcome(
        host="host-a",
        instance="i-1",
        protocol=3,
        docker_version="20.10.24",
        api_version="1.41",
        containers=3,
        running=2,
        docker_problem="",
        peer_timeout_ms=5000,
        engine="Docker",
    ),
    Welcome(
        host="host-a",
        instance="i-1",
        protocol=3,
        docker_version="20.10.24",
        api_version="1.41",
        containers=0,
        running=0,
        docker_problem="the Docker daemon does not answer",
        peer_timeout_ms=2500,
        engine="Podman",
    ),
    ListContainers("r1"),
    ContainersListed("r1", 7, [WEB]),
    ContainerChanged(8, "abc", WEB),
    ContainerChanged(9, "abc", None),
    ListSessions("r2", "alice"),
    SessionsListed(
        "r2",
        [
            SessionInfo(
                session="s@h",
                container="web",
                cmd=None,
                user=None,
                workdir=None,
                person="alice",
                started=1700000000,
                attached=True,
                watchers=2,
                tty=False,
            )
        ],
    ),
    OpenSession(
        session="s1@h",
        attachment="a1",
        person="alice",
        address="10.0.0.7",
        container="web",
        cmd=None,
        user=None,
        workdir=None,
        cols=80,
        rows=24,
        recording=RecordingPolicy.DEFAULT,
        record_input=False,
    ),
    OpenSession(
        session="s1@h",
        attachment="a1",
        person="alice",
        address="::1",
        container="web",
        cmd=["top", "-b"],
        user="root",
        workdir="/srv",
        cols=200,
        rows=50,
        recording=RecordingPolicy.REQUIRED,
        record_input=True,
    ),
    OpenSession(
        session="s2@h",
        attachment="a2",
        person="alice",
        address="::1",
        container="db",
        cmd=["pg_dump", "app"],
        user=None,
        workdir=None,
        cols=80,
        rows=24,
        recording=RecordingPolicy.DEFAULT,
        record_input=False,
        tty=False,
    ),
    ListRecordings(
        request="r6",
        person="alice",
        container="web",
        since=0,
        until=1700000000,
        name="",
        session="s1@h",
    ),
    RecordingsListed(
        "r6",
        [
            RecordingEntry(
                name="x.cast",
                size=10,
                started=1700000000,
                person="alice",
                host="h",
                container="web",
                session="s1@h",
                part=1,
                duration_ms=-1,
            )
        ],
    ),
    FetchRecording("r7", "x.cast"),
    ReadLogs(
        request="l1",
        person="alice",
        address="203.0.113.4",
        container="c0ffee",
        tail=500,
        since=0,
        follow=True,
    ),
    ReadStats(request="s1", person="alice", address="203.0.113.4", container="c0ffee"),
    StatsRead(
        request="s1",
        cpu_centi=10321,
        online_cpus=2,
        memory=1 << 20,
        memory_limit=1 << 30,
        pids=3,
        net_rx=0,
        net_tx=0,
        read_at=1_780_000_000_123,
    ),
    PutFile(
        request="r3",
        person="alice",
        address="::1",
        container="c0ffee",
        session="",
        path="/tmp/x",
        size=12,
        user=None,
    ),
    PutFile(
        request="r4",
        person="alice",
        address="::1",
        container="",
        session="s1@h",
        path="notes.txt",
        size=12,
        user=None,
    ),
    PutFile(
        request="r9",
        person="alice",
        address="::1",
        container="c0ffee",
        session="",
        path="/tmp/y",
        size=12,
        user="1000:1000",
    ),
    GetFile(
        request="r5",
        person="alice",
        address="::1",
        container="c0ffee",
        session="",
        path="/etc/hostname",
        user=None,
    ),
    GetFile(
        request="r8",
        person="alice",
        address="::1",
        container="",
        session="s1@h",
        path="notes/today.txt",
        user=None,
    ),
    GetFile(
        request="r10",
        person="alice",
        address="::1",
        container="c0ffee",
        session="",
        path="/home/app/x",
        user="app",
    ),
    FileOpened("r5", "hostname", 13),
    FileOpened("r10", "x", -1),
    FileData("r5", 0, b"\x00\x01binary"),
    FileAck("r5", 9),
    FileEnd("r5", 13),
    FileStored("r3", "web", "/tmp/x", 12),
    FileAbort("r3", "the browser went away"),
    AttachSession(
        session="s1@h",
        attachment="a2",
        person="bob",
        address="10.0.0.8",
        container="c0ffee",
        offset=1024,
        mode=Mode.RO,
        token="watch-token",
    ),
    FindSession("r9", "s1@h"),
    SessionFound("r9", "s1@h", "c0ffee", "alice"),
    RevokeSignIns([Revocation("sid-1", 1700000000)], sync=True),
    RevokeSignIns([], sync=False),
    SignInsRevoked([Revocation("sid-1", 1700000000), Revocation("sid-2", 1700000001)]),
    SessionOpened(
        attachment="a1",
        session="s1@h",
        container="web",
        mode=Mode.RW,
        window=262144,
        offset=0,
        skipped=0,
        cols=80,
        rows=24,
        watch_token="watch-token",
        tty=True,
        input=0,
        ended=False,
    ),
    SessionOpened(
        attachment="a2",
        session="s2@h",
        container="db",
        mode=Mode.RW,
        window=262144,
        offset=4096,
        skipped=0,
        cols=80,
        rows=24,
        watch_token="watch-token",
        tty=False,
        input=1 << 40,
        ended=True,
    ),
    Input("a1", b"ls\r"),
    EndInput("a2"),
    InputAck("a2", 65536),
    Output("a1", 1234, b"\xff\xfe not utf-8 \xe2\x82"),
    Resize("a1", 120, 40),
    SessionResized("a2", 120, 40),
    Ack("a1", 4096),
    DetachSession("a1"),
    CloseSession("a1"),
    Detached("a1", "the session was resumed elsewhere"),
    WatchersChanged("a1", [WatcherInfo("bob", 1700000000)]),
    IdleWarning("a1", 60),
    SessionExited("a1", 0, ExitReason.EXITED, ""),
    SessionExited("a1", None, ExitReason.HOST_LOST, "lost contact"),
    Failed("a1", ErrorCode.NOT_FOUND, "no such container"),
    Failed("r3", ErrorCode.TIMEOUT, "no upload data for 30 s"),
]


@pytest.mark.parametrize("message", EXAMPLES, ids=lambda m: type(m).__name__)
def test_round_trip(message: Message) -> None:
    """decode(encode(m)) == m for every message type."""
    assert decode(encode(message)) == message


def test_threads_encoding_at_once_get_their_own_frames() -> None:
    """Each thread packs with its own packer: frames never mix across threads."""

    def encode_many(n: int) -> bool:
        message = Output(f"a{n}", n, bytes([n]) * n)
        return all(decode(encode(message)) == message for _ in range(2000))

    with ThreadPoolExecutor(max_workers=4) as pool:
        assert all(pool.map(encode_many, range(1, 9)))


def test_a_message_that_cannot_be_packed_leaves_the_next_intact() -> None:
    """A failed pack is undone: the following message packs as if nothing happened."""
    with pytest.raises(TypeError):
        encode(Ack(object(), 1))  # type: ignore[arg-type]
    assert decode(encode(Ack("a", 5))) == Ack("a", 5)


def test_the_examples_cover_every_message_type() -> None:
    """Each message type of the protocol has at least one round-trip example."""
    assert set(get_args(Message)) == {type(m) for m in EXAMPLES}


def test_terminal_bytes_travel_as_their_own_raw_frame() -> None:
    """Output bytes are the second frame, byte for byte, outside msgpack."""
    frames = encode(Output("s", 7, b"\x00\xffraw"))
    assert frames[1] == b"\x00\xffraw"
    assert msgpack.unpackb(frames[0]) == ["out", "s", 7]


def header(*fields: Any) -> bytes:
    return bytes(msgpack.packb(list(fields)))


REJECTED = [
    pytest.param([b"\xc1"], id="not-msgpack"),
    pytest.param([header()], id="empty-list"),
    pytest.param([msgpack.packb({"t": 1})], id="map"),
    pytest.param([msgpack.packb("hello")], id="bare-string"),
    pytest.param([header(7, "x")], id="numeric-tag"),
    pytest.param([header("nope")], id="unknown-tag"),
    pytest.param([header("hello", "fe")], id="missing-field"),
    pytest.param([header("hello", "fe", "1")], id="string-for-int"),
    pytest.param([header("hello", "fe", True)], id="bool-for-int"),
    pytest.param([header("hello", b"fe", 1)], id="bytes-for-string"),
    pytest.param([header("ack", "s", 2**63)], id="huge-int"),
    pytest.param([header("in", "s")], id="missing-data-frame"),
    pytest.param([header("ack", "s", 1), b"extra"], id="unexpected-data-frame"),
    pytest.param([header("ack", "s", 1), b"", b""], id="three-frames"),
    pytest.param([], id="no-frames"),
    pytest.param([header("resize", "s", 0, 24)], id="zero-cols"),
    pytest.param([header("resize", "s", 80, 100000)], id="huge-rows"),
    pytest.param(
        [header("open", "s", "a", "p", "", "c", [], None, None, 80, 24, "default", False, True)],
        id="empty-cmd",
    ),
    pytest.param(
        [header("open", "s", "a", "p", "", "", None, None, None, 80, 24, "default", False, True)],
        id="empty-container",
    ),
    pytest.param(
        [
            header(
                "open",
                "s",
                "a",
                "p",
                "",
                "c",
                ["ls", 3],
                None,
                None,
                80,
                24,
                "default",
                False,
                True,
            )
        ],
        id="non-string-arg",
    ),
    pytest.param([header("exited", "s", 0, "vanished", "")], id="unknown-reason"),
    pytest.param([header("attach", "s", "a", "p", "", 0, "admin", "")], id="unknown-mode"),
    pytest.param(
        [header("open", "s", "a", "p", "", "c", None, None, "tmp", 80, 24, "default", False, True)],
        id="relative-workdir",
    ),
    pytest.param(
        [header("sessions-listed", "r", [["s", "c", None, None, None, "p", 1, 1, 0, True]])],
        id="int-for-bool",
    ),
    pytest.param(
        [header("open", "s", "a", "p", "", "c", None, None, None, 80, 24, "default", False, False)],
        id="no-command-without-tty",
    ),
    pytest.param(
        [header("open", "s", "a", "p", "", "c", ["ls"], None, None, 80, 24, "default", False, 1)],
        id="int-for-tty",
    ),
    pytest.param([header("failed", "s", "made_up", "m")], id="unknown-error-code"),
    pytest.param([header("listed", "r", 1, [["id", "name"]])], id="short-record"),
    pytest.param(
        [header("listed", "r", 1, [["i", "n", "im", "s", 1, 2, 3, 0, {"a": 1}]])], id="label-int"
    ),
    pytest.param([header("changed", 1, "id", ["too", "short"])], id="bad-optional-record"),
]


@pytest.mark.parametrize("frames", REJECTED)
def test_rejected(frames: list[bytes]) -> None:
    """Malformed frames raise ProtocolError, never anything else."""
    with pytest.raises(ProtocolError):
        decode(frames)


PACKABLE_INT = st.integers(min_value=-(1 << 63), max_value=(1 << 64) - 1)
"""Every integer msgpack can carry."""
FIELD = st.one_of(
    st.none(),
    st.booleans(),
    PACKABLE_INT,
    st.text(max_size=8),
    st.binary(max_size=4),
    st.lists(PACKABLE_INT, max_size=2),
)


def outcome(build: Any, frames: list[bytes]) -> Any:
    try:
        return build(frames)
    except ProtocolError as exc:
        return type(exc)


LONGEST = ["a" * MAX_STRING, "a" * (MAX_STRING + 1)]
FARTHEST = [-(1 << 62) - 1, -(1 << 62), 1 << 62, (1 << 62) + 1]


@settings(max_examples=1000)
@example(tag="out", attachment="a", offset=FARTHEST[-1], more=[], length=2, data=b"k")
@example(tag="in", attachment=LONGEST[-1], offset=None, more=[], length=1, data=b"k")
@given(
    tag=st.sampled_from(["in", "out", "ack", "resize"]),
    attachment=st.one_of(st.text(max_size=8), st.sampled_from(LONGEST), FIELD),
    offset=st.one_of(PACKABLE_INT, st.sampled_from(FARTHEST), FIELD),
    more=st.lists(FIELD, max_size=2),
    length=st.integers(min_value=0, max_value=3),
    data=st.sampled_from([b"", b"k", b"x" * (MAX_DATA_BYTES + 1)]),
)
def test_keystrokes_and_output_decode_as_every_other_message_does(
    tag: str, attachment: Any, offset: Any, more: list[Any], length: int, data: bytes
) -> None:
    """Input and Output have a path of their own, checked inline; for any header and
    data it gives what the generic checks give: the same message, or the same error."""
    frames = [header(tag, *[attachment, offset, *more][:length]), data]

    def generic(frames: list[bytes]) -> Any:
        return _checked(msgpack.unpackb(frames[0]), frames)

    assert outcome(decode, frames) == outcome(generic, frames)


def test_header_fields_are_read_as_a_tuple_whatever_their_number() -> None:
    """encode reads a message's header fields with one getter: none, one or several
    fields, always a tuple in declaration order."""
    message = Resize("s", 80, 24)
    assert _getter(())(message) == ()
    assert _getter(("cols",))(message) == (80,)
    assert _getter(("rows", "attachment"))(message) == (24, "s")


def test_oversized_data_frame_is_too_large() -> None:
    """A data frame over the limit is refused as too large."""
    with pytest.raises(TooLarge):
        decode([header("in", "s"), b"x" * (MAX_DATA_BYTES + 1)])


def test_oversized_string_is_too_large() -> None:
    with pytest.raises(TooLarge):
        decode([header("hello", "x" * 70_000, 3, 3)])


def test_invalid_message_cannot_be_built() -> None:
    """Bounds hold for messages built in code too, not only for decoded ones."""
    with pytest.raises(ProtocolError):
        Resize("s", 80, 0)


def test_fields_a_newer_peer_appends_are_left_unread() -> None:
    """A newer version may add fields at the end of a message; this one reads its own."""
    assert decode([header("ack", "s", 7, "a newer field", [1, 2])]) == Ack("s", 7)


def test_fields_an_older_peer_does_not_send_take_their_defaults() -> None:
    """A v3 worker's welcome has no `engine`: it runs on Docker. A field without a
    default is never optional."""
    v3 = ["host-a", "i-1", 3, "20.10.24", "1.41", 3, 2, "", 5000]
    assert decode([header("welcome", *v3)]).engine == "Docker"  # type: ignore[union-attr]
    assert decode([header("welcome", *v3, "Podman")]).engine == "Podman"  # type: ignore[union-attr]
    with pytest.raises(ProtocolError, match="expected 10 fields, got 8"):
        decode([header("welcome", *v3[:-1])])


@pytest.mark.parametrize(
    ("oldest", "newest", "agreed"),
    [
        (OLDEST_PROTOCOL, PROTOCOL_VERSION, PROTOCOL_VERSION),
        (OLDEST_PROTOCOL, PROTOCOL_VERSION + 3, PROTOCOL_VERSION),
        (PROTOCOL_VERSION + 1, PROTOCOL_VERSION + 2, None),
        (OLDEST_PROTOCOL - 3, OLDEST_PROTOCOL - 1, None),
        (PROTOCOL_VERSION, OLDEST_PROTOCOL - 1, None),
    ],
)
def test_versions_agree_on_the_newest_both_know(
    oldest: int, newest: int, agreed: int | None
) -> None:
    if agreed is None:
        with pytest.raises(VersionMismatch):
            agree(oldest, newest)
    else:
        assert agree(oldest, newest) == agreed


@pytest.mark.parametrize(
    "kind", [*get_args(Message), ContainerInfo, SessionInfo], ids=lambda kind: kind.__name__
)
def test_wide_messages_are_built_by_keyword_only(kind: type) -> None:
    """Two swapped strings in a long positional call would pass every type check."""
    fields = dataclasses.fields(kind)
    assert len(fields) < 5 or all(field.kw_only for field in fields)

"""Settings of both processes: frozen dataclasses, read once in __main__, passed down.

Every field is a setting: a flag, a `DTERM_<NAME>` environment variable and a key
of the config file (shared/settings_sources.py reads them); the docstring under a
field is its help text. Nothing here reads files or the environment by itself.
"""

from __future__ import annotations

import socket
from dataclasses import dataclass, field

from shared.audit_http import check_url as check_http_url
from shared.audit_syslog import FACILITIES
from shared.audit_syslog import check_url as check_syslog_url
from shared.errors import DtermError, Forbidden

WORKER_PORT = 7701
"""The worker's ZeroMQ port unless told otherwise."""
FRONTEND_PORT = 8080
"""The front end's HTTP port unless told otherwise."""
DOCKER_URL = "unix:///var/run/docker.sock"
"""Where a worker finds its Docker daemon unless told otherwise."""
DEFAULT_WORKER = f"tcp://127.0.0.1:{WORKER_PORT}"

LOG_LEVELS = ("debug", "info", "warning", "error")
LOG_FORMATS = ("auto", "json", "text")

DEFAULT_WINDOW = 256 * 1024
"""Bytes of output a client may have unacknowledged (flow-control window)."""


def ack_step(window: int) -> int:
    """Front ends pass a client's acks on to the worker in steps of this many bytes, so
    the worker hears of all it sent once no more than this is left unacknowledged."""
    return window // 4


MIN_PART_BYTES = 5 << 20
"""The smallest part S3 takes in a multipart upload (but the last)."""

DEFAULT_DETACH_KEYS = "ctrl-^,ctrl-@,ctrl-_,ctrl-]"
"""Docker's detach sequence for our execs. Docker's default (ctrl-p,ctrl-q) holds a
lone Ctrl-P back; this sequence starts with the rarest control key instead."""


class SettingsError(DtermError):
    """A setting is wrong; the message names where (file and line, variable or flag)."""


@dataclass(frozen=True, slots=True)
class ProcessSettings:
    """What both processes are told the same way: how they log, and where their audit
    events go besides the audit log file."""

    log_level: str = "info"
    """debug, info, warning or error."""
    log_format: str = "auto"
    """auto (readable lines on a terminal, JSON lines otherwise), json or text."""
    audit_syslog: str = ""
    """Syslog server that gets every audit event too, as RFC 5424: udp://host:port,
    tcp://host:port (octet-counted frames) or unix:///dev/log; empty: none."""
    audit_syslog_facility: str = "authpriv"
    """Syslog facility of the audit events (auth, authpriv, daemon, user, local0 to local7)."""
    audit_http: str = ""
    """http:// or https:// URL that gets every audit event too: batches POSTed as JSON
    lines (application/x-ndjson); empty: none."""
    audit_http_token_file: str = ""
    """File holding the bearer token sent to `audit_http` (read at start; a token is
    never given as a flag, which every local user could read)."""
    audit_buffer: int = 10000
    """Audit events each sink holds while it is down or slow; past that the oldest are
    dropped, counted (dterm_audit_dropped_total) and logged."""
    audit_send_timeout: float = 10.0
    """Seconds one delivery to a sink may take (connect and send, or the HTTP answer)
    before it counts as failed and is tried again."""
    audit_flush_timeout: float = 2.0
    """On SIGTERM, seconds the sinks get to deliver what they hold; how many were left
    unsent is logged."""

    def __post_init__(self) -> None:
        for name, allowed in (
            ("log_level", LOG_LEVELS),
            ("log_format", LOG_FORMATS),
            ("audit_syslog_facility", tuple(FACILITIES)),
        ):
            if getattr(self, name) not in allowed:
                raise SettingsError(
                    f"{name}: expected one of {', '.join(allowed)}, got {getattr(self, name)!r}"
                )
        self._check_audit_sinks()

    def _check_audit_sinks(self) -> None:
        for name, check in (("audit_syslog", check_syslog_url), ("audit_http", check_http_url)):
            try:
                if getattr(self, name):
                    check(getattr(self, name))
            except ValueError as exc:
                raise SettingsError(f"{name}: {exc}") from None
        if self.audit_http_token_file and not self.audit_http:
            raise SettingsError("audit_http_token_file: set, but audit_http is not")
        if self.audit_buffer < 1:
            raise SettingsError(f"audit_buffer: at least 1, got {self.audit_buffer}")
        for name in ("audit_send_timeout", "audit_flush_timeout"):
            if getattr(self, name) <= 0:
                raise SettingsError(f"{name}: more than 0 seconds, got {getattr(self, name)}")


@dataclass(frozen=True, slots=True)
class WorkerConfig(ProcessSettings):
    host_id: str = field(default_factory=socket.gethostname)
    """Name of this Docker host as people see it (default: the machine's hostname)."""
    bind: str = DEFAULT_WORKER
    """ZeroMQ endpoint of the ROUTER socket; port `*` picks a free one."""
    docker_url: str = DOCKER_URL
    """The daemon this worker owns."""
    http_address: str = "127.0.0.1"
    """Address of /metrics, /healthz and /readyz."""
    http_port: int = 7702
    """Port of /metrics, /healthz and /readyz; 0 picks a free one (on the ready line)."""
    peer_timeout: float = 5.0
    """Seconds after its last Hello that a front end counts as gone (its connections
    are detached); announced to front ends, which say Hello well within it."""
    docker_threads: int = 8
    """Threads for blocking Docker control calls (create, inspect, resize, list)."""
    window: int = DEFAULT_WINDOW
    """Bytes of output a connection may have unacknowledged before the program is held."""
    detach_keys: str = DEFAULT_DETACH_KEYS
    """Docker's detach sequence for our execs (a lone first key is held back by Docker)."""
    curve_secret_key: str = ""
    """This worker's CurveZMQ .key_secret file (mode 0600 or 0400); required: every
    link is encrypted and authenticated, loopback included."""
    curve_allow: str = ""
    """Folder of the front ends' public keys (*.key) this worker accepts; required.
    Read again at every connection: a key removed is refused from then on."""
    ring_bytes: int = 1 << 20
    """Recent output kept per session for resuming and watchers (at least `window`)."""
    grace: float = 300.0
    """Seconds a session lives on without its owner's connection, waiting to resume."""
    idle_timeout: float = 0.0
    """Seconds without keystrokes after which a session ends; 0 never ends it."""
    idle_warning: float = 60.0
    """Seconds before the idle end at which everyone attached is warned."""
    kill_grace: float = 2.0
    """Seconds between SIGHUP and SIGKILL when a session's processes are ended."""
    deny_label: str = "dterm.deny"
    """Containers with this label (any value but false/0/no/off) are never listed or opened."""
    allow_label: str = ""
    """If set, only containers with this label (true) are listed and opened."""
    max_sessions: int = 500
    """Sessions this host runs at once."""
    max_sessions_per_person: int = 50
    """Sessions one person runs at once on this host."""
    audit_log: str = ""
    """File for the JSON-lines audit log of sessions; empty: none."""
    max_upload_bytes: int = 100 << 20
    """Largest file this host accepts into a container."""
    upload_idle_timeout: float = 30.0
    """Seconds an upload may receive nothing before it is given up (and its spool freed)."""
    max_uploads_per_person: int = 4
    """Uploads one person runs at once on this host."""
    max_log_tail: int = 10_000
    """Most lines of a container's log one request may ask for from its end."""
    max_log_bytes: int = 64 << 20
    """Bytes one logs request may read; a stream that reaches it is cut, saying so."""
    log_stall_timeout: float = 30.0
    """Seconds a logs stream may wait with a full window for its reader before it is
    cut (a follower that does not keep up is let go, never buffered without end)."""
    max_log_streams: int = 64
    """Logs streams this host serves at once (each holds one connection to Docker)."""
    max_log_streams_per_person: int = 8
    """Logs streams one person has open at once on this host."""
    record: bool = True
    """Record sessions (asciicast v2) unless the policy forbids it for a session."""
    state_dir: str = "state"
    """Folder of what must outlive this process: the processes of running sessions,
    ended by the next run if this one is killed (relative paths: from the working
    directory)."""
    recordings_dir: str = "recordings"
    """Folder of this host's recordings (relative paths: from the working directory)."""
    recording_max_bytes: int = 64 << 20
    """Size at which a recording continues in a new file (part 2, 3, ...)."""
    recordings_max_total_bytes: int = 10 << 30
    """Disk this host's recordings may take in all; past it the oldest finished ones
    are removed (checked every 10 s, counted in a metric); 0: no limit."""
    recording_retention_days: float = 30.0
    """Recordings older than this are deleted (checked hourly); 0 keeps them forever."""
    take_over: bool = False
    """Start by taking over every session of the worker running on this host (the
    same state_dir): it hands them over and exits; nobody's session ends. SIGHUP
    makes a worker start such a successor itself."""
    drain_timeout: float = 0.0
    """On SIGTERM, seconds to let running sessions finish by themselves (no new ones
    start meanwhile) before the rest are ended with a message saying why."""
    max_pending_input: int = 1 << 20
    """Keystrokes buffered for a session whose process does not read them, before
    further input is refused with an error."""
    metrics_token: str = ""
    """Bearer token a scraper must send to read /metrics (`Authorization: Bearer ...`);
    empty: /metrics answers 403 to everyone."""
    storage_bucket: str = ""
    """Bucket of an S3-compatible store that finished recordings are uploaded to (and
    listed and played from); empty: recordings stay on this host only."""
    storage_endpoint: str = ""
    """URL of the S3-compatible server (https://minio.example:9000); empty: AWS S3."""
    storage_region: str = ""
    """Region of the bucket; empty: from the AWS environment or config (else us-east-1)."""
    storage_prefix: str = "dterm/"
    """Start of every object key: recordings go to `<prefix><host_id>/<name>.cast`."""
    storage_path_style: bool = False
    """Address the bucket in the path (endpoint/bucket/key), as many S3-compatible
    servers want, rather than as a host name (bucket.endpoint/key)."""
    storage_credentials_file: str = ""
    """AWS-style credentials file (`[default]` with aws_access_key_id,
    aws_secret_access_key, optionally aws_session_token), mode 0600 or 0400; empty:
    the standard AWS chain (AWS_* variables, ~/.aws, an instance or pod role)."""
    storage_keep_local: bool = True
    """Keep a recording on this host once it is uploaded (the disk budget and the
    retention still apply); false deletes it as soon as the upload is confirmed."""
    storage_uploads: int = 2
    """Recordings uploaded at once (each holds at most one part in memory)."""
    storage_part_bytes: int = 16 << 20
    """Recordings larger than this go up in parts of this size (at least 5 MiB)."""
    storage_timeout: float = 30.0
    """Seconds to connect, and to wait for each answer, of one request to the store."""
    storage_upload_timeout: float = 900.0
    """Seconds one recording's upload may take before it is given up and retried."""
    storage_retry_initial: float = 5.0
    """Seconds before the first retry of a failed upload; each further failure doubles
    it (with jitter) up to `storage_retry_max`."""
    storage_retry_max: float = 600.0
    """Longest wait between two tries of an upload."""
    storage_verify_etag: bool = True
    """Check after each upload that the object's ETag is the MD5 of what was sent (of
    its parts for multipart). Turn off for servers whose ETags are not MD5 digests
    (SSE-KMS, SSE-C): the size is then checked, and each part's Content-MD5 still is."""

    def __post_init__(self) -> None:
        ProcessSettings.__post_init__(self)
        if self.storage_part_bytes < MIN_PART_BYTES:
            raise SettingsError(
                f"storage_part_bytes: at least {MIN_PART_BYTES} (5 MiB, the S3 minimum part)"
            )
        if self.storage_uploads < 1:
            raise SettingsError("storage_uploads: at least 1")
        if not 0 < self.storage_retry_initial <= self.storage_retry_max:
            raise SettingsError(
                "storage_retry_initial must be positive and at most storage_retry_max"
            )
        if self.storage_timeout <= 0 or self.storage_upload_timeout <= 0:
            raise SettingsError("storage_timeout and storage_upload_timeout must be positive")


@dataclass(frozen=True, slots=True)
class FrontendConfig(ProcessSettings):
    address: str = "127.0.0.1"
    """HTTP bind address; loopback unless told otherwise."""
    port: int = FRONTEND_PORT
    """HTTP port; 0 picks a free one (printed on the ready line)."""
    tls_cert: str = ""
    """PEM certificate chain to serve HTTPS and WSS with, on `port` (with `tls_key`).
    Empty: plain HTTP, for a TLS proxy in front. Loaded again when the file changes."""
    tls_key: str = ""
    """PEM private key of `tls_cert`; loaded again when the file changes (a pair that
    does not load is logged and the one before stays in use)."""
    workers: tuple[str, ...] = ()
    """ZeroMQ endpoints of the exec workers (default, without worker_dns either:
    tcp://127.0.0.1:7701)."""
    worker_dns: tuple[str, ...] = ()
    """DNS names whose records are workers: `name:port` (A/AAAA) or an SRV name."""
    dns_interval: float = 10.0
    """Seconds between lookups of `worker_dns`."""
    dns_nameserver: str = ""
    """`address:port` of the DNS server to ask; empty means the system's."""
    token: str = ""
    """Dev sign-in token. Empty: a random one, printed at start, when no other sign-in
    method is configured; none otherwise."""
    users_file: str = ""
    """JSON users file (argon2id hashes) for password sign-in."""
    tokens_file: str = ""
    """JSON file of admin-issued bearer tokens."""
    trusted_proxies: tuple[str, ...] = ()
    """Addresses or networks of reverse proxies whose X-Forwarded-For and
    X-Forwarded-Proto are believed (the client's address, TLS). Never identity."""
    sso_user_header: str = ""
    """Header in which a single sign-on proxy names the signed-in person (for example
    X-Forwarded-User). Empty: nobody is signed in by a header. Needs `sso_proxies`."""
    sso_groups_header: str = ""
    """Header in which the single sign-on proxy lists the person's groups,
    comma-separated; empty: such people have no groups."""
    sso_proxies: tuple[str, ...] = ()
    """Addresses or networks of the single sign-on proxies whose `sso_user_header` is
    believed. That proxy must remove the header from what clients send."""
    login_ttl: float = 12 * 3600.0
    """Seconds a sign-in lasts."""
    policy_file: str = ""
    """TOML policy: who may open or watch which containers. Required with accounts;
    without accounts (dev token only) everyone signed in may do everything."""
    audit_log: str = ""
    """File for the JSON-lines audit log of sign-ins and denials; empty: none."""
    cookie_secret: str = ""
    """Key that signs login cookies; front ends behind one balancer share it. Empty:
    one made on first start and kept in `state_dir` (mode 0600), so a restart signs
    nobody out."""
    state_dir: str = "state"
    """Folder of what this front end keeps between runs (its cookie secret), made 0700;
    relative paths are from the working directory."""
    allowed_origins: tuple[str, ...] = ()
    """Origins allowed besides the page's own (scheme://host[:port])."""
    ws_ping_interval: float = 20.0
    """Seconds between WebSocket pings: below the idle cut of nginx (60 s) and
    Cloudflare (100 s)."""
    ws_ping_timeout: float = 20.0
    """Seconds without a pong before the connection counts as dead (at most the interval)."""
    max_input_frame: int = 1 << 20
    """Largest binary (keystroke) frame accepted from a browser."""
    max_control_frame: int = 64 * 1024
    """Largest JSON control frame accepted from a browser."""
    request_timeout: float = 30.0
    """Seconds to wait for a worker's answer to a request (list, open)."""
    heartbeat_interval: float = 1.0
    """Seconds between Hello messages to each worker."""
    curve_secret_key: str = ""
    """This front end's CurveZMQ .key_secret file (mode 0600 or 0400); required."""
    worker_public_key: str = ""
    """The workers' public key file (.key); required."""
    max_upload_bytes: int = 100 << 20
    """Largest file a person may upload through this front end."""
    upload_idle_timeout: float = 60.0
    """Seconds an upload's request may send nothing before it is answered with an error."""
    web_root: str = ""
    """Folder holding the page (src/) and its npm packages (node_modules/); empty means
    the page installed with the package (frontend_server/web/), or in a checkout of
    the repository its web/ folder."""
    allowed_hosts: tuple[str, ...] = ()
    """Host names (or host:port) this front end answers to, against DNS rebinding.
    Empty: any Host when bound to a non-loopback address; when bound to loopback, only
    loopback names (localhost, 127.0.0.1, [::1]) besides those listed."""
    metrics_token: str = ""
    """Bearer token a scraper must send to read /metrics; empty: only the dev token
    (when there is one), else /metrics answers 403."""
    header_timeout: float = 10.0
    """Seconds from a new connection to the end of its first request's head; a client
    that is slower is disconnected (slow-header attacks)."""
    idle_timeout: float = 60.0
    """Seconds a kept-alive connection may wait, after a response, for the end of the
    next request's head before it is closed."""
    body_timeout: float = 60.0
    """Seconds to receive a request's whole body (uploads, streamed to the worker,
    are not bound by it)."""
    max_http_connections: int = 4096
    """HTTP connections open at once (terminal WebSockets, once upgraded, are not
    counted). Past it the oldest connection still waiting for its request is closed to
    make room, or if none is waiting, the new connection is; keep it well below the
    open-file limit."""
    oidc_issuer: str = ""
    """Issuer URL of an OpenID Connect provider (its /.well-known/openid-configuration
    is read); https, or http on a loopback address. Empty: no OpenID Connect sign-in."""
    oidc_client_id: str = ""
    """This front end's client id at the provider (required with `oidc_issuer`)."""
    oidc_client_secret_file: str = ""
    """File holding the client secret (mode 0600 or 0400); empty: a public client,
    which proves itself by PKCE alone."""
    oidc_client_auth: str = "client_secret_basic"
    """How the secret goes to the token endpoint, as registered at the provider:
    client_secret_basic (an Authorization header) or client_secret_post (the body)."""
    oidc_display_name: str = ""
    """Name on the page's button, "Sign in with ..."; empty: the issuer's host name."""
    oidc_scopes: tuple[str, ...] = ("openid", "profile", "email")
    """Scopes asked of the provider (openid is always added); some providers put the
    groups claim only under a scope of its own (for example `groups`)."""
    oidc_user_claim: str = "preferred_username"
    """ID token claim that names the person (as the policy's `users` do)."""
    oidc_groups_claim: str = "groups"
    """ID token claim listing the person's groups (a list or one string)."""
    oidc_redirect_url: str = ""
    """The callback URL registered at the provider; empty: the page's origin followed
    by /oidc/callback."""
    oidc_ca_file: str = ""
    """CA bundle for the provider's TLS certificate; empty: the system's."""
    oidc_timeout: float = 10.0
    """Seconds for each call to the provider (discovery, keys, code exchange)."""
    ldap_url: str = ""
    """LDAP server for password sign-in (ldap://host[:port] or ldaps://host[:port]);
    names not in the users file are checked there. Empty: no LDAP."""
    ldap_start_tls: bool = False
    """Upgrade an ldap:// connection with StartTLS before sending any password."""
    ldap_ca_file: str = ""
    """CA bundle for the server's TLS certificate (ldaps:// or StartTLS); empty: the
    system's."""
    ldap_user_dn: str = ""
    """Direct bind: the person's DN with {user} for the name, for example
    uid={user},ou=people,dc=example,dc=org. Empty: search, then bind."""
    ldap_bind_dn: str = ""
    """Search, then bind: the service account that finds people and their groups."""
    ldap_bind_password_file: str = ""
    """File holding the service account's password (mode 0600 or 0400)."""
    ldap_user_base: str = ""
    """Search, then bind: where people are searched."""
    ldap_user_filter: str = "(uid={user})"
    """Search, then bind: the filter that finds one person; {user} is the name."""
    ldap_group_base: str = ""
    """Where groups are searched; empty: people signed in by LDAP have no groups."""
    ldap_group_filter: str = "(|(member={dn})(uniqueMember={dn})(memberUid={user}))"
    """Filter of a person's groups; {dn} is the person's DN, {user} the name."""
    ldap_group_attribute: str = "cn"
    """Attribute of a group entry that is its name for the policy."""
    ldap_timeout: float = 5.0
    """Seconds for each exchange with the LDAP server."""


KEYS_HELP = 'make keys with `dterm keys --set DIR` (README, "Many hosts")'


def check_worker_security(config: WorkerConfig) -> None:
    """Every worker link is CurveZMQ-authenticated, loopback and ipc included."""
    if not config.curve_secret_key or not config.curve_allow:
        raise Forbidden(
            "a worker needs --curve-secret-key and --curve-allow: every ZeroMQ link is "
            f"authenticated, loopback included; {KEYS_HELP}"
        )


def check_frontend_security(config: FrontendConfig) -> None:
    if not config.curve_secret_key or not config.worker_public_key:
        raise Forbidden(
            "a front end needs --curve-secret-key and --worker-public-key: every ZeroMQ "
            f"link is authenticated, loopback included; {KEYS_HELP}"
        )

"""A real LDAP directory for tests: OpenLDAP's slapd from Debian's package.

Each directory has its own cn=config and database in a temporary folder and listens
on a loopback port with StartTLS offered (a certificate for 127.0.0.1 signed by a CA
made for it). People, groups of two kinds (groupOfNames with member DNs, posixGroup
with memberUid) and a service account are loaded with ldapadd, as an operator would.
slapd cannot bind port 0 and print it, so a port is drawn at random and drawn again
when slapd reports it taken.
"""

from __future__ import annotations

import base64
import hashlib
import os
import random
import re
import shutil
import subprocess
from dataclasses import dataclass
from pathlib import Path

from tests.support.containers import require
from tests.support.processes import ManagedProcess
from tests.support.tls import make_ca, make_server_cert

SLAPD = "/usr/sbin/slapd"
SUFFIX = "dc=example,dc=org"
ADMIN_DN = f"cn=admin,{SUFFIX}"
SERVICE_DN = f"cn=dterm,ou=services,{SUFFIX}"
PEOPLE = f"ou=people,{SUFFIX}"
GROUPS = f"ou=groups,{SUFFIX}"
READY = re.compile(r"slapd starting")
PORT_TRIES = 5


def ssha(password: str) -> str:
    """An {SSHA} userPassword value, as slappasswd makes."""
    salt = os.urandom(8)
    digest = hashlib.sha1(password.encode() + salt).digest()
    return "{SSHA}" + base64.b64encode(digest + salt).decode()


TLS = """\
olcTLSCACertificateFile: {folder}/ca.pem
olcTLSCertificateFile: {folder}/server.pem
olcTLSCertificateKeyFile: {folder}/server.key
"""

CONFIG = """\
dn: cn=config
objectClass: olcGlobal
cn: config
olcPidFile: {folder}/slapd.pid
{tls}
dn: cn=module{{0}},cn=config
objectClass: olcModuleList
cn: module{{0}}
olcModulePath: /usr/lib/ldap
olcModuleLoad: back_mdb

dn: cn=schema,cn=config
objectClass: olcSchemaConfig
cn: schema

include: file:///etc/ldap/schema/core.ldif
include: file:///etc/ldap/schema/cosine.ldif
include: file:///etc/ldap/schema/inetorgperson.ldif
include: file:///etc/ldap/schema/nis.ldif

dn: olcDatabase={{-1}}frontend,cn=config
objectClass: olcDatabaseConfig
objectClass: olcFrontendConfig
olcDatabase: {{-1}}frontend

dn: olcDatabase={{0}}config,cn=config
objectClass: olcDatabaseConfig
olcDatabase: {{0}}config
olcAccess: {{0}}to * by * none

dn: olcDatabase={{1}}mdb,cn=config
objectClass: olcDatabaseConfig
objectClass: olcMdbConfig
olcDatabase: {{1}}mdb
olcSuffix: {suffix}
olcDbDirectory: {folder}/db
olcDbMaxSize: 16777216
olcRootDN: {admin}
olcRootPW: {admin_password}
olcAccess: {{0}}to attrs=userPassword by anonymous auth by * none
olcAccess: {{1}}to * by users read by * none
"""


@dataclass
class Person:
    name: str
    password: str
    groups: tuple[str, ...] = ()
    """groupOfNames groups this person is a member of."""
    posix_groups: tuple[str, ...] = ()
    """posixGroup groups that list this person's name (memberUid)."""


def directory_ldif(people: list[Person], service_password: str) -> str:
    entries = [
        f"dn: {SUFFIX}\nobjectClass: dcObject\nobjectClass: organization\no: Example\ndc: example",
        *(
            f"dn: ou={ou},{SUFFIX}\nobjectClass: organizationalUnit\nou: {ou}"
            for ou in ("people", "groups", "services")
        ),
        f"dn: {SERVICE_DN}\nobjectClass: applicationProcess\nobjectClass: simpleSecurityObject\n"
        f"cn: dterm\nuserPassword: {ssha(service_password)}",
    ]
    for person in people:
        entries.append(
            f"dn: uid={person.name},{PEOPLE}\nobjectClass: inetOrgPerson\nuid: {person.name}\n"
            f"cn: {person.name}\nsn: {person.name}\nuserPassword: {ssha(person.password)}"
        )
    for group in sorted({g for p in people for g in p.groups}):
        members = "".join(f"\nmember: uid={p.name},{PEOPLE}" for p in people if group in p.groups)
        entries.append(f"dn: cn={group},{GROUPS}\nobjectClass: groupOfNames\ncn: {group}{members}")
    for number, group in enumerate(sorted({g for p in people for g in p.posix_groups})):
        members = "".join(f"\nmemberUid: {p.name}" for p in people if group in p.posix_groups)
        entries.append(
            f"dn: cn={group},{GROUPS}\nobjectClass: posixGroup\ncn: {group}\n"
            f"gidNumber: {5000 + number}{members}"
        )
    return "\n\n".join(entries) + "\n"


@dataclass
class Slapd:
    process: ManagedProcess
    folder: Path
    port: int
    admin_password: str

    @property
    def url(self) -> str:
        return f"ldap://127.0.0.1:{self.port}"

    @property
    def ca_file(self) -> Path:
        return self.folder / "ca.pem"

    def ldapadd(self, ldif: str) -> None:
        """Load entries the way an operator does."""
        subprocess.run(
            ["ldapadd", "-x", "-H", self.url, "-D", ADMIN_DN, "-w", self.admin_password],
            input=ldif,
            text=True,
            check=True,
            capture_output=True,
            timeout=30,
        )

    def stop(self) -> None:
        self.process.stop()


def start_slapd(
    folder: Path, people: list[Person], service_password: str, tls: bool = True
) -> Slapd:
    """A running directory holding these people, their groups and the service account;
    without `tls` it has no certificate and refuses StartTLS."""
    require(
        Path(SLAPD).exists() and shutil.which("ldapadd") is not None,
        "slapd is missing: apt-get install slapd ldap-utils",
    )
    admin_password = base64.b32encode(os.urandom(10)).decode()
    _configure(folder, admin_password, tls)
    for _ in range(PORT_TRIES):
        port = random.randint(20000, 60000)
        argv = [
            SLAPD,
            "-d",
            "256",
            "-F",
            str(folder / "slapd.d"),
            "-h",
            f"ldap://127.0.0.1:{port}/",
        ]
        try:
            process = ManagedProcess("slapd", argv, READY, timeout=20)
        except RuntimeError as exc:
            if "Address already in use" in str(exc):
                continue
            raise
        slapd = Slapd(process, folder, port, admin_password)
        slapd.ldapadd(directory_ldif(people, service_password))
        return slapd
    raise RuntimeError(f"slapd found no free port in {PORT_TRIES} tries")


def _configure(folder: Path, admin_password: str, tls: bool) -> None:
    """cn=config (slapadd -n0) and an empty database, TLS files made for 127.0.0.1."""
    (folder / "db").mkdir(parents=True)
    (folder / "slapd.d").mkdir()
    ca = make_ca(folder / "ca.pem")
    make_server_cert(ca, folder / "server.pem", folder / "server.key", "127.0.0.1")
    config = CONFIG.format(
        folder=folder,
        suffix=SUFFIX,
        admin=ADMIN_DN,
        admin_password=admin_password,
        tls=TLS.format(folder=folder) if tls else "",
    )
    subprocess.run(
        ["slapadd", "-n0", "-F", str(folder / "slapd.d")],
        input=config,
        text=True,
        check=True,
        capture_output=True,
        timeout=30,
    )

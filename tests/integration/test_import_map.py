"""The page's import map, against a real front end: every package the page imports by
name (`import ... from '@xterm/xterm'`) has an entry, the front end serves each entry
as JavaScript, and the Content Security Policy allows exactly the map the front end
serves, by the hash of its text."""

from __future__ import annotations

import base64
import hashlib
import json
import re
import shutil
from pathlib import Path

from tests.support.http import Reply, call
from tests.support.processes import ManagedProcess, start_frontend
from tests.support.terminal_client import Stack

SRC = Path(__file__).resolve().parents[2] / "web" / "src"
IMPORT = re.compile(r"""(?:\bfrom\s*|\bimport\s*\(?\s*)(['"])([^'"\n]+)\1""")
IMPORT_MAP = re.compile(r'<script type="importmap">(.*?)</script>', re.DOTALL)


def imported_names() -> dict[str, set[str]]:
    """Every module specifier in web/src: specifier -> the files that import it."""
    found: dict[str, set[str]] = {}
    for path in sorted(SRC.glob("*.js")):
        for match in IMPORT.finditer(path.read_text()):
            found.setdefault(match[2], set()).add(path.name)
    return found


def is_bare(specifier: str) -> bool:
    return not specifier.startswith(("./", "../", "/")) and "://" not in specifier


def import_map(page: str) -> tuple[str, dict[str, str]]:
    """The text of the page's one import map, and its imports."""
    maps = IMPORT_MAP.findall(page)
    assert len(maps) == 1, maps
    return maps[0], json.loads(maps[0])["imports"]


def hash_source(text: str) -> str:
    return f"'sha256-{base64.b64encode(hashlib.sha256(text.encode()).digest()).decode()}'"


def test_the_page_imports_packages_by_name() -> None:
    """The page imports xterm.js, its add-ons and asciinema-player by package name, and
    no module path names /vendor/ (where the front end happens to serve them)."""
    names = imported_names()
    bare = {name for name in names if is_bare(name)}
    assert {"@xterm/xterm", "@xterm/addon-fit", "asciinema-player"} <= bare
    assert not [name for name in names if "/vendor/" in name], names


def test_every_bare_import_resolves_to_a_served_module(stack: Stack) -> None:
    """Each bare specifier of web/src has an import map entry, and the front end answers
    that entry's URL with 200 and a JavaScript content type."""
    _, imports = import_map(call(stack, "/").body.decode())
    bare = {name: files for name, files in imported_names().items() if is_bare(name)}
    assert bare
    for name, files in bare.items():
        assert name in imports, f"{name} (imported by {sorted(files)}) is not in the import map"
        module = call(stack, imports[name])
        assert module.status == 200, (name, imports[name], module.status)
        assert "javascript" in module.headers["Content-Type"], (name, module.headers)


def test_the_policy_allows_the_served_import_map_and_no_other_script(stack: Stack) -> None:
    """The page's policy lists the hash of its import map's text as served, and no
    'unsafe-inline' for scripts."""
    page = call(stack, "/")
    text, _ = import_map(page.body.decode())
    script_src = directive(page, "script-src")
    assert "'unsafe-inline'" not in script_src
    assert [s for s in script_src if s.startswith("'sha256-")] == [hash_source(text)]


def directive(reply: Reply, name: str) -> list[str]:
    policy = reply.headers["Content-Security-Policy"]
    for part in policy.split(";"):
        words = part.split()
        if words and words[0] == name:
            return words[1:]
    raise AssertionError(f"no {name} in {policy}")


def test_the_hash_follows_the_page_the_front_end_serves(
    tmp_path: Path, worker: ManagedProcess
) -> None:
    """A front end serving another page (here: its import map with one more entry)
    allows that page's import map, not the one of web/src: the hash is read from the
    page, not written down."""
    root = tmp_path / "web"
    shutil.copytree(SRC, root / "src")
    (root / "node_modules").symlink_to(SRC.parent / "node_modules")
    index = root / "src" / "index.html"
    index.write_text(add_entry(index.read_text(), "dterm-format", "/static/format.js"))
    frontend = start_frontend([worker.match["endpoint"]], "--web-root", str(root))
    try:
        page = call(Stack(frontend.match["url"]), "/")
        text, imports = import_map(page.body.decode())
        assert imports["dterm-format"] == "/static/format.js"
        original, _ = import_map((SRC / "index.html").read_text())
        assert hash_source(text) in directive(page, "script-src")
        assert hash_source(original) not in directive(page, "script-src")
    finally:
        frontend.stop()


def add_entry(page: str, name: str, url: str) -> str:
    marker = '"imports": {'
    assert page.count(marker) == 1
    return page.replace(marker, f'{marker}\n      "{name}": "{url}",')

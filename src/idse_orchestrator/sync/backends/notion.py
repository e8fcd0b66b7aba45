"""The ``notion`` store: one Notion page per artifact in a database, through the official REST API.

Plain ``requests`` rather than the ``notion-client`` package: no extra dependency, and the same
transport as artifact-core (``http.HttpClient``: retries, timeouts, size limit, redaction, a
session per thread), with 429 waited out as ``Retry-After`` asks. ``Notion-Version`` is pinned.

Each page has the properties ``project``, ``session``, ``stage``, ``sha256`` (text), ``revision``
(number) and ``writer`` (text: the id of the write that made the current content). The exact
Markdown is stored in code blocks laid out as ``notion_blocks`` describes (within Notion's limits:
2,000 characters per rich-text segment, 100 blocks per request, no nesting); a reader takes exactly
the blocks of the page's current writer, and the engine checks the text against ``sha256``. Nothing
else on the page is read, so edits made in Notion are never mistaken for the document.

Notion has no conditional write, so a write is checked around: the page's revision and
``last_edited_time`` (the revision token is ``<revision>@<last_edited_time>``) must equal the base
before anything is written, and the revision and writer again just before the properties are
switched to the new blocks; after the switch, the page must still name this write. A write that
loses any check is a conflict (the engine keeps a conflict copy), never an overwrite. The remaining
window, between the last check and the switch, is described in docs/sync.md.
"""

from __future__ import annotations

import json
import re
import uuid
from collections.abc import Iterator
from typing import Any
from urllib.parse import quote, urlsplit

from idse_orchestrator.errors import RemoteError, UsageError
from idse_orchestrator.sync.backends.http import Bearer, HttpClient, is_loopback
from idse_orchestrator.sync.backends.notion_blocks import (
    TEXT_PROPERTIES,
    Page,
    captioned,
    code_blocks,
    requests_of,
    rich,
    text_of,
)
from idse_orchestrator.sync.redact import redact
from idse_orchestrator.sync.settings import SyncSettings
from idse_orchestrator.sync.store import Artifact, ArtifactRef, WriteResult
from idse_orchestrator.workspace import Workspace

API = "https://api.notion.com"
NOTION_VERSION = "2022-06-28"
PAGE_SIZE = 100
DATABASE_TITLE = "idse design store"
STATE_KEY = ("", "")  # the project state page: empty session and stage
_ID = re.compile(r"^[0-9a-fA-F]{8}-?[0-9a-fA-F]{4}-?[0-9a-fA-F]{4}-?[0-9a-fA-F]{4}-?[0-9a-fA-F]{12}$")


class NotionStore:
    def __init__(self, settings: SyncSettings, api: str, token: str) -> None:
        self.settings = settings
        self.project = settings.project
        self.database = settings.database
        self.parent_page = settings.parent_page
        where = f"database {self.database}" if self.database else f"page {self.parent_page}"
        self.description = f"notion {redact(api)} {where} (project {self.project})"
        # Notion allows about three requests per second per integration: more in flight only waits.
        self.concurrency = min(settings.concurrency, 3)
        self.http = HttpClient(
            settings,
            api.rstrip("/") + "/v1",
            auth=Bearer(token, {"Notion-Version": NOTION_VERSION}),
            rate_limited=(429,),
        )
        self._title: str | None = None
        self._pages: dict[tuple[str, str], str] = {}  # page ids seen by the last listing
        # Pages as listed, until written: a read of an unchanged page then needs only its blocks.
        self._listed: dict[tuple[str, str], Page] = {}

    # -- requests ----------------------------------------------------------------------------------
    def _call(self, method: str, path: str, body: Any = None, ok: tuple[int, ...] = (200,)) -> Any:
        status, data, where = self.http.call(method, path, body)
        if status not in ok:
            detail = data.get("message") if isinstance(data, dict) else None
            if status == 404 and "database" in path:
                detail = f"{detail or 'not found'} (is the database shared with the integration?)"
            raise self.http.unexpected(where, status, data, str(detail) if detail else None)
        return data

    def _paged(self, method: str, path: str, body: dict[str, Any] | None = None) -> Iterator[dict[str, Any]]:
        """Every result of a paginated list (``has_more`` / ``next_cursor``)."""
        cursor: str | None = None
        while True:
            if method == "GET":
                query = f"?page_size={PAGE_SIZE}" + (
                    f"&start_cursor={quote(cursor, safe='')}" if cursor else ""
                )
                data = self._call("GET", path + query)
            else:
                data = self._call(
                    method,
                    path,
                    {**(body or {}), "page_size": PAGE_SIZE, **({"start_cursor": cursor} if cursor else {})},
                )
            if not isinstance(data, dict) or not isinstance(data.get("results"), list):
                raise RemoteError(f"{method} {path}: invalid response (no results list)")
            yield from (r for r in data["results"] if isinstance(r, dict))
            cursor = data.get("next_cursor")
            if not data.get("has_more") or not isinstance(cursor, str) or not cursor:
                return

    # -- the database ------------------------------------------------------------------------------
    def _database(self) -> str:
        if self.database is None:
            found = self._find_database()
            if found is None:
                raise UsageError(
                    f"no '{DATABASE_TITLE}' database in Notion page {self.parent_page}; run 'idse sync init'"
                )
            self.database = found
        return self.database

    def _find_database(self) -> str | None:
        for block in self._paged("GET", f"/blocks/{self.parent_page}/children"):
            if (
                block.get("type") == "child_database"
                and block.get("child_database", {}).get("title") == DATABASE_TITLE
            ):
                return str(block["id"])
        return None

    def _schema(self) -> str:
        """The title property's name, after checking the database has the properties idse uses."""
        if self._title is None:
            database = self._database()
            data = self._call("GET", f"/databases/{database}")
            props = data.get("properties") if isinstance(data, dict) else None
            if not isinstance(props, dict):
                raise RemoteError(f"notion database {database}: invalid response (no properties)")
            types = {name: p.get("type") for name, p in props.items() if isinstance(p, dict)}
            wanted = {**{name: "rich_text" for name in TEXT_PROPERTIES}, "revision": "number"}
            wrong = sorted(name for name, kind in wanted.items() if types.get(name) != kind)
            if wrong:
                raise RemoteError(
                    f"notion database {database} lacks the properties {', '.join(wrong)} (or their types "
                    "differ); run 'idse sync init'"
                )
            self._title = next(name for name, kind in types.items() if kind == "title")
        return self._title

    def _query(self, key: tuple[str, str] | None = None) -> list[Page]:
        conditions = [{"property": "project", "rich_text": {"equals": self.project}}]
        if key is not None:
            for name, value in zip(("session", "stage"), key, strict=True):
                conditions.append(
                    {"property": name, "rich_text": {"equals": value} if value else {"is_empty": True}}
                )
        body = {"filter": {"and": conditions}}
        pages = [Page(raw) for raw in self._paged("POST", f"/databases/{self._database()}/query", body)]
        return [p for p in pages if not p.archived and p.project == self.project]

    def _current(self, key: tuple[str, str]) -> list[Page]:
        """The live pages of one artifact, the one kept first."""
        pages = [p for p in self._query(key) if (p.session, p.stage) == key]
        return sorted(pages, key=Page.rank)

    def _page(self, page_id: str) -> Page:
        return Page(self._call("GET", f"/pages/{page_id}"))

    # -- content -----------------------------------------------------------------------------------
    def _blocks(self, page_id: str) -> list[dict[str, Any]]:
        return list(self._paged("GET", f"/blocks/{page_id}/children"))

    def _read(self, page_id: str, key: tuple[str, str]) -> Artifact | None:
        listed = self._listed.get(key)
        if listed is not None and listed.id == page_id:
            # The blocks of the version listed, if they are all still there, are that version
            # exactly (a newer write deletes them only after switching the page to its own).
            text = text_of(self._blocks(page_id), listed.writer)
            if text is not None:
                return Artifact(listed.session, listed.stage, text, listed.sha256, listed.token)
        for _ in range(2):  # a write switching the page between our two requests: read again
            page = self._page(page_id)
            if page.archived or not page.committed:
                return None
            text = text_of(self._blocks(page_id), page.writer)
            if text is not None:
                return Artifact(page.session, page.stage, text, page.sha256, page.token)
        where = f"notion page {page_id} ({key[0][:64]}/{key[1][:64]})"
        raise RemoteError(f"{where}: the blocks of its current version are incomplete")

    def _append(self, page_id: str, blocks: list[dict[str, Any]]) -> list[str]:
        ids: list[str] = []
        for batch in requests_of(blocks):
            data = self._call("PATCH", f"/blocks/{page_id}/children", {"children": batch})
            ids.extend(str(b.get("id")) for b in (data.get("results") or []) if isinstance(b, dict))
        return ids

    def _delete(self, block_ids: list[str]) -> None:
        for block_id in block_ids:
            # Cleanup only: a block already gone (archived, deleted by a retry) is fine.
            self._call("DELETE", f"/blocks/{block_id}", ok=(200, 400, 404))

    def _properties(self, key: tuple[str, str], sha256: str, revision: int, writer: str) -> dict[str, Any]:
        title = f"{key[0]} / {key[1]}" if key != STATE_KEY else f"{self.project} / project state"
        props: dict[str, Any] = {self._schema(): {"title": rich(title)}, "revision": {"number": revision}}
        values = dict(zip(TEXT_PROPERTIES, (self.project, *key, sha256, writer), strict=True))
        props.update({name: {"rich_text": rich(value)} for name, value in values.items()})
        return props

    # -- writes ------------------------------------------------------------------------------------
    def _write(self, key: tuple[str, str], content: str, sha256: str, base: str | None) -> WriteResult:
        self._listed.pop(key, None)
        pages = self._current(key) if base is None or key not in self._pages else []
        if base is None:
            if pages and pages[0].committed:
                return WriteResult(False, pages[0].token, pages[0].sha256)
            if not pages:
                return self._create(key, content, sha256)
            page_id, base = pages[0].id, pages[0].token  # an unfinished creation: take it over
        else:
            page_id = self._pages.get(key) or (pages[0].id if pages else "")
            if not page_id:
                return WriteResult(False, None, None)
        return self._update(page_id, key, content, sha256, base)

    def _create(self, key: tuple[str, str], content: str, sha256: str) -> WriteResult:
        writer = uuid.uuid4().hex[:16]
        blocks = code_blocks(content, writer)
        first = next(requests_of(blocks))
        # Committed at once when every block fits in the creating request; otherwise created empty
        # and unfinished (revision 0, ignored by readers) and then written like an update.
        whole = len(first) == len(blocks)
        props = self._properties(key, sha256, 1, writer) if whole else self._properties(key, "", 0, "")
        body = {
            "parent": {"database_id": self._database()},
            "properties": props,
            "children": first if whole else [],
        }
        page = Page(self._call("POST", "/pages", body))
        pages = [page, *(p for p in self._current(key) if p.id != page.id)]
        winner = min(pages, key=Page.rank)
        # Created twice (by someone else too, or by a retry of ours whose answer was lost): one page
        # is kept, by a rule every writer applies alike; our other copies go to the trash.
        for extra in pages:
            if extra.id != winner.id and (extra.id == page.id or (whole and extra.writer == writer)):
                self._call("PATCH", f"/pages/{extra.id}", {"archived": True})
        if whole and winner.writer == writer:
            self._pages[key] = winner.id
            return WriteResult(True, winner.token, sha256)
        if winner.id != page.id:
            return WriteResult(False, winner.token if winner.committed else None, winner.sha256 or None)
        self._pages[key] = page.id
        return self._update(page.id, key, content, sha256, page.token)

    def _update(
        self, page_id: str, key: tuple[str, str], content: str, sha256: str, base: str
    ) -> WriteResult:
        before = self._page(page_id)
        if before.archived or (before.session, before.stage) != key:
            return WriteResult(False, None, None)
        if before.token != base:
            return WriteResult(False, before.token, before.sha256 or None)
        # Only the blocks of the version replaced are removed later: anything else on the page (a
        # person's notes, the blocks of a write in progress elsewhere) is left alone.
        old = [str(b.get("id")) for b in self._blocks(page_id) if (captioned(b) or ("",))[0] == before.writer]
        writer = uuid.uuid4().hex[:16]
        mine = self._append(page_id, code_blocks(content, writer))
        # Our own blocks changed last_edited_time: from here the revision and writer are compared.
        again = self._page(page_id)
        if (again.revision, again.writer) != (before.revision, before.writer):
            self._delete(mine)
            return WriteResult(False, again.token, again.sha256 or None)
        props = self._properties(key, sha256, before.revision + 1, writer)
        self._call("PATCH", f"/pages/{page_id}", {"properties": props})
        self._delete(old)
        after = self._page(page_id)
        if (after.revision, after.writer) != (before.revision + 1, writer):
            return WriteResult(False, after.token, after.sha256 or None)
        return WriteResult(True, after.token, sha256)

    # -- the interface -----------------------------------------------------------------------------
    def list_artifacts(self) -> list[ArtifactRef]:
        self._schema()
        kept: dict[tuple[str, str], Page] = {}
        for page in self._query():
            key = (page.session, page.stage)
            if key == STATE_KEY or not page.committed:
                continue
            if key not in kept or page.rank() < kept[key].rank():
                kept[key] = page
        refs: list[ArtifactRef] = []
        self._pages, self._listed = {}, {}
        for key, page in sorted(kept.items()):
            self._pages[key], self._listed[key] = page.id, page
            if not re.fullmatch(r"[0-9a-f]{64}", page.sha256):
                refs.append(ArtifactRef.refused(*key, "invalid sha256 property"))
            else:
                refs.append(ArtifactRef(*key, page.sha256, page.token))
        return refs

    def read_artifact(self, session: str, stage: str) -> Artifact | None:
        key = (session, stage)
        page_id = self._pages.get(key)
        if page_id is None:
            pages = [p for p in self._current(key) if p.committed]
            if not pages:
                return None
            page_id = pages[0].id
        return self._read(page_id, key)

    def write_artifact(
        self, session: str, stage: str, content: str, sha256: str, base_revision: str | None
    ) -> WriteResult:
        return self._write((session, stage), content, sha256, base_revision)

    def read_project_state(self) -> dict[str, Any]:
        self._schema()
        pages = [p for p in self._current(STATE_KEY) if p.committed]
        if not pages:
            return {}
        got = self._read(pages[0].id, STATE_KEY)
        try:
            state = json.loads(got.content) if got else {}
        except (ValueError, RecursionError):
            return {}
        return state if isinstance(state, dict) else {}

    def write_project_state(self, state: dict[str, Any]) -> None:
        from idse_orchestrator.sync.store import content_sha256

        text = json.dumps(state, sort_keys=True, indent=1)
        for _ in range(3):  # last writer wins, as with artifact-core; a lost race is simply retried
            pages = self._current(STATE_KEY)
            base = pages[0].token if pages and pages[0].committed else None
            self._pages.pop(STATE_KEY, None)
            if self._write(STATE_KEY, text, content_sha256(text), base).ok:
                return
        raise RemoteError(f"{self.description}: the project state kept changing while it was written")

    def init(self) -> str:
        if self.database is None and self.parent_page is not None:
            found = self._find_database()
            if found is None:
                body = {
                    "parent": {"type": "page_id", "page_id": self.parent_page},
                    "title": rich(DATABASE_TITLE),
                    "properties": {
                        "Name": {"title": {}},
                        **{name: {"rich_text": {}} for name in TEXT_PROPERTIES},
                        "revision": {"number": {}},
                    },
                }
                created = self._call("POST", "/databases", body)
                self.database = str(created.get("id"))
                return (
                    f"created the Notion database {self.database} in page {self.parent_page} "
                    f"(found there by its title; or set sync.database: {self.database})"
                )
            self.database = found
        database = self._database()
        data = self._call("GET", f"/databases/{database}")
        found_props = data.get("properties") if isinstance(data, dict) else None
        props = found_props if isinstance(found_props, dict) else {}
        missing: dict[str, Any] = {name: {"rich_text": {}} for name in TEXT_PROPERTIES if name not in props}
        if "revision" not in props:
            missing["revision"] = {"number": {}}
        if missing:
            self._call("PATCH", f"/databases/{database}", {"properties": missing})
        self._title = None
        count = len(self.list_artifacts())
        return f"reached {self.description}: database {database} ready, {count} artifact(s)"

    def close(self) -> None:
        self.http.close()


def open_store(settings: SyncSettings, ws: Workspace) -> NotionStore:
    if settings.database is None and settings.parent_page is None:
        raise UsageError(
            "the notion backend needs sync.database (IDSE_SYNC_DATABASE), or sync.parent_page "
            "(IDSE_SYNC_PARENT_PAGE) where 'idse sync init' creates the database"
        )
    for name, value in (("database", settings.database), ("parent_page", settings.parent_page)):
        if value is not None and not _ID.match(value):
            raise UsageError(f"sync.{name}: {value!r} is not a Notion id (32 hex digits, dashes optional)")
    if settings.token is None:
        raise UsageError("the notion backend needs the integration token in IDSE_SYNC_TOKEN")
    api = settings.url or API
    parts = urlsplit(api)
    if parts.scheme not in ("http", "https") or not parts.hostname or parts.query:
        raise UsageError(f"sync.url: expected the Notion API's https base URL, got {redact(api)!r}")
    if parts.scheme == "http" and not is_loopback(parts.hostname):
        raise UsageError(f"refusing to send the token over plain http to {parts.hostname}; use https")
    return NotionStore(settings, api, settings.token.get_secret_value())

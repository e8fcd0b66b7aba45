"""The in-memory model of the Notion API behind ``notion_server`` (the subset the notion store uses).

Notion's servers cannot be reached from the test machines and Notion ships no emulator, so this
implements, from the public API reference (version 2022-06-28): databases (retrieve, create,
update, query with ``rich_text`` ``equals``/``is_empty`` filters), pages (create, retrieve, update
properties or ``archived``), block children (list, append) and block delete; cursor pagination
(``has_more``/``next_cursor``, at most ``max_page_size`` results); ``last_edited_time`` rounded to
the minute as Notion does. It enforces the documented limits the store must respect, answering 400
``validation_error`` like Notion: 2,000 characters per rich-text segment (counted in UTF-16 units),
100 rich-text segments per array, 100 blocks per append or create request, two levels of nested
children, a 500 KB request body; and the bearer token and ``Notion-Version`` header.
``violations`` records every refused request.
"""

from __future__ import annotations

import hashlib
import threading
import time
import uuid
from typing import Any
from urllib.parse import parse_qs, urlsplit

VERSION = "2022-06-28"
MAX_BODY = 500_000


def _u16(text: str) -> int:
    return len(text) + sum(1 for c in text if ord(c) > 0xFFFF)


def rich(text: str) -> list[dict[str, Any]]:
    return [{"type": "text", "text": {"content": text}}] if text else []


def plain(items: list[dict[str, Any]]) -> str:
    return "".join(i["text"]["content"] for i in items)


class Invalid(Exception):
    pass


class NotionAPI:
    def __init__(self, token: str, max_page_size: int) -> None:
        self.token = token
        self.max_page_size = max_page_size
        self.lock = threading.RLock()
        self.databases: dict[str, dict[str, Any]] = {}
        self.pages: dict[str, dict[str, Any]] = {}
        self.blocks: dict[str, dict[str, Any]] = {}
        self.children: dict[str, list[str]] = {}  # page or block id -> child block ids, in order
        self.minutes = 0  # added to the clock: ``tick()`` makes the next edit land in a later minute
        self.violations: list[str] = []
        self.cursors_followed = 0

    # -- test controls -----------------------------------------------------------------------------
    def tick(self) -> None:
        self.minutes += 1

    def now(self) -> str:
        return time.strftime("%Y-%m-%dT%H:%M:00.000Z", time.gmtime(time.time() + 60 * self.minutes))

    def add_page(self) -> str:
        """A plain workspace page (not in a database): where ``sync init`` may create the database."""
        page_id = str(uuid.uuid4())
        self.pages[page_id] = {"id": page_id, "database_id": None, "properties": {}, "archived": False}
        self.children[page_id] = []
        return page_id

    def add_database(self, properties: dict[str, str] | None = None) -> str:
        schema = properties or {
            "Name": "title",
            **{n: "rich_text" for n in ("project", "session", "stage", "sha256", "writer")},
            "revision": "number",
        }
        db_id = str(uuid.uuid4())
        self.databases[db_id] = {"id": db_id, "title": "test", "properties": dict(schema), "parent": None}
        return db_id

    def find(self, project: str, session: str, stage: str) -> list[dict[str, Any]]:
        def text(page: dict[str, Any], name: str) -> str:
            value = page["properties"].get(name)
            return plain(value["rich_text"]) if value else ""

        return [
            p
            for p in self.pages.values()
            if p["database_id"]
            and not p["archived"]
            and (text(p, "project"), text(p, "session"), text(p, "stage")) == (project, session, stage)
        ]

    def content(self, project: str, session: str, stage: str) -> str | None:
        """The text of the current writer's blocks of the (single) live page, as a reader sees it."""
        pages = [p for p in self.find(project, session, stage) if p["properties"]["revision"]["number"]]
        if not pages:
            return None
        assert len(pages) == 1, pages
        writer = plain(pages[0]["properties"]["writer"]["rich_text"])
        parts: dict[int, str] = {}  # by position: a retried append may have added a block twice
        for block_id in self.children[pages[0]["id"]]:
            code = self.blocks[block_id].get("code")
            if code is None:
                continue
            caption = plain(code["caption"])
            if caption.startswith(f"idse {writer} "):
                parts[int(caption.split()[2].split("/")[0])] = plain(code["rich_text"])
        return "".join(parts[i] for i in sorted(parts))

    def put(
        self, database: str, project: str, session: str, stage: str, content: str, sha256: str | None = None
    ) -> str:
        """Another client's write (or any names and hash at all, for hostile-remote tests)."""
        with self.lock:
            found = self.find(project, session, stage)
            writer = uuid.uuid4().hex[:16]
            sha = sha256 or hashlib.sha256(content.encode("utf-8")).hexdigest()
            if found:
                page = found[0]
                revision = page["properties"]["revision"]["number"] + 1
            else:
                page = {
                    "id": str(uuid.uuid4()),
                    "database_id": database,
                    "archived": False,
                    "created_time": self.now(),
                }
                self.pages[page["id"]] = page
                self.children[page["id"]] = []
                revision = 1
            page["properties"] = {
                "Name": {"title": rich(f"{session} / {stage}")},
                **{
                    n: {"rich_text": rich(v)}
                    for n, v in zip(
                        ("project", "session", "stage", "sha256", "writer"),
                        (project, session, stage, sha, writer),
                        strict=True,
                    )
                },
                "revision": {"number": revision},
            }
            self.children[page["id"]] = []
            pieces = [content[i : i + 1000] for i in range(0, len(content), 1000)] or [""]
            block = {
                "type": "code",
                "code": {
                    "language": "markdown",
                    "rich_text": [t for p in pieces for t in rich(p)],
                    "caption": rich(f"idse {writer} 1/1"),
                },
            }
            self._add_blocks(page["id"], [block])
            page["last_edited_time"] = self.now()
            return str(page["id"])

    # -- objects -----------------------------------------------------------------------------------
    def _page_out(self, page: dict[str, Any]) -> dict[str, Any]:
        props = {}
        schema = self.databases[page["database_id"]]["properties"] if page["database_id"] else {}
        for name, kind in schema.items():
            inner = page["properties"].get(name, {}).get(kind)
            if kind in ("title", "rich_text"):
                inner = [{**i, "plain_text": i["text"]["content"], "annotations": {}} for i in inner or []]
            props[name] = {"id": name[:4], "type": kind, kind: inner}
        return {
            "object": "page",
            "id": page["id"],
            "created_time": page.get("created_time", ""),
            "last_edited_time": page.get("last_edited_time", ""),
            "archived": page["archived"],
            "in_trash": page["archived"],
            "parent": {"type": "database_id", "database_id": page["database_id"]},
            "properties": props,
        }

    def _check_rich(self, items: Any, where: str) -> None:
        if not isinstance(items, list):
            raise Invalid(f"{where} should be an array")
        if len(items) > 100:
            raise Invalid(f"{where}.length should be ≤ `100`, instead was `{len(items)}`.")
        for i, item in enumerate(items):
            content = item.get("text", {}).get("content")
            if not isinstance(content, str):
                raise Invalid(f"{where}[{i}].text.content should be a string")
            if _u16(content) > 2000:
                raise Invalid(
                    f"{where}[{i}].text.content.length should be ≤ `2000`, instead was `{_u16(content)}`."
                )

    def _check_blocks(self, blocks: Any, where: str, depth: int = 1) -> None:
        if not isinstance(blocks, list):
            raise Invalid(f"{where} should be an array")
        if len(blocks) > 100:
            raise Invalid(f"{where}.length should be ≤ `100`, instead was `{len(blocks)}`.")
        if depth > 3:
            raise Invalid(f"{where}: too many levels of nested children (at most 2)")
        for i, block in enumerate(blocks):
            kind = block.get("type")
            inner = block.get(kind) if isinstance(kind, str) else None
            if not isinstance(inner, dict):
                raise Invalid(f"{where}[{i}] should be a block object")
            for key in ("rich_text", "caption"):
                if key in inner:
                    self._check_rich(inner[key], f"{where}[{i}].{kind}.{key}")
            if "children" in inner:
                self._check_blocks(inner["children"], f"{where}[{i}].{kind}.children", depth + 1)

    def _add_blocks(self, parent: str, blocks: list[dict[str, Any]]) -> list[dict[str, Any]]:
        out = []
        for block in blocks:
            block_id = str(uuid.uuid4())
            stored = {
                "object": "block",
                "id": block_id,
                "type": block["type"],
                block["type"]: block[block["type"]],
            }
            stored.update({"has_children": False, "archived": False, "created_time": self.now()})
            self.blocks[block_id] = stored
            self.children.setdefault(parent, []).append(block_id)
            out.append(stored)
        return out

    def _set_props(self, page: dict[str, Any], props: Any) -> None:
        schema = self.databases[page["database_id"]]["properties"]
        for name, value in props.items():
            if name not in schema:
                raise Invalid(f"{name} is not a property that exists.")
            kind = schema[name]
            if kind in ("title", "rich_text"):
                self._check_rich(value.get(kind), f"body.properties.{name}.{kind}")
            elif kind == "number" and not isinstance(value.get("number"), (int, float, type(None))):
                raise Invalid(f"body.properties.{name}.number should be a number")
            page["properties"][name] = {kind: value.get(kind)}

    def _matches(self, page: dict[str, Any], flt: dict[str, Any]) -> bool:
        if "and" in flt:
            return all(self._matches(page, f) for f in flt["and"])
        value = page["properties"].get(flt["property"])
        kind = "title" if "title" in flt else "rich_text"
        text = plain(value[kind]) if value and value.get(kind) is not None else ""
        cond = flt[kind]
        if "equals" in cond:
            return bool(text == cond["equals"])
        if cond.get("is_empty"):
            return text == ""
        raise Invalid("unsupported filter")

    def _list(self, items: list[dict[str, Any]], size: Any, cursor: Any) -> dict[str, Any]:
        start = int(cursor[1:]) if isinstance(cursor, str) and cursor.startswith("c") else 0
        self.cursors_followed += start > 0
        size = min(int(size or 100), 100, self.max_page_size)
        chunk = items[start : start + size]
        more = start + size < len(items)
        return {
            "object": "list",
            "results": chunk,
            "has_more": more,
            "next_cursor": f"c{start + size}" if more else None,
        }

    # -- the API -----------------------------------------------------------------------------------
    def handle(
        self, method: str, path: str, headers: dict[str, str], body: Any, size: int
    ) -> tuple[int, Any]:
        if headers.get("authorization") != f"Bearer {self.token}":
            return 401, {
                "object": "error",
                "status": 401,
                "code": "unauthorized",
                "message": "API token is invalid.",
            }
        if headers.get("notion-version") != VERSION:
            return 400, {
                "object": "error",
                "status": 400,
                "code": "missing_version",
                "message": "Notion-Version header",
            }
        url = urlsplit(path)
        parts = url.path.split("/")[2:]  # after /v1
        query = {k: v[0] for k, v in parse_qs(url.query).items()}
        try:
            if size > MAX_BODY:
                raise Invalid(f"request body too large ({size} bytes, at most {MAX_BODY})")
            with self.lock:
                return self._route(method, parts, query, body or {})
        except Invalid as exc:
            self.violations.append(str(exc))
            return 400, {"object": "error", "status": 400, "code": "validation_error", "message": str(exc)}

    def _route(
        self, method: str, parts: list[str], query: dict[str, str], body: dict[str, Any]
    ) -> tuple[int, Any]:
        missing = (
            404,
            {
                "object": "error",
                "status": 404,
                "code": "object_not_found",
                "message": "Could not find object.",
            },
        )
        head = parts[0] if parts else ""
        if head == "databases":
            if method == "POST" and len(parts) == 1:
                parent = body["parent"]["page_id"]
                db_id = str(uuid.uuid4())
                schema = {name: next(iter(spec)) for name, spec in body["properties"].items()}
                self.databases[db_id] = {
                    "id": db_id,
                    "title": plain(body["title"]),
                    "properties": schema,
                    "parent": parent,
                }
                block = {
                    "object": "block",
                    "id": db_id,
                    "type": "child_database",
                    "child_database": {"title": plain(body["title"])},
                }
                self.blocks[db_id] = block
                self.children.setdefault(parent, []).append(db_id)
                return 200, self._db_out(db_id)
            db = self.databases.get(parts[1]) if len(parts) > 1 else None
            if db is None:
                return missing
            if method == "GET" and len(parts) == 2:
                return 200, self._db_out(db["id"])
            if method == "PATCH" and len(parts) == 2:
                for name, spec in body.get("properties", {}).items():
                    db["properties"][name] = next(iter(spec))
                return 200, self._db_out(db["id"])
            if method == "POST" and parts[2:] == ["query"]:
                rows = [p for p in self.pages.values() if p["database_id"] == db["id"] and not p["archived"]]
                if body.get("filter"):
                    rows = [p for p in rows if self._matches(p, body["filter"])]
                return 200, self._list(
                    [self._page_out(p) for p in rows], body.get("page_size"), body.get("start_cursor")
                )
        if head == "pages":
            if method == "POST" and len(parts) == 1:
                db_id = body["parent"]["database_id"]
                if db_id not in self.databases:
                    return missing
                children = body.get("children", [])
                self._check_blocks(children, "body.children")
                page = {
                    "id": str(uuid.uuid4()),
                    "database_id": db_id,
                    "properties": {},
                    "archived": False,
                    "created_time": self.now(),
                }
                self._set_props(page, body.get("properties", {}))
                self.pages[page["id"]] = page
                self.children[page["id"]] = []
                self._add_blocks(page["id"], children)
                page["last_edited_time"] = self.now()
                return 200, self._page_out(page)
            page = self.pages.get(parts[1]) if len(parts) == 2 else None
            if page is None or page["database_id"] is None:
                return missing
            if method == "GET":
                return 200, self._page_out(page)
            if method == "PATCH":
                if "properties" in body:
                    self._set_props(page, body["properties"])
                if "archived" in body:
                    page["archived"] = bool(body["archived"])
                page["last_edited_time"] = self.now()
                return 200, self._page_out(page)
        if head == "blocks" and len(parts) >= 2:
            target = parts[1]
            if target not in self.children and target not in self.blocks:
                return missing
            if parts[2:] == ["children"] and method == "GET":
                items = [
                    self.blocks[b]
                    for b in self.children.get(target, [])
                    if not self.blocks[b].get("archived")
                ]
                return 200, self._list(items, query.get("page_size"), query.get("start_cursor"))
            if parts[2:] == ["children"] and method == "PATCH":
                self._check_blocks(body.get("children"), "body.children")
                added = self._add_blocks(target, body["children"])
                if target in self.pages:
                    self.pages[target]["last_edited_time"] = self.now()
                return 200, {"object": "list", "results": added, "has_more": False, "next_cursor": None}
            if len(parts) == 2 and method == "DELETE":
                block = self.blocks.get(target)
                if block is None or block.get("archived"):
                    return missing
                block["archived"] = True
                for parent, ids in self.children.items():
                    if target in ids:
                        ids.remove(target)
                        if parent in self.pages:
                            self.pages[parent]["last_edited_time"] = self.now()
                return 200, block
        return 400, {
            "object": "error",
            "status": 400,
            "code": "invalid_request_url",
            "message": "Invalid request URL.",
        }

    def _db_out(self, db_id: str) -> dict[str, Any]:
        db = self.databases[db_id]
        props = {n: {"id": n[:4], "name": n, "type": t, t: {}} for n, t in db["properties"].items()}
        return {"object": "database", "id": db_id, "title": rich(db["title"]), "properties": props}

"""The FastAPI service: search, documents, passages, health and stats, and the search page.

Search handlers are plain ``def`` functions, so FastAPI runs them in its thread pool and requests
proceed concurrently; ``/healthz`` is ``async`` and answers on the event loop even while searches
are busy. The model is loaded once, when the app is created.
"""

from __future__ import annotations

import asyncio
import logging
import os
from pathlib import Path
from typing import Annotated, Any

from fastapi import FastAPI, HTTPException, Query, Request
from fastapi import Path as FastApiPath
from fastapi.exceptions import RequestValidationError
from fastapi.middleware.cors import CORSMiddleware
from fastapi.responses import FileResponse, JSONResponse, Response
from fastapi.staticfiles import StaticFiles
from starlette.exceptions import HTTPException as StarletteHTTPException
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from search_api.auth import ApiKeys
from search_api.commitments import CommitmentRequest, list_commitments
from search_api.export import ExportRequest, export
from search_api.request import QueryError, SearchRequest
from search_api.retrieval import Searcher
from search_api.schemas import CommitmentsResponse, DocumentView, ErrorBody, PassageView, SearchResponse

STATIC = Path(__file__).parent / "static"
OPEN_PATHS = ("/healthz", "/static/", "/favicon.ico")
log = logging.getLogger(__name__)


# what a framework-raised status means, in both languages (our own errors carry their own words)
STATUS_WORDS = {
    400: ("请求格式错误", "malformed request"),
    404: ("未找到该地址", "not found"),
    405: ("不支持该请求方法", "method not allowed"),
    408: ("请求体发送超时", "request body timed out"),
    413: ("请求体过大", "request body too large"),
    414: ("请求地址过长", "request URL too long"),
}
MAX_URL_CHARS = 8192
MAX_BODY_BYTES = 64 * 1024
BODY_TIMEOUT_S = 10.0
BIG_ID = 2**63 - 1  # SQLite's integer range


def _error(status: int, zh: str, en: str, headers: dict[str, str] | None = None) -> JSONResponse:
    body = {"detail": {"zh": zh, "en": en, "message": f"{zh} / {en}"}}
    return JSONResponse(status_code=status, content=body, headers=headers)


def _status_error(status: int) -> JSONResponse:
    zh, en = STATUS_WORDS.get(status, ("请求无法处理", "request cannot be handled"))
    return _error(status, zh, en)


def create_app(
    index_dir: Path,
    searcher: Searcher | None = None,
    api_keys: ApiKeys | None = None,
    cors_origins: list[str] | None = None,
) -> FastAPI:
    """Build the service for the index in ``index_dir`` (keys and CORS from the environment by default)."""
    searcher = searcher or Searcher(Path(index_dir))
    keys = api_keys if api_keys is not None else ApiKeys.from_environment()
    origins = (
        cors_origins
        if cors_origins is not None
        else [o for o in os.environ.get("POLICY_SEARCH_CORS_ORIGINS", "").split(",") if o]
    )
    app = FastAPI(
        title="policy-search",
        description="政策文件与提案答复的语义检索：每个结果都是原文的精确片段，附带出处引文。\n\n"
        "Semantic search over Chinese policy texts and proposal replies; "
        "every result is an exact span of its source with a citation.",
        version="0.1.0",
    )
    if origins:
        app.add_middleware(
            CORSMiddleware,
            allow_origins=origins,
            allow_methods=["GET", "POST"],
            allow_headers=["Authorization", "Content-Type"],
        )

    if keys.enabled:
        app.add_middleware(RequireKey, keys=keys)

    @app.exception_handler(StarletteHTTPException)
    async def http_error(_: Request, exc: StarletteHTTPException) -> JSONResponse:
        if isinstance(exc.detail, dict) and {"zh", "en"} <= set(exc.detail):
            return _error(exc.status_code, exc.detail["zh"], exc.detail["en"], exc.headers)
        return _status_error(exc.status_code)

    @app.exception_handler(QueryError)
    async def query_error(_: Request, exc: QueryError) -> JSONResponse:
        return _error(422, exc.zh, exc.en)

    @app.exception_handler(RequestValidationError)
    async def validation_error(_: Request, exc: RequestValidationError) -> JSONResponse:
        fields = ", ".join(".".join(str(p) for p in err["loc"][1:]) or "body" for err in exc.errors())
        return _error(422, f"请求参数无效：{fields}", f"invalid request parameters: {fields}")

    @app.exception_handler(Exception)
    async def internal_error(_: Request, exc: Exception) -> JSONResponse:
        log.exception("request failed")
        return _error(500, "服务器内部错误", "internal server error")

    @app.get("/healthz", tags=["service"])
    async def healthz() -> dict:
        return {"status": "ok"}

    @app.get("/stats", tags=["service"])
    def stats() -> dict:
        return searcher.stats()

    errors: dict[int | str, dict[str, Any]] = {
        422: {"model": ErrorBody, "description": "无效请求 / invalid request"},
        401: {"description": "需要 API 密钥 / API key required"},
    }

    @app.get("/search", response_model=SearchResponse, tags=["search"], responses=errors)
    def search_get(request: Annotated[SearchRequest, Query()]) -> dict:
        return searcher.search(request)

    @app.post("/search", response_model=SearchResponse, tags=["search"], responses=errors)
    def search_post(request: SearchRequest) -> dict:
        return searcher.search(request)

    @app.post("/export", tags=["search"], responses=errors, response_class=Response)
    def export_citations(request: ExportRequest) -> Response:
        """引文篮导出：各条引文按存储原文截取，附引文出处 / the gathered quotes, cut from the stored
        text, with numbered references, as Word (docx), Markdown or CSV."""
        content, media_type = export(searcher.store, request)
        disposition = f'attachment; filename="citations.{request.format}"'
        return Response(content, media_type=media_type, headers={"Content-Disposition": disposition})

    @app.get("/commitments", response_model=CommitmentsResponse, tags=["commitments"], responses=errors)
    def commitments(request: Annotated[CommitmentRequest, Query()]) -> dict:
        """承诺及其后续报告：有查询时按混合检索排序，无查询时最新在前 / commitments and their follow-ups."""
        return list_commitments(searcher, request)

    @app.get("/documents", tags=["documents"])
    def documents() -> list[dict]:
        """所有文档的编号与标题 / every document's id, source file, title, type and year."""
        return searcher.documents()

    @app.get("/documents/{doc_id}", response_model=DocumentView, tags=["documents"])
    def document(doc_id: Annotated[int, FastApiPath(ge=0, le=BIG_ID)]) -> dict:
        found = searcher.document(doc_id)
        if found is None:
            raise HTTPException(
                404,
                detail={
                    "zh": "文档不存在",
                    "en": "no such document",
                    "message": "文档不存在 / no such document",
                },
            )
        return found

    gone: dict[int | str, dict[str, Any]] = {
        410: {"description": "文档已更新，段落已被替换（给出新段落）/ replaced by an update, named"}
    }

    @app.get("/passages/{chunk_id}", response_model=PassageView, tags=["documents"], responses=gone)
    def passage(
        chunk_id: Annotated[int, FastApiPath(ge=0, le=BIG_ID)],
        width: int = Query(1, ge=0, le=5, description="前后各几段 / neighbours on each side"),
    ) -> dict:
        found = searcher.passage_with_neighbours(chunk_id, width)
        if found is None and (moved := searcher.replacement(chunk_id)) is not None:
            zh, en = (
                "该段落所在文档已更新，段落已被替换",
                "the passage's document was updated; the passage was replaced",
            )
            detail = {"zh": zh, "en": en, "message": f"{zh} / {en}", **moved}
            return JSONResponse(status_code=410, content={"detail": detail})  # type: ignore[return-value]
        if found is None:
            raise HTTPException(
                404,
                detail={
                    "zh": "段落不存在",
                    "en": "no such passage",
                    "message": "段落不存在 / no such passage",
                },
            )
        return found

    @app.get("/", include_in_schema=False)
    def page() -> FileResponse:
        return FileResponse(STATIC / "index.html")

    @app.get("/favicon.ico", include_in_schema=False)
    def favicon() -> FileResponse:
        """Browsers ask for /favicon.ico whatever the page links; the SVG icon answers it."""
        return FileResponse(STATIC / "favicon.svg", media_type="image/svg+xml")

    app.mount("/static", StaticFiles(directory=STATIC), name="static")
    app.add_middleware(RequestLimits)
    app.state.searcher = searcher
    return app


def app_from_environment() -> FastAPI:
    """The service for ``$POLICY_SEARCH_INDEX``: what each worker process builds when
    ``policy-search serve --workers N`` runs several (each maps the same read-only index)."""
    return create_app(Path(os.environ.get("POLICY_SEARCH_INDEX", "data/index")))


class RequireKey:
    """Refuse requests without a valid API key (401), except the page, its files and /healthz.

    A plain ASGI middleware, added only when keys are configured: Starlette's ``@app.middleware``
    wrapper runs every request through its own task and streams, a measurable cost per search.
    """

    def __init__(self, app: ASGIApp, keys: ApiKeys) -> None:
        self.app = app
        self.keys = keys

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "http" and self._guarded(scope):
            authorization = dict(scope.get("headers") or []).get(b"authorization", b"").decode("latin-1")
            if not self.keys.allows(authorization):
                refusal = _error(
                    401, "缺少或无效的 API 密钥", "missing or invalid API key", {"WWW-Authenticate": "Bearer"}
                )
                await refusal(scope, receive, send)
                return
        await self.app(scope, receive, send)

    @staticmethod
    def _guarded(scope: Scope) -> bool:
        path = scope["path"]
        return path != "/" and not path.startswith(OPEN_PATHS) and scope["method"] != "OPTIONS"


class RequestLimits:
    """Answer over-long URLs (414), over-large bodies (413) and bodies that stall (408) before any
    route runs, so a careless or hostile client cannot hold a worker."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        url_chars = len(scope.get("raw_path") or b"") + len(scope.get("query_string") or b"")
        declared = dict(scope.get("headers") or []).get(b"content-length", b"0")
        if url_chars > MAX_URL_CHARS:
            await _status_error(414)(scope, receive, send)
            return
        if not declared.isdigit() or int(declared) > MAX_BODY_BYTES:
            await _status_error(413 if declared.isdigit() else 400)(scope, receive, send)
            return
        if scope["method"] in ("GET", "HEAD", "OPTIONS"):
            await self.app(scope, receive, send)
            return
        body = bytearray()
        try:
            while True:
                message = await asyncio.wait_for(receive(), BODY_TIMEOUT_S)
                if message["type"] == "http.disconnect":
                    return
                body += message.get("body", b"")
                if len(body) > MAX_BODY_BYTES:
                    await _status_error(413)(scope, receive, send)
                    return
                if not message.get("more_body", False):
                    break
        except TimeoutError:
            await _status_error(408)(scope, receive, send)
            return
        await self.app(scope, _replay(bytes(body), receive), send)


def _replay(body: bytes, receive: Receive) -> Receive:
    """A receive channel that hands the app the body already read, then the client's own events."""
    sent = False

    async def replay() -> Message:
        nonlocal sent
        if sent:
            return await receive()
        sent = True
        return {"type": "http.request", "body": body, "more_body": False}

    return replay

"""The FastAPI service: search, documents, passages, health and stats, and the search page.

Search handlers are plain ``def`` functions, so FastAPI runs them in its thread pool and requests
proceed concurrently; ``/healthz`` is ``async`` and answers on the event loop even while searches
are busy. The model is loaded once, when the app is created.
"""

from __future__ import annotations

import logging
import os
from pathlib import Path
from typing import Annotated, Any

from fastapi import FastAPI, HTTPException, Query, Request
from fastapi.exceptions import RequestValidationError
from fastapi.middleware.cors import CORSMiddleware
from fastapi.responses import FileResponse, JSONResponse
from fastapi.staticfiles import StaticFiles

from search_api.auth import ApiKeys
from search_api.request import QueryError, SearchRequest
from search_api.retrieval import Searcher
from search_api.schemas import DocumentView, ErrorBody, PassageView, SearchResponse

STATIC = Path(__file__).parent / "static"
OPEN_PATHS = ("/healthz", "/static/")
log = logging.getLogger(__name__)


def _error(status: int, zh: str, en: str) -> JSONResponse:
    return JSONResponse(
        status_code=status, content={"detail": {"zh": zh, "en": en, "message": f"{zh} / {en}"}}
    )


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

    @app.middleware("http")
    async def require_key(request: Request, call_next):
        path = request.url.path
        guarded = (
            keys.enabled and path != "/" and not path.startswith(OPEN_PATHS) and request.method != "OPTIONS"
        )
        if guarded and not keys.allows(request.headers.get("authorization")):
            return _error(401, "缺少或无效的 API 密钥", "missing or invalid API key")
        return await call_next(request)

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

    @app.get("/documents", tags=["documents"])
    def documents() -> list[dict]:
        """所有文档的编号与标题 / every document's id, source file, title, type and year."""
        return searcher.documents()

    @app.get("/documents/{doc_id}", response_model=DocumentView, tags=["documents"])
    def document(doc_id: int) -> dict:
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

    @app.get("/passages/{chunk_id}", response_model=PassageView, tags=["documents"])
    def passage(
        chunk_id: int, width: int = Query(1, ge=0, le=5, description="前后各几段 / neighbours on each side")
    ) -> dict:
        found = searcher.passage_with_neighbours(chunk_id, width)
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

    app.mount("/static", StaticFiles(directory=STATIC), name="static")
    app.state.searcher = searcher
    return app

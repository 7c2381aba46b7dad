"""Request and response shapes of the HTTP API (they also document it in OpenAPI)."""

from __future__ import annotations

from typing import Literal, Optional

from pydantic import BaseModel, Field

EXAMPLE_QUERY = "天津有多少家企业在香港上市"


class SearchBody(BaseModel):
    """POST /search body; the same fields as the GET query parameters."""

    q: str = Field(..., description="查询内容 / the query", examples=[EXAMPLE_QUERY])
    k: int = Field(10, description="返回段落数 / passages to return (1–100)")
    mode: str = Field("hybrid", description="hybrid | dense | lexical")
    doc_type: Optional[str] = Field(None, description="reply | policy | report | other")
    year_from: Optional[int] = None
    year_to: Optional[int] = None
    issuer: Optional[str] = Field(None, description="发文机关（包含匹配）/ issuing body, substring match", examples=["天津市民政局"])
    commitments_only: bool = Field(False, description="只返回承诺类段落（下一步、力争……）/ only commitments")
    sort: str = Field("relevance", description="relevance | date（最新在前 / newest first）")
    per_doc: Optional[int] = Field(None, description="每个文档最多几段 / at most this many passages per document")

    model_config = {"json_schema_extra": {"examples": [{"q": "加装电梯补贴标准", "k": 5, "mode": "hybrid", "doc_type": "reply", "sort": "date"}]}}


class ModeRank(BaseModel):
    rank: int
    score: float


class Sentence(BaseModel):
    start: int = Field(description="文档规范文本中的起始字符位置 / start offset in the document's canonical text")
    end: int
    text: str = Field(description="原文句子，等于 document.text[start:end] / exact source span")


class DocumentFields(BaseModel):
    """What a passage and its document both say about the document."""

    doc_id: int
    source: str
    title: Optional[str]
    doc_type: Optional[str]
    issuer: Optional[str]
    date: Optional[str]
    year: Optional[int]
    doc_number: Optional[str]
    proposal_number: Optional[str]
    answer_category: Optional[str]


class Passage(DocumentFields):
    chunk_id: int
    section: str = Field(description="标题路径 / heading path, parts joined by ' > '")
    page: Optional[int]
    end_page: Optional[int]
    start: int = Field(description="文档规范文本中的起始字符位置 / start offset in the document's canonical text")
    end: int
    text: str = Field(description="原文片段，等于 document.text[start:end] / exact source span")
    is_commitment: bool
    highlight: str = Field(description="HTML，匹配词用 <mark> 标出 / HTML with matched words in <mark>")
    score: float
    ranks: dict[str, ModeRank]
    citation: str = Field(examples=["《关于大力发展高端科技应用促进经济社会发展的提案的答复》（天津市人民政府，2023年）二、天津经开区有关情况"])
    best_sentence: Optional[Sentence] = Field(
        None, description="段落中与查询最接近的句子（词法检索时为空） / the passage's sentence nearest the query (none in lexical mode)")


class SearchResponse(BaseModel):
    query: str
    mode: Literal["hybrid", "dense", "lexical"]
    took_ms: float
    results: list[Passage]
    reason: Optional[str] = Field(None, description="结果为空的原因 / why the list is empty")


class DocumentView(DocumentFields):
    metadata: dict
    text: str = Field(description="规范文本；段落的 start/end 指向这里 / canonical text that passage offsets refer to")
    passages: list[dict] = Field(description="本文档的段落位置 / the document's passages: chunk_id, start, end, section, is_commitment")


class PassageView(BaseModel):
    passage: Passage
    neighbours: list[Passage] = Field(description="前后相邻段落 / the passages before and after")


class ErrorBody(BaseModel):
    zh: str
    en: str
    message: str

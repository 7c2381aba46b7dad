"""Response shapes of the HTTP API (they also document it in OpenAPI); the request is
``search_api.request.SearchRequest``."""

from __future__ import annotations

from pydantic import BaseModel, Field

from search_api.request import Mode


class ModeRank(BaseModel):
    rank: int
    score: float


class Sentence(BaseModel):
    start: int = Field(
        description="文档规范文本中的起始字符位置 / start offset in the document's canonical text"
    )
    end: int
    text: str = Field(description="原文句子，等于 document.text[start:end] / exact source span")


class DocumentFields(BaseModel):
    """What a passage and its document both say about the document."""

    doc_id: int
    source: str
    title: str | None
    doc_type: str | None
    issuer: str | None
    date: str | None
    year: int | None
    doc_number: str | None
    proposal_number: str | None
    answer_category: str | None


class SupersededBy(BaseModel):
    doc_id: int
    chunk_id: int
    title: str | None
    year: int | None
    start: int
    end: int
    text: str = Field(description="后来文件的原文，等于 document.text[start:end] / exact later span")
    citation: str


class Passage(DocumentFields):
    chunk_id: int
    section: str = Field(description="标题路径 / heading path, parts joined by ' > '")
    page: int | None
    end_page: int | None
    start: int = Field(
        description="文档规范文本中的起始字符位置 / start offset in the document's canonical text"
    )
    end: int
    text: str = Field(description="原文片段，等于 document.text[start:end] / exact source span")
    is_commitment: bool
    role: str = Field(
        description="段落角色 / the passage's part of its document: header（标题、文号、称谓）, "
        "opening（收悉、现答复如下）, body（正文）, closing（感谢、类别、联系人）, signature（落款、日期）"
    )
    highlight: str = Field(description="HTML，匹配词用 <mark> 标出 / HTML with matched words in <mark>")
    score: float
    ranks: dict[str, ModeRank]
    citation: str = Field(
        examples=[
            "《关于大力发展高端科技应用促进经济社会发展的提案的答复》（天津市人民政府，2023年）二、天津经开区有关情况"
        ]
    )
    best_sentence: Sentence | None = Field(
        None,
        description="段落中与查询最接近的句子（词法检索时为空） / "
        "the passage's sentence nearest the query (none in lexical mode)",
    )
    commitment_ids: list[int] = Field(
        default_factory=list, description="段落中的承诺（见 /commitments）/ commitments this passage holds"
    )
    superseded_by: SupersededBy | None = Field(
        None,
        description="本段所述数字已被后来的文件修改时，修改它的文件与原文 / the later document and "
        "exact span replacing a figure this passage states",
    )
    folded: list[Passage] | None = Field(
        None,
        description="按文档归并时，同一文档的其他段落 / with group=true, the document's other passages",
    )


class SearchResponse(BaseModel):
    query: str
    mode: Mode
    took_ms: float
    results: list[Passage]
    reason: str | None = Field(
        None,
        description="结果为空的原因，或结果不符合查询所问年份的说明 / why the list is empty, or why "
        "its passages are not from the years the query asks about",
    )
    interpreted: dict[str, list[int] | list[str]] | None = Field(
        None,
        description="查询中相对时间与机关简称的理解 / how relative years and short names of bodies "
        'in the query were read, e.g. {"去年": [2025], "发改委": ["发展和改革委员会"]}',
    )
    index_notice: str | None = Field(
        None,
        description="索引正在重建时的提示：结果来自上一次完成的索引 / set while a new index is being "
        "built: the results come from the last complete one",
    )


class FollowUp(DocumentFields):
    start: int
    end: int
    text: str = Field(description="后续报告原文，等于 document.text[start:end] / exact source span")
    relation: str = Field(description="progress | done | revised | restated")
    explicit: bool = Field(
        description="后续文件是否引用了承诺所在文件 / the later document cites the promise's"
    )
    score: float
    citation: str


class Commitment(DocumentFields):
    commitment_id: int
    chunk_id: int = Field(description="承诺所在段落 / the passage holding it")
    start: int
    end: int
    section: str
    text: str = Field(description="承诺原文，等于 document.text[start:end] / exact source span")
    deadline_year: int | None = Field(description="完成期限年份 / the year it is due, where stated")
    target: str | None = Field(
        description="目标数字及单位 / the target figure with its unit", examples=["20万个"]
    )
    topic: str = Field(description="主题词 / topic words")
    status: str = Field(description="done | in_progress | revised | no_follow_up")
    citation: str
    follow_ups: list[FollowUp] = Field(description="后续报告，最新在前 / later reports, newest first")


class CommitmentsResponse(BaseModel):
    query: str
    took_ms: float
    commitments: list[Commitment]
    reason: str | None = Field(None, description="结果为空的原因 / why the list is empty")


class DocumentView(DocumentFields):
    metadata: dict
    text: str = Field(
        description="规范文本；段落的 start/end 指向这里 / canonical text that passage offsets refer to"
    )
    passages: list[dict] = Field(
        description="本文档的段落位置 / the document's passages: "
        "chunk_id, start, end, section, page, is_commitment, role"
    )
    commitments: list[Commitment] = Field(
        default_factory=list, description="本文档的承诺及其后续 / its commitments and what became of them"
    )
    cites: list[DocumentFields] = Field(
        default_factory=list, description="本文档引用的文件 / documents it cites"
    )
    cited_by: list[DocumentFields] = Field(
        default_factory=list, description="引用本文档的文件 / documents citing it"
    )


class PassageView(BaseModel):
    passage: Passage
    neighbours: list[Passage] = Field(description="前后相邻段落 / the passages before and after")


class ErrorBody(BaseModel):
    zh: str
    en: str
    message: str

"""A search request: its fields, their allowed values and its validation, defined once.

The HTTP API (GET parameters and POST body), the CLI options and the evaluation all build a
``SearchRequest``; ``check`` raises a ``QueryError`` carrying a Chinese and an English message.
"""

from __future__ import annotations

from datetime import date
from typing import Literal, get_args

from pydantic import BaseModel, ConfigDict, Field, field_validator

Mode = Literal["hybrid", "dense", "lexical"]
Sort = Literal["relevance", "date"]
DocType = Literal["reply", "policy", "report", "other"]
AnswerCategory = Literal["A", "B", "C"]
MODES: tuple[str, ...] = get_args(Mode)
SORTS: tuple[str, ...] = get_args(Sort)
DOC_TYPES: tuple[str, ...] = get_args(DocType)
ANSWER_CATEGORIES: tuple[str, ...] = get_args(AnswerCategory)
MAX_QUERY_CHARS = 512
MAX_K = 100
FIRST_YEAR, LAST_YEAR = 1, 9999  # a year filter outside this range is a mistake, not a wish
EXAMPLE_QUERY = "天津有多少家企业在香港上市"


class QueryError(ValueError):
    """A request that cannot be answered as asked; carries a Chinese and an English message."""

    def __init__(self, zh: str, en: str) -> None:
        super().__init__(f"{zh} / {en}")
        self.zh, self.en = zh, en


class SearchRequest(BaseModel):
    """What to search for and how; ``q`` on the wire, ``query`` in code."""

    model_config = ConfigDict(
        populate_by_name=True,
        json_schema_extra={
            "examples": [{"q": "加装电梯补贴标准", "k": 5, "doc_type": "reply", "sort": "date"}]
        },
    )

    query: str = Field(alias="q", description="查询内容 / the query", examples=[EXAMPLE_QUERY])
    k: int = Field(10, description=f"返回段落数 / passages to return (1–{MAX_K})")
    mode: str = Field("hybrid", description=" | ".join(MODES))
    doc_type: str | None = Field(None, description=" | ".join(DOC_TYPES))
    year_from: int | None = Field(None, description="起始年份 / first year", ge=FIRST_YEAR, le=LAST_YEAR)
    year_to: int | None = Field(None, description="结束年份 / last year", ge=FIRST_YEAR, le=LAST_YEAR)
    issuer: str | None = Field(
        None,
        description="发文机关（包含匹配，识别发改委、人社局等简称）/ issuing body, substring; "
        "short forms understood",
        examples=["天津市民政局"],
    )
    answer_category: str | None = Field(
        None,
        description="答复类别（A 类：所提问题已解决或采纳；B 类：正在解决或列入计划；C 类：留作参考）"
        " / a reply's answer category: " + " | ".join(ANSWER_CATEGORIES),
    )
    proposal_number: str | None = Field(
        None,
        description="提案或建议编号（包含匹配，如 0215）/ proposal number, substring",
        examples=["第0215号"],
    )
    date_from: date | None = Field(
        None,
        description="起始日期（含，YYYY-MM-DD；不含日期未知的文档）"
        " / first date, inclusive; undated documents are left out",
    )
    date_to: date | None = Field(None, description="结束日期（含，YYYY-MM-DD）/ last date, inclusive")
    commitments_only: bool = Field(False, description="只返回承诺类段落（下一步、力争……）/ only commitments")
    sort: str = Field("relevance", description="relevance | date（最新在前 / newest first）")
    per_doc: int | None = Field(
        None, description="每个文档最多几段 / at most this many passages per document"
    )
    group: bool = Field(
        False,
        description="按文档归并：每个文档一条，其余段落收在 folded 中 / one result per document, "
        "its other passages folded under it",
    )

    @field_validator("query", "mode", "doc_type", "issuer", "sort", "answer_category", "proposal_number")
    @classmethod
    def _no_lone_surrogates(cls, value: str | None) -> str | None:
        """JSON can spell half of a UTF-16 pair (``"\\ud800"``), which no text contains."""
        if value is not None and any("\ud800" <= char <= "\udfff" for char in value):
            raise ValueError("lone surrogate / 孤立的代理字符")
        return value

    def check(self) -> None:
        """Raise a bilingual ``QueryError`` for a request that cannot be answered as asked."""
        if not self.query or not self.query.strip():
            raise QueryError("查询内容不能为空", "the query must not be empty")
        check_query_length(self.query)
        check_k(self.k)
        check_choice(self.mode, MODES, "检索模式", "mode")
        check_choice(self.sort, SORTS, "排序方式", "sort")
        if self.doc_type is not None:
            check_choice(self.doc_type, DOC_TYPES, "文档类型", "doc_type")
        if self.answer_category is not None:
            check_choice(self.answer_category, ANSWER_CATEGORIES, "答复类别", "answer_category")
        check_year_order(self.year_from, self.year_to)
        if self.date_from and self.date_to and self.date_from > self.date_to:
            raise QueryError("起始日期不能晚于结束日期", "date_from must not be after date_to")
        if self.per_doc is not None and not 1 <= self.per_doc <= MAX_K:
            raise QueryError(
                f"每个文档的结果上限必须在 1 到 {MAX_K} 之间", f"per_doc must be between 1 and {MAX_K}"
            )


# the checks a search and a commitment listing share (``search_api.commitments``)
def check_query_length(query: str) -> None:
    if len(query) > MAX_QUERY_CHARS:
        raise QueryError(
            f"查询内容不能超过{MAX_QUERY_CHARS}个字符",
            f"the query must be at most {MAX_QUERY_CHARS} characters",
        )


def check_k(k: int) -> None:
    if not 1 <= k <= MAX_K:
        raise QueryError(f"k 必须在 1 到 {MAX_K} 之间", f"k must be between 1 and {MAX_K}")


def check_year_order(year_from: int | None, year_to: int | None) -> None:
    if year_from and year_to and year_from > year_to:
        raise QueryError("起始年份不能晚于结束年份", "year_from must not be after year_to")


def check_choice(value: str, allowed: tuple[str, ...], zh_name: str, en_name: str) -> None:
    if value not in allowed:
        raise QueryError(
            f"未知的{zh_name}：{value}（可选 {', '.join(allowed)}）",
            f"unknown {en_name} {value!r}; use one of {', '.join(allowed)}",
        )

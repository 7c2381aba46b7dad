"""The search page in a real headless Chromium: search, copy a citation, open the document view."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

from search_api.app import create_app
from search_api.auth import ApiKeys
from tests.conftest import running_server

CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser")
pytestmark = [
    pytest.mark.browser,
    pytest.mark.skipif(CHROMIUM is None, reason="Debian's chromium package is not installed"),
]


@pytest.fixture(scope="module")
def server_url(replies_index, searcher):
    with running_server(create_app(replies_index, searcher=searcher, api_keys=ApiKeys([]))) as url:
        yield url


@pytest.fixture(scope="module")
def browser():
    from playwright.sync_api import sync_playwright

    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(
            executable_path=CHROMIUM,
            args=[
                "--no-sandbox",
                "--disable-gpu",
                "--disable-quic",
                "--no-first-run",
                "--disable-background-networking",
                "--disable-component-update",
                "--disable-sync",
            ],
        )
        yield browser
        browser.close()


@pytest.mark.parametrize("width, height", [(1280, 900), (390, 844)])
def test_search_copy_and_document_view(browser, server_url, tmp_path, width, height):
    context = browser.new_context(viewport={"width": width, "height": height}, locale="zh-CN")
    context.grant_permissions(["clipboard-read", "clipboard-write"], origin=server_url)
    page = context.new_page()
    page.goto(server_url + "/")
    page.fill("#q", "天津有多少家企业在香港上市")
    page.click("#go")
    first = page.locator("#results .result").first
    first.wait_for(timeout=30_000)
    assert "在港上市企业共20" in first.locator(".passage").inner_text()
    assert first.locator(".passage mark").count() > 0
    citation = first.locator(".citation").inner_text()
    assert citation.startswith("《关于大力发展高端科技应用促进经济社会发展的提案的答复》")

    first.locator(".copy-citation").click()
    page.wait_for_function("document.querySelector('#results .copy-citation').textContent === '已复制'")
    assert page.evaluate("navigator.clipboard.readText()") == citation

    # the passage's sentence nearest the query, quoted with its citation
    first.locator(".copy-sentence").click()
    page.wait_for_function("document.querySelector('#results .copy-sentence').textContent === '已复制'")
    quoted = page.evaluate("navigator.clipboard.readText()")
    assert (
        quoted.startswith("“") and "在港上市企业共20" in quoted and quoted.endswith("”（" + citation + "）")
    )

    page.screenshot(path=str(tmp_path / f"results-{width}.png"), full_page=False)
    scroll_width = page.evaluate("document.documentElement.scrollWidth")
    assert scroll_width <= width + 1  # nothing overflows sideways, also at phone width

    first.locator(".open-doc").click()
    target = page.locator("#doc-text mark.target")
    target.wait_for(timeout=10_000)
    assert "在港上市企业共20" in target.inner_text()
    assert page.locator("#doc-title").inner_text() == "关于大力发展高端科技应用促进经济社会发展的提案的答复"
    page.screenshot(path=str(tmp_path / f"document-{width}.png"))
    _keep_screenshots(tmp_path)
    context.close()


def _keep_screenshots(folder: Path) -> None:
    """Copy a test's screenshots where a person can look at them after the run."""
    shots = Path("/tmp/policy-search-screenshots")
    shots.mkdir(exist_ok=True)
    for shot in folder.glob("*.png"):
        shutil.copy(shot, shots / shot.name)


def test_page_shows_bilingual_error(browser, server_url):
    page = browser.new_page()
    page.goto(server_url + "/")
    page.evaluate("document.getElementById('q').removeAttribute('required')")
    page.fill("#q", "养老")
    page.click("#filters summary")
    page.select_option("#mode", "dense")
    page.fill("#year_from", "2030")
    page.fill("#year_to", "2020")
    page.click("#go")
    page.wait_for_function("document.getElementById('status').textContent.includes('year_from')")
    assert "起始年份" in page.locator("#status").inner_text()
    page.close()


@pytest.mark.parametrize("width, height", [(1280, 900), (390, 844)])
def test_commitment_timeline_and_the_documents_commitments(browser, server_url, tmp_path, width, height):
    page = _page_at(browser, width, height)
    page.goto(server_url + "/#/commitments")
    page.locator("#commitments .commitment").first.wait_for(timeout=30_000)  # newest first, unasked
    page.fill("#cq", "乡镇公共充电站全覆盖")
    page.click("#cgo")
    page.wait_for_function("document.getElementById('c-status').textContent.includes('项承诺')")
    promise = page.locator("#commitments .commitment", has_text="2025年底前实现乡镇公共充电站全覆盖").first
    promise.wait_for(timeout=30_000)
    entries = promise.locator(".timeline li")
    assert entries.count() >= 3 and "承诺（期限2025年）" in entries.first.inner_text()
    assert promise.locator(".status").inner_text() == "已调整"
    report = promise.locator(".timeline li.follow-up", has_text="已有102个建成公共充电站")
    assert "2023年 进展 · 引用原文件" in report.inner_text()
    assert page.evaluate("document.documentElement.scrollWidth") <= width + 1
    page.screenshot(path=str(tmp_path / f"commitments-{width}.png"))

    report.locator("a").click()  # the later letter opens with the report marked
    target = page.locator("#doc-text mark.target")
    target.wait_for(timeout=10_000)
    assert "已有102个建成公共充电站" in target.inner_text()
    assert "津政办发" not in page.locator("#doc-title").inner_text()
    assert (
        "《天津市人民政府办公厅关于印发天津市加快推进充电基础设施建设实施方案"
        in page.locator("#doc-links").inner_text()
    )
    own = page.locator("#doc-commitments")
    assert own.is_visible() and int(page.locator("#doc-commitment-count").inner_text()) > 0
    own.locator("summary").click()
    page.screenshot(path=str(tmp_path / f"document-commitments-{width}.png"))
    _keep_screenshots(tmp_path)
    page.context.close()


def test_the_query_lives_in_the_url_and_a_shared_document_link_goes_back_to_search(browser, server_url):
    page = browser.new_page()
    page.goto(server_url + "/")
    assert page.locator("#api_key_label").is_hidden()  # this service asks for no key
    page.fill("#q", "加装电梯补贴")
    page.click("#go")
    page.locator("#results .result").first.wait_for(timeout=30_000)
    assert "q=%E5%8A%A0%E8%A3%85" in page.url  # 加装…, percent-encoded
    first = page.locator("#results .result .title").first.inner_text()
    page.reload()
    page.locator("#results .result").first.wait_for(timeout=30_000)
    assert page.input_value("#q") == "加装电梯补贴"
    assert page.locator("#results .result .title").first.inner_text() == first
    link = page.locator("#results .result .open-doc").first.get_attribute("href")
    page.close()

    shared = browser.new_page()  # a document link opened on its own, as from a colleague's mail
    shared.goto(server_url + "/" + link)
    shared.locator("#doc-text mark.target").wait_for(timeout=10_000)
    shared.click("#back")
    shared.locator("#search-view").wait_for(state="visible", timeout=5_000)
    assert shared.url.endswith("#/")
    shared.close()


def test_the_key_field_appears_when_the_service_asks_for_a_key(browser, replies_index, searcher):
    keyed = create_app(replies_index, searcher=searcher, api_keys=ApiKeys(["s3cret"]))
    with running_server(keyed) as url:
        page = browser.new_page()
        page.goto(url + "/")  # the status line's /stats is answered 401: the field shows up at once
        page.locator("#api_key_label").wait_for(state="visible", timeout=10_000)
        assert "API" in page.inner_text("#index-status") and page.locator("#overview").is_hidden()
        page.fill("#api_key", "s3cret")
        page.dispatch_event("#api_key", "change")
        page.locator("#overview").wait_for(state="visible", timeout=10_000)
        assert page.inner_text("#index-status").startswith("已收录 41 份文档")
        page.fill("#q", "加装电梯补贴")
        page.click("#go")
        page.locator("#results .result").first.wait_for(timeout=30_000)
        page.close()


def test_grouped_results_fold_a_documents_passages_and_old_figures_point_to_the_new(browser, server_url):
    page = browser.new_page()
    page.goto(server_url + "/#/?q=" + "加装电梯" + "&group=true")
    page.locator("#results .result").first.wait_for(timeout=30_000)
    assert page.is_checked("#group") and "个文档" in page.inner_text("#status")
    titles = page.locator("#results .result .title").all_inner_texts()
    assert len(titles) == len(set(titles))
    folded = page.locator("#results .result .folded").first
    folded.locator("summary").click()
    assert folded.locator("li a").count() >= 1 and "#/doc/" in folded.locator("li a").first.get_attribute(
        "href"
    )

    page.goto(server_url + "/#/?q=" + "2019年失能老人居家养老补贴标准")
    note = page.locator("#results .result .superseded:visible").first
    note.wait_for(timeout=30_000)
    assert "300元" in note.inner_text()
    page.close()


def test_the_basket_keeps_quotes_across_searches_and_exports_a_word_file(browser, server_url, tmp_path):
    from docx import Document

    context = browser.new_context(accept_downloads=True)
    quotes = []
    for query in ("加装电梯补贴", "老年助餐"):  # two searches, each in its own tab
        page = context.new_page()
        page.goto(server_url + "/#/?q=" + query)
        first = page.locator("#results .result").first
        first.wait_for(timeout=30_000)
        first.locator(".add-basket").click()
        quotes.append(first.locator(".citation").inner_text())
    page.reload()  # the basket lives in the browser, not in the page
    page.locator("#basket").wait_for(state="visible", timeout=5_000)
    assert page.inner_text("#basket-count") == "2"
    page.click("#basket summary")
    with page.expect_download() as download:
        page.click("#basket .export[data-format=docx]")
    path = tmp_path / "citations.docx"
    download.value.save_as(path)
    references = [p.text for p in Document(path).paragraphs if p.text.startswith("[")]
    assert references == [f"[1] {quotes[0]}", f"[2] {quotes[1]}"]
    page.click("#basket-clear")
    assert page.locator("#basket").is_hidden()
    context.close()


def _page_at(browser, width: int, height: int):
    """A page in a fresh Chinese-locale context of the given viewport (closed with its context)."""
    return browser.new_context(viewport={"width": width, "height": height}, locale="zh-CN").new_page()


def _placeholder_fits(page, selector: str) -> bool:
    """Whether the box's example text is shown whole: its drawn width against the box's inside."""
    return page.evaluate(
        """(selector) => {
          const box = document.querySelector(selector);
          const style = getComputedStyle(box);
          const context = document.createElement("canvas").getContext("2d");
          context.font = style.font;
          const inside = box.clientWidth - parseFloat(style.paddingLeft) - parseFloat(style.paddingRight);
          return context.measureText(box.placeholder).width <= inside;
        }""",
        selector,
    )


@pytest.mark.parametrize("width, height", [(1280, 900), (390, 844)])
def test_the_empty_page_shows_the_collection_examples_and_the_index(
    browser, server_url, tmp_path, width, height
):
    page = _page_at(browser, width, height)
    page.goto(server_url + "/")
    page.wait_for_function("document.getElementById('overview-counts').children.length > 0")
    assert page.locator("#overview").is_visible() and page.locator("#more").is_hidden()
    counts = page.inner_text("#overview-counts")
    assert "41 份文档" in counts and "答复" in counts and "年" in counts
    status = page.inner_text("#index-status")
    assert status.startswith("已收录 41 份文档，更新于") and "正在更新" not in status
    assert _placeholder_fits(page, "#q")
    assert page.evaluate("document.documentElement.scrollWidth") <= width + 1
    page.screenshot(path=str(tmp_path / f"empty-{width}.png"))

    example = page.locator("#examples a").first
    asked = example.inner_text()
    example.click()
    page.locator("#results .result").first.wait_for(timeout=30_000)
    assert page.input_value("#q") == asked and page.locator("#overview").is_hidden()
    page.click("header h1 a")  # home again: the empty page, not the last results
    page.locator("#overview").wait_for(state="visible", timeout=5_000)
    assert page.locator("#results .result").count() == 0 and page.input_value("#q") == ""
    _keep_screenshots(tmp_path)
    page.context.close()


def test_a_build_in_progress_is_shown_until_it_ends(browser, replies_index, encoder, tmp_path):
    from indexer.index.build_status import BuildProgress
    from search_api.retrieval import Searcher

    index_dir = tmp_path / "index"
    shutil.copytree(replies_index, index_dir)
    app = create_app(index_dir, searcher=Searcher(index_dir, encoder), api_keys=ApiKeys([]))
    with running_server(app) as url:
        with BuildProgress(index_dir) as build:
            build.update("embedding", 2400, 9000, documents_new=97)
            page = _page_at(browser, 390, 844)
            page.goto(url + "/")
            line = page.locator("#index-status.partial")
            line.wait_for(timeout=10_000)
            text = line.inner_text()
            assert "正在更新索引（计算向量 2400/9000，待收录 97 份）" in text
            assert "完成前结果只来自已收录的 41 份文档" in text
            page.screenshot(path=str(tmp_path / "partial-index-390.png"))
        # the build ended well: the page's next poll drops the notice
        page.wait_for_function(
            "!document.getElementById('index-status').classList.contains('partial')", timeout=15_000
        )
    _keep_screenshots(tmp_path)
    page.context.close()


@pytest.mark.parametrize("width, height", [(1280, 900), (390, 844)])
def test_the_document_browser_filters_in_the_url_and_opens_a_document(
    browser, server_url, tmp_path, width, height
):
    page = _page_at(browser, width, height)
    page.goto(server_url + "/")
    page.click("#nav-documents")
    page.wait_for_function("document.getElementById('d-status').textContent.includes('共 41 份')")
    page.select_option("#d_doc_type", "policy")
    page.fill("#d_issuer", "天津市")
    entries = page.locator("#doc-list li")
    assert 1 <= entries.count() < 41 and "doc_type=policy" in page.url
    assert all(meta.startswith("政策文件 · 天津市") for meta in entries.locator(".meta").all_inner_texts())
    dates = [meta.split(" · ")[2] for meta in entries.locator(".meta").all_inner_texts()]
    assert dates == sorted(dates, reverse=True)  # newest first
    page.reload()
    page.wait_for_function("document.getElementById('doc-list').children.length > 0")
    assert page.input_value("#d_doc_type") == "policy" and page.input_value("#d_issuer") == "天津市"
    assert page.evaluate("document.documentElement.scrollWidth") <= width + 1
    page.screenshot(path=str(tmp_path / f"documents-{width}.png"))
    title = entries.first.locator("a").inner_text()
    entries.first.locator("a").click()
    page.wait_for_function(f"document.getElementById('doc-title').textContent === {title!r}")
    page.go_back()
    page.wait_for_function("document.getElementById('doc-list').children.length > 0")
    assert page.input_value("#d_doc_type") == "policy"
    _keep_screenshots(tmp_path)
    page.context.close()


@pytest.mark.parametrize("width, height", [(1280, 900), (390, 844)])
def test_a_documents_contents_lead_to_its_sections_under_a_title_that_stays(
    browser, server_url, tmp_path, width, height
):
    page = _page_at(browser, width, height)
    page.goto(server_url + "/#/documents?title=" + "养老服务补贴")
    page.locator("#doc-list li a").first.click()
    toc = page.locator("#doc-toc")
    toc.wait_for(state="visible", timeout=10_000)
    toc.locator("summary").click()
    entries = toc.locator("li a")
    assert entries.count() >= 3
    last = entries.last
    heading = last.inner_text()
    last.click()
    head = page.locator("#doc-head").bounding_box()
    assert page.evaluate("window.scrollY") > 200 and abs(head["y"]) < 1  # the title stuck to the top
    assert page.locator("#doc-title").is_visible() and toc.evaluate("t => !t.open")
    below = page.evaluate(
        """(heading) => {
          const text = document.getElementById('doc-text');
          const at = text.textContent.indexOf(heading);
          const walker = document.createTreeWalker(text, NodeFilter.SHOW_TEXT);
          let seen = 0;
          for (let node = walker.nextNode(); node; node = walker.nextNode()) {
            if (seen + node.length > at) {
              const range = document.createRange();
              range.setStart(node, at - seen);
              return range.getBoundingClientRect().top;
            }
            seen += node.length;
          }
        }""",
        heading,
    )
    assert head["height"] <= below <= height / 2  # the section starts just under the heading bar
    page.screenshot(path=str(tmp_path / f"document-contents-{width}.png"))
    _keep_screenshots(tmp_path)
    page.context.close()


def test_more_results_and_the_reply_filters_stay_in_the_url(browser, server_url):
    page = browser.new_page()
    page.goto(server_url + "/#/?q=" + "养老服务")
    page.locator("#results .result").first.wait_for(timeout=30_000)
    assert page.locator("#results .result").count() == 10
    page.click("#more")
    page.wait_for_function("document.querySelectorAll('#results .result').length === 20", timeout=30_000)
    assert "k=20" in page.url
    page.reload()
    page.wait_for_function("document.querySelectorAll('#results .result').length === 20", timeout=30_000)

    page.click("#filters summary")
    page.select_option("#answer_category", "B")
    page.fill("#date_from", "2019-01-01")
    page.fill("#date_to", "2020-12-31")
    page.click("#go")
    page.wait_for_function("location.hash.includes('answer_category=B')")
    page.wait_for_function(
        "!document.getElementById('status').textContent.includes('检索中')", timeout=30_000
    )
    metas = page.locator("#results .result .meta").all_inner_texts()
    assert metas and all("B 类答复" in meta for meta in metas) and "k=" not in page.url
    assert all(meta.split(" · ")[2][:4] in ("2019", "2020") for meta in metas)
    page.fill("#proposal_number", "0215")
    page.click("#go")
    page.wait_for_function("location.hash.includes('proposal_number=0215')")
    page.wait_for_function(
        "!document.getElementById('status').textContent.includes('检索中')", timeout=30_000
    )
    assert all("0215" in meta for meta in page.locator("#results .result .meta").all_inner_texts())
    page.reload()
    page.locator("#results .result").first.wait_for(timeout=30_000)
    assert page.input_value("#answer_category") == "B" and page.input_value("#date_to") == "2020-12-31"
    page.close()

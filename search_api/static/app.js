// The search page: plain DOM code, no build step. It talks to the same JSON API as any client.
"use strict";

const $ = (id) => document.getElementById(id);
const FILTERS = ["mode", "doc_type", "year_from", "year_to", "date_from", "date_to", "issuer", "answer_category",
  "proposal_number", "sort"];
const PAGE = 10;  // results per "more"; the API answers up to 100
const MAX_K = 100;
const TYPE_NAMES = { reply: "答复", policy: "政策文件", report: "政府工作报告", other: "其他" };

function headers() {
  const key = localStorage.getItem("policy-search-key");
  return key ? { Authorization: "Bearer " + key } : {};
}

async function api(path) {
  const response = await fetch(path, { headers: headers() });
  const body = await response.json().catch(() => ({}));
  if (response.status === 401) showKeyField();
  if (!response.ok) {
    const detail = body.detail || {};
    throw new Error(detail.message || detail.zh || "请求失败 / request failed (" + response.status + ")");
  }
  return body;
}

// the key field appears only for a service that asks for a key (or when one is already stored)
function showKeyField() {
  $("api_key_label").hidden = false;
  $("filters").open = true;
}

let shownK = PAGE;

function searchParams(k = shownK) {
  const params = new URLSearchParams({ q: $("q").value.trim(), k: String(k) });
  for (const name of FILTERS) {
    const value = $(name).value.trim();
    if (value) params.set(name, value);
  }
  if ($("commitments_only").checked) params.set("commitments_only", "true");
  if ($("group").checked) params.set("group", "true");
  return params;
}

function describe(hit) {
  const parts = [TYPE_NAMES[hit.doc_type] || "", hit.issuer || "", hit.date || (hit.year ? hit.year + "年" : ""),
    hit.doc_number || "", hit.proposal_number || "", hit.answer_category ? hit.answer_category + " 类答复" : "", hit.section ? "章节：" + hit.section.split(" > ").join(" › ") : "",
    hit.page ? "第" + hit.page + "页" : ""];
  return parts.filter(Boolean).join(" · ");
}

async function copyText(text, button) {
  try {
    await navigator.clipboard.writeText(text);
  } catch (error) {
    const area = document.createElement("textarea");
    area.value = text;
    document.body.appendChild(area);
    area.select();
    document.execCommand("copy");
    area.remove();
  }
  const label = button.textContent;
  button.textContent = "已复制";
  setTimeout(() => { button.textContent = label; }, 1500);
}

function render(response) {
  const list = $("results");
  list.replaceChildren();
  $("overview").hidden = true;
  $("more").hidden = response.results.length < shownK || shownK >= MAX_K;
  if (!response.results.length) {
    $("status").textContent = response.reason || "没有找到相关段落";
    return;
  }
  const read = Object.entries(response.interpreted || {}).map(([word, meaning]) => word + "＝" + meaning.join("、"));
  $("status").textContent = "找到 " + response.results.length + (response.results[0].folded ? " 个文档" : " 段") +
    "（" + response.took_ms + " 毫秒）" + (read.length ? "；理解为 " + read.join("，") : "") +
    (response.reason ? "。" + response.reason : "");
  const template = $("result-template");
  for (const hit of response.results) {
    const item = template.content.firstElementChild.cloneNode(true);
    const link = "#/doc/" + hit.doc_id + "?start=" + hit.start + "&end=" + hit.end;
    item.querySelector(".title").textContent = hit.title || hit.source;
    item.querySelector(".title").href = link;
    item.querySelector(".badge").hidden = !hit.is_commitment;
    item.querySelector(".meta").textContent = describe(hit);
    item.querySelector(".passage").innerHTML = hit.highlight; // server-escaped, only <mark> added
    item.querySelector(".citation").textContent = hit.citation;
    item.querySelector(".copy-citation").addEventListener("click", (e) => copyText(hit.citation, e.target));
    item.querySelector(".copy-quote").addEventListener("click", (e) => copyText("“" + hit.text + "”（" + hit.citation + "）", e.target));
    const sentence = hit.best_sentence;
    if (sentence && sentence.text !== hit.text) {
      const button = item.querySelector(".copy-sentence");
      button.hidden = false;
      button.title = sentence.text;
      button.addEventListener("click", (e) => copyText("“" + sentence.text + "”（" + hit.citation + "）", e.target));
    }
    item.querySelector(".open-doc").href = link;
    item.querySelector(".add-basket").addEventListener("click", (e) => addToBasket(hit, e.target));
    if (hit.superseded_by) {
      const later = item.querySelector(".superseded");
      later.hidden = false;
      later.querySelector("a").textContent = hit.superseded_by.citation + "：“" + hit.superseded_by.text + "”";
      later.querySelector("a").href = spanLink(hit.superseded_by);
    }
    if (hit.folded && hit.folded.length) {
      const folded = item.querySelector(".folded");
      folded.hidden = false;
      folded.querySelector("summary").textContent = "本文档其他 " + hit.folded.length + " 段";
      for (const other of hit.folded) {
        const entry = document.createElement("li");
        const anchor = document.createElement("a");
        anchor.href = spanLink(other);
        anchor.textContent = (other.section ? other.section.split(" > ").pop() + "：" : "") + other.text;
        entry.appendChild(anchor);
        folded.querySelector("ol").appendChild(entry);
      }
    }
    list.appendChild(item);
  }
}

// --- the citation basket: quotes gathered across searches, kept in the browser, exported by the API ---
const BASKET_KEY = "policy-search-basket";

function basket() {
  try { return JSON.parse(localStorage.getItem(BASKET_KEY) || "[]"); } catch (error) { return []; }
}

function saveBasket(items) {
  localStorage.setItem(BASKET_KEY, JSON.stringify(items));
  renderBasket();
}

function addToBasket(hit, button) {
  const items = basket();
  if (!items.some((item) => item.chunk_id === hit.chunk_id)) {
    items.push({ chunk_id: hit.chunk_id, start: hit.start, end: hit.end, text: hit.text, citation: hit.citation });
    saveBasket(items);
  }
  button.textContent = "已加入";
}

function renderBasket() {
  const items = basket();
  $("basket").hidden = !items.length;
  $("basket-count").textContent = items.length;
  const list = $("basket-items");
  list.replaceChildren();
  items.forEach((item, index) => {
    const entry = document.createElement("li");
    entry.textContent = "“" + item.text.slice(0, 60) + (item.text.length > 60 ? "…" : "") + "” " + item.citation + " ";
    const remove = document.createElement("button");
    remove.type = "button";
    remove.textContent = "移除";
    remove.addEventListener("click", () => saveBasket(basket().filter((_, i) => i !== index)));
    entry.appendChild(remove);
    list.appendChild(entry);
  });
}

async function exportBasket(format) {
  const items = basket().map(({ chunk_id, start, end }) => ({ chunk_id, start, end }));
  const response = await fetch("/export", {
    method: "POST",
    headers: { ...headers(), "Content-Type": "application/json" },
    body: JSON.stringify({ format, items }),
  });
  if (!response.ok) {
    const detail = (await response.json().catch(() => ({}))).detail || {};
    $("status").textContent = detail.message || "导出失败 / export failed (" + response.status + ")";
    return;
  }
  const link = document.createElement("a");
  link.href = URL.createObjectURL(await response.blob());
  link.download = "citations." + format;
  document.body.appendChild(link);
  link.click();
  link.remove();
}

// the query and filters live in the URL (#/?q=…), so reload, back/forward and a shared link work
function fillSearchForm(params) {
  $("q").value = params.get("q") || "";
  shownK = Math.min(MAX_K, Math.max(1, Number(params.get("k")) || PAGE));
  for (const name of FILTERS) $(name).value = params.get(name) || $(name).options?.[0]?.value || "";
  $("commitments_only").checked = params.get("commitments_only") === "true";
  $("group").checked = params.get("group") === "true";
}

// a new search starts at the first page; "more" asks for the next ten with the same query
function submitSearch(k = PAGE) {
  const params = searchParams(k);
  if (!params.get("q")) return;
  if (k === PAGE) params.delete("k");
  shownK = k;
  const hash = "#/?" + params;
  if (location.hash === hash) runSearch();
  else location.hash = hash;  // route() runs the search
}

let shownSearch = null;

async function runSearch() {
  const params = searchParams();
  if (!params.get("q")) return;
  shownSearch = location.hash;
  $("overview").hidden = true;
  $("status").textContent = "检索中…";
  try {
    render(await api("/search?" + params));
  } catch (error) {
    $("results").replaceChildren();
    $("more").hidden = true;
    $("status").textContent = error.message;
  }
}

// --- what the index holds and what a build is doing, from /stats ---------------------------------
const PHASE_NAMES = { reading: "读取文件", preparing: "比对变化", chunking: "切分段落", embedding: "计算向量",
  writing: "写入索引", tracking: "追踪承诺" };
const POLL_MS = 5000;
let lastStats = null;

function typeCounts(stats) {
  return Object.entries(stats.by_type || {}).map(([type, count]) => (TYPE_NAMES[type] || type) + " " + count + " 份");
}

function buildLine(stats) {
  const build = stats.build;
  if (!build) return "";
  if (build.state === "running") {
    const step = PHASE_NAMES[build.phase] || build.phase;
    const share = build.total ? " " + build.done + "/" + build.total : "";
    const incoming = build.documents_new ? "，待收录 " + build.documents_new + " 份" : "";
    return "正在更新索引（" + step + share + incoming + "）；完成前结果只来自已收录的 " + stats.documents + " 份文档";
  }
  const how = build.state === "interrupted" ? "中断" : "失败";
  return "上次索引更新" + how + (build.error ? "（" + build.error + "）" : "") + "，仍使用已收录的索引";
}

async function refreshIndexStatus() {
  let stats;
  try {
    stats = await api("/stats");
  } catch (error) {
    $("index-status").textContent = error.message;  // e.g. the service wants a key
    return;
  }
  const built = stats.built_at ? "，更新于 " + new Date(stats.built_at).toLocaleString("zh-CN", { hour12: false }) : "";
  const line = $("index-status");
  line.textContent = "已收录 " + stats.documents + " 份文档" + built + (stats.build ? "。" + buildLine(stats) : "");
  line.classList.toggle("partial", Boolean(stats.build));
  lastStats = stats;
  renderOverview();
  if (stats.build?.state === "running") setTimeout(refreshIndexStatus, POLL_MS);
}

// the empty page: what the index holds and a few questions to start from
function renderOverview() {
  const stats = lastStats;
  const empty = !$("search-view").hidden && !$("results").children.length && !$("q").value.trim();
  $("overview").hidden = !empty || !stats;
  if (!stats) return;
  const years = stats.years?.first ? stats.years.first + "–" + stats.years.last + " 年" : "";
  const items = [stats.documents + " 份文档：" + typeCounts(stats).join("、"), years, stats.chunks + " 个可引用段落"];
  $("overview-counts").replaceChildren(...items.filter(Boolean).map((text) => {
    const item = document.createElement("li");
    item.textContent = text;
    return item;
  }));
}

// --- the document browser: the whole list once, filtered in the page, filters kept in the URL ----
const BROWSE_FILTERS = { doc_type: "d_doc_type", year: "d_year", issuer: "d_issuer", title: "d_title" };
let allDocuments = null;

function describeDocument(doc) {
  const category = doc.answer_category ? doc.answer_category + " 类答复" : "";
  return [TYPE_NAMES[doc.doc_type] || "", doc.issuer || "", doc.date || (doc.year ? doc.year + "年" : ""),
    doc.doc_number || "", doc.proposal_number || "", category]
    .filter(Boolean).join(" · ");
}

function browseParams() {
  const params = new URLSearchParams();
  for (const [name, id] of Object.entries(BROWSE_FILTERS)) {
    if ($(id).value.trim()) params.set(name, $(id).value.trim());
  }
  return params;
}

function renderDocumentList() {
  const { doc_type, year, issuer, title } = Object.fromEntries(browseParams());
  const shown = allDocuments.filter((doc) => (!doc_type || (doc.doc_type || "other") === doc_type) &&
    (!year || String(doc.year) === year) && (!issuer || (doc.issuer || "").includes(issuer)) &&
    (!title || (doc.title || doc.source).includes(title)));
  $("doc-list").replaceChildren(...shown.map((doc) => {
    const item = document.createElement("li");
    const link = document.createElement("a");
    link.href = "#/doc/" + doc.doc_id;
    link.textContent = doc.title || doc.source;
    const meta = document.createElement("p");
    meta.className = "meta";
    meta.textContent = describeDocument(doc);
    item.append(link, meta);
    return item;
  }));
  $("d-status").textContent = "共 " + shown.length + " 份" + (shown.length < allDocuments.length ? "（全部 " + allDocuments.length + " 份）" : "") + "，最新在前";
}

async function showDocumentList(params) {
  show("documents-view");
  try {
    allDocuments = allDocuments || await api("/documents");
  } catch (error) {
    $("d-status").textContent = error.message;
    return;
  }
  const years = [...new Set(allDocuments.map((doc) => doc.year).filter(Boolean))];
  if ($("d_year").options.length === 1) {
    $("d_year").append(...years.map((year) => new Option(year + "年", String(year))));
  }
  for (const [name, id] of Object.entries(BROWSE_FILTERS)) $(id).value = params.get(name) || "";
  renderDocumentList();
}

function onBrowseFilter() {
  history.replaceState(null, "", "#/documents?" + browseParams());
  renderDocumentList();
}

// --- commitment tracking: each promise as a timeline, promised → later reports -------------------
const STATUS_NAMES = { done: "已完成", in_progress: "推进中", revised: "已调整", no_follow_up: "暂无后续" };
const RELATION_NAMES = { progress: "进展", done: "完成", revised: "调整", restated: "重申" };
const COMMITMENT_FILTERS = { year_from: "c_year_from", year_to: "c_year_to", issuer: "c_issuer", status: "c_status" };

function spanLink(item) {
  return "#/doc/" + item.doc_id + "?start=" + item.start + "&end=" + item.end;
}

function timelineEntry(kind, label, item) {
  const entry = document.createElement("li");
  entry.className = kind;
  const when = document.createElement("span");
  when.className = "when";
  when.textContent = (item.year ? item.year + "年 " : "") + label;
  const link = document.createElement("a");
  link.href = spanLink(item);
  link.textContent = item.text;
  const source = document.createElement("p");
  source.className = "citation";
  source.textContent = item.citation;
  entry.append(when, link, source);
  return entry;
}

function commitmentItem(commitment) {
  const item = $("commitment-template").content.firstElementChild.cloneNode(true);
  const status = item.querySelector(".status");
  status.textContent = STATUS_NAMES[commitment.status];
  status.className = "status " + commitment.status;
  item.querySelector(".title").textContent = commitment.title || commitment.source;
  item.querySelector(".title").href = spanLink(commitment);
  const due = commitment.deadline_year ? "承诺（期限" + commitment.deadline_year + "年）" : "承诺";
  const timeline = item.querySelector(".timeline");
  timeline.appendChild(timelineEntry("promise", due, commitment));
  const asItHappened = (a, b) => (a.year || 0) - (b.year || 0) || (a.date || "").localeCompare(b.date || "") || b.score - a.score;
  for (const follow of [...commitment.follow_ups].sort(asItHappened)) {  // oldest report first, best first within a date
    const label = RELATION_NAMES[follow.relation] + (follow.explicit ? " · 引用原文件" : "");
    timeline.appendChild(timelineEntry("follow-up " + follow.relation, label, follow));
  }
  return item;
}

async function runCommitments() {
  const params = new URLSearchParams({ k: "20" });
  const q = $("cq").value.trim();
  if (q) params.set("q", q);
  for (const [name, id] of Object.entries(COMMITMENT_FILTERS)) {
    if ($(id).value.trim()) params.set(name, $(id).value.trim());
  }
  $("c-status").textContent = "查询中…";
  try {
    const response = await api("/commitments?" + params);
    $("commitments").replaceChildren(...response.commitments.map(commitmentItem));
    $("c-status").textContent = response.commitments.length
      ? "共 " + response.commitments.length + " 项承诺" + (q ? "" : "（最新在前）")
      : response.reason || "没有符合条件的承诺";
  } catch (error) {
    $("commitments").replaceChildren();
    $("c-status").textContent = error.message;
  }
}

function documentLinks(doc) {
  const box = $("doc-links");
  box.replaceChildren();
  for (const [label, docs] of [["引用：", doc.cites || []], ["被引用：", doc.cited_by || []]]) {
    if (!docs.length) continue;
    const line = document.createElement("p");
    line.append(label);
    for (const other of docs) {
      const link = document.createElement("a");
      link.href = "#/doc/" + other.doc_id;
      link.textContent = "《" + (other.title || other.source) + "》";
      line.append(link, " ");
    }
    box.appendChild(line);
  }
  const commitments = doc.commitments || [];
  $("doc-commitments").hidden = !commitments.length;
  $("doc-commitment-count").textContent = commitments.length;
  $("doc-commitments").querySelector(".timelines").replaceChildren(...commitments.map(commitmentItem));
}

function show(view) {
  for (const id of ["search-view", "documents-view", "commitments-view", "doc-view"]) $(id).hidden = id !== view;
  renderOverview();
}

// the table of contents: each section heading path once, where its first passage starts
function tableOfContents(doc) {
  const entries = [];
  const seen = new Set();
  for (const passage of doc.passages || []) {
    if (!passage.section || seen.has(passage.section)) continue;
    seen.add(passage.section);
    entries.push(passage);
  }
  const toc = $("doc-toc");
  toc.hidden = entries.length < 2;
  toc.open = false;
  toc.querySelector("ol").replaceChildren(...entries.map((passage) => {
    const item = document.createElement("li");
    const parts = passage.section.split(" > ");
    item.style.paddingLeft = (parts.length - 1) + "em";
    const link = document.createElement("a");
    link.href = "#/doc/" + doc.doc_id + "?start=" + passage.start + "&end=" + passage.start;
    link.textContent = parts[parts.length - 1] + (passage.page ? "（第" + passage.page + "页）" : "");
    link.addEventListener("click", (event) => {
      event.preventDefault();
      toc.open = false;
      scrollToOffset(passage.start);
    });
    item.appendChild(link);
    return item;
  }));
}

// scroll the document so that its character ``offset`` sits just under the sticky heading
function scrollToOffset(offset) {
  const walker = document.createTreeWalker($("doc-text"), NodeFilter.SHOW_TEXT);
  let seen = 0;
  for (let node = walker.nextNode(); node; node = walker.nextNode()) {
    if (seen + node.length > offset) {
      const range = document.createRange();
      range.setStart(node, offset - seen);
      const top = range.getBoundingClientRect().top;
      window.scrollBy(0, top - $("doc-head").getBoundingClientRect().height - 8);
      return;
    }
    seen += node.length;
  }
}

let shownDocument = null;  // the document on screen, so that moving within it does not fetch it again

async function showDocument(docId, start, end) {
  show("doc-view");
  const text = $("doc-text");
  try {
    if (shownDocument?.doc_id !== Number(docId)) {
      text.textContent = "加载中…";
      shownDocument = await api("/documents/" + docId);
      const doc = shownDocument;
      $("doc-title").textContent = doc.title || doc.source;
      $("doc-meta").textContent = describeDocument(doc);
      documentLinks(doc);
      tableOfContents(doc);
    }
    const doc = shownDocument;
    const mark = document.createElement("mark");
    mark.className = "target";
    mark.id = "target";
    mark.textContent = doc.text.slice(start, end);
    text.replaceChildren(document.createTextNode(doc.text.slice(0, start)), mark, document.createTextNode(doc.text.slice(end)));
    if (end > start) mark.scrollIntoView({ block: "center" });
    else if (start > 0) scrollToOffset(start);
    else window.scrollTo(0, 0);
  } catch (error) {
    shownDocument = null;
    text.textContent = error.message;
  }
}

function route() {
  const match = location.hash.match(/^#\/doc\/(\d+)(?:\?(.*))?$/);
  const search = location.hash.match(/^#\/\?(.*)$/);
  const browse = location.hash.match(/^#\/documents(?:\?(.*))?$/);
  if (match) {
    const params = new URLSearchParams(match[2] || "");
    showDocument(match[1], Number(params.get("start") || 0), Number(params.get("end") || 0));
  } else if (browse) {
    showDocumentList(new URLSearchParams(browse[1] || ""));
  } else if (location.hash.startsWith("#/commitments")) {
    show("commitments-view");
    if (!$("commitments").children.length) runCommitments();
  } else {
    show("search-view");
    if (search && location.hash !== shownSearch) {
      fillSearchForm(new URLSearchParams(search[1]));
      runSearch();
    } else if (!search && shownSearch) {  // back to the empty page
      shownSearch = null;
      fillSearchForm(new URLSearchParams());
      $("results").replaceChildren();
      $("status").textContent = "";
      $("more").hidden = true;
      renderOverview();
    }
  }
}

$("search-form").addEventListener("submit", (event) => {
  event.preventDefault();
  submitSearch();
});
$("commitments-form").addEventListener("submit", (event) => {
  event.preventDefault();
  runCommitments();
});
$("api_key").value = localStorage.getItem("policy-search-key") || "";
if ($("api_key").value) $("api_key_label").hidden = false;
$("api_key").addEventListener("change", () => {
  localStorage.setItem("policy-search-key", $("api_key").value.trim());
  refreshIndexStatus();
});
// "back" returns to the view the user came from; a document opened from a shared link has none
let moves = 0;
$("back").addEventListener("click", (event) => {
  event.preventDefault();
  if (moves > 0) history.back();
  else location.hash = "#/";
});
window.addEventListener("hashchange", () => {
  moves += 1;
  route();
});
for (const button of document.querySelectorAll("#basket .export")) {
  button.addEventListener("click", () => exportBasket(button.dataset.format));
}
$("basket-clear").addEventListener("click", () => saveBasket([]));
$("more").addEventListener("click", () => submitSearch(Math.min(MAX_K, shownK + PAGE)));
$("documents-form").addEventListener("input", onBrowseFilter);
$("documents-form").addEventListener("submit", (event) => event.preventDefault());
renderBasket();
route();
refreshIndexStatus();

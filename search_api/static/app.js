// The search page: plain DOM code, no build step. It talks to the same JSON API as any client.
"use strict";

const $ = (id) => document.getElementById(id);
const FILTERS = ["mode", "doc_type", "year_from", "year_to", "issuer", "sort"];
const TYPE_NAMES = { reply: "答复", policy: "政策文件", report: "政府工作报告", other: "其他" };

function headers() {
  const key = localStorage.getItem("policy-search-key");
  return key ? { Authorization: "Bearer " + key } : {};
}

async function api(path) {
  const response = await fetch(path, { headers: headers() });
  const body = await response.json().catch(() => ({}));
  if (!response.ok) {
    const detail = body.detail || {};
    throw new Error(detail.message || detail.zh || "请求失败 / request failed (" + response.status + ")");
  }
  return body;
}

function searchParams() {
  const params = new URLSearchParams({ q: $("q").value.trim(), k: "10" });
  for (const name of FILTERS) {
    const value = $(name).value.trim();
    if (value) params.set(name, value);
  }
  if ($("commitments_only").checked) params.set("commitments_only", "true");
  return params;
}

function describe(hit) {
  const parts = [TYPE_NAMES[hit.doc_type] || "", hit.issuer || "", hit.date || (hit.year ? hit.year + "年" : ""),
    hit.doc_number || hit.proposal_number || "", hit.section ? "章节：" + hit.section.split(" > ").join(" › ") : "",
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
  if (!response.results.length) {
    $("status").textContent = response.reason || "没有找到相关段落";
    return;
  }
  $("status").textContent = "找到 " + response.results.length + " 段（" + response.took_ms + " 毫秒）";
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
    list.appendChild(item);
  }
}

async function runSearch() {
  const params = searchParams();
  if (!params.get("q")) return;
  $("status").textContent = "检索中…";
  try {
    render(await api("/search?" + params));
  } catch (error) {
    $("results").replaceChildren();
    $("status").textContent = error.message;
  }
}

async function showDocument(docId, start, end) {
  $("search-view").hidden = true;
  $("doc-view").hidden = false;
  const text = $("doc-text");
  text.textContent = "加载中…";
  try {
    const doc = await api("/documents/" + docId);
    $("doc-title").textContent = doc.title || doc.source;
    $("doc-meta").textContent = [doc.issuer, doc.date || (doc.year ? doc.year + "年" : ""), doc.doc_number || doc.proposal_number].filter(Boolean).join(" · ");
    const mark = document.createElement("mark");
    mark.className = "target";
    mark.id = "target";
    mark.textContent = doc.text.slice(start, end);
    text.replaceChildren(document.createTextNode(doc.text.slice(0, start)), mark, document.createTextNode(doc.text.slice(end)));
    if (end > start) mark.scrollIntoView({ block: "center" });
  } catch (error) {
    text.textContent = error.message;
  }
}

function route() {
  const match = location.hash.match(/^#\/doc\/(\d+)(?:\?(.*))?$/);
  if (match) {
    const params = new URLSearchParams(match[2] || "");
    showDocument(match[1], Number(params.get("start") || 0), Number(params.get("end") || 0));
  } else {
    $("doc-view").hidden = true;
    $("search-view").hidden = false;
  }
}

$("search-form").addEventListener("submit", (event) => {
  event.preventDefault();
  runSearch();
});
$("api_key").value = localStorage.getItem("policy-search-key") || "";
$("api_key").addEventListener("change", () => localStorage.setItem("policy-search-key", $("api_key").value.trim()));
$("back").addEventListener("click", (event) => {
  event.preventDefault();
  history.back();
});
window.addEventListener("hashchange", route);
route();

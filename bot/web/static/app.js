// 思语 console: live suggestions (server-sent events), copy-and-record, script preview.
// Vanilla JS, no dependencies; every text is inserted with textContent (no HTML injection).
(function () {
  "use strict";
  const csrf = document.querySelector('meta[name="csrf-token"]').content;

  async function api(method, url, body) {
    const opts = { method, headers: { "X-CSRF-Token": csrf }, credentials: "same-origin" };
    if (body !== undefined) {
      opts.headers["Content-Type"] = "application/json";
      opts.body = JSON.stringify(body);
    }
    const res = await fetch(url, opts);
    if (!res.ok) throw new Error(res.status + " " + (await res.text()));
    return res.status === 204 ? null : res.json();
  }

  async function copy(text) {
    try { await navigator.clipboard.writeText(text); return true; } catch (e) { return false; }
  }

  // ---------------------------------------------------------------- sidebar
  const detail = document.getElementById("detail");
  const box = document.getElementById("suggestions");
  const tpl = document.getElementById("tpl-card");
  const selected = detail ? Number(detail.dataset.customer) : null;
  const labels = box && box.dataset.labels ? JSON.parse(box.dataset.labels) : {};

  function card(s, item) {
    const node = tpl.content.firstElementChild.cloneNode(true);
    node.querySelector(".title").textContent = item.title;
    // the evidence behind the ranking ("回复率 38%，n=120"), when there is enough of it
    node.querySelector(".cat").textContent =
      (labels[item.category] || item.category) + (item.reason ? " · " + item.reason : "");
    const text = node.querySelector(".text");
    text.textContent = item.text;
    if (item.draft) node.classList.add("draft");
    const edit = node.querySelector(".edit");
    const done = node.querySelector(".done");
    const useEdited = node.querySelector(".use-edited");
    async function record(kind, finalText) {
      const copied = await copy(finalText);
      try {
        await api("POST", "/api/suggestions/" + s.id + "/outcomes",
          { kind, final_text: finalText, script_id: item.script_id });
        done.textContent = (kind === "edited" ? "已记录：修改后采用" : "已记录：采用") + (copied ? " · 已复制" : "");
        node.dataset.recorded = kind;
      } catch (e) {
        done.textContent = "记录失败：" + e.message;
      }
      done.hidden = false;
    }
    node.querySelector(".use").addEventListener("click", () => record("adopted", item.text));
    node.querySelector(".editbtn").addEventListener("click", () => {
      edit.value = item.text;
      edit.hidden = false; text.hidden = true; useEdited.hidden = false;
      edit.rows = 4; edit.focus();
    });
    useEdited.addEventListener("click", () => {
      const finalText = edit.value.trim();
      if (!finalText) return;
      record(finalText === item.text ? "adopted" : "edited", finalText);
    });
    return node;
  }

  function renderSuggestion(s) {
    box.replaceChildren();
    if (!s) {
      const p = document.createElement("p");
      p.className = "muted";
      p.textContent = "还没有建议：客户发来消息后会自动出现。";
      box.append(p);
      return;
    }
    box.dataset.suggestion = s.id;
    const c = s.candidates || {};
    if (s.reply) box.append(card(s, { title: "AI 草稿", category: "回复草稿", text: s.reply, script_id: null, draft: true }));
    for (const sc of c.scripts || []) {
      box.append(card(s, { title: sc.title, category: sc.category, text: sc.text, script_id: sc.id, reason: sc.reason }));
    }
    if ((c.knowledge || []).length) {
      const refs = document.createElement("details");
      refs.className = "card knowledge-refs";
      const sum = document.createElement("summary");
      sum.textContent = "知识参考（" + c.knowledge.length + "）";
      const ul = document.createElement("ul");
      for (const k of c.knowledge) {
        const li = document.createElement("li");
        li.textContent = k.source + " · " + k.section + "：" + k.text;
        ul.append(li);
      }
      refs.append(sum, ul);
      box.append(refs);
    }
    for (const a of c.next_actions || []) {
      const art = document.createElement("article");
      art.className = "card next-action";
      const h = document.createElement("header");
      const b = document.createElement("b");
      b.textContent = "下一步建议：" + (a.product || a.script_id || "");
      h.append(b);
      const reason = document.createElement("p");
      reason.className = "reason";
      reason.textContent = a.reason;
      art.append(h, reason);
      if (a.script_text) {
        const sc = document.createElement("p");
        sc.className = "script";
        sc.textContent = a.script_text;
        art.append(sc);
      }
      box.append(art);
    }
    if ((c.tags || []).length) {
      const p = document.createElement("p");
      p.className = "muted";
      p.textContent = "可能的标签：" + c.tags.map((t) => t.category + "/" + t.name).join("、") + "（在画像中确认）";
      box.append(p);
    }
  }

  function appendTimeline(ev) {
    const ol = document.getElementById("timeline");
    if (!ol) return;
    const li = document.createElement("li");
    li.className = "message " + ev.direction;
    const t = document.createElement("time");
    const d = new Date(ev.at);
    t.textContent = "刚刚";
    t.title = d.toLocaleString();
    const who = document.createElement("span");
    who.className = "who";
    who.textContent = ev.direction === "in" ? "客户" : "我";
    li.append(t, who, document.createTextNode(ev.text));
    ol.append(li);
    ol.scrollTop = ol.scrollHeight;
  }

  async function refreshInbox() {
    const res = await fetch("/sidebar/inbox" + (selected ? "?customer_id=" + selected : ""), { credentials: "same-origin" });
    if (!res.ok) return;
    const wrap = document.createElement("div");
    wrap.innerHTML = await res.text(); // server-rendered, autoescaped fragment
    const fresh = wrap.querySelector("#inbox");
    const old = document.getElementById("inbox");
    if (fresh && old) old.replaceWith(fresh);
  }

  if (box && selected) {
    api("GET", "/api/customers/" + selected + "/suggestion").then(renderSuggestion).catch((e) => {
      box.textContent = "加载建议失败：" + e.message;
    });
  }

  const status = document.getElementById("live-status");
  if (status && window.EventSource) {
    const source = new EventSource("/api/events");
    source.addEventListener("open", () => { status.textContent = "● 实时"; status.className = "ok"; });
    source.addEventListener("error", () => { status.textContent = "重连中…"; status.className = "muted"; });
    source.addEventListener("message", async (e) => {
      const ev = JSON.parse(e.data);
      if (selected && ev.customer_id === selected) {
        appendTimeline(ev);
        if (ev.suggestion_id) {
          try { renderSuggestion(await api("GET", "/api/suggestions/" + ev.suggestion_id)); } catch (err) { /* shown on next load */ }
        }
        api("GET", "/api/customers/" + selected).catch(() => {}); // marks the customer as read
      }
      refreshInbox();
    });
  }

  // ---------------------------------------------------------------- script editor preview
  const form = document.getElementById("script-form");
  if (form) {
    const out = document.getElementById("preview-text");
    const list = document.getElementById("preview-issues");
    let timer = null;
    async function preview() {
      const data = Object.fromEntries(new FormData(form).entries());
      const body = { id: data.id, title: data.title, category: data.category, stage: data.stage,
        industry: data.industry, tags: data.tags, body: data.body };
      try {
        const r = await api("POST", "/api/scripts/preview", body);
        out.textContent = r.text;
        list.replaceChildren();
        for (const i of r.issues) {
          const li = document.createElement("li");
          li.className = i.severity;
          li.textContent = i.field + "：" + i.message;
          list.append(li);
        }
        if (!r.issues.length) {
          const li = document.createElement("li"); li.className = "ok"; li.textContent = "没有问题"; list.append(li);
        }
      } catch (e) { out.textContent = "预览失败：" + e.message; }
    }
    form.addEventListener("input", () => { clearTimeout(timer); timer = setTimeout(preview, 250); });
  }

  // ---------------------------------------------------------------- sidebar: reminders
  for (const btn of document.querySelectorAll("button.copy[data-copy]")) {
    btn.addEventListener("click", async () => {
      btn.textContent = (await copy(btn.dataset.copy)) ? "已复制" : "复制失败，请手动选择";
    });
  }

  // ---------------------------------------------------------------- jobs: progress
  // An upload, import or rebuild runs on the server; this page polls its status and goes
  // on to the next page when it is done.
  const job = document.getElementById("job");
  if (job) {
    const phase = document.getElementById("job-phase");
    const count = document.getElementById("job-count");
    const bar = document.getElementById("job-progress");
    const message = document.getElementById("job-message");
    const next = document.getElementById("job-next");
    const words = { queued: "排队中", done: "已完成", failed: "失败" };
    async function poll() {
      let s;
      try {
        s = await api("GET", "/api/jobs/" + job.dataset.job);
      } catch (e) {
        message.textContent = "无法获取任务状态：" + e.message;
        message.className = "error"; message.hidden = false;
        return;
      }
      job.dataset.state = s.state;
      phase.textContent = s.state === "running" ? (s.phase || "处理中") : words[s.state];
      count.textContent = s.total ? s.done + " / " + s.total : "";
      bar.max = s.total || 1;
      bar.value = s.total ? s.done : (s.state === "done" || s.state === "failed" ? 1 : 0);
      if (s.state === "done" || s.state === "failed") {
        message.textContent = s.message;
        message.className = s.state === "failed" ? "error" : "success";
        message.hidden = !s.message;
        if (s.next_url) next.href = s.next_url;
        next.hidden = false;
        if (s.state === "done" && s.next_url) window.location.assign(s.next_url);
        return;
      }
      setTimeout(poll, 1000);
    }
    if (job.dataset.state === "done" && job.dataset.next) window.location.assign(job.dataset.next);
    else if (job.dataset.state !== "failed") poll();
  }

  // ---------------------------------------------------------------- manager: select all
  const all = document.getElementById("check-all");
  if (all) {
    all.addEventListener("change", () => {
      for (const cb of document.querySelectorAll('input[name="ids"]')) cb.checked = all.checked;
    });
  }
})();

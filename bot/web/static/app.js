// 思语 console: live suggestions (server-sent events), blanks filled before copy-and-record,
// more suggestions, the library search, confirm dialogs, script preview.
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

  // ---------------------------------------------------------------- blanks
  // A variable without a value shows as 【待填:城市】. The adviser fills it in on the card
  // (one value per label for the whole page; city, product and the profile fields are
  // saved on the customer's profile) and nothing holding a blank is copied or recorded.
  const BLANK = /【待填:([^】]*)】/g;
  const blankTargets = box && box.dataset.blanks ? JSON.parse(box.dataset.blanks) : {};
  // what the profile already holds for a blank (saved when it was filled on a card)
  const blankValues = Object.fromEntries(
    Object.entries(blankTargets).filter(([, t]) => t.value).map(([label, t]) => [label, t.value]));
  const blankViews = new Set();

  function blanksIn(text) {
    return [...new Set([...text.matchAll(BLANK)].map((m) => m[1]))];
  }

  function fillBlanks(text) {
    return text.replace(BLANK, (all, label) => (blankValues[label] || "").trim() || all);
  }

  // Render ``text`` into ``el`` with every blank still open highlighted.
  function showText(el, text) {
    el.replaceChildren();
    let last = 0;
    for (const m of text.matchAll(BLANK)) {
      el.append(document.createTextNode(text.slice(last, m.index)));
      const mark = document.createElement("mark");
      mark.className = "blank";
      mark.textContent = m[0];
      el.append(mark);
      last = m.index + m[0].length;
    }
    el.append(document.createTextNode(text.slice(last)));
  }

  // The inputs for the blanks of ``template`` under a card; ``redraw`` runs on each change.
  function blankInputs(wrap, template, redraw) {
    const labels = blanksIn(template);
    wrap.replaceChildren();
    wrap.hidden = labels.length === 0;
    if (!labels.length) return;
    const head = document.createElement("p");
    head.className = "blank-head";
    head.textContent = "填好以下内容才能使用：";
    wrap.append(head);
    for (const label of labels) {
      const row = document.createElement("label");
      row.className = "blank-row";
      const name = document.createElement("span");
      name.textContent = label;
      const input = document.createElement("input");
      input.dataset.blank = label;
      input.value = blankValues[label] || "";
      input.maxLength = 100;
      input.placeholder = blankTargets[label] ? "填写后保存到客户资料" : "只填入这条话术";
      input.addEventListener("input", () => {
        blankValues[label] = input.value;
        for (const view of blankViews) view();
      });
      row.append(name, input);
      wrap.append(row);
    }
    redraw();
  }

  // Save the filled blanks that belong on the profile (city, product, profile fields).
  async function saveBlanks(template) {
    if (!selected) return;
    const basics = {};
    const fieldValues = {};
    for (const label of blanksIn(template)) {
      const target = blankTargets[label];
      const value = (blankValues[label] || "").trim();
      if (!target || !value) continue;
      if (target.store === "basic") basics[target.name] = value;
      else fieldValues[target.name] = value;
    }
    if (Object.keys(basics).length) {
      await api("PUT", "/api/customers/" + selected + "/basics", basics);
      // the profile card's form shows what was just saved
      for (const [name, value] of Object.entries(basics)) {
        const input = document.querySelector("#basics-form [name='" + name + "']");
        if (input) input.value = value;
      }
    }
    if (Object.keys(fieldValues).length) await api("PUT", "/api/customers/" + selected + "/fields", { values: fieldValues });
  }

  function errorText(e) {
    try { return JSON.parse(e.message.slice(e.message.indexOf(" ") + 1)).detail; } catch (x) { return e.message; }
  }

  function card(s, item) {
    const node = tpl.content.firstElementChild.cloneNode(true);
    node.querySelector(".title").textContent = item.title;
    // the evidence behind the ranking ("回复率 38%，n=120"), when there is enough of it
    node.querySelector(".cat").textContent =
      (labels[item.category] || item.category) + (item.reason ? " · " + item.reason : "");
    const text = node.querySelector(".text");
    const blanks = node.querySelector(".blanks");
    if (item.draft) node.classList.add("draft");
    if (item.more) node.classList.add("more");
    const edit = node.querySelector(".edit");
    const done = node.querySelector(".done");
    const useEdited = node.querySelector(".use-edited");
    const redraw = () => {
      const current = fillBlanks(item.text);
      showText(text, current);
      node.dataset.open = blanksIn(current).length;
    };
    blankViews.add(redraw);
    blankInputs(blanks, item.text, redraw);
    redraw();
    function refuse(open) {
      done.textContent = "还有未填写的内容：" + open.join("、") + "。请先填好再使用";
      done.className = "done error";
      done.hidden = false;
      const first = blanks.querySelector("input[data-blank='" + open[0] + "']");
      if (first) first.focus();
    }
    async function record(kind, finalText) {
      const open = blanksIn(finalText);
      if (open.length) { refuse(open); return; }
      try {
        await saveBlanks(item.text);
        await api("POST", "/api/suggestions/" + s.id + "/outcomes",
          { kind, final_text: finalText, script_id: item.script_id });
        const copied = await copy(finalText);
        done.textContent = (kind === "edited" ? "已记录：修改后采用" : "已记录：采用") + (copied ? " · 已复制" : "");
        done.className = "done";
        node.dataset.recorded = kind;
      } catch (e) {
        done.textContent = "记录失败：" + errorText(e);
        done.className = "done error";
      }
      done.hidden = false;
    }
    const used = (s.used || {})[item.script_id || ""];
    if (used) {  // used before this page was loaded
      done.textContent = used === "edited" ? "已记录：修改后采用" : "已记录：采用";
      done.className = "done";
      done.hidden = false;
      node.dataset.recorded = used;
    }
    node.querySelector(".use").addEventListener("click", () => record("adopted", fillBlanks(item.text)));
    node.querySelector(".editbtn").addEventListener("click", () => {
      edit.value = fillBlanks(item.text);
      edit.hidden = false; text.hidden = true; useEdited.hidden = false;
      // tall enough for the whole text: in 4 rows a script showed its last lines, the
      // first one cut in half, at 360 px
      edit.rows = 4;
      while (edit.scrollHeight > edit.clientHeight && edit.rows < 40) edit.rows += 1;
      edit.focus();
    });
    useEdited.addEventListener("click", () => {
      const finalText = edit.value.trim();
      if (!finalText) return;
      record(finalText === fillBlanks(item.text) ? "adopted" : "edited", finalText);
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
      box.append(card(s, { title: sc.title, category: sc.category, text: sc.text, script_id: sc.id, reason: sc.reason, more: sc.more }));
    }
    showMore(s);
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
      // a rule without a product: its script by its title (its text is below)
      b.textContent = "下一步建议" + (a.product ? "：" + a.product : a.script_title ? "：发「" + a.script_title + "」" : "");
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

  // 「更多建议」: more scripts for the same message, added to the suggestion (so using
  // one is recorded like the first ones), inserted after the scripts already shown.
  const moreButton = document.getElementById("more-suggestions");
  let moreFor = null;
  function showMore(s) {
    if (!moreButton) return;
    moreFor = s;
    moreButton.hidden = !s.message_id;
    moreButton.disabled = false;
    moreButton.textContent = "更多建议";
  }
  if (moreButton) {
    moreButton.addEventListener("click", async () => {
      const s = moreFor;
      if (!s) return;
      moreButton.disabled = true;
      moreButton.textContent = "正在查找…";
      try {
        const r = await api("POST", "/api/suggestions/" + s.id + "/more?limit=5");
        const cards = box.querySelectorAll("article.suggestion");
        let after = cards.length ? cards[cards.length - 1] : null;
        for (const sc of r.scripts) {
          const node = card(s, { title: sc.title, category: sc.category, text: sc.text, script_id: sc.id, reason: sc.reason, more: true });
          if (after) after.after(node); else box.prepend(node);
          after = node;
        }
        moreButton.textContent = r.scripts.length ? "再多一些" : "没有更多了";
        moreButton.disabled = !r.scripts.length;
      } catch (e) {
        moreButton.textContent = "加载失败：" + errorText(e);
        moreButton.disabled = false;
      }
    });
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

  // The tags and profile items the new message suggested, without a reload (only these
  // lists: a form the adviser is typing in is left alone).
  async function refreshProfile() {
    const res = await fetch("/sidebar?customer_id=" + selected, { credentials: "same-origin" });
    if (!res.ok) return;
    const wrap = document.createElement("div");
    wrap.innerHTML = await res.text(); // server-rendered, autoescaped page
    for (const id of ["tag-list", "field-suggestions-box"]) {
      const fresh = wrap.querySelector("#" + id);
      const old = document.getElementById(id);
      if (fresh && old) old.replaceWith(fresh);
    }
  }

  async function refreshInbox() {
    // the page's query string: its customer, and the queue the list shows (?queue=waiting)
    const res = await fetch("/sidebar/inbox" + window.location.search, { credentials: "same-origin" });
    if (!res.ok) return;
    const wrap = document.createElement("div");
    wrap.innerHTML = await res.text(); // server-rendered, autoescaped fragment
    const fresh = wrap.querySelector("#inbox");
    const old = document.getElementById("inbox");
    if (fresh && old) old.replaceWith(fresh);
  }

  // The section a form came back to (#basics, #notes …) is scrolled to again once the
  // suggestions above it are in: they push it down after the browser has scrolled.
  function backToSection() {
    const target = window.location.hash && document.getElementById(window.location.hash.slice(1));
    if (target && !box.contains(target)) target.scrollIntoView({ block: "start" });
  }

  if (box && selected) {
    api("GET", "/api/customers/" + selected + "/suggestion").then((s) => {
      renderSuggestion(s);
      backToSection();
    }).catch((e) => {
      box.textContent = "加载建议失败：" + e.message;
    });
  }

  const status = document.getElementById("live-status");
  if (status && window.EventSource) {
    const source = new EventSource("/api/events");
    source.addEventListener("open", () => { status.textContent = "● 实时"; status.className = "ok"; });
    // The server closes the stream when the login ends (bot/web/api.py, events); the
    // browser's reconnect is then refused and the source stays closed.
    source.addEventListener("error", () => {
      const closed = source.readyState === EventSource.CLOSED;
      status.textContent = closed ? "已断开：请刷新页面或重新登录" : "重连中…";
      status.className = "muted";
    });
    source.addEventListener("message", async (e) => {
      const ev = JSON.parse(e.data);
      if (selected && ev.customer_id === selected) {
        appendTimeline(ev);
        if (ev.suggestion_id) {
          try { renderSuggestion(await api("GET", "/api/suggestions/" + ev.suggestion_id)); } catch (err) { /* shown on next load */ }
          refreshProfile().catch(() => {});
        }
        api("GET", "/api/customers/" + selected).catch(() => {}); // marks the customer as read
      }
      refreshInbox();
    });
  }

  // The timeline opens on the newest message (it is oldest first, in a scrolling box).
  const timeline = document.getElementById("timeline");
  if (timeline) timeline.scrollTop = timeline.scrollHeight;

  // ---------------------------------------------------------------- sidebar: library
  // The whole library by keyword and category, filled in for this customer; ☆ stars a
  // script (favourites come first, or alone with 只看收藏). Copying is refused while a
  // blank is open, like 使用.
  const libForm = document.getElementById("library-form");
  const libResults = document.getElementById("library-results");
  async function searchLibrary() {
    const data = new FormData(libForm);
    const q = new URLSearchParams();
    q.set("q", data.get("q") || "");
    if (data.get("category")) q.set("category", data.get("category"));
    if (data.get("favourites")) q.set("favourites", "true");
    if (selected) q.set("customer_id", selected);
    libResults.textContent = "搜索中…";
    let items;
    try { items = await api("GET", "/api/library?" + q.toString()); } catch (e) {
      libResults.textContent = "搜索失败：" + errorText(e);
      return;
    }
    libResults.replaceChildren();
    if (!items.length) {
      const p = document.createElement("p");
      p.className = "muted";
      p.textContent = data.get("favourites") ? "还没有收藏的话术：点 ☆ 收藏常用的话术。" : "没有找到话术，换个关键词试试。";
      libResults.append(p);
      return;
    }
    for (const item of items) libResults.append(libraryCard(item));
  }
  function libraryCard(item) {
    const art = document.createElement("article");
    art.className = "card library-item";
    art.dataset.script = item.id;
    const head = document.createElement("header");
    const title = document.createElement("b");
    title.textContent = item.title;
    const cat = document.createElement("span");
    cat.className = "muted";
    cat.textContent = " " + (labels[item.category] || item.category);
    const star = document.createElement("button");
    star.type = "button";
    star.className = "star link";
    const paint = (on) => {
      star.textContent = on ? "★ 已收藏" : "☆ 收藏";
      star.setAttribute("aria-pressed", on ? "true" : "false");
      art.dataset.favourite = on ? "1" : "0";
    };
    paint(item.favourite);
    star.addEventListener("click", async () => {
      const on = art.dataset.favourite !== "1";
      try {
        const r = await api(on ? "PUT" : "DELETE", "/api/favourites/" + encodeURIComponent(item.id));
        paint(r.favourite);
      } catch (e) { star.textContent = "失败：" + errorText(e); }
    });
    head.append(title, cat, star);
    const text = document.createElement("p");
    text.className = "text";
    const blanks = document.createElement("div");
    blanks.className = "blanks";
    const actions = document.createElement("div");
    actions.className = "actions";
    const copyButton = document.createElement("button");
    copyButton.type = "button";
    copyButton.className = "primary small copy-script";
    copyButton.textContent = "复制";
    const done = document.createElement("span");
    done.className = "done";
    done.hidden = true;
    actions.append(copyButton, done);
    art.append(head, text, blanks, actions);
    const redraw = () => showText(text, fillBlanks(item.text));
    blankViews.add(redraw);
    blankInputs(blanks, item.text, redraw);
    redraw();
    copyButton.addEventListener("click", async () => {
      const finalText = fillBlanks(item.text);
      const open = blanksIn(finalText);
      done.hidden = false;
      if (open.length) {
        done.textContent = "还有未填写的内容：" + open.join("、") + "。请先填好再复制";
        done.className = "done error";
        return;
      }
      try { await saveBlanks(item.text); } catch (e) {
        done.textContent = "保存资料失败：" + errorText(e);
        done.className = "done error";
        return;
      }
      done.className = "done";
      done.textContent = (await copy(finalText)) ? "已复制" : "复制失败，请手动选择";
    });
    return art;
  }
  if (libForm && libResults) {
    libForm.addEventListener("submit", (e) => { e.preventDefault(); searchLibrary(); });
    const lib = document.getElementById("library");
    lib.addEventListener("toggle", () => { if (lib.open && !libResults.childElementCount) searchLibrary(); });
  }

  // ---------------------------------------------------------------- forms: errors in place
  // A console form is sent in the background (X-Siyu-Form, bot/web/inline_forms.py): a
  // refusal is shown at the top of the form, with what was typed kept; success goes to
  // the page the server names. Without this script a form posts as usual and a refusal
  // is a page with a way back. The login form stays a plain form (data-native).
  function formProblems(form, data, status) {
    const detail = data && data.detail;
    if (typeof detail === "string" && detail) {
      const lines = detail.split("\n").map((l) => l.replace(/^\s*- /, ""));
      return Array.isArray(data.problems) ? lines.concat(data.problems) : lines;
    }
    if (Array.isArray(detail)) {  // a field the server could not read (FastAPI's 422)
      return [...new Set(detail.map((d) => fieldProblem(form, d)))];
    }
    return ["提交没有成功（" + status + "），请稍后再试"];
  }

  // One of FastAPI's 422 entries as a person reads it: the field by its label on the
  // form, and what it takes (the server words ``msg`` in Chinese: bot/web/validation.py).
  function fieldProblem(form, d) {
    const name = Array.isArray(d.loc) && d.loc.length > 1 ? String(d.loc[d.loc.length - 1]) : "";
    const label = name ? fieldLabel(form, name) : "填写的内容";
    return label + "：" + (d.msg || "格式不对");
  }

  function fieldLabel(form, name) {
    const field = form.elements.namedItem(name);
    const node = field instanceof RadioNodeList ? field[0] : field;
    const label = node && (node.closest("label") || (node.id && form.querySelector('label[for="' + CSS.escape(node.id) + '"]')));
    if (!label) return name;
    const words = label.cloneNode(true);
    words.querySelectorAll("input, select, textarea, datalist").forEach((n) => n.remove());
    return words.textContent.replace(/[（(].*$/, "").replace(/[：:*\s]+$/, "").trim() || name;
  }

  function showFormError(form, lines) {
    let box = form.querySelector(":scope > .form-error");
    if (!box) {
      box = document.createElement("div");
      box.className = "form-error";
      box.setAttribute("role", "alert");
      box.tabIndex = -1;
      form.prepend(box);
    }
    box.replaceChildren(...lines.map((line) => {
      const p = document.createElement("p");
      p.textContent = line;
      return p;
    }));
    box.scrollIntoView({ block: "center" });  // not under the sticky header
    box.focus({ preventScroll: true });
  }

  // The page after a form; this page again (another #) is reloaded, not only scrolled.
  function goTo(location) {
    const next = new URL(location, window.location.href);
    const here = new URL(window.location.href);
    if (next.pathname + next.search !== here.pathname + here.search) {
      window.location.assign(next.href);
      return;
    }
    history.replaceState(null, "", next.href);
    window.location.reload();
  }

  async function sendForm(form, submitter) {
    if (form.dataset.sending) return;  // a double click sends once
    form.dataset.sending = "1";
    form.setAttribute("aria-busy", "true");
    const data = new FormData(form);
    if (submitter && submitter.name) data.append(submitter.name, submitter.value);
    const multipart = form.enctype === "multipart/form-data";
    let res = null;
    try {
      // a button's formAction is the page's address when it has no formaction of its own
      const action = submitter && submitter.hasAttribute("formaction") ? submitter.formAction : form.action;
      res = await fetch(action, {
        method: "POST",
        body: multipart ? data : new URLSearchParams(data),
        headers: { "X-Siyu-Form": "1" },
        credentials: "same-origin",
      });
    } catch (e) {
      showFormError(form, ["连不上服务器，请检查网络后再试（填写的内容还在）"]);
    }
    const json = res && (res.headers.get("content-type") || "").includes("application/json");
    const body = json ? await res.json().catch(() => null) : null;
    if (res && res.ok && body && body.location) {
      goTo(body.location);  // still busy: a second click while the next page loads sends nothing
      return;
    }
    delete form.dataset.sending;
    form.removeAttribute("aria-busy");
    if (!res) return;
    if (!res.ok) {
      showFormError(form, formProblems(form, body, res.status));
    } else {  // a page of its own: shown as the browser would have
      document.open();
      document.write(await res.text());
      document.close();
    }
  }

  // ---------------------------------------------------------------- confirm dialogs
  // A form with data-confirm asks first, in the page's own dialog (no inline script):
  // merging two customers, undoing a merge, deleting a note. Read when it is sent, so a
  // page may set it later (the script editor, once there are unsaved edits).
  const dialog = document.getElementById("confirm-dialog");
  let pending = null;
  if (dialog) {
    dialog.addEventListener("close", () => {
      if (dialog.returnValue === "ok" && pending) sendForm(pending.form, pending.submitter);
      pending = null;
    });
  }

  document.addEventListener("submit", (e) => {
    const form = e.target;
    if (!(form instanceof HTMLFormElement) || form.method !== "post") return;
    if (form.hasAttribute("data-native") || e.defaultPrevented) return;
    e.preventDefault();
    if (dialog && form.hasAttribute("data-confirm")) {
      pending = { form, submitter: e.submitter };
      dialog.querySelector(".confirm-text").textContent = form.dataset.confirm;
      dialog.querySelector(".confirm-detail").textContent = form.dataset.confirmDetail || "";
      dialog.querySelector(".ok-button").textContent = form.dataset.confirmOk || "确认";
      dialog.returnValue = "";  // Esc closes without one: not the last dialog's 「确认」
      dialog.showModal();
      return;
    }
    sendForm(form, e.submitter);
  });

  // ---------------------------------------------------------------- script editor preview
  const form = document.getElementById("script-form");
  if (form) {
    const out = document.getElementById("preview-text");
    const list = document.getElementById("preview-issues");
    let timer = null;
    async function preview() {
      const data = Object.fromEntries(new FormData(form).entries());
      const body = { id: data.id, title: data.title, category: data.category, stage: data.stage,
        industry: data.industry, tags: data.tags, body: data.body, deadline: data.deadline };
      try {
        const r = await api("POST", "/api/scripts/preview", body);
        out.textContent = r.text;
        list.replaceChildren();
        for (const i of r.issues) {
          const li = document.createElement("li");
          li.className = i.severity;
          li.textContent = i.field_label + "：" + i.message;
          list.append(li);
        }
        if (!r.issues.length) {
          const li = document.createElement("li"); li.className = "ok"; li.textContent = "没有问题"; list.append(li);
        }
      } catch (e) { out.textContent = "预览失败：" + e.message; }
    }
    form.addEventListener("input", () => { clearTimeout(timer); timer = setTimeout(preview, 250); });
    // Approving or archiving acts on the saved version: with unsaved edits, ask first.
    const status = document.getElementById("status-form");
    if (status) {
      form.addEventListener("input", () => {
        status.dataset.confirm = "修改还没有保存，仍要改状态吗？";
        status.dataset.confirmDetail = "审核通过或归档的是已保存的版本，页面上的修改会丢失；要保留修改，请先点「保存为草稿」。";
        status.dataset.confirmOk = "不保存，继续";
      }, { once: true });
    }
  }

  // ---------------------------------------------------------------- sidebar: reminders
  for (const btn of document.querySelectorAll("button.copy[data-copy]")) {
    btn.addEventListener("click", async () => {
      const open = blanksIn(btn.dataset.copy);
      if (open.length) {
        btn.textContent = "有未填写的内容（" + open.join("、") + "），请先补全资料";
        return;
      }
      btn.textContent = (await copy(btn.dataset.copy)) ? "已复制" : "复制失败，请手动选择";
    });
  }

  // ---------------------------------------------------------------- a refused form
  // Back to the form with the browser's own back: it keeps what was typed (the link's
  // address, the form's page, is the way when there is no history).
  for (const a of document.querySelectorAll("a[data-back]")) {
    a.addEventListener("click", (e) => {
      if (history.length > 1) { e.preventDefault(); history.back(); }
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
        bar.hidden = s.state === "failed";
        document.getElementById("job-note").hidden = true;
        if (s.state === "failed") next.textContent = "返回";
        message.textContent = s.message;
        message.className = s.state === "failed" ? "error" : "success";
        message.hidden = !s.message;
        if (s.next_url) next.href = s.next_url;
        next.hidden = false;
        // replace: Back from the next page skips the finished job, which would forward again
        if (s.state === "done" && s.next_url) window.location.replace(s.next_url);
        return;
      }
      setTimeout(poll, 1000);
    }
    if (job.dataset.state === "done" && job.dataset.next) window.location.replace(job.dataset.next);
    else if (job.dataset.state !== "failed") poll();
  }

  // ---------------------------------------------------------------- wide tables
  // A table wider than its box (.table-wrap) scrolls sideways in it: marked .overflows,
  // the box says so above the table (app.css) and takes the focus, to scroll by keyboard.
  function markOverflow(wrap) {
    const over = wrap.scrollWidth > wrap.clientWidth + 1;
    wrap.classList.toggle("overflows", over);
    if (over) {
      wrap.tabIndex = 0;
      wrap.setAttribute("role", "region");
      wrap.setAttribute("aria-label", "表格可左右滑动");
    } else {
      wrap.removeAttribute("tabindex");
      wrap.removeAttribute("role");
      wrap.removeAttribute("aria-label");
    }
  }
  const wraps = document.querySelectorAll(".table-wrap");
  if (wraps.length && "ResizeObserver" in window) {
    const watcher = new ResizeObserver((entries) => {
      for (const e of entries) markOverflow(e.target.closest(".table-wrap"));
    });
    for (const wrap of wraps) {
      watcher.observe(wrap);
      const table = wrap.querySelector("table");
      if (table) watcher.observe(table);
    }
  }

  // ---------------------------------------------------------------- the browser's own words
  // A browser words its controls in its own UI language, not the page's: an English
  // Chromium says "Choose File", "No file chosen", "Please fill out this field." and
  // shows a date as 12/07/2026. Here they say it in Chinese. Without this script the
  // native controls show, the forms post the same and the server checks every field
  // (in Chinese).

  // Validation: when a field fails the browser's check (on submit), it gets a Chinese
  // message for what fails, which the browser shows in its bubble; typing or choosing
  // again clears it, so the next submit checks afresh.
  const DATE_TYPES = { date: "日期", month: "月份", week: "周", time: "时间", "datetime-local": "日期和时间" };
  const WEEKDAYS = "日一二三四五六";
  const ownMessage = new WeakSet();  // the fields whose custom message is this code's

  // "2026-12-07" as 2026年12月7日 (with its weekday: 2026年12月7日 周一); else as given.
  function readDate(value, withWeekday) {
    const m = /^(\d{4,})-(\d{2})-(\d{2})$/.exec(value || "");
    if (!m) return value;
    const [y, mo, d] = [Number(m[1]), Number(m[2]), Number(m[3])];
    const text = y + "年" + mo + "月" + d + "日";
    if (!withWeekday) return text;
    const day = new Date(Date.UTC(2000, mo - 1, d));
    day.setUTCFullYear(y);
    return text + " 周" + WEEKDAYS[day.getUTCDay()];
  }

  function limitText(el, value) {
    return DATE_TYPES[el.type] === "日期" ? readDate(value) : value;
  }

  // A number off its step (step="1": a whole number), with the two nearest that fit.
  function stepText(el) {
    const step = Number(el.step);
    const value = el.valueAsNumber;
    if (!(step > 0) || Number.isNaN(value)) return "请填写有效的值。";
    const given = el.getAttribute("value");
    const base = el.min !== "" ? Number(el.min) : (given !== null && given !== "" && !Number.isNaN(Number(given)) ? Number(given) : 0);
    const places = Math.max(...[step, base].map((n) => (String(n).split(".")[1] || "").length));
    const lower = Number((base + Math.floor((value - base) / step) * step).toFixed(places));
    const upper = Number((lower + step).toFixed(places));
    const near = [lower, upper].filter((n) => (el.min === "" || n >= Number(el.min)) && (el.max === "" || n <= Number(el.max)));
    const hint = near.length ? "，如 " + near.join(" 或 ") : "";
    if (step === 1 && Number.isInteger(base)) return "请填写整数" + hint + "。";
    return "请填写有效的值（每次相差 " + step + "）" + hint + "。";
  }

  // Out of min..max: both ends when the field has both (「请填写 0 到 3660 之间的整数。」).
  function rangeText(el, under, dateKind) {
    if (el.min !== "" && el.max !== "") {
      const whole = !dateKind && Number(el.step || 1) === 1 && Number.isInteger(Number(el.min));
      const what = dateKind ? "的" + dateKind : whole ? "的整数" : "的数";
      return (dateKind ? "请选择 " : "请填写 ") + limitText(el, el.min) + " 到 " + limitText(el, el.max) + " 之间" + what + "。";
    }
    if (under) return (dateKind ? "不能早于 " : "不能小于 ") + limitText(el, el.min) + "。";
    return (dateKind ? "不能晚于 " : "不能大于 ") + limitText(el, el.max) + "。";
  }

  // What the browser's check found wrong with ``el``, in Chinese ("" when nothing).
  function validityText(el) {
    const v = el.validity;
    const type = el.type;
    const dateKind = DATE_TYPES[type];
    if (v.badInput) {  // first: a half-typed date is also missing
      if (type === "number") return "请填写数字。";
      if (dateKind === "日期") return "日期不完整：请填好年、月、日。";
      if (dateKind) return dateKind + "不完整，请填写完整。";
      if (type === "email") return "请填写有效的电子邮箱地址，如 name@example.com。";
      return "请填写有效的值。";
    }
    if (v.valueMissing) {
      if (type === "radio") return "请选择其中一项。";
      if (type === "checkbox") return "请勾选此项。";
      if (type.startsWith("select")) return "请在列表中选择一项。";
      if (type === "file") return el.multiple ? "请选择一个或多个文件。" : "请选择一个文件。";
      if (dateKind) return "请选择" + dateKind + "。";
      return "请填写此项。";
    }
    if (v.typeMismatch) {
      if (type === "email") return el.multiple ? "请填写有效的电子邮箱地址（多个用英文逗号分隔），如 name@example.com。" : "请填写有效的电子邮箱地址，如 name@example.com。";
      if (type === "url") return "请填写完整的网址，如 https://example.com。";
      return "格式不对，请重新填写。";
    }
    if (v.patternMismatch) {
      // a date field the browser shows as a text box (it has no date control)
      if (el.getAttribute("type") === "date") return "请按 年-月-日 填写日期，如 2026-12-01。";
      const title = (el.title || "").trim();
      return title ? "格式不对：" + title : "格式不对，请按要求填写。";
    }
    if (v.tooLong) return "最多 " + el.maxLength + " 个字，现在是 " + el.value.length + " 个。";
    if (v.tooShort) return "至少 " + el.minLength + " 个字，现在是 " + el.value.length + " 个。";
    if (v.rangeUnderflow || v.rangeOverflow) return rangeText(el, v.rangeUnderflow, dateKind);
    if (v.stepMismatch) return dateKind ? "请选择有效的" + dateKind + "。" : stepText(el);
    return "";
  }

  function isField(el) {
    return el instanceof HTMLInputElement || el instanceof HTMLSelectElement || el instanceof HTMLTextAreaElement;
  }

  // ``invalid`` does not bubble: caught on the way down.
  document.addEventListener("invalid", (e) => {
    const el = e.target;
    if (!isField(el)) return;
    if (el.validity.customError && !ownMessage.has(el)) return;  // another script's message
    el.setCustomValidity("");
    const text = validityText(el);
    if (!text) return;
    el.setCustomValidity(text);
    ownMessage.add(el);
  }, true);

  // A radio's choice settles its whole group: every radio of it is cleared.
  function clearMessage(e) {
    const el = e.target;
    if (!isField(el)) return;
    let fields = [el];
    if (el.type === "radio" && el.name) {
      const scope = el.form || document;
      fields = [...scope.querySelectorAll('input[type="radio"]')].filter((r) => r.name === el.name && r.form === el.form);
    }
    for (const f of fields) {
      if (ownMessage.has(f)) {
        f.setCustomValidity("");
        ownMessage.delete(f);
      }
    }
  }
  document.addEventListener("input", clearMessage, true);
  document.addEventListener("change", clearMessage, true);

  // File inputs: 「选择文件」 and the chosen file's name (or 「未选择文件」). The real input
  // lies over the control, transparent: a click, Enter or Space on it and a file dropped
  // on it reach the input as before, its label still names it, the form posts it, and
  // the browser's bubble points at it.
  const refreshers = [];
  let controlCount = 0;
  function describedBy(input, id) {
    const ids = (input.getAttribute("aria-describedby") || "").split(/\s+/).filter(Boolean);
    input.setAttribute("aria-describedby", ids.concat(id).join(" "));
  }

  function chineseFilePicker(input) {
    const wrap = document.createElement("span");
    wrap.className = "file-pick";
    const button = document.createElement("span");
    button.className = "file-button";
    button.setAttribute("aria-hidden", "true");  // the input itself is the button
    button.textContent = input.multiple ? "选择文件（可多选）" : "选择文件";
    const name = document.createElement("span");
    name.className = "file-name";
    name.setAttribute("aria-hidden", "true");  // not part of the label's name: its description
    const said = document.createElement("span");  // the description, whole (name is cut in two)
    said.hidden = true;
    said.id = "file-name-" + ++controlCount;
    input.replaceWith(wrap);
    wrap.append(input, button, name, said);
    describedBy(input, said.id);
    const stem = document.createElement("span");
    const tail = document.createElement("span");  // kept in sight when a long name is cut
    stem.className = "file-stem";
    tail.className = "file-tail";
    name.append(stem, tail);
    const show = () => {
      const files = input.files ? [...input.files] : [];
      let text = "未选择文件";
      if (files.length === 1) text = files[0].name;
      else if (files.length > 1) text = files[0].name + " 等 " + files.length + " 个文件";
      // 会员续保说明_2026版_最…认稿.md: the end of a long name (its type) stays
      const dot = text.lastIndexOf(".");
      const cut = files.length === 1 && dot > 0 ? Math.max(dot - 2, text.length - 10, 0) : text.length;
      stem.textContent = text.slice(0, cut);
      tail.textContent = text.slice(cut);
      said.textContent = text;
      // the browser's own tooltip would say "No file chosen" or list the names
      input.title = files.length ? files.map((f) => f.name).join("\n") : "未选择文件";
      wrap.classList.toggle("chosen", files.length > 0);
    };
    input.addEventListener("change", show);
    input.addEventListener("cancel", show);
    // a file dragged over the control: it says it will take it
    input.addEventListener("dragenter", () => wrap.classList.add("dragging"));
    for (const type of ["dragleave", "drop"]) input.addEventListener(type, () => wrap.classList.remove("dragging"));
    refreshers.push(show);
    show();
  }

  // Date inputs keep the browser's control and picker, which show the date in the
  // browser's order (12/07/2026 in English): under it the date is read in Chinese,
  // 2026年12月7日 周一, or 「未选择日期」.
  function chineseDateReading(input) {
    const wrap = document.createElement("span");
    wrap.className = "date-pick";
    const reading = document.createElement("span");
    reading.className = "date-read";
    reading.id = "date-read-" + ++controlCount;
    reading.setAttribute("aria-hidden", "true");  // not part of the label's name: its description
    input.replaceWith(wrap);
    wrap.append(input, reading);
    describedBy(input, reading.id);
    const show = () => {
      if (input.value) reading.textContent = readDate(input.value, true);
      else reading.textContent = input.validity.badInput ? "日期不完整" : "未选择日期";
      reading.classList.toggle("empty", !input.value);
    };
    // a half-typed date changes no value: the keys tell
    for (const type of ["input", "change", "blur", "keyup"]) input.addEventListener(type, show);
    refreshers.push(show);
    show();
  }

  for (const input of document.querySelectorAll('input[type="file"]')) chineseFilePicker(input);
  for (const input of document.querySelectorAll('input[type="date"]')) {
    if (input.type === "date") chineseDateReading(input);  // else the browser has no date control
  }
  const refreshAll = () => { for (const show of refreshers) show(); };
  // a page from the back-forward cache, or a form reset, has other values
  window.addEventListener("pageshow", refreshAll);
  document.addEventListener("reset", () => setTimeout(refreshAll, 0));

  // ---------------------------------------------------------------- manager: select all
  const all = document.getElementById("check-all");
  if (all) {
    all.addEventListener("change", () => {
      for (const cb of document.querySelectorAll('input[name="ids"]')) cb.checked = all.checked;
    });
  }
})();

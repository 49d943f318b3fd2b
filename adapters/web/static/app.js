// The console's pages call the JSON API (/api/v1/) and nothing else.
"use strict";
(function () {
  const body = document.body;
  const page = body.dataset.page;
  const $ = (id) => document.getElementById(id);
  let csrf = "";

  function say(msg) { const s = $("status"); if (s) s.textContent = msg; }
  function fail(msg) { $("error").textContent = msg; }
  function clearError() { $("error").textContent = ""; }

  async function api(method, path, data) {
    const opts = { method: method, headers: {}, credentials: "same-origin" };
    if (data !== undefined) {
      opts.headers["Content-Type"] = "application/json";
      opts.body = JSON.stringify(data);
    }
    if (method !== "GET" && csrf) opts.headers["X-CSRF-Token"] = csrf;
    const r = await fetch(path, opts);
    const ct = r.headers.get("Content-Type") || "";
    const out = ct.startsWith("application/json") ? await r.json() : await r.text();
    if (!r.ok) {
      if (r.status === 401 && page !== "login") { location.href = "/login"; }
      throw new Error((out && out.message) || ("HTTP " + r.status));
    }
    return out;
  }
  async function act(method, path, data) {
    clearError();
    try { return await api(method, path, data); } catch (e) { fail(e.message); return null; }
  }
  function td(text, cls) { const c = document.createElement("td"); c.textContent = text; if (cls) c.className = cls; return c; }
  function age(t) {
    const s = Math.max(0, Math.round((Date.now() - new Date(t).getTime()) / 1000));
    if (s < 120) return s + " s"; if (s < 7200) return Math.round(s / 60) + " min"; return Math.round(s / 3600) + " h";
  }

  async function session() {
    const s = await api("GET", "/api/v1/session");
    csrf = s.csrf;
    const lo = $("logout");
    if (lo) lo.addEventListener("click", async () => { await act("POST", "/api/v1/logout", {}); location.href = "/login"; });
    return s;
  }

  // Login.
  if (page === "login") {
    const cf = $("cert-form");
    if (cf) cf.addEventListener("submit", async (ev) => {
      ev.preventDefault();
      clearError();
      try { await api("POST", "/api/v1/login/certificate", {}); location.href = "/"; } catch (e) { fail(e.message); }
    });
    $("login-form").addEventListener("submit", async (ev) => {
      ev.preventDefault();
      clearError();
      try {
        await api("POST", "/api/v1/login", { name: $("name").value, password: $("password").value });
        location.href = "/";
      } catch (e) { $("password").value = ""; fail(e.message); }
    });
    return;
  }

  // Ceremony list, start form, health.
  async function index(s) {
    $("rehearsal-banner").hidden = body.dataset.rehearsal !== "true"; // the station's
    const list = await api("GET", "/api/v1/ceremonies");
    const tb = document.querySelector("#ceremonies tbody");
    tb.textContent = "";
    list.sort((a, b) => (a.started < b.started ? 1 : -1));
    for (const c of list) {
      const tr = document.createElement("tr");
      const a = document.createElement("a"); a.href = "/ceremonies/" + encodeURIComponent(c.id); a.textContent = c.id;
      const first = document.createElement("td"); first.appendChild(a); tr.appendChild(first);
      tr.appendChild(td(c.kind + (c.rehearsal ? " (rehearsal)" : "")));
      tr.appendChild(td(c.phase)); tr.appendChild(td(age(c.started))); tr.appendChild(td(c.open_step || "-"));
      tb.appendChild(tr);
    }
    say(list.length + " ceremonies");
    const health = await api("GET", "/api/v1/health");
    const ul = $("health"); ul.textContent = "";
    for (const f of health) {
      const li = document.createElement("li"); li.className = f.severity;
      li.textContent = f.severity + ": " + f.subject + ": " + f.what + " — " + f.recovery; ul.appendChild(li);
    }
    if (health.length === 0) { const li = document.createElement("li"); li.textContent = "No open findings."; ul.appendChild(li); }
    // Key sets with their quorum margin; the card registry.
    const kb = document.querySelector("#keysets tbody"); kb.textContent = "";
    for (const k of await api("GET", "/api/v1/keysets")) {
      const tr = document.createElement("tr"); tr.id = "keyset-" + k.id;
      tr.appendChild(td(k.id)); tr.appendChild(td(k.status)); tr.appendChild(td(k.threshold + " of " + k.shares)); tr.appendChild(td(k.kcv));
      tr.appendChild(td(String(k.usable)));
      const m = k.margin < 0 ? k.margin + ": the key cannot be rebuilt from cards" : k.margin === 0 ? "0: no spare" : "+" + k.margin;
      tr.appendChild(td(m, k.margin < 0 ? "critical" : ""));
      kb.appendChild(tr);
    }
    if (!kb.childElementCount) { const tr = document.createElement("tr"); const c = td("No key set yet."); c.colSpan = 6; tr.appendChild(c); kb.appendChild(tr); }
    const cb = document.querySelector("#cards tbody"); cb.textContent = "";
    for (const c of await api("GET", "/api/v1/cards")) {
      const tr = document.createElement("tr"); tr.id = "card-" + c.serial;
      tr.appendChild(td(c.serial)); tr.appendChild(td(c.key_set_id ? "share " + c.share_index + " of " + c.key_set_id : "no share"));
      tr.appendChild(td(c.custodian ? c.custodian + (c.label ? " (" + c.label + ")" : "") : "-"));
      const st = [];
      if (c.blocked) st.push("backup PIN blocked"); if (c.default_pin) st.push("default PIN"); if (c.void) st.push("void share"); if (c.uncertain) st.push("write outcome unknown");
      tr.appendChild(td(st.length ? st.join(", ") : "ok")); tr.appendChild(td(c.last_seen || "-"));
      cb.appendChild(tr);
    }
    if (!cb.childElementCount) { const tr = document.createElement("tr"); const c = td("No card seen yet."); c.colSpan = 5; tr.appendChild(c); cb.appendChild(tr); }
    if (s.role !== "operator") return;
    const kinds = await api("GET", "/api/v1/kinds");
    const sel = $("kind");
    for (const k of kinds) { const o = document.createElement("option"); o.value = k.name; o.textContent = k.command + " — " + k.short; sel.appendChild(o); }
    function params() {
      const k = kinds.find((k) => k.name === sel.value); const div = $("params"); div.textContent = "";
      for (const p of (k ? k.params : [])) {
        const l = document.createElement("label"); l.htmlFor = "param-" + p.name; l.textContent = p.name + " (" + p.usage + ")";
        const i = document.createElement("input"); i.id = "param-" + p.name; i.name = p.name; i.value = p.default;
        div.appendChild(l); div.appendChild(i);
      }
    }
    sel.addEventListener("change", params); params();
    $("start-form").addEventListener("submit", async (ev) => {
      ev.preventDefault();
      const ps = {};
      for (const i of $("params").querySelectorAll("input")) ps[i.name] = i.value;
      const r = await act("POST", "/api/v1/ceremonies", { kind: sel.value, params: ps });
      if (r) location.href = "/ceremonies/" + encodeURIComponent(r.id);
    });
  }

  // The live ceremony view.
  async function ceremony(s) {
    const id = body.dataset.ceremony;
    const base = "/api/v1/ceremonies/" + encodeURIComponent(id);
    const isOp = s.role === "operator";
    let padLive = false;
    // benchActs counts card actions sent or answered: a refresh that began
    // before a card action was answered carries an older bench and must not
    // overwrite the one the action returned.
    let benchActs = 0;
    async function cardAction(body) {
      benchActs++;
      const r = await act("POST", base + "/card", body);
      benchActs++;
      if (r) bench(r);
    }
    let step = { name: "", deadline: 0, skew: 0 };
    // The countdown: the station's deadline, read against the station's
    // clock (server_time), updated each second; a notice is said (a
    // status region) a minute and ten seconds before the end, not every
    // second (WCAG 2.2.1: the operator is warned and extends).
    let warned = "";
    function tick() {
      const cd = $("countdown");
      if (!step.name) { cd.textContent = "-"; return; }
      const left = Math.max(0, Math.round((step.deadline - (Date.now() + step.skew)) / 1000));
      const m = Math.floor(left / 60), sec = left % 60;
      cd.textContent = m + " min " + String(sec).padStart(2, "0") + " s";
      cd.dataset.seconds = String(left);
      const mark = left <= 10 ? "10s" : left <= 60 ? "60s" : "";
      if (mark && warned !== step.name + mark) {
        warned = step.name + mark;
        $("step-notice").textContent = "The step " + step.name + " ends in " + (mark === "10s" ? "10 seconds" : "a minute") + (isOp ? ": extend it if you need more time." : ".");
      }
    }
    setInterval(tick, 1000);
    function steps(d) {
      const opened = d.open_step && !d.ended;
      if ((opened ? d.open_step : "") !== step.name) $("step-notice").textContent = ""; // a notice is about one step
      step = opened ? { name: d.open_step, deadline: new Date(d.deadline).getTime(), skew: new Date(d.server_time).getTime() - Date.now() } : { name: "", deadline: 0, skew: 0 };
      const line = $("step-line");
      if (opened) line.textContent = "Step: " + d.open_step + ", until " + new Date(d.deadline).toLocaleTimeString() + ".";
      else if (d.paused_step) line.textContent = "The step " + d.paused_step + " timed out: the ceremony is paused." + (isOp && d.live && !d.resumable ? " Retry it, or abort." : "");
      else if (d.ended) line.textContent = "The ceremony has ended.";
      else line.textContent = "No step waits for a person now.";
      $("step-line").dataset.step = opened ? d.open_step : "";
      tick();
      if (!isOp) return;
      $("extend-form").hidden = !opened;
      $("retry").hidden = !(d.paused_step && d.live && !d.resumable);
      $("resume").hidden = !d.resumable;
    }
    async function refresh() {
      const acts = benchActs;
      const d = await api("GET", base);
      steps(d);
      $("rehearsal-banner").hidden = !d.rehearsal;
      const dl = $("facts"); dl.textContent = "";
      for (const f of [{ name: "kind", value: d.kind }, { name: "phase", value: d.phase }].concat(d.facts || [])) {
        const dt = document.createElement("dt"); dt.textContent = f.name; const dd = document.createElement("dd"); dd.textContent = f.value;
        dl.appendChild(dt); dl.appendChild(dd);
      }
      let st = "Phase " + d.phase;
      if (d.open_step) st += "; step " + d.open_step + " until " + new Date(d.deadline).toLocaleTimeString();
      if (d.rehearsal) st += " (rehearsal)";
      say(st);
      $("status").dataset.phase = d.phase;
      if (d.pad && !padLive) pad(d.pad); // the stream's view is newer
      if (isOp && d.station && $("bench") && acts === benchActs) bench(d.station);
    }
    function pad(p) {
      $("line1").textContent = p.line1; $("line2").textContent = p.line2;
      $("pad").dataset.waiting = p.waiting; $("pad").dataset.ended = String(p.ended);
      let w = "";
      if (p.ended) w = "The run has ended.";
      else if (p.waiting === "confirm") w = "The PIN pad waits for OK or Cancel.";
      else if (p.waiting === "pin") w = "The PIN pad waits for a PIN" + (isOp ? ": type it below." : ".");
      else if (p.waiting === "reader") w = "Enter the PIN on the reader: its own PIN pad collects it.";
      const desk = p.desk && p.desk.open;
      $("pad").dataset.desk = desk ? p.desk.n + "/" + p.desk.of : "";
      if (desk) w = "The ceremony waits for witness sign-off " + p.desk.n + " of " + p.desk.of + ": a witness signs off from their own session." + (s.role === "witness" ? " Use Sign off below." : "");
      const appr = p.approval && p.approval.open;
      const approver = isOp && appr && s.name !== p.approval.starter;
      $("pad").dataset.approval = appr ? "open" : "";
      if (appr) w = "Waiting for a second operator's approval: " + p.approval.starter + " started this ceremony under dual control, and another operator approves it from their own session before its first card step." + (approver ? " Use Approve below." : "");
      if (p.said) w = p.said + " " + w;
      $("waiting").textContent = w;
      if (isOp) {
        $("pin-form").hidden = p.waiting !== "pin";
        $("reader-pin").hidden = p.waiting !== "reader";
        const keys = p.waiting === "confirm" || p.waiting === "pin";
        $("ok").disabled = !keys; $("cancel").disabled = !keys;
        $("approve").hidden = !approver;
      }
    }
    function bench(b) {
      $("bench").hidden = false;
      $("in-reader").textContent = b.in_reader || "none";
      const div = $("card-buttons");
      if (div.childElementCount !== b.cards.length) {
        div.textContent = "";
        for (const c of b.cards) {
          const btn = document.createElement("button"); btn.type = "button"; btn.id = "insert-" + c; btn.textContent = "Insert " + c;
          btn.addEventListener("click", () => cardAction({ action: "insert", card: c }));
          div.appendChild(btn);
        }
      }
    }
    if (isOp) {
      $("ok").addEventListener("click", () => act("POST", base + "/key", { key: "ok" }));
      $("cancel").addEventListener("click", () => act("POST", base + "/key", { key: "cancel" }));
      $("pin-form").addEventListener("submit", async (ev) => {
        ev.preventDefault();
        const pin = $("pin").value; $("pin").value = "";
        await act("POST", base + "/pin", { pin: pin });
      });
      if ($("pull")) $("pull").addEventListener("click", () => cardAction({ action: "pull" }));
      $("extend-form").addEventListener("submit", async (ev) => {
        ev.preventDefault();
        const r = await act("POST", base + "/extend", { step: step.name, minutes: Number($("extend-minutes").value) });
        if (r) $("step-notice").textContent = "The step " + r.step + " now ends at " + new Date(r.deadline).toLocaleTimeString() + ".";
      });
      $("approve").addEventListener("click", async () => { if (await act("POST", base + "/approve", {})) say("Approved."); });
      $("retry").addEventListener("click", async () => { if (await act("POST", base + "/retry", {})) say("Retried."); });
      $("resume").addEventListener("click", async () => { if (await act("POST", base + "/resume", {})) location.reload(); });
      $("abort-form").addEventListener("submit", async (ev) => {
        ev.preventDefault();
        await act("POST", base + "/abort", { reason: $("reason").value });
      });
    }
    const w = $("witness");
    if (w) w.addEventListener("click", async () => { if (await act("POST", base + "/witness", {})) say("Signed off."); });
    await refresh();
    const tb = document.querySelector("#events tbody");
    const es = new EventSource(base + "/stream");
    es.addEventListener("event", (m) => {
      const e = JSON.parse(m.data);
      const tr = document.createElement("tr"); tr.id = "ev-" + e.seq;
      tr.appendChild(td(String(e.seq))); tr.appendChild(td(String(e.position))); tr.appendChild(td(new Date(e.time).toLocaleTimeString()));
      tr.appendChild(td(e.type)); tr.appendChild(td(e.source)); tr.appendChild(td(JSON.stringify(e.payload), "payload"));
      tb.appendChild(tr);
      refresh().catch((err) => fail(err.message));
    });
    es.addEventListener("pad", (m) => { padLive = true; pad(JSON.parse(m.data)); });
  }

  // Accounts (admins only): list, add, disable/enable, role, password.
  async function accounts() {
    const roles = ["operator", "witness", "auditor", "admin"];
    async function load() {
      const list = await api("GET", "/api/v1/accounts");
      const tb = document.querySelector("#accounts tbody"); tb.textContent = "";
      const sel = $("reset-name"); const keep = sel.value; sel.textContent = "";
      for (const a of list) {
        const tr = document.createElement("tr"); tr.id = "account-" + a.name;
        tr.appendChild(td(a.name)); tr.appendChild(td(a.role)); tr.appendChild(td(a.active ? "active" : "disabled")); tr.appendChild(td(a.changed));
        const cell = document.createElement("td");
        const tog = document.createElement("button"); tog.type = "button"; tog.id = (a.active ? "disable-" : "enable-") + a.name;
        tog.textContent = (a.active ? "Disable " : "Enable ") + a.name;
        tog.addEventListener("click", () => change(a.name, { change: a.active ? "disabled" : "enabled" }));
        const lab = document.createElement("label"); lab.htmlFor = "role-" + a.name; lab.textContent = "Role of " + a.name;
        const rs = document.createElement("select"); rs.id = "role-" + a.name;
        for (const r of roles) { const o = document.createElement("option"); o.value = r; o.textContent = r; o.selected = r === a.role; rs.appendChild(o); }
        const set = document.createElement("button"); set.type = "button"; set.id = "set-role-" + a.name; set.textContent = "Set the role of " + a.name;
        set.addEventListener("click", () => change(a.name, { change: "role_changed", role: rs.value }));
        cell.appendChild(tog); cell.appendChild(lab); cell.appendChild(rs); cell.appendChild(set); tr.appendChild(cell);
        tb.appendChild(tr);
        const o = document.createElement("option"); o.value = a.name; o.textContent = a.name; sel.appendChild(o);
      }
      if (keep) sel.value = keep;
      say(list.length + " accounts");
    }
    async function change(name, body) {
      if (await act("POST", "/api/v1/accounts/" + encodeURIComponent(name), body)) { await load(); say("Account " + name + ": " + body.change + "."); }
    }
    $("add-form").addEventListener("submit", async (ev) => {
      ev.preventDefault();
      const body = { name: $("new-name").value, role: $("new-role").value, password: $("new-password").value, password_again: $("new-password-again").value };
      $("new-password").value = ""; $("new-password-again").value = "";
      if (await act("POST", "/api/v1/accounts", body)) { $("new-name").value = ""; await load(); say("Account " + body.name + " added."); }
    });
    $("reset-form").addEventListener("submit", async (ev) => {
      ev.preventDefault();
      const name = $("reset-name").value;
      const body = { password: $("reset-password").value, password_again: $("reset-password-again").value };
      $("reset-password").value = ""; $("reset-password-again").value = "";
      if (await act("POST", "/api/v1/accounts/" + encodeURIComponent(name) + "/password", body)) say("The password of " + name + " is set.");
    });
    await load();
  }

  session().then((s) => {
    if (page === "accounts") return accounts();
    if (page === "index") return index(s);
    if (page === "ceremony") return ceremony(s);
  }).catch((e) => fail(e.message));
})();

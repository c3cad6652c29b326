// The hcx web verifier: loads hcx.wasm and the signed edge filter, verifies
// the filter against the pinned public key, then answers offline.
// Contract (DESIGN section 6): /?id=ID checks that ID on load, and the
// answer is #result with data-status green|yellow|red|invalid|stale and
// data-probable="true" on a hit. ("error" when no filter could be loaded.)
"use strict";

(function () {
  const $ = (id) => document.getElementById(id);
  const result = $("result"), state = $("state"), input = $("id"), button = $("go");

  const REGION = { sh: "Shanghai 上海", js: "Jiangsu 江苏", zj: "Zhejiang 浙江", ah: "Anhui 安徽" };
  const REASON = {
    "length": ["not 18 characters", "长度不是18位"],
    "non-digit": ["a character that is not a digit", "含有非数字字符"],
    "date": ["no such birth date", "出生日期无效"],
    "check digit": ["wrong check digit", "校验位错误"],
    "legacy 15-digit": ["an old 15-digit number", "旧版15位号码"],
  };
  const ANSWER = {
    green: ["Green", "绿码", "Not listed by any region covered.", "未被所覆盖地区列入名单。"],
    yellow: ["Yellow", "黄码", "Probable, check online.", "可能为黄码，请联网核实。"],
    red: ["Red", "红码", "Probable, check online.", "可能为红码，请联网核实。"],
    stale: ["Filter is stale", "名单已过期", "Go online and reload this page before checking.", "请联网刷新本页后再核验。"],
  };

  let hcx = null;
  let answered = false;

  function el(tag, text, lang) {
    const e = document.createElement(tag);
    e.textContent = text;
    if (lang) e.lang = lang;
    return e;
  }

  function bilingual(parent, en, zh) {
    parent.append(el("span", en), " ", el("span", zh, "zh-CN"));
  }

  function regionName(r) { return REGION[r] || r; }

  function show(status, probable, big, detail) {
    result.dataset.status = status;
    if (probable) result.dataset.probable = "true"; else delete result.dataset.probable;
    result.replaceChildren();
    const b = el("span", ""); b.className = "big"; bilingual(b, big[0], big[1]);
    const d = el("span", ""); d.className = "detail"; bilingual(d, detail[0], detail[1]);
    result.append(b, d);
    if (!answered) {
      answered = true;
      window.hcxFirstAnswerMs = performance.now(); // load to first answer, for the benchmark
    }
  }

  function render(r) {
    if (r instanceof Error) {
      show("error", false, ["Error", "错误"], [r.message, ""]);
      return;
    }
    if (r.status === "invalid") {
      const why = REASON[r.error] || [r.error, r.error];
      show("invalid", false, ["Invalid ID", "无效证件号"], [r.id + ": " + why[0], why[1]]);
      return;
    }
    const a = ANSWER[r.status];
    let en = a[2], zh = a[3];
    if (r.probable && r.sources.length) {
      en += " Listed by " + r.sources.map((s) => regionName(s.region) + " (" + s.status + ")").join(", ") + ".";
      zh += " 列入地区：" + r.sources.map((s) => regionName(s.region)).join("、") + "。";
    }
    if (r.status !== "stale" && r.stale && r.stale.length) {
      en += " Not current for " + r.stale.map(regionName).join(", ") + ".";
      zh += " 以下地区名单非最新：" + r.stale.map(regionName).join("、") + "。";
    }
    show(r.status, r.probable, [a[0], a[1]], [r.id + " — " + en, zh]);
  }

  function check(id) {
    if (!hcx) return;
    render(hcx.check(id));
    input.select();
  }

  function setState(kind, en, zh) {
    state.dataset.state = kind;
    state.replaceChildren();
    bilingual(state, en, zh);
  }

  function fmt(iso) {
    const d = new Date(iso);
    return isNaN(d) ? iso : d.toLocaleString();
  }

  function showInfo(info) {
    const p = $("filter");
    p.replaceChildren();
    const rate = info.fpr > 0 ? "1 in " + Math.round(1 / info.fpr).toLocaleString() : "0";
    bilingual(p, "Published " + fmt(info.built) + " (version " + info.version + "), trusted until " + fmt(info.staleAt) +
      ". A red or yellow answer is wrong for at most " + rate + " people listed nowhere.",
      "发布于 " + fmt(info.built) + "，有效期至 " + fmt(info.staleAt) + "。误报率不超过 " + rate.replace("1 in ", "1/") + "。");
    const tbody = $("regions").tBodies[0];
    tbody.replaceChildren();
    for (const r of info.regions) {
      const tr = document.createElement("tr");
      const td = el("td", ""); bilingual(td, r.region, REGION[r.region] ? REGION[r.region].split(" ")[1] : "");
      tr.append(td, el("td", r.listDate || "—"));
      const st = document.createElement("td");
      if (!r.covered) { st.className = "bad"; bilingual(st, "not covered", "未覆盖"); }
      else if (!r.current) { st.className = "bad"; bilingual(st, "not current", "非最新"); }
      else { st.className = "ok"; bilingual(st, "current", "最新"); }
      tr.append(st);
      tbody.append(tr);
    }
    $("regions").hidden = false;
  }

  function loadScript(src) {
    return new Promise((resolve, reject) => {
      const s = document.createElement("script");
      s.src = src;
      s.onload = resolve;
      s.onerror = () => reject(new Error("could not load " + src));
      document.head.append(s);
    });
  }

  async function fetchBytes(url, what) {
    const r = await fetch(url, { cache: "no-cache" });
    if (!r.ok) throw new Error(what + ": HTTP " + r.status);
    return new Uint8Array(await r.arrayBuffer());
  }

  async function instantiate(url, imports) {
    if (WebAssembly.instantiateStreaming) {
      try {
        return (await WebAssembly.instantiateStreaming(fetch(url), imports)).instance;
      } catch (e) { /* wrong MIME type on a static host: fall back */ }
    }
    return (await WebAssembly.instantiate(await fetchBytes(url, "hcx.wasm"), imports)).instance;
  }

  function fail(e) {
    setState("error", "The verifier could not start: " + e.message, "核验程序无法启动。");
    show("error", false, ["Not available", "不可用"], [e.message, "名单无法加载或验证失败，请勿据此放行。"]);
  }

  async function main() {
    let cfg = JSON.parse($("hcx-config").textContent || "null");
    if (!cfg) {
      const r = await fetch("config.json", { cache: "no-cache" });
      if (!r.ok) throw new Error("config.json: HTTP " + r.status);
      cfg = await r.json();
    }
    if (!cfg.publicKey) throw new Error("no publisher public key in config.json");
    const asset = (name) => (cfg.assets || "") + name;
    await loadScript(asset("wasm_exec.js"));
    const go = new Go();
    const ready = new Promise((resolve) => { window.__hcxReady = resolve; });
    const [inst, filter] = await Promise.all([
      instantiate(asset("hcx.wasm"), go.importObject),
      fetchBytes(cfg.filter || "edge.bin", "edge filter"),
    ]);
    go.run(inst).then(() => fail(new Error("the verifier stopped")));
    hcx = await ready;
    const info = await hcx.load(filter, cfg.publicKey);
    showInfo(info);
    if (info.stale) setState("error", "The filter is stale: go online and reload.", "名单已过期，请联网刷新。");
    else setState("ready", "Ready. Works offline from now on.", "已就绪，可离线使用。");
    input.disabled = false;
    button.disabled = false;
    const q = new URLSearchParams(location.search).get("id");
    if (q !== null && q !== "") {
      input.value = q;
      check(q);
    } else {
      show("", false, ["Ready", "就绪"], ["Enter an ID to check.", "请输入证件号码。"]);
      delete result.dataset.status;
      answered = false;
    }
    input.focus();
  }

  $("form").addEventListener("submit", (ev) => {
    ev.preventDefault();
    check(input.value);
  });
  window.addEventListener("offline", () => {
    if (hcx) setState("ready", "Offline: still checking from the loaded filter.", "已离线：仍使用已加载的名单核验。");
  });
  main().catch(fail);
})();

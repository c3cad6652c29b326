// The hcx web verifier: loads hcx.wasm and the signed edge filter, verifies
// the filter against the pinned public key, then answers offline.
//
// Parameters travel in the URL fragment, which a browser never sends to a
// server or a proxy log, and are removed from the address bar once read
// (docs/edge-verifier.md): #id=ID checks an ID, #code=TEXT verifies a
// health code, #token=T keeps a device token (role edge) in this browser
// for fetching the filter, #scan starts the camera; several join with &.
// The answer is #result with data-status green|yellow|red|invalid|stale
// (error when no filter could be loaded), data-probable="true" on a hit,
// data-pass for a code, data-error with the reason a code or the filter
// was refused.
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
  // Keys in this browser's localStorage.
  const TOKEN_KEY = "hcx.edgeToken";
  const SEEN_KEY = "hcx.newestFilter."; // + the publisher's key: the newest filter accepted (no rollback)
  const REFRESH_MS = 10 * 60 * 1000; // look for a newer filter while the page stays open

  let hcx = null, cfg = null, loaded = false, filterTag = null;
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

  function setData(name, value) {
    if (value === undefined || value === null || value === "") delete result.dataset[name];
    else result.dataset[name] = String(value);
  }

  // show sets the answer: the big line, the detail, and the contract's
  // attributes (opts.probable, opts.pass, opts.error).
  function show(status, big, detail, opts) {
    opts = opts || {};
    setData("status", status);
    setData("probable", opts.probable ? "true" : "");
    setData("pass", opts.pass === undefined ? "" : String(opts.pass));
    setData("error", opts.error);
    result.replaceChildren();
    const b = el("span", ""); b.className = "big"; bilingual(b, big[0], big[1]);
    const d = el("span", ""); d.className = "detail"; bilingual(d, detail[0], detail[1]);
    result.append(b, d);
    if (opts.lines) {
      const dl = document.createElement("dl");
      for (const [k, v] of opts.lines) {
        const dt = el("dt", ""); bilingual(dt, k[0], k[1]);
        dl.append(dt, el("dd", v));
      }
      result.append(dl);
    }
    if (status && !answered) {
      answered = true;
      window.hcxFirstAnswerMs = performance.now(); // load to first answer, for the benchmark
    }
  }

  function sourcesText(r) {
    let en = "", zh = "";
    if (r.probable && r.sources && r.sources.length) {
      en += " Listed by " + r.sources.map((s) => regionName(s.region) + " (" + s.status + ")").join(", ") + ".";
      zh += " 列入地区：" + r.sources.map((s) => regionName(s.region)).join("、") + "。";
    }
    if (r.status !== "stale" && r.stale && r.stale.length) {
      en += " Not current for " + r.stale.map(regionName).join(", ") + ".";
      zh += " 以下地区名单非最新：" + r.stale.map(regionName).join("、") + "。";
    }
    return [en, zh];
  }

  function render(r) {
    if (r instanceof Error) {
      show("error", ["Error", "错误"], [r.message, ""]);
      return;
    }
    if (r.status === "invalid") {
      const why = REASON[r.error] || [r.error, r.error];
      show("invalid", ["Invalid ID", "无效证件号"], [r.id + ": " + why[0], why[1]]);
      return;
    }
    const a = ANSWER[r.status];
    const [en, zh] = sourcesText(r);
    show(r.status, [a[0], a[1]], [r.id + " — " + a[2] + en, a[3] + zh], { probable: r.probable });
  }

  const CODE_REASON = {
    format: ["This is not a readable health code.", "无法识别的健康码。"],
    unknown_issuer: ["The code's issuer is not in the trust list.", "签发机构不在信任列表中。"],
    revoked_issuer: ["The code's issuer key has been revoked.", "签发密钥已被吊销。"],
    signature: ["The signature does not match: the code was altered or forged.", "签名不符：健康码已被篡改或伪造。"],
    not_yet_valid: ["The code is issued in the future: check this device's clock.", "签发时间在未来：请检查本机时间。"],
    expired: ["The code has expired: the holder must get a new one.", "健康码已过期：请持码人重新申领。"],
  };

  function isCode(text) { return /^\s*HCX1:/.test(text); }

  // renderCode shows a health code's answer: pass or no pass in big
  // letters on the colour of the person's current status, then the
  // issuing region, masked ID, times, and why a code was refused.
  function renderCode(r) {
    if (r instanceof Error) {
      show("error", ["Error", "错误"], [r.message, ""], { pass: false, error: "error" });
      return;
    }
    if (!r.valid) {
      const why = CODE_REASON[r.error] || [r.error, r.error];
      show("invalid", ["No pass: code refused", "不通行：健康码无效"], why, { pass: false, error: r.error });
      return;
    }
    const a = ANSWER[r.status] || [r.status, r.status, "", ""];
    const big = r.pass ? ["Pass · " + a[0], "通行 · " + a[1]] : ["No pass · " + a[0], "不通行 · " + a[1]];
    let en = r.pass ? "A valid green code, and no region lists the holder now." :
      r.status === "stale" ? a[2] :
      r.codeStatus !== "green" ? "The code was issued " + r.codeStatus + "." : "Listed now, though the code was issued green.";
    let zh = r.pass ? "健康码有效且为绿码，目前未被任何地区列入名单。" :
      r.status === "stale" ? a[3] : r.codeStatus !== "green" ? "签发时为" + (ANSWER[r.codeStatus] || [0, r.codeStatus])[1] + "。" : "签发时为绿码，但目前已被列入名单。";
    if (r.status === "yellow" || r.status === "red") { en += " " + a[2]; zh += a[3]; }
    const [sen, szh] = sourcesText(r);
    show(r.status, big, [en + sen, zh + szh], {
      pass: !!r.pass, probable: r.probable,
      lines: [
        [["Issued by", "签发地区"], regionName(r.region)],
        [["ID", "证件号"], r.id],
        [["Code colour", "签发时码色"], (ANSWER[r.codeStatus] || [r.codeStatus])[0] + " " + ((ANSWER[r.codeStatus] || [0, ""])[1])],
        [["Issued", "签发时间"], fmt(r.issued)],
        [["Expires", "有效期至"], fmt(r.expires)],
      ],
    });
  }

  // check answers what was typed, pasted or scanned: a health code
  // (HCX1:...) or an ID. A code is not left in the input: it carries the
  // holder's ID, and only the masked ID is shown.
  function check(text) {
    if (!loaded) return;
    if (isCode(text)) {
      const code = text.replace(/^\s+/, "").replace(/[\r\n]+$/, "");
      renderCode(typeof hcx.verifyCode === "function" ? hcx.verifyCode(code) :
        new Error("This verifier cannot read health codes: update it (make wasm)."));
      input.value = "";
      return;
    }
    render(hcx.check(text));
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

  // storage is localStorage, or nothing where the browser refuses it
  // (some private modes): the page then works for this visit only.
  const storage = {
    get(k) { try { return localStorage.getItem(k); } catch (e) { return null; } },
    set(k, v) { try { localStorage.setItem(k, v); } catch (e) { /* not kept */ } },
    del(k) { try { localStorage.removeItem(k); } catch (e) { /* nothing kept */ } },
  };

  // readFragment parses #k=v&k=v (#scan alone is a flag) and removes the
  // fragment from the address bar and the history entry, so that an ID, a
  // code or a token is not left for the next person to see or bookmark.
  function readFragment() {
    const raw = location.hash.replace(/^#/, "");
    const out = {};
    if (!raw) return out;
    for (const part of raw.split("&")) {
      if (!part) continue;
      const eq = part.indexOf("=");
      const k = eq < 0 ? part : part.slice(0, eq);
      let v = eq < 0 ? "" : part.slice(eq + 1);
      try { v = decodeURIComponent(v); } catch (e) { /* a raw % in a code: keep the text as typed */ }
      out[k] = v;
    }
    history.replaceState(history.state, "", location.pathname + location.search);
    return out;
  }

  // The device token: one given by #token= (kept in this browser; #token=
  // with nothing clears it), else the config file's.
  function token() { return storage.get(TOKEN_KEY) || (cfg && cfg.token) || ""; }
  function keepToken(t) { if (t) storage.set(TOKEN_KEY, t); else storage.del(TOKEN_KEY); }

  function loadScript(src) {
    return new Promise((resolve, reject) => {
      const s = document.createElement("script");
      s.src = src;
      s.onload = resolve;
      s.onerror = () => reject(new Error("could not load " + src));
      document.head.append(s);
    });
  }

  // LoadError is a failure the page explains: reason goes to data-error.
  class LoadError extends Error {
    constructor(reason, message, zh) { super(message); this.reason = reason; this.zh = zh || ""; }
  }

  async function fetchBytes(url, what, headers) {
    let r;
    try {
      r = await fetch(url, { cache: "no-cache", headers: headers || {} });
    } catch (e) {
      throw new LoadError("network", what + ": the server cannot be reached (" + e.message + ")", "无法连接服务器。");
    }
    if (r.status === 401) {
      throw new LoadError("unauthorized", "The server gives the filter only to verifier devices, and this one has no valid device token (HTTP 401). " +
        "Ask the operator for a token with role edge (hcx token add --role edge) and open this page once as …/#token=TOKEN; it is kept in this browser.",
        "服务器只向核验设备提供名单，本设备没有有效的设备令牌（401）。请向管理员索取 edge 角色令牌，并以 …/#token=令牌 打开本页一次。");
    }
    if (r.status === 403) {
      throw new LoadError("forbidden", "This device's token may not fetch the filter (HTTP 403): it needs role edge (hcx token add --role edge). " +
        "Open this page once as …/#token=TOKEN with such a token.",
        "本设备令牌无权获取名单（403），需要 edge 角色令牌。");
    }
    if (!r.ok) throw new LoadError("network", what + ": HTTP " + r.status, "服务器返回错误 " + r.status + "。");
    return { bytes: new Uint8Array(await r.arrayBuffer()), tag: r.headers.get("ETag") };
  }

  async function instantiate(url, imports) {
    if (WebAssembly.instantiateStreaming) {
      try {
        return (await WebAssembly.instantiateStreaming(fetch(url), imports)).instance;
      } catch (e) { /* wrong MIME type on a static host: fall back */ }
    }
    return (await WebAssembly.instantiate((await fetchBytes(url, "hcx.wasm")).bytes, imports)).instance;
  }

  function fail(e) {
    const reason = e.reason || e.code || "unavailable";
    const status = reason === "expired" ? "stale" : "error";
    setState("error", "The verifier cannot answer: " + e.message, "核验程序无法使用。" + (e.zh || ""));
    show(status, status === "stale" ? ["Filter is stale", "名单已过期"] : ["Not available", "不可用"],
      [e.message, (e.zh || "") + "名单无法加载或验证失败，请勿据此放行。"], { error: reason });
  }

  function asset(name) { return (cfg.assets || "") + name; }

  // The newest filter this browser accepted for this publisher, handed to
  // hcx.load so that a reload cannot roll back to an older one.
  function lastSeen() {
    try {
      const s = JSON.parse(storage.get(SEEN_KEY + cfg.publicKey) || "null");
      if (s && typeof s.version === "number" && /^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{9}Z$/.test(s.built)) return s;
    } catch (e) { /* unreadable: as if none */ }
    return undefined;
  }

  // loadFilter fetches, verifies and installs the filter; a refused one
  // (rollback, expired, bad signature) leaves the loaded filter in place.
  async function loadFilter(bytes, tag) {
    let info;
    try {
      info = await hcx.load(bytes, cfg.publicKey, { lastSeen: lastSeen() });
    } catch (e) {
      if (e.code === "rollback") {
        throw new LoadError("rollback", "Refused an old filter: " + e.message.replace(/^hcx\.load: /, "") +
          ". Someone may be replaying an old list; reload when the publisher's current filter is reachable.",
          "拒绝旧版名单（可能被回滚）。");
      }
      if (e.code === "expired") {
        throw new LoadError("expired", "The filter is past its deadline: " + e.message.replace(/^hcx\.load: /, "") + ". Go online and reload.",
          "名单已过期，请联网刷新。");
      }
      throw new LoadError("filter", e.message, "名单校验失败。");
    }
    loaded = true;
    filterTag = tag;
    storage.set(SEEN_KEY + cfg.publicKey, JSON.stringify({ version: info.version, built: info.built }));
    showInfo(info);
    setState("ready", "Ready. Works offline from now on.", "已就绪，可离线使用。");
    input.disabled = false;
    button.disabled = false;
    scanBtn.disabled = false;
    return info;
  }

  async function fetchFilter() {
    const t = token();
    return fetchBytes(cfg.filter || "edge.bin", "edge filter", t ? { Authorization: "Bearer " + t } : {});
  }

  // act does what the fragment asked, once a filter is loaded. What it
  // checks is not put in the input: a bystander sees only the masked ID.
  function act(p) {
    const text = p.code !== undefined && p.code !== "" ? p.code : p.id;
    if (text !== undefined && text !== "") {
      check(text);
      input.value = "";
    }
    if (p.scan !== undefined) startScan();
  }

  // The camera. Frames are read by the browser's BarcodeDetector where it
  // reads QR codes (Chromium on Android, macOS, ChromeOS), else by ZXing-C++
  // in WebAssembly (zxing-reader.js and zxing_reader.wasm, fetched on first
  // use only). window.hcxScan counts the frames read and the time spent.
  const scanBtn = $("scan"), scanState = $("scan-state"), video = $("camera");
  const SCAN_GAP_MS = 100; // between frames: about 10 a second is plenty, and leaves the CPU to the page
  const SAME_CODE_MS = 3000; // the same code held up again is answered again after this
  let scanning = null;
  window.hcxScan = { decoder: "", frames: 0, decodeMs: 0 };

  function scanMsg(en, zh) { scanState.replaceChildren(); bilingual(scanState, en, zh || ""); }

  async function barcodeDetector() {
    if (!("BarcodeDetector" in window)) return null;
    try {
      if (!(await BarcodeDetector.getSupportedFormats()).includes("qr_code")) return null;
      const d = new BarcodeDetector({ formats: ["qr_code"] });
      return { name: "BarcodeDetector", read: async (v) => { const r = await d.detect(v); return r.length ? r[0].rawValue : ""; } };
    } catch (e) { return null; }
  }

  let zxingReady = null;
  function zxing() {
    if (!zxingReady) {
      zxingReady = (async () => {
        try {
          await loadScript(asset("zxing-reader.js"));
        } catch (e) {
          throw new Error("the QR decoder is not on this server (zxing-reader.js; make wasm builds it)");
        }
        const wasmURL = new URL(asset("zxing_reader.wasm"), location.href).href;
        // locateFile keeps the decoder on this origin (its default is a CDN, which the page's CSP refuses anyway).
        await ZXingWASM.prepareZXingModule({ overrides: { locateFile: (p, prefix) => (p.endsWith(".wasm") ? wasmURL : prefix + p) }, fireImmediately: true });
        const canvas = document.createElement("canvas");
        const g = canvas.getContext("2d", { willReadFrequently: true });
        const opts = { formats: ["QRCode"], tryHarder: true, maxNumberOfSymbols: 1 };
        return {
          name: "zxing-wasm",
          read: async (v) => {
            const w = v.videoWidth, h = v.videoHeight;
            if (canvas.width !== w) canvas.width = w;
            if (canvas.height !== h) canvas.height = h;
            g.drawImage(v, 0, 0, w, h);
            const r = await ZXingWASM.readBarcodes(g.getImageData(0, 0, w, h), opts);
            return r.length && r[0].isValid ? r[0].text : "";
          },
        };
      })();
      zxingReady.catch(() => { zxingReady = null; }); // try again next time
    }
    return zxingReady;
  }

  function cameraError(e) {
    switch (e && e.name) {
      case "NotAllowedError": return ["Camera permission refused: allow it in the browser's site settings.", "摄像头权限被拒绝。"];
      case "NotFoundError": case "OverconstrainedError": return ["No camera found on this device.", "未找到摄像头。"];
      case "NotReadableError": return ["The camera is in use by another program.", "摄像头被其他程序占用。"];
    }
    return ["Camera: " + (e && e.message ? e.message : String(e)), "摄像头无法使用。"];
  }

  async function startScan() {
    if (scanning || !loaded) return;
    const run = (scanning = { stop: false, stream: null });
    scanBtn.setAttribute("aria-pressed", "true");
    scanMsg("Starting the camera…", "正在启动摄像头…");
    try {
      if (!navigator.mediaDevices || !navigator.mediaDevices.getUserMedia) {
        throw new Error("this browser gives no camera to this page (it must be served over https or from localhost)");
      }
      // The camera and the decoder in parallel; a stream that arrives after
      // the scan was stopped (or the decoder failed) is closed at once.
      const media = navigator.mediaDevices.getUserMedia({ audio: false, video: { facingMode: "environment", width: { ideal: 640 }, height: { ideal: 480 } } })
        .then((st) => { run.stream = st; if (run.stop) stopTracks(st); return st; });
      const [stream, dec] = await Promise.all([media, barcodeDetector().then((d) => d || zxing())]);
      if (run.stop) return;
      video.srcObject = stream;
      video.hidden = false;
      await video.play();
      window.hcxScan.decoder = dec.name;
      scanMsg("Hold the health code up to the camera.", "请将健康码对准摄像头。");
      let last = "", lastAt = 0;
      while (!run.stop) {
        if (video.videoWidth > 0 && !document.hidden) {
          const t0 = performance.now();
          let text = "";
          try { text = await dec.read(video); } catch (e) { /* an unreadable frame: the next one */ }
          const t1 = performance.now();
          window.hcxScan.frames++;
          window.hcxScan.decodeMs += t1 - t0;
          if (text && !run.stop && (text !== last || t1 - lastAt > SAME_CODE_MS)) {
            last = text;
            lastAt = t1;
            check(text);
            input.value = "";
          }
        }
        await new Promise((r) => setTimeout(r, SCAN_GAP_MS));
      }
    } catch (e) {
      const [en, zh] = cameraError(e);
      stopScan(run);
      scanMsg(en, zh);
    }
  }

  function stopTracks(stream) { for (const t of stream.getTracks()) t.stop(); }

  function stopScan(run) {
    run = run || scanning;
    if (!run) return;
    run.stop = true;
    if (run.stream) stopTracks(run.stream);
    if (scanning === run) {
      scanning = null;
      video.srcObject = null;
      video.hidden = true;
      scanBtn.setAttribute("aria-pressed", "false");
      scanMsg("", "");
    }
  }

  async function refresh() {
    if (!loaded || !navigator.onLine) return;
    try {
      const f = await fetchFilter();
      if (f.tag && f.tag === filterTag) return;
      await loadFilter(f.bytes, f.tag);
    } catch (e) {
      if (e.reason === "rollback") setState("error", e.message, e.zh);
      // Offline or refused: keep answering from the loaded filter.
    }
  }

  async function main() {
    const params = readFragment(); // first: out of the address bar whatever happens next
    cfg = JSON.parse($("hcx-config").textContent || "null");
    if (!cfg) {
      const r = await fetch("config.json", { cache: "no-cache" });
      if (!r.ok) throw new LoadError("config", "config.json: HTTP " + r.status);
      cfg = await r.json();
    }
    if (!cfg.publicKey) throw new LoadError("config", "no publisher public key in config.json");
    if (params.token !== undefined) keepToken(params.token);
    await loadScript(asset("wasm_exec.js"));
    const go = new Go();
    const ready = new Promise((resolve) => { window.__hcxReady = resolve; });
    const filter = fetchFilter(); // in parallel with compiling the module
    filter.catch(() => {}); // reported below, once the module runs
    const inst = await instantiate(asset("hcx.wasm"), go.importObject);
    go.run(inst).then(() => fail(new Error("the verifier stopped")));
    hcx = await ready;
    const f = await filter;
    await loadFilter(f.bytes, f.tag);
    show("", ["Ready", "就绪"], ["Scan a health code, or enter a code or an ID.", "请扫描健康码，或输入健康码或证件号码。"]);
    act(params);
    input.focus();
    setInterval(refresh, REFRESH_MS);
  }

  // A fragment given to the open page (a link, a scanner app): read it the
  // same way; a new token retries a filter that was refused for want of one.
  window.addEventListener("hashchange", () => {
    const p = readFragment();
    if (!cfg) return;
    if (p.token !== undefined) {
      keepToken(p.token);
      if (hcx && !loaded) {
        fetchFilter().then((f) => loadFilter(f.bytes, f.tag)).then(() => act(p), fail);
        return;
      }
    }
    if (loaded) act(p);
  });
  $("form").addEventListener("submit", (ev) => {
    ev.preventDefault();
    check(input.value);
  });
  scanBtn.addEventListener("click", () => (scanning ? stopScan() : startScan()));
  // A keyboard-wedge 2-D scanner types the code and Enter into whatever has
  // focus: keys typed anywhere else on the page go to the input.
  document.addEventListener("keydown", (ev) => {
    const t = ev.target;
    if (t === input || ev.ctrlKey || ev.metaKey || ev.altKey || ev.key.length !== 1 || input.disabled) return;
    if (t && (t.tagName === "INPUT" || t.tagName === "TEXTAREA" || t.isContentEditable)) return;
    input.focus();
  });
  // A code pasted anywhere on the page is checked at once.
  document.addEventListener("paste", (ev) => {
    if (ev.target === input || !loaded) return;
    const text = ev.clipboardData && ev.clipboardData.getData("text");
    if (text) { ev.preventDefault(); check(text); }
  });
  window.addEventListener("offline", () => {
    if (hcx) setState("ready", "Offline: still checking from the loaded filter.", "已离线：仍使用已加载的名单核验。");
  });
  window.addEventListener("online", refresh);
  main().catch(fail);
})();

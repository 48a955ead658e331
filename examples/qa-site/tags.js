// Stand-ins for the tags health sites embed: Google Analytics 4, the Meta Pixel with
// advanced matching, and Microsoft UET. They send what the real tags send, to the real
// endpoints; run the site behind phitrace in sinkhole mode and nothing leaves the machine.
// Every tag call counts in <body data-tagged data-failed>, so a scripted journey can wait
// for the hits and notice when the proxy refused one (an untrusted CA, for instance).
(function () {
  "use strict";

  // SHA-256, because the Meta Pixel hashes e-mail addresses and crypto.subtle exists only
  // in secure contexts (this fixture is served over plain HTTP inside the QA stack).
  function sha256(text) {
    const bytes = Array.from(new TextEncoder().encode(text));
    const bits = bytes.length * 8;
    bytes.push(0x80);
    while (bytes.length % 64 !== 56) bytes.push(0);
    for (let shift = 56; shift >= 0; shift -= 8) bytes.push(Math.floor(bits / 2 ** shift) & 0xff);
    const primes = [];
    for (let n = 2; primes.length < 64; n++) {
      if (primes.every((p) => n % p !== 0)) primes.push(n);
    }
    const frac = (x) => Math.floor((x - Math.floor(x)) * 2 ** 32) >>> 0;
    const k = primes.map((p) => frac(Math.cbrt(p)));
    const h = primes.slice(0, 8).map((p) => frac(Math.sqrt(p)));
    const rotr = (x, n) => (x >>> n) | (x << (32 - n));
    for (let offset = 0; offset < bytes.length; offset += 64) {
      const w = new Array(64);
      for (let i = 0; i < 16; i++) {
        const j = offset + i * 4;
        w[i] = ((bytes[j] << 24) | (bytes[j + 1] << 16) | (bytes[j + 2] << 8) | bytes[j + 3]) >>> 0;
      }
      for (let i = 16; i < 64; i++) {
        const s0 = rotr(w[i - 15], 7) ^ rotr(w[i - 15], 18) ^ (w[i - 15] >>> 3);
        const s1 = rotr(w[i - 2], 17) ^ rotr(w[i - 2], 19) ^ (w[i - 2] >>> 10);
        w[i] = (w[i - 16] + s0 + w[i - 7] + s1) >>> 0;
      }
      let [a, b, c, d, e, f, g, hh] = h;
      for (let i = 0; i < 64; i++) {
        const t1 = (hh + (rotr(e, 6) ^ rotr(e, 11) ^ rotr(e, 25)) + ((e & f) ^ (~e & g)) + k[i] + w[i]) >>> 0;
        const t2 = ((rotr(a, 2) ^ rotr(a, 13) ^ rotr(a, 22)) + ((a & b) ^ (a & c) ^ (b & c))) >>> 0;
        [hh, g, f, e, d, c, b, a] = [g, f, e, (d + t1) >>> 0, c, b, a, (t1 + t2) >>> 0];
      }
      [a, b, c, d, e, f, g, hh].forEach((v, i) => { h[i] = (h[i] + v) >>> 0; });
    }
    return h.map((v) => v.toString(16).padStart(8, "0")).join("");
  }

  function clientId() {
    let cid = localStorage.getItem("cid");
    if (!cid) {
      cid = Math.floor(Math.random() * 1e9) + ".1700000000";
      localStorage.setItem("cid", cid);
    }
    return cid;
  }

  function query(params) {
    return Object.entries(params).map(([k, v]) => k + "=" + encodeURIComponent(v)).join("&");
  }

  // GA4 sends hits as a POST (fetch with keepalive, or sendBeacon) to /g/collect.
  function ga4(event, params) {
    const hit = { v: 2, tid: "G-QASITE01", cid: clientId(), en: event,
                  dl: location.href, dt: document.title };
    for (const [k, v] of Object.entries(params)) hit["ep." + k] = v;
    return fetch("https://region1.google-analytics.com/g/collect?" + query(hit),
                 { method: "POST", mode: "no-cors", keepalive: true, body: "" });
  }

  function pixel(url) {
    return new Promise((resolve, reject) => {
      const img = new Image();
      img.onload = resolve;
      img.onerror = () => reject(new Error("pixel failed: " + url.split("?")[0]));
      img.src = url;
    });
  }

  // The Meta Pixel: an image GET to /tr with the event, the page and hashed user data.
  function meta(event, params) {
    const hit = { id: "120000000000001", ev: event, dl: location.href,
                  fbp: "fb.1.1700000000000.1234567890" };
    const email = localStorage.getItem("email");
    if (email) hit["ud[em]"] = sha256(email.trim().toLowerCase());
    for (const [k, v] of Object.entries(params)) hit["cd[" + k + "]"] = v;
    return pixel("https://www.facebook.com/tr/?" + query(hit));
  }

  // Microsoft UET: an image GET to bat.bing.com/action/0 with page, title and keywords.
  function uet(event, params) {
    const hit = { ti: "187000001", Ver: 2, evt: event === "page_view" ? "pageLoad" : "custom",
                  p: location.href, tl: document.title, vid: "qa-visitor-1" };
    if (event !== "page_view") hit.ea = event;
    const words = document.querySelector("meta[name=keywords]");
    if (words) hit.kw = words.content;
    if (params.search_term) hit.search_term = params.search_term;
    return pixel("https://bat.bing.com/action/0?" + query(hit));
  }

  function count(name) {
    document.body.dataset[name] = String(Number(document.body.dataset[name] || 0) + 1);
  }

  // Fire all three tags; resolve when every hit is answered (or has failed).
  window.qaTag = async function (event, params) {
    params = params || {};
    const results = await Promise.allSettled([ga4(event, params), meta(event, params),
                                              uet(event, params)]);
    for (const result of results) {
      if (result.status === "rejected") {
        count("failed");
        console.error(String(result.reason));
      }
    }
    count("tagged");
  };

  window.addEventListener("load", () => window.qaTag("page_view"));
})();

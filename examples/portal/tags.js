// A stand-in for the tags a real portal embeds: GA4 and the Meta Pixel with advanced matching.
(function () {
  const page = location.href;
  const title = document.title;
  const cid = localStorage.getItem("cid") || (Math.floor(Math.random() * 1e9) + ".1700000000");
  localStorage.setItem("cid", cid);

  window.portalTag = async function (event, params) {
    params = params || {};
    const email = localStorage.getItem("email") || "";
    let hashed = "";
    if (email) {
      const digest = await crypto.subtle.digest("SHA-256",
        new TextEncoder().encode(email.trim().toLowerCase()));
      hashed = Array.from(new Uint8Array(digest)).map(b => b.toString(16).padStart(2, "0")).join("");
    }
    let ga = "https://region1.google-analytics.com/g/collect?v=2&tid=G-PORTAL1&cid=" + cid
      + "&en=" + encodeURIComponent(event) + "&dl=" + encodeURIComponent(page)
      + "&dt=" + encodeURIComponent(title);
    for (const [k, v] of Object.entries(params)) ga += "&ep." + k + "=" + encodeURIComponent(v);
    navigator.sendBeacon(ga, "");
    const fb = new Image();
    let tr = "https://www.facebook.com/tr/?id=998877&ev=" + encodeURIComponent(event)
      + "&dl=" + encodeURIComponent(page) + "&fbp=fb.1.1700000000000.7";
    if (hashed) tr += "&ud[em]=" + hashed;
    for (const [k, v] of Object.entries(params)) tr += "&cd[" + k + "]=" + encodeURIComponent(v);
    await new Promise(done => { fb.onload = fb.onerror = done; fb.src = tr; });
    document.body.dataset.tagged = (Number(document.body.dataset.tagged || 0) + 1).toString();
  };
  window.addEventListener("load", () => window.portalTag("page_view"));
})();

(function () {
  "use strict";
  // Draws the evidence cards page by page from the JSON block, and filters and searches them.
  // Every captured value is inserted as a text node, never parsed as HTML.
  var source = document.getElementById("phitrace-data");
  if (!source) { return; }
  var data = JSON.parse(source.textContent);
  var C = columns(data.columns.card);
  var F = columns(data.columns.finding);
  var N = columns(data.columns.node);
  var cards = data.cards;
  var list = document.getElementById("cards");
  var status = document.getElementById("cards-status");
  var prev = document.getElementById("page-prev");
  var next = document.getElementById("page-next");
  var form = document.getElementById("filters");
  var search = document.getElementById("card-search");
  var selects = form.querySelectorAll("select[data-filter]");
  var haystacks = null;
  var matching = [];
  var page = 0;

  function columns(names) {
    var index = {};
    for (var i = 0; i < names.length; i++) { index[names[i]] = i; }
    return index;
  }

  function element(tag, text, className) {
    var node = document.createElement(tag);
    if (text !== undefined && text !== null) { node.textContent = String(text); }
    if (className) { node.className = className; }
    return node;
  }

  function add(parent, tag, text, className) {
    return parent.appendChild(element(tag, text, className));
  }

  function marked(value, marks) {
    var span = element("span", null, "value");
    var last = 0;
    for (var i = 0; i + 1 < marks.length; i += 2) {
      span.appendChild(document.createTextNode(value.slice(last, marks[i])));
      add(span, "mark", value.slice(marks[i], marks[i + 1]));
      last = marks[i + 1];
    }
    span.appendChild(document.createTextNode(value.slice(last)));
    return span;
  }

  function disclosure(label, fill, className) {
    // The contents are drawn when first opened: most are never opened.
    var details = element("details", null, className);
    add(details, "summary", label);
    details.addEventListener("toggle", function () {
      if (details.open && details.childNodes.length === 1) { fill(details); }
    });
    return details;
  }

  function facts(card) {
    var dl = element("dl", null, "card-facts");
    var rows = [["page", card[C.page] || "unknown page"], ["time", card[C.time]]];
    if (card[C.status] !== null) { rows.push(["status", card[C.status]]); }
    if (card[C.authenticated]) { rows.push(["logged in", card[C.authenticated]]); }
    for (var i = 0; i < rows.length; i++) {
      add(dl, "dt", rows[i][0]);
      add(add(dl, "dd"), "code", rows[i][1]);
    }
    return dl;
  }

  function findingItem(finding) {
    var li = element("li", null, "sev-" + finding[F.severity]);
    add(li, "span", finding[F.severity], "pill sev-" + finding[F.severity]);
    add(li, "span", " " + finding[F.kind] + ": " + finding[F.category] + " in ");
    add(li, "code", finding[F.path]);
    if (finding[F.trail]) { add(li, "span", " decoded: " + finding[F.trail], "muted"); }
    var value = add(li, "div", null, "finding-value");
    value.appendChild(marked(finding[F.value], finding[F.marks]));
    var why = finding[F.rule] + (finding[F.policy] ? "; accepted by policy: " + finding[F.policy] : "");
    add(li, "div", why, "muted");
    return li;
  }

  function node(item) {
    var li = element("li", null, item[N.hit] ? "hit" : "");
    add(li, "code", item[N.path], "path");
    if (item[N.trail]) { add(li, "span", " [" + item[N.trail] + "]", "muted"); }
    add(li, "span", " = ");
    li.appendChild(marked(item[N.value], item[N.marks]));
    return li;
  }

  function tree(card) {
    var box = element("div", null, "tree");
    add(box, "h4", "Decoded payload");
    var groups = add(box, "ul", null, "tree-groups");
    var all = card[C.tree];
    for (var g = 0; g < all.length; g++) {
      var group = add(groups, "li");
      add(group, "span", all[g][0], "group");
      var hits = add(group, "ul");
      var rest = [];
      for (var n = 0; n < all[g][1].length; n++) {
        var item = all[g][1][n];
        if (item[N.hit]) { hits.appendChild(node(item)); } else { rest.push(item); }
      }
      if (rest.length) {
        group.appendChild(disclosure(rest.length + " other field" + (rest.length === 1 ? "" : "s"),
          function (items) {
            return function (details) {
              var ul = add(details, "ul");
              for (var k = 0; k < items.length; k++) { ul.appendChild(node(items[k])); }
            };
          }(rest), "rest"));
      }
    }
    if (card[C.truncated]) { add(box, "p", "decoding stopped early: " + card[C.truncated], "muted"); }
    return box;
  }

  function evidence(card) {
    var box = element("div", null, "card-evidence");
    add(box, "span", "request SHA-256 ", "muted");
    add(box, "code", card[C.sha256], "sha");
    if (card[C.raw] === null) {
      add(box, "div", "raw request not stored", "muted");
    } else {
      box.appendChild(disclosure("raw request", function (details) {
        add(details, "pre", card[C.raw]);
      }, "raw"));
    }
    return box;
  }

  function draw(card) {
    var li = element("li", null, "card sev-" + card[C.severity]);
    var article = add(li, "article");
    var head = add(article, "h3", null, "card-head");
    add(head, "span", card[C.severity], "pill sev-" + card[C.severity]);
    add(head, "span", " " + card[C.vendor_label] + " ", "card-vendor");
    add(head, "code", card[C.method] + " " + card[C.short_url], "card-request");
    article.appendChild(facts(card));
    article.appendChild(disclosure("full URL", function (details) {
      add(details, "code", card[C.url]);
    }, "full-url"));
    var reasons = add(article, "ul", null, "reasons");
    for (var r = 0; r < card[C.reasons].length; r++) { add(reasons, "li", card[C.reasons][r]); }
    var found = card[C.findings];
    add(article, "h4", found.length + " finding" + (found.length === 1 ? "" : "s"));
    var items = add(article, "ul", null, "card-findings");
    for (var f = 0; f < found.length; f++) { items.appendChild(findingItem(found[f])); }
    var ids = card[C.identifiers];
    if (ids.length) {
      add(article, "h4", "Identifiers carried");
      var idl = add(article, "ul", null, "identifiers");
      for (var i = 0; i < ids.length; i++) {
        var item = add(idl, "li");
        add(item, "span", ids[i][0] + ": ");
        add(item, "code", ids[i][1]);
      }
    }
    article.appendChild(tree(card));
    article.appendChild(evidence(card));
    return li;
  }

  function haystack(card) {
    var parts = [card[C.vendor_label], card[C.page], card[C.url], card[C.method]];
    var found = card[C.findings];
    for (var i = 0; i < found.length; i++) {
      var f = found[i];
      parts.push(f[F.kind], f[F.category], f[F.path], f[F.value], f[F.matched], f[F.reason]);
    }
    return parts.join("\n").toLowerCase();
  }

  function has(card, name, value) {
    if (name === "vendor") { return card[C.vendor] === value; }
    if (name === "page") { return card[C.page_key] === value; }
    if (name === "authenticated") { return card[C.authenticated] === value; }
    var found = card[C.findings];
    for (var i = 0; i < found.length; i++) {
      var actual = name === "policy" ? found[i][F.policy] || "-" : found[i][F[name]];
      if (actual === value) { return true; }
    }
    return false;
  }

  function wanted() {
    var filters = [];
    for (var i = 0; i < selects.length; i++) {
      if (selects[i].value !== "") {
        filters.push([selects[i].getAttribute("data-filter"), selects[i].value]);
      }
    }
    return filters;
  }

  function keep(index, filters, terms) {
    for (var i = 0; i < filters.length; i++) {
      if (!has(cards[index], filters[i][0], filters[i][1])) { return false; }
    }
    for (var t = 0; t < terms.length; t++) {
      if (haystacks[index].indexOf(terms[t]) === -1) { return false; }
    }
    return true;
  }

  function filter() {
    var filters = wanted();
    var terms = search.value.toLowerCase().split(/\s+/).filter(Boolean);
    if (terms.length && haystacks === null) { haystacks = cards.map(haystack); }
    matching = [];
    for (var i = 0; i < cards.length; i++) {
      if (keep(i, filters, terms)) { matching.push(i); }
    }
    page = 0;
    render();
  }

  function render() {
    var size = data.page_size;
    var pages = Math.max(1, Math.ceil(matching.length / size));
    page = Math.min(Math.max(page, 0), pages - 1);
    var start = page * size;
    var end = Math.min(start + size, matching.length);
    var fragment = document.createDocumentFragment();
    for (var i = start; i < end; i++) { fragment.appendChild(draw(cards[matching[i]])); }
    list.replaceChildren(fragment);
    list.setAttribute("start", String(start + 1));
    status.textContent = matching.length === 0
      ? "No flagged requests match (of " + cards.length + ")."
      : "Requests " + (start + 1) + "–" + end + " of " + matching.length +
        (matching.length !== cards.length ? " matching (of " + cards.length + ")" : "") +
        ", page " + (page + 1) + " of " + pages + ".";
    prev.disabled = page === 0;
    next.disabled = page >= pages - 1;
  }

  function turn(step) {
    page += step;
    render();
    status.scrollIntoView({ block: "nearest" });
  }

  for (var i = 0; i < selects.length; i++) { selects[i].addEventListener("change", filter); }
  search.addEventListener("input", filter);
  form.addEventListener("submit", function (event) { event.preventDefault(); filter(); });
  prev.addEventListener("click", function () { turn(-1); });
  next.addEventListener("click", function () { turn(1); });
  document.getElementById("filter-reset").addEventListener("click", function () {
    for (var j = 0; j < selects.length; j++) { selects[j].value = ""; }
    search.value = "";
    filter();
  });
  filter();
})();

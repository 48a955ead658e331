(function () {
  "use strict";
  // Draws the findings list page by page from the JSON block, and filters it.
  // Every captured value is inserted as a text node, never parsed as HTML.
  var source = document.getElementById("phitrace-data");
  if (!source) { return; }
  var data = JSON.parse(source.textContent);
  var F = columns(data.columns.finding);
  var W = columns(data.columns.flow);
  var rows = data.findings;
  var flows = data.flows;
  var body = document.getElementById("findings-body");
  var status = document.getElementById("findings-status");
  var prev = document.getElementById("page-prev");
  var next = document.getElementById("page-next");
  var selects = document.querySelectorAll("select[data-filter]");
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

  function cell(tr, child) {
    var td = document.createElement("td");
    if (child) { td.appendChild(child); }
    tr.appendChild(td);
    return td;
  }

  function marked(value, marks) {
    var span = element("span", null, "value");
    var last = 0;
    for (var i = 0; i + 1 < marks.length; i += 2) {
      span.appendChild(document.createTextNode(value.slice(last, marks[i])));
      span.appendChild(element("mark", value.slice(marks[i], marks[i + 1])));
      last = marks[i + 1];
    }
    span.appendChild(document.createTextNode(value.slice(last)));
    return span;
  }

  function evidence(flow) {
    var box = element("div");
    box.appendChild(element("code", flow[W.sha256], "sha"));
    if (flow[W.raw] === null) {
      box.appendChild(element("div", "raw request not stored", "muted"));
      return box;
    }
    var details = element("details");
    details.appendChild(element("summary", "raw request"));
    details.addEventListener("toggle", function () {
      if (details.open && details.childNodes.length === 1) {
        details.appendChild(element("pre", flow[W.raw]));
      }
    });
    box.appendChild(details);
    return box;
  }

  function row(finding) {
    var flow = flows[finding[F.flow]];
    var tr = element("tr", null, "sev-" + finding[F.severity]);
    var severity = cell(tr, element("span", finding[F.severity], "pill sev-" + finding[F.severity]));
    if (finding[F.policy]) { severity.appendChild(element("div", "policy: " + finding[F.policy], "muted")); }
    cell(tr, element("span", flow[W.vendor_label]));
    var what = cell(tr, element("span", finding[F.category]));
    what.appendChild(element("div", finding[F.kind] + ": " + finding[F.matched], "muted"));
    cell(tr, element("code", flow[W.page] || "unknown page"));
    cell(tr, element("code", flow[W.method] + " " + flow[W.url]));
    var where = cell(tr, element("code", finding[F.field]));
    if (finding[F.trail]) { where.appendChild(element("div", "decoded: " + finding[F.trail], "muted")); }
    cell(tr, marked(finding[F.value], finding[F.marks])).className = "value";
    var why = cell(tr, element("span", finding[F.reason]));
    why.appendChild(element("div", finding[F.rule], "muted"));
    cell(tr, evidence(flow));
    return tr;
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

  function keep(finding, filters) {
    for (var i = 0; i < filters.length; i++) {
      var name = filters[i][0];
      var actual = name === "page" ? flows[finding[F.flow]][W.page_key]
        : name === "authenticated" ? flows[finding[F.flow]][W.authenticated]
        : name === "policy" ? finding[F.policy] || "-" : finding[F[name]];
      if (actual !== filters[i][1]) { return false; }
    }
    return true;
  }

  function filter() {
    var filters = wanted();
    matching = [];
    for (var i = 0; i < rows.length; i++) {
      if (keep(rows[i], filters)) { matching.push(i); }
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
    for (var i = start; i < end; i++) { fragment.appendChild(row(rows[matching[i]])); }
    body.replaceChildren(fragment);
    status.textContent = matching.length === 0
      ? "No findings match these filters (of " + rows.length + ")."
      : "Findings " + (start + 1) + "–" + end + " of " + matching.length +
        (matching.length !== rows.length ? " matching (of " + rows.length + ")" : "") +
        ", page " + (page + 1) + " of " + pages + ".";
    prev.disabled = page === 0;
    next.disabled = page >= pages - 1;
  }

  for (var i = 0; i < selects.length; i++) { selects[i].addEventListener("change", filter); }
  prev.addEventListener("click", function () { page -= 1; render(); });
  next.addEventListener("click", function () { page += 1; render(); });
  document.getElementById("filter-reset").addEventListener("click", function () {
    for (var j = 0; j < selects.length; j++) { selects[j].value = ""; }
    filter();
  });
  filter();
})();

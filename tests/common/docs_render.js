// Runs the docs page's script against a minimal DOM and the given OpenAPI
// document, and prints what it rendered as JSON: the operations listed in the
// navigation, the number of schema sections, and the page's text.
// Usage: node docs_render.js PAGE.html OPENAPI.json
"use strict";
const fs = require("fs");
const [page, docPath] = process.argv.slice(2);
const html = fs.readFileSync(page, "utf8");
const script = html.slice(html.indexOf("<script>") + 8, html.indexOf("</script>"));
const doc = JSON.parse(fs.readFileSync(docPath, "utf8"));

class Node {
  constructor(tag) { this.tag = tag; this.kids = []; this.attrs = {}; }
  setAttribute(k, v) { this.attrs[k] = String(v); }
  append(...kids) { this.kids.push(...kids); }
  replaceChildren(...kids) { this.kids = kids; }
  set textContent(_) { this.kids = []; }
  get id() { return this.attrs.id; }
}
const roots = { nav: new Node("nav"), main: new Node("main") };
const fetched = [];
global.document = { createElement: t => new Node(t), getElementById: i => roots[i] };
global.fetch = url => {
  fetched.push(url);
  return Promise.resolve({ ok: true, status: 200, json: () => Promise.resolve(doc) });
};
const text = n => (typeof n === "string" ? n : n.kids.map(text).join(""));
const all = (n, tag, out = []) => {
  if (typeof n === "string") return out;
  if (n.tag === tag) out.push(n);
  n.kids.forEach(k => all(k, tag, out));
  return out;
};
eval(script);
setTimeout(() => {
  const sections = all(roots.main, "section");
  process.stdout.write(JSON.stringify({
    fetched,
    operations: all(roots.nav, "a").map(text),
    schemas: sections.filter(s => (s.attrs.id || "").startsWith("schema-")).length,
    error: all(roots.main, "p").filter(p => p.attrs.id === "error").map(text),
    text: text(roots.main),
  }));
}, 200);

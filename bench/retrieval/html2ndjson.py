"""PostgreSQL HTML documentation -> NDJSON, one row per page: {page, title, text}.
Navigation headers and footers are dropped; block elements become line breaks."""
import html.parser, json, os, sys

BLOCK = {"p", "div", "li", "dt", "dd", "tr", "pre", "h1", "h2", "h3", "h4", "br", "table", "blockquote"}

class Page(html.parser.HTMLParser):
    def __init__(self):
        super().__init__(convert_charrefs=True)
        self.out, self.title, self.skip, self.in_title = [], "", 0, False

    def handle_starttag(self, tag, attrs):
        cls = dict(attrs).get("class") or ""
        if self.skip or (tag == "div" and cls in ("navheader", "navfooter")):
            self.skip += tag == "div"
            return
        if tag == "title":
            self.in_title = True
        if tag in BLOCK:
            self.out.append("\n")

    def handle_endtag(self, tag):
        if self.skip:
            self.skip -= tag == "div"
            return
        if tag == "title":
            self.in_title = False
        if tag in BLOCK:
            self.out.append("\n")

    def handle_data(self, data):
        if self.in_title:
            self.title += data
        elif not self.skip:
            self.out.append(data)

src = sys.argv[1]
for name in sorted(os.listdir(src)):
    if not name.endswith(".html"):
        continue
    p = Page()
    with open(os.path.join(src, name), encoding="utf-8", errors="replace") as f:
        p.feed(f.read())
    lines = [" ".join(l.split()) for l in "".join(p.out).split("\n")]
    text = "\n".join(l for l in lines if l)
    if text:
        print(json.dumps({"page": name[:-5], "title": " ".join(p.title.split()), "text": text},
                         ensure_ascii=False))

"""Small Sphinx additions for this book (registered in ``_config.yml`` under ``sphinx.local_extensions``).

1. ``{include-if-exists}``: include a generated markdown file when it exists. Some pages show files that a
   script writes from a measured run (``benchmarks/chapter_times.md`` comes from
   ``python benchmarks/chapter_times.py``). A plain ``{include}`` of a missing file is an error, so a fresh
   checkout could not build the book before the measurement; this directive shows its own content instead,
   which says how to produce the file::

       ```{include-if-exists} ../_build/chapter_times.md ../benchmarks/chapter_times.md
       Not measured yet: run `python benchmarks/chapter_times.py`, then rebuild the book.
       ```

2. Offline pages. Readers' browsers may be offline, so nothing a page shows may come from a CDN:
   matplotlib's jshtml animations link Font Awesome 4 from maxcdn for their button icons; that ``<link>`` is
   removed (the theme ships Font Awesome, which draws the same icons).

3. Inline scripts added with ``app.add_js_file(None, body=...)`` (sphinx-thebe, sphinx-togglebutton) are
   emitted twice by Sphinx 7; sphinx-thebe's ``const THEBE_JS_URL`` then throws "Identifier has already been
   declared" on every page. Each script is kept once.

4. ``static/gl_book.css`` on every page: code boxes wrap long lines (package code shown by literalinclude
   has lines up to 120 characters) instead of letting them run past the right edge of the box.
"""
from __future__ import annotations

import re
from pathlib import Path
from typing import Any

from docutils import nodes
from docutils.statemachine import StringList
from sphinx.application import Sphinx
from sphinx.util.docutils import SphinxDirective

# <link rel="stylesheet" href="https://maxcdn.bootstrapcdn.com/font-awesome/4.4.0/css/font-awesome.min.css">
CDN_STYLESHEET = re.compile(r"<link\b[^>]*\bhref=[\"']https?://[^\"']*font-awesome[^\"']*[\"'][^>]*>\s*", re.I)


class IncludeIfExists(SphinxDirective):
    """Parse the named markdown file in place; if it is missing, parse the directive's content instead."""

    required_arguments = 1
    optional_arguments = 4  # more candidate files: the first one that exists is included
    has_content = True

    def run(self) -> list[nodes.Node]:
        candidates = [self.env.relfn2path(arg) for arg in self.arguments]
        rel, path = next(((r, p) for r, p in candidates if Path(p).is_file()), candidates[0])
        source, offset = Path(path), self.content_offset
        if source.is_file():
            self.env.note_dependency(rel)
            lines = StringList(source.read_text(encoding="utf-8").splitlines(), str(source))
            offset = 0
        else:
            lines = self.content
        container = nodes.container(classes=["include-if-exists"])
        self.state.nested_parse(lines, offset, container)
        return container.children


def strip_cdn_stylesheets(app: Sphinx, doctree: nodes.document, docname: str) -> None:
    """Remove CDN stylesheet links from raw HTML outputs (jshtml animations)."""
    for node in list(doctree.findall(nodes.raw)):
        if "html" not in node.get("format", "").split():
            continue
        text = node.astext()
        cleaned = CDN_STYLESHEET.sub("", text)
        if cleaned != text:
            node.replace(node.children[0], nodes.Text(cleaned))


def dedupe_scripts(app: Sphinx, pagename: str, templatename: str, context: dict[str, Any], doctree: Any) -> None:
    """Keep each script (same file, same attributes, same inline body) once, at its first place."""
    scripts = context.get("script_files")
    if not isinstance(scripts, list):
        return
    seen, unique = set(), []
    for script in scripts:
        filename = getattr(script, "filename", script) or None  # the copies differ only in None versus ""
        key = (str(filename), repr(sorted(getattr(script, "attributes", {}).items())))
        if key not in seen:
            seen.add(key)
            unique.append(script)
    scripts[:] = unique


def add_stylesheet(app: Sphinx) -> None:
    """Serve book/_ext/static/gl_book.css on every page (code boxes wrap long lines)."""
    static = str(Path(__file__).resolve().parent / "static")
    if static not in app.config.html_static_path:
        app.config.html_static_path.append(static)
    app.add_css_file("gl_book.css")


def setup(app: Sphinx) -> dict:
    app.add_directive("include-if-exists", IncludeIfExists)
    app.connect("doctree-resolved", strip_cdn_stylesheets)
    app.connect("html-page-context", dedupe_scripts, priority=900)
    app.connect("builder-inited", add_stylesheet)
    return {"version": "0.1", "parallel_read_safe": True, "parallel_write_safe": True}

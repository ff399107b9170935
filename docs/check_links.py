"""Check that every local link of the built site resolves (Sphinx's linkcheck needs a network).

Usage: ``python docs/check_links.py [docs/_build/html]``. Every ``href`` and ``src`` of
every HTML page that is not an external URL must name an existing file, and a
``#fragment`` into an HTML page must name an ``id`` (or ``name``) on that page. Prints
the broken links and exits 1 if there are any.
"""

from __future__ import annotations

import sys
from html.parser import HTMLParser
from pathlib import Path
from urllib.parse import unquote, urlsplit

EXTERNAL = ("http:", "https:", "mailto:", "data:", "javascript:", "ftp:")


class _Page(HTMLParser):
    def __init__(self) -> None:
        super().__init__()
        self.links: list[str] = []
        self.ids: set[str] = set()

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        for name, value in attrs:
            if value is None:
                continue
            if name in ("href", "src"):
                self.links.append(value)
            elif name == "id" or (name == "name" and tag == "a"):
                self.ids.add(value)


def _parse(path: Path, cache: dict[Path, _Page]) -> _Page:
    if path not in cache:
        page = _Page()
        page.feed(path.read_text(encoding="utf-8", errors="replace"))
        cache[path] = page
    return cache[path]


def broken_links(root: Path) -> list[str]:
    """Every unresolvable local link under ``root``, as 'page: link (reason)'."""
    cache: dict[Path, _Page] = {}
    bad = []
    for page_path in sorted(root.rglob("*.html")):
        for link in _parse(page_path, cache).links:
            if link.startswith(EXTERNAL) or link.startswith("//"):
                continue
            parts = urlsplit(link)
            target = page_path if not parts.path else (page_path.parent / unquote(parts.path))
            target = target.resolve()
            if target.is_dir():
                target = target / "index.html"
            rel = page_path.relative_to(root)
            if not target.exists():
                bad.append(f"{rel}: {link} (no such file)")
            elif parts.fragment and target.suffix == ".html":
                if unquote(parts.fragment) not in _parse(target, cache).ids:
                    bad.append(f"{rel}: {link} (no such anchor)")
    return bad


def main(argv: list[str]) -> int:
    """Check the site in ``argv[0]`` (default docs/_build/html); 1 if any link is broken."""
    root = Path(argv[0] if argv else Path(__file__).parent / "_build" / "html").resolve()
    if not (root / "index.html").exists():
        print(f"{root}: no built site (index.html missing)", file=sys.stderr)
        return 1
    bad = broken_links(root)
    pages = sum(1 for _ in root.rglob("*.html"))
    for line in bad:
        print(line)
    print(f"{pages} pages checked, {len(bad)} broken local links")
    return 1 if bad else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))

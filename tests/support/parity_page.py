"""Reading the page of ``tierguard parity -o html`` the way a browser's DOM would (html.parser): the matrix rows by
application, each cell's sidecar states, every tag with its attributes. Shared by the unit, CLI and e2e tests."""

from __future__ import annotations

from html.parser import HTMLParser


class Page(HTMLParser):
    """What a test needs from the page: rows by application, cells' states, every tag and attribute seen."""

    def __init__(self) -> None:
        super().__init__()
        self.tags: list[tuple[str, dict[str, str | None]]] = []
        self.rows: dict[str, dict[str, str | None]] = {}
        self.states: dict[tuple[str, str, str], str] = {}
        self._row: str | None = None
        self._tier: str | None = None
        self.text: list[str] = []

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        attributes = dict(attrs)
        self.tags.append((tag, attributes))
        if tag == "tr" and attributes.get("data-application") is not None:
            self._row = attributes["data-application"]
            self.rows[str(self._row)] = attributes
        elif tag == "td" and self._row is not None:
            self._tier = attributes.get("data-tier")
        elif tag == "span" and self._row and self._tier and attributes.get("data-sidecar"):
            self.states[(self._row, self._tier, str(attributes["data-sidecar"]))] = str(attributes["data-state"])

    @property
    def highlighted(self) -> set[str]:
        """The applications whose row is highlighted (a tier lacks what the reference tier runs)."""
        return {name for name, row in self.rows.items() if "diverges" in (row.get("class") or "").split()}

    def handle_data(self, data: str) -> None:
        self.text.append(data)


def parse(page: str) -> Page:
    parser = Page()
    parser.feed(page)
    parser.close()
    return parser

"""Reading the page of ``tierguard access -o html`` the way a browser's DOM would (html.parser): the matrix rows by
subject, each cell's paths and whether it crosses tiers, the cross-tier table's rows, every tag with its
attributes. Shared by the unit, CLI and browser tests."""

from __future__ import annotations

from dataclasses import dataclass
from html.parser import HTMLParser


@dataclass(frozen=True)
class PageCell:
    paths: tuple[str, ...]
    crosses: bool
    classes: frozenset[str]
    where: str


class Page(HTMLParser):
    """What a test needs from the page: rows by subject, cells by (subject, column), crossings, tags seen."""

    def __init__(self) -> None:
        super().__init__()
        self.tags: list[tuple[str, dict[str, str | None]]] = []
        self.rows: dict[str, dict[str, str | None]] = {}
        self.cells: dict[tuple[str, str], PageCell] = {}
        self.crossings: list[dict[str, str | None]] = []
        self.text: list[str] = []
        self._table: str | None = None
        self._row: str | None = None
        self._cell: dict[str, str | None] | None = None
        self._where: list[str] = []
        self._in_where = False

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        attributes = dict(attrs)
        self.tags.append((tag, attributes))
        if tag == "table":
            self._table = attributes.get("id")
        elif tag == "tr" and attributes.get("data-subject") is not None:
            if self._table == "access-matrix":
                self._row = str(attributes["data-subject"])
                self.rows[self._row] = attributes
            elif self._table == "access-crossings":
                self.crossings.append(attributes)
        elif tag == "td" and self._row is not None and attributes.get("data-column") is not None:
            self._cell = attributes
        elif tag == "span" and self._cell is not None and "where" in (attributes.get("class") or "").split():
            self._in_where = True

    def handle_endtag(self, tag: str) -> None:
        if tag == "td" and self._cell is not None and self._row is not None:
            cell = self._cell
            self.cells[(self._row, str(cell["data-column"]))] = PageCell(
                tuple((cell.get("data-paths") or "").split()), cell.get("data-crosses") == "true",
                frozenset((cell.get("class") or "").split()), "".join(self._where))
            self._cell, self._where = None, []
        elif tag == "span":
            self._in_where = False
        elif tag == "tr":
            self._row = None
        elif tag == "table":
            self._table = None

    def handle_data(self, data: str) -> None:
        self.text.append(data)
        if self._in_where:
            self._where.append(data)

    @property
    def highlighted(self) -> set[str]:
        """The subjects whose row is highlighted (they reach a tier they do not belong to)."""
        return {name for name, row in self.rows.items() if "crosses" in (row.get("class") or "").split()}


def parse(page: str) -> Page:
    parser = Page()
    parser.feed(page)
    parser.close()
    return parser

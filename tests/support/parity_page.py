"""Reading the page of ``tierguard parity -o html`` the way a browser's DOM would (html.parser): the matrix rows by
application, each cell's sidecar states, the namespace posture's rows by check and its cells, every tag with its
attributes. Shared by the unit, CLI and e2e tests."""

from __future__ import annotations

from html.parser import HTMLParser


class Page(HTMLParser):
    """What a test needs from the page: rows by application, cells' states, every tag and attribute seen."""

    def __init__(self) -> None:
        super().__init__()
        self.tags: list[tuple[str, dict[str, str | None]]] = []
        self.rows: dict[str, dict[str, str | None]] = {}
        self.states: dict[tuple[str, str, str], str] = {}
        self.checks: dict[str, dict[str, str | None]] = {}
        """The posture table's rows by check (a label, ``default-deny-ingress``, ``namespaces``)."""
        self.posture: dict[tuple[str, str], dict[str, str | None]] = {}
        """(check, tier) -> the posture cell's attributes (``data-weaker``, class)."""
        self.values: dict[tuple[str, str], dict[str, int]] = {}
        """(check, tier) -> each value shown with its namespaces (``unset``: the namespaces lacking the label)."""
        self._row: str | None = None
        self._check: str | None = None
        self._tier: str | None = None
        self.text: list[str] = []

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        attributes = dict(attrs)
        self.tags.append((tag, attributes))
        if tag == "tr" and attributes.get("data-application") is not None:
            self._row, self._check = attributes["data-application"], None
            self.rows[str(self._row)] = attributes
        elif tag == "tr" and attributes.get("data-check") is not None:
            self._row, self._check = None, attributes["data-check"]
            self.checks[str(self._check)] = attributes
        elif tag == "td" and (self._row is not None or self._check is not None):
            self._tier = attributes.get("data-tier")
            if self._check is not None and self._tier is not None:
                self.posture[(self._check, self._tier)] = attributes
        elif tag == "span" and self._row and self._tier and attributes.get("data-sidecar"):
            self.states[(self._row, self._tier, str(attributes["data-sidecar"]))] = str(attributes["data-state"])
        elif tag == "span" and self._check and self._tier and "value" in (attributes.get("class") or "").split():
            value = "unset" if attributes.get("data-unset") else str(attributes.get("data-value"))
            count = attributes.get("data-namespaces")
            self.values.setdefault((self._check, self._tier), {})[value] = int(count) if count else 0

    @property
    def highlighted(self) -> set[str]:
        """The applications whose row is highlighted (a tier lacks what the reference tier runs)."""
        return {name for name, row in self.rows.items() if "diverges" in (row.get("class") or "").split()}

    @property
    def drifting(self) -> set[str]:
        """The posture checks whose row is highlighted (a tier is weaker than the reference tier)."""
        return {check for check, row in self.checks.items() if "drifts" in (row.get("class") or "").split()}

    def weaker(self, check: str) -> set[str]:
        """The tiers whose cell of ``check`` is outlined as weaker than the reference tier's."""
        return {tier for (c, tier), cell in self.posture.items()
                if c == check and "weaker" in (cell.get("class") or "").split()}

    def handle_data(self, data: str) -> None:
        self.text.append(data)


def parse(page: str) -> Page:
    parser = Page()
    parser.feed(page)
    parser.close()
    return parser

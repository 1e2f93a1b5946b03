"""Panel building blocks: a grid that places and numbers panels, and queries bound to our datasources."""

from __future__ import annotations

from grafana_foundation_sdk.builders import loki, prometheus, tempo
from grafana_foundation_sdk.builders.dashboard import Dashboard, Row
from grafana_foundation_sdk.models.dashboard import GridPos

from grafana_as_code.datasources import LOKI, PROMETHEUS, TEMPO

REF_IDS = "ABCDEFGH"


def promql(expr: str, legend: str = "", *, ref: int = 0, exemplars: bool = False, instant: bool = False):
    query = prometheus.Dataquery().expr(expr).ref_id(REF_IDS[ref]).datasource(PROMETHEUS)
    if legend:
        query = query.legend_format(legend)
    if exemplars:
        query = query.exemplar(True)
    return query.instant() if instant else query.range()


def logql(expr: str, legend: str = "", *, ref: int = 0):
    query = loki.Dataquery().expr(expr).ref_id(REF_IDS[ref]).datasource(LOKI)
    return query.legend_format(legend) if legend else query


def traceql(query_text: str, *, ref: int = 0, limit: int = 20):
    return (
        tempo.TempoQuery().query(query_text).query_type("traceql").limit(limit).ref_id(REF_IDS[ref]).datasource(TEMPO)
    )


def service_map(*, ref: int = 0):
    return tempo.TempoQuery().query_type("serviceMap").ref_id(REF_IDS[ref]).datasource(TEMPO)


class Grid:
    """Places panels left to right in 24 columns, wrapping, and gives each a stable id."""

    def __init__(self, dashboard: Dashboard):
        self.dashboard = dashboard
        self.x = self.y = 0
        self.row_height = 0
        self.next_id = 1

    def row(self, title: str) -> Grid:
        self._newline()
        self.dashboard.with_row(Row(title).id(self._id()).grid_pos(GridPos(h=1, w=24, x=0, y=self.y)))
        self.y += 1
        return self

    def add(self, panel, *, width: int = 8, height: int = 8) -> Grid:
        if self.x + width > 24:
            self._newline()
        self.dashboard.with_panel(panel.id(self._id()).grid_pos(GridPos(h=height, w=width, x=self.x, y=self.y)))
        self.x += width
        self.row_height = max(self.row_height, height)
        return self

    def _newline(self) -> None:
        if self.x:
            self.y += self.row_height
        self.x, self.row_height = 0, 0

    def _id(self) -> int:
        self.next_id += 1
        return self.next_id - 1

"""The power panel's own line chart: where points land, round ticks, the legend, and that it paints."""

from __future__ import annotations

from PySide6.QtGui import QColor, QImage

from baton.ui.chart import TimeChart, nice_step, tick_label


def test_nice_steps_are_one_two_or_five_times_a_power_of_ten():
    assert nice_step(300, 5) == 100  # 60 raw -> 100
    assert nice_step(1.15) == 0.5  # 0.29 -> 0.5
    assert nice_step(11.5) == 5  # 2.9 -> 5
    assert nice_step(0.8) == 0.2
    assert nice_step(0) == 1.0
    assert tick_label(0.25, 0.05) == "0.25" and tick_label(200.0, 100) == "200"


def test_points_map_into_the_plot_rectangle_and_clamp(qtbot):
    chart = TimeChart("Power (W)", 300.0)
    qtbot.addWidget(chart)
    chart.resize(400, 200)
    chart.set_top(10.0)
    r = chart.plot_rect()
    newest = chart.to_point(0.0, 10.0)
    assert (newest.x(), newest.y()) == (r.right(), r.top())
    oldest = chart.to_point(-300.0, 0.0)
    assert (oldest.x(), oldest.y()) == (r.left(), r.bottom())
    mid = chart.to_point(-150.0, 5.0)
    assert abs(mid.x() - r.center().x()) < 1e-6 and abs(mid.y() - r.center().y()) < 1e-6
    above = chart.to_point(-600.0, 50.0)  # older than the window and over the top: drawn on the border
    assert (above.x(), above.y()) == (r.left(), r.top())


def test_series_legend_and_recolor(qtbot):
    chart = TimeChart("Memory (GB)", 300.0)
    qtbot.addWidget(chart)
    chart.set_series("rss", [-2.0, -1.0, 0.0], [0.5, 0.6, 0.7], "RAM (this process)", "#1d6fd6")
    chart.set_series("tok", [-1.0, 0.0], [3.0, 4.0], None, "#d9480f")
    assert chart.keys() == ["rss", "tok"]
    assert chart.legend() == ["RAM (this process)"]  # a nameless line stays out of the legend
    assert chart.series("rss").ys == [0.5, 0.6, 0.7]
    chart.set_color("rss", "#ff0000")
    assert chart.series("rss").color == "#ff0000"
    chart.set_top(-1)  # nonsense keeps a usable axis
    assert chart.top == 1.0


def test_a_line_is_painted_in_its_color(qtbot):
    chart = TimeChart("Tokens per second", 300.0)
    qtbot.addWidget(chart)
    chart.resize(300, 180)
    chart.set_colors({"canvas": "#ffffff", "grid": "#eeeeee", "text": "#000000", "muted": "#777777"})
    chart.set_top(10.0)
    chart.set_series("tok", [-300.0, 0.0], [5.0, 5.0], None, "#00aa00")  # a flat line at half height
    img: QImage = chart.grab().toImage()
    y = int(round(chart.to_point(-150.0, 5.0).y() * img.devicePixelRatio()))
    x = int(round(chart.to_point(-150.0, 5.0).x() * img.devicePixelRatio()))
    greens = [QColor(img.pixel(x, yy)) for yy in range(y - 2, y + 3)]
    assert any(c.green() > 120 and c.red() < 100 and c.blue() < 100 for c in greens), [c.name() for c in greens]
    above = QColor(img.pixel(x, int(chart.plot_rect().top() * img.devicePixelRatio()) + 3))
    assert above.green() < 200 or above.red() > 200  # not the line's color away from the line

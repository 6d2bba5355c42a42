"""Report figures: drawn once, cropped like bbox_inches="tight", and the one ITS drawing function."""

from __future__ import annotations

import contextlib
import io
import os

import matplotlib

matplotlib.use("Agg")
import matplotlib.figure as mfigure  # noqa: E402
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
import pandas as pd  # noqa: E402
import pytest  # noqa: E402
from PIL import Image  # noqa: E402

from cocEval.report.blocks import figure_png  # noqa: E402
from cocEval.report.gate import Gate  # noqa: E402


@pytest.fixture
def draws(monkeypatch):
    """Counts Figure.draw calls."""
    n = [0]
    draw = mfigure.Figure.draw

    def counted(self, renderer):
        n[0] += 1
        return draw(self, renderer)

    monkeypatch.setattr(mfigure.Figure, "draw", counted)
    return n


def _size(png: bytes) -> tuple[int, int]:
    return Image.open(io.BytesIO(png)).size


def _chart(tight: bool = False):
    fig, ax = plt.subplots(figsize=(6, 3))
    ax.plot(pd.date_range("2024-01-01", periods=24, freq="MS"), np.arange(24.0), label="A long legend entry")
    ax.set_title("A title that is rather long for such a small chart, so it sticks out")
    ax.set_ylabel("Rate per 1,000 occupied bed days")
    ax.legend(loc="upper left", bbox_to_anchor=(1.01, 1.0), frameon=False)
    fig.legend(["figure legend"], loc="lower center", ncol=1)
    if tight:
        fig.tight_layout(rect=(0, 0.1, 1, 1))
    return fig


@pytest.mark.parametrize("tight", [False, True])
def test_figure_is_drawn_once_and_cropped_as_tight_bbox_would(draws, tight):
    """Before: savefig(bbox_inches="tight") drew every figure twice (layout, then pixels)."""
    old = io.BytesIO()
    _chart(tight).savefig(old, format="png", dpi=60, bbox_inches="tight")
    draws[0] = 0
    png = figure_png(_chart(tight), dpi=60, colors=0)
    assert draws[0] == 1
    (w, h), (w0, h0) = _size(png), _size(old.getvalue())
    assert abs(w - w0) <= 4 and abs(h - h0) <= 4  # the ink, padded as savefig pads it
    assert w > 6 * 60  # the legend beside the axes and the long title are kept


def test_ink_beyond_the_canvas_falls_back_to_measuring(draws):
    fig = _chart()
    fig.text(1.8, 0.5, "far out, and longer")  # starts 10.8 inches right: crosses the canvas's edge
    png = figure_png(fig, dpi=40, colors=0)
    assert draws[0] == 3  # the one draw found ink at the edge: measured, then drawn again
    assert _size(png)[0] > (6 + 5) * 40  # the far text is in the image


def test_palette_png_keeps_the_chart_colours():
    fig, ax = plt.subplots(figsize=(3, 2))
    ax.fill_between([0, 1], [0, 0], [1, 1], color="#005EB8")
    image = Image.open(io.BytesIO(figure_png(fig, dpi=50)))
    assert image.mode == "P" and len(image.getcolors()) <= 64
    assert (0x00, 0x5E, 0xB8) in {c for _, c in image.convert("RGB").getcolors()}


def test_fonts_from_memory_draw_the_same_pixels(monkeypatch):
    """matplotlib < 3.12 reads each glyph through the open font file (about 14 system calls a
    glyph); figure_png gives FreeType the file's bytes instead. The PNG must not change."""
    from cocEval.report import fonts

    if not fonts._install():
        pytest.skip("this matplotlib is not one whose font reads are worked around")
    with_memory = figure_png(_chart(), dpi=60)
    monkeypatch.setattr(fonts, "fonts_in_memory", contextlib.nullcontext)
    assert figure_png(_chart(), dpi=60) == with_memory


def test_fonts_from_memory_only_inside_the_block():
    """Outside the block (an evaluator saving a PDF), fonts are matplotlib's own, whose
    ``fname`` is the font file; inside, FreeType reads a copy in memory."""
    from matplotlib import font_manager

    from cocEval.report import fonts
    from cocEval.report.fonts import fonts_in_memory

    path = font_manager.findfont("DejaVu Sans")
    with fonts_in_memory():
        inside = font_manager.get_font(path)
    outside = font_manager.get_font(path)
    assert os.fspath(getattr(outside.fname, "path", outside.fname)) == os.fspath(getattr(path, "path", path))
    if fonts._install():  # the work-around is in place
        assert isinstance(inside.fname, io.BytesIO) and inside is not outside
        assert inside.family_name == outside.family_name


def test_its_chart_draws_from_the_disclosed_frame():
    """One ITS drawing function: the report's chart is ITSResult.plot on the gate's frame."""
    from cocEval.its import fit_its

    months = pd.date_range("2022-01-01", periods=36, freq="MS")
    rng = np.random.default_rng(1)
    events = rng.poisson(np.r_[np.full(18, 30), np.full(18, 22)])
    events[[3, 30]] = 2  # small numbers: suppressed
    df = pd.DataFrame({"month": months, "events": events, "beds": 1000.0})
    res = fit_its(df, "events", "month", "2023-07", family="poisson", exposure="beds")
    pred = res.predict(per=1000)
    pred = pred[pred["series"] == "treated"].drop(columns="series").assign(numerator=events, denominator=1000.0)
    values = [c for c in pred.columns if c.startswith(("fitted", "counterfactual"))]
    data = Gate("mhsds").frame(
        pred, counts=["numerator"], rates={"observed": ("numerator", "denominator")}, values=values
    )
    assert data["suppressed"].sum() == 2 and data["observed"].isna().sum() == 2
    fig, ax = res.plot(data=data, words="report", zero=True, title="Restraint: lower than expected")
    labels = ax.get_legend_handles_labels()[1]
    assert labels[:2] == ["Observed", "Model"] and "Expected without coaching" in labels
    assert "95% interval of expected" in labels and "Month not shown (small numbers)" in labels
    assert "Control (observed)" not in labels
    assert ax.get_ylim()[0] == 0 and ax.get_title() == "Restraint: lower than expected"
    shown = ax.lines[0].get_ydata()
    assert np.isnan(np.asarray(shown, dtype=float)).sum() == 2  # suppressed months are gaps, never values
    assert [t.get_text() for t in ax.texts] == [" coaching starts"]
    plt.close(fig)
    fig, ax = res.plot()  # the model's own prediction, statistical words
    assert "Counterfactual (no intervention)" in ax.get_legend_handles_labels()[1]
    plt.close(fig)

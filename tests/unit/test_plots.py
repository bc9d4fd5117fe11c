"""Charts and the session report: valid files in every format, and the right content.

Figures are checked through their objects (labels, titles, groups, colours), never by pixels.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import textwrap
import xml.etree.ElementTree as ET
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
from click.testing import CliRunner, Result
from matplotlib.axes import Axes
from matplotlib.collections import PathCollection
from matplotlib.colors import same_color, to_rgb
from matplotlib.figure import Figure
from pypdf import PdfReader

from posturetest import plots
from posturetest.cli import main
from posturetest.domain import (
    POSTURE_COLOURS,
    POSTURES,
    SCALES,
    TESTS,
    Posture,
    StressTest,
)
from posturetest.report import PostureResult, build_report, summary_sentence, write_report
from posturetest.store import Store
from posturetest.store.selection import Selection
from tests.factories import returning_subjects_study

SUBJECTS = ("S-001", "S-002", "S-003")
KINDS = ("compare", "agreement", "history", "order")
FORMATS = ("png", "svg", "pdf")
EVERYTHING = Selection()


@pytest.fixture(scope="module")
def study(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[Path, list[str]]]:
    """Three subjects; S-001 came back twice. Returns the file and the session ids."""
    path = tmp_path_factory.mktemp("plots") / "study.db"
    yield path, returning_subjects_study(path)


@pytest.fixture
def store(study: tuple[Path, list[str]]) -> Iterator[Store]:
    with Store(study[0]) as s:
        yield s


def draw(kind: str, store: Store) -> Figure:
    if kind == "history":
        return plots.history(store, "S-001")
    drawing: dict[str, Callable[[Store, Selection], Figure]] = {
        "compare": plots.compare,
        "agreement": plots.agreement,
        "order": plots.order,
    }
    return drawing[kind](store, EVERYTHING)


def flat(text: str) -> str:
    return " ".join(text.split())


def all_text(fig: Figure) -> str:
    return flat(" ".join(t.get_text() for t in fig.findobj(lambda a: hasattr(a, "get_text"))))  # type: ignore[attr-defined]


def plot_axes(fig: Figure) -> list[Axes]:
    """The axes that hold data (not the empty ones of a no-data figure)."""
    return [ax for ax in fig.get_axes() if ax.axison]


def assert_valid(path: Path, fmt: str) -> None:
    assert path.exists() and path.stat().st_size > 1000
    if fmt == "png":
        assert path.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    elif fmt == "svg":
        assert ET.parse(path).getroot().tag == "{http://www.w3.org/2000/svg}svg"
    else:
        assert len(PdfReader(path).pages) == 1
    assert not [p for p in path.parent.iterdir() if p.name.endswith(".part")]


def invoke(*args: str) -> Result:
    return CliRunner().invoke(main, list(args))


def one_line_refusal(result: Result) -> str:
    assert result.exit_code == 2, result.output
    assert "Traceback" not in result.stderr
    lines = result.stderr.splitlines()
    assert len(lines) == 1, result.stderr
    return lines[0]


# -- files ------------------------------------------------------------------------------------


@pytest.mark.parametrize("fmt", FORMATS)
@pytest.mark.parametrize("kind", KINDS)
def test_plot_command_writes_a_valid_file(
    study: tuple[Path, list[str]], tmp_path: Path, kind: str, fmt: str
) -> None:
    out = tmp_path / f"{kind}.{fmt}"
    subject = ["--subject", "S-001"] if kind == "history" else []
    result = invoke("--db", str(study[0]), "plot", kind, "--out", str(out), *subject)
    assert result.exit_code == 0, result.output
    assert result.stderr == f"Wrote {out}\n"
    assert_valid(out, fmt)


def test_svg_and_pdf_keep_text_as_text(store: Store, tmp_path: Path) -> None:
    fig = plots.compare(store, EVERYTHING)
    plots.save(fig, tmp_path / "c.svg")
    plots.save(fig, tmp_path / "c.pdf")
    assert "Skeleton type" in (tmp_path / "c.svg").read_text()
    assert "Skeleton type" in PdfReader(tmp_path / "c.pdf").pages[0].extract_text()


def test_session_chart_and_filters_write_files(
    study: tuple[Path, list[str]], store: Store, tmp_path: Path
) -> None:
    plots.save(plots.session_chart(store, study[1][0]), tmp_path / "session.png")
    assert_valid(tmp_path / "session.png", "png")
    out = tmp_path / "filtered.svg"
    result = invoke(
        "--db", str(study[0]), "plot", "compare", "--out", str(out),
        "--subject", "S-002", "--since", "2026-03-01", "--complete-only",
    )  # fmt: skip
    assert result.exit_code == 0, result.output
    assert_valid(out, "svg")


@pytest.mark.parametrize("name", ["chart.jpg", "chart", "chart.png.txt"])
def test_save_refuses_other_formats(store: Store, tmp_path: Path, name: str) -> None:
    with pytest.raises(ValueError, match=r"\.png, \.svg or \.pdf") as refused:
        plots.save(plots.order(store, EVERYTHING), tmp_path / name)
    assert "\n" not in str(refused.value)
    assert list(tmp_path.iterdir()) == []


def test_a_failed_write_leaves_nothing_behind(store: Store, tmp_path: Path) -> None:
    with pytest.raises(OSError):
        plots.save(plots.order(store, EVERYTHING), tmp_path / "missing" / "order.png")
    assert list(tmp_path.iterdir()) == []


# -- what the charts show ---------------------------------------------------------------------


def test_compare_shows_both_ratings_per_test_and_posture(store: Store) -> None:
    fig = plots.compare(store, EVERYTHING)
    axes = plot_axes(fig)
    assert len(axes) == 4  # 2 ratings x 2 tests
    labels = [POSTURES[p].label for p in Posture]
    for ax in axes:
        ticks = [t.get_text() for t in ax.get_xticklabels()]
        assert len(ticks) == 3
        assert [t.splitlines()[0] for t in ticks] == labels
        assert ticks[0].endswith("n = 3")
        assert len(ax.patches) == 3  # one box per posture
        assert ax.get_ylim() == (-0.5, 10.5)
    rows = fig.get_axes()
    for ax, rating in ((rows[0], "subject_ease"), (rows[2], "tester_stability")):
        label = flat(ax.get_ylabel())
        scale = SCALES[rating]
        assert scale.question in label
        assert f"0 = {scale.low_word}" in label and f"10 = {scale.high_word}" in label
    assert [ax.get_title() for ax in rows[:2]] == [
        "Vertical test: 3 subjects",
        "Anterior test: 3 subjects",
    ]
    assert fig.get_suptitle().endswith("compared on 3 subjects")
    legend = all_text(fig)
    assert "mean with 95% confidence interval" in legend and "the same subject" in legend


def test_compare_mean_and_interval_are_right(store: Store) -> None:
    """S-001's three sessions average to one value per posture; the interval is Student's t."""
    import numpy as np
    from scipy import stats

    fig = plots.compare(store, EVERYTHING)
    ax = plot_axes(fig)[2]  # tester stability, vertical test
    skeleton_trials = {"S-001": [8, 9, 10], "S-002": [9], "S-003": [7]}
    values = np.array([np.mean(v) for v in skeleton_trials.values()])
    mean = values.mean()
    half = stats.t.ppf(0.975, len(values) - 1) * stats.sem(values)
    bars = [c for c in ax.containers if hasattr(c, "lines")]
    marker_y = [c.lines[0].get_ydata()[0] for c in bars]
    caps = sorted(float(cap.get_ydata()[0]) for cap in bars[2].lines[1])
    assert marker_y[2] == pytest.approx(mean, abs=1e-12)
    assert caps == pytest.approx([mean - half, mean + half], abs=1e-12)


def test_compare_joins_each_subjects_values_when_few(store: Store) -> None:
    for ax in plot_axes(plots.compare(store, EVERYTHING)):
        joins = [line for line in ax.get_lines() if same_color(line.get_color(), "#9a9a9a")]
        assert len(joins) == len(SUBJECTS)
        assert all(len(line.get_xdata()) == 3 for line in joins)


def test_compare_reads_the_same_numbers_as_the_per_subject_means(store: Store) -> None:
    """The streamed table the chart reads agrees with subject_posture_means, value by value."""
    from posturetest.store import results

    values = plots.subject_values(store, EVERYTHING)
    for r, rating in enumerate(results.RATINGS):
        expected: dict[tuple[str, str], list[float]] = {}
        for test, _subject, posture, mean, _n in results.subject_posture_means(
            store, EVERYTHING, rating
        ):
            expected.setdefault((test, posture), []).append(mean)
        for test, matrix in values.items():
            for i, posture in enumerate(Posture):
                column = matrix[:, r * 3 + i]
                got = sorted(float(v) for v in column[column == column])  # NaN != NaN
                assert got == pytest.approx(sorted(expected[(test.value, posture.value)]))


def test_large_groups_are_sampled_and_lose_their_lines(
    store: Store, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr("posturetest.plots.by_posture.MAX_POINTS", 2)
    monkeypatch.setattr("posturetest.plots.by_posture.PAIRED_LINES_UP_TO", 1)
    fig = plots.compare(store, EVERYTHING)
    text = all_text(fig)
    assert "a random 2 per group shown" in text and "the same subject" not in text
    for ax in plot_axes(fig):
        points = [c for c in ax.collections if isinstance(c, PathCollection)]
        assert [len(c.get_offsets()) for c in points] == [2, 2, 2]


def test_agreement_is_per_test_and_posture_on_both_scales(store: Store) -> None:
    fig = plots.agreement(store, EVERYTHING)
    axes = plot_axes(fig)
    assert len(axes) == 6  # 2 tests x 3 postures
    ease, stability = SCALES["subject_ease"], SCALES["tester_stability"]
    assert all(ease.question in flat(ax.get_xlabel()) for ax in axes[3:])
    assert stability.question in flat(axes[0].get_ylabel())
    assert stability.question in flat(axes[3].get_ylabel())
    for ax, posture in zip(axes, list(Posture) * 2, strict=True):
        assert ax.get_title().startswith(POSTURES[posture].label)
    trials = 5 * 6 - 1  # five sessions of six trials, one stopped
    assert f"{trials} rated trials" in fig.get_suptitle()
    assert "3 subjects" in fig.get_suptitle()
    text = all_text(fig)
    assert "Vertical test: both ranked the same posture best in 5 of 5 sessions (100%)" in text


def test_history_follows_one_subject_across_sessions(store: Store) -> None:
    fig = plots.history(store, "S-001")
    axes = plot_axes(fig)
    assert len(axes) == 4
    assert "Subject S-001" in fig.get_suptitle()
    assert "3 sessions from 2026-03-02 to 2026-05-02" in fig.get_suptitle()
    assert "one subject" in fig.get_suptitle()
    for ax in axes:
        assert len(ax.get_lines()) == 3
    for ax in axes[2:]:  # the bottom row carries the shared dates
        assert [t.get_text() for t in ax.get_xticklabels()] == [
            "2026-03-02",
            "2026-04-02",
            "2026-05-02",
        ]
    skeleton = axes[2].get_lines()[2]  # tester stability, vertical test
    assert list(skeleton.get_ydata()) == [8, 9, 10]
    assert SCALES["tester_stability"].question in flat(axes[2].get_ylabel())


def test_order_shows_each_position(store: Store) -> None:
    fig = plots.order(store, EVERYTHING)
    axes = plot_axes(fig)
    assert len(axes) == 2
    for ax, rating in zip(axes, ("subject_ease", "tester_stability"), strict=True):
        assert SCALES[rating].question in flat(ax.get_ylabel())
        assert "Position of the trial within its test" in ax.get_xlabel()
        assert len(ax.get_lines()) == 2  # one per test
        assert list(ax.get_xticks()) == [1, 2, 3]
    assert "29 rated trials of 3 subjects" in fig.get_suptitle()
    assert "3 subjects" in fig.get_suptitle()


def test_session_chart_has_both_ratings_per_posture(
    study: tuple[Path, list[str]], store: Store
) -> None:
    fig = plots.session_chart(store, study[1][0])
    axes = plot_axes(fig)
    assert [ax.get_title() for ax in axes] == [TESTS[t].label for t in TESTS]
    for ax in axes:
        heights = [bar.get_height() for bar in ax.patches]
        assert heights == [2, 3, 4, 5, 7, 8]  # subject then tester, per posture
    assert "Subject S-001" in fig.get_suptitle()


def posture_colours(fig: Figure, kind: str) -> list[tuple[float, float, float]]:
    """The colour each posture gets in a chart, in posture order."""
    ax = plot_axes(fig)[0]
    if kind == "compare":
        return [to_rgb(box.get_edgecolor()) for box in ax.patches]
    if kind == "agreement":
        return [
            to_rgb(
                next(c for c in a.collections if isinstance(c, PathCollection)).get_facecolor()[0]
            )
            for a in plot_axes(fig)[:3]
        ]
    if kind == "history":
        return [to_rgb(line.get_color()) for line in ax.get_lines()]
    return [to_rgb(bar.get_edgecolor()) for bar in ax.patches[::2]]


@pytest.mark.parametrize("kind", ["compare", "agreement", "history", "session"])
def test_each_posture_has_its_colour_in_every_chart(
    study: tuple[Path, list[str]], store: Store, kind: str
) -> None:
    fig = plots.session_chart(store, study[1][0]) if kind == "session" else draw(kind, store)
    expected = [POSTURE_COLOURS[p] for p in Posture]
    assert all(
        same_color(got, want)
        for got, want in zip(posture_colours(fig, kind), expected, strict=True)
    )
    assert plots.POSTURE_COLOURS is POSTURE_COLOURS  # the terminal chart uses the same ones


@pytest.mark.parametrize("kind", KINDS)
def test_no_matching_trials_draw_a_figure_that_says_so(store: Store, kind: str) -> None:
    nobody = Selection(subjects=("NOBODY",))
    if kind == "history":
        fig = plots.history(store, "NOBODY")
    else:
        fig = {"compare": plots.compare, "agreement": plots.agreement, "order": plots.order}[kind](
            store, nobody
        )
    assert plot_axes(fig) == []
    assert plots.NO_DATA in all_text(fig)


def test_an_empty_database_plots_the_no_data_figure(tmp_path: Path) -> None:
    db = tmp_path / "empty.db"
    Store(db).close()
    out = tmp_path / "empty.png"
    result = invoke("--db", str(db), "plot", "compare", "--out", str(out))
    assert result.exit_code == 0, result.output
    assert_valid(out, "png")


# -- command line refusals --------------------------------------------------------------------


def test_plot_refuses_a_bad_suffix(study: tuple[Path, list[str]], tmp_path: Path) -> None:
    out = tmp_path / "chart.gif"
    line = one_line_refusal(invoke("--db", str(study[0]), "plot", "compare", "--out", str(out)))
    assert "chart.gif" in line and ".png, .svg or .pdf" in line
    assert not out.exists()


def test_plot_history_needs_a_subject(study: tuple[Path, list[str]], tmp_path: Path) -> None:
    out = tmp_path / "h.png"
    line = one_line_refusal(invoke("--db", str(study[0]), "plot", "history", "--out", str(out)))
    assert "--subject" in line
    two = invoke(
        "--db", str(study[0]), "plot", "history", "--out", str(out),
        "--subject", "S-001", "--subject", "S-002",
    )  # fmt: skip
    assert "--subject" in one_line_refusal(two)
    assert not out.exists()


def test_plot_refuses_a_missing_database(tmp_path: Path) -> None:
    db = tmp_path / "nowhere.db"
    out = tmp_path / "c.png"
    line = one_line_refusal(invoke("--db", str(db), "plot", "compare", "--out", str(out)))
    assert "does not exist" in line
    assert not db.exists() and not out.exists()


def test_plot_refuses_an_unknown_kind_and_a_missing_out(study: tuple[Path, list[str]]) -> None:
    assert invoke("--db", str(study[0]), "plot", "pie", "--out", "x.png").exit_code == 2
    assert invoke("--db", str(study[0]), "plot", "compare").exit_code == 2


def test_report_refuses_an_unknown_session_and_a_bad_suffix(
    study: tuple[Path, list[str]], tmp_path: Path
) -> None:
    out = tmp_path / "r.pdf"
    line = one_line_refusal(
        invoke("--db", str(study[0]), "report", "no-such-id", "--out", str(out))
    )
    assert "no session no-such-id" in line
    png = tmp_path / "r.png"
    line = one_line_refusal(invoke("--db", str(study[0]), "report", study[1][0], "--out", str(png)))
    assert ".pdf" in line
    missing = tmp_path / "nowhere.db"
    line = one_line_refusal(invoke("--db", str(missing), "report", study[1][0], "--out", str(out)))
    assert "does not exist" in line
    assert list(tmp_path.iterdir()) == []


# -- the session report -----------------------------------------------------------------------


def report_text(path: Path) -> str:
    reader = PdfReader(path)
    assert len(reader.pages) == 1
    return flat(reader.pages[0].extract_text())


def test_report_is_one_page_with_everything_the_subject_needs(
    study: tuple[Path, list[str]], tmp_path: Path
) -> None:
    out = tmp_path / "report.pdf"
    result = invoke("--db", str(study[0]), "report", study[1][0], "--out", str(out))
    assert result.exit_code == 0, result.output
    assert result.stderr == f"Wrote {out}\n"
    page = PdfReader(out).pages[0]
    assert (float(page.mediabox.width), float(page.mediabox.height)) == pytest.approx(
        (595.4, 841.7), abs=1
    )  # A4
    text = report_text(out)
    for expected in [
        "S-001",
        "Robin",
        "2 March 2026, 09:00 UTC",
        "Sitting",
        "Vertical test",
        "Anterior test",
        "Skeleton type",
        "1 Skeleton 2 Muscle 3 Ligament",  # the subject's ranking
        "1 Skeleton 2 Ligament 3 Muscle",  # the tester's
        "the skeleton type held best",
        "not a diagnosis",
        "clinician",
    ]:
        assert expected in text, expected
    assert PdfReader(out).metadata.title == "Posture stress test: S-001, 2026-03-02"  # type: ignore[union-attr]


def test_report_table_and_stopped_trials(study: tuple[Path, list[str]], tmp_path: Path) -> None:
    out = tmp_path / "stopped.pdf"
    with Store(study[0]) as store:
        write_report(store, study[1][4], out)
    text = report_text(out)
    assert "1 trial was stopped" in text and "anterior test, ligament type (discomfort)" in text
    assert "0 of 1" in text  # the stopped trial's posture has no rated trial


def test_report_summary_from_the_ratings_alone() -> None:
    """Without rankings the summary goes by the means, ties named together."""
    means = [
        PostureResult(Posture.LIGAMENT, 2, 9, 1, 1),
        PostureResult(Posture.MUSCLE, 7, 4, 1, 1),
        PostureResult(Posture.SKELETON, 7, 5, 1, 1),
    ]
    sentence = summary_sentence(StressTest.VERTICAL, None, means)
    assert sentence.startswith("Vertical test: by the ratings,")
    assert "the muscle and skeleton types felt the easiest to you" in sentence
    assert "the ligament type looked the most stable to your tester" in sentence
    same = [PostureResult(p, 6, 6, 1, 1) for p in Posture]
    assert "got the same ratings" in summary_sentence(StressTest.VERTICAL, None, same)
    nothing = [PostureResult(p, None, None, 0, 1) for p in Posture]
    assert "no trial was rated" in summary_sentence(StressTest.VERTICAL, None, nothing)


def test_report_figure_fits_the_page(study: tuple[Path, list[str]], store: Store) -> None:
    """Nothing is drawn below the bottom margin or off the page."""
    from matplotlib.backends.backend_agg import FigureCanvasAgg

    fig = build_report(store, study[1][4])
    canvas = FigureCanvasAgg(fig)
    canvas.draw()  # places the axis labels
    renderer = canvas.get_renderer()
    page = fig.bbox
    for text in fig.findobj(lambda a: hasattr(a, "get_text")):
        if not text.get_text():  # type: ignore[attr-defined]
            continue
        box = text.get_window_extent(renderer)  # type: ignore[attr-defined]
        assert box.x0 >= page.x0 - 1 and box.x1 <= page.x1 + 1, text
        assert box.y0 >= page.y0 - 1 and box.y1 <= page.y1 + 1, text


# -- heavy imports ----------------------------------------------------------------------------

HEAVY = {"matplotlib", "scipy", "pandas"}


@pytest.mark.parametrize(
    "argv", [["--help"], ["export", "--help"], ["plot", "--help"], ["report", "--help"]]
)
def test_help_and_export_never_import_plotting(argv: list[str]) -> None:
    code = textwrap.dedent(
        f"""
        import json, sys
        from posturetest.cli import main
        try:
            main({argv!r})
        except SystemExit:
            pass
        print("MODULES=" + json.dumps(sorted(sys.modules)))
        """
    )
    probe = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, timeout=60, env=os.environ
    )
    line = [x for x in probe.stdout.splitlines() if x.startswith("MODULES=")][-1]
    loaded = {m.split(".")[0] for m in json.loads(line.removeprefix("MODULES="))}
    assert "posturetest" in loaded
    assert not loaded & HEAVY


def test_the_terminal_app_starts_without_plotting(tmp_path: Path) -> None:
    """The TUI's first screen, painted for real in a subprocess, loads no chart library."""
    code = textwrap.dedent(
        """
        import json, sys
        from textual.app import App
        real_run = App.run

        def run_until_painted(self, *args, **kwargs):
            async def leave(pilot):
                await pilot.pause()
                pilot.app.exit()
            return real_run(self, *args, headless=True, auto_pilot=leave)

        App.run = run_until_painted
        from posturetest.cli import main
        try:
            main(["--db", sys.argv[1]])
        except SystemExit:
            pass
        print("MODULES=" + json.dumps(sorted(sys.modules)))
        """
    )
    probe = subprocess.run(
        [sys.executable, "-c", code, str(tmp_path / "tui.db")],
        capture_output=True,
        text=True,
        timeout=60,
    )
    line = [x for x in probe.stdout.splitlines() if x.startswith("MODULES=")][-1]
    loaded = {m.split(".")[0] for m in json.loads(line.removeprefix("MODULES="))}
    assert "textual" in loaded
    assert not loaded & HEAVY


def test_export_itself_never_imports_plotting(study: tuple[Path, list[str]]) -> None:
    code = textwrap.dedent(
        f"""
        import json, sys
        from posturetest.cli import main
        try:
            main(["--db", {str(study[0])!r}, "export", "--format", "csv", "--out", "/dev/null"])
        except SystemExit as e:
            assert not e.code, e.code
        print("MODULES=" + json.dumps(sorted(sys.modules)))
        """
    )
    probe = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60)
    assert probe.returncode == 0, probe.stderr
    line = [x for x in probe.stdout.splitlines() if x.startswith("MODULES=")][-1]
    assert not {m.split(".")[0] for m in json.loads(line.removeprefix("MODULES="))} & HEAVY

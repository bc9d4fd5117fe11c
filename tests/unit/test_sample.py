"""The synthetic sample study: deterministic, committed as generated, valid, and realistic."""

from __future__ import annotations

import csv
import json
import re
import statistics
import subprocess
import sys
from collections import defaultdict
from pathlib import Path

import pytest
from click.testing import CliRunner

from posturetest.cli import main
from posturetest.domain import OrderScheme, StressTest, plan_session
from posturetest.domain.interchange import RANKING_COLUMNS, SESSION_COLUMNS, TRIAL_COLUMNS
from posturetest.export import DATAPACKAGE_MEMBERS
from posturetest.importing import import_file
from posturetest.sample import TITLE, generate, write_sample
from posturetest.store import Store

ROOT = Path(__file__).resolve().parents[2]
SAMPLE = ROOT / "data" / "sample"
DATA_README = ROOT / "data" / "README.md"
PACKAGE_FILES = sorted(DATAPACKAGE_MEMBERS)


def _readme_command() -> list[str]:
    """The exact arguments data/README.md says made the sample."""
    text = DATA_README.read_text(encoding="utf-8")
    match = re.search(r"posturetest sample --out data/sample --subjects (\d+) --seed (\d+)", text)
    assert match, "data/README.md does not show the command that made data/sample"
    return ["--subjects", match[1], "--seed", match[2]]


def _rows(name: str) -> list[dict[str, str]]:
    with (SAMPLE / name).open(encoding="utf-8", newline="") as f:
        return list(csv.DictReader(f))


def _rated(trials: list[dict[str, str]]) -> list[dict[str, str]]:
    return [t for t in trials if t["outcome"] == "rated"]


# -- the generator -------------------------------------------------------------------------------


def test_same_seed_gives_the_same_rows() -> None:
    assert generate(12, 7) == generate(12, 7)


def test_another_seed_gives_other_rows() -> None:
    a, b = generate(12, 7), generate(12, 8)
    assert a.trials != b.trials
    assert {t["trial_id"] for t in a.trials}.isdisjoint(t["trial_id"] for t in b.trials)


def test_rows_have_the_interchange_columns_in_order() -> None:
    study = generate(6, 1)
    assert all(tuple(s) == SESSION_COLUMNS for s in study.sessions)
    assert all(tuple(t) == TRIAL_COLUMNS for t in study.trials)
    assert all(tuple(r) == RANKING_COLUMNS for r in study.rankings)


def test_a_study_needs_a_subject() -> None:
    with pytest.raises(ValueError):
        generate(0, 1)


def test_posture_orders_follow_the_balanced_plan() -> None:
    """Subject SYN-00k was enrolled (k-1)-th, so the plan of that index is the order used."""
    study = generate(14, 3)
    sessions = {s["session_id"]: s for s in study.sessions}
    by_session: dict[object, list[tuple[str, str, int]]] = defaultdict(list)
    for t in sorted(study.trials, key=lambda t: (str(t["session_id"]), int(str(t["seq"])))):
        by_session[t["session_id"]].append((str(t["test"]), str(t["posture"]), int(str(t["rep"]))))
    for session_id, used in by_session.items():
        session = sessions[session_id]
        plan = plan_session(
            tests=(StressTest.VERTICAL, StressTest.ANTERIOR),
            repetitions=int(str(session["repetitions"])),
            scheme=OrderScheme.BALANCED,
            enrolment_index=int(str(session["subject"]).removeprefix("SYN-")) - 1,
        )
        assert used == [(p.test.value, p.posture.value, p.rep) for p in plan]


def test_times_run_forward_within_each_session() -> None:
    study = generate(10, 5)
    sessions = {s["session_id"]: s for s in study.sessions}
    for t in study.trials:
        session = sessions[t["session_id"]]
        if t["rated_at"] is not None:
            assert str(session["started_at"]) < str(t["rated_at"]) <= str(session["ended_at"])
    for s in study.sessions:
        assert "2026-01-05" <= str(s["started_at"])[:10] <= "2026-03-27"


def test_writing_a_sample_imports_nothing_heavy(tmp_path: Path) -> None:
    code = (
        "import sys; from pathlib import Path; from posturetest.sample import write_sample; "
        f"write_sample(Path({str(tmp_path)!r}), 3, 1); "
        "print(sorted(m for m in ('matplotlib', 'scipy', 'textual') if m in sys.modules))"
    )
    out = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=True
    ).stdout
    assert out.strip() == "[]"


# -- the committed sample ------------------------------------------------------------------------


def test_committed_sample_is_what_the_readme_command_makes(tmp_path: Path) -> None:
    out = tmp_path / "sample"
    result = CliRunner().invoke(main, ["sample", "--out", str(out), *_readme_command()])
    assert result.exit_code == 0, result.output
    assert sorted(p.name for p in out.iterdir()) == PACKAGE_FILES
    assert sorted(p.name for p in SAMPLE.iterdir()) == PACKAGE_FILES
    for name in PACKAGE_FILES:
        assert (out / name).read_bytes() == (SAMPLE / name).read_bytes(), (
            f"data/sample/{name} is out of date: regenerate it as data/README.md says"
        )


def test_readme_says_the_data_is_synthetic() -> None:
    text = DATA_README.read_text(encoding="utf-8")
    assert "SYNTHETIC" in text and "not from real people" in text
    assert "posturetest export --format codebook" in text


def test_descriptor_is_labelled_synthetic() -> None:
    descriptor = json.loads((SAMPLE / "datapackage.json").read_text(encoding="utf-8"))
    assert descriptor["title"] == TITLE
    assert "SYNTHETIC" in descriptor["description"]
    assert "posturetest sample --subjects 40 --seed 2026" in descriptor["description"]
    assert all(t["subject"].startswith("SYN-") for t in _rows("trials.csv"))


def test_sample_passes_frictionless_validate() -> None:
    from frictionless import validate

    report = validate(str(SAMPLE / "datapackage.json"))
    assert report.valid, report.flatten(["rowNumber", "fieldName", "type", "note"])[:10]


def test_sample_imports_into_an_empty_database(tmp_path: Path) -> None:
    """The importer checks every row against the protocol: any bad row would refuse it all."""
    with Store(tmp_path / "sample.db") as store:
        report = import_file(store, SAMPLE / "datapackage.json")
        assert report.trials_added == len(_rows("trials.csv"))
        assert report.sessions_added == len(_rows("sessions.csv"))
        assert report.rankings_added == len(_rows("rankings.csv"))
        assert report.subjects_added == 40
        again = import_file(store, SAMPLE / "datapackage.json")
        assert not again.changed


# -- realism (loose bounds: the point is a plausible study, not particular numbers) --------------


def test_skeleton_holds_better_than_ligament_on_average() -> None:
    rated = _rated(_rows("trials.csv"))

    def mean(posture: str, column: str) -> float:
        return statistics.mean(int(t[column]) for t in rated if t["posture"] == posture)

    for column in ("tester_stability", "subject_ease"):
        assert mean("skeleton", column) > mean("muscle", column) > mean("ligament", column)


def test_not_everyone_holds_skeleton_best() -> None:
    scores: dict[str, dict[str, list[int]]] = defaultdict(lambda: defaultdict(list))
    for t in _rated(_rows("trials.csv")):
        scores[t["subject"]][t["posture"]].append(int(t["tester_stability"]))
    best = [max(s, key=lambda p: statistics.mean(s[p])) for s in scores.values()]
    assert 0 < sum(b != "skeleton" for b in best) < len(best) / 2


def test_subject_and_tester_agree_only_roughly() -> None:
    rated = _rated(_rows("trials.csv"))
    r = statistics.correlation(
        [float(t["tester_stability"]) for t in rated], [float(t["subject_ease"]) for t in rated]
    )
    assert 0.3 < r < 0.95
    assert sum(t["tester_stability"] != t["subject_ease"] for t in rated) > len(rated) / 2


def test_ratings_use_most_of_the_scale() -> None:
    values = {int(t["tester_stability"]) for t in _rated(_rows("trials.csv"))}
    assert min(values) <= 2 and max(values) >= 9


def test_some_trials_are_stopped_and_some_sessions_end_early() -> None:
    trials = _rows("trials.csv")
    stopped = [t for t in trials if t["outcome"] == "stopped"]
    assert 0.005 < len(stopped) / len(trials) < 0.06
    assert all(t["stop_reason"] for t in stopped)
    ended_early = {s["session_id"] for s in _rows("sessions.csv") if s["status"] == "stopped"}
    assert 1 <= len(ended_early) <= 2
    skipped = {t["session_id"] for t in trials if t["outcome"] == "skipped"}
    assert skipped == ended_early


def test_discomfort_is_higher_in_ligament_and_muscle() -> None:
    rated = [t for t in _rated(_rows("trials.csv")) if t["discomfort"]]

    def mean(posture: str) -> float:
        return statistics.mean(int(t["discomfort"]) for t in rated if t["posture"] == posture)

    assert min(mean("ligament"), mean("muscle")) > mean("skeleton") + 1


def test_some_sessions_record_effort_and_some_do_not() -> None:
    flags = {s["record_effort"] for s in _rows("sessions.csv")}
    assert flags == {"0", "1"}


def test_rankings_from_both_roles_mostly_follow_the_ratings() -> None:
    rankings = _rows("rankings.csv")
    assert {r["role"] for r in rankings} == {"subject", "tester"}
    trials = _rated(_rows("trials.csv"))
    means: dict[tuple[str, str, str], list[int]] = defaultdict(list)
    for t in trials:
        means[(t["session_id"], t["test"], t["posture"])].append(int(t["tester_stability"]))
    firsts = [
        r for r in rankings if r["role"] == "tester" and r["rank"] == "1"
    ]  # the tester's most stable posture per test
    follows = 0
    for r in firsts:
        scores = {
            p: statistics.mean(v)
            for (s, test, p), v in means.items()
            if s == r["session_id"] and test == r["test"]
        }
        follows += scores[r["posture"]] == max(scores.values())
    assert 0.6 < follows / len(firsts) < 1.0


# -- the command ---------------------------------------------------------------------------------


def test_sample_command_writes_a_package(tmp_path: Path) -> None:
    out = tmp_path / "study"
    result = CliRunner().invoke(main, ["sample", "--out", str(out), "--subjects", "5"])
    assert result.exit_code == 0, result.output
    assert result.stderr == f"Wrote a synthetic study of 5 subjects to {out}/\n"
    assert sorted(p.name for p in out.iterdir()) == PACKAGE_FILES
    subjects = {row["subject"] for row in csv.DictReader((out / "sessions.csv").open())}
    assert subjects == {f"SYN-00{i}" for i in range(1, 6)}
    assert "--subjects 5 --seed 2026" in (out / "datapackage.json").read_text()


def test_sample_command_is_deterministic(tmp_path: Path) -> None:
    for name in ("a", "b"):
        args = ["sample", "--out", str(tmp_path / name), "--subjects", "4", "--seed", "11"]
        assert CliRunner().invoke(main, args).exit_code == 0
    for name in PACKAGE_FILES:
        assert (tmp_path / "a" / name).read_bytes() == (tmp_path / "b" / name).read_bytes()


def test_sample_command_refuses_a_file_as_out(tmp_path: Path) -> None:
    target = tmp_path / "taken.txt"
    target.write_text("mine")
    result = CliRunner().invoke(main, ["sample", "--out", str(target)])
    assert result.exit_code == 2
    assert result.stderr == f"posturetest: {target} exists and is not a folder\n"
    assert target.read_text() == "mine"


@pytest.mark.parametrize("subjects", ["0", "-3", "many"])
def test_sample_command_refuses_a_bad_subject_count(tmp_path: Path, subjects: str) -> None:
    result = CliRunner().invoke(
        main, ["sample", "--out", str(tmp_path / "x"), "--subjects", subjects]
    )
    assert result.exit_code == 2
    assert "Traceback" not in result.output
    assert not (tmp_path / "x").exists()


def test_write_sample_returns_what_it_wrote(tmp_path: Path) -> None:
    study = write_sample(tmp_path, 3, 9)
    assert len(study.trials) == len(list(csv.DictReader((tmp_path / "trials.csv").open()))) > 0

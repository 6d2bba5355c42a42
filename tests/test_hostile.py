"""Hostile and mistaken input, and faults, as a user and an unlucky operator would meet them.

Every case asserts the exact behaviour: exit status, the words of the message (which name the
file, column or option and the rule), no traceback, and which files exist afterwards. Fault
cases render a tiny notebook instead of a full report (``BatchOptions.provider_notebook``), so
they take seconds; they are marked slow but run in ``make test``.
"""

from __future__ import annotations

import json
import os
import signal
import stat
import subprocess
import sys
import threading
import time
from pathlib import Path

import nbformat
import pandas as pd
import pytest
import yaml
from hypothesis import given, settings
from hypothesis import strategies as st

from cocEval.batch import BatchOptions, OutputLock, report_filename, run_reports
from cocEval.cli import main
from cocEval.errors import BatchError, CocEvalError, InputError, UsageError

ROOT = Path(__file__).resolve().parents[1]
MONTHS = [f"{y}-{m:02d}" for y in (2022, 2023) for m in range(1, 13)]

# ------------------------------------------------------------------------------------------
# Fixtures: a tiny valid programme, its config, tiny notebooks
# ------------------------------------------------------------------------------------------


def tiny_tables() -> dict[str, pd.DataFrame]:
    """Three providers (P1 starts 2023-01, P2 2023-06, P3 never), one ward each, 24 months."""
    part = pd.DataFrame(
        {
            "provider_id": ["P1", "P2", "P3"],
            "provider_name": ["Alpha Trust", "Beta Trust", "Gamma Trust"],
            "cohort": ["Cohort 1", "Cohort 2", ""],
            "start_month": ["2023-01", "2023-06", ""],
            "coaching_end_month": ["2024-06", "2024-12", ""],
            "wards_enrolled": [1, 1, 0],
            "region": ["London", "Midlands", "North West"],
        }
    )
    rows = []
    for i, pid in enumerate(["P1", "P2", "P3"]):
        for j, m in enumerate(MONTHS):
            t = 10 + (i + j) % 7
            rows.append(
                {
                    "provider_id": pid,
                    "ward_id": f"{pid}-W1",
                    "month": m,
                    "occupied_bed_days": 600,
                    "restrictive_interventions": t,
                    "physical_restraint": t - 3,
                    "prone_restraint": 1,
                    "seclusion": 2,
                    "segregation": 1,
                    "chemical_restraint": 0,
                    "mechanical_restraint": 0,
                    "people_restricted": 4,
                }
            )
    rp = pd.DataFrame(rows)
    pe = rp[["provider_id", "ward_id", "month"]].assign(responses=20, positive_responses=15)
    ss = pd.DataFrame(
        [
            {
                "provider_id": pid,
                "survey_year": y,
                "respondents": 500,
                "engagement": 6.5,
                "morale": 6.0,
                "violence_from_patients": 50,
                "harassment_from_patients": 60,
                "discrimination_from_patients": 20,
                "recommend_workplace": 300,
            }
            for pid in ["P1", "P2", "P3"]
            for y in (2021, 2022, 2023)
        ]
    )
    return {"participation": part, "restrictive_practice": rp, "patient_experience": pe, "staff_survey": ss}


def write_tables(tables: dict[str, pd.DataFrame], folder: Path) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    for name, df in tables.items():
        df.to_csv(folder / f"{name}.csv", index=False)
    return folder


@pytest.fixture
def data(tmp_path) -> Path:
    return write_tables(tiny_tables(), tmp_path / "data")


def make_config(folder: Path, data_dir: Path, **changes) -> Path:
    raw = yaml.safe_load((ROOT / "params" / "programme.yaml").read_text())
    raw["data_dir"] = str(data_dir)
    for dotted, value in changes.items():
        node = raw
        *path, last = dotted.split("__")
        for k in path:
            node = node.setdefault(k, {})
        node[last] = value
    path = folder / "programme.yaml"
    path.write_text(yaml.safe_dump(raw))
    return path


@pytest.fixture
def config(tmp_path, data) -> Path:
    return make_config(tmp_path, data)


def notebook(path: Path, code: str) -> Path:
    """A tiny report notebook with the batch's parameters; ``code`` runs as its one cell."""
    nb = nbformat.v4.new_notebook(
        metadata={"kernelspec": {"name": "cocEval", "display_name": "cocEval", "language": "python"}}
    )
    params = nbformat.v4.new_code_cell("provider_id = None\ndata_dir = None\nconfig = None\nsummary_path = None")
    params.metadata["tags"] = ["parameters"]
    nb.cells = [params, nbformat.v4.new_code_cell(code), nbformat.v4.new_markdown_cell("# A tiny report")]
    nbformat.write(nb, path)
    return path


def pid_notebook(tmp_path: Path, extra: str = "", sleep: float = 0.0) -> tuple[Path, Path]:
    """A notebook that records its kernel pid in ``pids/<provider>``, sleeps, writes a summary."""
    pids = tmp_path / "pids"
    pids.mkdir(exist_ok=True)
    code = (
        "import os, json, time, pathlib\n"
        f"pathlib.Path({str(pids)!r}, str(provider_id or 'programme')).write_text(str(os.getpid()))\n"
        f"{extra}\n"
        f"time.sleep({sleep})\n"
        "print('report for', provider_id)\n"
        "json.dump({'provider': str(provider_id)}, open(summary_path, 'w'))\n"
    )
    return notebook(tmp_path / "tiny.ipynb", code), pids


def cli(capsys, *args) -> tuple[int, str]:
    status = main([str(a) for a in args])
    err = capsys.readouterr().err
    return status, err


def assert_clean_error(status: int, err: str, *words: str, one_line: bool = True) -> None:
    assert status == 2, err
    assert "Traceback" not in err, err
    assert err.startswith("error: "), err
    if one_line:
        assert len(err.strip().splitlines()) == 1, err
    for w in words:
        assert w in err, (w, err)


def no_reports(out: Path) -> None:
    assert not (out / "providers").exists() and not (out / "programme.html").exists()
    assert not (out / "index.html").exists()


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    try:  # a zombie is dead for our purposes
        return Path(f"/proc/{pid}/stat").read_text().split()[2] != "Z"
    except OSError:
        return False


def _wait_for(predicate, timeout: float = 120.0) -> None:
    t0 = time.monotonic()
    while not predicate():
        if time.monotonic() - t0 > timeout:
            raise AssertionError("timed out waiting")
        time.sleep(0.1)


# ------------------------------------------------------------------------------------------
# Bad data files: `validate` and `reports` stop with one line, exit 2, nothing written
# ------------------------------------------------------------------------------------------


def _mutate(data: Path, table: str, fn) -> None:
    path = data / f"{table}.csv"
    df = pd.read_csv(path, dtype=str, keep_default_na=False)
    fn(df)
    df.to_csv(path, index=False)


def _set(table, column, row, value):
    def fn(df):
        df.loc[row, column] = value

    return table, fn


BAD_CELLS = {
    "count 1e20": (*_set("restrictive_practice", "seclusion", 3, "1e20"), ["seclusion", "count below 1,000,000,000"]),
    "count 4e18": (*_set("restrictive_practice", "segregation", 3, "4e18"), ["segregation", "count below"]),
    "count 1e9": (*_set("patient_experience", "responses", 0, "1000000000"), ["responses", "count below"]),
    "bed days 2e9": (*_set("restrictive_practice", "occupied_bed_days", 1, "2000000000"), ["occupied_bed_days"]),
    "respondents 1e12": (*_set("staff_survey", "respondents", 1, "1e12"), ["respondents", "count below"]),
    "negative count": (*_set("restrictive_practice", "seclusion", 2, "-1"), ["seclusion", "non-negative integer"]),
    "fractional count": (*_set("patient_experience", "responses", 2, "2.5"), ["responses", "non-negative integer"]),
    "text count": (*_set("restrictive_practice", "chemical_restraint", 2, "lots"), ["chemical_restraint", "number"]),
    "month 2031": (*_set("restrictive_practice", "month", 5, "2031-01"), ["month", "2000-01 to the current month"]),
    "month 1999": (*_set("patient_experience", "month", 5, "1999-12"), ["month", "2000-01 to the current month"]),
    "start month 2031": (*_set("participation", "start_month", 0, "2031-01"), ["start_month", "current month"]),
    "month with slash": (*_set("restrictive_practice", "month", 0, "2022/01"), ["month", "YYYY-MM"]),
    "id traversal": (*_set("participation", "provider_id", 2, "../../evil"), ["provider_id", "letters, digits"]),
    "id absolute": (*_set("participation", "provider_id", 2, "/etc/passwd"), ["provider_id", "letters, digits"]),
    "id backslash": (*_set("participation", "provider_id", 2, "a\\b"), ["provider_id", "letters, digits"]),
    "id dot": (*_set("participation", "provider_id", 2, "x.html"), ["provider_id", "letters, digits"]),
    "id space": (*_set("participation", "provider_id", 2, "P 3"), ["provider_id", "letters, digits"]),
    "id unicode": (*_set("participation", "provider_id", 2, "Pé"), ["provider_id", "letters, digits"]),
    "id too long": (*_set("participation", "provider_id", 2, "P" * 41), ["provider_id", "1-40"]),
    "id programme": (*_set("participation", "provider_id", 2, "programme"), ["provider_id", "reserved name"]),
    "id Index": (*_set("participation", "provider_id", 2, "Index"), ["provider_id", "reserved name"]),
    "id NUL": (*_set("participation", "provider_id", 2, "NUL"), ["provider_id", "reserved name"]),
    "id manifest": (*_set("participation", "provider_id", 2, "MANIFEST"), ["provider_id", "reserved name"]),
    "id empty": (*_set("participation", "provider_id", 2, ""), ["provider_id", "no missing values"]),
    "id case clash": (*_set("participation", "provider_id", 2, "p1"), ["provider_id", "unique ignoring case"]),
    "id duplicate": (*_set("participation", "provider_id", 2, "P1"), ["provider_id", "unique"]),
    "ward blank": (*_set("restrictive_practice", "ward_id", 0, " "), ["ward_id", "non-blank"]),
    "unknown provider in table": (
        *_set("patient_experience", "provider_id", 0, "P9"),
        ["patient_experience.csv", "provider_id", "provider appears in participation.csv"],
    ),
    "month missing on every row": (
        "restrictive_practice",
        lambda df: df.__setitem__("month", ""),
        ["restrictive_practice.csv", "month", "no missing values"],
    ),
    "data end before first start": (
        "participation",
        lambda df: df.__setitem__("start_month", ["2024-03", "2024-06", ""]),
        ["start_month", "start month inside the data range"],
    ),
    "interventions with zero bed days": (
        *_set("restrictive_practice", "occupied_bed_days", 0, "0"),
        ["occupied_bed_days positive where interventions were counted"],
    ),
    "more than 24 interventions per bed day": (
        "restrictive_practice",
        lambda df: df.loc[0, ["occupied_bed_days", "restrictive_interventions", "physical_restraint"]].pipe(
            lambda _: (
                df.__setitem__("restrictive_interventions", df["restrictive_interventions"].where(df.index != 0, "30"))
                or df.__setitem__("physical_restraint", df["physical_restraint"].where(df.index != 0, "26"))
                or df.__setitem__("occupied_bed_days", df["occupied_bed_days"].where(df.index != 0, "1"))
            )
        ),
        ["restrictive_interventions at most 24 per occupied bed day"],
    ),
}


@pytest.mark.parametrize("case", sorted(BAD_CELLS))
def test_bad_cell_is_one_clear_error(case, data, capsys):
    table, fn, words = BAD_CELLS[case]
    _mutate(data, table, fn)
    status, err = cli(capsys, "validate", "--data", data)
    assert_clean_error(status, err, *words, one_line=False)
    assert f"{table}.csv" in err or table == "participation"


def test_people_restricted_above_bed_days(data, capsys):
    def fn(df):
        df.loc[0, ["occupied_bed_days", "restrictive_interventions", "physical_restraint", "seclusion"]] = [
            "2",
            "20",
            "17",
            "2",
        ]
        df.loc[0, "people_restricted"] = "3"

    _mutate(data, "restrictive_practice", fn)
    status, err = cli(capsys, "validate", "--data", data)
    assert_clean_error(status, err, "people_restricted <= occupied_bed_days", "row 1")


@pytest.mark.parametrize("table", ["participation", "restrictive_practice", "staff_survey"])
def test_zero_byte_file(table, data, capsys):
    (data / f"{table}.csv").write_bytes(b"")
    status, err = cli(capsys, "validate", "--data", data)
    assert_clean_error(status, err, f"{table}.csv", "file not empty", "0 bytes")


@pytest.mark.parametrize("table", ["participation", "restrictive_practice", "patient_experience", "staff_survey"])
def test_header_only_table(table, data, capsys):
    path = data / f"{table}.csv"
    path.write_text(path.read_text().splitlines()[0] + "\n")
    status, err = cli(capsys, "validate", "--data", data)
    assert_clean_error(status, err, f"{table}.csv", "at least one data row", "header only")


@pytest.mark.parametrize("encoding", ["latin-1", "cp1252"])
def test_latin1_file(encoding, data, capsys):
    t = tiny_tables()
    t["participation"].loc[0, "provider_name"] = "Café Trust"
    t["participation"].to_csv(data / "participation.csv", index=False, encoding=encoding)
    status, err = cli(capsys, "validate", "--data", data)
    assert_clean_error(status, err, "participation.csv", "UTF-8", "line 2")


def test_utf8_with_bom_is_accepted(data, capsys):
    t = tiny_tables()
    t["participation"].to_csv(data / "participation.csv", index=False, encoding="utf-8-sig")
    assert main(["validate", "--data", str(data)]) == 0


def test_whitespace_only_file(data, capsys):
    (data / "staff_survey.csv").write_text("\n\n  \n")
    status, err = cli(capsys, "validate", "--data", data)
    assert_clean_error(status, err, "staff_survey.csv", "file not empty")


def test_damaged_parquet(data, capsys):
    (data / "staff_survey.csv").unlink()
    (data / "staff_survey.parquet").write_bytes(b"PAR1 this is not parquet")
    status, err = cli(capsys, "validate", "--data", data)
    assert_clean_error(status, err, "staff_survey.parquet", "readable Parquet file")


def test_missing_table(data, capsys):
    (data / "participation.csv").unlink()  # the others are optional (published data), this one is not
    status, err = cli(capsys, "validate", "--data", data)
    assert_clean_error(status, err, "participation.csv", "file exists")


@pytest.mark.parametrize("text", [None, "- a list\n", "files: {nonsense: x.csv}\n", "colour: blue\n"])
def test_bad_mapping_file(text, data, tmp_path, capsys):
    mapping = tmp_path / "mapping.yaml"
    if text is not None:
        mapping.write_text(text)
    status, err = cli(capsys, "validate", "--data", data, "--mapping", mapping)
    assert_clean_error(status, err, "mapping.yaml")


def test_validate_missing_folder(tmp_path, capsys):
    status, err = cli(capsys, "validate", "--data", tmp_path / "nowhere")
    assert_clean_error(status, err, "data folder", "nowhere", "not found")


def test_validate_data_is_a_file(tmp_path, capsys):
    (tmp_path / "f.csv").write_text("x")
    status, err = cli(capsys, "validate", "--data", tmp_path / "f.csv")
    assert_clean_error(status, err, "is a file, not a folder")


@pytest.mark.parametrize("pid", ["NA", "NULL", "nan", "None", "N-A"])
def test_na_like_ids_are_ids(pid, data):
    from cocEval.data import load_programme

    _mutate(data, "participation", lambda df: df.__setitem__("provider_id", df["provider_id"].replace("P3", pid)))
    for t in ("restrictive_practice", "patient_experience", "staff_survey"):
        _mutate(data, t, lambda df: df.__setitem__("provider_id", df["provider_id"].replace("P3", pid)))
    prog = load_programme(data)
    assert pid in set(prog.participation["provider_id"])
    assert (prog.restrictive_practice["provider_id"] == pid).sum() == len(MONTHS)
    assert report_filename(pid) == f"{pid}.html"


def test_bad_data_writes_no_report(data, config, tmp_path, capsys):
    _mutate(data, *_set("restrictive_practice", "seclusion", 3, "1e20"))
    out = tmp_path / "out"
    status, err = cli(capsys, "reports", "--config", config, "--output", out, "--no-programme")
    assert_clean_error(status, err, "seclusion", "count below 1,000,000,000", one_line=False)
    assert not out.exists()


def test_no_provider_started_coaching(data, config, tmp_path, capsys):
    def fn(df):
        df["cohort"] = ""
        df["start_month"] = ""
        df["coaching_end_month"] = ""

    _mutate(data, "participation", fn)
    status, err = cli(capsys, "reports", "--config", config, "--output", tmp_path / "out")
    assert_clean_error(status, err, "participation", "start_month", "empty on every row")
    assert not (tmp_path / "out").exists()


# ------------------------------------------------------------------------------------------
# Bad config
# ------------------------------------------------------------------------------------------


def test_config_is_a_folder(tmp_path, capsys):
    status, err = cli(capsys, "reports", "--config", tmp_path, "--output", tmp_path / "out")
    assert_clean_error(status, err, "config", "is a folder", "YAML file")
    no_reports(tmp_path / "out")


def test_config_missing(tmp_path, capsys):
    status, err = cli(capsys, "reports", "--config", tmp_path / "none.yaml", "--output", tmp_path / "out")
    assert_clean_error(status, err, "config file not found", "none.yaml")


def test_config_not_yaml(tmp_path, capsys):
    (tmp_path / "c.yaml").write_text("outcomes: [unclosed\n  - x: {")
    status, err = cli(capsys, "reports", "--config", tmp_path / "c.yaml", "--output", tmp_path / "out")
    assert_clean_error(status, err, "not valid YAML")


def test_config_latin1(tmp_path, config, capsys):
    config.write_bytes(config.read_bytes().replace(b"Staff engagement", "Personnel engagé".encode("latin-1")))
    status, err = cli(capsys, "reports", "--config", config, "--output", tmp_path / "out")
    assert_clean_error(status, err, "not UTF-8", "programme.yaml")


def test_config_top_level_list(tmp_path, capsys):
    (tmp_path / "c.yaml").write_text("- a\n- b\n")
    status, err = cli(capsys, "reports", "--config", tmp_path / "c.yaml", "--output", tmp_path / "out")
    assert_clean_error(status, err, "expected a mapping")


def test_config_unknown_key(tmp_path, data, capsys):
    config = make_config(tmp_path, data, report__colour="blue")
    status, err = cli(capsys, "reports", "--config", config, "--output", tmp_path / "out")
    assert_clean_error(status, err, "report.colour", "unknown key", one_line=False)


def test_config_unknown_provider_override(tmp_path, data, capsys):
    config = make_config(tmp_path, data, providers={"P1": {}, "ZZ9": {"exclude_months": ["2023-01"]}})
    status, err = cli(capsys, "reports", "--config", config, "--output", tmp_path / "out")
    assert_clean_error(status, err, "providers.ZZ9", "not a provider in the data")
    no_reports(tmp_path / "out")


def test_config_exclude_provisional_larger_than_data(tmp_path, data, capsys):
    config = make_config(tmp_path, data, report__exclude_provisional_months=24)
    status, err = cli(capsys, "reports", "--config", config, "--output", tmp_path / "out")
    assert_clean_error(status, err, "report.exclude_provisional_months", "24", "24 month(s)")


def test_config_exclude_month_outside_data(tmp_path, data, capsys):
    config = make_config(tmp_path, data, providers={"P1": {"exclude_months": ["2019-01"]}})
    status, err = cli(capsys, "reports", "--config", config, "--output", tmp_path / "out")
    assert_clean_error(status, err, "providers.P1.exclude_months", "2019-01", "2022-01 to 2023-12")


def test_dollar_labels_are_drawn_literally():
    """Cohort and outcome labels with "$" (matplotlib mathtext) draw as written."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    from cocEval.style import use_nhs_style

    use_nhs_style()
    fig, ax = plt.subplots()
    ax.plot([1, 2], [1, 2], label="Cohort $1")
    ax.set_title("Cost $ per bed day $x")
    ax.legend()
    fig.canvas.draw()  # raises ValueError (mathtext parse) when mathtext is on
    assert "Cost $ per bed day $x" in (ax.get_title(loc="left"), ax.get_title())
    plt.close(fig)


def test_dollar_cohort_label_is_valid_data(data):
    from cocEval.data import load_programme

    _mutate(data, *_set("participation", "cohort", 0, "Cohort $1 (pilot)"))
    assert "Cohort $1 (pilot)" in set(load_programme(data).participation["cohort"].dropna())


# ------------------------------------------------------------------------------------------
# Bad options
# ------------------------------------------------------------------------------------------


@pytest.mark.parametrize("jobs", ["0", "-1"])
def test_jobs_below_one(jobs, tmp_path, config, capsys):
    status, err = cli(capsys, "reports", "--config", config, "--jobs", jobs, "--output", tmp_path / "out")
    assert_clean_error(status, err, f"--jobs {jobs}", "at least 1")
    assert not (tmp_path / "out").exists()


def test_jobs_not_a_number(tmp_path, capsys):
    with pytest.raises(SystemExit) as exc:
        main(["reports", "--jobs", "two"])
    err = capsys.readouterr().err
    assert exc.value.code == 2 and "--jobs" in err and "invalid int value" in err
    assert len(err.strip().splitlines()) == 1 and "Traceback" not in err


def test_unknown_option(capsys):
    with pytest.raises(SystemExit) as exc:
        main(["reports", "--colour", "blue"])
    err = capsys.readouterr().err
    assert exc.value.code == 2 and "unrecognized arguments: --colour blue" in err
    assert len(err.strip().splitlines()) == 1


@pytest.mark.parametrize("value", [",", " , ", ",,", "P1,,P2"])
def test_providers_empty(value, tmp_path, config, capsys):
    status, err = cli(capsys, "reports", "--config", config, "--providers", value, "--output", tmp_path / "out")
    assert_clean_error(status, err, "--providers", "empty id" if value == "P1,,P2" else "no provider id given")
    assert not (tmp_path / "out").exists()


@pytest.mark.parametrize("value", ["ZZ9", "../../evil", "/tmp/evil", "P1,programme"])
def test_providers_unknown(value, tmp_path, config, capsys):
    status, err = cli(capsys, "reports", "--config", config, "--providers", value, "--output", tmp_path / "out")
    assert_clean_error(status, err, "--providers", "unknown provider id", "participation table")
    assert not (tmp_path / "out").exists()
    assert not (tmp_path / "evil").exists() and not Path("/tmp/evil.html").exists()


def test_output_is_a_file(tmp_path, config, capsys):
    (tmp_path / "out").write_text("not a folder")
    status, err = cli(capsys, "reports", "--config", config, "--output", tmp_path / "out")
    assert_clean_error(status, err, "--output", "is a file, not a folder")
    assert (tmp_path / "out").read_text() == "not a folder"


def test_output_under_a_file(tmp_path, config, capsys):
    (tmp_path / "f").write_text("x")
    status, err = cli(capsys, "reports", "--config", config, "--output", tmp_path / "f" / "out")
    assert_clean_error(status, err, "--output", "is a file, so the folder cannot be created")


def test_output_read_only_file_system(tmp_path, config, capsys):
    status, err = cli(capsys, "reports", "--config", config, "--output", "/proc/cocEval-reports", "--no-programme")
    assert_clean_error(status, err, "--output /proc/cocEval-reports", "not writable")


_FS_IOC_GETFLAGS, _FS_IOC_SETFLAGS, _FS_IMMUTABLE_FL = 0x80086601, 0x40086602, 0x10  # linux/fs.h


def _set_immutable(folder: Path, on: bool) -> None:
    """Set or clear a folder's immutable attribute (``chattr +i``): then nobody, root included,
    can create anything in it, and ``access(W_OK)`` says so."""
    import array
    import fcntl

    fd = os.open(folder, os.O_RDONLY | os.O_DIRECTORY)
    try:
        flags = array.array("i", [0])
        fcntl.ioctl(fd, _FS_IOC_GETFLAGS, flags, True)
        flags[0] = flags[0] | _FS_IMMUTABLE_FL if on else flags[0] & ~_FS_IMMUTABLE_FL
        fcntl.ioctl(fd, _FS_IOC_SETFLAGS, flags, True)
    finally:
        os.close(fd)


@pytest.fixture
def read_only_folder(tmp_path):
    """A folder nobody can write in: read-only permission bits, and, since root ignores those,
    the immutable attribute as well when the tests run as root (as in CI containers)."""
    ro = tmp_path / "ro"
    ro.mkdir()
    ro.chmod(stat.S_IRUSR | stat.S_IXUSR)
    immutable = os.geteuid() == 0
    if immutable:
        try:
            _set_immutable(ro, True)
        except OSError as exc:  # a file system without the attribute (or no CAP_LINUX_IMMUTABLE)
            msg = f"cannot make {ro} unwritable for root: {exc}"
            if os.environ.get("CI"):
                pytest.fail(f"{msg} (CI is set: the read-only output case must run)", pytrace=False)
            pytest.skip(msg)
    yield ro
    if immutable:
        _set_immutable(ro, False)
    ro.chmod(stat.S_IRWXU)


def test_output_read_only_folder(read_only_folder, config, capsys):
    assert not os.access(read_only_folder, os.W_OK)  # also for root: the case is really unwritable
    status, err = cli(capsys, "reports", "--config", config, "--output", read_only_folder / "out")
    assert_clean_error(status, err, "--output", "not writable", f"{read_only_folder} does not allow writing")
    assert not (read_only_folder / "out").exists()


def test_unreachable_scheduler(tmp_path, config):
    with pytest.raises(BatchError, match=r"--scheduler tcp://127\.0\.0\.1:9: cannot connect within 2 s"):
        run_reports(
            BatchOptions(
                output=tmp_path / "out",
                config=config,
                scheduler="tcp://127.0.0.1:9",
                connect_timeout=2,
                programme=False,
                providers=("P1",),
            )
        )
    assert not (tmp_path / "out").exists()


def test_malformed_scheduler(tmp_path, config, capsys):
    status, err = cli(capsys, "reports", "--config", config, "--scheduler", "nonsense://::", "--output", tmp_path / "o")
    assert_clean_error(status, err, "--scheduler nonsense://::", "cannot connect")


def test_verbose_shows_traceback(tmp_path, capsys):
    status, err = cli(capsys, "-v", "reports", "--config", tmp_path, "--output", tmp_path / "out")
    assert status == 2 and "Traceback" in err and "error: config" in err


def test_real_exit_status_and_no_traceback(tmp_path):
    run = subprocess.run(
        [sys.executable, "-m", "cocEval", "reports", "--jobs", "0"],
        capture_output=True,
        text=True,
        cwd=tmp_path,
        timeout=120,
    )
    assert run.returncode == 2 and run.stderr.strip() == "error: --jobs 0: must be a whole number of at least 1"


def test_import_error_is_not_swallowed(monkeypatch):
    monkeypatch.setitem(sys.modules, "cocEval.batch", None)  # import fails
    with pytest.raises(ImportError):
        main(["reports", "--output", "/nonexistent-never-created"])


def test_run_reports_takes_batch_options():
    import argparse

    with pytest.raises(InputError, match="BatchOptions"):
        run_reports(argparse.Namespace(output="x"))


@pytest.mark.parametrize(
    "kw, words",
    [
        ({"jobs": 0}, "--jobs 0"),
        ({"jobs": -3}, "--jobs -3"),
        ({"jobs": 1.5}, "--jobs 1.5"),
        ({"providers": ()}, "--providers"),
        ({"providers": ("P1", " ")}, "--providers"),
        ({"providers": ","}, "no provider id given"),
        ({"scheduler": "  "}, "--scheduler"),
        ({"hard_timeout": 0}, "hard_timeout"),
    ],
)
def test_batch_options_rules(kw, words):
    with pytest.raises(UsageError, match=words.replace("(", r"\(")):
        BatchOptions(**kw)


# ------------------------------------------------------------------------------------------
# Safe names
# ------------------------------------------------------------------------------------------

HOSTILE_IDS = [
    "../../evil",
    "..",
    ".",
    "",
    "/etc/passwd",
    "a/b",
    "a\\b",
    "C:evil",
    "x.html",
    "programme",
    "Programme",
    "INDEX",
    "manifest",
    "run",
    "executed",
    "stale",
    "CON",
    "com1",
    "lpt9",
    "a\x00b",
    "tab\tid",
    "new\nline",
    "é",
    "-rf",
    "_hidden",
    "P" * 41,
    " P1",
    "P1 ",
    "<script>",
    "%2e%2e",
]


@pytest.mark.parametrize("pid", HOSTILE_IDS)
def test_report_filename_refuses_hostile_ids(pid):
    with pytest.raises(InputError, match="cannot name a report file"):
        report_filename(pid)


@pytest.mark.parametrize("pid", [None, 5, b"P1"])
def test_report_filename_refuses_non_strings(pid):
    with pytest.raises(InputError):
        report_filename(pid)


@settings(max_examples=300, deadline=None)
@given(st.text(min_size=0, max_size=60))
def test_report_filename_is_always_a_plain_name(pid):
    try:
        name = report_filename(pid)
    except InputError:
        return
    folder = Path("/srv/out/providers")
    assert Path(name).name == name and name.endswith(".html") and not name.startswith(".")
    assert (folder / name).resolve().parent == folder
    assert name[:-5].lower() not in {"programme", "index", "manifest"}


# ------------------------------------------------------------------------------------------
# Faults (render a tiny notebook; slow but run in `make test`)
# ------------------------------------------------------------------------------------------


def _opts(tmp_path, config, nb, **kw) -> BatchOptions:
    base = {
        "output": tmp_path / "out",
        "config": config,
        "providers": ("P1", "P2"),
        "programme": False,
        "jobs": 2,
        "provider_notebook": nb,
    }
    return BatchOptions(**(base | kw))


def _sockets(folder: Path) -> set[str]:
    return {p.name for p in folder.glob("coc-k-*")}


@pytest.fixture
def own_tmp(monkeypatch):
    """A short temporary folder of this test's own as TMPDIR (for it and the processes it
    starts): the batch puts kernel sockets there, so sockets that other runs on the same machine
    make in /tmp meanwhile do not count against this test."""
    import shutil
    import tempfile

    folder = Path(tempfile.mkdtemp(prefix="coc-t-"))
    monkeypatch.setenv("TMPDIR", str(folder))
    monkeypatch.setattr(tempfile, "tempdir", None)
    yield folder
    shutil.rmtree(folder, ignore_errors=True)


def _manifest(out: Path) -> dict:
    return json.loads((out / "manifest.json").read_text())


def _temp_left(out: Path) -> list:
    return list((out / ".coc-tmp").glob("*")) if (out / ".coc-tmp").exists() else []


@pytest.mark.slow
def test_batch_writes_0644_and_leaves_no_temp_files(tmp_path, config, monkeypatch):
    import shutil
    import tempfile

    # A temporary folder of its own (short: it holds IPC sockets), for this process and the
    # batch's: tests running beside it under xdist leave their own files in the shared one.
    own = Path(tempfile.mkdtemp(prefix="h-"))
    monkeypatch.setenv("TMPDIR", str(own))
    monkeypatch.setattr(tempfile, "tempdir", str(own))
    try:
        nb, _ = pid_notebook(tmp_path)
        out = tmp_path / "out"
        assert run_reports(_opts(tmp_path, config, nb)) == 0
        for f in [
            "providers/P1.html",
            "providers/P2.html",
            "manifest.json",
            "index.html",
            "executed/P1.ipynb",
            "run.log",
        ]:
            assert stat.S_IMODE((out / f).stat().st_mode) == 0o644, f
        assert "report for P1" in (out / "providers" / "P1.html").read_text()
        assert not (out / ".coc-tmp").exists()
        assert not list(own.glob("coc-k-*"))  # no kernel sockets left
        assert not [p for p in own.glob("*.json") if "coc-k-" in p.read_text(errors="replace")]  # nor connection files
        m = _manifest(out)["reports"]
        assert m["P1"]["status"] == "ok" and m["P1"]["headline"] == {"provider": "P1"}
        # a re-run resumes: nothing changed, nothing rendered
        assert run_reports(_opts(tmp_path, config, nb)) == 0
        assert _manifest(out)["reports"]["P2"]["skipped"] is True
    finally:
        shutil.rmtree(own, ignore_errors=True)


@pytest.mark.slow
def test_killed_kernel_is_detected_and_retried(tmp_path, config):
    nb, pids = pid_notebook(tmp_path, sleep=30)
    out = tmp_path / "out"
    killed = []

    def killer():
        _wait_for(lambda: (pids / "P1").is_file())
        pid = int((pids / "P1").read_text())
        (pids / "P1").unlink()
        os.kill(pid, signal.SIGKILL)
        killed.append((pid, time.time()))

    th = threading.Thread(target=killer)
    th.start()
    status = run_reports(_opts(tmp_path, config, nb, providers=("P1",)))
    th.join()
    m = _manifest(out)["reports"]["P1"]
    assert status == 0 and m["status"] == "ok" and m["attempts"] == 2
    assert not _alive(killed[0][0])
    # the death was seen at once: the retry's kernel was running its cell well within the cell
    # timeout (600 s), which is the earliest a blocked client could have noticed anything
    assert (pids / "P1").stat().st_mtime - killed[0][1] < 120


@pytest.mark.slow
def test_kernel_that_dies_twice_fails_only_its_report(tmp_path, config):
    extra = "if provider_id == 'P2': os.kill(os.getpid(), 9)"
    nb, _ = pid_notebook(tmp_path, extra=extra)
    out = tmp_path / "out"
    assert run_reports(_opts(tmp_path, config, nb)) == 1
    m = _manifest(out)["reports"]
    assert m["P1"]["status"] == "ok"
    assert m["P2"]["status"] == "failed" and "kernel died twice" in m["P2"]["reason"]
    assert not (out / "providers" / "P2.html").exists()
    assert "kernel died twice" in (out / "index.html").read_text()


@pytest.mark.slow
def test_killed_worker_costs_only_its_report(tmp_path, config, own_tmp):
    extra = "if provider_id == 'P2': os.kill(os.getppid(), 9)"  # the kernel's parent is the worker
    nb, pids = pid_notebook(tmp_path, extra=extra, sleep=1)
    out = tmp_path / "out"
    status = run_reports(_opts(tmp_path, config, nb, providers=("P1", "P2", "P3")))
    assert _sockets(own_tmp) == set()  # the dead worker's kernel sockets were removed by the batch
    assert status == 1
    m = _manifest(out)["reports"]
    assert m["P1"]["status"] == "ok" and m["P3"]["status"] == "ok"
    assert m["P2"]["status"] == "failed" and "worker process died (killed by SIGKILL)" in m["P2"]["reason"]
    _wait_for(lambda: not _alive(int((pids / "P2").read_text())), timeout=10)  # its kernel is gone too
    assert not (out / ".coc-tmp").exists()


@pytest.mark.slow
def test_hard_deadline_kills_a_hung_report(tmp_path, config):
    nb, pids = pid_notebook(tmp_path, sleep=600)
    out = tmp_path / "out"
    assert run_reports(_opts(tmp_path, config, nb, providers=("P1",), hard_timeout=15)) == 1
    m = _manifest(out)["reports"]["P1"]
    assert m["status"] == "failed" and "hard deadline" in m["reason"]
    _wait_for(lambda: not _alive(int((pids / "P1").read_text())), timeout=10)


@pytest.mark.slow
@pytest.mark.parametrize("sig, code", [(signal.SIGTERM, 143), (signal.SIGINT, 130)])
def test_signal_stops_everything_and_rerun_resumes(sig, code, tmp_path, config, own_tmp):
    nb, pids = pid_notebook(tmp_path, sleep=300)
    out = tmp_path / "out"
    script = (
        "import sys; from cocEval.batch import BatchOptions, run_reports\n"
        f"sys.exit(run_reports(BatchOptions(output={str(out)!r}, config={str(config)!r}, "
        f"providers=('P1', 'P2', 'P3'), programme=False, jobs=2, provider_notebook={str(nb)!r})))\n"
    )
    proc = subprocess.Popen([sys.executable, "-c", script], stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    _wait_for(lambda: (pids / "P1").is_file() and (pids / "P2").is_file())
    kernels = [int((pids / p).read_text()) for p in ("P1", "P2")]
    workers = [
        int(p) for p in subprocess.run(["pgrep", "-P", str(proc.pid)], capture_output=True, text=True).stdout.split()
    ]
    assert workers
    proc.send_signal(sig)
    _, err = proc.communicate(timeout=60)  # the kernels sleep for 300 s: a stop must not wait
    assert proc.returncode == code, err
    assert "Traceback" not in err
    for pid in kernels + workers:
        _wait_for(lambda pid=pid: not _alive(pid), timeout=10)
    assert not (out / ".coc-tmp").exists() and not (out / "providers").exists()
    assert _sockets(own_tmp) == set()
    m = _manifest(out)
    assert m["interrupted"] == sig.name
    assert {r["status"] for r in m["reports"].values()} == {"interrupted"}
    assert "was stopped" in (out / "index.html").read_text()
    # the lock was released: a re-run (a quick notebook) resumes and renders everything
    (tmp_path / "quick").mkdir()
    quick, _ = pid_notebook(tmp_path / "quick")
    assert run_reports(_opts(tmp_path, config, quick, providers=("P1", "P2", "P3"))) == 0
    assert {r["status"] for r in _manifest(out)["reports"].values()} == {"ok"}


def test_second_batch_refuses_naming_the_holder(tmp_path, config, capsys):
    out = tmp_path / "out"
    out.mkdir()
    with OutputLock(out):
        status, err = cli(capsys, "reports", "--config", config, "--output", out, "--no-programme")
    assert_clean_error(status, err, f"--output {out}", f"in use by another batch (pid {os.getpid()})", "--wait")
    assert not (out / "manifest.json").exists() and not (out / "index.html").exists()


@pytest.mark.slow
def test_wait_for_the_other_batch(tmp_path, config):
    nb, _ = pid_notebook(tmp_path)
    out = tmp_path / "out"
    out.mkdir()
    lock = OutputLock(out).acquire()
    timer = threading.Timer(3.0, lock.release)
    timer.start()
    t0 = time.monotonic()
    assert run_reports(_opts(tmp_path, config, nb, providers=("P1",), wait=True)) == 0
    assert time.monotonic() - t0 >= 3.0
    timer.join()


@pytest.mark.slow
def test_stale_lock_and_temp_files_of_a_dead_batch_are_taken_over(tmp_path, config):
    nb, _ = pid_notebook(tmp_path)
    out = tmp_path / "out"
    (out / ".coc-tmp" / "run-999999").mkdir(parents=True)
    (out / ".coc-tmp" / "run-999999" / ".P1.html.x.tmp").write_text("half a report")
    dead = subprocess.run([sys.executable, "-c", "import os; print(os.getpid())"], capture_output=True, text=True)
    (out / ".coc-lock").write_text(dead.stdout)
    assert run_reports(_opts(tmp_path, config, nb, providers=("P1",))) == 0
    assert not (out / ".coc-tmp").exists()
    assert f"stale lock on {out} left by pid {dead.stdout.strip()}" in (out / "run.log").read_text()


@pytest.mark.slow
def test_failure_after_success_moves_the_old_report_aside(tmp_path, config):
    good, _ = pid_notebook(tmp_path)
    out = tmp_path / "out"
    assert run_reports(_opts(tmp_path, config, good)) == 0
    bad = notebook(tmp_path / "bad.ipynb", "if provider_id == 'P1': raise RuntimeError('new data broke me')")
    assert run_reports(_opts(tmp_path, config, bad, force=True)) == 1
    assert not (out / "providers" / "P1.html").exists()
    assert "report for P1" in (out / "stale" / "providers" / "P1.html").read_text()
    m = _manifest(out)["reports"]
    assert m["P1"]["status"] == "failed" and m["P1"]["html"] is None
    assert m["P1"]["stale_html"] == "stale/providers/P1.html" and "new data broke me" in m["P1"]["reason"]
    assert m["P2"]["status"] == "ok" and (out / "providers" / "P2.html").is_file()
    index = (out / "index.html").read_text()
    assert "out of date" in index and 'href="providers/P1.html"' not in index and 'href="providers/P2.html"' in index
    # fixed again: the new report replaces the stale copy
    assert run_reports(_opts(tmp_path, config, good, providers=("P1",))) == 0
    assert (out / "providers" / "P1.html").is_file() and not (out / "stale" / "providers" / "P1.html").exists()


@pytest.mark.slow
def test_dask_workers_return_html_and_need_no_client_paths(tmp_path, config, data):
    distributed = pytest.importorskip("distributed")
    code = (
        "import json, os\n"
        "assert os.path.isfile(os.path.join(data_dir, 'participation.csv'))\n"
        "json.dump({'data_dir': data_dir, 'config': config, 'pid': os.getpid()}, open(summary_path, 'w'))\n"
        "print('dask report for', provider_id)\n"
    )
    nb = notebook(tmp_path / "dask.ipynb", code)
    out = tmp_path / "out"
    with distributed.LocalCluster(n_workers=1, threads_per_worker=1, processes=True, dashboard_address=None) as c:
        status = run_reports(_opts(tmp_path, config, nb, scheduler=c.scheduler_address))
    assert status == 0
    m = _manifest(out)["reports"]
    for pid in ("P1", "P2"):
        head = m[pid]["headline"]
        assert str(data) not in head["data_dir"] and str(tmp_path) not in head["config"]  # its own copies
        assert f"dask report for {pid}" in (out / "providers" / f"{pid}.html").read_text()
        assert stat.S_IMODE((out / "providers" / f"{pid}.html").stat().st_mode) == 0o644
    assert not (out / ".coc-tmp").exists()


def test_errors_are_coceval_errors():
    for cls in (BatchError, UsageError, InputError):
        assert issubclass(cls, CocEvalError) and cls.exit_code == 2


@pytest.mark.slow
@pytest.mark.skipif(
    sys.platform != "linux" or os.geteuid() != 0 or not Path("/usr/bin/unshare").exists(),
    reason="needs unshare and root to give the worker its own mount namespace",
)
def test_dask_worker_that_cannot_see_the_client_folders(tmp_path, config, data):
    """A worker in its own mount namespace, with an empty tmpfs over the test's folder (the data,
    config, notebook and output are invisible to it), still renders: everything travels."""
    distributed = pytest.importorskip("distributed")
    code = (
        "import json, os\n"
        f"assert not os.path.exists({str(tmp_path / 'out')!r})  # the client's output is not visible\n"
        "json.dump({'rows': sum(1 for _ in open(os.path.join(data_dir, 'participation.csv')))}, open(summary_path, 'w'))\n"
        "print('remote report for', provider_id)\n"
    )
    nb = notebook(tmp_path / "remote.ipynb", code)
    out = tmp_path / "out"
    out.mkdir()
    dask = Path(sys.executable).parent / "dask"
    with distributed.LocalCluster(n_workers=0, processes=True, dashboard_address=None) as cluster:
        worker = subprocess.Popen(
            ["unshare", "-m", "--propagation", "private", "sh", "-c"]
            + [f"mount -t tmpfs none {tmp_path} && exec {dask} worker {cluster.scheduler_address} --nthreads 1"],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        try:
            with distributed.Client(cluster.scheduler_address) as c:
                c.wait_for_workers(1, timeout=120)
            status = run_reports(_opts(tmp_path, config, nb, providers=("P1",), scheduler=cluster.scheduler_address))
        finally:
            worker.terminate()
            worker.wait(timeout=60)
    m = _manifest(out)["reports"]["P1"]
    assert status == 0, m
    assert m["headline"] == {"rows": 4}
    assert "remote report for P1" in (out / "providers" / "P1.html").read_text()

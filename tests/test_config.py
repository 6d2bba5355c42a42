"""Programme configuration: the shipped file validates; mistakes are named clearly."""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml

from cocEval.config import ConfigError, load_config
from cocEval.its import DEFAULT_ERRORS, MAX_SEASONALITY, MIN_PERIODS, REGISTRY

ROOT = Path(__file__).resolve().parents[1]
CONFIG = ROOT / "params" / "programme.yaml"


def test_shipped_config_validates():
    cfg = load_config(CONFIG)
    assert cfg.outcomes["restrictive_interventions"].per == 1000
    assert cfg.outcomes["positive_experience"].improvement == "increase"
    assert {o for o, v in cfg.outcomes.items() if v.headline} >= {"restrictive_interventions", "positive_experience"}
    # the kernel name the notebooks ask for equals the one `make setup` installs (stored lower-case)
    assert cfg.report.kernel == "coceval"
    import json

    for nb in ("provider_report", "programme_evaluation"):
        meta = json.loads((CONFIG.parents[1] / "notebooks" / f"{nb}.ipynb").read_text())["metadata"]
        assert meta["kernelspec"]["name"] == cfg.report.kernel


def _write(tmp_path, mutate) -> Path:
    raw = yaml.safe_load(CONFIG.read_text())
    mutate(raw)
    p = tmp_path / "programme.yaml"
    p.write_text(yaml.safe_dump(raw))
    return p


@pytest.mark.parametrize(
    "mutate, key, words",
    [
        (lambda r: r.update(colour="blue"), "colour", "unknown key"),
        (
            lambda r: r["outcomes"]["seclusion"].update(family="lognormal"),
            "outcomes.seclusion.family",
            "Input should be",
        ),
        (
            lambda r: r["outcomes"]["seclusion"].update(numerator="restraints"),
            "outcomes.seclusion",
            "not a count of restrictive_practice",
        ),
        (lambda r: r["outcomes"]["seclusion"].pop("label"), "outcomes.seclusion.label", "required key missing"),
        (lambda r: r["its"].update(seasonality=-1), "its.seasonality", "greater than or equal"),
        (
            lambda r: r["staff_indicators"]["morale"].update(column="happiness"),
            "staff_indicators.morale.column",
            "not a staff survey column",
        ),
        (
            lambda r: r.update(providers={"SYN001": {"exclude_months": ["2024-13"]}}),
            "providers.SYN001.exclude_months",
            "YYYY-MM",
        ),
        (lambda r: r["report"].update(timeout_seconds="soon"), "report.timeout_seconds", "valid integer"),
    ],
)
def test_config_errors_name_key_and_rule(tmp_path, mutate, key, words):
    with pytest.raises(ConfigError) as info:
        load_config(_write(tmp_path, mutate))
    msg = str(info.value)
    assert "programme.yaml" in msg and f"- {key}" in msg and words in msg


def test_missing_and_malformed_files(tmp_path):
    with pytest.raises(ConfigError, match="not found"):
        load_config(tmp_path / "nope.yaml")
    bad = tmp_path / "bad.yaml"
    bad.write_text("outcomes: [unclosed")
    with pytest.raises(ConfigError, match="not valid YAML"):
        load_config(bad)


def test_provider_override(tmp_path):
    p = _write(
        tmp_path, lambda r: r.update(providers={"SYN002": {"exclude_months": ["2024-01"], "its": {"seasonality": 0}}})
    )
    cfg = load_config(p)
    assert cfg.its_options("SYN002").seasonality == 0
    assert cfg.its_options("SYN001").seasonality == cfg.its.seasonality
    assert cfg.excluded_months("SYN002") == ["2024-01"]


# --------------------------------------------------------------------------------------------
# the ITS schema is derived from the estimator's family registry
# --------------------------------------------------------------------------------------------
@pytest.mark.parametrize(
    "mutate, words",
    [
        (lambda r: r["its"].update(seasonality=MAX_SEASONALITY + 1), "less than or equal to 5"),
        (lambda r: r["its"].update(errors="ar1"), "does not suit outcome"),
        (lambda r: r["its"].update(errors="sandwich"), "Input should be"),
        (lambda r: r["its"].update(maxlags=3), "maxlags only applies"),
        (lambda r: r["its"].update(min_months_before=MIN_PERIODS - 1), "greater than or equal to 3"),
        (lambda r: r["outcomes"]["seclusion"].update(family="binomial"), "does not suit restrictive_practice"),
        (lambda r: r["outcomes"]["positive_experience"].update(family="negbin"), "does not suit patient_experience"),
    ],
)
def test_its_options_follow_the_registry(tmp_path, mutate, words):
    with pytest.raises(ConfigError, match=words):
        load_config(_write(tmp_path, mutate))


def test_every_registered_family_and_errors_is_configurable(tmp_path):
    for family, fam in REGISTRY.items():
        table = "patient_experience" if fam.needs == "trials" else "restrictive_practice"
        key = "positive_experience" if table == "patient_experience" else "seclusion"
        for errors in fam.errors:

            def mutate(r, family=family, errors=errors, key=key):
                r["outcomes"] = {key: r["outcomes"][key] | {"family": family}}
                r["its"]["errors"] = errors

            cfg = load_config(_write(tmp_path, mutate))
            assert cfg.its.errors_for(family) == errors
    cfg = load_config(_write(tmp_path, lambda r: r["its"].pop("errors")))
    assert {cfg.its.errors_for(f) for f in ("gaussian", "negbin")} == {
        DEFAULT_ERRORS["gaussian"],
        DEFAULT_ERRORS["negbin"],
    }


def test_gaussian_outcome_is_fitted_on_the_rate(tmp_path, synthetic_dir):
    from cocEval.data import load_programme
    from cocEval.report.models import fit_outcome

    def mutate(r):
        r["outcomes"]["seclusion"]["family"] = "gaussian"
        r["its"].pop("errors")

    cfg = load_config(_write(tmp_path, mutate))
    prog = load_programme(synthetic_dir)
    m = fit_outcome(prog, cfg, "SYN001", "seclusion")
    assert m.error is None and m.its.family == "gaussian" and m.its.errors == DEFAULT_ERRORS["gaussian"]
    rate = m.series["numerator"] / m.series["denominator"] * 1000
    fitted = m.its.predict()
    assert fitted["observed"].to_numpy() == pytest.approx(rate[m.series["denominator"] > 0].to_numpy())


def test_min_months_make_a_provider_not_estimable(tmp_path, synthetic_dir):
    from cocEval.data import load_programme
    from cocEval.report.models import fit_outcome

    cfg = load_config(_write(tmp_path, lambda r: r["its"].update(min_months_after=400)))
    m = fit_outcome(load_programme(synthetic_dir), cfg, "SYN001", "seclusion")
    assert m.its is None and "400 from the start on" in m.error


def test_a_folder_without_monthly_tables_is_refused_clearly(tmp_path, synthetic_dir):
    """Staff survey only: one clear DataError naming the folder and the rule (was an IndexError)."""
    import shutil

    from cocEval.config import check_config_against_data, load_inputs
    from cocEval.data import load_programme
    from cocEval.errors import DataError

    for name in ("participation.csv", "staff_survey.csv"):
        shutil.copy(Path(synthetic_dir) / name, tmp_path / name)
    cfg = load_inputs()[0]
    with pytest.raises(DataError, match=rf"{tmp_path.name}: no monthly table .* a report needs at least one"):
        check_config_against_data(cfg, load_programme(tmp_path))

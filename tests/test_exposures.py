"""The marts' consumers are declared as dbt exposures, and the code reads them from there."""

import pytest

from orchestration.lib.transform.exposures import (
    MARTS_DIR,
    OFFLINE_DASHBOARD_EXPOSURE,
    REVIEW_REPORT_EXPOSURE,
    ExposureError,
    load_exposure,
)

EXPOSURES = """
version: 2
exposures:
  - name: weekly_digest
    type: analysis
    owner: {name: someone}
    depends_on:
      - ref('fct_findings')
      - ref("agg_findings_by_severity")
    config:
      meta: {digest: {weekday: monday}}
"""


def test_an_exposure_names_its_marts_in_order_with_its_meta(tmp_path):
    (tmp_path / "_exposures.yml").write_text(EXPOSURES)

    exposure = load_exposure("weekly_digest", tmp_path)

    assert exposure.marts == ("fct_findings", "agg_findings_by_severity")
    assert exposure.meta == {"digest": {"weekday": "monday"}}


def test_a_missing_exposure_is_an_error_naming_it(tmp_path):
    (tmp_path / "_exposures.yml").write_text(EXPOSURES)

    with pytest.raises(ExposureError, match="No dbt exposure monthly_digest"):
        load_exposure("monthly_digest", tmp_path)


def test_a_dependency_that_is_not_a_mart_ref_is_an_error(tmp_path):
    (tmp_path / "_exposures.yml").write_text(
        EXPOSURES.replace("ref('fct_findings')", "source('guardduty', 'findings')")
    )

    with pytest.raises(ExposureError, match=r"each as ref\('<mart>'\)"):
        load_exposure("weekly_digest", tmp_path)


@pytest.mark.parametrize(
    "name",
    [
        "quicksight_datasets",
        "quicksight_dashboard",
        OFFLINE_DASHBOARD_EXPOSURE,
        REVIEW_REPORT_EXPOSURE,
    ],
)
def test_every_consumer_reads_marts_of_this_project(name):
    marts = load_exposure(name).marts

    assert marts
    assert all(list(MARTS_DIR.rglob(f"{mart}.sql")) for mart in marts)


def test_the_offline_dashboard_and_the_report_wait_for_the_marts_their_exposures_name():
    import dagster as dg

    from orchestration.defs.audit.report_assets import REVIEW_REPORT, review_report
    from orchestration.defs.publish.dashboard_assets import OFFLINE_DASHBOARD, offline_dashboard

    for asset, key, exposure in (
        (offline_dashboard, OFFLINE_DASHBOARD, OFFLINE_DASHBOARD_EXPOSURE),
        (review_report, REVIEW_REPORT, REVIEW_REPORT_EXPOSURE),
    ):
        deps = {dep.asset_key for dep in asset.get_asset_spec(key).deps}
        assert deps == {dg.AssetKey([mart]) for mart in load_exposure(exposure).marts}

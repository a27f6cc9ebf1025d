import pytest

from citybrain.settings import Settings, SettingsError


def test_defaults_put_the_lake_in_the_checkout(monkeypatch):
    for var in ("CITYBRAIN_LAKE_ROOT", "CITYBRAIN_PROFILE", "CITYBRAIN_SPARK_REMOTE", "CI"):
        monkeypatch.delenv(var, raising=False)
    s = Settings.from_env()
    assert s.profile == "local"
    assert s.lake_root.endswith("/lake")
    assert s.spark_remote == ""
    assert s.is_local_lake


def test_object_store_uri_is_kept(monkeypatch):
    monkeypatch.setenv("CITYBRAIN_LAKE_ROOT", "s3://city-lake/prod/")
    s = Settings.from_env()
    assert s.lake_root == "s3://city-lake/prod"
    assert not s.is_local_lake


@pytest.mark.parametrize(
    ("var", "value", "message"),
    [
        ("CITYBRAIN_PROFILE", "prod", "expected one of local, ci, cluster"),
        ("CITYBRAIN_SPARK_REMOTE", "localhost:15002", "must look like sc://host:port"),
        ("CITYBRAIN_SCALE", "big", "is not a number"),
        ("CITYBRAIN_SCALE", "-1", "must be greater than 0"),
        ("CITYBRAIN_DAYS", "0", "whole number of days"),
    ],
)
def test_bad_values_are_named(monkeypatch, var, value, message):
    monkeypatch.setenv(var, value)
    with pytest.raises(SettingsError, match=message):
        Settings.from_env()


def test_cluster_profile_needs_a_remote(monkeypatch):
    monkeypatch.setenv("CITYBRAIN_PROFILE", "cluster")
    monkeypatch.delenv("CITYBRAIN_SPARK_REMOTE", raising=False)
    with pytest.raises(SettingsError, match="needs CITYBRAIN_SPARK_REMOTE"):
        Settings.from_env()
    monkeypatch.setenv("CITYBRAIN_SPARK_REMOTE", "sc://spark-connect.internal:15002")
    assert Settings.from_env().spark_remote == "sc://spark-connect.internal:15002"

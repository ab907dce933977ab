"""Unit tests of pipeline.settings: precedence, errors, describe() and as_env().

Every test passes ``environ`` and ``config_path`` explicitly (or chdirs into tmp_path when it
passes ``config_path=None``), so neither the real environment nor a ./csvpipe.toml leaks in.
"""

from __future__ import annotations

import itertools
from pathlib import Path

import pytest

from pipeline.errors import ConfigError
from pipeline.settings import PACKAGED_TRANSFORMS, Settings, describe, env_var, load_settings

FIELD_NAMES = tuple(Settings().values())
INT_FIELDS = ("emulator_port", "lambda_timeout", "lambda_memory_mb", "dashboard_port")


def write_toml(tmp_path: Path, text: str, name: str = "csvpipe.toml") -> Path:
    path = tmp_path / name
    path.write_text(text, encoding="utf-8")
    return path


# --- precedence -------------------------------------------------------------------------------

LAYERS = ("toml", "env", "set")
LAYER_SUBSETS = [subset for size in range(len(LAYERS) + 1) for subset in itertools.combinations(LAYERS, size)]


@pytest.mark.parametrize("layers", LAYER_SUBSETS, ids=lambda s: "+".join(s) or "none")
def test_precedence_over_profile_default(tmp_path: Path, layers: tuple[str, ...]) -> None:
    """--set > CSVPIPE_* > TOML [profiles.local] > local profile default, for every combination."""
    toml = write_toml(
        tmp_path, '[profiles.local]\naws_access_key_id = "from-toml"\n' if "toml" in layers else ""
    )
    environ = {"CSVPIPE_AWS_ACCESS_KEY_ID": "from-env"} if "env" in layers else {}
    overrides = {"aws_access_key_id": "from-set"} if "set" in layers else {}

    settings = load_settings(overrides=overrides, environ=environ, config_path=toml)

    expected_value, expected_source = {
        "set": ("from-set", "--set aws_access_key_id"),
        "env": ("from-env", "env CSVPIPE_AWS_ACCESS_KEY_ID"),
        "toml": ("from-toml", f"{toml} [profiles.local]"),
        None: ("testing", "local profile default"),
    }[next((layer for layer in reversed(LAYERS) if layer in layers), None)]
    assert settings.aws_access_key_id == expected_value
    assert settings.sources["aws_access_key_id"] == expected_source


@pytest.mark.parametrize("layers", LAYER_SUBSETS, ids=lambda s: "+".join(s) or "none")
def test_precedence_over_builtin_default(tmp_path: Path, layers: tuple[str, ...]) -> None:
    """The same order for a setting that has no profile default (an int, to check coercion too)."""
    toml = write_toml(tmp_path, "[profiles.local]\nlambda_timeout = 11\n" if "toml" in layers else "")
    environ = {"CSVPIPE_LAMBDA_TIMEOUT": "22"} if "env" in layers else {}
    overrides = {"lambda_timeout": "33"} if "set" in layers else {}

    settings = load_settings(overrides=overrides, environ=environ, config_path=toml)

    expected = {"set": 33, "env": 22, "toml": 11, None: 30}[
        next((layer for layer in reversed(LAYERS) if layer in layers), None)
    ]
    assert settings.lambda_timeout == expected
    assert isinstance(settings.lambda_timeout, int)


@pytest.mark.parametrize(
    ("profile", "environ", "expected", "source"),
    [
        (None, {}, "local", "default"),
        (None, {"CSVPIPE_PROFILE": "aws"}, "aws", "env CSVPIPE_PROFILE"),
        ("localstack", {}, "localstack", "--profile"),
        ("localstack", {"CSVPIPE_PROFILE": "aws"}, "localstack", "--profile"),
    ],
)
def test_profile_choice(
    tmp_path: Path, profile: str | None, environ: dict[str, str], expected: str, source: str
) -> None:
    settings = load_settings(profile=profile, environ=environ, config_path=write_toml(tmp_path, ""))
    assert settings.profile == expected
    assert settings.sources["profile"] == source


@pytest.mark.parametrize(
    ("profile", "endpoint", "key_id", "secret"),
    [
        ("local", "http://127.0.0.1:4577", "testing", "testing"),
        ("localstack", "http://localhost:4566", "test", "test"),
        ("ministack", "http://127.0.0.1:4577", "test", "test"),
        ("aws", None, None, None),
    ],
)
def test_profile_defaults(
    tmp_path: Path, profile: str, endpoint: str | None, key_id: str | None, secret: str | None
) -> None:
    settings = load_settings(profile=profile, environ={}, config_path=write_toml(tmp_path, ""))
    assert (settings.endpoint_url, settings.aws_access_key_id, settings.aws_secret_access_key) == (
        endpoint,
        key_id,
        secret,
    )
    assert settings.emulated is (endpoint is not None)
    # Only the endpoint and the credentials differ between profiles.
    assert settings.raw_bucket == "csv-raw-data-bucket"
    assert settings.sources["raw_bucket"] == "default"


def test_toml_table_of_the_chosen_profile_only(tmp_path: Path) -> None:
    toml = write_toml(
        tmp_path,
        '[profiles.local]\nraw_bucket = "local-raw"\n\n'
        '[profiles.aws]\nraw_bucket = "aws-raw"\nregion = "eu-west-1"\n',
    )
    local = load_settings(environ={}, config_path=toml)
    aws = load_settings(profile="aws", environ={}, config_path=toml)
    assert (local.raw_bucket, local.region) == ("local-raw", "us-east-1")
    assert (aws.raw_bucket, aws.region) == ("aws-raw", "eu-west-1")
    assert aws.sources["region"] == f"{toml} [profiles.aws]"


@pytest.mark.parametrize(
    ("toml_text", "environ", "overrides", "endpoint"),
    [
        ("", {}, {}, "http://127.0.0.1:4577"),
        ("[profiles.local]\nemulator_port = 4600\n", {}, {}, "http://127.0.0.1:4600"),
        (
            "",
            {"CSVPIPE_EMULATOR_HOST": "0.0.0.0", "CSVPIPE_EMULATOR_PORT": "4601"},
            {},
            "http://0.0.0.0:4601",
        ),
        ("", {"CSVPIPE_EMULATOR_PORT": "4601"}, {"emulator_port": "4602"}, "http://127.0.0.1:4602"),
        # An explicit endpoint wins over the one derived from the emulator's address.
        ("", {"CSVPIPE_EMULATOR_PORT": "4601"}, {"endpoint_url": "http://elsewhere:1"}, "http://elsewhere:1"),
        (
            '[profiles.local]\nendpoint_url = "http://toml:2"\n',
            {"CSVPIPE_EMULATOR_PORT": "4601"},
            {},
            "http://toml:2",
        ),
    ],
)
def test_local_endpoint_follows_emulator_address(
    tmp_path: Path, toml_text: str, environ: dict[str, str], overrides: dict[str, str], endpoint: str
) -> None:
    toml = write_toml(tmp_path, toml_text)
    settings = load_settings(overrides=overrides, environ=environ, config_path=toml)
    assert settings.endpoint_url == endpoint


@pytest.mark.parametrize(
    ("name", "raw", "expected"),
    [
        ("data_dir", "/srv/csvpipe", Path("/srv/csvpipe")),
        ("transforms_dir", "sql", Path("sql")),
        ("dashboard_port", "8600", 8600),
        ("endpoint_url", "none", None),
        ("endpoint_url", "None", None),
        ("endpoint_url", "", None),
        ("aws_secret_access_key", "", None),
        ("region", "eu-central-1", "eu-central-1"),
    ],
)
def test_values_are_coerced_to_field_types(tmp_path: Path, name: str, raw: str, expected: object) -> None:
    settings = load_settings(environ={env_var(name): raw}, config_path=write_toml(tmp_path, ""))
    assert getattr(settings, name) == expected
    assert type(getattr(settings, name)) is type(expected)
    assert settings.sources[name] == f"env {env_var(name)}"


def test_every_value_records_its_source(tmp_path: Path) -> None:
    toml = write_toml(tmp_path, '[profiles.local]\nqueue_name = "q-toml"\n')
    settings = load_settings(
        overrides={"raw_bucket": "r-set"}, environ={"CSVPIPE_REGION": "eu-west-2"}, config_path=toml
    )
    assert set(settings.sources) == set(FIELD_NAMES)
    names = ("raw_bucket", "region", "queue_name", "glue_database")
    assert {name: settings.sources[name] for name in names} == {
        "raw_bucket": "--set raw_bucket",
        "region": "env CSVPIPE_REGION",
        "queue_name": f"{toml} [profiles.local]",
        "glue_database": "default",
    }


# --- config file discovery --------------------------------------------------------------------


def test_csvpipe_toml_in_working_directory_is_read(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(tmp_path)
    write_toml(tmp_path, '[profiles.local]\nfinal_bucket = "cwd-final"\n')
    settings = load_settings(environ={}, config_path=None)
    assert settings.final_bucket == "cwd-final"
    assert settings.sources["final_bucket"] == "csvpipe.toml [profiles.local]"


def test_no_config_file_anywhere_gives_defaults(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(tmp_path)
    settings = load_settings(environ={}, config_path=None)
    assert settings == Settings(
        endpoint_url="http://127.0.0.1:4577", aws_access_key_id="testing", aws_secret_access_key="testing"
    )


def test_csvpipe_config_variable_beats_working_directory_file(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(tmp_path)
    write_toml(tmp_path, '[profiles.local]\nfinal_bucket = "cwd-final"\n')
    other = write_toml(tmp_path, '[profiles.local]\nfinal_bucket = "env-final"\n', name="other.toml")
    settings = load_settings(environ={"CSVPIPE_CONFIG": str(other)}, config_path=None)
    assert settings.final_bucket == "env-final"


def test_csvpipe_config_variable_naming_a_missing_file(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(tmp_path)
    missing = tmp_path / "nope.toml"
    with pytest.raises(ConfigError, match="does not exist") as info:
        load_settings(environ={"CSVPIPE_CONFIG": str(missing)}, config_path=None)
    assert str(missing) in str(info.value)


# --- errors: one line each --------------------------------------------------------------------


def assert_one_line(exc: ConfigError) -> str:
    message = str(exc)
    assert message
    assert "\n" not in message
    return message


@pytest.mark.parametrize(
    ("profile", "environ", "named", "source"),
    [
        ("prod", {}, "'prod'", "--profile"),
        ("LOCAL", {}, "'LOCAL'", "--profile"),
        ("", {}, "''", "--profile"),
        ("local\naws", {}, "'local\\naws'", "--profile"),
        (None, {"CSVPIPE_PROFILE": "staging"}, "'staging'", "env CSVPIPE_PROFILE"),
    ],
)
def test_unknown_profile(
    tmp_path: Path, profile: str | None, environ: dict[str, str], named: str, source: str
) -> None:
    with pytest.raises(ConfigError) as info:
        load_settings(profile=profile, environ=environ, config_path=write_toml(tmp_path, ""))
    message = assert_one_line(info.value)
    assert f"unknown profile {named}" in message
    assert f"(from {source})" in message
    assert "local, localstack, ministack, aws" in message


@pytest.mark.parametrize(
    ("overrides", "listed"),
    [
        ({"raw_buckets": "x"}, "raw_buckets"),
        ({"zeta": "1", "alpha": "2", "raw_bucket": "ok"}, "alpha, zeta"),
        ({"sources": "x"}, "sources"),
        ({"notices": "x"}, "notices"),
        ({"RAW_BUCKET": "x"}, "RAW_BUCKET"),
    ],
)
def test_unknown_override_keys(tmp_path: Path, overrides: dict[str, str], listed: str) -> None:
    with pytest.raises(ConfigError) as info:
        load_settings(overrides=overrides, environ={}, config_path=write_toml(tmp_path, ""))
    message = assert_one_line(info.value)
    assert message.startswith(f"unknown setting(s) {listed};")
    assert "known: profile, region," in message


def test_unknown_keys_in_toml_table(tmp_path: Path) -> None:
    toml = write_toml(tmp_path, '[profiles.local]\nraw_bucket = "ok"\nrawbucket = "typo"\nport = 1\n')
    with pytest.raises(ConfigError) as info:
        load_settings(environ={}, config_path=toml)
    assert assert_one_line(info.value) == f"{toml}: unknown setting(s) in [profiles.local]: port, rawbucket"


def test_unknown_keys_in_another_profiles_table_are_not_checked(tmp_path: Path) -> None:
    toml = write_toml(tmp_path, "[profiles.aws]\nbogus = 1\n")
    assert load_settings(environ={}, config_path=toml).profile == "local"


@pytest.mark.parametrize(
    ("text", "fragment"),
    [
        ("[profiles.local\n", "not valid TOML"),
        ('raw_bucket = "x\n', "not valid TOML"),
        ("[profiles]\nlocal = 3\n", "[profiles.local] must be a table"),
    ],
)
def test_broken_toml_file(tmp_path: Path, text: str, fragment: str) -> None:
    toml = write_toml(tmp_path, text)
    with pytest.raises(ConfigError) as info:
        load_settings(environ={}, config_path=toml)
    message = assert_one_line(info.value)
    assert message.startswith(f"{toml}: ")
    assert fragment in message


@pytest.mark.parametrize("name", INT_FIELDS)
@pytest.mark.parametrize(
    ("where", "raw"),
    [("set", "abc"), ("set", "4.5"), ("env", "12x"), ("env", ""), ("toml", "thirty")],
)
def test_bad_whole_number(tmp_path: Path, name: str, where: str, raw: str) -> None:
    toml = write_toml(tmp_path, f'[profiles.local]\n{name} = "{raw}"\n' if where == "toml" else "")
    environ = {env_var(name): raw} if where == "env" else {}
    overrides = {name: raw} if where == "set" else {}
    with pytest.raises(ConfigError) as info:
        load_settings(overrides=overrides, environ=environ, config_path=toml)
    message = assert_one_line(info.value)
    assert message.startswith(f"setting {name!r} from ")
    expected_end = "must not be empty" if raw == "" else f"must be a whole number, got {raw!r}"
    assert message.endswith(expected_end)
    expected_source = {"set": f"--set {name}", "env": f"env {env_var(name)}", "toml": str(toml)}[where]
    assert expected_source in message


@pytest.mark.parametrize("name", INT_FIELDS)
@pytest.mark.parametrize("raw", ["0", "-1"])
def test_numbers_must_be_positive(tmp_path: Path, name: str, raw: str) -> None:
    with pytest.raises(ConfigError) as info:
        load_settings(environ={env_var(name): raw}, config_path=write_toml(tmp_path, ""))
    assert assert_one_line(info.value) == f"setting {name!r} (env {env_var(name)}) must be positive"


GLUE_LIMITS = (
    "crawl_timeout",
    "crawl_memory_mb",
    "transform_timeout",
    "transform_memory_mb",
    "glue_concurrency",
)


@pytest.mark.parametrize("name", GLUE_LIMITS)
def test_the_glue_stand_ins_limits_must_be_positive(tmp_path: Path, name: str) -> None:
    with pytest.raises(ConfigError) as info:
        load_settings(environ={env_var(name): "0"}, config_path=write_toml(tmp_path, ""))
    assert assert_one_line(info.value) == f"setting {name!r} (env {env_var(name)}) must be positive"


def test_the_transform_memory_must_be_above_duckdbs_limit(tmp_path: Path) -> None:
    with pytest.raises(ConfigError) as info:
        load_settings(
            overrides={"job_memory_mb": "2048", "transform_memory_mb": "2048"},
            environ={},
            config_path=write_toml(tmp_path, ""),
        )
    message = assert_one_line(info.value)
    assert message.startswith("setting 'transform_memory_mb' (2048, --set transform_memory_mb) must be above")
    assert "job_memory_mb (2048)" in message
    defaults = load_settings(environ={}, config_path=write_toml(tmp_path, ""))
    assert [getattr(defaults, name) for name in GLUE_LIMITS] == [300, 1024, 600, 3072, 2]


# --- describe() -------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("secret", "shown"),
    [
        ("testing", "****ng"),
        ("wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY", "****EY"),
        ("abcdefg", "****fg"),
        ("abcdef", "****"),
        ("x", "****"),
        ("", "-"),
    ],
)
def test_describe_masks_the_secret(tmp_path: Path, secret: str, shown: str) -> None:
    settings = load_settings(
        profile="aws",
        overrides={"aws_secret_access_key": secret},
        environ={},
        config_path=write_toml(tmp_path, ""),
    )
    rows = {name: (value, source) for name, value, source in describe(settings)}
    assert rows["aws_secret_access_key"] == (shown, "--set aws_secret_access_key")
    if len(secret) > 2:
        assert all(secret not in value for value, _ in rows.values())


def test_describe_lists_every_setting_with_its_source(tmp_path: Path) -> None:
    settings = load_settings(
        profile="aws",
        overrides={"lambda_timeout": "45"},
        environ={"CSVPIPE_DATA_DIR": "/srv/d"},
        config_path=write_toml(tmp_path, ""),
    )
    rows = describe(settings)
    assert [name for name, _, _ in rows] == list(FIELD_NAMES)
    by_name = {name: (value, source) for name, value, source in rows}
    assert by_name["profile"] == ("aws", "--profile")
    assert by_name["endpoint_url"] == ("-", "default")
    assert by_name["lambda_timeout"] == ("45", "--set lambda_timeout")
    assert by_name["data_dir"] == ("/srv/d", "env CSVPIPE_DATA_DIR")
    # The access key id is an identifier, not a secret; it is shown as is.
    assert by_name["aws_access_key_id"] == ("-", "default")


def test_describe_of_settings_built_directly_says_default() -> None:
    rows = describe(Settings(raw_bucket="direct"))
    assert ("raw_bucket", "direct", "default") in rows
    assert {source for _, _, source in rows} == {"default"}


# --- as_env() round trip ----------------------------------------------------------------------


@pytest.mark.parametrize(
    ("profile", "overrides"),
    [
        ("local", {}),
        ("localstack", {}),
        ("aws", {}),
        (
            "aws",
            {"region": "eu-west-1", "aws_access_key_id": "AKIAEXAMPLE", "aws_secret_access_key": "s3cr3t!"},
        ),
        ("local", {"emulator_port": "4700", "emulator_host": "10.0.0.5", "lambda_memory_mb": "1024"}),
        ("local", {"raw_bucket": "raw with spaces", "glue_database": "db_x", "dashboard_port": "9000"}),
        ("local", {"endpoint_url": "http://other:9999"}),
    ],
)
def test_as_env_round_trips(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, profile: str, overrides: dict[str, str]
) -> None:
    monkeypatch.chdir(tmp_path)  # the child finds no csvpipe.toml: only the variables count
    overrides = {"data_dir": str(tmp_path / "data"), "transforms_dir": str(tmp_path / "sql"), **overrides}
    original = load_settings(profile=profile, overrides=overrides, environ={}, config_path=None)

    env = original.as_env()
    rebuilt = load_settings(environ=env, config_path=None)

    assert rebuilt == original
    assert rebuilt.values() == original.values()
    assert all(key.startswith("CSVPIPE_") and isinstance(value, str) for key, value in env.items())
    # None travels as an empty variable, so an emptied value stays empty in the child.
    assert {name for name, value in original.values().items() if value is None} == {
        name for name in FIELD_NAMES if env[env_var(name)] == ""
    }
    exported = [name for name in FIELD_NAMES if env_var(name) in env]
    assert all(rebuilt.sources[name] == f"env {env_var(name)}" for name in exported)


def test_as_env_resolves_relative_directories(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """A child started in another folder must find the same data: paths are made absolute."""
    monkeypatch.chdir(tmp_path)
    original = load_settings(environ={}, config_path=None)
    assert original.data_dir == Path("data")

    env = original.as_env()
    assert env["CSVPIPE_DATA_DIR"] == str(tmp_path.resolve() / "data")
    assert env["CSVPIPE_TRANSFORMS_DIR"] == str(PACKAGED_TRANSFORMS.resolve())
    monkeypatch.chdir(tmp_path.parent)
    rebuilt = load_settings(environ=env, config_path=None)
    assert rebuilt.data_dir == tmp_path.resolve() / "data"
    assert rebuilt.state_dir == tmp_path.resolve() / "data" / ".csvpipe"


# --- settings that were once accepted wrongly -------------------------------------------------


def test_set_profile_is_refused_and_names_the_two_ways_to_choose_one(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match=r"chosen with --profile or CSVPIPE_PROFILE, not --set"):
        load_settings(overrides={"profile": "aws"}, environ={}, config_path=write_toml(tmp_path, ""))


@pytest.mark.parametrize("name", ["raw_bucket", "region", "data_dir"])
def test_empty_value_for_required_setting_is_refused(tmp_path: Path, name: str) -> None:
    with pytest.raises(ConfigError, match="must not be empty"):
        load_settings(environ={env_var(name): ""}, config_path=write_toml(tmp_path, ""))


@pytest.mark.parametrize("toml_value", ["[30]", "{ a = 1 }"])
def test_non_scalar_toml_value_for_int_setting(tmp_path: Path, toml_value: str) -> None:
    toml = write_toml(tmp_path, f"[profiles.local]\nlambda_timeout = {toml_value}\n")
    with pytest.raises(ConfigError, match="whole number"):
        load_settings(environ={}, config_path=toml)


def test_float_toml_value_for_int_setting(tmp_path: Path) -> None:
    toml = write_toml(tmp_path, "[profiles.local]\nlambda_timeout = 1.9\n")
    with pytest.raises(ConfigError, match="whole number"):
        load_settings(environ={}, config_path=toml)


def test_profiles_key_that_is_not_a_table(tmp_path: Path) -> None:
    toml = write_toml(tmp_path, "profiles = 3\n")
    with pytest.raises(ConfigError):
        load_settings(environ={}, config_path=toml)


@pytest.mark.parametrize("name", ["endpoint_url", "aws_access_key_id", "aws_secret_access_key"])
def test_as_env_round_trips_an_emptied_optional_setting(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, name: str
) -> None:
    monkeypatch.chdir(tmp_path)
    overrides = {name: "none", "data_dir": str(tmp_path)}
    original = load_settings(overrides=overrides, environ={}, config_path=None)
    assert getattr(original, name) is None
    rebuilt = load_settings(environ=original.as_env(), config_path=None)
    assert getattr(rebuilt, name) is None


# --- settings that no longer do anything --------------------------------------------------------


@pytest.mark.parametrize("where", ["set", "env", "toml"])
def test_persist_interval_ms_from_an_older_csvpipe_is_ignored_with_a_notice(
    tmp_path: Path, where: str
) -> None:
    toml = write_toml(tmp_path, "[profiles.local]\npersist_interval_ms = 5000\n" if where == "toml" else "")
    settings = load_settings(
        overrides={"persist_interval_ms": "5000"} if where == "set" else {},
        environ={"CSVPIPE_PERSIST_INTERVAL_MS": "0"} if where == "env" else {},
        config_path=toml,
    )
    source = {"set": "--set persist_interval_ms", "env": "env CSVPIPE_PERSIST_INTERVAL_MS", "toml": str(toml)}
    (notice,) = settings.notices
    assert notice.startswith(f"setting 'persist_interval_ms' ({source[where]}")
    assert "is ignored: the emulator now journals every write" in notice and "\n" not in notice
    assert not hasattr(settings, "persist_interval_ms")
    assert "CSVPIPE_PERSIST_INTERVAL_MS" not in settings.as_env()
    assert "persist_interval_ms" not in [name for name, _, _ in describe(settings)]


def test_no_notice_when_no_deprecated_setting_is_given(tmp_path: Path) -> None:
    assert load_settings(environ={}, config_path=write_toml(tmp_path, "")).notices == ()

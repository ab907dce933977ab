"""One frozen settings object, read once at the edge and passed down.

Why: every stage, emulator and the dashboard must agree on buckets, endpoints and limits, and
the only difference between the emulator and AWS must be the endpoint and the credentials.

Precedence, highest first: CLI flag (``--profile``, ``--set key=value``) > environment variable
(``CSVPIPE_<KEY>``) > the profile's table in the TOML file > built-in defaults. Each value
remembers where it came from, so ``csvpipe config show`` can tell.
"""

from __future__ import annotations

import dataclasses
import os
import tomllib
from collections.abc import Mapping
from dataclasses import dataclass, field, fields
from pathlib import Path
from typing import Any, get_type_hints

from pipeline.errors import ConfigError

PROFILES = ("local", "localstack", "ministack", "aws")
PACKAGED_TRANSFORMS = Path(__file__).parent / "transforms"
PACKAGED_RULES = Path(__file__).parent / "rules"
CONFIG_FILE_NAME = "csvpipe.toml"
SECRET_FIELDS = frozenset({"aws_secret_access_key"})
# Settings that no longer do anything: still accepted (a csvpipe.toml, a variable or a --set
# written for an older csvpipe keeps working), ignored, with a one-line notice saying why.
DEPRECATED = {
    "persist_interval_ms": "the emulator now journals every write it acknowledges, so there is no "
    "periodic copy to time (docs/durability.md); remove it",
}
_INTERNAL_FIELDS = ("sources", "notices")


@dataclass(frozen=True)
class Settings:
    """Everything csvpipe needs to know, for one profile."""

    profile: str = "local"
    region: str = "us-east-1"
    endpoint_url: str | None = None
    aws_access_key_id: str | None = None
    aws_secret_access_key: str | None = None

    raw_bucket: str = "csv-raw-data-bucket"
    processed_bucket: str = "csv-processed-data-bucket"
    final_bucket: str = "csv-final-data-bucket"
    queue_name: str = "csvpipe-raw-events"
    glue_database: str = "csvpipe"
    # The crawler (pipeline.catalog): rows read per file to infer types (0 = every row), what to do
    # with a changed schema ("update": apply compatible changes; "log": only report), and whether
    # to infer as csvpipe does or as AWS Glue's built-in CSV classifier would ("glue-compatible").
    crawler_sample_rows: int = 10000
    crawler_schema_change: str = "update"
    crawler_mode: str = "csvpipe"
    job_memory_mb: int = 2048
    # Bounded work in the Glue stand-in (emulators.bounded): each dataset's crawl, and each pass of
    # transforms, runs in a child process stopped past these seconds or this resident memory (MiB),
    # failing its own run with the reason; ``glue_concurrency`` datasets are crawled at once, so one
    # stuck dataset does not hold the others. The transform's memory bounds the whole process: it
    # must exceed ``job_memory_mb``, DuckDB's own limit inside it.
    crawl_timeout: int = 300
    crawl_memory_mb: int = 1024
    transform_timeout: int = 600
    transform_memory_mb: int = 3072
    glue_concurrency: int = 2
    # Text cells of final CSVs that start with = + - @ (a formula to a spreadsheet or BI tool)
    # get a leading ' so they are shown, not run. Parquet outputs keep the values as they are.
    csv_formula_guard: bool = True

    emulator_host: str = "127.0.0.1"
    emulator_port: int = 4577

    lambda_function_name: str = "csvpipe-preprocess"
    lambda_timeout: int = 30
    lambda_memory_mb: int = 512
    lambda_ephemeral_mb: int = 512
    # Execution environments the local Lambda runs at once (Lambda's reserved concurrency).
    lambda_concurrency: int = 2
    # Deployment (pipeline.deploy): who crawls and transforms after the Lambda ("csvpipe": csvpipe's
    # own Glue stand-in, as locally; "aws-glue": a Glue crawler and Glue jobs), the prefix of every
    # deployed name, the bucket for the Lambda zip and the Glue jobs' files, and the Lambda runtime
    # the zip is built for.
    glue_backend: str = "csvpipe"
    stack_name: str = "csvpipe"
    artifacts_bucket: str = "csv-artifacts-bucket"
    lambda_architecture: str = "x86_64"
    lambda_python_version: str = "3.12"

    transforms_dir: Path = PACKAGED_TRANSFORMS
    rules_dir: Path = PACKAGED_RULES
    data_dir: Path = Path("data")
    # The embedded emulator journals every write it acknowledges under <data_dir>/.csvpipe/state
    # and replays it when it starts (docs/durability.md); false keeps its state in memory only.
    persist: bool = True
    inbox_folder: str = "inbox"
    watch_done_folder: str = ".done"
    watch_failed_folder: str = ".failed"
    watch_poll_ms: int = 500
    watch_settle_ms: int = 1000
    dashboard_host: str = "127.0.0.1"
    dashboard_port: int = 8501

    sources: Mapping[str, str] = field(default_factory=dict, compare=False, repr=False)
    # One line per setting that was given but no longer does anything (see DEPRECATED).
    notices: tuple[str, ...] = field(default=(), compare=False, repr=False)

    @property
    def inbox_dir(self) -> Path:
        """The watched folder: ``inbox_folder`` under ``data_dir`` (or an absolute path)."""
        return self.data_dir / self.inbox_folder

    @property
    def state_dir(self) -> Path:
        """Where the running stack keeps its state file and logs."""
        return self.data_dir / ".csvpipe"

    @property
    def emulated(self) -> bool:
        """True when csvpipe talks to an emulator rather than to AWS."""
        return self.endpoint_url is not None

    def as_env(self) -> dict[str, str]:
        """The settings as ``CSVPIPE_*`` variables, so a child process (the Lambda runtime,
        the dashboard) rebuilds exactly these settings."""
        env = {}
        for name, value in self.values().items():
            if isinstance(value, Path):
                value = value.resolve()
            # An empty variable means None, so a value emptied on purpose stays empty.
            env[env_var(name)] = "" if value is None else str(value)
        return env

    def values(self) -> dict[str, Any]:
        return {f.name: getattr(self, f.name) for f in fields(self) if f.name not in _INTERNAL_FIELDS}


def env_var(name: str) -> str:
    return f"CSVPIPE_{name.upper()}"


def _profile_defaults(profile: str, port: int, host: str) -> dict[str, Any]:
    """What differs between profiles: the endpoint and the credentials, and who runs the Glue
    stages (csvpipe's stand-in where there is no Glue, AWS Glue on AWS)."""
    if profile == "local":
        return {
            "endpoint_url": f"http://{host}:{port}",
            "aws_access_key_id": "testing",
            "aws_secret_access_key": "testing",
        }
    if profile == "ministack":
        # MiniStack (PyPI `ministack`) as a host process on the emulator's address: the deployed
        # pipeline (`csvpipe deploy`) without Docker.
        return {
            "endpoint_url": f"http://{host}:{port}",
            "aws_access_key_id": "test",
            "aws_secret_access_key": "test",
        }
    if profile == "localstack":
        return {
            "endpoint_url": "http://localhost:4566",
            "aws_access_key_id": "test",
            "aws_secret_access_key": "test",
        }
    return {"glue_backend": "aws-glue"}


_HINTS = get_type_hints(Settings)
_FIELD_NAMES = tuple(f.name for f in fields(Settings) if f.name not in _INTERNAL_FIELDS)


def _coerce(name: str, raw: Any, source: str) -> Any:
    """The typed value of one setting; a clear ConfigError for anything else."""
    hint = _HINTS[name]
    optional = "None" in str(hint)
    if raw is None or (isinstance(raw, str) and raw.strip().lower() in {"", "none"}):
        if not optional:
            raise ConfigError(f"setting {name!r} from {source} must not be empty")
        return None
    if hint is int:
        if isinstance(raw, int) and not isinstance(raw, bool):
            return raw
        if isinstance(raw, str) and raw.strip().lstrip("+-").isdigit():
            return int(raw)
        raise ConfigError(f"setting {name!r} from {source} must be a whole number, got {raw!r}")
    if hint is bool:
        if isinstance(raw, bool):
            return raw
        word = str(raw).strip().lower()
        if word in {"true", "yes", "on", "1"}:
            return True
        if word in {"false", "no", "off", "0"}:
            return False
        raise ConfigError(f"setting {name!r} from {source} must be true or false, got {raw!r}")
    if hint is Path and isinstance(raw, str | Path):
        return Path(raw)
    if not isinstance(raw, str):
        raise ConfigError(f"setting {name!r} from {source} must be text, got {raw!r}")
    return raw


def _read_config_file(path: Path, profile: str) -> dict[str, Any]:
    try:
        with path.open("rb") as fh:
            document = tomllib.load(fh)
    except tomllib.TOMLDecodeError as exc:
        raise ConfigError(f"{path}: not valid TOML ({exc})") from None
    profiles = document.get("profiles", {})
    if not isinstance(profiles, dict):
        raise ConfigError(f"{path}: 'profiles' must be a table of [profiles.<name>] tables")
    table = profiles.get(profile, {})
    if not isinstance(table, dict):
        raise ConfigError(f"{path}: [profiles.{profile}] must be a table")
    unknown = sorted(set(table) - set(_FIELD_NAMES) - set(DEPRECATED))
    if unknown:
        raise ConfigError(f"{path}: unknown setting(s) in [profiles.{profile}]: {', '.join(unknown)}")
    return table


def load_settings(
    profile: str | None = None,
    overrides: Mapping[str, str] | None = None,
    environ: Mapping[str, str] | None = None,
    config_path: Path | None = None,
) -> Settings:
    """Build the settings with the documented precedence.

    ``profile`` and ``overrides`` are the CLI flags; ``environ`` defaults to the process
    environment; the config file is ``CSVPIPE_CONFIG`` or ``./csvpipe.toml`` when it exists.
    """
    environ = os.environ if environ is None else environ
    overrides = dict(overrides or {})

    if profile is not None:
        chosen, profile_source = profile, "--profile"
    elif "CSVPIPE_PROFILE" in environ:
        chosen, profile_source = environ["CSVPIPE_PROFILE"], "env CSVPIPE_PROFILE"
    else:
        chosen, profile_source = "local", "default"
    if chosen not in PROFILES:
        raise ConfigError(
            f"unknown profile {chosen!r} (from {profile_source}); choose one of {', '.join(PROFILES)}"
        )

    if "profile" in overrides:
        raise ConfigError("the profile is chosen with --profile or CSVPIPE_PROFILE, not --set")
    unknown = sorted(set(overrides) - set(_FIELD_NAMES) - set(DEPRECATED))
    if unknown:
        raise ConfigError(f"unknown setting(s) {', '.join(unknown)}; known: {', '.join(_FIELD_NAMES)}")

    if config_path is None and environ.get("CSVPIPE_CONFIG"):
        config_path = Path(environ["CSVPIPE_CONFIG"])
        if not config_path.is_file():
            raise ConfigError(f"config file {config_path} (from env CSVPIPE_CONFIG) does not exist")
    elif config_path is None and Path(CONFIG_FILE_NAME).is_file():
        config_path = Path(CONFIG_FILE_NAME)
    from_file = _read_config_file(config_path, chosen) if config_path else {}

    notices = []
    for name, why in DEPRECATED.items():
        given = [
            where
            for where, present in (
                (f"--set {name}", name in overrides),
                (f"env {env_var(name)}", env_var(name) in environ),
                (f"{config_path} [profiles.{chosen}]", name in from_file),
            )
            if present
        ]
        if given:
            notices.append(f"setting {name!r} ({', '.join(given)}) is ignored: {why}")

    values: dict[str, Any] = {"profile": chosen}
    sources: dict[str, str] = {"profile": profile_source}

    def pick(name: str, defaults: Mapping[str, Any]) -> None:
        if name in overrides:
            raw, source = overrides[name], f"--set {name}"
        elif env_var(name) in environ:
            raw, source = environ[env_var(name)], f"env {env_var(name)}"
        elif name in from_file:
            raw, source = from_file[name], f"{config_path} [profiles.{chosen}]"
        elif name in defaults:
            raw, source = defaults[name], f"{chosen} profile default"
        else:
            raw, source = getattr(Settings, name), "default"
        values[name] = _coerce(name, raw, source)
        sources[name] = source

    # The emulator's address feeds the local profile's endpoint, so it is resolved first.
    for name in ("emulator_host", "emulator_port"):
        pick(name, {})
    defaults = _profile_defaults(chosen, values["emulator_port"], values["emulator_host"])
    for name in _FIELD_NAMES:
        if name not in values:
            pick(name, defaults)

    for name in (
        "lambda_timeout",
        "lambda_memory_mb",
        "lambda_ephemeral_mb",
        "job_memory_mb",
        "watch_poll_ms",
        "lambda_concurrency",
        "crawl_timeout",
        "crawl_memory_mb",
        "transform_timeout",
        "transform_memory_mb",
        "glue_concurrency",
        "emulator_port",
        "dashboard_port",
    ):
        if values[name] <= 0:
            raise ConfigError(f"setting {name!r} ({sources[name]}) must be positive")
    if values["transform_memory_mb"] <= values["job_memory_mb"]:
        raise ConfigError(
            f"setting 'transform_memory_mb' ({values['transform_memory_mb']}, "
            f"{sources['transform_memory_mb']}) must be above job_memory_mb ({values['job_memory_mb']}): "
            "it bounds the whole transform process, DuckDB's limit included"
        )
    return Settings(**values, sources=sources, notices=tuple(notices))


def describe(settings: Settings) -> list[tuple[str, str, str]]:
    """(name, value, source) rows for ``csvpipe config show``; secrets masked."""
    rows = []
    for name, value in settings.values().items():
        shown = "-" if value is None else str(value)
        if name in SECRET_FIELDS and value:
            shown = "****" + str(value)[-2:] if len(str(value)) > 6 else "****"
        rows.append((name, shown, settings.sources.get(name, "default")))
    return rows


def replace(settings: Settings, **changes: Any) -> Settings:
    """A copy with some values changed (for tests and child processes)."""
    return dataclasses.replace(settings, **changes)

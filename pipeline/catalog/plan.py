"""Pure planning of catalog changes: from the inferred table, the registered one (if any) and the
schema-change policy to one plain record that says what to call and why. ``csvpipe crawl
--dry-run`` prints it; the crawler applies it; the crawl run record keeps it.

Schema evolution, column by column, against the registered table:

    add       a column the table lacks: appended at the end              compatible
    widen     int -> bigint -> decimal -> double, date -> timestamp      compatible
              and, in csvpipe mode, to string when the values need it   compatible
    pin       the dataset's rules pin the column's type                  compatible (always applied)
    nullable  a column now has NULLs                                     compatible
    serde     quoted fields appeared: LazySimpleSerDe -> OpenCSVSerde    compatible (csvpipe mode)
    narrow    the data fits a narrower type than registered              incompatible: type kept
    retype    glue-compatible mode: the values need string               incompatible: type kept
    drop      a registered column is no longer in the data               incompatible: column kept
    header    the files gained or lost their header row                  incompatible: table kept
    partition keys  the folder keys changed                              incompatible: keys kept

Policy ``update`` applies the compatible changes and keeps the table's side of each incompatible
one, so a table is never narrowed or stripped of a column by a crawl; policy ``log`` applies no
schema change at all and only reports (as Glue's SchemaChangePolicy LOG).

The data wins over the sample: in csvpipe mode a column whose later values no longer fit its
type (``2B037`` in a column of codes that looked numeric) is widened, to string if it must,
as a new table version, since a type the data does not fit fails every reader of the table.
A type the dataset's rules pin (``[columns.NAME] type = ...``) is the column's type whatever
the data looks like: the crawler never widens, narrows or changes it. A dropped column is kept
(the transform job reads it as NULL where no file has it); ``csvpipe crawl DATASET --rebuild``
(``rebuild=True``) re-derives the whole table from the current files instead. Refreshes that are
not schema changes (record count, location, new partitions) apply under both policies.
"""

from __future__ import annotations

import copy
import dataclasses
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, Literal

from pipeline.catalog.types import normalize, widen

TEXT_INPUT_FORMAT = "org.apache.hadoop.mapred.TextInputFormat"
TEXT_OUTPUT_FORMAT = "org.apache.hadoop.hive.ql.io.HiveIgnoreKeyTextOutputFormat"
LAZY_SIMPLE_SERDE = "org.apache.hadoop.hive.serde2.lazy.LazySimpleSerDe"
OPEN_CSV_SERDE = "org.apache.hadoop.hive.serde2.OpenCSVSerde"
CSV_SERDE = LAZY_SIMPLE_SERDE
NULLABLE = "csvpipe.nullable"  # column parameter: "true" when the column had NULLs
MODE_PARAMETER = "csvpipe.crawler_mode"
# The table parameters the crawler owns; any other parameter of a table is left as it is.
MANAGED_PARAMETERS = (
    "classification",
    "delimiter",
    "skip.header.line.count",
    "recordCount",
    "objectCount",
    "sizeKey",
    "compressionType",
    "typeOfData",
    "areColumnsQuoted",
    "columnsOrdered",
    "created_by",
    MODE_PARAMETER,
)
PARTITION_PARAMETERS = ("classification", "recordCount", "objectCount")
# GetTable returns these besides the TableInput fields; UpdateTable takes only TableInput.
_KEPT_TABLE_FIELDS = ("Description", "Owner", "Retention")

Action = Literal["create", "update", "unchanged"]


@dataclass(frozen=True)
class Column:
    name: str
    type: str
    nullable: bool | None = None  # None: not recorded (glue-compatible mode, foreign tables)


@dataclass(frozen=True)
class Change:
    """One schema difference between the registered table and the data, and what came of it."""

    kind: str  # add, widen, nullable, serde | narrow, retype, drop, header, partition keys
    subject: str  # the column's name, or "serde", "header", "partition keys"
    old: str | None
    new: str | None
    compatible: bool
    applied: bool = False
    detail: str = ""

    def as_record(self) -> dict[str, Any]:
        return {
            "kind": self.kind,
            "subject": self.subject,
            "old": self.old,
            "new": self.new,
            "compatible": self.compatible,
            "applied": self.applied,
            "detail": self.detail,
        }


@dataclass(frozen=True)
class WantedPartition:
    """One partition the data has: its values, its folder's S3 URI and its rows."""

    values: tuple[str, ...]
    location: str
    record_count: int
    object_count: int


@dataclass(frozen=True)
class PartitionPlan:
    action: Literal["create", "update", "unchanged", "stale"]
    values: tuple[str, ...]
    partition_input: dict[str, Any] | None = None


@dataclass(frozen=True)
class TablePlan:
    """What the crawler will do to one table, and why."""

    action: Action
    database: str
    table_input: dict[str, Any]
    reason: str
    decision: str = "create"  # create, unchanged, refresh, evolve, evolve-partial, refused, log, blocked
    policy: str = "update"
    mode: str = "csvpipe"
    changes: tuple[Change, ...] = ()
    partitions: tuple[PartitionPlan, ...] = ()
    partitions_held: bool = False  # the policy holds partition changes back with the schema
    notes: tuple[str, ...] = field(default=())

    @property
    def name(self) -> str:
        return str(self.table_input["Name"])

    def partitions_to(self, action: str) -> list[PartitionPlan]:
        return [p for p in self.partitions if p.action == action]


def serde_info(quoted: bool) -> dict[str, Any]:
    if quoted:
        return {
            "SerializationLibrary": OPEN_CSV_SERDE,
            "Parameters": {"separatorChar": ",", "quoteChar": '"'},
        }
    return {"SerializationLibrary": LAZY_SIMPLE_SERDE, "Parameters": {"field.delim": ","}}


def column_input(column: Column) -> dict[str, Any]:
    entry: dict[str, Any] = {"Name": column.name, "Type": column.type}
    if column.nullable is not None:
        entry["Parameters"] = {NULLABLE: "true" if column.nullable else "false"}
    return entry


def table_input(
    name: str,
    location: str,
    columns: Sequence[Column],
    record_count: int,
    *,
    header: bool = True,
    quoted: bool = False,
    partition_keys: Sequence[Column] = (),
    object_count: int | None = None,
    size: int | None = None,
    mode: str = "csvpipe",
) -> dict[str, Any]:
    """A Glue ``TableInput`` for CSV data, with the parameters AWS's crawler writes."""
    parameters = {
        "classification": "csv",
        "delimiter": ",",
        "recordCount": str(record_count),
        "compressionType": "none",
        "typeOfData": "file",
        "areColumnsQuoted": "true" if quoted else "false",
        "columnsOrdered": "true",
        "created_by": "csvpipe-crawler",
        MODE_PARAMETER: mode,
    }
    if header:
        parameters["skip.header.line.count"] = "1"
    if object_count is not None:
        parameters["objectCount"] = str(object_count)
    if size is not None:
        parameters["sizeKey"] = str(size)
    return {
        "Name": name,
        "TableType": "EXTERNAL_TABLE",
        "Parameters": parameters,
        "PartitionKeys": [{"Name": key.name, "Type": key.type} for key in partition_keys],
        "StorageDescriptor": {
            "Columns": [column_input(c) for c in columns],
            "Location": location,
            "InputFormat": TEXT_INPUT_FORMAT,
            "OutputFormat": TEXT_OUTPUT_FORMAT,
            "SerdeInfo": serde_info(quoted),
            "Parameters": {"classification": "csv"},
        },
    }


def _nullable_of(entry: dict[str, Any]) -> bool | None:
    flag = (entry.get("Parameters") or {}).get(NULLABLE)
    return None if flag is None else flag == "true"


def columns_of(table: dict[str, Any]) -> list[Column]:
    return [
        Column(c["Name"], c["Type"], _nullable_of(c))
        for c in table.get("StorageDescriptor", {}).get("Columns", [])
    ]


def partition_keys_of(table: dict[str, Any]) -> list[Column]:
    return [Column(k["Name"], k["Type"]) for k in table.get("PartitionKeys") or []]


def _has_header(table: dict[str, Any]) -> bool:
    return (table.get("Parameters") or {}).get("skip.header.line.count") == "1"


def _serde(table: dict[str, Any]) -> str:
    return str(table.get("StorageDescriptor", {}).get("SerdeInfo", {}).get("SerializationLibrary", ""))


def short_serde(library: str) -> str:
    return library.rsplit(".", 1)[-1]


def type_change(name: str, old: str, new: str, mode: str = "csvpipe") -> Change | None:
    """The change of one column's type from ``old`` (registered) to ``new`` (in the data)."""
    if normalize(old) == normalize(new):
        return None
    wider = widen(old, new)
    if wider == normalize(old):
        return Change(
            "narrow",
            name,
            old,
            new,
            False,
            detail=f"the data now fits {new}; the table keeps {old} (never narrowed)",
        )
    if wider == "string" and mode == "csvpipe":
        return Change(
            "widen",
            name,
            old,
            "string",
            True,
            detail=f"values no longer fit {old} (they need {new}): widened {old} -> string",
        )
    if wider == "string":
        return Change(
            "retype",
            name,
            old,
            new,
            False,
            detail=f"values no longer fit {old} (they need {new}); the table keeps {old}",
        )
    return Change("widen", name, old, wider, True, detail=f"widened {old} -> {wider}")


def column_changes(
    old: Sequence[Column],
    new: Sequence[Column],
    mode: str = "csvpipe",
    pinned: Mapping[str, str] | None = None,
) -> list[Change]:
    """Every difference between registered columns ``old`` and inferred columns ``new``;
    ``pinned``: the columns whose type the dataset's rules fix (name -> Glue type)."""
    pinned = pinned or {}
    inferred = {c.name: c for c in new}
    registered = {c.name for c in old}
    changes: list[Change] = []
    for column in old:
        found = inferred.get(column.name)
        if found is None:
            changes.append(
                Change(
                    "drop",
                    column.name,
                    column.type,
                    None,
                    False,
                    detail="no longer in the data; the table keeps it (NULL for files without it)",
                )
            )
            continue
        if column.name in pinned:
            if normalize(column.type) != normalize(pinned[column.name]):
                changes.append(
                    Change(
                        "pin",
                        column.name,
                        column.type,
                        pinned[column.name],
                        True,
                        detail=f"pinned to {pinned[column.name]} by the dataset's rules",
                    )
                )
        elif change := type_change(column.name, column.type, found.type, mode):
            changes.append(change)
        if found.nullable and column.nullable is not True:
            changes.append(Change("nullable", column.name, "false", "true", True, detail="now has NULLs"))
    for column in new:
        if column.name not in registered:
            changes.append(Change("add", column.name, None, column.type, True, detail="new column, appended"))
    return changes


def _evolved_columns(
    existing: dict[str, Any], wanted: dict[str, Any], applied: Sequence[Change]
) -> list[dict]:
    """The registered columns with the applied changes (comments and other parameters kept),
    then the added columns."""
    widened = {c.subject: c.new for c in applied if c.kind in ("widen", "pin")}
    nulled = {c.subject for c in applied if c.kind == "nullable"}
    added = {c.subject for c in applied if c.kind == "add"}
    columns = []
    for entry in existing["StorageDescriptor"]["Columns"]:
        column = {
            k: copy.deepcopy(v) for k, v in entry.items() if k in ("Name", "Type", "Comment", "Parameters")
        }
        if entry["Name"] in widened:
            column["Type"] = widened[entry["Name"]]
        if entry["Name"] in nulled:
            column["Parameters"] = {**(column.get("Parameters") or {}), NULLABLE: "true"}
        if not column.get("Parameters"):
            column.pop("Parameters", None)
        columns.append(column)
    columns += [copy.deepcopy(c) for c in wanted["StorageDescriptor"]["Columns"] if c["Name"] in added]
    return columns


def _managed_view(table: dict[str, Any]) -> dict[str, Any]:
    """The parts of a table the crawler owns, to tell whether an update would change anything."""
    storage = table.get("StorageDescriptor", {})
    parameters = table.get("Parameters") or {}
    return {
        "TableType": table.get("TableType"),
        "Columns": [(c.name, normalize(c.type), c.nullable) for c in columns_of(table)],
        "PartitionKeys": [(k.name, normalize(k.type)) for k in partition_keys_of(table)],
        "Location": storage.get("Location"),
        "InputFormat": storage.get("InputFormat"),
        "OutputFormat": storage.get("OutputFormat"),
        "SerdeInfo": storage.get("SerdeInfo"),
        "Parameters": {k: parameters[k] for k in MANAGED_PARAMETERS if k in parameters},
    }


def _as_input(existing: dict[str, Any]) -> dict[str, Any]:
    """A registered table as a TableInput (what UpdateTable would take to change nothing)."""
    allowed = ("Name", "TableType", "Parameters", "PartitionKeys", "StorageDescriptor", *_KEPT_TABLE_FIELDS)
    return copy.deepcopy({k: v for k, v in existing.items() if k in allowed})


def _target(
    existing: dict[str, Any], wanted: dict[str, Any], applied: Sequence[Change], keep_keys: bool
) -> dict[str, Any]:
    target = copy.deepcopy(wanted)
    for key in _KEPT_TABLE_FIELDS:
        if key in existing:
            target[key] = copy.deepcopy(existing[key])
    storage = {**copy.deepcopy(existing.get("StorageDescriptor", {})), **target["StorageDescriptor"]}
    storage["Columns"] = _evolved_columns(existing, wanted, applied)
    if not any(c.kind == "serde" for c in applied):
        storage["SerdeInfo"] = copy.deepcopy(
            existing["StorageDescriptor"].get("SerdeInfo", storage["SerdeInfo"])
        )
    storage["Parameters"] = {
        **(existing.get("StorageDescriptor", {}).get("Parameters") or {}),
        **target["StorageDescriptor"]["Parameters"],
    }
    target["StorageDescriptor"] = storage
    target["Parameters"] = {**(existing.get("Parameters") or {}), **wanted["Parameters"]}
    if keep_keys:
        target["PartitionKeys"] = copy.deepcopy(existing.get("PartitionKeys") or [])
    return target


def _serde_change(existing: dict[str, Any], wanted: dict[str, Any], mode: str) -> Change | None:
    old, new = _serde(existing), _serde(wanted)
    if old == new or (old == OPEN_CSV_SERDE and new == LAZY_SIMPLE_SERDE):
        return None  # OpenCSVSerde reads unquoted fields too: never switched back
    if old == LAZY_SIMPLE_SERDE and new == OPEN_CSV_SERDE:
        if mode == "csvpipe":
            return Change(
                "serde", "serde", short_serde(old), short_serde(new), True, detail="quoted fields appeared"
            )
        # Glue registers OpenCSVSerde with every column string: only compatible once they are.
        typed = [c.name for c in columns_of(existing) if normalize(c.type) != "string"]
        if not typed:
            return Change("serde", "serde", short_serde(old), short_serde(new), True, detail="quoted fields")
        return Change(
            "serde",
            "serde",
            short_serde(old),
            short_serde(new),
            False,
            detail=f"quoted fields appeared; OpenCSVSerde would make {', '.join(typed)} string",
        )
    return Change(
        "serde", "serde", short_serde(old), short_serde(new), False, detail="a SerDe csvpipe did not register"
    )


def positional_notes(columns: Sequence[str], file_columns: Sequence[tuple[str, Sequence[str]]]) -> list[str]:
    """Files whose columns are not the table's first columns in order: csvpipe's DuckDB job reads
    CSV by name, but Athena and Hive read it by position and would misread them."""
    notes = []
    for key, names in file_columns:
        if tuple(names) != tuple(columns[: len(names)]):
            notes.append(
                f"{key}: columns {', '.join(names)} are not the table's first columns in its order; "
                "engines that read CSV by position (Athena, Hive) would misread this file"
            )
    return notes


def plan_table(
    database: str,
    wanted: dict[str, Any],
    existing: dict[str, Any] | None,
    policy: str = "update",
    mode: str = "csvpipe",
    *,
    partitions: Sequence[WantedPartition] = (),
    existing_partitions: Sequence[dict[str, Any]] = (),
    file_columns: Sequence[tuple[str, Sequence[str]]] = (),
    notes: Sequence[str] = (),
    pinned: Mapping[str, str] | None = None,
    rebuild: bool = False,
) -> TablePlan:
    """The plan for one table: create it, update it (as the policy allows) or leave it; with
    ``rebuild``, replace its definition by the one ``wanted`` (the current files) as a new
    version, whatever the policy. ``pinned``: column name -> the Glue type the dataset's rules
    fix (``wanted`` already carries them; the registered side is changed to them)."""
    if existing is not None and rebuild:
        return _rebuilt(
            database, wanted, existing, policy, mode, partitions, existing_partitions, file_columns, notes
        )
    if existing is None:
        names = [c["Name"] for c in wanted["StorageDescriptor"]["Columns"]]
        return TablePlan(
            "create",
            database,
            wanted,
            "new table",
            "create",
            policy,
            mode,
            partitions=tuple(plan_partitions(wanted, partitions, ())),
            notes=(*notes, *positional_notes(names, file_columns)),
        )
    changes: list[Change] = []
    if _has_header(existing) != _has_header(wanted):
        had = "a header row" if _has_header(existing) else "no header row"
        changes.append(
            Change(
                "header",
                "header",
                str(_has_header(existing)).lower(),
                str(_has_header(wanted)).lower(),
                False,
                detail=f"the table reads files with {had}, the data now differs; the table is kept as it is",
            )
        )
        return _held(
            database, existing, "blocked", policy, mode, changes, partitions, existing_partitions, notes
        )

    changes = column_changes(columns_of(existing), columns_of(wanted), mode, pinned)
    old_keys, new_keys = partition_keys_of(existing), partition_keys_of(wanted)
    keys_changed = [(k.name, normalize(k.type)) for k in old_keys] != [
        (k.name, normalize(k.type)) for k in new_keys
    ]
    if keys_changed:
        shown = [", ".join(f"{k.name} {k.type}" for k in keys) or "none" for keys in (old_keys, new_keys)]
        changes.append(
            Change(
                "partition keys",
                "partition keys",
                shown[0],
                shown[1],
                False,
                detail="the folder keys changed; the table keeps its keys and no partition is registered",
            )
        )
    if serde := _serde_change(existing, wanted, mode):
        changes.append(serde)

    if policy == "log" and changes:
        return _held(database, existing, "log", policy, mode, changes, partitions, existing_partitions, notes)

    applied = [c for c in changes if c.compatible]
    target = _target(existing, wanted, applied, keep_keys=keys_changed)
    marked = tuple(dataclasses.replace(c, applied=c.compatible) for c in changes)
    action: Action = "update" if _managed_view(target) != _managed_view(existing) else "unchanged"
    if not changes:
        decision = "refresh" if action == "update" else "unchanged"
    elif all(c.compatible for c in changes):
        decision = "evolve"
    elif applied:
        decision = "evolve-partial"
    else:
        decision = "refused"
    names = [c["Name"] for c in target["StorageDescriptor"]["Columns"]]
    return TablePlan(
        action,
        database,
        target,
        _reason(action, decision, existing, target, marked),
        decision,
        policy,
        mode,
        marked,
        () if keys_changed else tuple(plan_partitions(target, partitions, existing_partitions)),
        notes=(*notes, *positional_notes(names, file_columns)),
    )


def _rebuilt(
    database: str,
    wanted: dict[str, Any],
    existing: dict[str, Any],
    policy: str,
    mode: str,
    partitions: Sequence[WantedPartition],
    existing_partitions: Sequence[dict[str, Any]],
    file_columns: Sequence[tuple[str, Sequence[str]]],
    notes: Sequence[str],
) -> TablePlan:
    """``csvpipe crawl DATASET --rebuild``: the table as the current files make it (columns no
    file has are removed, types re-derived, pins kept), applied by UpdateTable so the previous
    definition stays in the table's versions. The table's description and the parameters csvpipe
    does not manage are kept."""
    target = copy.deepcopy(wanted)
    for key in _KEPT_TABLE_FIELDS:
        if key in existing:
            target[key] = copy.deepcopy(existing[key])
    foreign = {k: v for k, v in (existing.get("Parameters") or {}).items() if k not in MANAGED_PARAMETERS}
    target["Parameters"] = {**foreign, **wanted["Parameters"]}
    changes = [_as_rebuilt(c) for c in column_changes(columns_of(existing), columns_of(wanted), mode)]
    if _has_header(existing) != _has_header(wanted):
        changes.append(
            Change(
                "header",
                "header",
                str(_has_header(existing)).lower(),
                str(_has_header(wanted)).lower(),
                True,
                True,
                "the files' header row, as they have it now",
            )
        )
    if _serde(existing) != _serde(wanted):
        old, new = short_serde(_serde(existing)), short_serde(_serde(wanted))
        changes.append(Change("serde", "serde", old, new, True, True, "the SerDe the files need now"))
    same_keys = [(k.name, normalize(k.type)) for k in partition_keys_of(existing)] == [
        (k.name, normalize(k.type)) for k in partition_keys_of(wanted)
    ]
    action: Action = "update" if _managed_view(target) != _managed_view(existing) else "unchanged"
    reason = (
        f"rebuilt from the current files, {len(changes)} schema change(s)"
        if action == "update"
        else "rebuilt: the table already matches its files"
    )
    names = [c["Name"] for c in target["StorageDescriptor"]["Columns"]]
    return TablePlan(
        action,
        database,
        target,
        reason,
        "rebuild",
        policy,
        mode,
        tuple(changes),
        tuple(plan_partitions(target, partitions, existing_partitions if same_keys else ())),
        notes=(*notes, *positional_notes(names, file_columns)),
    )


def _as_rebuilt(change: Change) -> Change:
    """A difference between the registered table and the files, as a rebuild applies it."""
    if change.kind == "drop":
        detail = "no current file has it: removed"
    elif change.kind == "add":
        detail = "new column"
    elif change.kind == "nullable":
        detail = change.detail
    else:
        detail = f"{change.old} -> {change.new}, from the current files"
    return dataclasses.replace(change, compatible=True, applied=True, detail=detail)


def _held(
    database: str,
    existing: dict[str, Any],
    decision: str,
    policy: str,
    mode: str,
    changes: Sequence[Change],
    partitions: Sequence[WantedPartition],
    existing_partitions: Sequence[dict[str, Any]],
    notes: Sequence[str],
) -> TablePlan:
    """The table left exactly as registered; the changes (and partition work) only reported."""
    kept = _as_input(existing)
    why = "policy log: schema changes reported, not applied" if decision == "log" else "header changed"
    return TablePlan(
        "unchanged",
        database,
        kept,
        f"{why} ({len(changes)} change(s))",
        decision,
        policy,
        mode,
        tuple(changes),
        tuple(plan_partitions(kept, partitions, existing_partitions)),
        partitions_held=True,
        notes=tuple(notes),
    )


def _reason(
    action: Action, decision: str, existing: dict[str, Any], target: dict[str, Any], changes: Sequence[Change]
) -> str:
    if changes:
        applied = sum(c.applied for c in changes)
        kept = len(changes) - applied
        return f"{applied} schema change(s) applied, {kept} incompatible kept out"
    if action == "unchanged":
        return "schema and record count unchanged"
    old_params, new_params = existing.get("Parameters") or {}, target["Parameters"]
    old_location = existing.get("StorageDescriptor", {}).get("Location")
    new_location = target["StorageDescriptor"]["Location"]
    if old_location != new_location:
        return f"location changed: {old_location} -> {new_location}"
    if old_params.get("recordCount") != new_params.get("recordCount"):
        return f"record count {old_params.get('recordCount')} -> {new_params.get('recordCount')}"
    return "table parameters refreshed"


def partition_input(table: dict[str, Any], partition: WantedPartition) -> dict[str, Any]:
    """A ``PartitionInput`` that inherits the table's columns and SerDe (as Glue's
    ``InheritFromTable``), with its own location and counts."""
    storage = copy.deepcopy(table["StorageDescriptor"])
    storage["Location"] = partition.location
    storage.pop("Parameters", None)
    return {
        "Values": list(partition.values),
        "StorageDescriptor": {
            k: storage[k]
            for k in ("Columns", "Location", "InputFormat", "OutputFormat", "SerdeInfo")
            if k in storage
        },
        "Parameters": {
            "classification": "csv",
            "recordCount": str(partition.record_count),
            "objectCount": str(partition.object_count),
        },
    }


def _partition_view(partition: dict[str, Any]) -> dict[str, Any]:
    storage = partition.get("StorageDescriptor", {})
    parameters = partition.get("Parameters") or {}
    return {
        "Values": list(partition.get("Values", [])),
        "Columns": [(c.name, normalize(c.type), c.nullable) for c in columns_of(partition)],
        "Location": storage.get("Location"),
        "InputFormat": storage.get("InputFormat"),
        "OutputFormat": storage.get("OutputFormat"),
        "SerdeInfo": storage.get("SerdeInfo"),
        "Parameters": {k: parameters[k] for k in PARTITION_PARAMETERS if k in parameters},
    }


def plan_partitions(
    table: dict[str, Any], wanted: Sequence[WantedPartition], existing: Sequence[dict[str, Any]]
) -> list[PartitionPlan]:
    """Create the partitions the data has and the catalog lacks, update those that differ, and
    report registered partitions without data as stale (kept, as Glue's DeleteBehavior LOG)."""
    registered = {tuple(p.get("Values", [])): p for p in existing}
    plans = []
    for partition in sorted(wanted, key=lambda p: p.values):
        entry = partition_input(table, partition)
        current = registered.get(partition.values)
        if current is None:
            plans.append(PartitionPlan("create", partition.values, entry))
        elif _partition_view(current) != _partition_view(entry):
            plans.append(PartitionPlan("update", partition.values, entry))
        else:
            plans.append(PartitionPlan("unchanged", partition.values, entry))
    seen = {p.values for p in wanted}
    plans += [PartitionPlan("stale", values) for values in sorted(registered) if values not in seen]
    return plans


def plan_record(plan: TablePlan) -> dict[str, Any]:
    """The plan as plain data, for the crawl run record and ``--dry-run``."""
    storage = plan.table_input["StorageDescriptor"]
    keys = [k["Name"] for k in plan.table_input.get("PartitionKeys") or []]

    def shown(values: tuple[str, ...]) -> str:
        return "/".join(f"{k}={v}" for k, v in zip(keys, values, strict=False))

    return {
        "database": plan.database,
        "table": plan.name,
        "action": plan.action,
        "decision": plan.decision,
        "policy": plan.policy,
        "mode": plan.mode,
        "reason": plan.reason,
        "location": storage["Location"],
        "columns": [{"name": c["Name"], "type": c["Type"]} for c in storage["Columns"]],
        "nullable": [c.name for c in columns_of(plan.table_input) if c.nullable],
        "partition_keys": [
            {"name": k["Name"], "type": k["Type"]} for k in plan.table_input.get("PartitionKeys") or []
        ],
        "record_count": int((plan.table_input.get("Parameters") or {}).get("recordCount", 0)),
        "header": _has_header(plan.table_input),
        "serde": short_serde(_serde(plan.table_input)),
        "changes": [c.as_record() for c in plan.changes],
        "partitions": {
            "held": plan.partitions_held,
            **{
                action: [shown(p.values) for p in plan.partitions_to(action)]
                for action in ("create", "update", "stale")
            },
            "unchanged": len(plan.partitions_to("unchanged")),
        },
        "notes": list(plan.notes),
    }


_MARKS = {
    "add": "+",
    "widen": "~",
    "pin": "~",
    "nullable": "~",
    "serde": "~",
    "drop": "-",
    "narrow": "~",
    "header": "~",
}


def describe_plan(plan: TablePlan) -> list[str]:
    """The plan as the lines ``csvpipe crawl`` prints."""
    record = plan_record(plan)
    schema = ", ".join(f"{c['name']} {c['type']}" for c in record["columns"])
    decision = f" [{plan.decision}]" if plan.decision != plan.action else ""
    lines = [
        f"{plan.database}.{plan.name}: {plan.action}{decision} - {plan.reason} "
        f"(policy {plan.policy}, mode {plan.mode})",
        f"  columns: {schema}",
        f"  rows: {record['record_count']}, header: {'yes' if record['header'] else 'no'}, "
        f"serde: {record['serde']}",
    ]
    for change in plan.changes:
        mark = _MARKS.get(change.kind, "!") if change.compatible else "!"
        status = (
            "applied"
            if change.applied
            else ("not applied" if change.compatible else "incompatible, kept out")
        )
        subject = f" {change.subject}" if change.subject != change.kind else ""
        lines.append(f"  {mark} {change.kind}{subject}: {change.detail} [{status}]")
    if record["partition_keys"]:
        keys = ", ".join(f"{k['name']} {k['type']}" for k in record["partition_keys"])
        parts = record["partitions"]
        summary = [f"{len(parts[a])} to {a}" for a in ("create", "update") if parts[a]]
        summary.append(f"{parts['unchanged']} unchanged")
        if parts["stale"]:
            summary.append(f"{len(parts['stale'])} stale (kept: {', '.join(parts['stale'][:5])})")
        held = " - held back with the schema" if plan.partitions_held else ""
        lines.append(f"  partitions by {keys}: {', '.join(summary)}{held}")
        for action in ("create", "update"):
            lines += [f"    {action} {values}" for values in parts[action]]
    lines += [f"  note: {note}" for note in plan.notes]
    kept = [c.subject for c in plan.changes if c.kind == "drop" and not c.applied]
    if kept:
        lines.append(
            f"  hint: {', '.join(kept)} read as NULL where no file has them; "
            f"`csvpipe crawl {plan.name} --rebuild` re-derives the table from its current files"
        )
    return lines

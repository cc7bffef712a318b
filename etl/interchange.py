"""The CSV interchange format: one file per entity, its columns, types, keys and references.

This module is the single source of truth for what a load accepts. Validation suites,
staging tables, the upsert statements and ``docs/interchange.md`` are all derived from it,
so an ERP export only has to be mapped onto these columns.

File conventions: UTF-8 (a byte-order mark is fine; Latin-1/Windows-1252 is detected and
decoded), comma separated, a header row, empty cells are missing values, dates
``YYYY-MM-DD``, timestamps ``YYYY-MM-DD HH:MM[:SS]`` in UTC (an offset is converted),
booleans ``true/false/1/0/yes/no``. Every file may carry an ``updated_at`` timestamp used
by incremental loads (rows not newer than the last run's watermark are skipped).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Literal

from sqlalchemy import Table

from data_access import schema

FieldType = Literal["text", "int", "float", "date", "datetime", "bool"]


@dataclass(frozen=True)
class Field:
    """One column of an interchange file."""

    name: str
    type: FieldType = "text"
    required: bool = False
    minimum: float | None = None
    maximum: float | None = None
    choices: tuple[str, ...] | None = None
    #: Event dates must not lie in the future (beyond tomorrow).
    past: bool = False
    description: str = ""


@dataclass(frozen=True)
class Reference:
    """File columns that name a row of another table by its natural key."""

    columns: tuple[str, ...]
    table: Table
    target_columns: tuple[str, ...]
    #: Foreign-key column the reference becomes in the entity's table.
    fk_column: str
    #: ``gx``: checked by the expectation suite against the set of known keys (small
    #: dimensions); ``db``: checked by an anti-join in the database (large fact tables).
    check: Literal["gx", "db"] = "gx"

    @property
    def label(self) -> str:
        return self.table.name.removeprefix("dim_").removeprefix("fact_")


@dataclass(frozen=True)
class Entity:
    """An interchange file and the table it loads into."""

    name: str
    table: Table
    fields: tuple[Field, ...]
    key: tuple[str, ...]
    description: str
    references: tuple[Reference, ...] = ()
    #: (earlier, later): later must be on or after earlier when both are present.
    date_order: tuple[tuple[str, str], ...] = ()
    #: Rows are never updated once stored (the inventory ledger).
    append_only: bool = False
    #: Numeric expressions over the file's columns that must be >= 0, with their meaning.
    derived_non_negative: tuple[tuple[str, str], ...] = field(default=())

    @property
    def file_name(self) -> str:
        return f"{self.name}.csv"

    @property
    def columns(self) -> tuple[str, ...]:
        return tuple(f.name for f in self.fields)

    @property
    def required(self) -> tuple[str, ...]:
        return tuple(f.name for f in self.fields if f.required)

    def field(self, name: str) -> Field:
        return next(f for f in self.fields if f.name == name)

    @property
    def reference_columns(self) -> frozenset[str]:
        return frozenset(c for r in self.references for c in r.columns)

    @property
    def conflict_columns(self) -> tuple[str, ...]:
        """The natural key in the table's own columns (foreign keys replace references)."""
        out: list[str] = []
        for column in self.key:
            ref = next((r for r in self.references if column in r.columns), None)
            name = ref.fk_column if ref else column
            if name not in out:
                out.append(name)
        return tuple(out)


UPDATED_AT = Field("updated_at", "datetime", description="Optional: when the row last changed at the source.")


def _ref(column: str, table: Table, key: str = "code", fk: str | None = None) -> Reference:
    return Reference((column,), table, (key,), fk or f"{column}_id")


CODE = Field("code", required=True, description="Natural key.")
NAME = Field("name", required=True)
QTY = {"type": "float", "minimum": 0.0}
PRODUCT = Field("product", required=True, description="SKU.")

ENTITIES: tuple[Entity, ...] = (
    Entity(
        "suppliers",
        schema.dim_supplier,
        (
            CODE,
            NAME,
            Field("lead_time_mean_days", "float", minimum=0, description="Mean days from order to receipt."),
            Field("lead_time_std_days", "float", minimum=0, description="Standard deviation of the lead time."),
            Field("email"),
        ),
        key=("code",),
        description="Suppliers with their lead-time distribution.",
    ),
    Entity(
        "locations",
        schema.dim_location,
        (CODE, NAME, Field("kind", required=True, choices=("warehouse", "store", "plant")), Field("region")),
        key=("code",),
        description="Warehouses, stores and plants that hold stock.",
    ),
    Entity(
        "customers",
        schema.dim_customer,
        (CODE, NAME, Field("segment"), Field("tier"), Field("region"), Field("email")),
        key=("code",),
        description="Customers with segment and tier (used for priorities and KPIs by segment).",
    ),
    Entity(
        "products",
        schema.dim_product,
        (
            Field("sku", required=True, description="Natural key."),
            Field("gtin", description="GTIN/EAN barcode, 8 to 14 digits."),
            NAME,
            Field("category", required=True),
            Field("unit_cost", "float", minimum=0, description="Current standard cost per unit."),
            Field("unit_price", "float", minimum=0, description="List price per unit."),
            Field("make_or_buy", required=True, choices=("make", "buy")),
            Field("supplier", description="Supplier code (bought items)."),
            Field("lead_time_days", "float", minimum=0),
            Field("moq", "float", minimum=0, description="Minimum order quantity."),
            Field("order_multiple", "float", minimum=0),
            Field("reorder_point", "float", minimum=0),
            Field("active", "bool"),
        ),
        key=("sku",),
        references=(_ref("supplier", schema.dim_supplier),),
        description="Products (SKUs) with cost, price, sourcing and order constraints.",
    ),
    Entity(
        "product_substitutes",
        schema.product_substitute,
        (
            PRODUCT,
            Field("substitute", required=True, description="SKU offered in its place."),
            Field("rank", "int", required=True, minimum=1, description="1 = first choice."),
        ),
        key=("product", "substitute"),
        references=(
            _ref("product", schema.dim_product, "sku"),
            _ref("substitute", schema.dim_product, "sku"),
        ),
        description="Substitutes a sales representative may offer for a product.",
    ),
    Entity(
        "sales_order_lines",
        schema.fact_sales_order_line,
        (
            Field("order_no", required=True),
            Field("line_no", "int", required=True, minimum=1),
            Field("customer", required=True, description="Customer code."),
            PRODUCT,
            Field("location", required=True, description="Location code that ships the line."),
            Field("channel"),
            Field("order_date", "date", required=True, past=True),
            Field("requested_date", "date", required=True),
            Field("promised_date", "date"),
            Field("qty_ordered", required=True, **QTY),
            Field("qty_shipped", **QTY),
            Field("qty_cancelled", **QTY),
            Field("cancelled_date", "date", past=True),
            Field("unit_price", "float", required=True, minimum=0),
            Field("discount", "float", minimum=0, maximum=1, description="Share of the price, 0 to 1."),
            Field("status", required=True, choices=("open", "partial", "shipped", "cancelled", "closed")),
            Field("priority", "int", minimum=0, description="0 normal; higher ships first."),
        ),
        key=("order_no", "line_no"),
        references=(
            _ref("customer", schema.dim_customer),
            _ref("product", schema.dim_product, "sku"),
            _ref("location", schema.dim_location),
        ),
        date_order=(("order_date", "requested_date"), ("order_date", "promised_date"), ("order_date", "cancelled_date")),
        derived_non_negative=(
            ("qty_ordered - qty_shipped - qty_cancelled", "qty_shipped + qty_cancelled exceeds qty_ordered"),
        ),
        description="Customer order lines; backorders are lines not shipped in full by the requested date.",
    ),
    Entity(
        "shipments",
        schema.fact_shipment,
        (
            Field("shipment_no", required=True),
            Field("order_no", required=True),
            Field("line_no", "int", required=True, minimum=1),
            Field("carrier"),
            Field("tracking_no"),
            Field("ship_date", "date", required=True, past=True),
            Field("eta", "date"),
            Field("delivered_date", "date", past=True),
            Field("qty", required=True, **QTY),
            Field("status", required=True, choices=("in_transit", "delivered", "shipped", "returned")),
        ),
        key=("shipment_no",),
        references=(
            Reference(
                ("order_no", "line_no"),
                schema.fact_sales_order_line,
                ("order_no", "line_no"),
                "order_line_id",
                check="db",
            ),
        ),
        date_order=(("ship_date", "delivered_date"), ("ship_date", "eta")),
        description="Shipments of order lines (a line shipped in parts has several).",
    ),
    Entity(
        "purchase_order_lines",
        schema.fact_purchase_order_line,
        (
            Field("po_no", required=True),
            Field("line_no", "int", required=True, minimum=1),
            Field("supplier", required=True, description="Supplier code."),
            PRODUCT,
            Field("location", required=True, description="Receiving location code."),
            Field("order_date", "date", required=True, past=True),
            Field("expected_date", "date"),
            Field("received_date", "date", past=True),
            Field("qty_ordered", required=True, **QTY),
            Field("qty_received", **QTY),
            Field("unit_cost", "float", minimum=0),
            Field("status", required=True, choices=("open", "partial", "received", "closed", "cancelled")),
            Field("origin", choices=("manual", "auto")),
        ),
        key=("po_no", "line_no"),
        references=(
            _ref("supplier", schema.dim_supplier),
            _ref("product", schema.dim_product, "sku"),
            _ref("location", schema.dim_location),
        ),
        date_order=(("order_date", "expected_date"), ("order_date", "received_date")),
        description="Purchase order lines with expected and actual receipt.",
    ),
    Entity(
        "production_orders",
        schema.fact_production_order,
        (
            Field("mo_no", required=True),
            PRODUCT,
            Field("location", required=True, description="Plant code."),
            Field("start_date", "date", required=True),
            Field("due_date", "date", required=True),
            Field("finished_date", "date", past=True),
            Field("qty_planned", required=True, **QTY),
            Field("qty_produced", **QTY),
            Field("status", required=True, choices=("planned", "released", "finished", "cancelled")),
            Field("origin", choices=("manual", "auto")),
        ),
        key=("mo_no",),
        references=(_ref("product", schema.dim_product, "sku"), _ref("location", schema.dim_location)),
        date_order=(("start_date", "due_date"), ("start_date", "finished_date")),
        description="Production (manufacturing) orders.",
    ),
    Entity(
        "inventory_movements",
        schema.fact_inventory_movement,
        (
            Field("movement_no", required=True),
            Field("ts", "datetime", required=True, past=True),
            PRODUCT,
            Field("location", required=True, description="Location code."),
            Field("qty", "float", required=True, description="Signed: positive into stock, negative out."),
            Field(
                "kind",
                required=True,
                choices=("receipt", "shipment", "adjustment", "transfer", "production", "count"),
            ),
            Field("unit_cost", "float", minimum=0, description="Cost per unit (receipts: purchase cost)."),
            Field("reference", description="Document the movement belongs to (PO, shipment, count...)."),
            Field("source", choices=("etl", "scan", "api", "app")),
            Field("user_name"),
        ),
        key=("movement_no",),
        references=(_ref("product", schema.dim_product, "sku"), _ref("location", schema.dim_location)),
        append_only=True,
        description="The append-only inventory ledger; on-hand stock is the sum of qty.",
    ),
    Entity(
        "cycle_counts",
        schema.fact_cycle_count,
        (
            Field("count_no", required=True),
            Field("count_date", "date", required=True, past=True),
            PRODUCT,
            Field("location", required=True, description="Location code."),
            Field("system_qty", "float", required=True),
            Field("counted_qty", "float", required=True, minimum=0),
            Field("user_name"),
        ),
        key=("count_no",),
        references=(_ref("product", schema.dim_product, "sku"), _ref("location", schema.dim_location)),
        description="Cycle counts: counted against system quantity (inventory accuracy).",
    ),
    Entity(
        "customer_feedback",
        schema.fact_customer_feedback,
        (
            Field("feedback_no", required=True),
            Field("customer", required=True, description="Customer code."),
            Field("feedback_date", "date", required=True, past=True),
            Field("nps_score", "int", minimum=0, maximum=10),
            Field("text"),
            Field("order_no"),
        ),
        key=("feedback_no",),
        references=(_ref("customer", schema.dim_customer),),
        description="Customer feedback: NPS score and free text.",
    ),
)

ENTITY_BY_NAME: dict[str, Entity] = {e.name: e for e in ENTITIES}
ENTITY_BY_FILE: dict[str, Entity] = {e.file_name: e for e in ENTITIES}

#: Tables whose changes move on-hand, on-order or backorders, so snapshots must follow.
SNAPSHOT_INPUTS = frozenset(
    {"inventory_movements", "purchase_order_lines", "production_orders", "sales_order_lines", "shipments"}
)


def markdown() -> str:
    """The interchange format as Markdown (written to docs/interchange.md)."""
    lines = [
        "# CSV interchange format",
        "",
        "Generated from `etl/interchange.py` by `python -m etl docs`; do not edit by hand.",
        "",
        (__doc__ or "").split("\n\n", 1)[1].strip(),
        "",
        "Files load in the order below (a file may reference rows of an earlier file in the same run).",
        "Only the files present in the folder are loaded.",
        "",
    ]
    for entity in ENTITIES:
        lines += [f"## `{entity.file_name}` → `{entity.table.name}`", "", entity.description, ""]
        lines.append(f"Key: `{', '.join(entity.key)}` (unique; loads upsert on it)."
                     + (" Append-only: a stored row is never changed." if entity.append_only else ""))
        lines.append("")
        lines += ["| column | type | required | rule | meaning |", "|---|---|---|---|---|"]
        refs = {c: r for r in entity.references for c in r.columns}
        for f in (*entity.fields, UPDATED_AT):
            rules = []
            if f.choices:
                rules.append("one of " + ", ".join(f"`{c}`" for c in f.choices))
            if f.minimum is not None:
                rules.append(f">= {f.minimum:g}")
            if f.maximum is not None:
                rules.append(f"<= {f.maximum:g}")
            if f.past:
                rules.append("not in the future")
            if f.name in refs:
                r = refs[f.name]
                rules.append(f"must exist in `{r.table.name}.{'/'.join(r.target_columns)}`")
            lines.append(
                f"| `{f.name}` | {f.type} | {'yes' if f.required else ''} | {'; '.join(rules)} | {f.description} |"
            )
        for earlier, later in entity.date_order:
            lines.append(f"\n`{later}` must not be before `{earlier}`.")
        for _expr, meaning in entity.derived_non_negative:
            lines.append(f"\nRejected when {meaning}.")
        lines.append("")
    return "\n".join(lines)

"""The reporting schema as SQLAlchemy Core tables (see ../shared/DESIGN.md).

Conventions:
- every table has an integer surrogate ``id``; natural keys are unique and loads upsert on them;
- quantities are in the product's unit, money in one currency, timestamps in UTC (naive);
- ``fact_inventory_movement`` is the append-only ledger: on-hand is the sum of ``qty``;
  database triggers (see the migrations) refuse UPDATE and DELETE on it;
- ``fact_inventory_snapshot`` is derived from the ledger and the order tables by ``etl``;
- the order state and ``agg_*`` tables are derived too (``data_access.derived``), keyed by what
  they summarise rather than by a surrogate id, so the headline report reads a few thousand
  rows instead of every order line.
"""

from __future__ import annotations

from sqlalchemy import (
    JSON,
    Boolean,
    CheckConstraint,
    Column,
    Date,
    DateTime,
    Float,
    ForeignKey,
    Index,
    Integer,
    MetaData,
    String,
    Table,
    Text,
    UniqueConstraint,
    func,
    text,
)

metadata = MetaData(
    naming_convention={
        "ix": "ix_%(column_0_label)s",
        "uq": "uq_%(table_name)s_%(column_0_N_name)s",
        "ck": "ck_%(table_name)s_%(constraint_name)s",
        "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
        "pk": "pk_%(table_name)s",
    }
)


def _id() -> Column:
    return Column("id", Integer, primary_key=True, autoincrement=True)


def _fk(name: str, target: str, nullable: bool = False, index: bool = True) -> Column:
    return Column(name, Integer, ForeignKey(f"{target}.id"), nullable=nullable, index=index)


def _updated_at() -> Column:
    return Column("updated_at", DateTime, nullable=False, server_default=func.current_timestamp())


# --- dimensions -------------------------------------------------------------------------

dim_supplier = Table(
    "dim_supplier",
    metadata,
    _id(),
    Column("code", String(64), nullable=False, unique=True),
    Column("name", String(200), nullable=False),
    Column("lead_time_mean_days", Float),
    Column("lead_time_std_days", Float),
    Column("email", String(200)),
    _updated_at(),
)

dim_location = Table(
    "dim_location",
    metadata,
    _id(),
    Column("code", String(64), nullable=False, unique=True),
    Column("name", String(200), nullable=False),
    Column("kind", String(16), nullable=False),
    Column("region", String(64)),
    _updated_at(),
    CheckConstraint("kind IN ('warehouse', 'store', 'plant')", name="kind"),
)

dim_customer = Table(
    "dim_customer",
    metadata,
    _id(),
    Column("code", String(64), nullable=False, unique=True),
    Column("name", String(200), nullable=False),
    Column("segment", String(64)),
    Column("tier", String(16)),
    Column("region", String(64)),
    Column("email", String(200)),
    _updated_at(),
)

dim_product = Table(
    "dim_product",
    metadata,
    _id(),
    Column("sku", String(64), nullable=False, unique=True),
    Column("gtin", String(14)),
    Column("name", String(200), nullable=False),
    Column("category", String(100), nullable=False, index=True),
    Column("unit_cost", Float),
    Column("unit_price", Float),
    Column("make_or_buy", String(4), nullable=False),
    _fk("supplier_id", "dim_supplier", nullable=True),
    Column("lead_time_days", Float),
    Column("moq", Float, nullable=False, server_default="0"),
    Column("order_multiple", Float, nullable=False, server_default="1"),
    Column("reorder_point", Float),
    Column("active", Boolean, nullable=False, server_default="1"),
    _updated_at(),
    CheckConstraint("make_or_buy IN ('make', 'buy')", name="make_or_buy"),
)

product_substitute = Table(
    "product_substitute",
    metadata,
    _id(),
    _fk("product_id", "dim_product"),
    _fk("substitute_id", "dim_product"),
    Column("rank", Integer, nullable=False),
    _updated_at(),
    UniqueConstraint("product_id", "substitute_id"),
    CheckConstraint("product_id <> substitute_id", name="not_self"),
)

# --- facts ------------------------------------------------------------------------------

fact_sales_order_line = Table(
    "fact_sales_order_line",
    metadata,
    _id(),
    Column("order_no", String(64), nullable=False),
    Column("line_no", Integer, nullable=False),
    _fk("customer_id", "dim_customer"),
    _fk("product_id", "dim_product"),
    _fk("location_id", "dim_location"),
    Column("channel", String(32)),
    Column("order_date", Date, nullable=False, index=True),
    Column("requested_date", Date, nullable=False, index=True),
    Column("promised_date", Date),
    Column("qty_ordered", Float, nullable=False),
    Column("qty_shipped", Float, nullable=False, server_default="0"),
    Column("qty_cancelled", Float, nullable=False, server_default="0"),
    Column("cancelled_date", Date, index=True),
    Column("unit_price", Float, nullable=False),
    Column("discount", Float, nullable=False, server_default="0"),
    Column("status", String(16), nullable=False),
    Column("priority", Integer, nullable=False, server_default="0"),
    _updated_at(),
    UniqueConstraint("order_no", "line_no"),
    CheckConstraint("qty_ordered >= 0 AND qty_shipped >= 0 AND qty_cancelled >= 0", name="qty_non_negative"),
    CheckConstraint("status IN ('open', 'partial', 'shipped', 'cancelled', 'closed')", name="status"),
    Index("ix_sales_line_product_location_date", "product_id", "location_id", "order_date"),
    # Open lines of one item-location: what promising and backorder allocation read (a few of thousands).
    Index("ix_sales_line_open", "product_id", "location_id", "requested_date",
          postgresql_where=text("status IN ('open', 'partial')"), sqlite_where=text("status IN ('open', 'partial')")),
)

fact_shipment = Table(
    "fact_shipment",
    metadata,
    _id(),
    Column("shipment_no", String(64), nullable=False, unique=True),
    _fk("order_line_id", "fact_sales_order_line"),
    Column("carrier", String(64)),
    Column("tracking_no", String(64)),
    Column("ship_date", Date, nullable=False, index=True),
    Column("eta", Date),
    Column("delivered_date", Date),
    Column("qty", Float, nullable=False),
    Column("status", String(16), nullable=False),
    _updated_at(),
    CheckConstraint("qty >= 0", name="qty_non_negative"),
    CheckConstraint("status IN ('in_transit', 'delivered', 'shipped', 'returned')", name="status"),
)

fact_purchase_order_line = Table(
    "fact_purchase_order_line",
    metadata,
    _id(),
    Column("po_no", String(64), nullable=False),
    Column("line_no", Integer, nullable=False),
    _fk("supplier_id", "dim_supplier"),
    _fk("product_id", "dim_product"),
    _fk("location_id", "dim_location"),
    Column("order_date", Date, nullable=False, index=True),
    Column("expected_date", Date, index=True),
    Column("received_date", Date, index=True),
    Column("qty_ordered", Float, nullable=False),
    Column("qty_received", Float, nullable=False, server_default="0"),
    Column("unit_cost", Float),
    Column("status", String(16), nullable=False),
    Column("origin", String(8), nullable=False, server_default="manual"),
    _updated_at(),
    UniqueConstraint("po_no", "line_no"),
    CheckConstraint("qty_ordered >= 0 AND qty_received >= 0", name="qty_non_negative"),
    CheckConstraint("status IN ('open', 'partial', 'received', 'closed', 'cancelled')", name="status"),
    CheckConstraint("origin IN ('manual', 'auto')", name="origin"),
    Index("ix_po_line_product_location", "product_id", "location_id"),
)

fact_production_order = Table(
    "fact_production_order",
    metadata,
    _id(),
    Column("mo_no", String(64), nullable=False, unique=True),
    _fk("product_id", "dim_product"),
    _fk("location_id", "dim_location"),
    Column("start_date", Date, nullable=False, index=True),
    Column("due_date", Date, nullable=False),
    Column("finished_date", Date, index=True),
    Column("qty_planned", Float, nullable=False),
    Column("qty_produced", Float, nullable=False, server_default="0"),
    Column("status", String(16), nullable=False),
    Column("origin", String(8), nullable=False, server_default="manual"),
    _updated_at(),
    CheckConstraint("qty_planned >= 0 AND qty_produced >= 0", name="qty_non_negative"),
    CheckConstraint("status IN ('planned', 'released', 'finished', 'cancelled')", name="status"),
    CheckConstraint("origin IN ('manual', 'auto')", name="origin"),
)

MOVEMENT_KINDS = ("receipt", "shipment", "adjustment", "transfer", "production", "count")
MOVEMENT_SOURCES = ("etl", "scan", "api", "app")

fact_inventory_movement = Table(
    "fact_inventory_movement",
    metadata,
    _id(),
    Column("movement_no", String(64), nullable=False, unique=True),
    Column("ts", DateTime, nullable=False),
    _fk("product_id", "dim_product", index=False),
    _fk("location_id", "dim_location", index=False),
    Column("qty", Float, nullable=False),
    Column("kind", String(16), nullable=False),
    Column("unit_cost", Float),
    Column("reference", String(64)),
    Column("source", String(8), nullable=False, server_default="etl"),
    Column("user_name", String(64)),
    Column("recorded_at", DateTime, nullable=False, server_default=func.current_timestamp()),
    CheckConstraint(f"kind IN {MOVEMENT_KINDS!r}", name="kind"),
    CheckConstraint(f"source IN {MOVEMENT_SOURCES!r}", name="source"),
    Index("ix_movement_product_location_ts", "product_id", "location_id", "ts"),
    Index("ix_movement_ts", "ts"),
)

fact_inventory_snapshot = Table(
    "fact_inventory_snapshot",
    metadata,
    _id(),
    Column("snapshot_date", Date, nullable=False, index=True),
    _fk("product_id", "dim_product", index=False),
    _fk("location_id", "dim_location", index=False),
    Column("on_hand", Float, nullable=False),
    Column("on_order", Float, nullable=False),
    Column("allocated", Float, nullable=False),
    Column("backordered", Float, nullable=False),
    Column("unit_cost", Float),
    UniqueConstraint("product_id", "location_id", "snapshot_date"),
)

# --- derived state for fast reporting (rebuilt by data_access.derived after every load) --

fact_order_line_state = Table(
    "fact_order_line_state",
    metadata,
    Column("sales_order_line_id", Integer, ForeignKey("fact_sales_order_line.id"), primary_key=True),
    Column("order_no", String(64), nullable=False, index=True),
    Column("product_id", Integer, nullable=False),
    Column("location_id", Integer, nullable=False),
    Column("order_date", Date, nullable=False),
    Column("requested_date", Date, nullable=False),
    Column("qty_ordered", Float, nullable=False),
    Column("net_price", Float, nullable=False),
    Column("shipped", Float, nullable=False),
    Column("shipped_by_requested", Float, nullable=False),
    Column("last_ship", Date),
    Column("qty_cancelled", Float, nullable=False),
    Column("cancel_effective", Date),
    Column("cancelled_on", Date),
    Column("closed_on", Date),
    Column("order_closed_on", Date, index=True),
    Index("ix_line_state_product_location", "product_id", "location_id"),
    Index("ix_line_state_requested_date", "requested_date"),
)

fact_order_state = Table(
    "fact_order_state",
    metadata,
    Column("order_no", String(64), primary_key=True),
    Column("ordered", Date, nullable=False),
    Column("last_requested", Date, nullable=False),
    Column("closed_on", Date, index=True),
    Column("has_shipment", Integer, nullable=False),
    Column("is_late", Integer, nullable=False),
    Column("any_short", Integer, nullable=False),
    Column("completed", Date),
)

agg_settled_lines = Table(
    "agg_settled_lines",
    metadata,
    Column("order_closed_on", Date, primary_key=True),
    Column("requested_date", Date, primary_key=True),
    Column("lines", Integer, nullable=False),
    Column("qty_ordered", Float, nullable=False),
    Column("short_lines", Integer, nullable=False),
    Column("filled_units", Float, nullable=False),
    Column("shipped_revenue", Float, nullable=False),
    Column("lost_units", Float, nullable=False),
    Column("lost_revenue", Float, nullable=False),
    Column("lost_margin", Float, nullable=False),
    Column("backlog_value_days", Float, nullable=False),
    Column("backorders_without_cost", Integer, nullable=False),
)

agg_settled_orders = Table(
    "agg_settled_orders",
    metadata,
    Column("closed_on", Date, primary_key=True),
    Column("last_requested", Date, primary_key=True),
    Column("orders", Integer, nullable=False),
    Column("shipped_orders", Integer, nullable=False),
    Column("on_time_orders", Integer, nullable=False),
    Column("filled_orders", Integer, nullable=False),
    Column("order_cycle_days", Float, nullable=False),
)

agg_daily = Table(
    "agg_daily",
    metadata,
    Column("day", Date, primary_key=True),
    Column("ledger_qty", Float, nullable=False),
    Column("issue_value", Float, nullable=False),
    Column("issues", Integer, nullable=False),
    Column("issues_without_cost", Integer, nullable=False),
    Column("revenue", Float, nullable=False),
    Column("units_shipped", Float, nullable=False),
    Column("inventory_value", Float),
    Column("snapshot_rows", Integer, nullable=False),
    Column("snapshot_rows_without_cost", Integer, nullable=False),
    Column("requested_lines", Integer, nullable=False),
    Column("short_lines", Integer, nullable=False),
)

derived_refresh = Table(
    "derived_refresh",
    metadata,
    Column("name", String(32), primary_key=True),
    Column("refreshed_at", DateTime, nullable=False, server_default=func.current_timestamp()),
    Column("max_line_id", Integer),
    Column("max_shipment_id", Integer),
    Column("max_movement_id", Integer),
)

fact_cycle_count = Table(
    "fact_cycle_count",
    metadata,
    _id(),
    Column("count_no", String(64), nullable=False, unique=True),
    Column("count_date", Date, nullable=False, index=True),
    _fk("product_id", "dim_product"),
    _fk("location_id", "dim_location"),
    Column("system_qty", Float, nullable=False),
    Column("counted_qty", Float, nullable=False),
    Column("user_name", String(64)),
    _updated_at(),
    CheckConstraint("counted_qty >= 0", name="counted_non_negative"),
)

forecast_run = Table(
    "forecast_run",
    metadata,
    _id(),
    Column("created_at", DateTime, nullable=False, server_default=func.current_timestamp()),
    Column("created_by", String(64)),
    Column("freq", String(8), nullable=False),
    Column("horizon", Integer, nullable=False),
    Column("params", JSON),
    Column("summary", JSON),
)

fact_forecast = Table(
    "fact_forecast",
    metadata,
    _id(),
    _fk("run_id", "forecast_run", index=False),
    _fk("product_id", "dim_product"),
    _fk("location_id", "dim_location"),
    Column("period", Date, nullable=False),
    Column("yhat", Float, nullable=False),
    Column("lo_80", Float),
    Column("hi_80", Float),
    Column("lo_95", Float),
    Column("hi_95", Float),
    Column("model", String(64), nullable=False),
    UniqueConstraint("run_id", "product_id", "location_id", "period"),
)

fact_customer_feedback = Table(
    "fact_customer_feedback",
    metadata,
    _id(),
    Column("feedback_no", String(64), nullable=False, unique=True),
    _fk("customer_id", "dim_customer"),
    Column("feedback_date", Date, nullable=False, index=True),
    Column("nps_score", Integer),
    Column("text", Text),
    Column("order_no", String(64)),
    _updated_at(),
    CheckConstraint("nps_score BETWEEN 0 AND 10", name="nps_range"),
)

# --- application and audit tables -------------------------------------------------------

replenishment_proposal = Table(
    "replenishment_proposal",
    metadata,
    _id(),
    Column("created_at", DateTime, nullable=False, server_default=func.current_timestamp()),
    _fk("product_id", "dim_product"),
    _fk("location_id", "dim_location"),
    Column("kind", String(16), nullable=False),
    _fk("supplier_id", "dim_supplier", nullable=True),
    Column("qty", Float, nullable=False),
    Column("order_date", Date, nullable=False),
    Column("due_date", Date, nullable=False),
    Column("policy", String(32), nullable=False),
    Column("rationale", JSON),
    Column("status", String(16), nullable=False, server_default="proposed"),
    Column("decided_by", String(64)),
    Column("decided_at", DateTime),
    CheckConstraint("kind IN ('purchase', 'production')", name="kind"),
    CheckConstraint("status IN ('proposed', 'approved', 'rejected', 'ordered')", name="status"),
)

forecast_override = Table(
    "forecast_override",
    metadata,
    _id(),
    Column("created_at", DateTime, nullable=False, server_default=func.current_timestamp()),
    Column("created_by", String(64), nullable=False),
    _fk("product_id", "dim_product", nullable=True),
    Column("category", String(100)),
    _fk("location_id", "dim_location", nullable=True),
    Column("period_start", Date, nullable=False),
    Column("period_end", Date, nullable=False),
    Column("kind", String(8), nullable=False),
    Column("value", Float, nullable=False),
    Column("note", Text),
    Column("active", Boolean, nullable=False, server_default="1"),
    CheckConstraint("kind IN ('percent', 'level')", name="kind"),
    CheckConstraint("period_end >= period_start", name="period"),
    CheckConstraint("kind <> 'level' OR value >= 0", name="level_non_negative"),
)

location_transfer_lane = Table(
    "location_transfer_lane",
    metadata,
    _id(),
    _fk("from_location_id", "dim_location"),
    _fk("to_location_id", "dim_location"),
    Column("transfer_days", Float, nullable=False),
    _updated_at(),
    UniqueConstraint("from_location_id", "to_location_id"),
    CheckConstraint("from_location_id <> to_location_id", name="not_self"),
    CheckConstraint("transfer_days >= 0", name="days_non_negative"),
)

backorder_eta = Table(
    "backorder_eta",
    metadata,
    _id(),
    _fk("sales_order_line_id", "fact_sales_order_line", index=False),
    Column("computed_at", DateTime, nullable=False, server_default=func.current_timestamp()),
    Column("qty_open", Float, nullable=False),
    Column("eta", Date),
    Column("previous_eta", Date),
    Column("source", String(16), nullable=False),
    Column("reference", String(64)),
    Column("priority", Boolean, nullable=False, server_default="0"),
    Column("allocation_rank", Integer),
    UniqueConstraint("sales_order_line_id"),
    CheckConstraint("source IN ('stock', 'purchase', 'production', 'none')", name="source"),
)

order_contact_log = Table(
    "order_contact_log",
    metadata,
    _id(),
    Column("ts", DateTime, nullable=False, server_default=func.current_timestamp()),
    Column("order_no", String(64), nullable=False, index=True),
    Column("line_no", Integer),
    Column("user_name", String(64), nullable=False),
    Column("channel", String(16), nullable=False),
    Column("message", Text, nullable=False),
    CheckConstraint("channel IN ('phone', 'email', 'chat', 'visit', 'note')", name="channel"),
)

notification_outbox = Table(
    "notification_outbox",
    metadata,
    _id(),
    Column("created_at", DateTime, nullable=False, server_default=func.current_timestamp()),
    Column("dedup_key", String(200), nullable=False, unique=True),
    Column("recipient", String(200), nullable=False),
    Column("subject", String(300), nullable=False),
    Column("body", Text, nullable=False),
    Column("status", String(16), nullable=False, server_default="pending"),
    Column("attempts", Integer, nullable=False, server_default="0"),
    Column("last_error", Text),
    Column("sent_at", DateTime),
)

etl_run = Table(
    "etl_run",
    metadata,
    _id(),
    Column("source", String(500), nullable=False),
    Column("kind", String(16), nullable=False),
    Column("started_at", DateTime, nullable=False),
    Column("finished_at", DateTime),
    Column("status", String(16), nullable=False),
    Column("rows_read", Integer, nullable=False, server_default="0"),
    Column("rows_loaded", Integer, nullable=False, server_default="0"),
    Column("rows_rejected", Integer, nullable=False, server_default="0"),
    Column("message", Text),
    Column("details", JSON),
    CheckConstraint("status IN ('running', 'succeeded', 'failed')", name="status"),
)

etl_reject = Table(
    "etl_reject",
    metadata,
    _id(),
    _fk("run_id", "etl_run"),
    Column("file", String(500), nullable=False),
    Column("row_number", Integer),
    Column("column_name", String(200)),
    Column("value", Text),
    Column("reason", Text, nullable=False),
)

etl_watermark = Table(
    "etl_watermark",
    metadata,
    _id(),
    Column("source", String(500), nullable=False),
    Column("entity", String(64), nullable=False),
    Column("file_sha256", String(64)),
    Column("watermark", String(64)),
    _fk("run_id", "etl_run", index=False),
    _updated_at(),
    UniqueConstraint("source", "entity"),
)

audit_log = Table(
    "audit_log",
    metadata,
    _id(),
    Column("ts", DateTime, nullable=False, server_default=func.current_timestamp()),
    Column("user_name", String(64)),
    Column("action", String(64), nullable=False),
    Column("entity", String(64)),
    Column("entity_key", String(200)),
    Column("details", JSON),
)

#: Tables holding reporting data (not audit or app state), in load order.
REPORTING_TABLES = (
    dim_supplier,
    dim_location,
    dim_customer,
    dim_product,
    product_substitute,
    fact_sales_order_line,
    fact_shipment,
    fact_purchase_order_line,
    fact_production_order,
    fact_inventory_movement,
    fact_cycle_count,
    fact_customer_feedback,
    fact_inventory_snapshot,
)

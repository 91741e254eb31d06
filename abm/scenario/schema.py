"""Scenario files: the pydantic schema, loading, ``extends`` and clear errors.

A scenario is a YAML file in ``scenarios/`` (or any path). It names the
world (products and agents), the parameters, the shocks and the horizon.
Every empirical figure in a library scenario cites an entry of
``scenarios/references.yaml`` through the ``sources`` map of the object that
holds it (field name -> reference id); unknown reference ids are refused.

Errors are raised as :class:`ScenarioError`, whose message names the file,
the field path and what was expected, on one line.
"""

from __future__ import annotations

import copy
import hashlib
import json
from datetime import date
from pathlib import Path
from typing import Annotated, Any, Literal, get_args, get_origin

import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError, model_validator

SCENARIO_DIR = Path(__file__).resolve().parents[2] / "scenarios"
REFERENCES_FILE = "references.yaml"

Region = Literal["US", "CN", "ROW"]
NonNeg = Annotated[float, Field(ge=0)]
Fraction = Annotated[float, Field(ge=0, le=1)]
PositiveInt = Annotated[int, Field(gt=0)]


class ScenarioError(ValueError):
    """A scenario file that cannot be used; the message is one line for the user."""


class Strict(BaseModel):
    """Base: unknown keys are errors, values are validated on assignment."""

    model_config = ConfigDict(extra="forbid", validate_assignment=True, frozen=False)


class Sourced(Strict):
    """An object whose empirical fields cite references (field -> reference id)."""

    sources: dict[str, str] = Field(default_factory=dict)

    @model_validator(mode="after")
    def _sources_name_fields(self) -> Sourced:
        for key in self.sources:
            if key not in type(self).model_fields:
                raise ValueError(f"sources names {key!r}, which is not a field of this object")
        return self


# ----------------------------------------------------------------- products


class ProductSpec(Sourced):
    """A catalogue entry; see :class:`abm.engine.products.Product` for the fields."""

    name: str
    vendor: str
    launch: date
    end_of_sale: date | None = None
    bf16_tflops: Annotated[float, Field(gt=0)]
    tpp: Annotated[float, Field(gt=0)]
    die_area_mm2: Annotated[float, Field(gt=0)]
    memory_bandwidth_gbs: Annotated[float, Field(gt=0)]
    interconnect_gbs: NonNeg
    hbm_stacks: Annotated[int, Field(ge=0)]
    packages_per_wafer: PositiveInt
    logic_dies: PositiveInt = 1
    dies_per_wafer: PositiveInt
    foundry: str
    node: str
    packager: str
    list_price_usd: Annotated[float, Field(gt=0)]
    power_w: Annotated[float, Field(gt=0)]
    markets: list[str] | None = None
    variant_of: str | None = None
    training_efficiency: Annotated[float, Field(gt=0, le=1)] = 1.0

    @model_validator(mode="after")
    def _dates(self) -> ProductSpec:
        if self.end_of_sale is not None and self.end_of_sale < self.launch:
            raise ValueError(f"end_of_sale: {self.end_of_sale} is before launch {self.launch}")
        return self


# -------------------------------------------------------------- suppliers


class Firm(Sourced):
    """Fields every firm has: a unique name, a jurisdiction and a region."""

    name: str
    country: str = Field(min_length=2, max_length=3)
    region: Region


class CapacityGrowth(Strict):
    """How a supplier adds capacity: reviewed every quarter, arriving after a lag."""

    max_growth_per_year: NonNeg = 1.0
    expansion_lag_weeks: Annotated[int, Field(ge=1)] = 52
    target_utilisation: Annotated[float, Field(gt=0, le=1)] = 0.9


class NodeSpec(Sourced):
    """A process node at a foundry: wafer starts available to accelerators."""

    node: str
    capacity_wafers_per_week: NonNeg
    yield_fraction: Annotated[float, Field(gt=0, le=1)]


class FoundrySpec(Firm):
    """A foundry (TSMC, SMIC...)."""

    nodes: list[NodeSpec] = Field(min_length=1)
    growth: CapacityGrowth = CapacityGrowth()
    cycle_weeks: PositiveInt = 12


class PackagerSpec(Firm):
    """An advanced-packaging line (CoWoS-class)."""

    capacity_wafers_per_week: NonNeg
    reserved_share: Fraction = 0.0
    growth: CapacityGrowth = CapacityGrowth()
    cycle_weeks: PositiveInt = 4


class MemoryMakerSpec(Firm):
    """An HBM maker."""

    capacity_stacks_per_week: NonNeg
    reserved_share: Fraction = 0.0
    growth: CapacityGrowth = CapacityGrowth()
    cycle_weeks: PositiveInt = 4


class VendorSpec(Firm):
    """A GPU vendor; its products are the catalogue entries naming it."""

    hbm_suppliers: dict[str, Fraction] = Field(min_length=1)
    target_backlog_weeks: Annotated[float, Field(gt=0)] = 8.0
    initial_weekly_units: dict[str, Annotated[int, Field(ge=0)]] = Field(default_factory=dict)
    input_cover_weeks: Annotated[float, Field(ge=0)] = 4.0
    max_ramp: Annotated[float, Field(ge=1)] = 1.5
    min_plan_units_per_week: Annotated[float, Field(ge=0)] = 2000.0
    price_response: NonNeg = 0.25
    allocation: Literal["pro_rata", "priority", "fifo"] = "priority"
    designs_variants: bool = False
    variant_design_weeks: Annotated[int, Field(ge=0)] = 12


# ------------------------------------------------------------------ buyers


class FleetCohort(Sourced):
    """Units of a product installed before the start date.

    With ``spread_weeks`` the units are spread evenly over eight purchase
    dates centred on ``age_weeks`` ago, so they do not all retire at once.
    """

    product: str
    units: Annotated[int, Field(ge=0)]
    age_weeks: Annotated[int, Field(ge=0)] = 0
    spread_weeks: Annotated[int, Field(ge=0)] = 0

    @model_validator(mode="after")
    def _spread(self) -> FleetCohort:
        if self.spread_weeks > 2 * self.age_weeks:
            raise ValueError("spread_weeks must be at most twice age_weeks (no negative ages)")
        return self


class BuyerSpec(Firm):
    """Fields shared by everything that buys and installs GPUs."""

    initial_fleet: list[FleetCohort] = Field(default_factory=list)
    vendor_shares: dict[str, Fraction] = Field(default_factory=dict)
    priority: Annotated[int, Field(ge=0, le=9)] = 1


class CloudSpec(BuyerSpec):
    """A cloud provider renting capacity in its region."""

    market_share: Fraction


TrendPoints = list[tuple[date, NonNeg]]


class LabSpec(BuyerSpec):
    """An AI lab / model company."""

    launch: date
    users_path_million: TrendPoints = Field(min_length=1)
    users_noise_sd: NonNeg = 0.01
    paid_share: Fraction = 0.05
    subscription_usd_per_month: NonNeg = 20.0
    signup_share_per_week: Fraction = 0.15
    pending_churn_per_week: Fraction = 0.1
    inference_h100e_per_million_users: NonNeg
    intensity_growth_per_year: float = 0.0
    efficiency: Annotated[float, Field(gt=0)] = 1.0
    training_h100e: TrendPoints = Field(min_length=1)
    api_share: Fraction = 0.0
    api_markup: Annotated[float, Field(ge=1)] = 2.0
    own_fleet: bool = False
    rents: bool = True
    cash_usd: float = 1e9
    funding_usd_per_week: NonNeg = 0.0
    opex_usd_per_week: NonNeg = 0.0
    reallocation_share_per_week: Fraction = 0.05
    rental_growth_per_week: NonNeg = 0.05
    inference_headroom: NonNeg = 0.05
    pause_threshold: Fraction = 0.02
    resume_headroom: NonNeg = 0.03
    resume_after_weeks: PositiveInt = 3
    exit_after_weeks_insolvent: PositiveInt = 8

    @model_validator(mode="after")
    def _fleet_or_rent(self) -> LabSpec:
        if not self.own_fleet and not self.rents:
            raise ValueError("a lab must own a fleet, rent, or both (own_fleet/rents both false)")
        if self.own_fleet and not self.vendor_shares:
            raise ValueError("a lab with own_fleet needs vendor_shares")
        return self


class EnterpriseSpec(Sourced):
    """Enterprise (B-end) token demand of one sector in one region."""

    name: str
    region: Region
    sector: str
    demand_path_h100e: TrendPoints = Field(min_length=1)
    noise_sd: NonNeg = 0.02
    via_labs_share: Fraction = 0.5
    elasticity: NonNeg = 1.0


# ---------------------------------------------------------------- controls


class Threshold(Strict):
    """Bounds on one product attribute; every bound given must hold."""

    ge: float | None = None
    gt: float | None = None
    le: float | None = None
    lt: float | None = None

    @model_validator(mode="after")
    def _some_bound(self) -> Threshold:
        if all(v is None for v in (self.ge, self.gt, self.le, self.lt)):
            raise ValueError("a threshold needs at least one of ge, gt, le, lt")
        return self


class ItemClause(Strict):
    """One controlled-item test: an item matches when every condition given holds.

    ``kind`` says what is shipped: ``gpu`` (an accelerator of the catalogue)
    or ``hbm`` (HBM stacks shipped to a vendor). Numeric conditions are
    thresholds on the product's attributes; ``products`` lists names;
    ``variant`` true matches only compliant variants (false: only non-variants).
    """

    kind: Literal["gpu", "hbm"] = "gpu"
    products: list[str] | None = None
    variant: bool | None = None
    bf16_tflops: Threshold | None = None
    tpp: Threshold | None = None
    performance_density: Threshold | None = None
    memory_bandwidth_gbs: Threshold | None = None
    interconnect_gbs: Threshold | None = None
    hbm_stacks: Threshold | None = None


class LicencePolicy(Strict):
    """What a controlled shipment needs.

    ``deny``: presumption of denial. ``case_by_case``: a licence is decided
    after ``delay_weeks`` and granted with ``approval_probability``, then
    valid for ``valid_weeks``. ``allow``: shipments pass (with the rule's
    levy, if any).
    """

    policy: Literal["deny", "case_by_case", "allow"]
    approval_probability: Fraction = 0.0
    delay_weeks: Annotated[int, Field(ge=0)] = 0
    valid_weeks: PositiveInt = 52


class RuleSpec(Strict):
    """An export or import control, as data."""

    id: str = Field(pattern=r"^[A-Za-z0-9_.\-]+$")
    kind: Literal["control_rule"] = "control_rule"
    authority: str
    gate: Literal["export", "import"]
    announced: date
    effective: date
    ends: date | None = None
    controlled: list[ItemClause] = Field(min_length=1)
    origins: list[str] = Field(default_factory=lambda: ["*"])
    origins_exclude: list[str] = Field(default_factory=list)
    destinations: list[str] = Field(min_length=1)
    end_users: list[str] = Field(default_factory=list)
    licence: LicencePolicy
    quantity_cap_units_per_buyer_year: Annotated[int, Field(ge=0)] | None = None
    levy_share: Fraction = 0.0
    description: str = ""
    sources: dict[str, str] = Field(default_factory=dict)

    @model_validator(mode="after")
    def _dates(self) -> RuleSpec:
        if self.effective < self.announced:
            raise ValueError(f"effective: {self.effective} is before announced {self.announced}")
        if self.ends is not None and self.ends <= self.effective:
            raise ValueError(f"ends: {self.ends} is not after effective {self.effective}")
        return self


class CloseLoophole(Strict):
    """US reaction: close the compliant-variant loophole.

    Once compliant variants take ``share_threshold`` of a vendor's Chinese
    purchases for ``weeks_over`` weeks, a rule covering them takes effect
    ``lag_weeks`` later.
    """

    enabled: bool = False
    share_threshold: Fraction = 0.3
    weeks_over: PositiveInt = 13
    lag_weeks: Annotated[int, Field(ge=0)] = 26


class DomesticMandate(Strict):
    """China reaction: mandate domestic accelerators.

    While the domestic share of accelerator deliveries is below
    ``target_share``, foreign accelerators are banned for
    ``step_share_of_buyers`` more of the Chinese buyers (highest priority
    first), reviewed every ``review_weeks``.
    """

    enabled: bool = False
    target_share: Fraction = 0.5
    step_share_of_buyers: Fraction = 0.25
    review_weeks: PositiveInt = 26
    start: date | None = None


class Reactions(Strict):
    """Switchable government reactions."""

    close_loophole: CloseLoophole = CloseLoophole()
    domestic_mandate: DomesticMandate = DomesticMandate()


class GovernmentSpec(Sourced):
    """A government that enacts rules (its ``authority`` name) and may react."""

    name: str
    country: str = Field(min_length=2, max_length=3)
    region: Region
    reactions: Reactions = Reactions()


class BrokerSpec(Firm):
    """A third-country intermediary that diverts controlled chips to blocked buyers."""

    vendor_shares: dict[str, Fraction] = Field(min_length=1)
    targets: list[str] = Field(default_factory=lambda: ["CN"])
    max_units_per_week: Annotated[int, Field(ge=0)] = 2000
    premium_base: NonNeg = 0.3
    premium_per_shortage: NonNeg = 2.0
    detection_base: Fraction = 0.05
    priority: Annotated[int, Field(ge=0, le=9)] = 0


class SyntheticWorld(Strict):
    """A scale-up of the world's buyers (built by :mod:`abm.engine.synthetic` for the model).

    Real clouds and enterprise segments are split into ``clouds`` and
    ``enterprises`` firms in all (shares, fleets and demand shared out, so the
    totals stay), and ``labs`` small renting labs are carved out of the real
    labs that rent (taking ``small_lab_share`` of their users and training).
    """

    enterprises: Annotated[int, Field(ge=0)] = 0
    labs: Annotated[int, Field(ge=0)] = 0
    clouds: Annotated[int, Field(ge=0)] = 0
    seed: Annotated[int, Field(ge=0)] = 0
    small_lab_share: Fraction = 0.2


class World(Strict):
    """Every product and agent of a scenario."""

    products: list[ProductSpec] = Field(min_length=1)
    foundries: list[FoundrySpec] = Field(min_length=1)
    packagers: list[PackagerSpec] = Field(min_length=1)
    memory_makers: list[MemoryMakerSpec] = Field(min_length=1)
    vendors: list[VendorSpec] = Field(min_length=1)
    clouds: list[CloudSpec] = Field(default_factory=list)
    labs: list[LabSpec] = Field(default_factory=list)
    enterprises: list[EnterpriseSpec] = Field(default_factory=list)
    governments: list[GovernmentSpec] = Field(default_factory=list)
    brokers: list[BrokerSpec] = Field(default_factory=list)
    synthetic: SyntheticWorld | None = None


# -------------------------------------------------------------- parameters


class RentalParams(Sourced):
    """Regional rental markets (USD per H100e-hour).

    ``floor_usd_per_h100e_hour`` is the price at which clouds offer all their
    capacity (capital recovery); with ``idle_price_exponent`` 0 they never go
    below it, with k > 0 they undercut it when capacity idles, to
    ``floor * utilisation ** k`` (see :func:`abm.markets.clearing.clear_rental_market`).
    """

    floor_usd_per_h100e_hour: Annotated[float, Field(gt=0)] = 1.0
    idle_price_exponent: NonNeg = 0.0
    ceiling_usd_per_h100e_hour: Annotated[float, Field(gt=0)] = 12.0
    lab_reference_usd_per_h100e_hour: Annotated[float, Field(gt=0)] = 4.0
    enterprise_reference_usd_per_h100e_hour: Annotated[float, Field(gt=0)] = 2.0
    lab_elasticity: NonNeg = 0.1
    price_smoothing: Annotated[float, Field(gt=0, le=1)] = 0.2
    rentable_share: Fraction = 0.95

    @model_validator(mode="after")
    def _bounds(self) -> RentalParams:
        if self.ceiling_usd_per_h100e_hour < self.floor_usd_per_h100e_hour:
            raise ValueError("ceiling_usd_per_h100e_hour is below floor_usd_per_h100e_hour")
        return self


class BuyerParams(Sourced):
    """Forecasting and ordering of clouds and labs that own fleets.

    ``double_order_per_week`` is the share by which a buyer inflates the fleet it
    orders toward per week of quoted lead time above the normal lead time
    (double and phantom orders placed because long lead times make buyers expect
    partial delivery, F149), capped at ``double_order_cap``; 0 turns it off. When
    the lead time falls the inflation goes, and the excess pipeline is cancelled.
    """

    forecast_alpha: Fraction = 0.3
    forecast_beta: Fraction = 0.1
    safety_stock: NonNeg = 0.1
    supply_line_adjust_weeks: Annotated[float, Field(ge=1)] = 8.0
    max_forecast_horizon_weeks: Annotated[float, Field(ge=0)] = 52.0
    cancel_excess_share: NonNeg = 0.25
    double_order_per_week: NonNeg = 0.0
    double_order_cap: NonNeg = 1.0
    product_choice_sharpness: NonNeg = 4.0
    service_life_weeks: PositiveInt = 260


class VendorParams(Sourced):
    """Vendors' supply-chain timing and pricing."""

    transit_weeks: Annotated[int, Field(ge=0)] = 4
    normal_lead_time_weeks: Annotated[float, Field(gt=0)] = 12.0
    price_adjust_rate: Fraction = 0.1
    max_price_multiple: Annotated[float, Field(ge=1)] = 1.6
    min_price_multiple: Annotated[float, Field(gt=0, le=1)] = 0.7


class Substitution(Strict):
    """How blocked buyers turn to other vendors (domestic substitutes)."""

    substitutes: dict[str, list[str]] = Field(default_factory=dict)
    front_run_boost: NonNeg = 1.0


class DemandParams(Sourced):
    """Scale factors on the enterprise demand paths (an assumption with a wide range, A19).

    Each enterprise's path is multiplied by a factor that moves log-linearly from
    ``enterprise_scale_start`` at the path's first point through
    ``enterprise_scale_mid`` on ``enterprise_scale_mid_date`` to
    ``enterprise_scale_end`` at its last point, so a fit can move the level and the
    timing of B-end demand growth without rewriting every path. An optional
    ``enterprise_scale_late`` knot on ``enterprise_scale_late_date`` lets the fit
    place the late-2025 growth of inference for agents and reasoning (F127).

    ``training_scale_peak`` multiplies the labs' training paths, which are
    sourced from the compute labs actually got (F105, F111), by a factor that
    rises log-linearly from 1 at the paths' start to this value on
    ``training_scale_peak_date`` and falls back to 1 on
    ``training_scale_until``: the compute labs wanted but could not get in the
    2023 shortage (latent demand, A19).
    """

    enterprise_scale_start: Annotated[float, Field(gt=0)] = 1.0
    enterprise_scale_mid: Annotated[float, Field(gt=0)] = 1.0
    enterprise_scale_mid_date: date = date(2023, 7, 3)
    enterprise_scale_late: Annotated[float, Field(gt=0)] | None = None
    enterprise_scale_late_date: date = date(2025, 10, 6)
    enterprise_scale_end: Annotated[float, Field(gt=0)] = 1.0
    training_scale_peak: Annotated[float, Field(gt=0)] = 1.0
    training_scale_peak_date: date = date(2023, 10, 2)
    training_scale_until: date = date(2024, 7, 1)

    @model_validator(mode="after")
    def _dates(self) -> DemandParams:
        if self.training_scale_until <= self.training_scale_peak_date:
            raise ValueError(
                f"training_scale_until ({self.training_scale_until}) must be after "
                f"training_scale_peak_date ({self.training_scale_peak_date})"
            )
        return self


class Parameters(Strict):
    """All global parameters of a scenario."""

    rental: RentalParams = RentalParams()
    demand: DemandParams = DemandParams()
    buyers: BuyerParams = BuyerParams()
    vendors: VendorParams = VendorParams()
    expansion_review_weeks: PositiveInt = 13
    supplier_max_queue_weeks: Annotated[float, Field(gt=0)] = 8.0


# ------------------------------------------------------------------ shocks


class ShockBase(Strict):
    """A scheduled event that changes the world for a while."""

    start: date
    target: str
    sources: dict[str, str] = Field(default_factory=dict)


class ConsumerSurge(ShockBase):
    """Users of a lab jump by ``factor`` within ``ramp_weeks`` (DevDay-style)."""

    kind: Literal["consumer_surge"]
    factor: Annotated[float, Field(gt=0)]
    ramp_weeks: PositiveInt = 2
    hold_weeks: Annotated[int, Field(ge=0)] = 4
    persistence: Fraction = 0.3
    decay_half_life_weeks: Annotated[float, Field(gt=0)] = 4.0


class CapacityShock(ShockBase):
    """A supplier's capacity is multiplied by ``factor`` for ``weeks``."""

    kind: Literal["capacity_shock"]
    factor: NonNeg
    weeks: PositiveInt


class EnterpriseShock(ShockBase):
    """Enterprise demand of a region (target = region code) is multiplied by ``factor``."""

    kind: Literal["enterprise_demand_shock"]
    factor: NonNeg
    weeks: PositiveInt


Shock = Annotated[ConsumerSurge | CapacityShock | EnterpriseShock, Field(discriminator="kind")]


class Scenario(Strict):
    """A complete, validated scenario."""

    name: str = Field(pattern=r"^[A-Za-z0-9_\-]+$")
    description: str = ""
    extends: str | None = None
    calibration: str | None = None
    """File of fitted parameter values (written by ``abm calibrate``) applied on load."""
    start_date: date = date(2022, 1, 3)
    weeks: PositiveInt = 261
    parameters: Parameters = Parameters()
    world: World
    shocks: list[Shock] = Field(default_factory=list)
    country_groups: dict[str, list[str]] = Field(default_factory=dict)
    policies: list[RuleSpec] = Field(default_factory=list)
    enforcement: Fraction = 0.5
    substitution: Substitution = Substitution()

    @model_validator(mode="after")
    def _cross_checks(self) -> Scenario:
        _check_world(self)
        return self

    @property
    def end_date(self) -> date:
        """Date of the last simulated week."""
        from datetime import timedelta

        return self.start_date + timedelta(weeks=self.weeks - 1)

    def content_hash(self) -> str:
        """SHA-256 of the validated scenario content (stable across key order)."""
        blob = json.dumps(self.model_dump(mode="json"), sort_keys=True).encode()
        return hashlib.sha256(blob).hexdigest()


def _check_world(sc: Scenario) -> None:
    w = sc.world
    names: dict[str, str] = {}
    groups = {
        "foundries": w.foundries,
        "packagers": w.packagers,
        "memory_makers": w.memory_makers,
        "vendors": w.vendors,
        "clouds": w.clouds,
        "labs": w.labs,
        "enterprises": w.enterprises,
        "governments": w.governments,
        "brokers": w.brokers,
    }
    for group, items in groups.items():
        for i, item in enumerate(items):
            if item.name in names:
                raise ValueError(
                    f"world.{group}[{i}].name: duplicate agent name {item.name!r} "
                    f"(already used in world.{names[item.name]})"
                )
            names[item.name] = f"{group}[{i}]"
    product_names: set[str] = set()
    vendors = {v.name for v in w.vendors}
    foundry_nodes = {(f.name, n.node) for f in w.foundries for n in f.nodes}
    packagers = {p.name for p in w.packagers}
    memory = {m.name for m in w.memory_makers}
    for i, p in enumerate(w.products):
        where = f"world.products[{i}]"
        if p.name in product_names:
            raise ValueError(f"{where}.name: duplicate product {p.name!r}")
        product_names.add(p.name)
        if p.vendor not in vendors:
            raise ValueError(f"{where}.vendor: {p.vendor!r} is not a vendor in world.vendors")
        if (p.foundry, p.node) not in foundry_nodes:
            raise ValueError(
                f"{where}.foundry: no foundry {p.foundry!r} with node {p.node!r} in world.foundries"
            )
        if p.packager not in packagers:
            raise ValueError(f"{where}.packager: {p.packager!r} is not in world.packagers")
    for i, v in enumerate(w.vendors):
        for prod in v.initial_weekly_units:
            if prod not in product_names:
                raise ValueError(
                    f"world.vendors[{i}].initial_weekly_units: unknown product {prod!r}"
                )
        if abs(sum(v.hbm_suppliers.values()) - 1) > 1e-6:
            total = sum(v.hbm_suppliers.values())
            raise ValueError(
                f"world.vendors[{i}].hbm_suppliers: shares must sum to 1, got {total:.6g}"
            )
        for m in v.hbm_suppliers:
            if m not in memory:
                raise ValueError(
                    f"world.vendors[{i}].hbm_suppliers: {m!r} is not in world.memory_makers"
                )
    for group in ("clouds", "labs"):
        for i, b in enumerate(getattr(w, group)):
            for v in b.vendor_shares:
                if v not in vendors:
                    raise ValueError(
                        f"world.{group}[{i}].vendor_shares: {v!r} is not in world.vendors"
                    )
            if b.vendor_shares and abs(sum(b.vendor_shares.values()) - 1) > 1e-6:
                total = sum(b.vendor_shares.values())
                raise ValueError(
                    f"world.{group}[{i}].vendor_shares: shares must sum to 1, got {total:.6g}"
                )
            for j, c in enumerate(b.initial_fleet):
                if c.product not in product_names:
                    raise ValueError(
                        f"world.{group}[{i}].initial_fleet[{j}].product: unknown product "
                        f"{c.product!r}"
                    )
    for region in ("US", "CN", "ROW"):
        shares = [c.market_share for c in w.clouds if c.region == region]
        if shares and sum(shares) > 1 + 1e-6:
            raise ValueError(f"world.clouds: market_share of region {region} sums above 1")
    _check_policies(sc, names, product_names)
    for i, s in enumerate(sc.shocks):
        ok = s.target in names or (s.kind == "enterprise_demand_shock" and s.target in REGIONS)
        if not ok:
            raise ValueError(f"shocks[{i}].target: {s.target!r} is not an agent of the world")


REGIONS = ("US", "CN", "ROW")


def _check_policies(sc: Scenario, names: dict[str, str], product_names: set[str]) -> None:
    w = sc.world
    governments = {g.name for g in w.governments}
    buyers = {b.name for b in (*w.clouds, *w.labs, *w.brokers)}
    vendors = {v.name for v in w.vendors}
    for g, members in sc.country_groups.items():
        for c in members:
            if not (2 <= len(c) <= 3 and c.isupper()):
                raise ValueError(f"country_groups.{g}: {c!r} is not a country code")

    def places(where: str, items: list[str]) -> None:
        for c in items:
            if c != "*" and c not in sc.country_groups and not (2 <= len(c) <= 3 and c.isupper()):
                raise ValueError(
                    f"{where}: {c!r} is neither a country code, '*', nor a group in country_groups"
                )

    seen: set[str] = set()
    for i, r in enumerate(sc.policies):
        where = f"policies[{i}]"
        if r.id in seen:
            raise ValueError(f"{where}.id: duplicate rule id {r.id!r}")
        seen.add(r.id)
        if r.authority not in governments:
            raise ValueError(f"{where}.authority: {r.authority!r} is not in world.governments")
        places(f"{where}.origins", r.origins)
        places(f"{where}.origins_exclude", r.origins_exclude)
        places(f"{where}.destinations", r.destinations)
        for u in r.end_users:
            if u not in buyers:
                raise ValueError(f"{where}.end_users: {u!r} is not a cloud, lab or broker")
        for j, clause in enumerate(r.controlled):
            for prod in clause.products or []:
                if prod not in product_names:
                    raise ValueError(f"{where}.controlled[{j}].products: unknown product {prod!r}")
    for region, subs in sc.substitution.substitutes.items():
        for v in subs:
            if v not in vendors:
                raise ValueError(f"substitution.substitutes.{region}: {v!r} is not a vendor")
    for i, b in enumerate(w.brokers):
        for v in b.vendor_shares:
            if v not in vendors:
                raise ValueError(f"world.brokers[{i}].vendor_shares: {v!r} is not in world.vendors")
    for i, p in enumerate(w.products):
        if p.variant_of is not None and p.variant_of not in product_names:
            raise ValueError(f"world.products[{i}].variant_of: unknown product {p.variant_of!r}")
    del names


# ------------------------------------------------------------------ loading


_FAST_LOADER = getattr(yaml, "CSafeLoader", yaml.SafeLoader)
_YAML_CACHE: dict[tuple[str, int, int], Any] = {}


def read_yaml(path: Path) -> dict[str, Any]:
    """A YAML file's content (kept per file version: batches and benchmarks re-read files).

    Parsed with libyaml when available; errors are reported by the pure-Python
    parser so messages do not depend on the installation.
    """
    try:
        st = path.stat()
        key = (str(path.resolve()), st.st_mtime_ns, st.st_size)
    except OSError:
        key = None
    if key is not None and key in _YAML_CACHE:
        return copy.deepcopy(_YAML_CACHE[key])
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise ScenarioError(f"{path}: file not found") from None
    except OSError as exc:
        raise ScenarioError(f"{path}: cannot read ({exc.strerror})") from None
    try:
        try:
            data = yaml.load(text, Loader=_FAST_LOADER)  # noqa: S506 (a safe loader)
        except yaml.YAMLError:
            data = yaml.safe_load(text)  # the same error, with the usual message
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        where = f" at line {mark.line + 1}, column {mark.column + 1}" if mark else ""
        problem = getattr(exc, "problem", None) or "invalid YAML"
        raise ScenarioError(f"{path}: unparseable YAML{where}: {problem}") from None
    if not isinstance(data, dict):
        raise ScenarioError(f"{path}: expected a mapping of scenario fields at the top level")
    if key is not None:
        if len(_YAML_CACHE) > 64:
            _YAML_CACHE.clear()
        _YAML_CACHE[key] = copy.deepcopy(data)
    return data


def _identity(items: Any) -> str | None:
    """The key (``id`` or ``name``) that identifies every item of a list of mappings."""
    if not isinstance(items, list) or not items or not all(isinstance(i, dict) for i in items):
        return None
    for key in ("id", "name"):
        if all(key in i for i in items):
            return key
    return None


def _merge_named(base: list[dict[str, Any]], override: list[dict[str, Any]], key: str) -> list:
    out = [copy.deepcopy(i) for i in base]
    index = {i[key]: n for n, i in enumerate(out)}
    for item in override:
        if item.get("remove") is True:
            out = [i for i in out if i[key] != item[key]]
            index = {i[key]: n for n, i in enumerate(out)}
        elif item[key] in index:
            out[index[item[key]]] = deep_merge(out[index[item[key]]], item)
        else:
            index[item[key]] = len(out)
            out.append(copy.deepcopy(item))
    return out


def deep_merge(base: dict[str, Any], override: dict[str, Any]) -> dict[str, Any]:
    """Merge ``override`` into a copy of ``base``.

    Mappings merge key by key. Lists of named items (every item has an
    ``id``, or every item a ``name``, in both lists) merge item by item: an
    override item changes the base item with the same id/name, a new one is
    appended, and ``{id: X, remove: true}`` deletes X. Other values replace.
    """
    out = copy.deepcopy(base)
    for key, value in override.items():
        if isinstance(value, dict) and isinstance(out.get(key), dict):
            out[key] = deep_merge(out[key], value)
        elif (ident := _identity(out.get(key))) and _identity(value) == ident:
            out[key] = _merge_named(out[key], value, ident)
        else:
            out[key] = copy.deepcopy(value)
    return out


def resolve_path(name_or_path: str | Path) -> Path:
    """Turn a library name (``baseline``) or a path into a scenario file path."""
    p = Path(name_or_path)
    if p.suffix in (".yaml", ".yml") or p.exists():
        return p
    lib = SCENARIO_DIR / f"{name_or_path}.yaml"
    if lib.exists():
        return lib
    known = ", ".join(library_names()) or "none"
    raise ScenarioError(
        f"{name_or_path}: no such scenario file or library scenario (known: {known})"
    )


def library_names() -> list[str]:
    """Names of the scenarios shipped in ``scenarios/``."""
    not_scenarios = {REFERENCES_FILE, "calibration.yaml", "targets.yaml"}
    return sorted(p.stem for p in SCENARIO_DIR.glob("*.yaml") if p.name not in not_scenarios)


def _apply_calibration(path: Path, data: dict[str, Any]) -> dict[str, Any]:
    """Merge the fitted values of the file named by ``calibration:`` over ``data``.

    A scenario (the baseline) may name a calibration file written by ``abm
    calibrate``; its ``fitted`` mapping (``key.path -> value``) replaces the
    file's own values, so the record of where a value came from is that file.
    """
    name = data.get("calibration")
    if name is None:
        return data
    if not isinstance(name, str):
        raise ScenarioError(f"{path}: calibration: expected a file name, got {name!r}")
    cal_path = path.parent / name
    if not cal_path.exists():
        raise ScenarioError(f"{path}: calibration: no such file {cal_path}")
    fitted = read_yaml(cal_path).get("fitted") or {}
    if not isinstance(fitted, dict):
        raise ScenarioError(f"{cal_path}: fitted: expected a mapping of key.path: value")
    from abm.runs.batch import BatchError, overrides_from

    try:
        return deep_merge(data, overrides_from(fitted))
    except BatchError as exc:
        raise ScenarioError(f"{cal_path}: fitted: {exc}") from None


def _raw_with_extends(path: Path, seen: tuple[Path, ...] = ()) -> dict[str, Any]:
    """Read a scenario file and the chain of files it extends, merged.

    Messages name files as the user gave them (``path`` is not resolved;
    resolved paths are only used to detect cycles).
    """
    real = path.resolve()
    if real in seen:
        chain = " -> ".join(p.stem for p in (*seen, real))
        raise ScenarioError(f"{path}: extends: cycle ({chain})")
    data = _apply_calibration(path, read_yaml(path))
    parent = data.get("extends")
    if parent is None:
        return data
    if not isinstance(parent, str):
        raise ScenarioError(f"{path}: extends: expected a scenario name, got {parent!r}")
    candidate = path.parent / f"{parent}.yaml"
    parent_path = candidate if candidate.exists() else SCENARIO_DIR / f"{parent}.yaml"
    if not parent_path.exists():
        raise ScenarioError(
            f"{path}: extends: no scenario named {parent!r} (looked in {path.parent or '.'}/ "
            "and the scenario library)"
        )
    base = _raw_with_extends(parent_path, (*seen, real))
    merged = deep_merge(base, {k: v for k, v in data.items() if k != "extends"})
    merged["extends"] = parent
    return merged


SHOCK_KINDS = ("consumer_surge", "capacity_shock", "enterprise_demand_shock")


def _format_loc(loc: tuple[Any, ...]) -> str:
    out = ""
    for part in loc:
        if isinstance(part, int):
            out += f"[{part}]"
        elif part in SHOCK_KINDS:
            continue  # discriminator tags pydantic inserts in the path
        else:
            out += f".{part}" if out else str(part)
    return out


def _model_at(loc: tuple[Any, ...]) -> type[BaseModel] | None:
    """The pydantic model class holding the last key of ``loc`` (for unknown keys)."""
    current: Any = Scenario
    for part in loc[:-1]:
        if isinstance(part, int):
            continue
        if isinstance(part, str) and part in SHOCK_KINDS:
            current = {
                "consumer_surge": ConsumerSurge,
                "capacity_shock": CapacityShock,
                "enterprise_demand_shock": EnterpriseShock,
            }[part]
            continue
        if not (isinstance(current, type) and issubclass(current, BaseModel)):
            return None
        field = current.model_fields.get(part)
        if field is None:
            return None
        current = _unwrap(field.annotation)
    return current if isinstance(current, type) and issubclass(current, BaseModel) else None


def _unwrap(annotation: Any) -> Any:
    """The model class inside ``list[...]``, ``X | None`` and ``Annotated[...]``."""
    for _ in range(6):
        args = [a for a in get_args(annotation) if a is not type(None)]
        models = [a for a in args if isinstance(a, type) and issubclass(a, BaseModel)]
        if isinstance(annotation, type) and issubclass(annotation, BaseModel):
            return annotation
        if models:
            return models[0]
        if not args:
            return annotation
        annotation = args[0] if get_origin(annotation) is not dict else args[-1]
    return annotation


_EXPECTED = {
    "float_parsing": "a number",
    "float_type": "a number",
    "int_parsing": "a whole number",
    "int_type": "a whole number",
    "int_from_float": "a whole number",
    "bool_parsing": "true or false",
    "bool_type": "true or false",
    "date_parsing": "a date (YYYY-MM-DD)",
    "date_from_datetime_parsing": "a date (YYYY-MM-DD)",
    "date_type": "a date (YYYY-MM-DD)",
    "string_type": "text",
    "list_type": "a list",
    "dict_type": "a mapping",
    "model_type": "a mapping of fields",
    "model_attributes_type": "a mapping of fields",
    "missing": "a value (this field is required)",
}


def _expected(err: dict[str, Any]) -> str:
    kind = err["type"]
    ctx = err.get("ctx") or {}
    if kind in _EXPECTED:
        return _EXPECTED[kind]
    bounds = {
        "greater_than_equal": ">=",
        "greater_than": ">",
        "less_than_equal": "<=",
        "less_than": "<",
    }
    if kind in bounds:
        value = next(iter(ctx.values()), "")
        shown = f"{value:g}" if isinstance(value, int | float) else value
        return f"a number {bounds[kind]} {shown}"
    if kind == "literal_error":
        return f"one of {ctx.get('expected', '')}"
    if kind == "string_pattern_mismatch":
        return f"text matching {ctx.get('pattern', '')}"
    if kind in ("too_short", "too_long"):
        limit = ctx.get("min_length", ctx.get("max_length", ""))
        word = "at least" if kind == "too_short" else "at most"
        return f"{word} {limit} item(s) or characters"
    msg = err["msg"]
    return (msg[0].lower() + msg[1:]).removeprefix("input should be ")


def first_error(path: Path | str, exc: ValidationError, prefix: str = "") -> str:
    """``path: field: message`` for the first error of a pydantic validation."""
    err = exc.errors()[0]
    loc = ".".join(str(p) for p in err["loc"])
    return f"{path}: {prefix}{loc}: {err['msg']}"


def _format_validation(path: Path | str, exc: ValidationError) -> str:
    err = exc.errors()[0]
    raw_loc = tuple(err["loc"])
    loc = _format_loc(raw_loc)
    if err["type"] == "extra_forbidden":
        model = _model_at(raw_loc)
        keys = ", ".join(k for k in model.model_fields if k != "sources") if model else ""
        hint = f"expected one of: {keys}" if keys else "check the spelling"
        return f"{path}: {loc}: unknown key ({hint})"
    if err["type"] == "value_error":
        msg = str(err["msg"]).removeprefix("Value error, ")
        if not loc:  # a cross-check of the whole scenario: the message names its field
            return f"{path}: {msg}"
        head, sep, rest = msg.partition(": ")
        if sep and head.isidentifier():  # "field: problem" raised by an object's validator
            return f"{path}: {loc}.{head}: {rest}"
        return f"{path}: {loc}: {msg}"
    got = err.get("input")
    got_s = "" if isinstance(got, dict | list) else f", got {got!r}"
    more = f" (+{exc.error_count() - 1} more)" if exc.error_count() > 1 else ""
    return f"{path}: {loc or '(top level)'}: expected {_expected(err)}{got_s}{more}"


def load_references() -> dict[str, dict[str, Any]]:
    """Read ``scenarios/references.yaml``: sourced facts and declared assumptions by id."""
    path = SCENARIO_DIR / REFERENCES_FILE
    data = read_yaml(path)
    refs: dict[str, dict[str, Any]] = {}
    for section in ("facts", "assumptions"):
        for rid, entry in (data.get(section) or {}).items():
            refs[str(rid)] = {"kind": section, **entry}
    return refs


def _check_sources(path: Path, raw: Any, refs: dict[str, Any], loc: str = "") -> None:
    if isinstance(raw, dict):
        for key, value in raw.items():
            sub = f"{loc}.{key}" if loc else str(key)
            if key == "sources" and isinstance(value, dict):
                for field, rid in value.items():
                    if str(rid) not in refs:
                        raise ScenarioError(
                            f"{path}: {sub}.{field}: unknown reference {rid!r} "
                            f"(expected an id from scenarios/{REFERENCES_FILE})"
                        )
            else:
                _check_sources(path, value, refs, sub)
    elif isinstance(raw, list):
        for i, item in enumerate(raw):
            _check_sources(path, item, refs, f"{loc}[{i}]")


def load_scenario(name_or_path: str | Path, overrides: dict[str, Any] | None = None) -> Scenario:
    """Load, merge (``extends``, then ``overrides``) and validate a scenario.

    Args:
        name_or_path: A library name such as ``"baseline"`` or a YAML path.
        overrides: Optional nested mapping merged over the file's content.

    Returns:
        The validated :class:`Scenario`.

    Raises:
        ScenarioError: with a one-line message naming the file and field.
    """
    path = resolve_path(name_or_path)
    raw = _raw_with_extends(path)
    if overrides:
        raw = deep_merge(raw, overrides)
    _check_sources(path, raw, load_references())
    try:
        return Scenario.model_validate(raw)
    except ValidationError as exc:
        raise ScenarioError(_format_validation(path, exc)) from None

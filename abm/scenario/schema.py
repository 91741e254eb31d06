"""The scenario schema: the pydantic models of a scenario file, and nothing else.

A scenario is a YAML file in ``scenarios/`` (or any path). It names the
world (products and agents), the parameters, the shocks and the horizon.
Every empirical figure in a library scenario cites an entry of
``scenarios/references.yaml`` through the ``sources`` map of the object that
holds it (field name -> reference id).

The lists other modules iterate are derived from the declarations here:
:data:`REGIONS` from the ``Region`` literal, :data:`SHOCK_KINDS` (and
:data:`SHOCK_MODELS`) from the ``Shock`` union. Checks across objects live in
:mod:`abm.scenario.checks`, reading files in :mod:`abm.scenario.loader`, and the
one-line messages in :mod:`abm.scenario.errors`.
"""

from __future__ import annotations

import hashlib
import json
from datetime import date
from typing import Annotated, Literal, get_args

from pydantic import BaseModel, ConfigDict, Field, model_validator
from pydantic import Strict as StrictNumber

from abm.limits import MAX_SEED as MAX_SEED
from abm.limits import MAX_WEEKS as MAX_WEEKS
from abm.scenario.errors import ScenarioCheckError

Region = Literal["US", "CN", "ROW"]
REGIONS: tuple[str, ...] = get_args(Region)
"""The regions of the world, in the order every per-region table uses."""

# Plausible ranges. Numbers are finite, typed strictly (``true`` is not a number, a
# whole number is a number) and bounded, so no value can overflow the model's arithmetic.
# MAX_WEEKS (longest horizon and any duration in weeks) and MAX_SEED live in abm.limits.
MAX_UNITS = 1_000_000_000
"""Most units of a product per firm (cohort, week's output, cap): ~300x Nvidia's 2024 volume."""
MAX_PRICE_USD = 1e7
"""Highest price (per GPU, per month, per H100e-hour): ~200x the dearest accelerator."""
MAX_CAPACITY = 1e8
"""Most wafers or HBM stacks per supplier-week: ~450x the largest library capacity."""
MAX_AMOUNT = 1e13
"""Any other quantity (USD, H100e, TFLOPS...): 250x the largest library value (40e9 USD)."""
MAX_FACTOR = 1000.0
"""Multipliers, growth rates, elasticities and exponents (exp() and powers stay finite)."""
MAX_SYNTHETIC_FIRMS = 100_000
"""Synthetic firms in all: 50,000 take ~0.6 GB before the first week, 100,000 a few GB."""

Real = Annotated[float, StrictNumber(), Field(allow_inf_nan=False, ge=-MAX_AMOUNT, le=MAX_AMOUNT)]
"""A finite number (an integer is accepted, ``true`` is not) of at most :data:`MAX_AMOUNT`."""
Int = Annotated[int, StrictNumber(), Field(ge=-MAX_UNITS, le=MAX_UNITS)]
"""A whole number (not ``true``, not ``2.5``) of at most :data:`MAX_UNITS`."""
NonNeg = Annotated[Real, Field(ge=0)]
Fraction = Annotated[Real, Field(ge=0, le=1)]
Factor = Annotated[Real, Field(ge=0, le=MAX_FACTOR)]
PositiveInt = Annotated[Int, Field(gt=0)]
Units = Annotated[Int, Field(ge=0, le=MAX_UNITS)]
Weeks = Annotated[Int, Field(ge=0, le=MAX_WEEKS)]
PositiveWeeks = Annotated[Int, Field(gt=0, le=MAX_WEEKS)]
Price = Annotated[Real, Field(gt=0, le=MAX_PRICE_USD)]
Capacity = Annotated[Real, Field(ge=0, le=MAX_CAPACITY)]


class Strict(BaseModel):
    """Base: unknown keys are errors, values are validated on assignment."""

    model_config = ConfigDict(
        extra="forbid", validate_assignment=True, frozen=False, allow_inf_nan=False
    )


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
    """A catalogue entry; see :class:`abm.agents.products.Product` for the fields."""

    name: str
    vendor: str
    launch: date
    end_of_sale: date | None = None
    bf16_tflops: Annotated[Real, Field(gt=0)]
    tpp: Annotated[Real, Field(gt=0)]
    die_area_mm2: Annotated[Real, Field(gt=0)]
    memory_bandwidth_gbs: Annotated[Real, Field(gt=0)]
    interconnect_gbs: NonNeg
    hbm_stacks: Annotated[Int, Field(ge=0)]
    packages_per_wafer: PositiveInt
    logic_dies: PositiveInt = 1
    dies_per_wafer: PositiveInt
    foundry: str
    node: str
    packager: str
    list_price_usd: Price
    power_w: Annotated[Real, Field(gt=0)]
    markets: list[str] | None = None
    variant_of: str | None = None
    training_efficiency: Annotated[Real, Field(gt=0, le=1)] = 1.0
    die: str | None = None
    """The logic die it is built from when another product shares it (e.g. the Ascend 910C
    packages two 910B dies): the vendor banks dies per die, so either product draws on them."""

    @model_validator(mode="after")
    def _dates(self) -> ProductSpec:
        if self.end_of_sale is not None and self.end_of_sale < self.launch:
            raise ScenarioCheckError(
                ("end_of_sale",), f"{self.end_of_sale} is before launch {self.launch}"
            )
        return self


# -------------------------------------------------------------- suppliers


class FirmSpec(Sourced):
    """Fields every firm has: a unique name, a jurisdiction and a region."""

    name: str
    country: str = Field(min_length=2, max_length=3)
    region: Region


class CapacityGrowth(Strict):
    """How a supplier adds capacity: reviewed every quarter, arriving after a lag."""

    max_growth_per_year: Factor = 1.0
    expansion_lag_weeks: Annotated[Weeks, Field(ge=1)] = 52
    target_utilisation: Annotated[Real, Field(gt=0, le=1)] = 0.9


class NodeSpec(Sourced):
    """A process node at a foundry: wafer starts available to accelerators."""

    node: str
    capacity_wafers_per_week: Capacity
    yield_fraction: Annotated[Real, Field(gt=0, le=1)]
    node_nm: Annotated[Real, Field(gt=0, le=1000)] | None = None
    """The node's size class in nanometres (N7: 7), which foundry rules test; None: untested."""


class FoundrySpec(FirmSpec):
    """A foundry (TSMC, SMIC...)."""

    nodes: list[NodeSpec] = Field(min_length=1)
    growth: CapacityGrowth = CapacityGrowth()
    cycle_weeks: PositiveWeeks = 12


class PackagerSpec(FirmSpec):
    """An advanced-packaging line (CoWoS-class)."""

    capacity_wafers_per_week: Capacity
    reserved_share: Fraction = 0.0
    growth: CapacityGrowth = CapacityGrowth()
    cycle_weeks: PositiveWeeks = 4


class MemoryMakerSpec(FirmSpec):
    """An HBM maker."""

    capacity_stacks_per_week: Capacity
    reserved_share: Fraction = 0.0
    growth: CapacityGrowth = CapacityGrowth()
    cycle_weeks: PositiveWeeks = 4


class VendorSpec(FirmSpec):
    """A GPU vendor; its products are the catalogue entries naming it."""

    hbm_suppliers: dict[str, Fraction] = Field(min_length=1)
    target_backlog_weeks: Annotated[Real, Field(le=MAX_WEEKS, gt=0)] = 8.0
    initial_weekly_units: dict[str, Units] = Field(default_factory=dict)
    input_cover_weeks: Annotated[Real, Field(le=MAX_WEEKS, ge=0)] = 4.0
    max_ramp: Annotated[Real, Field(le=MAX_FACTOR, ge=1)] = 1.5
    min_plan_units_per_week: Annotated[Real, Field(ge=0, le=MAX_UNITS)] = 2000.0
    price_response: Factor = 0.25
    allocation: Literal["shares", "pro_rata", "priority", "fifo"] = "shares"
    designs_variants: bool = False
    variant_design_weeks: Weeks = 12
    commitment_growth_per_year: Annotated[Real, Field(ge=0, le=MAX_FACTOR)] = 1.0
    """How far above its current output a vendor commits capacity, per year ahead.

    Suppliers expand against prepaid, non-cancellable commitments (A61), and a
    vendor commits at most ``(1 + g) ** (lag / 52)`` times its current output
    for capacity that arrives ``lag`` weeks ahead, whatever its backlog says:
    phantom orders do not build fabs.
    """
    stockpile_cover_weeks: Annotated[Real, Field(le=MAX_WEEKS, ge=0)] = 0.0
    """Weeks of planned HBM use added to the desired HBM stock while a rule that will cut
    the vendor's HBM supply is expected or announced and not yet in force (0: no stockpiling)."""


# ------------------------------------------------------------------ buyers


class FleetCohort(Sourced):
    """Units of a product installed before the start date.

    With ``spread_weeks`` the units are spread evenly over eight purchase
    dates centred on ``age_weeks`` ago, so they do not all retire at once.
    """

    product: str
    units: Units
    age_weeks: Weeks = 0
    spread_weeks: Weeks = 0

    @model_validator(mode="after")
    def _spread(self) -> FleetCohort:
        if self.spread_weeks > 2 * self.age_weeks:
            raise ValueError("spread_weeks must be at most twice age_weeks (no negative ages)")
        return self


class BuyerSpec(FirmSpec):
    """Fields shared by everything that buys and installs GPUs."""

    initial_fleet: list[FleetCohort] = Field(default_factory=list)
    vendor_shares: dict[str, Fraction] = Field(default_factory=dict)
    priority: Annotated[Int, Field(ge=0, le=9)] = 1


class CloudSpec(BuyerSpec):
    """A cloud provider renting capacity in its region."""

    market_share: Fraction


TrendPoints = list[tuple[date, NonNeg]]


class LabSpec(BuyerSpec):
    """An AI lab / model company."""

    launch: date
    paid_launch: date | None = None
    """When paid sign-ups opened (a subscription tier); None: at ``launch``."""
    users_path_million: TrendPoints = Field(min_length=1)
    users_noise_sd: NonNeg = 0.01
    paid_share: Fraction = 0.05
    subscription_usd_per_month: Annotated[NonNeg, Field(le=MAX_PRICE_USD)] = 20.0
    signup_share_per_week: Fraction = 0.15
    pending_churn_per_week: Fraction = 0.1
    inference_h100e_per_million_users: NonNeg
    intensity_growth_per_year: Annotated[Real, Field(ge=-1, le=MAX_FACTOR)] = 0.0
    efficiency: Annotated[Factor, Field(gt=0)] = 1.0
    training_h100e: TrendPoints = Field(min_length=1)
    api_share: Fraction = 0.0
    api_markup: Annotated[Real, Field(le=MAX_FACTOR, ge=1)] = 2.0
    own_fleet: bool = False
    rents: bool = True
    cash_usd: Real = 1e9
    funding_usd_per_week: NonNeg = 0.0
    opex_usd_per_week: NonNeg = 0.0
    reallocation_share_per_week: Fraction = 0.05
    rental_growth_per_week: Factor = 0.05
    inference_headroom: Factor = 0.05
    pause_threshold: Fraction = 0.02
    resume_headroom: Factor = 0.03
    resume_after_weeks: PositiveWeeks = 3
    exit_after_weeks_insolvent: PositiveWeeks = 8
    cash_runway_weeks: Annotated[Real, Field(gt=0, le=MAX_WEEKS)] | None = 26.0
    """Budget for rented compute: a lab spends on rent at most its revenue and funding
    less opex plus its cash over this many weeks (A64: ~6 months of runway); None: no limit."""

    @model_validator(mode="after")
    def _paid_after_launch(self) -> LabSpec:
        if self.paid_launch is not None and self.paid_launch < self.launch:
            raise ScenarioCheckError(
                ("paid_launch",), f"{self.paid_launch} is before launch {self.launch}"
            )
        return self

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
    elasticity: Factor = 1.0


# ---------------------------------------------------------------- controls


class Threshold(Strict):
    """Bounds on one product attribute; every bound given must hold."""

    ge: Real | None = None
    gt: Real | None = None
    le: Real | None = None
    lt: Real | None = None

    @model_validator(mode="after")
    def _some_bound(self) -> Threshold:
        if all(v is None for v in (self.ge, self.gt, self.le, self.lt)):
            raise ValueError("a threshold needs at least one of ge, gt, le, lt")
        return self


class ItemClause(Strict):
    """One controlled-item test: an item matches when every condition given holds.

    ``kind`` says what is shipped: ``gpu`` (an accelerator of the catalogue),
    ``hbm`` (HBM stacks shipped to a vendor) or ``wafer`` (wafer starts at a
    foundry for a designer's product, checked by ``gate: foundry`` rules).
    Numeric conditions are thresholds on the product's attributes (a wafer
    carries its product's, and ``node_nm``, its node's size); ``products`` lists names;
    ``variant`` true matches only compliant variants (false: only non-variants).
    """

    kind: Literal["gpu", "hbm", "wafer"] = "gpu"
    products: list[str] | None = None
    variant: bool | None = None
    bf16_tflops: Threshold | None = None
    tpp: Threshold | None = None
    performance_density: Threshold | None = None
    memory_bandwidth_gbs: Threshold | None = None
    interconnect_gbs: Threshold | None = None
    hbm_stacks: Threshold | None = None
    node_nm: Threshold | None = None


class LicencePolicy(Strict):
    """What a controlled shipment needs.

    ``deny``: presumption of denial. ``case_by_case``: a licence is decided
    after ``delay_weeks`` and granted with ``approval_probability``, then
    valid for ``valid_weeks``. ``allow``: shipments pass (with the rule's
    levy, if any).
    """

    policy: Literal["deny", "case_by_case", "allow"]
    approval_probability: Fraction = 0.0
    delay_weeks: Weeks = 0
    valid_weeks: PositiveWeeks = 52


class RuleSpec(Strict):
    """An export or import control, as data.

    ``gate`` says where it is checked: ``export`` and ``import`` on shipments
    (GPUs, HBM), ``foundry`` on wafer starts (origins: the foundries' countries,
    destinations: the designers' countries, end users: designers). ``expected``
    is when buyers came to expect the rule (press reports before the
    announcement); they front-run it from then (default: the announcement).
    """

    id: str = Field(pattern=r"^[A-Za-z0-9_.\-]+$")
    kind: Literal["control_rule"] = "control_rule"
    authority: str
    gate: Literal["export", "import", "foundry"]
    expected: date | None = None
    announced: date
    effective: date
    ends: date | None = None
    controlled: list[ItemClause] = Field(min_length=1)
    origins: list[str] = Field(default_factory=lambda: ["*"])
    origins_exclude: list[str] = Field(default_factory=list)
    destinations: list[str] = Field(min_length=1)
    end_users: list[str] = Field(default_factory=list)
    licence: LicencePolicy
    quantity_cap_units_per_buyer_year: Units | None = None
    levy_share: Fraction = 0.0
    description: str = ""
    sources: dict[str, str] = Field(default_factory=dict)

    @model_validator(mode="after")
    def _dates(self) -> RuleSpec:
        if self.expected is not None and self.expected > self.announced:
            raise ScenarioCheckError(
                ("expected",), f"{self.expected} is after announced {self.announced}"
            )
        if self.effective < self.announced:
            raise ScenarioCheckError(
                ("effective",), f"{self.effective} is before announced {self.announced}"
            )
        if self.ends is not None and self.ends <= self.effective:
            raise ScenarioCheckError(
                ("ends",), f"{self.ends} is not after effective {self.effective}"
            )
        return self

    @model_validator(mode="after")
    def _gate_kinds(self) -> RuleSpec:
        for j, clause in enumerate(self.controlled):
            if (clause.kind == "wafer") != (self.gate == "foundry"):
                raise ScenarioCheckError(
                    ("controlled", j, "kind"),
                    "wafer clauses go with gate: foundry, and a foundry rule controls wafers "
                    f"only (gate {self.gate}, kind {clause.kind})",
                )
        return self

    @property
    def expected_from(self) -> date:
        """When buyers start front-running the rule: ``expected``, else the announcement."""
        return self.expected if self.expected is not None else self.announced


class CloseLoophole(Strict):
    """US reaction: close the compliant-variant loophole.

    Once compliant variants take ``share_threshold`` of a vendor's Chinese
    purchases for ``weeks_over`` weeks, a rule covering them takes effect
    ``lag_weeks`` later.
    """

    enabled: bool = False
    share_threshold: Fraction = 0.3
    weeks_over: PositiveWeeks = 13
    lag_weeks: Weeks = 26


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
    review_weeks: PositiveWeeks = 26
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


class BrokerSpec(FirmSpec):
    """A third-country intermediary that diverts controlled chips to blocked buyers."""

    vendor_shares: dict[str, Fraction] = Field(min_length=1)
    targets: list[str] = Field(default_factory=lambda: ["CN"])
    max_units_per_week: Units = 2000
    premium_base: Factor = 0.3
    premium_per_shortage: Factor = 2.0
    detection_base: Fraction = 0.05
    priority: Annotated[Int, Field(ge=0, le=9)] = 0


class FrontSpec(FirmSpec):
    """A front company that has a listed designer's dies made at a controlled foundry.

    From ``start`` it places up to ``max_wafers_per_week`` wafer starts of
    ``product``'s die at ``foundry`` (on ``node``) in its own name, passing the
    foundry's controls as itself; the good dies (the foundry's yield on that node)
    go to ``designer``'s die bank. Each week it is detected with probability
    ``detection_per_week``; then the foundry stops its work and it shuts down.
    """

    designer: str
    product: str
    foundry: str
    node: str
    max_wafers_per_week: Capacity
    detection_per_week: Fraction
    start: date


class SyntheticWorld(Strict):
    """A scale-up of the world's buyers (built by :mod:`abm.engine.synthetic` for the model).

    Real clouds and enterprise segments are split into ``clouds`` and
    ``enterprises`` firms in all (shares, fleets and demand shared out, so the
    totals stay), and ``labs`` small renting labs are carved out of the real
    labs that rent (taking ``small_lab_share`` of their users and training).
    """

    enterprises: Annotated[Int, Field(ge=0, le=MAX_SYNTHETIC_FIRMS)] = 0
    labs: Annotated[Int, Field(ge=0, le=MAX_SYNTHETIC_FIRMS)] = 0
    clouds: Annotated[Int, Field(ge=0, le=MAX_SYNTHETIC_FIRMS)] = 0
    seed: Annotated[int, StrictNumber(), Field(ge=0, le=MAX_SEED)] = 0
    small_lab_share: Fraction = 0.2

    @model_validator(mode="after")
    def _total(self) -> SyntheticWorld:
        total = self.enterprises + self.labs + self.clouds
        if total > MAX_SYNTHETIC_FIRMS:
            raise ValueError(
                f"{total:,} synthetic firms in all; at most {MAX_SYNTHETIC_FIRMS:,} fit in memory"
            )
        return self


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
    fronts: list[FrontSpec] = Field(default_factory=list)
    synthetic: SyntheticWorld | None = None


# -------------------------------------------------------------- parameters


class CapacityCost(Sourced):
    """What new rental capacity costs a cloud per H100e-hour: the rental floor (A68).

    ``floor = opex_usd_per_kw_hour * kW per H100e
    + capex per H100e * system_cost_multiple / (recovery_years * 8760)``, where
    the capex and power per H100e are those of the GPUs bought in the region
    lately (shipments smoothed over ``smoothing_weeks``; at week 0 the cheapest
    compute the region's clouds can buy). See :func:`abm.markets.clearing.capacity_cost`.
    """

    system_cost_multiple: Annotated[Real, Field(ge=1, le=4)] = 1.6
    recovery_years: Annotated[Real, Field(ge=1, le=10)] = 3.5
    opex_usd_per_kw_hour: Annotated[Real, Field(ge=0, le=2)] = 0.3
    smoothing_weeks: Annotated[Real, Field(ge=1, le=104)] = 13.0


class RentalParams(Sourced):
    """Regional rental markets (USD per H100e-hour).

    ``floor_usd_per_h100e_hour`` is the price at which clouds offer all their
    capacity (capital recovery); with ``idle_price_exponent`` 0 they never go
    below it, with k > 0 they undercut it when capacity idles, to
    ``floor * utilisation ** k`` (see :func:`abm.markets.clearing.clear_rental_market`).
    With ``capacity_cost`` the floor is not fixed: each region's floor follows
    what its new capacity costs (:class:`CapacityCost`), capped at the ceiling,
    and ``floor_usd_per_h100e_hour`` is not used.
    """

    floor_usd_per_h100e_hour: Price = 1.0
    capacity_cost: CapacityCost | None = None
    idle_price_exponent: Factor = 0.0
    ceiling_usd_per_h100e_hour: Price = 12.0
    lab_reference_usd_per_h100e_hour: Price = 4.0
    enterprise_reference_usd_per_h100e_hour: Price = 2.0
    lab_elasticity: Factor = 0.1
    price_smoothing: Annotated[Real, Field(gt=0, le=1)] = 0.2
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
    safety_stock: Factor = 0.1
    supply_line_adjust_weeks: Annotated[Real, Field(le=MAX_WEEKS, ge=1)] = 8.0
    max_forecast_horizon_weeks: Annotated[Real, Field(le=MAX_WEEKS, ge=0)] = 52.0
    min_forecast_horizon_weeks: Annotated[Real, Field(le=MAX_WEEKS, ge=0)] = 0.0
    """Buyers plan their fleet at least this far ahead, however short the lead time (A63)."""
    cancel_excess_share: Factor = 0.25
    double_order_per_week: Factor = 0.0
    double_order_cap: Factor = 1.0
    product_choice_sharpness: Factor = 4.0
    service_life_weeks: PositiveWeeks = 260


class VendorParams(Sourced):
    """Vendors' supply-chain timing and pricing."""

    transit_weeks: Weeks = 4
    normal_lead_time_weeks: Annotated[Real, Field(le=MAX_WEEKS, gt=0)] = 12.0
    price_adjust_rate: Fraction = 0.1
    max_price_multiple: Annotated[Real, Field(le=MAX_FACTOR, ge=1)] = 1.6
    min_price_multiple: Annotated[Real, Field(gt=0, le=1)] = 0.7
    allocation_history_weeks: Annotated[Real, Field(ge=1, le=MAX_WEEKS)] = 26.0
    """Weeks of order history behind a buyer's standing share (``shares`` allocation)."""
    allocation_priority_weight: Annotated[Real, Field(ge=0, le=MAX_FACTOR)] = 0.25
    """Extra share per priority class (contract tier): weight ``1 + w * priority``."""
    allocation_floor_share: Fraction = 0.05
    """Share of the mean standing share every buyer with an order gets at least."""


class Substitution(Strict):
    """How blocked buyers turn to other vendors (domestic substitutes)."""

    substitutes: dict[str, list[str]] = Field(default_factory=dict)
    front_run_boost: Factor = 1.0


class DemandParams(Sourced):
    """How the sourced demand paths become the compute buyers want.

    ``enterprise_scale_start`` and ``enterprise_scale_end`` scale every
    enterprise path by a factor moving log-linearly from the path's first
    point to its last: the level and the long-run growth of B-end demand
    relative to the sourced paths (a wide assumption, A19), never one window.

    ``training_lead_weeks``: labs want the training compute of the run they
    are preparing, not of the run under way. A frontier cluster is secured
    and installed before its run starts, so a lab's training need at week t
    is its training path at t plus this lead (A60). When the frontier grows
    fast (2023: the paths grow ~4x a year) the lead asks for far more than
    labs hold; when growth slows the gap narrows. The sourced paths
    (F105, F111) are what labs got, not what they asked for.

    ``frontier_growth_per_year`` from ``frontier_trend_from``: where the
    reported data ends, each lab's training path grows at the measured
    frontier trend (x per year; F112, the installed stock of Nvidia compute
    growing 2.3x a year) instead of following the paths' assumed later points.

    ``funding_growth_per_year``: labs' funding (``funding_usd_per_week``, the
    amount on ``funding_reference_date``) grows at this rate, x per year,
    before and after that date, as the money going into AI compute did (A65).
    """

    enterprise_scale_start: Annotated[Factor, Field(gt=0)] = 1.0
    enterprise_scale_end: Annotated[Factor, Field(gt=0)] = 1.0
    training_lead_weeks: Annotated[Real, Field(ge=0, le=104)] = 0.0
    frontier_growth_per_year: Annotated[Real, Field(ge=0, le=MAX_FACTOR)] | None = None
    frontier_trend_from: date | None = None
    funding_growth_per_year: Annotated[Real, Field(gt=0, le=MAX_FACTOR)] = 1.0
    funding_reference_date: date = date(2024, 1, 1)


class Parameters(Strict):
    """All global parameters of a scenario."""

    rental: RentalParams = RentalParams()
    demand: DemandParams = DemandParams()
    buyers: BuyerParams = BuyerParams()
    vendors: VendorParams = VendorParams()
    expansion_review_weeks: PositiveWeeks = 13
    supplier_max_queue_weeks: Annotated[Real, Field(le=MAX_WEEKS, gt=0)] = 8.0


# ------------------------------------------------------------------ shocks


class ShockBase(Strict):
    """A scheduled event that changes the world for a while."""

    start: date
    target: str
    sources: dict[str, str] = Field(default_factory=dict)


class ConsumerSurge(ShockBase):
    """Users of a lab jump by ``factor`` within ``ramp_weeks`` (DevDay-style)."""

    kind: Literal["consumer_surge"]
    factor: Annotated[Factor, Field(gt=0)]
    ramp_weeks: PositiveWeeks = 2
    hold_weeks: Weeks = 4
    persistence: Fraction = 0.3
    decay_half_life_weeks: Annotated[Real, Field(le=MAX_WEEKS, gt=0)] = 4.0


class CapacityShock(ShockBase):
    """A supplier's capacity is multiplied by ``factor`` for ``weeks``."""

    kind: Literal["capacity_shock"]
    factor: Factor
    weeks: PositiveWeeks


class EnterpriseShock(ShockBase):
    """Enterprise demand of a region (target = region code) is multiplied by ``factor``."""

    kind: Literal["enterprise_demand_shock"]
    factor: Factor
    weeks: PositiveWeeks


Shock = Annotated[ConsumerSurge | CapacityShock | EnterpriseShock, Field(discriminator="kind")]
"""A shock, told apart by its ``kind``: add a kind by adding its model to this union."""

SHOCK_MODELS: dict[str, type[ShockBase]] = {
    get_args(m.model_fields["kind"].annotation)[0]: m for m in get_args(get_args(Shock)[0])
}
"""The model of each shock kind, derived from :data:`Shock`."""
SHOCK_KINDS: tuple[str, ...] = tuple(SHOCK_MODELS)
"""The ``kind`` names of shocks (the engine registers one hook per kind)."""


# ----------------------------------------------------------- uncertainty

MAX_RATE_PER_YEAR = 52.0
"""Highest base rate of a disruption: once a week on average (the library's is well under 1)."""
MAX_OCCURRENCES = 1000
"""Most occurrences of one disruption drawn for a run (52/year over 2000 weeks is ~2000)."""
MAX_UNCERTAINTIES = 200
"""Most declared uncertainties or disruptions: 20x the baseline's."""
KEY_PATH_PATTERN = r"^(world|parameters|enforcement)(\.|\[|$)[^\n]{0,300}$"
"""What an uncertain input's ``path`` looks like: a key path into the world or the parameters."""


class UncertaintySpec(Strict):
    """An uncertain input of the scenario, sampled once per seed before the world is built.

    ``path`` is a key path as batch sweeps and the calibration give them
    (``world.foundries[SMIC].nodes[N+2].yield_fraction``); a position
    (``nodes[0]``) or ``[*]`` (every item, one draw for all) may stand for a
    name. The value is drawn from ``distribution`` over [``low``, ``high``]
    (``triangular`` peaks at ``mode``; ``loguniform`` is uniform in the
    logarithm); with ``factor`` the draw multiplies the scenario's own value
    (after calibration) instead of replacing it. ``integer`` rounds the result.
    ``source`` is the reference (``scenarios/references.yaml``) behind the range
    and ``why`` says why the range is what it is.
    """

    path: str = Field(pattern=KEY_PATH_PATTERN)
    distribution: Literal["uniform", "triangular", "loguniform"]
    low: Real
    high: Real
    mode: Real | None = None
    factor: bool = False
    integer: bool = False
    source: str = Field(min_length=1)
    why: str = Field(min_length=1)

    @model_validator(mode="after")
    def _range(self) -> UncertaintySpec:
        if self.low > self.high:
            raise ScenarioCheckError(("low",), f"{self.low} is above high {self.high}")
        if self.factor and not (self.low >= 0 and self.high <= MAX_FACTOR):
            raise ScenarioCheckError(
                ("low",), f"a factor range must lie within 0 to {MAX_FACTOR:g}"
            )
        if self.distribution == "loguniform" and self.low <= 0:
            raise ScenarioCheckError(("low",), "a loguniform range must start above 0")
        if self.distribution == "triangular":
            if self.mode is None or not self.low <= self.mode <= self.high:
                raise ScenarioCheckError(
                    ("mode",), f"a triangular range needs a mode from {self.low} to {self.high}"
                )
        elif self.mode is not None:
            raise ScenarioCheckError(("mode",), "only a triangular range has a mode")
        return self


class Range(Strict):
    """A uniform range [``low``, ``high``] of a multiplier."""

    low: Factor
    high: Factor

    @model_validator(mode="after")
    def _order(self) -> Range:
        if self.low > self.high:
            raise ScenarioCheckError(("low",), f"{self.low} is above high {self.high}")
        return self


class WeeksRange(Range):
    """A uniform range of whole weeks [``low``, ``high``] (ordered as a :class:`Range`)."""

    low: PositiveWeeks
    high: PositiveWeeks


class DisruptionSpec(Strict):
    """A disruption with a base rate: per seed, its occurrences become ordinary shocks.

    Occurrences arrive as a Poisson process of ``rate_per_year`` from ``first``
    (default: the start date) to the end of the horizon; each multiplies the
    ``targets`` by a severity drawn from ``factor`` for a duration drawn from
    ``weeks``, as a shock of ``kind`` (a kind with a ``factor`` and ``weeks``:
    :data:`DISRUPTION_KINDS`) on each target.
    """

    name: str = Field(pattern=r"^[A-Za-z0-9_.\- ]{1,80}$")
    kind: str
    targets: list[str] = Field(min_length=1, max_length=50)
    rate_per_year: Annotated[Real, Field(ge=0, le=MAX_RATE_PER_YEAR)]
    factor: Range
    weeks: WeeksRange
    first: date | None = None
    source: str = Field(min_length=1)
    why: str = Field(min_length=1)

    @model_validator(mode="after")
    def _kind(self) -> DisruptionSpec:
        if self.kind not in DISRUPTION_KINDS:
            raise ScenarioCheckError(
                ("kind",),
                f"{self.kind!r} is not a shock kind with a factor and weeks "
                f"(expected one of {', '.join(DISRUPTION_KINDS)})",
            )
        return self


DISRUPTION_KINDS: tuple[str, ...] = tuple(
    k for k, m in SHOCK_MODELS.items() if {"factor", "weeks"} <= set(m.model_fields)
)
"""Shock kinds a disruption can draw: those with a ``factor`` and a duration in ``weeks``."""


class Scenario(Strict):
    """A complete, validated scenario."""

    name: str = Field(pattern=r"^[A-Za-z0-9_\-]+$")
    description: str = ""
    extends: str | None = None
    calibration: str | None = None
    """File of fitted parameter values (written by ``abm calibrate``) applied on load."""
    start_date: date = date(2022, 1, 3)
    weeks: PositiveWeeks = 261
    parameters: Parameters = Parameters()
    world: World
    shocks: list[Shock] = Field(default_factory=list)
    country_groups: dict[str, list[str]] = Field(default_factory=dict)
    policies: list[RuleSpec] = Field(default_factory=list)
    enforcement: Fraction = 0.5
    substitution: Substitution = Substitution()
    uncertainty: bool = True
    """Sample ``uncertainties`` and ``disruptions`` per seed (``off``: the declared values only)."""
    uncertainties: list[UncertaintySpec] = Field(default_factory=list, max_length=MAX_UNCERTAINTIES)
    disruptions: list[DisruptionSpec] = Field(default_factory=list, max_length=MAX_UNCERTAINTIES)

    @model_validator(mode="after")
    def _cross_checks(self) -> Scenario:
        from abm.scenario.checks import check_scenario  # the checks import this module

        check_scenario(self)
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

"""AI labs: users, paid conversion, API demand, compute need, rationing, cash, exit.

Compute need (H100e) = consumer inference (users x intensity / efficiency)
+ enterprise API inference + the training plan. A lab covers it from its own
fleet and, if it rents, from its region's rental market. It splits what it
has between an inference pool and training; the pool can move only by
``reallocation_share_per_week`` of the total each week (training clusters
are committed to runs), so a sudden surge outruns it. When inference is
short by more than ``pause_threshold`` the lab rations: it pauses paid
sign-ups, rate-limits the API pro-rata, and training gets what is left.
It resumes sign-ups once the pool has covered inference with
``resume_headroom`` to spare for ``resume_after_weeks`` weeks in a row.
Labs pay rent, capex and opex from cash and receive funding; a lab
insolvent for ``exit_after_weeks_insolvent`` weeks exits.
"""

from __future__ import annotations

import math
from typing import TYPE_CHECKING

from abm.agents.buyer import Buyer
from abm.agents.ordering import extrapolate_log, interpolate_log
from abm.agents.products import HOURS_PER_WEEK
from abm.scenario import LabSpec

if TYPE_CHECKING:
    from abm.engine.model import SupplyChainModel

WEEKS_PER_MONTH = 52 / 12


class AILab(Buyer):
    """An AI lab / model company (OpenAI, DeepSeek...)."""

    family = "lab"

    def __init__(self, model: SupplyChainModel, spec: LabSpec) -> None:
        super().__init__(model, spec)
        self.spec: LabSpec = spec
        self.users_path = [(model.step_of(d), v * 1e6) for d, v in spec.users_path_million]
        path = [(model.step_of(d), v) for d, v in spec.training_h100e]
        dp = model.spec.parameters.demand
        if dp.frontier_growth_per_year and dp.frontier_trend_from and path:
            # past the reported data, training compute follows the frontier trend
            t0 = model.step_of(dp.frontier_trend_from)
            v0 = interpolate_log(path, t0)
            if v0 > 0:
                g = dp.frontier_growth_per_year
                path = [pt for pt in path if pt[0] < t0] + [(t0, v0), (t0 + 52, v0 * g)]
        # labs want the compute of the run they prepare: the path this many weeks ahead
        self.training_lead = dp.training_lead_weeks
        self.training_path = path
        self.draws = model.stream("users", spec.name)
        self.noise = 0.0
        self.user_multiplier = 1.0
        self.users = 0.0
        self.paid = 0.0
        self.blocked_signups = 0.0
        self.signups_paused = False
        self.weeks_with_headroom = 0
        self.training_delayed = False
        self.cash = spec.cash_usd
        self._funding_ref = model.step_of(dp.funding_reference_date)
        self._funding_growth = dp.funding_growth_per_year
        self.insolvent_weeks = 0
        self.consumer_need = 0.0
        self.api_need = 0.0
        self.training_need = 0.0
        self.rental_need = 0.0
        self.rented = 0.0
        self.pool = 0.0
        self.pool_ready = False
        self.inference_served_share = 1.0
        self.revenue = 0.0
        self.lost_revenue = 0.0
        self.shortage = 0.0

    # ----------------------------------------------------------- demand

    @property
    def inference_need(self) -> float:
        """Consumer plus API inference need, H100e."""
        return self.consumer_need + self.api_need

    @property
    def need(self) -> float:
        """Total compute need (inference + training), H100e."""
        return self.inference_need + self.training_need

    def update_demand(self, api_need_h100e: float) -> None:
        """Users, compute need and rental need for this week."""
        m = self.model
        if not self.active:
            return
        s = self.spec
        self.noise = 0.8 * self.noise + float(self.draws.normal(0.0, s.users_noise_sd))
        if self.launched:
            trend = interpolate_log(self.users_path, m.week)
            self.users = trend * self.user_multiplier * math.exp(self.noise)
        else:  # no product yet: no users (the draw is made all the same: common numbers)
            self.users = 0.0
        self.update_needs(api_need_h100e)

    @property
    def launched(self) -> bool:
        """Whether the lab's product exists yet (its ``launch`` date has come)."""
        return self.model.date >= self.spec.launch

    @property
    def selling_subscriptions(self) -> bool:
        """Whether paid sign-ups are open (``paid_launch``, else ``launch``, has come)."""
        s = self.spec
        return self.model.date >= (s.paid_launch or s.launch)

    def update_needs(self, api_need_h100e: float) -> None:
        """Compute need and rental need from this week's users and API demand (no draws)."""
        m = self.model
        s = self.spec
        years = m.week / 52
        intensity = s.inference_h100e_per_million_users * (1 + s.intensity_growth_per_year) ** years
        self.consumer_need = self.users / 1e6 * intensity / s.efficiency
        self.api_need = api_need_h100e / s.efficiency
        ahead = m.week + self.training_lead
        self.training_need = extrapolate_log(self.training_path, ahead) / s.efficiency
        own = self.installed_h100e()
        # contracted rentals can grow only so fast: a surge outruns them
        cap = self.rented * (1 + s.rental_growth_per_week) + s.rental_growth_per_week * self.need
        self.rental_need = min(max(0.0, self.need - own), cap) if s.rents else 0.0
        if s.cash_runway_weeks is not None and self.rental_need > 0:
            # money binds: rent no more than revenue, funding and runway can pay for, at
            # the region's current rental price (this week's clearing is not known yet)
            price = m.market.price[self.region] * HOURS_PER_WEEK
            # GPUs on order are paid on arrival, spread over the lead time
            due = self._owed_usd() / max(1.0, self.expected_lead_time())
            self.rental_need = min(self.rental_need, max(0.0, self.weekly_budget() - due) / price)

    def _owed_usd(self) -> float:
        """Value of this lab's outstanding GPU orders at today's prices, USD."""
        vendors = self.model.cast.vendor
        return sum(o.outstanding * vendors[o.vendor].price[o.product] for o in self.open_orders)

    @property
    def funding(self) -> float:
        """Funding this week, USD: the spec's amount grown at the funding trend (A65)."""
        g = self._funding_growth
        base = self.spec.funding_usd_per_week
        if g == 1:
            return base
        years = max(-100.0, min(100.0, (self.model.week - self._funding_ref) / 52))
        return base * g**years

    def weekly_budget(self) -> float:
        """What the lab can spend on compute this week, USD (A64).

        Revenue and funding less opex, plus its cash spread over
        ``cash_runway_weeks``; infinite without a runway.
        """
        s = self.spec
        if s.cash_runway_weeks is None:
            return float("inf")
        budget = (
            self.revenue
            + self.funding
            - s.opex_usd_per_week
            + self.cash / s.cash_runway_weeks  # a lab in debt pays it down first
        )
        return max(0.0, budget)

    def order_budget_h100e(self) -> float:
        """GPUs a lab that owns hardware can still commit to, H100e (A64).

        Orders are paid on arrival, so a lab orders no more than its cash plus
        ``cash_runway_weeks`` of revenue and funding, less opex and rent, can
        pay for, counting what it already has on order (at the price per H100e
        of its vendors' newest products).
        """
        s = self.spec
        if s.cash_runway_weeks is None:
            return float("inf")
        m = self.model
        rent = self.rented * m.market.price[self.region] * HOURS_PER_WEEK
        weekly = self.revenue + self.funding - s.opex_usd_per_week - rent
        funds = self.cash + weekly * min(s.cash_runway_weeks, self.expected_lead_time())
        vendors = m.cast.vendor
        owed = self._owed_usd()
        prices = [
            v.price[p.name] / p.h100e
            for v in (vendors[n] for n in s.vendor_shares)
            if (p := v.newest_product()) is not None
        ]
        per_h100e = max(prices) if prices else 30000.0
        in_transit = m.orders.in_transit_h100e(self.name) * per_h100e
        return max(0.0, (funds - owed - in_transit) / per_h100e)

    def demand_signal_h100e(self) -> float:
        """A lab that owns hardware plans its fleet for its whole need."""
        return self.need if self.spec.own_fleet else 0.0

    # ---------------------------------------------------------- serving

    rented_training_eff = 1.0
    """Training efficiency of the rented compute (the region's cloud fleets)."""

    def serve(
        self, rented_h100e: float, rental_price: float, rented_training_eff: float | None = None
    ) -> None:
        """Use own and rented compute: allocate, ration, book revenue and costs.

        Args:
            rented_h100e: Compute the rental market served this week.
            rental_price: The region's rental price, USD per H100e-hour.
            rented_training_eff: Training efficiency of the rented compute (the
                region's cloud fleets); kept from the last week when not given.
        """
        if rented_training_eff is not None:
            self.rented_training_eff = rented_training_eff
        if not self.active:
            return
        s = self.spec
        self.rented = rented_h100e
        available = self.installed_h100e() + rented_h100e
        inf_need = self.inference_need
        target = min(available, inf_need * (1 + s.inference_headroom))
        move = s.reallocation_share_per_week * available
        if not self.pool_ready:  # first week (or launch week): the lab starts in balance
            self.pool, self.pool_ready = target, self.launched
        self.pool = min(available, max(self.pool - move, min(self.pool + move, target)))
        served = min(inf_need, self.pool)
        share = served / inf_need if inf_need > 0 else 1.0
        self.inference_served_share = share
        # training runs on what inference does not use, at the fleet's training efficiency
        # (domestic chips serve inference better than training); the pool's headroom
        # above inference is idle and runs preemptible training jobs, so it is not unmet
        own = self.installed_h100e()
        eff = (own * self.training_efficiency() + rented_h100e * self.rented_training_eff) / (
            available if available > 0 else 1.0
        )
        training = min(self.training_need, (available - served) * (eff if available else 1.0))
        unmet = (inf_need - served) + (self.training_need - training)
        self.shortage = unmet / self.need if self.need > 0 else 0.0
        self._ration(share, inf_need)
        self._training_state(training)
        self._book(share, rental_price)

    def _ration(self, share: float, inf_need: float) -> None:
        s = self.spec
        if not self.selling_subscriptions:  # nothing to pause: no paid tier yet
            self.lost_revenue = 0.0
            return
        if not self.signups_paused and 1 - share > s.pause_threshold:
            self.signups_paused = True
            self.log(
                "rationing_start",
                detail=(
                    f"inference {100 * (1 - share):.1f}% short: paid sign-ups paused, "
                    f"API rate-limited to {100 * share:.0f}%"
                ),
            )
        elif self.signups_paused:
            healthy = self.pool >= inf_need * (1 + s.resume_headroom)
            self.weeks_with_headroom = self.weeks_with_headroom + 1 if healthy else 0
            if self.weeks_with_headroom >= s.resume_after_weeks:
                self.signups_paused = False
                self.weeks_with_headroom = 0
                self.log(
                    "rationing_stop",
                    detail=f"inference capacity restored for {s.resume_after_weeks} weeks: "
                    "sign-ups resumed",
                )
        weekly_price = s.subscription_usd_per_month / WEEKS_PER_MONTH
        gap = max(0.0, s.paid_share * self.users - self.paid)
        new = s.signup_share_per_week * gap
        if self.signups_paused:
            self.blocked_signups = self.blocked_signups * (1 - s.pending_churn_per_week) + new
        else:
            self.paid += new
            self.blocked_signups = 0.0
        self.lost_revenue = self.blocked_signups * weekly_price

    def _training_state(self, training: float) -> None:
        delayed = training < 0.9 * self.training_need
        if delayed != self.training_delayed:
            self.training_delayed = delayed
            self.log(
                "training_delay_start" if delayed else "training_delay_stop",
                quantity=training,
                detail=f"training gets {training:,.0f} of {self.training_need:,.0f} H100e",
            )

    def _book(self, share: float, rental_price: float) -> None:
        s = self.spec
        weekly_price = s.subscription_usd_per_month / WEEKS_PER_MONTH
        api_price_per_h100e_week = s.api_markup * rental_price * HOURS_PER_WEEK
        api_revenue = self.api_need * share * api_price_per_h100e_week
        self.lost_revenue += self.api_need * (1 - share) * api_price_per_h100e_week
        self.revenue = self.paid * weekly_price + api_revenue
        rent = self.rented * rental_price * HOURS_PER_WEEK
        costs = rent + self.capex_this_week + s.opex_usd_per_week
        self.cash += self.revenue + self.funding - costs
        self.capex_this_week = 0.0
        self.insolvent_weeks = self.insolvent_weeks + 1 if self.cash < 0 else 0
        if self.insolvent_weeks >= s.exit_after_weeks_insolvent:
            self.exit()

    def exit(self) -> None:
        """Leave the market: fleet retired, orders cancelled, demand gone."""
        self.active = False
        self.log("exit", quantity=self.cash, detail="cannot pay for compute")
        self.retire_all("owner exited")
        self.users = self.paid = self.consumer_need = self.api_need = 0.0
        self.training_need = self.rental_need = self.rented = self.pool = 0.0
        self.signups_paused = False

    def state(self) -> dict[str, float]:
        """Users, need, service, money and rationing."""
        return {
            **self.fleet_state(),
            "users": self.users,
            "paid_subscribers": self.paid,
            "demand_h100e": self.need,
            "rented_h100e": self.rented,
            "shortage_ratio": self.shortage,
            "signups_paused": float(self.signups_paused),
            "revenue_usd": self.revenue,
            "lost_revenue_usd": self.lost_revenue,
            "cash_usd": self.cash,
        }

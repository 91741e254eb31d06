"""Governments: enact their rules, decide licences, collect levies, and may react.

A government is the ``authority`` of the control rules it issues. It logs
each rule's announcement and entry into force, decides licence applications
(after the rule's delay, granted with its approval probability, drawn from
the government's own ``licence`` stream), collects revenue shares and
tariffs, and — when the scenario switches them on — reacts:

* **close the loophole** (US): when compliant variants take more than a set
  share of a vendor's Chinese purchases for a while, a rule covering those
  variants takes effect some months later;
* **domestic mandate** (China): while the domestic share of accelerators
  delivered to Chinese buyers stays below a target, foreign accelerators are
  banned for more Chinese buyers at each review.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import timedelta
from typing import TYPE_CHECKING, Literal

from abm.agents.base import Firm
from abm.controls.rules import ControlRule, Decision
from abm.scenario import GovernmentSpec, ItemClause, LicencePolicy, RuleSpec

if TYPE_CHECKING:
    from abm.engine.model import SupplyChainModel


@dataclass
class Licence:
    """A licence application and its outcome.

    Attributes:
        decide_week: Week the decision is (or was) taken.
        granted: Outcome drawn when the application was filed.
        decided: Whether the decision has been taken.
        valid_until: Last week a granted licence covers.
    """

    decide_week: int
    granted: bool
    decided: bool = False
    valid_until: int = -1


class Government(Firm):
    """A government agent (US: BIS; China: MOFCOM/CAC/customs)."""

    family = "government"

    def __init__(self, model: SupplyChainModel, spec: GovernmentSpec) -> None:
        super().__init__(model, spec.name, spec.country, spec.region)
        self.spec = spec
        self.draws = model.stream("licence", spec.name)
        self.licences: dict[tuple[str, str, str], Licence] = {}
        self.revenue_this_week = 0.0
        self.revenue_total = 0.0
        self.reaction_rules = 0
        self.variant_share_weeks: dict[str, int] = {}
        self.mandate_share = 0.0

    # ------------------------------------------------------------ rules

    def own_rules(self) -> list[ControlRule]:
        """Rules this government issued (scenario timeline and reactions)."""
        return [r for r in self.model.controls.rules if r.spec.authority == self.name]

    def enact(self) -> None:
        """Log rules announced or taking effect (or ending) this week."""
        day = self.model.date
        week_end = day + timedelta(days=6)
        for r in self.own_rules():
            s = r.spec
            if day <= s.announced <= week_end and s.announced < s.effective:
                self.log(
                    "policy_announced",
                    rule=s.id,
                    detail=f"effective {s.effective}: {s.description}",
                )
            if day <= s.effective <= week_end:
                self.log("policy_activation", rule=s.id, detail=s.description)
            if s.ends is not None and day <= s.ends <= week_end:
                self.log("policy_end", rule=s.id, detail=s.description)

    # --------------------------------------------------------- licences

    def licence_verdict(self, decision: Decision, buyer: str, product: str) -> Decision:
        """Turn a ``licence_pending`` decision into this week's verdict.

        Files an application the first time (decided ``delay_weeks`` later,
        granted with the rule's approval probability); a granted licence
        lets shipments through until it expires, a refused one denies.
        """
        key = (decision.rule, buyer, product)
        week = self.model.week
        lic = self.licences.get(key)
        if lic is None or (lic.decided and lic.granted and week > lic.valid_until):
            granted = bool(self.draws.random() < decision.approval_probability)
            lic = Licence(decide_week=week + decision.delay_weeks, granted=granted)
            self.licences[key] = lic
            self.log(
                "licence_application",
                buyer,
                product,
                rule=decision.rule,
                detail=f"decision due in {decision.delay_weeks} weeks",
            )
        if not lic.decided and week >= lic.decide_week:
            lic.decided = True
            lic.valid_until = week + decision.valid_weeks
            self.log(
                "licence_decision",
                buyer,
                product,
                rule=decision.rule,
                detail="granted" if lic.granted else "refused",
            )
        if not lic.decided:
            return decision
        if lic.granted:
            return Decision(
                "allow",
                decision.rule,
                levy_share=decision.levy_share,
                levy_rules=decision.levy_rules,
                capped_rules=decision.capped_rules,
                approval_probability=1.0,
            )
        return Decision("deny", decision.rule)

    def collect(self, amount_usd: float) -> None:
        """Book a levy (revenue share or tariff)."""
        self.revenue_this_week += amount_usd
        self.revenue_total += amount_usd

    # -------------------------------------------------------- reactions

    def react(self) -> None:
        """Run the reactions the scenario switched on."""
        r = self.spec.reactions
        if r.close_loophole.enabled:
            self._close_loophole()
        if r.domestic_mandate.enabled:
            self._domestic_mandate()

    def _close_loophole(self) -> None:
        cfg = self.spec.reactions.close_loophole
        m = self.model
        for vendor in m.vendors:
            if vendor.country != self.country:
                continue
            share = vendor.variant_share("CN")
            weeks = self.variant_share_weeks.get(vendor.name, 0)
            weeks = weeks + 1 if share > cfg.share_threshold else 0
            self.variant_share_weeks[vendor.name] = weeks
            if weeks == cfg.weeks_over:
                self._issue_rule(
                    f"{self.country}-reaction-{self.reaction_rules + 1}-{vendor.name}",
                    gate="export",
                    clause=ItemClause(variant=True),
                    origins=[self.country],
                    destinations=["CN"],
                    lag=cfg.lag_weeks,
                    description=f"closes the loophole: {vendor.name}'s compliant variants took "
                    f"{100 * share:.0f}% of its Chinese sales for {weeks} weeks",
                )

    def _domestic_mandate(self) -> None:
        cfg = self.spec.reactions.domestic_mandate
        m = self.model
        if cfg.start is not None and m.date < cfg.start:
            return
        if m.week % cfg.review_weeks != 0:
            return
        share = m.cn_share.share
        if share >= cfg.target_share or self.mandate_share >= 1.0:
            return
        self.mandate_share = min(1.0, self.mandate_share + cfg.step_share_of_buyers)
        buyers = sorted(
            (b for b in m.buyers if b.country == self.country),
            key=lambda b: (-b.spec.priority, b.name),
        )
        n = max(1, round(self.mandate_share * len(buyers)))
        self._issue_rule(
            f"{self.country}-mandate-{self.reaction_rules + 1}",
            gate="import",
            clause=ItemClause(),
            origins=["*"],
            origins_exclude=[self.country],
            destinations=[self.country],
            end_users=[b.name for b in buyers[:n]],
            lag=0,
            description=f"domestic mandate: domestic share {100 * share:.0f}% below target "
            f"{100 * cfg.target_share:.0f}%; foreign accelerators banned for {n} buyers",
        )

    def _issue_rule(
        self,
        rule_id: str,
        gate: Literal["export", "import"],
        clause: ItemClause,
        origins: list[str],
        destinations: list[str],
        lag: int,
        description: str,
        origins_exclude: list[str] | None = None,
        end_users: list[str] | None = None,
    ) -> None:
        m = self.model
        self.reaction_rules += 1
        spec = RuleSpec(
            id=rule_id,
            authority=self.name,
            gate=gate,
            announced=m.date,
            effective=m.date + timedelta(weeks=lag),
            controlled=[clause],
            origins=origins,
            origins_exclude=origins_exclude or [],
            destinations=destinations,
            end_users=end_users or [],
            licence=LicencePolicy(policy="deny"),
            description=description,
        )
        m.controls.add_rule(ControlRule(spec, m.spec.country_groups))
        self.log("policy_reaction", rule=rule_id, detail=description)

    def state(self) -> dict[str, float]:
        """Levies collected this week."""
        return {"revenue_usd": self.revenue_this_week}

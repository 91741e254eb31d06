"""Compliant variants: how a vendor answers a rule that cuts a market.

When the rules in force (or announced) block a vendor's flagship for a
destination where it has buyers, a vendor that designs variants cuts the
flagship down just under the rules' thresholds (:func:`abm.controls.rules.design_variant`:
I/O or memory bandwidth first, compute only when it must) and launches it
for that market after ``variant_design_weeks`` — the A800 and H800 of 2022-23,
the H20 of 2024, the RTX Pro 6000D of 2025. The variant keeps the
flagship's dies and packaging, has the compute its thresholds allow, and is
priced at ``list x (0.3 + 0.7 x compute ratio)`` (the H20 sold for ~40 % of
an H100 with ~15 % of its compute; facts.csv F042, F044).
"""

from __future__ import annotations

import dataclasses
from datetime import timedelta
from typing import TYPE_CHECKING

from abm.agents.products import Product
from abm.controls.rules import ControlRule, design_variant, item_of

if TYPE_CHECKING:
    from abm.agents.vendor import GPUVendor

PRICE_FLOOR_SHARE = 0.3
"""Share of the flagship's price a variant keeps whatever its compute (F044)."""


def _hard(rule: ControlRule) -> bool:
    """A rule a vendor designs around: a denial, or licences that are mostly refused."""
    lic = rule.spec.licence
    return lic.policy == "deny" or (lic.policy == "case_by_case" and lic.approval_probability < 0.5)


def _blocks(rule: ControlRule, product: Product, origin: str, destination: str) -> bool:
    return (
        _hard(rule)
        and not rule.end_users
        and rule.covers(item_of(product), origin, destination, "")
    )


def design_variants(vendor: GPUVendor) -> None:
    """Design (and announce the launch of) variants this week, if the vendor does so."""
    m = vendor.model
    today = m.date
    for p in vendor.products.values():
        if p.variant_of and today <= p.launch < today + timedelta(weeks=1):
            vendor.log(
                "variant_launched",
                product=p.name,
                price_usd=vendor.price[p.name],
                detail=f"compliant variant of {p.variant_of} for {', '.join(p.markets or ())}",
            )
    if not vendor.spec.designs_variants:
        return
    bases = [p for p in vendor.products.values() if p.on_sale(today) and p.variant_of is None]
    if not bases:
        return
    base = max(bases, key=lambda p: p.launch)
    rules = [r for r in m.controls.rules if r.in_force(today) or r.announced_only(today)]
    markets = sorted(
        {b.country for b in m.buyers if vendor.name in b.spec.vendor_shares} - {vendor.country}
    )
    for dest in markets:
        if not any(_blocks(r, base, vendor.country, dest) for r in rules):
            continue
        if any(
            v.variant_of == base.name
            and v.sold_in(dest)
            and (v.end_of_sale is None or v.end_of_sale >= today)
            and not any(_blocks(r, v, vendor.country, dest) for r in rules)
            for v in vendor.products.values()
        ):
            continue  # a variant of the flagship that still passes is on sale or coming
        blocking = [r for r in rules if _hard(r)]
        key = (base.name, dest, frozenset(r.rule_id for r in blocking))
        if key in vendor.variant_designs:
            continue
        attrs = design_variant(base, blocking, vendor.country, dest)
        if attrs is None:
            vendor.variant_designs[key] = None
            vendor.log(
                "variant_infeasible",
                product=base.name,
                detail=f"no variant of {base.name} escapes the rules for {dest}",
            )
            continue
        n = 1 + sum(1 for v in vendor.products.values() if v.variant_of)
        ratio = attrs["bf16_tflops"] / base.bf16_tflops
        variant = dataclasses.replace(
            base,
            name=f"{base.name}-{dest}{n}",
            launch=today + timedelta(weeks=vendor.spec.variant_design_weeks),
            bf16_tflops=attrs["bf16_tflops"],
            tpp=attrs["tpp"],
            memory_bandwidth_gbs=attrs["memory_bandwidth_gbs"],
            interconnect_gbs=attrs["interconnect_gbs"],
            hbm_stacks=int(attrs["hbm_stacks"]),
            list_price_usd=base.list_price_usd
            * (PRICE_FLOOR_SHARE + (1 - PRICE_FLOOR_SHARE) * ratio),
            markets=(dest,),
            variant_of=base.name,
        )
        vendor.variant_designs[key] = variant.name
        m.add_product(variant)
        vendor.log(
            "variant_designed",
            product=variant.name,
            price_usd=variant.list_price_usd,
            detail=(
                f"{base.name} cut for {dest}: {variant.bf16_tflops:.0f} TFLOPS "
                f"({100 * ratio:.0f}%), TPP {variant.tpp:.0f}, I/O {variant.interconnect_gbs:.0f} "
                f"GB/s, memory {variant.memory_bandwidth_gbs:.0f} GB/s; launches {variant.launch}"
            ),
        )

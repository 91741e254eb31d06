"""Cross-checks of a scenario: what no single field can check on its own.

Unique agent names and rule ids, every name a product, edge, rule or shock
refers to is in the world, shares that must sum to one, country codes and
groups, and every ``sources`` entry citing a known reference. Each check
raises :class:`~abm.scenario.errors.ScenarioCheckError` with the field path
of the offending value; :func:`~abm.scenario.errors.first_error` turns it into
the one-line message. The checks run in a fixed order, so the first problem
of a file is always the one reported.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

from abm.scenario.errors import Loc, ScenarioCheckError
from abm.scenario.schema import REGIONS

if TYPE_CHECKING:
    from abm.scenario.schema import EnterpriseSpec, FirmSpec, GovernmentSpec, Scenario


def check_scenario(sc: Scenario) -> None:
    """Check the references between a scenario's parts (run by :class:`Scenario` itself).

    Raises:
        ScenarioCheckError: at the first value that refers to something missing.
    """
    w = sc.world
    names: dict[str, str] = {}
    groups: dict[str, Sequence[FirmSpec | EnterpriseSpec | GovernmentSpec]] = {
        "foundries": w.foundries,
        "packagers": w.packagers,
        "memory_makers": w.memory_makers,
        "vendors": w.vendors,
        "clouds": w.clouds,
        "labs": w.labs,
        "enterprises": w.enterprises,
        "governments": w.governments,
        "brokers": w.brokers,
        "fronts": w.fronts,
    }
    for group, items in groups.items():
        for i, item in enumerate(items):
            if item.name in names:
                raise ScenarioCheckError(
                    ("world", group, i, "name"),
                    f"duplicate agent name {item.name!r} "
                    f"(already used in world.{names[item.name]})",
                )
            names[item.name] = f"{group}[{i}]"
    product_names: set[str] = set()
    vendors = {v.name for v in w.vendors}
    foundry_nodes = {(f.name, n.node) for f in w.foundries for n in f.nodes}
    packagers = {p.name for p in w.packagers}
    memory = {m.name for m in w.memory_makers}
    for i, f in enumerate(w.foundries):
        nodes: set[str] = set()
        for j, n in enumerate(f.nodes):
            if n.node in nodes:
                raise ScenarioCheckError(
                    ("world", "foundries", i, "nodes", j, "node"), f"duplicate node {n.node!r}"
                )
            nodes.add(n.node)
    for i, p in enumerate(w.products):
        where: Loc = ("world", "products", i)
        if p.name in product_names:
            raise ScenarioCheckError((*where, "name"), f"duplicate product {p.name!r}")
        product_names.add(p.name)
        if p.vendor not in vendors:
            raise ScenarioCheckError(
                (*where, "vendor"), f"{p.vendor!r} is not a vendor in world.vendors"
            )
        if (p.foundry, p.node) not in foundry_nodes:
            raise ScenarioCheckError(
                (*where, "foundry"),
                f"no foundry {p.foundry!r} with node {p.node!r} in world.foundries",
            )
        if p.packager not in packagers:
            raise ScenarioCheckError(
                (*where, "packager"), f"{p.packager!r} is not in world.packagers"
            )
    for i, v in enumerate(w.vendors):
        for prod in v.initial_weekly_units:
            if prod not in product_names:
                raise ScenarioCheckError(
                    ("world", "vendors", i, "initial_weekly_units"), f"unknown product {prod!r}"
                )
        if abs(sum(v.hbm_suppliers.values()) - 1) > 1e-6:
            total = sum(v.hbm_suppliers.values())
            raise ScenarioCheckError(
                ("world", "vendors", i, "hbm_suppliers"), f"shares must sum to 1, got {total:.6g}"
            )
        for m in v.hbm_suppliers:
            if m not in memory:
                raise ScenarioCheckError(
                    ("world", "vendors", i, "hbm_suppliers"),
                    f"{m!r} is not in world.memory_makers",
                )
    for group in ("clouds", "labs"):
        for i, b in enumerate(getattr(w, group)):
            for v in b.vendor_shares:
                if v not in vendors:
                    raise ScenarioCheckError(
                        ("world", group, i, "vendor_shares"), f"{v!r} is not in world.vendors"
                    )
            if b.vendor_shares and abs(sum(b.vendor_shares.values()) - 1) > 1e-6:
                total = sum(b.vendor_shares.values())
                raise ScenarioCheckError(
                    ("world", group, i, "vendor_shares"), f"shares must sum to 1, got {total:.6g}"
                )
            for j, c in enumerate(b.initial_fleet):
                if c.product not in product_names:
                    raise ScenarioCheckError(
                        ("world", group, i, "initial_fleet", j, "product"),
                        f"unknown product {c.product!r}",
                    )
    for i, fr in enumerate(w.fronts):
        where = ("world", "fronts", i)
        if fr.designer not in vendors:
            raise ScenarioCheckError((*where, "designer"), f"{fr.designer!r} is not a vendor")
        if (fr.foundry, fr.node) not in foundry_nodes:
            raise ScenarioCheckError(
                (*where, "foundry"),
                f"no foundry {fr.foundry!r} with node {fr.node!r} in world.foundries",
            )
        made = next((p for p in w.products if p.name == fr.product), None)
        if made is None or made.vendor != fr.designer:
            raise ScenarioCheckError(
                (*where, "product"), f"{fr.product!r} is not a product of {fr.designer!r}"
            )
    for i, p in enumerate(w.products):
        if p.die is not None and p.die not in product_names:
            raise ScenarioCheckError(("world", "products", i, "die"), f"unknown product {p.die!r}")
    for region in REGIONS:
        shares = [c.market_share for c in w.clouds if c.region == region]
        if shares and sum(shares) > 1 + 1e-6:
            raise ScenarioCheckError(
                ("world", "clouds"), f"market_share of region {region} sums above 1"
            )
    check_policies(sc, product_names)
    for i, s in enumerate(sc.shocks):
        ok = s.target in names or (s.kind == "enterprise_demand_shock" and s.target in REGIONS)
        if not ok:
            raise ScenarioCheckError(
                ("shocks", i, "target"), f"{s.target!r} is not an agent of the world"
            )
    check_uncertainties(sc, names)


def check_uncertainties(sc: Scenario, names: dict[str, str]) -> None:
    """Check that each uncertain input addresses numbers and each disruption real targets.

    A ``path`` must address fields holding a number (not a list, a mapping, a
    date or a flag) or, for a ``factor``, a trend path (its growth is scaled);
    a whole-number field needs ``integer: true``;
    a path may be declared once. A disruption's targets are agents (suppliers
    for a capacity shock; regions for an enterprise-demand shock).

    Raises:
        ScenarioCheckError: at the first entry that addresses nothing usable.
    """
    from abm.scenario.loader import expand_key_path  # the loader imports this module

    data = sc.model_dump(mode="json") if sc.uncertainties else {}
    seen: dict[str, int] = {}
    for i, u in enumerate(sc.uncertainties):
        if u.path in seen:
            raise ScenarioCheckError(
                ("uncertainties", i, "path"),
                f"{u.path!r} is declared twice (items [{seen[u.path]}] and [{i}])",
            )
        seen[u.path] = i
        try:
            fields = expand_key_path(data, u.path)
        except ValueError as exc:
            raise ScenarioCheckError(("uncertainties", i, "path"), str(exc)) from None
        for where, value in fields:
            if u.factor and _is_trend(value):
                continue  # a factor on a trend path multiplies its growth
            if isinstance(value, bool) or not isinstance(value, int | float):
                raise ScenarioCheckError(
                    ("uncertainties", i, "path"),
                    f"{where} holds {type(value).__name__} {str(value)[:40]!r}, not a number",
                )
            if isinstance(value, int) and not u.integer:
                raise ScenarioCheckError(
                    ("uncertainties", i, "integer"),
                    f"{where} is a whole number; set integer: true",
                )
    suppliers = {n for n, where in names.items() if where.split("[")[0] in _SUPPLIER_GROUPS}
    for i, d in enumerate(sc.disruptions):
        allowed = set(REGIONS) if d.kind == "enterprise_demand_shock" else suppliers
        for j, target in enumerate(d.targets):
            if target not in allowed:
                what = "a region" if d.kind == "enterprise_demand_shock" else "a supplier"
                raise ScenarioCheckError(
                    ("disruptions", i, "targets", j), f"{target!r} is not {what} of the world"
                )


_SUPPLIER_GROUPS = ("foundries", "packagers", "memory_makers")


def _is_trend(value: Any) -> bool:
    """Whether ``value`` is a trend path as dumped: a list of ``[date, number]`` points."""
    return (
        isinstance(value, list)
        and bool(value)
        and all(
            isinstance(p, list | tuple) and len(p) == 2 and isinstance(p[1], int | float)
            for p in value
        )
    )


def _is_country(code: str) -> bool:
    return 2 <= len(code) <= 3 and code.isupper()


def check_policies(sc: Scenario, product_names: set[str]) -> None:
    """Check country groups, the rule timeline, substitutes, brokers and variants.

    Raises:
        ScenarioCheckError: at the first value that names something unknown.
    """
    w = sc.world
    governments = {g.name for g in w.governments}
    buyers = {b.name for b in (*w.clouds, *w.labs, *w.brokers)}
    vendors = {v.name for v in w.vendors}
    for g, members in sc.country_groups.items():
        for c in members:
            if not _is_country(c):
                raise ScenarioCheckError(("country_groups", g), f"{c!r} is not a country code")

    def places(loc: Loc, items: list[str]) -> None:
        for c in items:
            if c != "*" and c not in sc.country_groups and not _is_country(c):
                raise ScenarioCheckError(
                    loc, f"{c!r} is neither a country code, '*', nor a group in country_groups"
                )

    seen: set[str] = set()
    for i, r in enumerate(sc.policies):
        where: Loc = ("policies", i)
        if r.id in seen:
            raise ScenarioCheckError((*where, "id"), f"duplicate rule id {r.id!r}")
        seen.add(r.id)
        if r.authority not in governments:
            raise ScenarioCheckError(
                (*where, "authority"), f"{r.authority!r} is not in world.governments"
            )
        places((*where, "origins"), r.origins)
        places((*where, "origins_exclude"), r.origins_exclude)
        places((*where, "destinations"), r.destinations)
        fronts = {f.name for f in w.fronts}
        for u in r.end_users:
            if r.gate == "foundry" and u not in vendors | fronts:
                raise ScenarioCheckError(
                    (*where, "end_users"), f"{u!r} is not a vendor or front (a foundry's customer)"
                )
            if r.gate != "foundry" and u not in buyers:
                raise ScenarioCheckError(
                    (*where, "end_users"), f"{u!r} is not a cloud, lab or broker"
                )
        for j, clause in enumerate(r.controlled):
            # written {} in the file (the engine's reactions build such clauses on purpose)
            if not clause.model_fields_set:
                raise ScenarioCheckError(
                    (*where, "controlled", j),
                    "an empty clause matches every GPU; give a condition (products, variant or "
                    "a threshold), or write {kind: gpu} to control every GPU on purpose",
                )
            for prod in clause.products or []:
                if prod not in product_names:
                    raise ScenarioCheckError(
                        (*where, "controlled", j, "products"), f"unknown product {prod!r}"
                    )
    for region, subs in sc.substitution.substitutes.items():
        for v in subs:
            if v not in vendors:
                raise ScenarioCheckError(
                    ("substitution", "substitutes", region), f"{v!r} is not a vendor"
                )
    for i, b in enumerate(w.brokers):
        for v in b.vendor_shares:
            if v not in vendors:
                raise ScenarioCheckError(
                    ("world", "brokers", i, "vendor_shares"), f"{v!r} is not in world.vendors"
                )
    for i, p in enumerate(w.products):
        if p.variant_of is not None and p.variant_of not in product_names:
            raise ScenarioCheckError(
                ("world", "products", i, "variant_of"), f"unknown product {p.variant_of!r}"
            )


def check_sources(raw: Any, refs: dict[str, Any], refs_file: str, loc: Loc = ()) -> None:
    """Check that every ``sources`` entry of raw scenario content cites a known reference.

    Args:
        raw: The merged scenario content, before validation.
        refs: The references by id (:func:`abm.scenario.loader.load_references`).
        refs_file: The references file as named in the message.
        loc: Where ``raw`` sits in the scenario (for the recursion).

    Raises:
        ScenarioCheckError: at the first ``sources`` entry naming an unknown id.
    """
    if isinstance(raw, dict):
        for key, value in raw.items():
            sub = (*loc, str(key))
            if key == "source" and loc[:1] in (("uncertainties",), ("disruptions",)):
                if str(value) not in refs:
                    raise ScenarioCheckError(
                        sub, f"unknown reference {value!r} (expected an id from {refs_file})"
                    )
            elif key == "sources" and isinstance(value, dict):
                for field, rid in value.items():
                    if str(rid) not in refs:
                        raise ScenarioCheckError(
                            (*sub, str(field)),
                            f"unknown reference {rid!r} (expected an id from {refs_file})",
                        )
            else:
                check_sources(value, refs, refs_file, sub)
    elif isinstance(raw, list):
        for i, item in enumerate(raw):
            check_sources(item, refs, refs_file, (*loc, i))

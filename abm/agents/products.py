"""GPU products: the catalogue entries vendors sell, and compute conversions.

A product's compute is counted in H100-equivalents (H100e): its dense BF16
tensor throughput divided by the H100 SXM's 989 TFLOPS (source: Glenn
Klockwood H100 notes, NVIDIA whitepaper values,
https://glennklockwood.com/garden/processors/h100 — facts.csv F039).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date
from functools import cached_property

H100_BF16_DENSE_TFLOPS = 989.0
"""Dense BF16 TFLOPS of an H100 SXM (facts.csv F039); 1 H100e of compute."""

HOURS_PER_WEEK = 168.0


@dataclass(frozen=True)
class Product:
    """One accelerator model in a vendor's catalogue.

    Attributes:
        name: Product name, e.g. ``H100``.
        vendor: Name of the vendor agent that sells it.
        launch: First date it can be ordered.
        end_of_sale: Last date it can be ordered (None: still on sale).
        bf16_tflops: Dense BF16 tensor TFLOPS.
        tpp: Total processing performance (2 x MacTOPS x bit length), the
            US export-control metric.
        die_area_mm2: Logic die area (sum over dies), for performance density.
        memory_bandwidth_gbs: HBM bandwidth, GB/s.
        interconnect_gbs: Chip-to-chip I/O bandwidth, GB/s.
        hbm_stacks: HBM stacks per package.
        packages_per_wafer: Packages per advanced-packaging (CoWoS) wafer.
        logic_dies: Logic dies per package.
        dies_per_wafer: Good-die candidates per logic wafer before yield.
        foundry: Foundry agent that makes its logic dies.
        node: Process node at that foundry.
        packager: Packager agent that assembles it.
        list_price_usd: List price per unit, USD.
        power_w: Board power, W.
        markets: Country codes where it is sold (None: everywhere).
        variant_of: The product a compliant variant was cut down from.
        training_efficiency: Share of its compute usable for training
            (domestic chips serve inference better than training).
        die: The product whose logic die it is built from, when shared (None: its own).
    """

    name: str
    vendor: str
    launch: date
    end_of_sale: date | None
    bf16_tflops: float
    tpp: float
    die_area_mm2: float
    memory_bandwidth_gbs: float
    interconnect_gbs: float
    hbm_stacks: int
    packages_per_wafer: int
    logic_dies: int
    dies_per_wafer: int
    foundry: str
    node: str
    packager: str
    list_price_usd: float
    power_w: float
    markets: tuple[str, ...] | None = None
    variant_of: str | None = None
    training_efficiency: float = 1.0
    die: str | None = None

    @property
    def die_bank(self) -> str:
        """The key of the vendor's die stock this product draws on (its die's name)."""
        return self.die if self.die is not None else self.name

    @cached_property
    def h100e(self) -> float:
        """Compute of one unit in H100-equivalents."""
        return self.bf16_tflops / H100_BF16_DENSE_TFLOPS

    @property
    def performance_density(self) -> float:
        """TPP per mm² of die area (the Oct-2023 control metric)."""
        return self.tpp / self.die_area_mm2

    def sold_in(self, country: str) -> bool:
        """Whether buyers in ``country`` are offered the product."""
        return self.markets is None or country in self.markets

    def on_sale(self, day: date) -> bool:
        """Whether the product can be ordered on ``day``."""
        return self.launch <= day and (self.end_of_sale is None or day <= self.end_of_sale)

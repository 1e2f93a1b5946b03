"""The demo catalogue that `make run` seeds: 6 categories, 48 products, each with an image in assets/."""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import timedelta

from sqlalchemy import func
from sqlmodel import Session, select

from ecom_reflex.models import Category, Product, utcnow


@dataclass(frozen=True)
class DemoProduct:
    name: str
    price_cents: int
    stock: int
    description: str

    @property
    def image(self) -> str:
        """Public path of the bundled image (a file under assets/)."""
        return f"/products/{slugify(self.name)}.svg"


@dataclass(frozen=True)
class DemoCategory:
    name: str
    description: str
    # Two colours for the category's image gradient.
    colors: tuple[str, str]
    products: tuple[DemoProduct, ...]

    @property
    def slug(self) -> str:
        return slugify(self.name)


def slugify(text: str) -> str:
    return re.sub(r"[^a-z0-9]+", "-", text.lower()).strip("-")


P = DemoProduct
DEMO_CATALOG: tuple[DemoCategory, ...] = (
    DemoCategory(
        "Electronics",
        "Gadgets and gear that plug in or charge up.",
        ("#2563eb", "#7c3aed"),
        (
            P(
                "Wireless Headphones",
                8999,
                25,
                "Over-ear headphones with active noise cancelling and 30 hours of battery.",
            ),
            P("Bluetooth Speaker", 4999, 40, "Pocket-sized waterproof speaker with a surprisingly deep bass."),
            P("Mechanical Keyboard", 12900, 12, "Tenkeyless keyboard with hot-swappable tactile switches."),
            P("Wireless Mouse", 2999, 60, "Quiet-click ergonomic mouse with a rechargeable battery."),
            P("USB-C Hub", 3999, 35, "Seven ports in one: HDMI, SD card, three USB-A and power pass-through."),
            P("Smart Watch", 19900, 3, "Heart rate, GPS and a week of battery on one charge."),
            P("Portable Charger", 2499, 80, "10,000 mAh power bank that charges two devices at once."),
            P("Webcam HD", 5999, 0, "1080p webcam with a privacy shutter and dual microphones."),
        ),
    ),
    DemoCategory(
        "Books",
        "Paper, ink and good ideas.",
        ("#b45309", "#f59e0b"),
        (
            P("The Pragmatic Programmer", 3999, 20, "Timeless advice on the craft of writing software."),
            P(
                "Designing Data-Intensive Applications",
                4599,
                15,
                "How databases, streams and distributed systems really work.",
            ),
            P("Clean Architecture", 3499, 18, "Boundaries, dependencies and the rules that keep code soft."),
            P("Python Crash Course", 2999, 30, "A hands-on, project-based introduction to Python."),
            P("Site Reliability Engineering", 4299, 4, "How Google runs production systems, in its own words."),
            P("Observability Engineering", 4799, 10, "Achieving production excellence with events, traces and SLOs."),
            P("Refactoring", 4499, 9, "Improving the design of existing code, one small step at a time."),
            P("The Phoenix Project", 1999, 25, "A novel about IT, DevOps and helping your business win."),
        ),
    ),
    DemoCategory(
        "Home & Kitchen",
        "Things that make a house a home.",
        ("#059669", "#10b981"),
        (
            P("Pour-Over Coffee Set", 3499, 22, "Glass dripper, carafe and fifty paper filters."),
            P("Chef's Knife", 7999, 14, "20 cm forged steel knife, balanced and razor sharp."),
            P("Cast Iron Skillet", 4499, 16, "Pre-seasoned 26 cm skillet that lasts for generations."),
            P("Electric Kettle", 3999, 28, "1.7 litre kettle with temperature presets for tea and coffee."),
            P("Linen Tea Towels", 1499, 50, "Set of three stonewashed linen towels."),
            P("Ceramic Dinner Plates", 5499, 2, "Set of four handmade stoneware plates."),
            P("Bamboo Cutting Board", 2499, 33, "Large reversible board with a juice groove."),
            P("Scented Candle", 1899, 45, "Soy wax candle with cedar and bergamot, 50 hours of burn."),
        ),
    ),
    DemoCategory(
        "Sports & Outdoors",
        "Gear for moving, climbing and camping.",
        ("#dc2626", "#f97316"),
        (
            P("Yoga Mat", 2999, 40, "6 mm non-slip mat with an alignment guide."),
            P("Running Shoes", 10900, 18, "Cushioned daily trainers with a breathable mesh upper."),
            P("Camping Tent", 18900, 6, "Two-person three-season tent, 2.1 kg packed."),
            P("Insulated Water Bottle", 2499, 70, "Keeps drinks cold for 24 hours or hot for 12."),
            P("Resistance Bands", 1999, 55, "Five bands from light to extra heavy with a carry bag."),
            P("Hiking Backpack", 8999, 11, "35 litre pack with a rain cover and hip-belt pockets."),
            P("Jump Rope", 1299, 65, "Speed rope with ball bearings and adjustable cable."),
            P("Trekking Poles", 5999, 1, "Collapsible carbon poles with cork grips, sold as a pair."),
        ),
    ),
    DemoCategory(
        "Toys & Games",
        "Play for every age.",
        ("#db2777", "#f472b6"),
        (
            P("Building Blocks Set", 3999, 30, "500 colourful interlocking bricks in a storage tub."),
            P("Strategy Board Game", 4499, 20, "Trade, build and settle in this classic for 3 to 4 players."),
            P("Jigsaw Puzzle 1000", 1999, 26, "A 1000-piece puzzle of a mountain lake at dawn."),
            P("Remote Control Car", 5999, 8, "Off-road RC car with a rechargeable battery, 25 km/h."),
            P("Plush Bear", 1799, 40, "Soft, washable teddy bear, 35 cm tall."),
            P("Card Game Classics", 1299, 60, "Two decks and a rule book for twenty card games."),
            P("Wooden Train Set", 4999, 0, "Forty-piece wooden railway with a bridge and tunnel."),
            P("Science Kit", 3499, 13, "Twenty experiments in chemistry and physics for ages 8+."),
        ),
    ),
    DemoCategory(
        "Clothing",
        "Everyday wear, built to last.",
        ("#475569", "#0ea5e9"),
        (
            P("Organic Cotton T-Shirt", 2499, 90, "Heavyweight crew-neck tee in organic cotton."),
            P("Denim Jacket", 8999, 12, "Classic trucker jacket in rigid selvedge denim."),
            P("Wool Beanie", 1999, 48, "Ribbed merino beanie that keeps its shape."),
            P("Rain Jacket", 12900, 7, "Packable waterproof shell with taped seams."),
            P("Canvas Sneakers", 5999, 21, "Low-top sneakers with a vulcanised rubber sole."),
            P("Leather Belt", 3999, 26, "Full-grain leather belt with a brass buckle."),
            P("Merino Socks", 1499, 75, "Three pairs of cushioned merino wool socks."),
            P("Fleece Hoodie", 5499, 4, "Brushed fleece hoodie with a kangaroo pocket."),
        ),
    ),
)
del P


def demo_products() -> list[tuple[DemoCategory, DemoProduct]]:
    return [(category, product) for category in DEMO_CATALOG for product in category.products]


def seed_demo_catalog(session: Session) -> int:
    """Seed the demo catalogue into an empty catalogue; returns how many products were added.

    A catalogue that already has products is left exactly as it is, so re-running
    setup never undoes an admin's edits or brings back deleted products.
    """
    if session.exec(select(func.count(Product.id))).one() > 0:
        return 0
    # Creation times interleave the categories, so "newest first" shows a mix.
    start = utcnow() - timedelta(minutes=len(demo_products()))
    added = 0
    for category_index, category_data in enumerate(DEMO_CATALOG):
        category = session.exec(select(Category).where(Category.slug == category_data.slug)).first()
        if category is None:
            category = Category(name=category_data.name, slug=category_data.slug, description=category_data.description)
            session.add(category)
            session.flush()
        for product_index, product_data in enumerate(category_data.products):
            session.add(
                Product(
                    name=product_data.name,
                    description=product_data.description,
                    price_cents=product_data.price_cents,
                    stock=product_data.stock,
                    image=product_data.image,
                    category_id=category.id,
                    created_at=start + timedelta(minutes=product_index * len(DEMO_CATALOG) + category_index),
                )
            )
            added += 1
    return added

import pytest
from sqlalchemy import text
from sqlmodel import Session, select

from ecom_reflex.db import get_engine
from ecom_reflex.models import Category, Product
from ecom_reflex.services import catalog, products
from ecom_reflex.services.demo_catalog import seed_demo_catalog
from tests.factories import make_product


@pytest.fixture
def seeded(session):
    seed_demo_catalog(session)
    session.commit()
    return session


def test_first_page_has_twelve_newest_products(seeded):
    page = catalog.list_storefront_products(seeded)
    assert len(page.items) == catalog.PER_PAGE == 12
    assert page.total == 48 and page.pages == 4 and page.page == 1
    newest = seeded.exec(select(Product).order_by(Product.created_at.desc()).limit(12)).all()
    assert [item.id for item in page.items] == [product.id for product in newest]
    assert page.items[0].price.startswith("$")


def test_pages_do_not_overlap_and_cover_everything(seeded):
    seen = []
    for number in range(1, 5):
        seen += [item.id for item in catalog.list_storefront_products(seeded, page=number).items]
    assert len(seen) == len(set(seen)) == 48


def test_page_beyond_the_end_is_clamped(seeded):
    page = catalog.list_storefront_products(seeded, page=99)
    assert page.page == 4 and len(page.items) == 12
    assert catalog.list_storefront_products(seeded, page=-3).page == 1


def test_category_filter(seeded):
    page = catalog.list_storefront_products(seeded, category_slug="books")
    assert page.total == 8
    assert {item.category_slug for item in page.items} == {"books"}
    assert catalog.list_storefront_products(seeded, category_slug="no-such-thing").total == 0


def test_inactive_products_are_hidden_and_not_counted(seeded):
    book = seeded.exec(select(Product).join(Category).where(Category.slug == "books")).first()
    book.is_active = False
    seeded.add(book)
    seeded.commit()
    assert catalog.list_storefront_products(seeded, category_slug="books").total == 7
    counts = {info.slug: info.product_count for info in catalog.list_categories(seeded)}
    assert counts["books"] == 7 and counts["clothing"] == 8


def test_categories_are_listed_by_name(seeded):
    names = [info.name for info in catalog.list_categories(seeded)]
    assert names == sorted(names) and len(names) == 6


def test_search_matches_name_or_description_ignoring_case(seeded):
    names = {item.name for item in catalog.list_storefront_products(seeded, query="KEYBOARD").items}
    assert names == {"Mechanical Keyboard"}
    # "traces" only appears in a description.
    assert {item.name for item in catalog.list_storefront_products(seeded, query="traces").items} == {
        "Observability Engineering"
    }
    assert catalog.list_storefront_products(seeded, query="100%").total == 0  # % is a literal, not a wildcard


def test_search_combines_with_category(seeded):
    assert catalog.list_storefront_products(seeded, query="set", category_slug="toys-games").total == 3  # "settle" too
    assert catalog.list_storefront_products(seeded, query="set").total > 2


@pytest.mark.parametrize("sort", ["price_asc", "price_desc"])
def test_sort_by_price(seeded, sort):
    prices = []
    for number in (1, 2, 3, 4):
        prices += [item.price_cents for item in catalog.list_storefront_products(seeded, sort=sort, page=number).items]
    assert prices == sorted(prices, reverse=sort == "price_desc") and len(prices) == 48


def test_unknown_sort_falls_back_to_newest(seeded):
    assert (
        catalog.list_storefront_products(seeded, sort="drop table").items
        == catalog.list_storefront_products(seeded).items
    )


def test_get_product_and_not_found(seeded):
    from ecom_reflex.services.errors import NotFound

    product = seeded.exec(select(Product).where(Product.name == "Smart Watch")).one()
    detail = catalog.get_product(seeded, product.id)
    assert detail.price == "$199.00" and detail.stock == 3 and detail.category_slug == "electronics"
    with pytest.raises(NotFound):
        catalog.get_product(seeded, 99999)
    product.is_active = False
    seeded.add(product)
    seeded.commit()
    with pytest.raises(NotFound):
        catalog.get_product(seeded, product.id)


def _search_ids(session: Session, query: str) -> set[int]:
    page = catalog.list_storefront_products(session, query=query, per_page=1000)
    return {item.id for item in page.items}


def _expected_ids(session: Session, query: str) -> set[int]:
    """What a search must find, worked out in Python from every product."""
    needle = query.strip().lower()
    return {
        product.id
        for product in session.exec(select(Product).where(Product.is_active)).all()
        if needle in product.name.lower() or needle in product.description.lower()
    }


QUERIES = ["keyboard", "TRACES", "set", "zyxwv", "ok", "a", "100%", "o_e", 'say "hi"', "lamp OR book", "boo*"]
QUERIES += ["NEAR(a b)", 'ke"y']


def test_search_finds_exactly_the_substring_matches_after_edits(seeded):
    """The search index (an FTS table on SQLite) follows inserts, renames and deletes made
    through the ORM, and FTS syntax in a query is plain text."""
    keyboard = seeded.exec(select(Product).where(Product.name == "Mechanical Keyboard")).one()
    keyboard.name = "Zyxwv Board"
    seeded.add(keyboard)
    mouse = seeded.exec(select(Product).where(Product.name == "Wireless Mouse")).one()
    seeded.delete(mouse)
    seeded.commit()
    make_product(seeded, 'A "hi" lamp OR book', description='100% ok, say "hi"')
    watch = seeded.exec(select(Product).where(Product.name == "Smart Watch")).one()
    watch.stock = 1  # a stock change leaves the index alone
    seeded.add(watch)
    seeded.commit()
    for query in QUERIES:
        assert _search_ids(seeded, query) == _expected_ids(seeded, query), query
    assert _search_ids(seeded, "zyxwv") == {keyboard.id}
    assert _search_ids(seeded, "mechanical") == set()


def test_admin_search_uses_the_same_index_and_includes_inactive_products(seeded):
    watch = seeded.exec(select(Product).where(Product.name == "Smart Watch")).one()
    products.set_active(seeded, watch.id, False)
    seeded.commit()
    assert [row.name for row in products.list_admin_products(seeded, query="smart w").items] == ["Smart Watch"]
    assert catalog.list_storefront_products(seeded, query="smart w").total == 0


def _plan(session: Session, dialect: str, query: str) -> str:
    statement = select(Product.id).where(catalog.product_text_match(session, query))
    compiled = statement.compile(dialect=get_engine().dialect)
    connection = session.connection()
    if dialect == "postgresql":
        # The demo catalogue is small enough that a scan would win; ask whether the index can serve.
        connection.exec_driver_sql("SET LOCAL enable_seqscan = off")
        rows = connection.exec_driver_sql(f"EXPLAIN {compiled}", compiled.params)
    else:
        rows = connection.exec_driver_sql(f"EXPLAIN QUERY PLAN {compiled}", tuple(compiled.params.values()))
    return "\n".join(str(row[-1]) for row in rows)


def test_search_reads_the_search_index_not_every_product(seeded, migrated):
    plan = _plan(seeded, migrated, "keyboard")
    if migrated == "postgresql":
        assert "ix_products_name_trgm" in plan and "ix_products_description_trgm" in plan, plan
    else:
        assert "products_fts VIRTUAL TABLE" in plan, plan
    seeded.rollback()


def test_category_counts_are_recounted_when_an_admin_edit_commits(seeded):
    def books() -> int:
        with Session(get_engine()) as other:
            return {info.slug: info.product_count for info in catalog.list_categories(other)}["books"]

    assert books() == 8
    book = seeded.exec(select(Product).join(Category).where(Category.slug == "books")).first()
    products.set_active(seeded, book.id, False)
    assert books() == 8  # not committed yet: the cached counts are still the truth
    seeded.commit()
    assert books() == 7
    seeded.execute(text("UPDATE products SET is_active = true WHERE id = :id"), {"id": book.id})
    seeded.commit()
    # A change made elsewhere (another worker) shows once the counts expire.
    assert books() == 7
    catalog.forget_category_counts()
    assert books() == 8


@pytest.mark.parametrize("query", ["Key\x00board", "Key\x00\x00board\x07", "\x00Keyboard\t", "Keyboard\x1b"])
def test_control_characters_in_a_search_never_reach_the_index(seeded, query):
    # A NUL ends an FTS5 query string: unfiltered, the search failed like an unreachable database.
    assert {item.name for item in catalog.list_storefront_products(seeded, query=query).items} == {
        "Mechanical Keyboard"
    }

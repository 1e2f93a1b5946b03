import pytest
from sqlmodel import select

from ecom_reflex.models import Category, Product
from ecom_reflex.services import catalog
from ecom_reflex.services.demo_catalog import seed_demo_catalog


@pytest.fixture
def seeded(session):
    seed_demo_catalog(session)
    session.commit()
    return session


def test_first_page_has_twelve_newest_products(seeded):
    page = catalog.list_products(seeded)
    assert len(page.items) == catalog.PER_PAGE == 12
    assert page.total == 48 and page.pages == 4 and page.page == 1
    newest = seeded.exec(select(Product).order_by(Product.created_at.desc()).limit(12)).all()
    assert [item.id for item in page.items] == [product.id for product in newest]
    assert page.items[0].price.startswith("$")


def test_pages_do_not_overlap_and_cover_everything(seeded):
    seen = []
    for number in range(1, 5):
        seen += [item.id for item in catalog.list_products(seeded, page=number).items]
    assert len(seen) == len(set(seen)) == 48


def test_page_beyond_the_end_is_clamped(seeded):
    page = catalog.list_products(seeded, page=99)
    assert page.page == 4 and len(page.items) == 12
    assert catalog.list_products(seeded, page=-3).page == 1


def test_category_filter(seeded):
    page = catalog.list_products(seeded, category_slug="books")
    assert page.total == 8
    assert {item.category_slug for item in page.items} == {"books"}
    assert catalog.list_products(seeded, category_slug="no-such-thing").total == 0


def test_inactive_products_are_hidden_and_not_counted(seeded):
    book = seeded.exec(select(Product).join(Category).where(Category.slug == "books")).first()
    book.is_active = False
    seeded.add(book)
    seeded.commit()
    assert catalog.list_products(seeded, category_slug="books").total == 7
    counts = {info.slug: info.product_count for info in catalog.list_categories(seeded)}
    assert counts["books"] == 7 and counts["clothing"] == 8


def test_categories_are_listed_by_name(seeded):
    names = [info.name for info in catalog.list_categories(seeded)]
    assert names == sorted(names) and len(names) == 6


def test_search_matches_name_or_description_ignoring_case(seeded):
    names = {item.name for item in catalog.list_products(seeded, query="KEYBOARD").items}
    assert names == {"Mechanical Keyboard"}
    # "traces" only appears in a description.
    assert {item.name for item in catalog.list_products(seeded, query="traces").items} == {"Observability Engineering"}
    assert catalog.list_products(seeded, query="100%").total == 0  # % is a literal, not a wildcard


def test_search_combines_with_category(seeded):
    assert catalog.list_products(seeded, query="set", category_slug="toys-games").total == 3  # "settle" too
    assert catalog.list_products(seeded, query="set").total > 2


@pytest.mark.parametrize("sort", ["price_asc", "price_desc"])
def test_sort_by_price(seeded, sort):
    prices = []
    for number in (1, 2, 3, 4):
        prices += [item.price_cents for item in catalog.list_products(seeded, sort=sort, page=number).items]
    assert prices == sorted(prices, reverse=sort == "price_desc") and len(prices) == 48


def test_unknown_sort_falls_back_to_newest(seeded):
    assert catalog.list_products(seeded, sort="drop table").items == catalog.list_products(seeded).items


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

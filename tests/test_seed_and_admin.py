import pytest
from sqlalchemy.exc import IntegrityError
from sqlmodel import func, select

from ecom_reflex.models import Category, Product, User
from ecom_reflex.services.demo_catalog import DEMO_CATALOG, seed_demo_catalog
from ecom_reflex.services.passwords import BCRYPT_COST, hash_password, verify_password
from ecom_reflex.services.users import ensure_admin
from ecom_reflex.settings import ASSETS_DIR


def test_demo_catalogue_is_big_enough_and_every_image_exists(session):
    added = seed_demo_catalog(session)
    session.commit()
    products = session.exec(select(Product)).all()
    assert added == len(products) >= 40
    assert session.exec(select(func.count(Category.id))).one() >= 5
    for product in products:
        assert isinstance(product.price_cents, int) and product.price_cents > 0
        assert product.stock >= 0
        image = ASSETS_DIR / product.image.lstrip("/")
        assert image.is_file(), f"{product.name}: {image} is missing"
        assert image.read_text().startswith("<svg")
    # The demo shows every stock state: plenty, low and none.
    stocks = [product.stock for product in products]
    assert any(s == 0 for s in stocks) and any(0 < s < 5 for s in stocks) and any(s >= 5 for s in stocks)


def test_seeding_twice_keeps_what_exists(session):
    seed_demo_catalog(session)
    session.commit()
    edited = session.exec(select(Product).order_by(Product.id)).first()
    edited.price_cents = 123
    session.add(edited)
    removed = session.exec(select(Product).order_by(Product.id.desc())).first()
    session.delete(removed)
    session.commit()
    count = session.exec(select(func.count(Product.id))).one()

    assert seed_demo_catalog(session) == 0
    session.commit()
    assert session.exec(select(func.count(Product.id))).one() == count
    assert session.get(Product, edited.id).price_cents == 123
    assert session.exec(select(func.count(Category.id))).one() == len(DEMO_CATALOG)


def test_passwords_are_bcrypt_cost_12():
    hashed = hash_password("correct horse")
    assert hashed.startswith(f"$2b${BCRYPT_COST}$")
    assert verify_password("correct horse", hashed)
    assert not verify_password("wrong horse", hashed)
    with pytest.raises(ValueError):
        hash_password("x" * 73)


def test_admin_gets_a_generated_password_once(session):
    first = ensure_admin(session, "admin", "Admin@Shop.Local", None)
    session.commit()
    assert first.created and first.generated_password and len(first.generated_password) >= 20
    user = session.exec(select(User)).one()
    assert user.is_admin and user.is_active and user.email == "admin@shop.local"
    assert verify_password(first.generated_password, user.password_hash)

    again = ensure_admin(session, "admin", "admin@shop.local", None)
    assert not again.created and again.generated_password is None and not again.password_reset
    assert session.exec(select(func.count(User.id))).one() == 1


def test_two_generated_passwords_differ(session):
    one = ensure_admin(session, "admin", "a@shop.local", None).generated_password
    two = ensure_admin(session, "admin2", "b@shop.local", None).generated_password
    assert one != two


def test_admin_password_from_the_environment_is_applied(session):
    ensure_admin(session, "admin", "admin@shop.local", "first-password")
    result = ensure_admin(session, "ADMIN", "admin@shop.local", "second-password")
    session.commit()
    assert result.password_reset and result.username == "admin"
    user = session.exec(select(User)).one()
    assert verify_password("second-password", user.password_hash)
    assert not ensure_admin(session, "admin", "admin@shop.local", "second-password").password_reset


def test_usernames_are_unique_ignoring_case(session):
    session.add(User(username="Alice", email="alice@example.com", password_hash="x"))
    session.commit()
    session.add(User(username="alice", email="other@example.com", password_hash="x"))
    with pytest.raises(IntegrityError):
        session.commit()

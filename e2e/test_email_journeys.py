"""E-mail journeys in Chromium: a forgotten password reset through the link in a real e-mail (the
shop sends to an SMTP server in this process), an order's e-mails (placed once paid, naming the
card; the refund when a paid order is cancelled), and e-mails that wait while that server is down."""

from __future__ import annotations

import re

from playwright.sync_api import Browser, Page, expect

from e2e.helpers import (
    CARD_DECLINED,
    CARD_OK,
    PASSWORD,
    confirm_email,
    execute,
    fill_shipping,
    from_own_address,
    log_in,
    log_out,
    new_product,
    pay,
    placed_order_id,
    query,
    refunded_cents,
    register,
    unique_name,
    wait_until,
)
from e2e.test_accessibility import problems_on, settle
from testkit.smtp import html_of, text_of

NEW_PASSWORD = "violet kettle harbour 42"


def ask_for_a_link(page: Page, email: str) -> None:
    page.goto("/login")
    page.get_by_test_id("forgot-password").click()
    expect(page).to_have_url(re.compile(r"/forgot-password$"))
    page.get_by_label("E-mail").fill(email)
    page.get_by_role("button", name="Send me a link").click()
    expect(page.get_by_test_id("reset-link-sent")).to_contain_text(email.lower())


def reset_link(message) -> str:
    return re.search(r"http://\S+/reset-password#token=[A-Za-z0-9_-]+", text_of(message)).group(0)


def test_a_forgotten_password_is_reset_through_the_emailed_link_once(page: Page, browser: Browser, shop_server):
    username = unique_name("forgetful")
    email = f"{username}@example.com"
    register(page, username)  # this tab stays logged in: the old session

    guest = browser.new_context(base_url=shop_server.url, **from_own_address())
    reset_page = guest.new_page()
    try:
        # Nobody has this address: the same answer, and no e-mail.
        ask_for_a_link(reset_page, f"nobody-{username}@example.com")
        ask_for_a_link(reset_page, email.upper())
        (message,) = shop_server.smtp.wait_for(to=email, kind="password_reset")
        assert message["Subject"] == "Reset your password at Reflex Shop"
        link = reset_link(message)
        assert link.startswith(shop_server.url + "/reset-password#token=") and link in html_of(message)
        assert shop_server.smtp.messages(to=f"nobody-{username}@example.com") == []
        # Only the token's hash is stored, and once sent the e-mail's copy no longer has the token.
        token = link.rsplit("=", 1)[1]
        wait_until(lambda: query(shop_server.db_file, "SELECT status FROM email_outbox WHERE kind = 'password_reset'"
                                 " ORDER BY id DESC LIMIT 1") == [("sent",)])  # fmt: skip
        for table, column in (("password_resets", "token_hash"), ("email_outbox", "text_body"),
                              ("email_outbox", "html_body")):  # fmt: skip
            assert query(shop_server.db_file, f"SELECT count(*) FROM {table} WHERE {column} LIKE ?", f"%{token}%") == [
                (0,)
            ]
        assert token not in shop_server.log_file.read_text()

        reset_page.goto(link)
        expect(reset_page.get_by_role("heading", name="Choose a new password")).to_be_visible()
        expect(reset_page.get_by_text(f"For the account {username}.")).to_be_visible()
        settle(reset_page)
        assert problems_on(reset_page, "desktop") == []
        # The password policy applies, and the form says what is wrong next to the field.
        reset_page.get_by_label("New password", exact=True).fill("password123")
        reset_page.get_by_label("Confirm new password").fill("password123")
        reset_page.get_by_role("button", name="Set new password").click()
        expect(reset_page.get_by_test_id("error-password")).to_contain_text("too easy to guess")
        reset_page.get_by_label("New password", exact=True).fill(NEW_PASSWORD)
        reset_page.get_by_label("Confirm new password").fill(NEW_PASSWORD)
        reset_page.get_by_role("button", name="Set new password").click()
        expect(reset_page).to_have_url(re.compile(r"/login$"))
        expect(reset_page.get_by_text("Your password has been changed")).to_be_visible()

        # The old password no longer works; the new one does.
        log_in(reset_page, username, PASSWORD)
        expect(reset_page.get_by_test_id("form-error")).to_contain_text("Wrong username or password")
        log_in(reset_page, username, NEW_PASSWORD)
        expect(reset_page.get_by_test_id("current-user")).to_have_text(username)

        # The session that was logged in before the reset is over.
        page.reload()
        expect(page.get_by_test_id("current-user")).to_have_count(0)

        (changed,) = shop_server.smtp.wait_for(to=email, kind="password_changed")
        assert "/forgot-password" in text_of(changed)

        # The link worked once.
        other = guest.new_page()
        other.goto(link)
        expect(other.get_by_test_id("reset-link-invalid")).to_be_visible()
        expect(other.get_by_role("link", name="Send me a new link")).to_be_visible()
    finally:
        guest.close()


def test_a_reset_link_older_than_30_minutes_or_replaced_by_a_newer_one_is_refused(page: Page, shop_server):
    username = unique_name("late")
    email = f"{username}@example.com"
    register(page, username)
    log_out(page)

    ask_for_a_link(page, email)
    first = reset_link(shop_server.smtp.wait_for(to=email, kind="password_reset")[0])
    ask_for_a_link(page, email)
    second = reset_link(shop_server.smtp.wait_for(to=email, kind="password_reset", count=2)[1])
    page.goto(first)
    expect(page.get_by_test_id("reset-link-invalid")).to_be_visible()

    # 31 minutes later (the link's row says so): refused as well.
    user_id = query(shop_server.db_file, "SELECT id FROM users WHERE username = ?", username)[0][0]
    expired = "UPDATE password_resets SET expires_at = datetime('now', '-1 minute') WHERE user_id = ?"
    execute(shop_server.db_file, expired, user_id)
    page.goto("/")
    page.goto(second)
    expect(page.get_by_test_id("reset-link-invalid")).to_be_visible()
    # A tampered link, too.
    page.goto("/")
    page.goto(second[:-4] + "AAAA")
    expect(page.get_by_test_id("reset-link-invalid")).to_be_visible()


def test_an_order_is_mailed_once_paid_with_its_card_and_its_refund_when_the_shop_cancels_it(
    page: Page, browser: Browser, shop_server
):
    db = shop_server.db_file
    product_id, name = new_product(db, 2150, 4)
    username = unique_name("mailed")
    email = f"{username}@example.com"
    register(page, username)
    confirm_email(page, shop_server.smtp, email)  # only a confirmed address gets order e-mails
    page.goto(f"/product/{product_id}")
    page.get_by_test_id("add-to-cart").click()
    expect(page.get_by_text(re.compile("to your cart"))).to_be_visible()
    page.goto("/checkout")
    fill_shipping(page, "Mary Mailed")

    # A declined card sends nothing: the order waits for its payment on the checkout.
    pay(page, CARD_DECLINED)
    expect(page.get_by_test_id("checkout-error")).to_have_text("Your card was declined.")
    (order_id,) = query(db, "SELECT o.id FROM orders o JOIN users u ON u.id = o.user_id WHERE u.username = ?",
                        username)[0]  # fmt: skip
    assert query(db, "SELECT status FROM orders WHERE id = ?", order_id) == [("payment_failed",)]
    pay(page, CARD_OK, name="Mary Mailed")
    expect(page.get_by_test_id("order-confirmation")).to_be_visible()
    number = f"{order_id:06d}"

    # One "order placed" e-mail, once it is paid: what was paid and with which card.
    (placed,) = shop_server.smtp.wait_for(to=email, kind="order_placed")
    assert placed["Subject"] == f"Your order #{number} at Reflex Shop"
    assert f"1 x {name} at $21.50 = $21.50" in text_of(placed)
    assert "Total: $21.50, paid with Visa •••• 4242, expires 12/34" in text_of(placed)
    assert "Visa •••• 4242" in html_of(placed)

    # The shop cancels the paid order: the money goes back first, then the stock, and a refund e-mail says so.
    admin_context = browser.new_context(base_url=shop_server.url, **from_own_address())
    try:
        admin = admin_context.new_page()
        admin.goto(f"/login?next=/admin/orders/{order_id}")
        log_in(admin, shop_server.admin_username, shop_server.admin_password)
        expect(admin.get_by_test_id("order-status")).to_have_text("paid")
        admin.get_by_test_id("move-to-cancelled").click()
        admin.get_by_role("alertdialog").get_by_role("button", name=f"Cancel order #{number}").click()
        expect(admin.get_by_test_id("order-status")).to_have_text("cancelled")
    finally:
        admin_context.close()
    (refunded,) = shop_server.smtp.wait_for(to=email, kind="order_refunded")
    assert refunded["Subject"] == f"Order #{number} has been cancelled and refunded"
    text = text_of(refunded)
    assert "We refunded $21.50 to your Visa •••• 4242, expires 12/34" in text
    assert f"{shop_server.url}/orders/{order_id}" in text and "$21.50" in html_of(refunded)
    assert refunded_cents(shop_server, order_id) == 2150
    assert query(db, "SELECT stock FROM products WHERE id = ?", product_id) == [(4,)]

    # Nothing else went to the shopper: no e-mail for the decline, none for the cancel apart from the refund.
    wait_until(lambda: query(db, "SELECT count(*) FROM email_outbox WHERE order_id = ? AND status <> 'sent'",
                             order_id) == [(0,)])  # fmt: skip
    assert query(db, "SELECT kind FROM email_outbox WHERE order_id = ? ORDER BY id", order_id) == [
        ("order_placed",), ("order_refunded",)
    ]  # fmt: skip
    assert sorted(m["X-Shop-Email-Kind"] for m in shop_server.smtp.messages(to=email)) == [
        "order_placed", "order_refunded", "verify_email"
    ]  # fmt: skip


def test_while_the_mail_server_is_down_emails_wait_and_all_leave_once_it_is_back(page: Page, shop_server, prometheus):
    username = unique_name("patient")
    email = f"{username}@example.com"
    register(page, username)
    log_out(page)
    outbox = "SELECT status, attempts, last_error FROM email_outbox WHERE recipient = ? AND kind = 'password_reset'"

    shop_server.smtp.stop()
    try:
        ask_for_a_link(page, email)
        # Tried, refused, queued again: nothing lost.
        wait_until(lambda: (rows := query(shop_server.db_file, outbox, email)) and rows[0][1] >= 2, 30)
        status, _, error = query(shop_server.db_file, outbox, email)[0]
        assert status in ("queued", "sending") and "Connect" in error
        # The backlog is seen by Prometheus, and the alert's value (the oldest unsent e-mail's age) rises.
        age = 'max(ecommerce_email_outbox_oldest_age_seconds{job="shop"})'
        wait_until(lambda: (prometheus.value('max(ecommerce_email_outbox_depth{job="shop"})') or 0) >= 1, 60)
        wait_until(lambda: (prometheus.value(age) or 0) > 0, 60)
        first_age = prometheus.value(age)
        wait_until(lambda: (prometheus.value(age) or 0) > first_age, 60)
    finally:
        shop_server.smtp.start()
    (message,) = shop_server.smtp.wait_for(to=email, kind="password_reset", timeout_s=60)
    assert reset_link(message)
    wait_until(lambda: query(shop_server.db_file, outbox, email)[0][0] == "sent", 30)
    wait_until(lambda: prometheus.value('max(ecommerce_email_outbox_depth{job="shop"})') == 0, 60)


def verify_link(message) -> str:
    return re.search(r"http://\S+/verify-email#token=[A-Za-z0-9_-]+", text_of(message)).group(0)


def buy(page: Page, product_id: int, account_email: str, contact: str, said: str) -> int:
    """One of the product, checked out with `contact` as the contact e-mail and paid; the order's id. The
    checkout says, next to that field, `said` of where the order's e-mails go."""
    page.goto(f"/product/{product_id}")
    page.get_by_test_id("add-to-cart").click()
    expect(page.get_by_text(re.compile("to your cart"))).to_be_visible()
    page.goto("/checkout")
    expect(page.get_by_test_id("order-emails-to")).to_contain_text(said)
    # Prefilled with the account's address once it has arrived; then replaced by another one.
    expect(page.get_by_label("E-mail")).to_have_value(account_email)
    page.get_by_label("E-mail").fill(contact)
    fill_shipping(page, "Vera Verified")
    pay(page, CARD_OK, name="Vera Verified")
    expect(page.get_by_test_id("order-confirmation")).to_be_visible()
    expect(page.get_by_test_id("order-status")).to_have_text("paid")
    # The contact e-mail is on the order, for the courier.
    expect(page.get_by_text(contact)).to_be_visible()
    return placed_order_id(page)


def test_a_shopper_confirms_the_address_through_the_emailed_link_and_only_then_gets_order_emails(
    page: Page, shop_server
):
    db, smtp = shop_server.db_file, shop_server.smtp
    product_id, name = new_product(db, 1250, 5)
    username = unique_name("confirmed")
    email = f"{username}@example.com"
    courier = f"courier-{username}@example.org"
    register(page, username)
    # The welcome says where the link went.
    expect(page.get_by_text(f"We sent a link to {email} to confirm your e-mail address.")).to_be_visible()

    # The account page (the name in the header leads there): not confirmed; asking again so soon is refused.
    page.get_by_test_id("current-user").click()
    expect(page).to_have_url(re.compile(r"/account$"))
    expect(page.get_by_test_id("account-email")).to_have_text(email)
    expect(page.get_by_test_id("email-status")).to_have_text("Not confirmed")
    page.get_by_test_id("send-link-again").click()
    expect(page.get_by_test_id("form-error")).to_contain_text("less than a minute ago")
    settle(page)
    assert problems_on(page, "desktop") == []

    # Ordered before the address is confirmed: paid, all of it on the order page, and no e-mail to anyone.
    first = buy(page, product_id, email, courier, said="only to a confirmed address")
    wait_until(lambda: query(db, "SELECT count(*) FROM email_outbox WHERE status IN ('queued', 'sending')")
               == [(0,)], 30)  # fmt: skip
    assert query(db, "SELECT count(*) FROM email_outbox WHERE order_id = ?", first) == [(0,)]

    # The link in the e-mail confirms the address.
    (message,) = smtp.wait_for(to=email, kind="verify_email")
    assert message["Subject"] == "Confirm your e-mail address at Reflex Shop"
    link = verify_link(message)
    assert link.startswith(shop_server.url + "/verify-email#token=") and link in html_of(message)
    page.goto(link)
    expect(page.get_by_test_id("email-verified")).to_contain_text(f"Your address {email} is verified")
    settle(page)
    assert problems_on(page, "desktop") == []
    # Only the token's hash is kept; neither the e-mail's copy nor the log has the token.
    token = link.rsplit("=", 1)[1]
    for table, column in (("email_verifications", "token_hash"), ("email_outbox", "text_body"),
                          ("email_outbox", "html_body")):  # fmt: skip
        assert query(db, f"SELECT count(*) FROM {table} WHERE {column} LIKE ?", f"%{token}%") == [(0,)]
    assert token not in shop_server.log_file.read_text()
    # The link works once.
    page.goto("/")
    page.goto(link)
    expect(page.get_by_test_id("verify-link-invalid")).to_be_visible()
    page.goto("/account")
    expect(page.get_by_test_id("email-status")).to_have_text("Confirmed")

    # Now an order's e-mail comes, to the confirmed address; the contact e-mail typed still gets nothing.
    second = buy(page, product_id, email, courier, said=f"go to your account's confirmed address, {email}")
    (placed,) = smtp.wait_for(to=email, kind="order_placed")
    assert placed["Subject"] == f"Your order #{second:06d} at Reflex Shop"
    assert f"1 x {name} at $12.50 = $12.50" in text_of(placed)
    assert smtp.messages(to=courier) == []
    assert query(db, "SELECT count(*) FROM email_outbox WHERE recipient = ?", courier) == [(0,)]
    assert sorted(m["X-Shop-Email-Kind"] for m in smtp.messages(to=email)) == ["order_placed", "verify_email"]


def test_a_changed_address_is_confirmed_by_its_own_link_while_the_old_one_keeps_the_mail(page: Page, shop_server):
    db, smtp = shop_server.db_file, shop_server.smtp
    username = unique_name("moving")
    old, new = f"{username}@example.com", f"{username}@new.example.com"
    register(page, username)
    confirm_email(page, smtp, old)
    # A minute later (the account's last link says so): links are paced one a minute.
    execute(db, "UPDATE users SET email_link_sent_at = datetime('now', '-2 minutes') WHERE username = ?", username)

    page.goto("/account")
    expect(page.get_by_test_id("email-status")).to_have_text("Confirmed")
    page.get_by_label("New e-mail address").fill("not an address")
    page.get_by_role("button", name="Change e-mail address").click()
    expect(page.get_by_test_id("error-email")).to_contain_text("Enter a valid e-mail address")
    page.get_by_label("New e-mail address").fill(new.upper())
    page.get_by_role("button", name="Change e-mail address").click()
    expect(page.get_by_test_id("account-notice")).to_have_text(
        f"We sent a link to {new}. Until you open it, order e-mails keep going to {old}."
    )
    expect(page.get_by_test_id("account-email")).to_have_text(new)
    expect(page.get_by_test_id("email-status")).to_have_text("Not confirmed")
    expect(page.get_by_test_id("email-not-confirmed")).to_contain_text(f"order e-mails go to {old}")
    assert query(db, "SELECT email, verified_email FROM users WHERE username = ?", username) == [(new, old)]

    confirm_email(page, smtp, new)
    page.goto("/account")
    expect(page.get_by_test_id("email-status")).to_have_text("Confirmed")
    expect(page.get_by_test_id("account-email")).to_have_text(new)
    assert query(db, "SELECT email, verified_email FROM users WHERE username = ?", username) == [(new, new)]

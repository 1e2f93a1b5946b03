"""The shop's threat model, as attacks on the running shop (the e2e server, e2e/fixtures.py).

Any client can speak the websocket protocol and send any event with any payload, and any
HTTP client can call any route. Each test here is one attack, then the proof that it failed
and changed nothing:

- test_accounts.py: password guessing (no lockout button for the attacker), registration
  floods, weak passwords.
- test_bursts.py: the same attacks sent at the same moment from many tabs (150 guesses at one
  account, 60 at as many accounts, 30 registrations): no more get through than each limit;
  refused registrations count too. On PostgreSQL, Redis and 2 workers: e2e/test_scale_path.py.
- test_password_reset.py: reset mail bombing (120 tabs at once, from many addresses and from
  one), a cap that counts e-mails sent rather than requests asked, the answer's time with and
  without an account, and the reset token looked for in the raw database files and WAL.
- test_edge.py: security headers and a Content-Security-Policy the built app runs under,
  websocket origins, /metrics.
- test_input.py: hostile search text, decompression-bomb uploads.
- test_payment_form.py: junk card payloads sent straight to the checkout's handlers, paying
  for somebody else's order, card testing (payment attempts per account, a parallel burst).
- test_protocol.py: events the shop does not have, data that is not an event, and the
  frontend-exception event as a log flood.
- test_routes.py: hostile URLs on every HTTP route and page pattern of the app (a Hypothesis
  fuzzer: no 5xx), ids out of bounds in page loads and the admin's order search, 2,000 bad
  requests from one address against the log (the per-client budget; unit tests of the log
  limits and of id parsing: tests/test_log_limits.py, tests/test_bounded_ids.py).
- test_sessions.py: what a tab gets back from the server after its user logged out or
  someone else logged in on it.
- test_state_store.py: connection floods (what anonymous tabs leave on the server, and for
  how long); a tab that outlived its state loses nothing. What Redis keeps of a session
  token, and that it keeps no card number or CVC: e2e/test_scale_path.py.

Attacks that already failed before this suite and are proved elsewhere:
- every admin event handler refuses shoppers and nobody: tests/test_admin_security.py;
- another shopper's order is "not found": tests/test_orders.py
  (test_history_and_detail_only_for_the_owner), e2e/test_shopper_journey.py
  (test_unknown_product_and_order_and_page_are_friendly);
- a disabled user or a revoked session is out at once: tests/test_auth.py
  (test_a_disabled_user_is_out_at_once), tests/test_admin_services.py
  (test_disabling_a_user_ends_their_sessions);
- a double-submitted or racing checkout is one order: tests/test_orders.py
  (test_the_same_idempotency_key_gives_the_same_order, test_a_resubmission_racing_the_first_...);
- hostile ids, quantities, text and guest carts are bounded: tests/test_inputs.py.
"""

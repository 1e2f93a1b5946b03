"""Who is calling: the browser's session token and the user it resolves to.

Every state that needs the caller inherits SessionState and asks `_current_user`
inside its own database session, so a disabled user or a revoked session is
refused at once, on the server, on every event.

Handlers that touch the database run in a database thread (`ecom_reflex.offload`),
never on the event loop; their arguments are read through `state.inputs`.
"""

from __future__ import annotations

from urllib.parse import urlsplit

import reflex as rx
from reflex.state import _override_base_method
from sqlmodel import Session

from ecom_reflex.db import transaction
from ecom_reflex.models import User
from ecom_reflex.observability import business
from ecom_reflex.observability.instrumentation import bind_user
from ecom_reflex.offload import run_db
from ecom_reflex.security import forwarded_client
from ecom_reflex.services import auth


def safe_next_path(raw: str | None, default: str = "/") -> str:
    """A local path to go back to after login; anything else (other hosts, schemes) becomes `default`."""
    if not raw or not raw.startswith("/") or raw.startswith("//") or "\\" in raw:
        return default
    return raw


def path_argument(path: str, prefix: str) -> str:
    """The segment after `/prefix/` in a path: path_argument("/product/12", "product") == "12"."""
    parts = [part for part in path.split("/") if part]
    return parts[1] if len(parts) == 2 and parts[0] == prefix else ""


def location_of(url: str) -> str:
    """The path, query and fragment of the page's URL as the browser shows them (the client's
    location.pathname + search + hash)."""
    parts = urlsplit(url)
    return parts.path + (f"?{parts.query}" if parts.query else "") + (f"#{parts.fragment}" if parts.fragment else "")


def client_address(router) -> str:
    """The event's client address: its connection's peer, or what trusted proxies say it is
    (security.forwarded_client)."""
    return forwarded_client(router.session.client_ip, router.headers.raw_headers.get("x-forwarded-for", ""))


def login_url(next_path: str) -> str:
    from urllib.parse import quote

    return f"/login?next={quote(next_path, safe='/')}"


class SessionState(rx.State):
    # The token lives in the browser (which sends it when the tab connects). The database
    # keeps its hash; so does the state store (state files, Redis): see __getstate__.
    auth_token: str = rx.LocalStorage("", name="shop_session", sync=True)
    username: str = ""
    is_admin: bool = False
    # The SHA-256 of the tab's token: what the state store keeps of it.
    _token_hash: str = ""
    # Set when the tab's user went away without logging out (session expired, revoked or
    # disabled): their data may still be in the tab's states until someone logs in.
    _previous_user_left_data: bool = False
    # Set when the tab hydrated this state tree: only then does it hold what the browser keeps
    # (the session token, the guest cart). See state/store.py.
    _hydrated_by_tab: bool = False

    @_override_base_method  # Reflex's own mark for a deliberate override of a State method
    def __getstate__(self):
        """What the state store writes: every field, but the session token only as its hash."""
        fields = dict(super().__getstate__())
        if fields.get("auth_token"):
            fields["_token_hash"] = auth.hash_token(fields["auth_token"])
            fields["auth_token"] = ""
        return fields

    def _tab_had_a_user(self) -> bool:
        """Whether someone was (or still is) logged in on this tab: their data may be in its states."""
        return bool(self.username or self._signed_in_token_hash() or self._previous_user_left_data)

    @rx.var
    def logged_in(self) -> bool:
        return self.username != ""

    def _signed_in_token_hash(self) -> str:
        """The hash of the tab's token: of the token itself while this worker holds it, else as stored."""
        return auth.hash_token(self.auth_token) if self.auth_token else self._token_hash

    def _current_user(self, session: Session) -> User | None:
        user = auth.user_for_token_hash(session, self._signed_in_token_hash())
        self._show_user(user)
        bind_user(user.id if user else None)
        return user

    def _show_user(self, user: User | None) -> None:
        if user is None and self._signed_in_token_hash():
            # Expired, revoked or disabled: forget it, here and in the browser.
            self.auth_token, self._token_hash = "", ""
            self._previous_user_left_data = True
        self.username = user.username if user else ""
        self.is_admin = bool(user and user.is_admin)

    async def _forget_the_previous_user(self) -> None:
        """Every state of this tab back to its defaults, loaded or not (cart, checkout, orders,
        every admin state, the token): at log-out and before someone logs in, so nothing of the
        previous user is kept on the server for this tab or sent to it again on reconnect."""
        session_state = await self.get_state(SessionState)
        session_state.reset()  # itself and the substates this event loaded
        session_state._token_hash, session_state._previous_user_left_data = "", False
        # The browser gets the defaults too (no token, an empty guest cart): the tree still holds
        # what the tab holds, so it is not one its tab never hydrated (state/store.py).
        session_state._hydrated_by_tab = True
        pending = list(SessionState.get_substates())
        while pending:
            state_class = pending.pop()
            (await self.get_state(state_class)).reset()  # the rest, from the state store
            pending.extend(state_class.get_substates())

    @rx.event
    async def logout(self):
        def end(session: Session) -> int | None:
            user = self._current_user(session)
            auth.end_session_by_hash(session, self._signed_in_token_hash())
            return user.id if user else None

        business.logged_out(await run_db(lambda: transaction(end, write=True)))
        await self._forget_the_previous_user()
        return [rx.redirect("/"), rx.toast.info("You are logged out.")]

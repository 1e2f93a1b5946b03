"""How long the server keeps a browser tab's state, and what a tab whose state is gone gets.

Reflex keeps one state tree per tab: in memory with one worker, in Redis with several.
Reflex forgets every tab after one lifetime; the shop gives each tab its own:

- a tab nobody is logged in on costs nothing worth keeping (a guest's cart lives in the
  browser), so it is forgotten ANONYMOUS_STATE_IDLE_SECONDS after its last event: a flood
  of connections costs memory for minutes, not an hour;
- a signed-in tab keeps its state STATE_IDLE_SECONDS after its last event.

In Redis every key of a tab gets the tab's lifetime at each event, so a tree expires whole,
never a part of it. Forgetting loses nothing: the browser keeps the session token and the
guest cart and hands them over when it hydrates. `TabStateGuard` makes sure it does.

The two managers are Reflex's own, with the lifetime chosen per tab; `install` puts the
right one in place of the one Reflex made, before the app serves anything.
"""

from __future__ import annotations

import contextvars
import functools
import logging
import time

import reflex as rx
from cachetools import TTLCache
from reflex.istate.manager import StateManager
from reflex.istate.manager.memory import StateManagerMemory
from reflex.istate.manager.redis import StateManagerRedis
from reflex.middleware import Middleware
from reflex.state import BaseState, State, StateUpdate
from reflex_base.constants import CompileVars
from reflex_base.event import Event

from ecom_reflex.settings import get_settings
from ecom_reflex.state.session import SessionState

logger = logging.getLogger("ecom_reflex.state")

# What a tab sends when it (re)connects, with everything the browser keeps.
HYDRATE_EVENTS = frozenset(f"{State.get_name()}.{name}" for name in (CompileVars.HYDRATE, CompileVars.HYDRATE_AND_LOAD))


def idle_seconds(root: object) -> int | None:
    """How long the tab whose state tree is `root` is kept after its last event; None when the
    tree holds no SessionState to tell (Redis loads only the states an event needs)."""
    settings = get_settings()
    if not isinstance(root, BaseState):
        return None
    session = root._get_root_state().substates.get(SessionState.get_name())
    if not isinstance(session, SessionState):
        return None
    return settings.state_idle_seconds if session._tab_had_a_user() else settings.anonymous_state_idle_seconds


class TabStateMemory(StateManagerMemory):
    """Reflex's in-memory store, with each tab's own lifetime."""

    def _track_token(self, token) -> None:
        # The whole tree is in memory: SessionState is there to tell (a fresh tree is anonymous).
        seconds = idle_seconds(self.states.get(token.cache_key)) or get_settings().anonymous_state_idle_seconds
        deadline = time.time() + seconds
        self._token_expires_at[token.cache_key] = (deadline, token)
        self._ensure_expiration_task()

    def _purge_expired_tokens(self) -> float | None:
        # Reflex sleeps until the earliest deadline it knew of, but a tab tracked since may expire
        # sooner: look again within a fifth of the anonymous lifetime.
        next_deadline = super()._purge_expired_tokens()
        sweep = max(1, get_settings().anonymous_state_idle_seconds // 5)
        return None if next_deadline is None else min(next_deadline, time.time() + sweep)


# The lifetime of the tab being written (TabStateRedis.set_state), for Reflex's code that reads token_expiration.
_writing_tab_seconds: contextvars.ContextVar[int | None] = contextvars.ContextVar("writing_tab_seconds", default=None)


class TabStateRedis(StateManagerRedis):
    """Reflex's Redis store, with each tab's own lifetime on every key of the tab."""

    @functools.cached_property
    def _lifetimes(self) -> TTLCache:
        """Client token -> the lifetime of its tab as last seen, for a while (bounded)."""
        return TTLCache(maxsize=100_000, ttl=self._longest_expiration)

    @property
    def token_expiration(self) -> int:
        return _writing_tab_seconds.get() or self._longest_expiration

    @token_expiration.setter
    def token_expiration(self, seconds: int) -> None:
        self._longest_expiration = seconds

    async def set_state(self, token, state, **kwargs) -> None:
        seconds = idle_seconds(state)
        if seconds is None:  # an event that did not load SessionState: what the tab was last seen as
            seconds = self._lifetimes.get(token.lock_key, self._longest_expiration)
        else:
            self._lifetimes[token.lock_key] = seconds
        writing = _writing_tab_seconds.set(seconds)
        try:
            await super().set_state(token, state, **kwargs)
        finally:
            _writing_tab_seconds.reset(writing)
        # Reflex writes only the substates an event changed: the others get the same lifetime,
        # so the tree expires whole and never comes back in part.
        if isinstance(state, BaseState):
            pipeline = self.redis.pipeline(transaction=False)
            for state_class in _state_classes(type(state).get_root_state()):
                pipeline.expire(str(token.with_cls(state_class)), seconds)
            await pipeline.execute()


def _state_classes(root: type[BaseState]) -> list[type[BaseState]]:
    found, pending = [], [root]
    while pending:
        state_class = pending.pop()
        found.append(state_class)
        pending.extend(state_class.get_substates())
    return found


def install(app: rx.App) -> None:
    """Put the per-tab lifetimes in place of the store Reflex made for `app`."""
    made: StateManager = app.state_manager
    if isinstance(made, StateManagerRedis):
        app._state_manager = TabStateRedis(
            redis=made.redis,
            token_expiration=made.token_expiration,
            lock_expiration=made.lock_expiration,
            lock_warning_threshold=made.lock_warning_threshold,
        )
    elif isinstance(made, StateManagerMemory):
        app._state_manager = TabStateMemory(token_expiration=made.token_expiration)
    else:
        raise RuntimeError(f"the shop keeps tabs' states in memory or Redis, not with {type(made).__name__}")
    app.add_middleware(TabStateGuard())


class TabStateGuard(Middleware):
    """A tab whose state was forgotten while it stayed open reloads instead of acting.

    The browser hands over what it keeps (the session token, a guest's cart) only when it
    hydrates, so an event that finds a tree its tab never hydrated would run with nobody
    logged in and an empty guest cart, and write that empty cart back to the browser. Such
    an event is not run: the tab reloads, hydrates with everything it kept, and the shopper
    clicks again.
    """

    async def preprocess(self, app, state, event: Event) -> StateUpdate | None:
        session = await state.get_state(SessionState)
        if event.name in HYDRATE_EVENTS:
            session._hydrated_by_tab = True
            return None
        if session._hydrated_by_tab:
            return None
        logger.info("a tab whose state was forgotten reloads")
        return StateUpdate(events=Event.from_event_type(rx.call_script("window.location.reload()")))

"""A Reflex plugin (rxconfig.py) that makes the built frontend cheaper for a phone to load.

Reflex splits the frontend into one small chunk per Radix component and helper (26 scripts for
`/`). On a slow mobile link each costs a round trip on one of the browser's few connections, and
the first paint waits for them (Lighthouse's mobile run, issue 18). Modules that most pages use
are put in one chunk instead; what only one or two pages use (the admin's charts) stays with them.

It edits the vite.config.js Reflex generates (the plugin API's modify task) and refuses to build
if Reflex's template changes shape, rather than silently building the slow way.
"""

from __future__ import annotations

import reflex as rx
from reflex_base import constants

# A module imported by at least this many page chunks goes into the one shared chunk.
SHARED_BY_PAGES = 3
_GROUPS_ANCHOR = "codeSplitting: {\n          groups: ["
_SHARED_GROUP = f'\n            {{ name: "shared", minShareCount: {SHARED_BY_PAGES}, priority: -1 }},'


def _group_shared_modules(vite_config: str) -> str:
    if _GROUPS_ANCHOR not in vite_config:
        raise RuntimeError(
            "Reflex's vite.config.js has no codeSplitting groups any more: revisit ecom_reflex/frontend_build.py"
        )
    return vite_config.replace(_GROUPS_ANCHOR, _GROUPS_ANCHOR + _SHARED_GROUP, 1)


class FewerFrontendChunks(rx.plugins.Plugin):
    def pre_compile(self, **context) -> None:
        context["add_modify_task"](constants.ReactRouter.VITE_CONFIG_FILE, _group_shared_modules)

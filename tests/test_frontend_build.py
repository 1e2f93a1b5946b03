"""The frontend build's chunking (ecom_reflex/frontend_build.py) against Reflex's real vite config."""

import pytest
from reflex.config import get_config
from reflex.utils import frontend_skeleton

from ecom_reflex.frontend_build import SHARED_BY_PAGES, _group_shared_modules


def test_modules_most_pages_use_go_into_one_shared_chunk():
    generated = frontend_skeleton._compile_vite_config(get_config())
    tuned = _group_shared_modules(generated)
    assert f'{{ name: "shared", minShareCount: {SHARED_BY_PAGES}, priority: -1 }},' in tuned
    # Reflex's own group (its env.json) is kept.
    assert 'name: "reflex-env"' in tuned
    assert tuned.count('name: "shared"') == 1


def test_a_changed_reflex_template_stops_the_build_instead_of_building_slowly():
    with pytest.raises(RuntimeError, match=r"frontend_build\.py"):
        _group_shared_modules("export default defineConfig({ build: {} });")

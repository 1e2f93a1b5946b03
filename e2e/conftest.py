"""The browser fixtures for e2e/ (the running shop comes from the e2e.fixtures plugin)."""

from e2e.browser import base_url, browser_context_args, browser_type_launch_args

__all__ = ["base_url", "browser_context_args", "browser_type_launch_args"]

"""Pages: one module per page, functions that return components. No database access here.

Pages import components, state (for vars and events) and services (for row types and
constants). Only the app module (ecom_reflex.py) imports pages; a piece two pages share
belongs in components/.
"""

"""UI pieces shared by several pages: the page shell (layout.py), paged lists (listing.py:
search box, data table, pager), order widgets (orders.py), cart-line problems (cart.py), the
product card and the admin frame.

Components import state (for vars and events) and services (for row types and constants).
Imported by pages and by other components; never by state or services.
"""

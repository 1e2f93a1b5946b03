"""Admin pages: /admin (dashboard), /admin/products, /admin/orders, /admin/users.

Each module uses its state module in state/admin/ and the admin frame in
components/admin.py. Only the app module imports these.
"""

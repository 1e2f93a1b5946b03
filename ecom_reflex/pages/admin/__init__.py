"""Admin pages: /admin (analytics), /admin/products, /admin/orders, /admin/users."""

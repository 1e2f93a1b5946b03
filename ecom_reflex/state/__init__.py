"""rx.State classes: thin; validate input (inputs.py), authorise, call services, set vars.

One module per storefront concern (session, cart, catalog, auth, checkout, orders) and
admin/ mirroring pages/admin/; store.py decides how long the server keeps a tab's states.
State imports services, db, offload, observability and models; never pages or components.
Imported by pages, components and the app module.
"""

"""Incident tools behind one interface.

`base` is the interface every adapter implements, `registry` maps each `ProviderName` to its adapter, and
each vendor has its own package (`<vendor>/`: credentials, the vendor's answers as models, the adapter and,
where the vendor sends them, its webhooks). Imports run one way: registry -> vendor packages -> base.
"""

"""Small helpers shared across the layer: times, paths into JSON documents, text of JSON values.

Everything above may import from here; nothing here imports from the rest of incident_core.
"""
